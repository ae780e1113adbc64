use leptos::prelude::*;

use crate::components::CollectAny;
use serde_json::Value;
use stagegate_api::diff::Change;

/// Changes as a table: where (a JSON Pointer), before and after.
#[component]
pub fn ChangeTable(changes: Vec<Change>) -> impl IntoView {
    if changes.is_empty() {
        return view! { <p class="hint">"No differences."</p> }.into_any();
    }
    view! {
        <div class="table-wrap">
            <table class="changes">
                <thead><tr><th scope="col">"Where"</th><th scope="col">"Before"</th><th scope="col">"After"</th></tr></thead>
                <tbody>
                    {changes
                        .into_iter()
                        .map(|change| view! {
                            <tr>
                                <td><code>{change.path.clone()}</code></td>
                                <td class="before">{show(&change.before)}</td>
                                <td class="after">{show(&change.after)}</td>
                            </tr>
                        })
                        .collect_any()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

/// A value as one short line.
fn show(value: &Option<Value>) -> String {
    match value {
        None => "—".into(),
        Some(Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
    }
}
