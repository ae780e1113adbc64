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
