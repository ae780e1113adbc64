//! History: every revision with author, time and comment; a readable diff between
//! any two; revert to one with a comment.

use evaluator::Plan;
use leptos::prelude::*;
use serde_json::Value;
use stagegate_api::{Action, AuditEntry, RevertRequest};

use crate::api::{self, ApiError};
use crate::components::{ChangeTable, CollectAny, ErrorNote, short_time};
use crate::gate;
use crate::store::use_store;
use crate::task::{Fetched, Task};
use crate::{confirm, use_me};
use stagegate_api::diff;

#[component]
pub fn History() -> impl IntoView {
    let store = use_store();
    let me = use_me();
    let refused = gate::may_change(&me, Action::EditPlan).err();
    let comment = RwSignal::new(String::new());
    let task = Task::new();
    let revert = move |revision: u64| {
        let request = RevertRequest {
            revision,
            comment: comment.get_untracked(),
            // What each environment serves stays as it is now (the hint says so).
            restore_live_state: false,
        };
        task.run(Box::pin(async move {
            let loaded = api::revert(&request).await?;
            comment.set(String::new());
            store.saved(loaded);
            Ok(())
        }))
    };
    let error = task.error();

    // The two revisions compared; `None` until chosen: the latest change then.
    let from = RwSignal::new(None::<u64>);
    let to = RwSignal::new(None::<u64>);
    let list = move || {
        store
            .revisions
            .get()
            .and_then(Result::ok)
            .unwrap_or_default()
    };
    let latest = move || list().first().map(|r| r.revision).unwrap_or(1);
    let chosen = Memo::new(move |_| {
        let to = to.get().unwrap_or_else(latest);
        (from.get().unwrap_or(to.saturating_sub(1).max(1)), to)
    });
    let compared = Fetched::new(move || {
        let (a, b) = chosen.get();
        Box::pin(async move {
            let before = as_value(&api::revision(a).await?);
            let after = as_value(&api::revision(b).await?);
            Ok::<_, ApiError>(diff::plan_changes(&before, &after))
        })
    });

    let picker = move |label: &'static str,
                       signal: RwSignal<Option<u64>>,
                       pick: fn((u64, u64)) -> u64| {
        view! {
            <label>
                {label} " "
                <select
                    data-testid=format!("diff-{label}")
                    on:change=move |event| signal.set(event_target_value(&event).parse().ok())
                >
                    {move || {
                        let selected = pick(chosen.get());
                        list()
                            .into_iter()
                            .map(|r| view! {
                                <option value=r.revision.to_string() selected=r.revision == selected>
                                    {format!("revision {}", r.revision)}
                                </option>
                            })
                            .collect_any()
                            .into_any()
                    }}
                </select>
            </label>
        }
    };

    view! {
        <h1>"History"</h1>
        <section class="diff" aria-label="Compare revisions">
            <h2>"Compare"</h2>
            <div class="row">
                {picker("from", from, |(a, _)| a)}
                {picker("to", to, |(_, b)| b)}
            </div>
            {move || match compared.get() {
                None => view! { <p class="loading" role="status">"Loading revisions…"</p> }.into_any(),
                Some(Ok(changes)) => view! { <ChangeTable changes/> }.into_any(),
                Some(Err(error)) => view! { <ErrorNote error=Signal::stored(Some(error))/> }.into_any(),
            }}
        </section>
        <section aria-label="Revisions">
            <h2>"Revisions"</h2>
            <div class="row">
                <label>"Revert comment " <input type="text" bind:value=comment placeholder="why revert"/></label>
            </div>
            <p class="hint" data-testid="revert-keeps">"A revert keeps each environment's active stage and kill switch as they are now."</p>
            {refused.clone().map(|why| view! { <p class="hint" id="revert-reason">{why}</p> })}
            <ErrorNote error/>
            {move || match store.revisions.get() {
                None => view! { <p class="loading" role="status">"Loading history…"</p> }.into_any(),
                Some(Err(error)) => view! { <ErrorNote error=Signal::stored(Some(error))/> }.into_any(),
                Some(Ok(list)) => {
                    let latest = list.first().map(|r| r.revision);
                    let refused = refused.clone();
                    view! {
                        <div class="table-wrap">
                            <table class="history" data-testid="history">
                                <thead><tr>
                                    <th scope="col">"Rev"</th><th scope="col">"When"</th><th scope="col">"Who"</th>
                                    <th scope="col">"What"</th><th scope="col">"Comment"</th><th scope="col"><span class="sr-only">"Actions"</span></th>
                                </tr></thead>
                                <tbody>
                                    {list.into_iter().map(|r| revision_row(r, latest, refused.clone(), task, revert)).collect_any()}
                                </tbody>
                            </table>
                        </div>
                    }
                    .into_any()
                }
            }}
        </section>
    }
}

/// A revision as JSON, for the diff.
fn as_value(plan: &Plan) -> Value {
    serde_json::to_value(plan).unwrap_or(Value::Null)
}

fn revision_row(
    r: AuditEntry,
    latest: Option<u64>,
    refused: Option<String>,
    task: Task,
    revert: impl Fn(u64) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let revision = r.revision;
    let summary = r.summary.join("\n");
    view! {
        <tr>
            <td>{revision}</td>
            <td>{short_time(&r.at)}</td>
            <td>{r.author.clone()}</td>
            <td><span class="action">{r.action.clone()}</span><pre class="summary">{summary}</pre></td>
            <td>{r.comment.clone()}</td>
            <td>
                {(Some(revision) != latest).then(|| view! {
                    <button
                        class="secondary small"
                        data-testid=format!("revert-{revision}")
                        disabled=refused.is_some() || task.pending_untracked()
                        title=refused.clone().unwrap_or_default()
                        aria-describedby=refused.as_ref().map(|_| "revert-reason")
                        on:click=move |_| {
                            if confirm(&format!("Revert the plan to revision {revision}? This writes a new revision.")) {
                                revert(revision);
                            }
                        }
                    >{format!("Revert to {revision}")}</button>
                })}
            </td>
        </tr>
    }
}
