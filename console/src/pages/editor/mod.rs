//! The stage editor: flag definitions, stages (with what to watch), rollback
//! triggers and each environment's targeting of one rollout, validated as you
//! type by the evaluator's own rules, saved with If-Match, and the 412 flow when
//! someone else saved first.

mod conflict;
mod fields;
mod targeting;

use std::collections::BTreeMap;

use evaluator::model::Rollout;
use evaluator::{Plan, Problem};
use leptos::prelude::*;
use serde_json::Value;
use stagegate_api::Action;

use crate::api::{self, Loaded};
use crate::components::{CollectAny, ErrorNote};
use crate::gate;
use crate::store::use_store;
use crate::task::Task;
use crate::use_me;
use conflict::ConflictPanel;
use fields::{AllProblems, FlagEditor, StageList};
use stagegate_api::diff::{self, Change};
use targeting::{Targeting, Triggers};

#[component]
pub fn Editor() -> impl IntoView {
    let store = use_store();
    // Only whether the plan is there: a reload after someone else's write must not
    // throw away an edit in progress.
    let ready = Memo::new(move |_| store.plan.get().map(|result| result.map(|_| ())));
    view! {
        <h1>"Stages"</h1>
        {move || match ready.get() {
            None => view! { <p class="loading" role="status">"Loading the plan…"</p> }.into_any(),
            Some(Err(error)) => view! { <ErrorNote error=Signal::stored(Some(error))/> }.into_any(),
            Some(Ok(())) => store
                .plan
                .get_untracked()
                .and_then(Result::ok)
                .map(|initial| view! { <PlanEditor initial/> })
                .into_any(),
        }}
    }
}

/// Everything the editor's parts share; all signals, so it is `Copy`.
#[derive(Clone, Copy)]
struct Draft {
    /// The revision the edit started from (what If-Match names).
    base: RwSignal<Loaded>,
    plan: RwSignal<Plan>,
    rollout: RwSignal<String>,
    /// Bumped when inputs must be rebuilt from `plan` (reorder, reload, reapply).
    generation: RwSignal<u32>,
    /// Text that is not yet a value (such as "12.") by JSON Pointer.
    unparsed: RwSignal<BTreeMap<String, String>>,
    problems: Memo<Vec<Problem>>,
}

impl Draft {
    fn new(initial: Loaded) -> Self {
        let rollout = initial
            .plan
            .rollouts
            .keys()
            .next()
            .cloned()
            .unwrap_or_default();
        let plan = RwSignal::new(initial.plan.clone());
        let unparsed = RwSignal::new(BTreeMap::<String, String>::new());
        let problems = Memo::new(move |_| {
            let mut problems = plan.with(evaluator::validate);
            unparsed.with(|unparsed| {
                problems.extend(unparsed.iter().map(|(path, message)| Problem {
                    path: path.clone(),
                    message: message.clone(),
                    line: None,
                    column: None,
                }))
            });
            problems
        });
        Draft {
            base: RwSignal::new(initial),
            plan,
            rollout: RwSignal::new(rollout),
            generation: RwSignal::new(0),
            unparsed,
            problems,
        }
    }

    /// JSON Pointer of `rest` inside the selected rollout.
    fn pointer(&self, rest: &str) -> String {
        let key = self
            .rollout
            .get_untracked()
            .replace('~', "~0")
            .replace('/', "~1");
        format!("/rollouts/{key}{rest}")
    }

    fn update_rollout(&self, change: impl FnOnce(&mut Rollout)) {
        let key = self.rollout.get_untracked();
        self.plan.update(|plan| {
            if let Some(rollout) = plan.rollouts.get_mut(&key) {
                change(rollout)
            }
        });
    }

    fn read_rollout<T>(&self, read: impl FnOnce(&Rollout) -> T) -> Option<T> {
        let key = self.rollout.get_untracked();
        self.plan
            .with_untracked(|plan| plan.rollouts.get(&key).map(read))
    }

    /// A structural change: inputs are rebuilt from the plan.
    fn restructure(&self, change: impl FnOnce(&mut Rollout)) {
        self.update_rollout(change);
        self.rebuild();
    }

    fn rebuild(&self) {
        self.unparsed.set(BTreeMap::new());
        self.generation.update(|n| *n += 1);
    }

    /// Starts over from `loaded`, with `plan` as the edit (the loaded plan itself to discard the edit).
    fn reset(&self, loaded: Loaded, plan: Plan) {
        self.base.set(loaded);
        self.plan.set(plan);
        self.rebuild();
    }

    /// Text typed into a number field: the number, or `None` with the problem
    /// recorded at `path` until the text reads as one.
    fn read_number(&self, path: &str, text: &str) -> Option<evaluator::json::Number> {
        let number = evaluator::json::Number::from_text(text.trim());
        let problem = number
            .is_none()
            .then(|| format!("'{text}' is not a number"));
        self.record_unparsed(path, problem);
        number
    }

    /// `read_number` for a whole number of 0 or more.
    fn read_count(&self, path: &str, text: &str) -> Option<u64> {
        let count = text.trim().parse::<u64>().ok();
        let problem = count
            .is_none()
            .then(|| format!("'{text}' is not a whole number of 0 or more"));
        self.record_unparsed(path, problem);
        count
    }

    fn record_unparsed(&self, path: &str, problem: Option<String>) {
        self.unparsed.update(|unparsed| match problem {
            Some(message) => {
                unparsed.insert(path.to_string(), message);
            }
            None => {
                unparsed.remove(path);
            }
        });
    }
}

/// Another writer's revision, saved after the one the edit started from.
#[derive(Clone)]
struct Conflict {
    current: Loaded,
    theirs: Vec<Change>,
    mine: Vec<Change>,
}

impl Conflict {
    /// What `current` changed since `base`, and what the edit `mine` changes.
    fn new(base: &Plan, mine: &Plan, current: Loaded) -> Self {
        let base = as_value(base);
        Conflict {
            theirs: diff::plan_changes(&base, &as_value(&current.plan)),
            mine: diff::plan_changes(&base, &as_value(mine)),
            current,
        }
    }
}

#[component]
fn PlanEditor(initial: Loaded) -> impl IntoView {
    let store = use_store();
    let me = use_me();
    let draft = Draft::new(initial);
    let comment = RwSignal::new(String::new());
    let conflict = RwSignal::new(None::<Conflict>);
    let notice = RwSignal::new(None::<String>);

    let save = Task::new();
    let send_save = move || {
        let plan = draft.plan.get_untracked();
        let base = draft.base.get_untracked();
        let message = comment.get_untracked();
        save.run(Box::pin(async move {
            match api::save_plan(&plan, &base.etag, &message).await {
                Ok(saved) => {
                    notice.set(Some(format!("Saved as revision {}.", saved.plan.revision)));
                    comment.set(String::new());
                    draft.reset(saved.clone(), saved.plan.clone());
                    store.saved(saved);
                    Ok(())
                }
                Err(error) if error.status() == Some(412) => {
                    let current = api::load_plan().await?;
                    conflict.set(Some(Conflict::new(&base.plan, &plan, current)));
                    Ok(())
                }
                Err(error) => Err(error),
            }
        }))
    };
    let error = save.error();
    // A failed save's error is about the edit as it was sent.
    Effect::new(move |_| {
        draft.plan.track();
        save.clear();
    });
    let dirty = Memo::new(move |_| {
        draft
            .base
            .with(|base| draft.plan.with(|plan| *plan != base.plan))
    });

    // Leaving with the edit unsaved asks first (links and the tab itself).
    let path = expect_context::<crate::nav::Path>();
    Effect::new(move |_| path.set_unsaved(dirty.get()));
    on_cleanup(move || path.set_unsaved(false));

    // Someone else's write, heard live: an untouched editor follows it; an edit
    // in progress stays and gets the reload-or-reapply choice of a 412.
    Effect::new(move |_| {
        let Some(current) = store.current() else {
            return;
        };
        let base = draft.base.get_untracked();
        if current.plan.revision == base.plan.revision {
            return;
        }
        if dirty.get_untracked() {
            let mine = draft.plan.get_untracked();
            conflict.set(Some(Conflict::new(&base.plan, &mine, current)));
        } else {
            draft.reset(current.clone(), current.plan);
        }
    });

    // Sign-offs that approve the plan as it was loaded and would not approve the
    // edit: the save must be acknowledged first.
    let staled = Memo::new(move |_| {
        draft.base.with(|base| {
            draft.plan.with(|plan| {
                base.plan
                    .signoffs
                    .iter()
                    .filter(|s| base.plan.is_current(s) && !plan.is_current(s))
                    .map(|s| {
                        let stage = plan
                            .rollouts
                            .get(&s.rollout)
                            .and_then(|r| r.stage(&s.stage))
                            .map_or(s.stage.clone(), |stage| stage.name.clone());
                        format!("{} ({}) for {stage}", s.role, s.by)
                    })
                    .collect::<Vec<_>>()
            })
        })
    });
    let acknowledged = RwSignal::new(false);
    Effect::new(move |_| {
        staled.track();
        acknowledged.set(false);
    });

    let blocked = Memo::new(move |_| {
        if let Err(why) = gate::may_change(&me, Action::EditPlan) {
            Some(why)
        } else if conflict.with(Option::is_some) {
            Some("Reload or reapply your edit first (see above).".to_string())
        } else if !draft.problems.with(Vec::is_empty) {
            Some(format!(
                "Fix the {} problem(s) listed above first.",
                draft.problems.with(Vec::len)
            ))
        } else if !dirty.get() {
            Some("Nothing has changed yet.".to_string())
        } else if !staled.with(Vec::is_empty) && !acknowledged.get() {
            Some("Confirm above that these sign-offs go stale.".to_string())
        } else {
            // The server's gate, asked before saving.
            draft.base.with(|base| {
                draft
                    .plan
                    .with(|plan| gate::refused(me.role, &base.plan, plan))
            })
        }
    });
    let rollouts = move || {
        draft
            .plan
            .with(|plan| plan.rollouts.keys().cloned().collect::<Vec<_>>())
    };

    view! {
        <div class="editor">
            <Show when=move || { rollouts().len() > 1 }>
                <label>
                    "Rollout "
                    <select on:change=move |event| {
                        draft.rollout.set(event_target_value(&event));
                        draft.rebuild();
                    }>
                        {rollouts().into_iter().map(|key| view! { <option value=key.clone()>{key.clone()}</option> }).collect_any()}
                    </select>
                </label>
            </Show>
            <AllProblems draft/>
            {move || {
                let names = staled.get();
                (!names.is_empty()).then(|| view! {
                    <div class="warning" role="alert" data-testid="stale-warning">
                        <p>{format!(
                            "This edit changes what {} approved, so {} will no longer count: {}. Production cannot move to those stages until they sign again.",
                            if names.len() == 1 { "a sign-off" } else { "these sign-offs" },
                            if names.len() == 1 { "it" } else { "they" },
                            names.join("; ")
                        )}</p>
                        <label class="check">
                            <input type="checkbox" bind:checked=acknowledged data-testid="stale-ack"/>
                            " Save anyway: they must sign again"
                        </label>
                    </div>
                })
            }}
            <section class="save" aria-label="Save">
                <label>
                    "Comment "
                    <input type="text" bind:value=comment placeholder="what and why (recorded in the history)"/>
                </label>
                <button
                    data-testid="save"
                    disabled=move || blocked.get().is_some() || save.pending()
                    title=move || blocked.get().unwrap_or_default()
                    aria-describedby="save-reason"
                    on:click=move |_| {
                        notice.set(None);
                        send_save();
                    }
                >
                    {move || if save.pending() { "Saving…" } else { "Save" }}
                </button>
                <button
                    class="secondary"
                    disabled=move || !dirty.get()
                    on:click=move |_| {
                        let base = draft.base.get_untracked();
                        draft.reset(base.clone(), base.plan);
                    }
                >
                    "Discard changes"
                </button>
                <p id="save-reason" class="hint">
                    {move || blocked.get()}
                    " Based on revision " {move || draft.base.with(|base| base.plan.revision)} "."
                </p>
                <p class="notice" role="status">{move || notice.get()}</p>
                <ErrorNote error/>
            </section>
            {move || conflict.get().map(|found| view! { <ConflictPanel found draft conflict/> }.into_any())}
            <FlagEditor draft/>
            <StageList draft/>
            <Triggers draft/>
            <Targeting draft/>
        </div>
    }
}

fn as_value(plan: &Plan) -> Value {
    serde_json::to_value(plan).unwrap_or(Value::Null)
}
