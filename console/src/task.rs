//! Small stand-ins for Leptos's `Action` and `LocalResource`, built on plain
//! signals: every request of the console goes through one spawn routine and one
//! effect instead of a copy of the async machinery per request type, which keeps
//! the wasm small. They behave alike: a write says whether it is in flight and how
//! the last one ended; a read keeps its last answer while it loads a new one.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api::ApiError;

/// A request on its way, type-erased.
pub type Job<T> = Pin<Box<dyn Future<Output = T>>>;

/// A write a page sends (the `Action` of this console): whether any is in flight,
/// and the error the last one ended with, if it did.
#[derive(Clone, Copy)]
pub struct Task {
    in_flight: RwSignal<u32>,
    error: RwSignal<Option<ApiError>>,
}

impl Task {
    pub fn new() -> Self {
        Task {
            in_flight: RwSignal::new(0),
            error: RwSignal::new(None),
        }
    }

    /// Whether a write is in flight (tracked).
    pub fn pending(&self) -> bool {
        self.in_flight.get() > 0
    }

    pub fn pending_untracked(&self) -> bool {
        self.in_flight.get_untracked() > 0
    }

    /// The error of the last write that ended, if it failed.
    pub fn error(&self) -> Signal<Option<ApiError>> {
        self.error.into()
    }

    /// Forgets the last error: what caused it has changed.
    pub fn clear(&self) {
        if self.error.with_untracked(Option::is_some) {
            self.error.set(None);
        }
    }

    /// Sends `job`; its result becomes the task's state when it ends.
    pub fn run(self, job: Job<Result<(), ApiError>>) {
        let Task { in_flight, error } = self;
        in_flight.update(|n| *n += 1);
        spawn_local(async move {
            let result = job.await;
            in_flight.update(|n| *n = n.saturating_sub(1));
            error.set(result.err());
        });
    }
}

/// A read (the `LocalResource` of this console): `None` until the first answer,
/// then the latest one; reloads when a signal read by `load` changes or on
/// [`Fetched::refetch`].
pub struct Fetched<T: Send + Sync + 'static> {
    value: RwSignal<Option<T>>,
    again: RwSignal<u32>,
}

impl<T: Send + Sync + 'static> Clone for Fetched<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: Send + Sync + 'static> Copy for Fetched<T> {}

impl<T: Clone + Send + Sync + 'static> Fetched<T> {
    /// `load` runs tracked (its signal reads make it reload); the job it returns does not.
    pub fn new(load: impl Fn() -> Job<T> + 'static) -> Self {
        let value = RwSignal::new(None);
        let again = RwSignal::new(0);
        let latest = Rc::new(Cell::new(0u32));
        watch(Box::new(move || {
            again.track();
            let job = load();
            let mine = latest.get().wrapping_add(1);
            latest.set(mine);
            let latest = latest.clone();
            Box::pin(async move {
                let answer = job.await;
                // An answer overtaken by a newer request is dropped.
                if latest.get() == mine {
                    value.set(Some(answer));
                }
            })
        }));
        Fetched { value, again }
    }

    pub fn get(&self) -> Option<T> {
        self.value.get()
    }

    pub fn get_untracked(&self) -> Option<T> {
        self.value.get_untracked()
    }

    /// Reads the latest answer in place (tracked): no copy of a long list.
    pub fn with<R>(&self, read: impl FnOnce(&Option<T>) -> R) -> R {
        self.value.with(read)
    }

    pub fn with_untracked<R>(&self, read: impl FnOnce(&Option<T>) -> R) -> R {
        self.value.with_untracked(read)
    }

    pub fn set(&self, answer: Option<T>) {
        self.value.set(answer);
    }

    pub fn refetch(&self) {
        self.again.update(|n| *n = n.wrapping_add(1));
    }

    /// Reloads every `period` for as long as the calling view lives (counts
    /// that arrive without a write to the plan, which `live` does not hear of).
    pub fn refresh_every(self, period: std::time::Duration) {
        if let Ok(handle) = set_interval_with_handle(move || self.refetch(), period) {
            on_cleanup(move || handle.clear());
        }
    }
}

/// Runs `run` now and whenever what it reads changes, spawning the job it returns.
fn watch(run: Box<dyn Fn() -> Job<()>>) {
    Effect::new(move |_| spawn_local(run()));
}

/// A read whose answers are kept as JSON and read where they are shown (see `read`).
impl Fetched<Result<serde_json::Value, ApiError>> {
    /// The latest answer read with `read` (tracked): `None` before it arrives,
    /// and for null (nothing was asked).
    pub fn read<T>(
        &self,
        read: impl FnOnce(&serde_json::Value) -> Result<T, ApiError>,
    ) -> Option<Result<T, ApiError>> {
        self.with(|answer| match answer.as_ref()? {
            Ok(serde_json::Value::Null) => None,
            Ok(value) => Some(read(value)),
            Err(error) => Some(Err(error.clone())),
        })
    }
}
