//! The plan and its revision list, loaded once per sign-in and shared by every page.

use leptos::prelude::*;

use crate::api::{self, ApiError, Loaded, RevisionInfo};
use crate::task::Fetched;

#[derive(Clone, Copy)]
pub struct PlanStore {
    pub plan: Fetched<Result<Loaded, ApiError>>,
    pub revisions: Fetched<Result<Vec<RevisionInfo>, ApiError>>,
}

impl PlanStore {
    pub fn new() -> Self {
        PlanStore {
            plan: Fetched::new(|| Box::pin(api::load_plan())),
            revisions: Fetched::new(|| Box::pin(api::revisions())),
        }
    }

    /// Reloads after a write, so every page shows what the store now holds.
    pub fn refresh(&self) {
        self.plan.refetch();
        self.revisions.refetch();
    }

    /// Takes a plan the server just answered with, without another round trip.
    pub fn saved(&self, loaded: Loaded) {
        self.plan.set(Some(Ok(loaded)));
        self.revisions.refetch();
    }

    /// The loaded plan, if there is one (tracked).
    pub fn current(&self) -> Option<Loaded> {
        self.plan.get().and_then(Result::ok)
    }
}

pub fn use_store() -> PlanStore {
    expect_context::<PlanStore>()
}
