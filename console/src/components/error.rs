use leptos::prelude::*;

use crate::api::ApiError;
use crate::components::CollectAny;
use crate::session::use_session;

/// An error where it happened, with field paths (422) or roles (409) listed, and a
/// way back to the sign-in form when the token stopped working (401).
#[component]
pub fn ErrorNote(#[prop(into)] error: Signal<Option<ApiError>>) -> impl IntoView {
    let session = use_session();
    move || {
        error.get().map(|error| {
            let lines = error.detail_lines();
            let unauthorized = error.status() == Some(401);
            view! {
                <div class="error" role="alert">
                    <p>{error.to_string()}</p>
                    <Show when=move || !lines.is_empty()>
                        <ul class="problems">
                            {error
                                .detail_lines()
                                .into_iter()
                                .map(|(path, message)| view! { <li><code>{path}</code>" "{message}</li> })
                                .collect_any()}
                        </ul>
                    </Show>
                    <Show when=move || unauthorized>
                        <button on:click=move |_| session.sign_out()>"Sign in again"</button>
                    </Show>
                </div>
            }
            .into_any()
        })
    }
}
