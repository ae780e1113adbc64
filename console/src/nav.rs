//! Client-side navigation: the path lives in a signal; links push browser history
//! and the back button pops it. (The server answers every page path with the
//! console, so a reload lands on the same page.) Small on purpose: a router crate
//! costs more bytes than this console needs.

use leptos::ev::MouseEvent;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy)]
pub struct Path {
    path: RwSignal<String>,
    /// Whether the page holds an edit not yet saved (the stage editor says so).
    unsaved: RwSignal<bool>,
    /// Where a link (or Back) would go, held back while the person decides about their edit.
    leaving: RwSignal<Option<String>>,
}

/// What the console keeps in each browser-history entry (`history.state`):
/// where the page was scrolled, so Back and Forward return there.
/// serde-wasm-bindgen writes and reads it as a plain JavaScript object.
#[derive(Serialize, Deserialize)]
struct Entry {
    scroll_y: f64,
}

/// Scrolls to `y` once the page is tall enough: a page that is still loading
/// is tried again each frame, `frames` times at most (about a second).
fn scroll_back(y: f64, frames: u32) {
    request_animation_frame(move || {
        let Some(window) = web_sys::window() else {
            return;
        };
        window.scroll_to_with_x_and_y(0.0, y);
        let reached = window.scroll_y().unwrap_or(y) >= y - 1.0;
        if !reached && frames > 0 {
            scroll_back(y, frames - 1);
        }
    });
}

fn browser_path() -> String {
    web_sys::window()
        .and_then(|window| window.location().pathname().ok())
        .unwrap_or_else(|| "/".into())
}

/// Starts tracking the browser's path; call once, near the root.
pub fn provide_path() -> Path {
    let path = Path {
        path: RwSignal::new(browser_path()),
        unsaved: RwSignal::new(false),
        leaving: RwSignal::new(None),
    };
    let popped = window_event_listener(leptos::ev::popstate, move |event| {
        let to = browser_path();
        if path.unsaved.get_untracked() && to != path.path.get_untracked() {
            // Back or Forward with an edit unsaved: stay on this page, and ask.
            if let Some(history) = web_sys::window().and_then(|window| window.history().ok()) {
                let here = path.path.get_untracked();
                let _ = history.push_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&here));
            }
            path.leaving.set(Some(to));
            return;
        }
        path.path.set(to);
        // An entry this console wrote says where the page was; others start at the top.
        let y = serde_wasm_bindgen::from_value::<Entry>(event.state()).map_or(0.0, |e| e.scroll_y);
        scroll_back(y, 60);
    });
    // Closing or reloading the tab with an edit unsaved: the browser asks.
    let unloading = window_event_listener(leptos::ev::beforeunload, move |event| {
        if path.unsaved.get_untracked() {
            event.prevent_default();
            event.set_return_value("");
        }
    });
    on_cleanup(move || {
        popped.remove();
        unloading.remove();
    });
    provide_context(path);
    path
}

impl Path {
    pub fn get(&self) -> String {
        self.path.get()
    }

    /// Marks the page as holding an unsaved edit (or not): leaving it then asks first.
    pub fn set_unsaved(&self, unsaved: bool) {
        self.unsaved.set(unsaved);
    }

    fn follow(&self, to: &'static str) {
        if self.unsaved.get_untracked() && self.path.get_untracked() != to {
            self.leaving.set(Some(to.to_string()));
        } else {
            self.go(to);
        }
    }

    fn go(&self, to: &str) {
        self.leaving.set(None);
        if let Some(window) = web_sys::window()
            && let Ok(history) = window.history()
        {
            // Where this page was scrolled, kept in its entry for Back.
            let here = Entry {
                scroll_y: window.scroll_y().unwrap_or(0.0),
            };
            if let Ok(state) = serde_wasm_bindgen::to_value(&here) {
                let _ = history.replace_state(&state, "");
            }
            // Without history the link still works as a full page load would.
            let _ = history.push_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(to));
            window.scroll_to_with_x_and_y(0.0, 0.0);
        }
        self.path.set(to.to_string());
    }
}

/// The question a link asks when the page holds an unsaved edit.
#[component]
pub fn LeaveGuard() -> impl IntoView {
    let path = expect_context::<Path>();
    move || {
        path.leaving.get().map(|to| {
            view! {
                <div class="banner warning" role="alertdialog" aria-label="Unsaved changes" data-testid="leave-guard">
                    <p>"This page has changes that are not saved. Leave it and lose them?"</p>
                    <div class="row">
                        <button class="danger" on:click=move |_| path.go(&to)>"Leave without saving"</button>
                        <button class="secondary" on:click=move |_| path.leaving.set(None)>"Stay"</button>
                    </div>
                </div>
            }
        })
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
            path.follow(href);
        }
    };
    view! {
        <a href=href aria-current=move || (path.path.get() == href).then_some("page") on:click=follow>
            {children()}
        </a>
    }
}
