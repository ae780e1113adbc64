//! A secret the server shows this once (a user's token, an ingest key, a
//! webhook's signing secret), with a copy button.

use leptos::prelude::*;

/// Shows `shown`'s secret while it holds one: (whose it is and where it goes,
/// the secret). Every page keeps its secret in a signal of this one type and
/// lets this component watch it, so the view is compiled once.
#[component]
pub fn ShownOnce(
    shown: RwSignal<Option<(String, String)>>,
    /// The copy button's text: "Copy token".
    copy: &'static str,
    /// The section's test id.
    testid: &'static str,
) -> impl IntoView {
    move || {
        shown.get().map(|(intro, secret)| {
            let copied = RwSignal::new(false);
            let text = secret.clone();
            let copy_now = move |_| {
                if let Some(window) = web_sys::window() {
                    // The promise is not awaited: the secret stays on screen to copy by hand.
                    let _ = window.navigator().clipboard().write_text(&text);
                    copied.set(true);
                }
            };
            view! {
                <section class="warning" role="status" data-testid=testid>
                    <p>{intro}</p>
                    <p><code data-testid="secret">{secret}</code></p>
                    <div class="row">
                        <button on:click=copy_now>{move || if copied.get() { "Copied" } else { copy }}</button>
                        <button class="secondary" on:click=move |_| shown.set(None)>"Done"</button>
                    </div>
                </section>
            }
        })
    }
}
