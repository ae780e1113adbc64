//! The editor's form: flag definitions, stages and their fields, each with the
//! validation problems at its JSON Pointer.

use evaluator::Problem;
use evaluator::json::{Map, Number, Value};
use evaluator::model::{Flag, FlagType, SIGNOFF_ROLES, Stage};
use leptos::prelude::*;

use super::Draft;
use crate::components::{CollectAny, focus};

/// Every problem of the draft, each with its JSON Pointer.
#[component]
pub(super) fn AllProblems(draft: Draft) -> impl IntoView {
    move || {
        let problems = draft.problems.get();
        (!problems.is_empty()).then(|| {
            view! {
                <div class="error" role="alert" data-testid="problems">
                    <p>{format!("{} problem(s) to fix before saving:", problems.len())}</p>
                    <ul class="problems">
                        {problems.into_iter().map(|p| view! { <li>{p.message}" "<code class="path">{p.path}</code></li> }).collect_any()}
                    </ul>
                </div>
            }
            .into_any()
        })
    }
}

/// The problems at one JSON Pointer, shown next to its field.
#[component]
pub(super) fn FieldProblems(
    draft: Draft,
    path: String,
    /// Also the problems inside it (a list's items).
    #[prop(optional)]
    nested: bool,
) -> impl IntoView {
    let id = problem_id(&path);
    let inside = format!("{path}/");
    move || {
        let here: Vec<Problem> = draft.problems.with(|all| {
            all.iter()
                .filter(|p| p.path == path || (nested && p.path.starts_with(&inside)))
                .cloned()
                .collect()
        });
        (!here.is_empty()).then(|| {
            view! {
                <ul class="field-problems" id=id.clone()>
                    {here.into_iter().map(|p| view! { <li>{p.message}" "<code class="path">{p.path}</code></li> }).collect_any()}
                </ul>
            }
            .into_any()
        })
    }
}

pub(super) fn problem_id(path: &str) -> String {
    format!("problem{}", path.replace(['/', '~'], "-"))
}

/// Whether the draft has a problem at `path`, for `aria-invalid`.
pub(super) fn invalid_at(
    draft: Draft,
    path: String,
) -> impl Fn() -> &'static str + Send + Sync + 'static {
    move || {
        if draft
            .problems
            .with(|all| all.iter().any(|p| p.path == path))
        {
            "true"
        } else {
            "false"
        }
    }
}

/// What the form is built from: rebuilt when stages or flags are added, removed or
/// moved (or the form is reset), not on every keystroke.
#[derive(Clone, PartialEq)]
struct Layout {
    generation: u32,
    stages: Vec<String>,
    flags: Vec<(String, FlagType)>,
}

fn layout(draft: Draft) -> Memo<Layout> {
    Memo::new(move |_| {
        let generation = draft.generation.get();
        let key = draft.rollout.get();
        draft.plan.with(|plan| {
            let rollout = plan.rollouts.get(&key);
            Layout {
                generation,
                stages: rollout
                    .map(|r| r.stages.iter().map(|s| s.id.clone()).collect())
                    .unwrap_or_default(),
                flags: rollout
                    .map(|r| {
                        r.flags
                            .iter()
                            .map(|(name, f)| (name.clone(), f.kind))
                            .collect()
                    })
                    .unwrap_or_default(),
            }
        })
    })
}

#[component]
pub(super) fn FlagEditor(draft: Draft) -> impl IntoView {
    let layout = layout(draft);
    let new_name = RwSignal::new(String::new());
    let new_kind = RwSignal::new("boolean".to_string());
    let add = move |_| {
        let name = new_name.get_untracked().trim().to_string();
        let kind = FlagType::from_name(&new_kind.get_untracked()).unwrap_or(FlagType::Boolean);
        if name.is_empty() {
            return;
        }
        draft.restructure(|rollout| {
            let fallback = default_value(kind);
            rollout.flags.get_or_insert_with(name, || Flag {
                kind,
                fallback,
                description: None,
            });
        });
        new_name.set(String::new());
    };
    view! {
        <section class="flags" aria-label="Flags">
            <h2>"Flags and their fallbacks"</h2>
            <p class="hint">"Everyone outside the rollout, and everyone while the kill switch is on, gets the fallback."</p>
            {move || {
                let flags = layout.get().flags;
                let rows = flags
                    .into_iter()
                    .map(|(name, kind)| {
                        let path = draft.pointer(&format!("/flags/{}/fallback", name.replace('~', "~0").replace('/', "~1")));
                        let initial = draft.read_rollout(|r| r.flags.get(&name).map(|f| f.fallback.clone())).flatten();
                        let (set_name, remove_name) = (name.clone(), name.clone());
                        let on_value = Callback::new(move |value: Option<Value>| {
                            draft.update_rollout(|r| {
                                if let (Some(flag), Some(value)) = (r.flags.get_mut(&set_name), value) {
                                    flag.fallback = value;
                                }
                            })
                        });
                        view! {
                            <tr>
                                <th scope="row"><code>{name.clone()}</code></th>
                                <td data-label="Type">{kind.name()}</td>
                                <td>
                                    <ValueInput draft kind initial path=path.clone() label=format!("Fallback of {name}") optional=false on_value/>
                                    <FieldProblems draft path/>
                                </td>
                                <td>
                                    <button class="secondary small" aria-label=format!("Remove flag {name}") on:click=move |_| {
                                        let name = remove_name.clone();
                                        draft.restructure(|r| {
                                            r.flags.remove(&name);
                                            for stage in &mut r.stages {
                                                stage.values.remove(&name);
                                            }
                                        });
                                    }>"Remove"</button>
                                </td>
                            </tr>
                        }
                    })
                    .collect_any();
                view! {
                    <div class="table-wrap">
                        <table class="flag-table">
                            <thead><tr><th scope="col">"Flag"</th><th scope="col">"Type"</th><th scope="col">"Fallback"</th><th scope="col"><span class="sr-only">"Actions"</span></th></tr></thead>
                            <tbody>{rows}</tbody>
                        </table>
                    </div>
                }
                .into_any()
            }}
            <div class="row">
                <label>"New flag " <input type="text" bind:value=new_name placeholder="name"/></label>
                <label>
                    "type "
                    <select bind:value=new_kind>
                        <option value="boolean">"boolean"</option>
                        <option value="string">"string"</option>
                        <option value="number">"number"</option>
                        <option value="json">"json"</option>
                    </select>
                </label>
                <button class="secondary" on:click=add>"Add flag"</button>
            </div>
        </section>
    }
}

fn default_value(kind: FlagType) -> Value {
    match kind {
        FlagType::Boolean => Value::Bool(false),
        FlagType::String => Value::String(String::new()),
        FlagType::Number => Value::from(0),
        FlagType::Json => Value::Null,
    }
}

/// One flag value: a select for booleans, text for strings, JSON for the rest.
/// `optional` values may be left to the fallback (`None`).
#[component]
fn ValueInput(
    draft: Draft,
    kind: FlagType,
    initial: Option<Value>,
    path: String,
    label: String,
    optional: bool,
    on_value: Callback<Option<Value>>,
) -> impl IntoView {
    let described = problem_id(&path);
    let invalid = invalid_at(draft, path.clone());
    if kind == FlagType::Boolean {
        let current = match &initial {
            Some(Value::Bool(true)) => "true",
            Some(Value::Bool(false)) => "false",
            _ => "",
        };
        return view! {
            <select
                aria-label=label
                aria-invalid=invalid
                aria-describedby=described
                prop:value=current
                on:change=move |event| {
                    on_value.run(match event_target_value(&event).as_str() {
                        "true" => Some(Value::Bool(true)),
                        "false" => Some(Value::Bool(false)),
                        _ => None,
                    })
                }
            >
                {optional.then(|| view! { <option value="">"(fallback)"</option> })}
                <option value="true" selected=current == "true">"true"</option>
                <option value="false" selected=current == "false">"false"</option>
            </select>
        }
        .into_any();
    }
    let text = match (&initial, kind) {
        (None, _) => String::new(),
        (Some(Value::String(text)), FlagType::String) => text.clone(),
        (Some(value), _) => value.to_string(),
    };
    view! {
        <input
            type="text"
            aria-label=label
            aria-invalid=invalid
            aria-describedby=described
            prop:value=text
            placeholder=if optional { "empty: the fallback" } else { "" }
            on:input=move |event| {
                let text = event_target_value(&event);
                let parsed = if text.trim().is_empty() && optional {
                    Ok(None)
                } else if kind == FlagType::String {
                    Ok(Some(Value::String(text)))
                } else {
                    evaluator::json::parse(&text).map(Some).map_err(|e| format!("not JSON: {e}"))
                };
                match parsed {
                    Ok(value) => {
                        draft.record_unparsed(&path, None);
                        on_value.run(value);
                    }
                    Err(problem) => draft.record_unparsed(&path, Some(problem)),
                }
            }
        />
    }
    .into_any()
}

#[component]
pub(super) fn StageList(draft: Draft) -> impl IntoView {
    let layout = layout(draft);
    let add = move |_| {
        draft.restructure(|rollout| {
            let id = (rollout.stages.len() + 1..)
                .map(|n| format!("stage-{n}"))
                .find(|id| rollout.stage(id).is_none())
                .unwrap_or_default();
            let percentage = rollout
                .stages
                .last()
                .map(|s| s.percentage.clone())
                .unwrap_or_else(|| Number::from(100));
            rollout.stages.push(Stage {
                name: format!("Stage {}", rollout.stages.len() + 1),
                id,
                percentage,
                planned_for: None,
                values: Map::new(),
                required_signoffs: SIGNOFF_ROLES.iter().map(|r| r.to_string()).collect(),
                monitoring: Vec::new(),
                soak_hours: None,
                auto_advance: false,
            });
        })
    };
    view! {
        <section class="stages" aria-label="Stages">
            <h2>"Stages"</h2>
            <p class="hint">"Percentages may only widen from one stage to the next (0–100, two decimals at most)."</p>
            <ol class="stage-list">
                {move || {
                    let Layout { stages: ids, flags, .. } = layout.get();
                    let count = ids.len();
                    ids.into_iter()
                        .enumerate()
                        .map(|(index, id)| view! { <StageFields draft index count id flags=flags.clone()/> })
                        .collect_any()
                        .into_any()
                }}
            </ol>
            <button class="secondary" data-testid="add-stage" on:click=add>"Add stage"</button>
        </section>
    }
}

#[component]
fn StageFields(
    draft: Draft,
    index: usize,
    count: usize,
    id: String,
    flags: Vec<(String, FlagType)>,
) -> impl IntoView {
    let Some(stage) = draft
        .read_rollout(|r| r.stages.get(index).cloned())
        .flatten()
    else {
        return ().into_any();
    };
    let at = |field: &str| draft.pointer(&format!("/stages/{index}{field}"));
    let edit = move |change: Box<dyn FnOnce(&mut Stage)>| {
        draft.update_rollout(|r| {
            if let Some(stage) = r.stages.get_mut(index) {
                change(stage)
            }
        })
    };
    let (name_path, pct_path, id_path) = (at("/name"), at("/percentage"), at("/id"));
    let pct_for_input = pct_path.clone();
    let soak_path = at("/soakHours");
    let moved_id = id.clone();
    let move_by = move |offset: isize| {
        let selector = format!("li[data-stage=\"{moved_id}\"] .stage-head button:not([disabled])");
        // The list is rebuilt; keep keyboard focus on the stage that moved.
        request_animation_frame(move || {
            focus(&selector);
        });
        draft.restructure(|r| {
            let to = index.wrapping_add_signed(offset);
            // The form may be a click behind the plan; never index past it.
            if index < r.stages.len() && to < r.stages.len() {
                r.stages.swap(index, to);
            }
        })
    };
    let values = flags
        .into_iter()
        .map(|(flag, kind)| {
            let path = at(&format!("/values/{}", flag.replace('~', "~0").replace('/', "~1")));
            let initial = stage.values.get(&flag).cloned();
            let key = flag.clone();
            let on_value = Callback::new(move |value: Option<Value>| {
                let key = key.clone();
                edit(Box::new(move |stage| match value {
                    Some(value) => {
                        stage.values.insert(key, value);
                    }
                    None => {
                        stage.values.remove(&key);
                    }
                }))
            });
            view! {
                <div class="field">
                    <span class="label">{flag.clone()}</span>
                    <ValueInput draft kind initial path=path.clone() label=format!("{flag} at {}", stage.name) optional=true on_value/>
                    <FieldProblems draft path/>
                </div>
            }
        })
        .collect_any();
    let signoffs = SIGNOFF_ROLES
        .iter()
        .map(|role| {
            let checked = stage.required_signoffs.iter().any(|r| r == role);
            view! {
                <label class="check">
                    <input type="checkbox" prop:checked=checked on:change=move |event| {
                        let on = event_target_checked(&event);
                        edit(Box::new(move |stage| {
                            stage.required_signoffs.retain(|r| r != role);
                            if on {
                                stage.required_signoffs.push(role.to_string());
                            }
                        }))
                    }/>
                    {*role}
                </label>
            }
        })
        .collect_any();
    view! {
        <li class="stage" data-stage=id.clone()>
            <div class="stage-head">
                <h3><code>{id.clone()}</code></h3>
                <div class="row">
                    <button class="secondary small" disabled={index == 0} aria-label=format!("Move {id} up") on:click={
                        let move_by = move_by.clone();
                        move |_| move_by(-1)
                    }>"↑"</button>
                    <button class="secondary small" disabled={index + 1 == count} aria-label=format!("Move {id} down") on:click=move |_| move_by(1)>"↓"</button>
                    <button class="secondary small" aria-label=format!("Remove {id}") on:click=move |_| {
                        draft.restructure(|r| {
                            if index < r.stages.len() {
                                r.stages.remove(index);
                            }
                        })
                    }>"Remove"</button>
                </div>
            </div>
            <FieldProblems draft path=id_path/>
            <div class="grid">
                <label class="field">
                    <span class="label">"Name"</span>
                    <input type="text" prop:value=stage.name.clone() aria-invalid=invalid_at(draft, name_path.clone())
                        aria-describedby=problem_id(&name_path)
                        on:input=move |event| {
                            let name = event_target_value(&event);
                            edit(Box::new(move |stage| stage.name = name))
                        }/>
                    <FieldProblems draft path=name_path.clone()/>
                </label>
                <label class="field">
                    <span class="label">"Percentage"</span>
                    <input type="text" inputmode="decimal" data-testid="percentage" prop:value=stage.percentage.to_string()
                        aria-invalid=invalid_at(draft, pct_path.clone())
                        aria-describedby=problem_id(&pct_path)
                        on:input=move |event| {
                            if let Some(number) = draft.read_number(&pct_for_input, &event_target_value(&event)) {
                                edit(Box::new(move |stage| stage.percentage = number));
                            }
                        }/>
                    <FieldProblems draft path=pct_path.clone()/>
                </label>
                <label class="field">
                    <span class="label">"Planned for"</span>
                    <input type="text" prop:value=stage.planned_for.clone().unwrap_or_default() placeholder="e.g. Day 4"
                        on:input=move |event| {
                            let day = event_target_value(&event);
                            edit(Box::new(move |stage| stage.planned_for = Some(day).filter(|d| !d.trim().is_empty())))
                        }/>
                </label>
                <label class="field">
                    <span class="label">"Soak (hours)"</span>
                    <input type="text" inputmode="decimal" prop:value=stage.soak_hours.as_ref().map(Number::to_string).unwrap_or_default()
                        placeholder="none"
                        on:input=move |event| {
                            let text = event_target_value(&event);
                            // Blank is no soak; anything else must read as a number.
                            let hours = if text.trim().is_empty() {
                                draft.record_unparsed(&soak_path, None);
                                Some(None)
                            } else {
                                draft.read_number(&soak_path, &text).map(Some)
                            };
                            if let Some(hours) = hours {
                                edit(Box::new(move |stage| stage.soak_hours = hours));
                            }
                        }/>
                    <FieldProblems draft path=at("/soakHours")/>
                </label>
                <label class="check">
                    <input type="checkbox" prop:checked=stage.auto_advance
                        on:change=move |event| {
                            let on = event_target_checked(&event);
                            edit(Box::new(move |stage| stage.auto_advance = on))
                        }/>
                    " Advance by itself after the soak"
                </label>
            </div>
            <fieldset>
                <legend>"Values in the rollout"</legend>
                <div class="grid">{values}</div>
            </fieldset>
            <fieldset>
                <legend>"Required sign-offs"</legend>
                <div class="row">{signoffs}</div>
            </fieldset>
            <label class="field">
                <span class="label">"What to watch while this stage is live (one a line)"</span>
                <textarea rows="3" data-testid="monitoring" prop:value=stage.monitoring.join("\n")
                    on:input=move |event| {
                        let lines = super::targeting::lines(&event_target_value(&event));
                        edit(Box::new(move |stage| stage.monitoring = lines))
                    }></textarea>
                <FieldProblems draft path=at("/monitoring") nested=true/>
            </label>
        </li>
    }
    .into_any()
}
