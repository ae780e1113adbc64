use leptos::ev::SubmitEvent;
use leptos::prelude::*;

use crate::api::ApiError;
use crate::session::use_session;

/// The token form (a form, so Enter in the field submits), with why the last
/// attempt failed, if it did.
#[component]
pub fn SignIn(#[prop(optional)] refused: Option<ApiError>) -> impl IntoView {
    let session = use_session();
    let token = RwSignal::new(String::new());
    let submit = move |event: SubmitEvent| {
        event.prevent_default();
        if !token.get_untracked().trim().is_empty() {
            session.sign_in(&token.get_untracked());
        }
    };
    view! {
        <main id="main" class="signin">
            <h1>"stagegate"</h1>
            <form on:submit=submit>
                <label for="token">"Access token"</label>
                <input
                    id="token"
                    name="token"
                    type="password"
                    autocomplete="current-password"
                    required
                    autofocus
                    bind:value=token
                />
                <p class="hint">"Printed by " <code>"stagegate serve"</code> " on first start, or by "
                    <code>"stagegate user add"</code> ". Kept only for this browser tab."</p>
                <button type="submit">"Sign in"</button>
                {refused.map(|error| view! { <p class="error" role="alert">{error.to_string()}</p> })}
            </form>
        </main>
    }
}
