//! The plan and its revision list, loaded once per sign-in and shared by every page.
//! Other tabs of the console in the same browser hear of every write made here
//! and reload, so none of them keeps showing a plan that is no longer current.

use leptos::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use web_sys::{BroadcastChannel, MessageEvent};

use stagegate_api::AuditEntry;

use crate::api::{self, ApiError, Loaded};
use crate::task::Fetched;

#[derive(Clone, Copy)]
pub struct PlanStore {
    pub plan: Fetched<Result<Loaded, ApiError>>,
    pub revisions: Fetched<Result<Vec<AuditEntry>, ApiError>>,
    tabs: StoredValue<Option<Tabs>, LocalStorage>,
}

impl PlanStore {
    pub fn new() -> Self {
        let store = PlanStore {
            plan: Fetched::new(|| Box::pin(api::load_plan())),
            revisions: Fetched::new(|| Box::pin(api::revisions())),
            tabs: StoredValue::new_local(None),
        };
        store.tabs.set_value(Tabs::open(store));
        store
    }

    /// Reloads after a write, so every page (and every other tab) shows what the
    /// store now holds.
    pub fn refresh(&self) {
        self.reload();
        self.announce(None);
    }

    /// Takes a plan the server just answered with, without another round trip.
    pub fn saved(&self, loaded: Loaded) {
        let revision = loaded.plan.revision;
        self.plan.set(Some(Ok(loaded)));
        self.revisions.refetch();
        self.announce(Some(revision));
    }

    /// The loaded plan, if there is one (tracked).
    pub fn current(&self) -> Option<Loaded> {
        self.plan.get().and_then(Result::ok)
    }

    fn reload(&self) {
        self.plan.refetch();
        self.revisions.refetch();
    }

    fn announce(&self, revision: Option<u64>) {
        self.tabs.with_value(|tabs| {
            if let Some(tabs) = tabs {
                tabs.announce(revision);
            }
        });
    }
}

pub fn use_store() -> PlanStore {
    expect_context::<PlanStore>()
}

/// A `BroadcastChannel` between the console's tabs. A message says the plan was
/// written: the revision it is now at, or null when the writer does not know
/// it. serde-wasm-bindgen writes it as a JavaScript value; the reader takes the
/// number as it is (a serde reader, or an object message, would cost 3.5 KB of
/// the console's download budget).
struct Tabs {
    channel: BroadcastChannel,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
}

impl Tabs {
    const CHANNEL: &'static str = "stagegate.plan";

    /// `None` where the browser has no BroadcastChannel: tabs then reload by hand.
    fn open(store: PlanStore) -> Option<Tabs> {
        let channel = BroadcastChannel::new(Self::CHANNEL).ok()?;
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            // A number or null; anything else reloads too, to be safe.
            let written = event.data().as_f64();
            let current = store
                .plan
                .get_untracked()
                .and_then(Result::ok)
                .map(|loaded| loaded.plan.revision as f64);
            if written.is_none() || written != current {
                store.reload();
            }
        });
        channel.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        Some(Tabs {
            channel,
            _on_message: on_message,
        })
    }

    fn announce(&self, written: Option<u64>) {
        // As the JavaScript number it is on the channel (exact to 2^53).
        let written = written.map(|revision| revision as f64);
        if let Ok(message) = serde_wasm_bindgen::to_value(&written) {
            // A closed channel (signed out meanwhile) has no one to tell.
            let _ = self.channel.post_message(&message);
        }
    }
}

impl Drop for Tabs {
    fn drop(&mut self) {
        self.channel.set_onmessage(None);
        self.channel.close();
    }
}
