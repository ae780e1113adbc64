use leptos::prelude::*;

use crate::api::Loaded;
use crate::components::ErrorNote;
use crate::store::use_store;

/// Renders `render` with the loaded plan: a loading line until it arrives, the
/// error where the page would be if it cannot be loaded.
#[component]
pub fn PlanView<V, F>(render: F) -> impl IntoView
where
    V: IntoView + 'static,
    F: Fn(Loaded) -> V + Send + Sync + 'static,
{
    let store = use_store();
    move || match store.plan.get() {
        None => view! { <p class="loading" role="status">"Loading the plan…"</p> }.into_any(),
        Some(Err(error)) => view! {
            <ErrorNote error=Signal::stored(Some(error))/>
            <button class="secondary" on:click=move |_| store.reload()>"Retry"</button>
        }
        .into_any(),
        Some(Ok(loaded)) => render(loaded).into_any(),
    }
}
