//! Client-side navigation: the path lives in a signal; links push browser history
//! and the back button pops it. (The server answers every page path with the
//! console, so a reload lands on the same page.) Small on purpose: a router crate
//! costs more bytes than this console needs.

use leptos::ev::MouseEvent;
use leptos::prelude::*;

#[derive(Clone, Copy)]
pub struct Path {
    path: RwSignal<String>,
    /// Whether the page holds an edit not yet saved (the stage editor says so).
    unsaved: RwSignal<bool>,
    /// Where a link (or Back) would go, held back while the person decides about their edit.
    leaving: RwSignal<Option<String>>,
}

/// What the console keeps in each browser-history entry (`history.state`), a
/// plain JavaScript object: where the page was scrolled, so Back and Forward
/// return there. serde-wasm-bindgen writes it; it is read back with `Reflect`,
/// because serde's reading side brings float formatting for its errors (16 KB
/// of wasm against the console's 300,000-byte budget).
#[derive(serde::Serialize)]
struct Entry {
    scroll_y: f64,
}

const SCROLL_Y: &str = "scroll_y";

fn scroll_of(state: &wasm_bindgen::JsValue) -> Option<f64> {
    web_sys::js_sys::Reflect::get(state, &SCROLL_Y.into())
        .ok()?
        .as_f64()
}

fn entry(scroll_y: f64) -> Option<wasm_bindgen::JsValue> {
    serde_wasm_bindgen::to_value(&Entry { scroll_y }).ok()
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

/// Scrolls the element with id `id` into view and focuses it, once the page
/// has drawn it: tried again each frame, `frames` times at most.
fn show_fragment(id: String, frames: u32) {
    request_animation_frame(move || {
        let element = web_sys::window()
            .and_then(|window| window.document())
            .and_then(|document| document.get_element_by_id(&id));
        match element {
            Some(element) => {
                element.scroll_into_view();
                let _ = element.set_attribute("tabindex", "-1");
                if let Ok(element) = wasm_bindgen::JsCast::dyn_into::<web_sys::HtmlElement>(element)
                {
                    let _ = element.focus();
                }
            }
            None if frames > 0 => show_fragment(id, frames - 1),
            None => {}
        }
    });
}

/// A value of the page's query string (`?env=staging`), read when a page opens.
pub fn query(name: &str) -> Option<String> {
    let search = web_sys::window()?.location().search().ok()?;
    web_sys::UrlSearchParams::new_with_str(&search)
        .ok()?
        .get(name)
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
        let y = scroll_of(&event.state()).unwrap_or(0.0);
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
    // Opened at a link with a fragment (a revision in History, say).
    if let Some(hash) = web_sys::window().and_then(|window| window.location().hash().ok())
        && let Some(id) = hash.strip_prefix('#').filter(|id| !id.is_empty())
    {
        show_fragment(id.to_string(), 120);
    }
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

    fn follow(&self, to: &str) {
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
            if let Some(state) = entry(window.scroll_y().unwrap_or(0.0)) {
                let _ = history.replace_state(&state, "");
            }
            // Without history the link still works as a full page load would.
            let _ = history.push_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(to));
            window.scroll_to_with_x_and_y(0.0, 0.0);
        }
        // The page is the path alone; a query is the page's to read, and a
        // fragment names the element to bring into view once it is there.
        let (page, fragment) = to.split_once('#').unwrap_or((to, ""));
        let page = page.split_once('?').map_or(page, |(page, _)| page);
        self.path.set(page.to_string());
        if !fragment.is_empty() {
            // A frame later than the page's heading takes focus (lib.rs), so the
            // element keeps it.
            let id = fragment.to_string();
            request_animation_frame(move || show_fragment(id, 60));
        }
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
/// page without a reload, and says which page is current. `href` may carry a
/// query (`/health?env=staging`) or a fragment (`/history#revision-12`).
#[component]
pub fn Link(#[prop(into)] href: String, children: Children) -> impl IntoView {
    let path = expect_context::<Path>();
    let to = href.clone();
    let follow = move |event: MouseEvent| {
        let modified = event.ctrl_key() || event.meta_key() || event.shift_key() || event.alt_key();
        if !modified && event.button() == 0 {
            event.prevent_default();
            path.follow(&to);
        }
    };
    let here = href.clone();
    view! {
        <a href=href aria-current=move || (path.path.get() == here).then_some("page") on:click=follow>
            {children()}
        </a>
    }
}
