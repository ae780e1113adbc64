//! Client-side navigation: the path lives in a signal; links push browser history
//! and the back button pops it. (The server answers every page path with the
//! console, so a reload lands on the same page.) Small on purpose: a router crate
//! costs more bytes than this console needs.

use leptos::ev::MouseEvent;
use leptos::prelude::*;
use wasm_bindgen::JsValue;

#[derive(Clone, Copy)]
pub struct Path(RwSignal<String>);

fn browser_path() -> String {
    web_sys::window()
        .and_then(|window| window.location().pathname().ok())
        .unwrap_or_else(|| "/".into())
}

/// Starts tracking the browser's path; call once, near the root.
pub fn provide_path() -> Path {
    let path = Path(RwSignal::new(browser_path()));
    let handle = window_event_listener(leptos::ev::popstate, move |_| path.0.set(browser_path()));
    on_cleanup(move || handle.remove());
    provide_context(path);
    path
}

impl Path {
    pub fn get(&self) -> String {
        self.0.get()
    }

    fn go(&self, to: &str) {
        if let Some(history) = web_sys::window().and_then(|window| window.history().ok()) {
            // Without history the link still works as a full page load would.
            let _ = history.push_state_with_url(&JsValue::NULL, "", Some(to));
        }
        self.0.set(to.to_string());
    }
}

/// A navigation link: a plain `<a>` (so it opens in a new tab too) that changes
/// page without a reload, and says which page is current.
#[component]
pub fn Link(href: &'static str, children: Children) -> impl IntoView {
    let path = expect_context::<Path>();
    let follow = move |event: MouseEvent| {
        let modified = event.ctrl_key() || event.meta_key() || event.shift_key() || event.alt_key();
        if !modified && event.button() == 0 {
            event.prevent_default();
            path.go(href);
        }
    };
    view! {
        <a href=href aria-current=move || (path.get() == href).then_some("page") on:click=follow>
            {children()}
        </a>
    }
}
