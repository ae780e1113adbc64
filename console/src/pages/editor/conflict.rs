//! The 412 flow of a save.

use leptos::prelude::*;

use super::{Conflict, Draft, as_value};
use crate::components::ChangeTable;
use crate::store::use_store;
use stagegate_api::diff;

/// The 412 flow: what the other writer changed, what our edit changes, and the two ways on.
#[component]
pub(super) fn ConflictPanel(
    found: Conflict,
    draft: Draft,
    conflict: RwSignal<Option<Conflict>>,
) -> impl IntoView {
    let store = use_store();
    let failure = RwSignal::new(None::<String>);
    let Conflict {
        current,
        theirs,
        mine,
    } = found;
    let (reload_with, reapply_with, mine_to_apply) =
        (current.clone(), current.clone(), mine.clone());
    view! {
        <section class="conflict" role="alert" data-testid="conflict">
            <h2>"Someone else changed the plan"</h2>
            <p>{format!(
                "Your edit was based on revision {}, but revision {} was saved first. Nothing of yours was written.",
                draft.base.get_untracked().plan.revision,
                current.plan.revision
            )}</p>
            <h3>"What they changed"</h3>
            <ChangeTable changes=theirs/>
            <h3>"Your edit"</h3>
            <ChangeTable changes=mine/>
            <div class="row">
                <button data-testid="reload" class="secondary" on:click=move |_| {
                    store.saved(reload_with.clone());
                    draft.reset(reload_with.clone(), reload_with.plan.clone());
                    conflict.set(None);
                }>"Reload (discard my edit)"</button>
                <button data-testid="reapply" on:click=move |_| {
                    let mut merged = as_value(&reapply_with.plan);
                    diff::apply(&mut merged, &mine_to_apply);
                    // Read as the server's answers are (`api::plan_request`): no serde reader.
                    match serde_json::to_string(&merged).map_err(|e| e.to_string()).and_then(|text| evaluator::parse_plan(&text).map_err(|e| e.to_string())) {
                        Ok(plan) => {
                            store.saved(reapply_with.clone());
                            draft.reset(reapply_with.clone(), plan);
                            conflict.set(None);
                        }
                        Err(error) => failure.set(Some(format!("Your edit cannot be reapplied here: {error}"))),
                    }
                }>"Reapply my edit on the new revision"</button>
            </div>
            <p class="hint">"Reapplying puts your edit on top of their revision; check it, then save again."</p>
            {move || failure.get().map(|why| view! { <p class="error" role="alert">{why}</p> })}
        </section>
    }
}
