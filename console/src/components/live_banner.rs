//! What the live updates tell the person at the console: who else changed what,
//! and when what it shows may be out of date.

use leptos::prelude::*;

use crate::live::use_live;

#[component]
pub fn LiveBanner() -> impl IntoView {
    let live = use_live();
    let latest = move || {
        live.news.with(|news| {
            let entry = news.last()?;
            let mut text = format!(
                "{} changed the plan (revision {}): {}",
                entry.author,
                entry.revision,
                entry.summary.join("; ")
            );
            if !entry.comment.is_empty() {
                text.push_str(&format!(" — “{}”", entry.comment));
            }
            if news.len() > 1 {
                text.push_str(&format!(
                    " (and {} earlier change{}: see History)",
                    news.len() - 1,
                    if news.len() == 2 { "" } else { "s" }
                ));
            }
            Some(text)
        })
    };
    view! {
        <Show when=move || !live.connected.get()>
            <p class="banner stale" role="alert" data-testid="connection-lost">
                "Lost the connection to the server: what you see may be out of date. Retrying…"
            </p>
        </Show>
        {move || latest().map(|text| view! {
            <div class="banner news" role="status" data-testid="news">
                <p>{text}</p>
                <button class="secondary" on:click=move |_| live.news.set(Vec::new())>"Dismiss"</button>
            </div>
        })}
    }
}
