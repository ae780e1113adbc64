//! Live updates: every open console hears of every write within a round trip.
//!
//! The console long-polls `GET /api/changes` with the token in the Authorization
//! header (an `EventSource` cannot send it, and a token in a URL ends up in
//! logs). An answer that moves the revision reloads the plan and the history, so
//! every view that holds no unsaved edit follows; the stage editor offers its
//! reload-or-reapply flow instead. Writes by others go to the banner. A poll that
//! fails marks the console as disconnected, which the banner says, and retries
//! with backoff; the first poll that gets through reloads everything it missed.

use std::rc::Rc;
use std::time::Duration;

use leptos::prelude::*;
use leptos::task::spawn_local;
use stagegate_api::AuditEntry;

use crate::api;
use crate::session::{Session, use_session};
use crate::store::PlanStore;

#[derive(Clone, Copy)]
pub struct Live {
    /// Whether the last poll reached the server.
    pub connected: RwSignal<bool>,
    /// Writes by others not yet dismissed, oldest first.
    pub news: RwSignal<Vec<AuditEntry>>,
}

/// Pause before the next poll when one ended with nothing new: a server that
/// answers at once (one shutting down) is not hammered, and a write during the
/// pause is still caught, since the next poll is then behind and answers at once.
const IDLE_PAUSE: Duration = Duration::from_millis(100);
/// Longest pause between attempts while the server cannot be reached.
const MAX_BACKOFF: Duration = Duration::from_secs(8);
/// Writes the banner keeps (more are in History).
const MAX_NEWS: usize = 20;

impl Live {
    /// Starts polling for as long as the signed-in console lives.
    pub fn start(store: PlanStore, me: &str) -> Self {
        let live = Live {
            connected: RwSignal::new(true),
            news: RwSignal::new(Vec::new()),
        };
        let poller = Poller {
            live,
            store,
            session: use_session(),
            me: me.into(),
        };
        poller.poll(None, 0);
        live
    }
}

/// What each poll needs, carried from one to the next.
#[derive(Clone)]
struct Poller {
    live: Live,
    store: PlanStore,
    session: Session,
    me: Rc<str>,
}

impl Poller {
    fn poll(self, after: Option<u64>, failures: u32) {
        spawn_local(async move {
            // After a failure, ask without waiting: the banner must go as soon as
            // the server is back, not when the next write happens.
            let answer = api::changes(after, failures > 0).await;
            let Live { connected, news } = self.live;
            // Signed out meanwhile: the console and its signals are gone.
            if connected.try_get_untracked().is_none() {
                return;
            }
            match answer {
                Ok(changes) => {
                    let behind = self
                        .store
                        .current_untracked()
                        .is_some_and(|loaded| loaded.plan.revision != changes.revision);
                    if failures > 0 || behind {
                        self.store.reload();
                    }
                    connected.set(true);
                    let theirs = changes
                        .entries
                        .into_iter()
                        .filter(|entry| *entry.author != *self.me);
                    news.update(|news| {
                        news.extend(theirs);
                        let extra = news.len().saturating_sub(MAX_NEWS);
                        news.drain(..extra);
                    });
                    let moved = after != Some(changes.revision);
                    let next = move || self.poll(Some(changes.revision), 0);
                    if moved {
                        next();
                    } else {
                        set_timeout(next, IDLE_PAUSE);
                    }
                }
                // The token was revoked: back to the sign-in form, which says so.
                Err(error) if error.status() == Some(401) => self.session.me.refetch(),
                Err(_) => {
                    connected.set(false);
                    let pause = Duration::from_millis(500 << failures.min(4)).min(MAX_BACKOFF);
                    set_timeout(move || self.poll(after, failures + 1), pause);
                }
            }
        });
    }
}

pub fn use_live() -> Live {
    expect_context::<Live>()
}
