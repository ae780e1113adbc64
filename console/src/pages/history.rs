//! History: every revision with author, time and comment; a readable diff between
//! any two; revert to one with a comment.

use evaluator::Plan;
use leptos::prelude::*;
use serde_json::Value;
use stagegate_api::{Action, AuditEntry, RevertRequest};

use crate::api::{self, ApiError};
use crate::components::{ChangeTable, CollectAny, ConfirmPanel, ErrorNote, short_time};
use crate::gate;
use crate::store::use_store;
use crate::task::{Fetched, Task};
use crate::use_me;
use stagegate_api::{diff, revert};

#[component]
pub fn History() -> impl IntoView {
    let store = use_store();
    let me = use_me();
    let refused = gate::may_change(&me, Action::EditPlan).err();
    let task = Task::new();
    // The revision a revert is being considered for.
    let reverting = RwSignal::new(None::<u64>);
    let notice = RwSignal::new(None::<String>);
    let show_ticks = RwSignal::new(false);
    let revert = move |revision: u64| {
        notice.set(None);
        reverting.set(Some(revision));
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
            <p class="hint">"A revert writes a new revision with an earlier one's content (sign-offs and checklist ticks stay as they are); it shows what it changes before it does."</p>
            {refused.clone().map(|why| view! { <p class="hint" id="revert-reason">{why}</p> })}
            <label class="check">
                <input type="checkbox" bind:checked=show_ticks data-testid="show-ticks"/>
                " Show checklist ticks"
            </label>
            {move || reverting.get().map(|revision| view! { <RevertPanel revision task reverting notice/> })}
            <p class="notice" role="status">{move || notice.get()}</p>
            <ErrorNote error/>
            {move || match store.revisions.get() {
                None => view! { <p class="loading" role="status">"Loading history…"</p> }.into_any(),
                Some(Err(error)) => view! { <ErrorNote error=Signal::stored(Some(error))/> }.into_any(),
                Some(Ok(list)) => {
                    let latest = list.first().map(|r| r.revision);
                    let refused = refused.clone();
                    // Ticks are records of checking, not changes to the plan: listed on request.
                    let with_ticks = show_ticks.get();
                    let list: Vec<AuditEntry> =
                        list.into_iter().filter(|r| with_ticks || r.action != "checklist").collect();
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

/// What a revert to `revision` would change, the choice to bring back what each
/// environment served then too, and the confirmation.
#[component]
fn RevertPanel(
    revision: u64,
    task: Task,
    reverting: RwSignal<Option<u64>>,
    notice: RwSignal<Option<String>>,
) -> impl IntoView {
    let store = use_store();
    let me = use_me();
    let restore = RwSignal::new(false);
    let target = Fetched::new(move || Box::pin(api::revision(revision)));
    // The plan the server would write: the same function it uses.
    let outcome = move || {
        let current = store.current()?;
        let target = target.get()?.ok()?;
        let plan = revert::reverted(&current.plan, target, restore.get());
        Some((
            diff::plan_changes(&as_value(&current.plan), &as_value(&plan)),
            gate::refused(me.role, &current.plan, &plan),
        ))
    };
    let blocked = Signal::derive(move || outcome().and_then(|(_, refused)| refused));
    let confirm = Callback::new(move |comment: String| {
        let request = RevertRequest {
            revision,
            comment,
            restore_live_state: restore.get_untracked(),
        };
        task.run(Box::pin(async move {
            let loaded = api::revert(&request).await?;
            notice.set(Some(format!(
                "Reverted to revision {revision}: now revision {}.",
                loaded.plan.revision
            )));
            reverting.set(None);
            store.saved(loaded);
            Ok(())
        }))
    });
    view! {
        <ConfirmPanel
            question=format!("Revert the plan to revision {revision}?")
            action=format!("Revert to {revision}")
            blocked
            on_confirm=confirm
            on_cancel=Callback::new(move |()| reverting.set(None))
        >
            <label class="check">
                <input type="checkbox" bind:checked=restore data-testid="restore-live"/>
                {format!(" Also restore each environment's active stage and kill switch as at revision {revision}")}
            </label>
            <p class="hint" data-testid="revert-keeps">{move || if restore.get() {
                "The sign-off gate rules on moving production back, as on any other move."
            } else {
                "Each environment keeps its active stage and kill switch as they are now."
            }}</p>
            <h3>"What the revert changes"</h3>
            {move || match target.get() {
                None => view! { <p class="loading" role="status">"Loading the revision…"</p> }.into_any(),
                Some(Err(error)) => view! { <ErrorNote error=Signal::stored(Some(error))/> }.into_any(),
                Some(Ok(_)) => outcome()
                    .map(|(changes, _)| view! { <div data-testid="revert-diff"><ChangeTable changes/></div> })
                    .into_any(),
            }}
        </ConfirmPanel>
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
        // The target of links to a revision (`/history#revision-12`).
        <tr id=format!("revision-{revision}")>
            <td data-label="Revision">{revision}</td>
            <td data-label="When">{short_time(&r.at)}</td>
            <td data-label="Who">{r.author.clone()}</td>
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
                        on:click=move |_| revert(revision)
                    >{format!("Revert to {revision}…")}</button>
                })}
            </td>
        </tr>
    }
}
