//! The plan's checklists by phase, with progress; the leads, editors and admins
//! tick items, and each item says who ticked it and when.

use leptos::prelude::*;
use stagegate_api::{Action, TickRequest};

use crate::api;
use crate::components::percent_bar::share;
use crate::components::{CollectAny, ErrorNote, PercentBar, PlanView, short_time};
use crate::store::use_store;
use crate::task::Task;
use crate::use_me;

/// One tick: which item of which rollout, and whether it is now done.
#[derive(Clone)]
struct Tick {
    rollout: String,
    index: usize,
    done: bool,
}

#[component]
pub fn Checklist() -> impl IntoView {
    let store = use_store();
    let me = use_me();
    let refused = (!me.may(Action::TickChecklist)).then(|| {
        format!(
            "Your role ({}) may not tick the checklist; the leads, editors and admins do.",
            me.role
        )
    });
    let task = Task::new();
    let tick = move |tick: Tick| {
        task.run(Box::pin(async move {
            let request = TickRequest {
                done: tick.done,
                comment: String::new(),
            };
            let loaded = api::tick(&tick.rollout, tick.index, &request).await?;
            store.saved(loaded);
            Ok(())
        }))
    };
    let error = task.error();
    view! {
        <h1>"Checklist"</h1>
        {refused.clone().map(|why| view! { <p class="hint" id="checklist-reason">{why}</p> })}
        <ErrorNote error/>
        <PlanView render=move |loaded| {
            let refused = refused.clone();
            loaded
                .plan
                .rollouts
                .into_iter()
                .map(|(key, rollout)| {
                    let mut phases: Vec<(String, Vec<(usize, evaluator::model::ChecklistItem)>)> = Vec::new();
                    for (index, item) in rollout.checklist.into_iter().enumerate() {
                        match phases.iter_mut().find(|(phase, _)| *phase == item.phase) {
                            Some((_, items)) => items.push((index, item)),
                            None => phases.push((item.phase.clone(), vec![(index, item)])),
                        }
                    }
                    let refused = refused.clone();
                    let sections = phases
                        .into_iter()
                        .map(|(phase, items)| {
                            let done = items.iter().filter(|(_, item)| item.done).count();
                            let total = items.len();
                            let rows = items
                                .into_iter()
                                .map(|(index, item)| {
                                    let rollout = key.clone();
                                    let refused = refused.clone();
                                    let group = item.group.clone().map(|g| view! { <span class="group">{g}</span> });
                                    view! {
                                        <li>
                                            <label class="check">
                                                <input
                                                    type="checkbox"
                                                    prop:checked=item.done
                                                    disabled={refused.is_some() || task.pending_untracked()}
                                                    title=refused.clone().unwrap_or_default()
                                                    aria-describedby=refused.as_ref().map(|_| "checklist-reason")
                                                    on:change=move |event| {
                                                        tick(Tick { rollout: rollout.clone(), index, done: event_target_checked(&event) });
                                                    }
                                                />
                                                {group}
                                                {item.item.clone()}
                                            </label>
                                            {item.done_by.clone().map(|by| view! {
                                                <span class="hint ticked">
                                                    {format!(" {} by {by}{}", if item.done { "done" } else { "unticked" },
                                                        item.done_at.as_deref().map(|at| format!(", {}", short_time(at))).unwrap_or_default())}
                                                </span>
                                            })}
                                        </li>
                                    }
                                })
                                .collect_any();
                            view! {
                                <section class="phase" aria-label=phase.clone()>
                                    <h3>{phase.clone()} " " <span class="count">{format!("{done} of {total}")}</span></h3>
                                    <PercentBar points=share(done, total)/>
                                    <ul class="checklist">{rows}</ul>
                                </section>
                            }
                        })
                        .collect_any();
                    view! { <section aria-label=format!("Checklist of {key}")><h2>{key.clone()}</h2>{sections}</section> }
                })
                .collect_any()
        }/>
    }
}
