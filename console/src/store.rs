//! The plan and its revision list, loaded once per sign-in and shared by every
//! page; reloaded when anyone writes (see `live`).

use leptos::prelude::*;

use stagegate_api::AuditEntry;

use crate::api::{self, ApiError, Loaded};
use crate::task::Fetched;

#[derive(Clone, Copy)]
pub struct PlanStore {
    pub plan: Fetched<Result<Loaded, ApiError>>,
    pub revisions: Fetched<Result<Vec<AuditEntry>, ApiError>>,
}

impl PlanStore {
    pub fn new() -> Self {
        PlanStore {
            plan: Fetched::new(|| Box::pin(api::load_plan())),
            revisions: Fetched::new(|| Box::pin(api::revisions())),
        }
    }

    /// Takes a plan the server just answered with, without another round trip
    /// (unless a newer one arrived meanwhile).
    pub fn saved(&self, loaded: Loaded) {
        let newer = self
            .plan
            .with_untracked(|plan| plan_revision(plan) > Some(loaded.plan.revision));
        if !newer {
            self.plan.set(Some(Ok(loaded)));
        }
        self.revisions.refetch();
    }

    /// The loaded plan, if there is one (tracked).
    pub fn current(&self) -> Option<Loaded> {
        self.plan.get().and_then(Result::ok)
    }

    pub fn current_untracked(&self) -> Option<Loaded> {
        self.plan.get_untracked().and_then(Result::ok)
    }

    /// Loads the plan and the history again (after a write whose answer is not
    /// the plan, or one heard of through `live`).
    pub fn reload(&self) {
        self.plan.refetch();
        self.revisions.refetch();
    }
}

fn plan_revision(plan: &Option<Result<Loaded, ApiError>>) -> Option<u64> {
    match plan {
        Some(Ok(loaded)) => Some(loaded.plan.revision),
        _ => None,
    }
}

pub fn use_store() -> PlanStore {
    expect_context::<PlanStore>()
}
