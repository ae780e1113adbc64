pub mod change_table;
pub mod confirm;
pub mod error;
pub mod live_banner;
pub mod loading;
pub mod percent_bar;

pub use change_table::ChangeTable;
pub use confirm::ConfirmPanel;
pub use error::ErrorNote;
pub use live_banner::LiveBanner;
pub use loading::PlanView;
pub use percent_bar::PercentBar;

use leptos::prelude::{AnyView, IntoAny, IntoView};

/// Collects views as `AnyView`s: every list in the console then shares one
/// rendering routine instead of one per item type, which keeps the wasm small.
pub trait CollectAny {
    fn collect_any(self) -> Vec<AnyView>;
}

impl<I, V> CollectAny for I
where
    I: Iterator<Item = V>,
    V: IntoView + 'static,
{
    fn collect_any(self) -> Vec<AnyView> {
        self.map(|view| view.into_view().into_any()).collect()
    }
}

/// An RFC 3339 time as "2026-11-24 10:00" (UTC, as the server writes it).
pub fn short_time(rfc3339: &str) -> String {
    rfc3339.get(..16).unwrap_or(rfc3339).replace('T', " ")
}

/// Focuses the first element `selector` finds; whether there was one.
pub fn focus(selector: &str) -> bool {
    use wasm_bindgen::JsCast;
    let element = web_sys::window()
        .and_then(|window| window.document())
        .and_then(|document| document.query_selector(selector).ok().flatten())
        .and_then(|element| element.dyn_into::<web_sys::HtmlElement>().ok());
    // Focus is a courtesy; a refusal changes nothing else.
    element.is_some_and(|element| element.focus().is_ok())
}

/// Focuses a heading, made focusable for that (not a tab stop): where focus
/// goes when a page opens, or when the control that acted is gone or disabled.
pub fn focus_heading(selector: &str) -> bool {
    use wasm_bindgen::JsCast;
    let heading = web_sys::window()
        .and_then(|window| window.document())
        .and_then(|document| document.query_selector(selector).ok().flatten());
    let Some(heading) = heading.and_then(|h| h.dyn_into::<web_sys::HtmlElement>().ok()) else {
        return false;
    };
    let _ = heading.set_attribute("tabindex", "-1");
    // Without scrolling: Back puts the page where it was, and a heading is at the top anyway.
    let options = web_sys::FocusOptions::new();
    options.set_prevent_scroll(true);
    heading.focus_with_options(&options).is_ok()
}
