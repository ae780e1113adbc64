//! The rest of a rollout in the editor: its rollback triggers, and each
//! environment's targeting (include and exclude lists, constraints). Checked as
//! you type by the evaluator's rules, like the stages; the gate asks for
//! sign-offs before production's targeting changes with a stage live.

use evaluator::json::Number;
use evaluator::model::{
    Compare, Constraint, Operator, RollbackTrigger, ThresholdUnit, TriggerAction,
};
use leptos::prelude::*;

use super::Draft;
use super::fields::FieldProblems;
use crate::components::CollectAny;

/// A text area's lines as a list: trimmed, blank lines dropped.
pub(super) fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(String::from)
        .collect()
}

/// A comma-separated list, trimmed, empty entries dropped.
fn items(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(String::from)
        .collect()
}

fn operator_name(operator: Operator) -> &'static str {
    let index = Operator::ALL
        .iter()
        .position(|known| *known == operator)
        .unwrap_or(0);
    Operator::NAMES[index]
}

#[component]
pub(super) fn Triggers(draft: Draft) -> impl IntoView {
    let add = move |_| {
        draft.restructure(|r| {
            r.rollback_triggers.push(RollbackTrigger {
                metric: String::new(),
                event: String::new(),
                per: None,
                compare: None,
                threshold: Number::from(0),
                unit: None,
                min_sample: 0,
                action: TriggerAction::Hold,
                description: None,
            })
        })
    };
    view! {
        <section class="triggers" aria-label="Rollback triggers">
            <h2>"Rollback triggers"</h2>
            <p class="hint">"What the server watches in the apps' reports: a rate (an event per another, e.g. crashes per session) against the control cohort or under a ceiling, or a count. A breach rolls back or holds the rollout."</p>
            <ol class="trigger-list">
                {move || {
                    draft.generation.track();
                    draft.rollout.track();
                    let triggers = draft.read_rollout(|r| r.rollback_triggers.clone()).unwrap_or_default();
                    triggers
                        .into_iter()
                        .enumerate()
                        .map(|(index, trigger)| view! { <TriggerFields draft index trigger/> })
                        .collect_any()
                        .into_any()
                }}
            </ol>
            <button class="secondary" data-testid="add-trigger" on:click=add>"Add trigger"</button>
        </section>
    }
}

type TriggerEdit = Box<dyn FnOnce(&mut RollbackTrigger)>;

/// A `<select>` of a named enum's values; `none` adds an empty first choice.
fn choices(
    names: &'static [&'static str],
    current: Option<&'static str>,
    none: Option<&'static str>,
) -> impl IntoView {
    let blank = none
        .map(|label| view! { <option value="" prop:selected=current.is_none()>{label}</option> });
    let named = names
        .iter()
        .map(|name| view! { <option value=*name prop:selected=current == Some(*name)>{*name}</option> })
        .collect_any();
    (blank, named)
}

#[component]
fn TriggerFields(draft: Draft, index: usize, trigger: RollbackTrigger) -> impl IntoView {
    let at = move |field: &str| draft.pointer(&format!("/rollbackTriggers/{index}{field}"));
    let edit = move |change: TriggerEdit| {
        draft.update_rollout(|r| {
            if let Some(trigger) = r.rollback_triggers.get_mut(index) {
                change(trigger)
            }
        })
    };
    let text = move |change: fn(&mut RollbackTrigger, String)| {
        move |event| {
            let value = event_target_value(&event);
            edit(Box::new(move |t| change(t, value)))
        }
    };
    let optional = |value: String| Some(value.trim().to_string()).filter(|v| !v.is_empty());
    let threshold_path = at("/threshold");
    let threshold_input = threshold_path.clone();
    let sample_path = at("/minSample");
    let sample_input = sample_path.clone();
    let rate = trigger.per.is_some();
    view! {
        <li class="trigger" data-testid="trigger">
            <div class="grid">
                <label class="field">
                    <span class="label">"Metric"</span>
                    <input type="text" prop:value=trigger.metric.clone() placeholder="e.g. crashRate"
                        on:input=text(|t, v| t.metric = v)/>
                    <FieldProblems draft path=at("/metric")/>
                </label>
                <label class="field">
                    <span class="label">"Event"</span>
                    <input type="text" prop:value=trigger.event.clone() placeholder="e.g. crash"
                        on:input=text(|t, v| t.event = v)/>
                    <FieldProblems draft path=at("/event")/>
                </label>
                <label class="field">
                    <span class="label">"Per (blank: a count)"</span>
                    <input type="text" prop:value=trigger.per.clone().unwrap_or_default() placeholder="e.g. session"
                        on:input=move |event| {
                            let per = optional(event_target_value(&event));
                            let rate = per.is_some();
                            // A count has no comparison; a new rate starts against the control.
                            edit(Box::new(move |t| {
                                if rate && t.compare.is_none() {
                                    t.compare = Some(Compare::Control);
                                } else if !rate {
                                    t.compare = None;
                                    t.unit = None;
                                }
                                t.per = per;
                            }));
                            if rate != trigger.per.is_some() {
                                draft.rebuild();
                            }
                        }/>
                    <FieldProblems draft path=at("/per")/>
                </label>
                {rate.then(|| view! {
                    <label class="field">
                        <span class="label">"Compare"</span>
                        <select on:change=move |event| {
                            let compare = Compare::from_name(&event_target_value(&event));
                            edit(Box::new(move |t| t.compare = compare))
                        }>{choices(Compare::NAMES, trigger.compare.map(Compare::name), None)}</select>
                        <FieldProblems draft path=at("/compare")/>
                    </label>
                    <label class="field">
                        <span class="label">"Unit"</span>
                        <select on:change=move |event| {
                            let unit = ThresholdUnit::from_name(&event_target_value(&event));
                            edit(Box::new(move |t| t.unit = unit))
                        }>{choices(ThresholdUnit::NAMES, trigger.unit.map(ThresholdUnit::name), Some("points"))}</select>
                        <FieldProblems draft path=at("/unit")/>
                    </label>
                })}
                <label class="field">
                    <span class="label">"Threshold"</span>
                    <input type="text" inputmode="decimal" prop:value=trigger.threshold.to_string()
                        on:input=move |event| {
                            if let Some(number) = draft.read_number(&threshold_input, &event_target_value(&event)) {
                                edit(Box::new(move |t| t.threshold = number));
                            }
                        }/>
                    <FieldProblems draft path=threshold_path/>
                </label>
                <label class="field">
                    <span class="label">"Minimum sample"</span>
                    <input type="text" inputmode="numeric" prop:value=trigger.min_sample.to_string()
                        on:input=move |event| {
                            if let Some(count) = draft.read_count(&sample_input, &event_target_value(&event)) {
                                edit(Box::new(move |t| t.min_sample = count));
                            }
                        }/>
                    <FieldProblems draft path=sample_path/>
                </label>
                <label class="field">
                    <span class="label">"Action"</span>
                    <select on:change=move |event| {
                        if let Some(action) = TriggerAction::from_name(&event_target_value(&event)) {
                            edit(Box::new(move |t| t.action = action))
                        }
                    }>{choices(TriggerAction::NAMES, Some(trigger.action.name()), None)}</select>
                </label>
                <label class="field">
                    <span class="label">"Description"</span>
                    <input type="text" prop:value=trigger.description.clone().unwrap_or_default()
                        on:input=move |event| {
                            let text = optional(event_target_value(&event));
                            edit(Box::new(move |t| t.description = text))
                        }/>
                </label>
            </div>
            <button class="secondary small" aria-label=format!("Remove trigger {}", index + 1) on:click=move |_| {
                draft.restructure(|r| {
                    if index < r.rollback_triggers.len() {
                        r.rollback_triggers.remove(index);
                    }
                })
            }>"Remove"</button>
        </li>
    }
}

/// Each environment's targeting: who is always in, never in, and the
/// constraints a unit must meet to be bucketed at all.
#[component]
pub(super) fn Targeting(draft: Draft) -> impl IntoView {
    view! {
        <section class="targeting" aria-label="Targeting">
            <h2>"Targeting"</h2>
            <p class="hint">"Per environment. Excluded keys win over included ones; constraints must all hold."</p>
            {move || {
                draft.generation.track();
                draft.rollout.track();
                let names = draft
                    .read_rollout(|r| r.environments.keys().cloned().collect::<Vec<_>>())
                    .unwrap_or_default();
                names
                    .into_iter()
                    .map(|name| view! { <EnvironmentTargeting draft name/> })
                    .collect_any()
                    .into_any()
            }}
        </section>
    }
}

#[component]
fn EnvironmentTargeting(draft: Draft, name: String) -> impl IntoView {
    let Some(env) = draft
        .read_rollout(|r| r.environments.get(&name).cloned())
        .flatten()
    else {
        return ().into_any();
    };
    let key = name.replace('~', "~0").replace('/', "~1");
    let at = move |field: &str| draft.pointer(&format!("/environments/{key}{field}"));
    let edit = {
        let name = name.clone();
        move |change: Box<dyn FnOnce(&mut evaluator::model::Environment)>| {
            let name = name.clone();
            draft.update_rollout(move |r| {
                if let Some(env) = r.environments.get_mut(&name) {
                    change(env)
                }
            })
        }
    };
    let (edit_include, edit_exclude, edit_add) = (edit.clone(), edit.clone(), edit.clone());
    let constraints = env
        .constraints
        .iter()
        .cloned()
        .enumerate()
        .map(|(index, constraint)| {
            let path = at(&format!("/constraints/{index}"));
            view! { <ConstraintFields draft index constraint path edit=edit.clone()/> }
        })
        .collect_any();
    view! {
        <fieldset class="environment" data-env=name.clone()>
            <legend>{name.clone()}</legend>
            <div class="grid">
                <label class="field">
                    <span class="label">"Always in (include): targeting keys, one a line"</span>
                    <textarea rows="3" data-testid="include" prop:value=env.include.join("\n")
                        on:input=move |event| {
                            let keys = lines(&event_target_value(&event));
                            edit_include(Box::new(move |env| env.include = keys))
                        }></textarea>
                    <FieldProblems draft path=at("/include") nested=true/>
                </label>
                <label class="field">
                    <span class="label">"Never in (exclude): targeting keys, one a line"</span>
                    <textarea rows="3" data-testid="exclude" prop:value=env.exclude.join("\n")
                        on:input=move |event| {
                            let keys = lines(&event_target_value(&event));
                            edit_exclude(Box::new(move |env| env.exclude = keys))
                        }></textarea>
                    <FieldProblems draft path=at("/exclude") nested=true/>
                </label>
            </div>
            <h3>"Constraints"</h3>
            <ol class="constraint-list">{constraints}</ol>
            <button class="secondary small" data-testid="add-constraint" on:click=move |_| {
                edit_add(Box::new(|env| env.constraints.push(Constraint {
                    attribute: String::new(),
                    operator: Operator::In,
                    values: Vec::new(),
                    value: None,
                })));
                draft.rebuild();
            }>"Add constraint"</button>
        </fieldset>
    }
    .into_any()
}

type EditEnvironment = Box<dyn FnOnce(&mut evaluator::model::Environment)>;

#[component]
fn ConstraintFields(
    draft: Draft,
    index: usize,
    constraint: Constraint,
    path: String,
    edit: impl Fn(EditEnvironment) + Clone + 'static,
) -> impl IntoView {
    let change = {
        let edit = edit.clone();
        move |change: Box<dyn FnOnce(&mut Constraint)>| {
            edit(Box::new(move |env| {
                if let Some(constraint) = env.constraints.get_mut(index) {
                    change(constraint)
                }
            }))
        }
    };
    let (on_attribute, on_operator, on_values) = (change.clone(), change.clone(), change);
    let semver = constraint.operator.is_semver();
    let current = operator_name(constraint.operator);
    let options = Operator::NAMES
        .iter()
        .map(|name| view! { <option value=*name prop:selected=*name == current>{*name}</option> })
        .collect_any();
    let (values_path, value_path) = (format!("{path}/values"), format!("{path}/value"));
    view! {
        <li class="constraint" data-testid="constraint">
            <div class="grid">
                <label class="field">
                    <span class="label">"Attribute"</span>
                    <input type="text" prop:value=constraint.attribute.clone() placeholder="e.g. platform"
                        on:input=move |event| {
                            let attribute = event_target_value(&event);
                            on_attribute(Box::new(move |c| c.attribute = attribute))
                        }/>
                    <FieldProblems draft path=format!("{path}/attribute")/>
                </label>
                <label class="field">
                    <span class="label">"Operator"</span>
                    <select on:change=move |event| {
                        if let Some(operator) = Operator::from_name(&event_target_value(&event)) {
                            // One kind of value per operator: the other one goes.
                            on_operator(Box::new(move |c| {
                                c.operator = operator;
                                if operator.is_semver() {
                                    c.values.clear();
                                } else {
                                    c.value = None;
                                }
                            }));
                            // The value field changes with the operator.
                            draft.rebuild();
                        }
                    }>{options}</select>
                    <FieldProblems draft path=format!("{path}/operator")/>
                </label>
                {if semver {
                    view! {
                        <label class="field">
                            <span class="label">"Version"</span>
                            <input type="text" prop:value=constraint.value.clone().unwrap_or_default() placeholder="e.g. 2.1.0"
                                on:input=move |event| {
                                    let value = event_target_value(&event);
                                    on_values(Box::new(move |c| c.value = Some(value.trim().to_string()).filter(|v| !v.is_empty())))
                                }/>
                            <FieldProblems draft path=value_path nested=true/>
                        </label>
                    }.into_any()
                } else {
                    view! {
                        <label class="field">
                            <span class="label">"Values (comma-separated)"</span>
                            <input type="text" prop:value=constraint.values.join(", ") placeholder="e.g. ios, android"
                                on:input=move |event| {
                                    let values = items(&event_target_value(&event));
                                    on_values(Box::new(move |c| c.values = values))
                                }/>
                            <FieldProblems draft path=values_path nested=true/>
                        </label>
                    }.into_any()
                }}
            </div>
            <button class="secondary small" aria-label=format!("Remove constraint {}", index + 1) on:click=move |_| {
                edit(Box::new(move |env| {
                    if index < env.constraints.len() {
                        env.constraints.remove(index);
                    }
                }));
                draft.rebuild();
            }>"Remove"</button>
        </li>
    }
}
