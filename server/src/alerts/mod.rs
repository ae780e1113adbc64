//! Alerts by webhook: the hooks an admin configured (the storage's
//! `webhooks.json`, a file of mode 0600 in a data directory: it holds the
//! signing secrets), the record of recent deliveries (`deliveries.json`, the
//! last [`DELIVERIES_KEPT`] per hook), and [`Alerts::send`], which queues an
//! alert to every hook that lists its event and returns at once: each delivery
//! is a background task that signs the body, POSTs it, retries with backoff and
//! records every attempt (see `deliver.rs`).
//!
//! Adding and removing hooks goes through `Storage::update_document`, so
//! servers sharing a database never lose each other's changes; each keeps the
//! hooks in memory (alerts go out while the database is away) and `reload`s
//! them when they change. The delivery record is shared the same way: a flush
//! merges this server's own deliveries into the stored record under the
//! storage's lock (`merge`), and a reload takes in the other servers'.

mod deliver;

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use stagegate_api::{DeliveryStatus, WebhookDelivery, WebhookInfo, WebhookRequest};

pub use self::deliver::signature;
pub use stagegate_api::AlertEvent;

use crate::guard::{Clock as _, SystemClock};
use crate::storage::documents::{DELIVERIES, WEBHOOKS};
use crate::storage::{Storage, StorageError, Version};
use crate::util::{now_rfc3339, parse_rfc3339, random_hex};

/// More hooks than this is a misconfiguration (every alert goes to each).
pub const MAX_HOOKS: usize = 20;
/// Deliveries kept per hook, newest; older ones are forgotten.
pub const DELIVERIES_KEPT: usize = 50;
const MAX_URL: usize = 2048;
const MAX_DESCRIPTION: usize = 200;
/// HTTP attempts in flight at once, across all hooks: a burst of alerts to a
/// slow receiver waits here instead of opening hundreds of connections.
const MAX_IN_FLIGHT: usize = 16;

/// How a delivery is tried: `attempts` times at most, the n-th retry after
/// `first_delay * 2^(n-1)`, each attempt given `timeout` from connecting to
/// reading the answer. The default (5 attempts, 1 s, 5 s) gives a receiver
/// about 15 s of backoff plus the attempts' own time to come back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub first_delay: Duration,
    pub timeout: Duration,
}

impl RetryPolicy {
    /// The longest a delivery can take: every attempt's timeout and every
    /// wait between them (not the wait for a free slot, rarely long).
    pub fn longest(&self) -> Duration {
        let attempts = self.attempts.max(1);
        let waits = (0..attempts - 1)
            .map(|n| self.first_delay.saturating_mul(1 << n.min(16)))
            .fold(Duration::ZERO, Duration::saturating_add);
        self.timeout.saturating_mul(attempts).saturating_add(waits)
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            first_delay: Duration::from_secs(1),
            timeout: Duration::from_secs(5),
        }
    }
}

/// A configured hook, as stored (with its secret, which the API never shows
/// again after creation).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Hook {
    pub id: String,
    pub url: String,
    pub events: Vec<AlertEvent>,
    #[serde(default)]
    pub description: String,
    /// The HMAC-SHA256 key, as given or generated: it is needed to sign, so it
    /// cannot be stored hashed.
    pub secret: String,
    pub created: String,
    pub created_by: String,
}

#[derive(Default, Serialize, Deserialize)]
struct HooksFile {
    hooks: Vec<Hook>,
}

/// By hook id, oldest first.
type DeliveryLog = BTreeMap<String, VecDeque<WebhookDelivery>>;

#[derive(Default, Serialize, Deserialize)]
struct DeliveriesFile {
    deliveries: DeliveryLog,
}

#[derive(Debug)]
pub enum WebhookError {
    /// A bad field of the request: its name, and why.
    BadField(&'static str, String),
    TooMany,
    Missing(String),
    /// The database cannot be reached now; nothing was written.
    Unavailable(String),
    Io(anyhow::Error),
}

impl std::fmt::Display for WebhookError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WebhookError::BadField(_, message) => f.write_str(message),
            WebhookError::TooMany => write!(
                f,
                "there are already {MAX_HOOKS} webhooks, the most allowed: remove one first"
            ),
            WebhookError::Missing(id) => write!(f, "webhook '{id}' does not exist"),
            WebhookError::Unavailable(message) => {
                write!(f, "the store is unavailable: {message}")
            }
            WebhookError::Io(error) => write!(f, "{error:#}"),
        }
    }
}

impl std::error::Error for WebhookError {}

impl From<StorageError> for WebhookError {
    fn from(error: StorageError) -> Self {
        match error {
            StorageError::Unavailable(message) => WebhookError::Unavailable(message),
            StorageError::Io(message) => WebhookError::Io(anyhow::anyhow!(message)),
        }
    }
}

/// The alert handle: cheap to clone, kept in the app state, usable from any
/// handler or background task.
#[derive(Clone)]
pub struct Alerts {
    inner: Arc<Inner>,
}

pub struct WeakAlerts(std::sync::Weak<Inner>);

impl WeakAlerts {
    pub fn upgrade(&self) -> Option<Alerts> {
        self.0.upgrade().map(|inner| Alerts { inner })
    }
}

struct Inner {
    storage: Storage,
    policy: RetryPolicy,
    hooks: Mutex<Arc<Vec<Hook>>>,
    /// The hooks' version as read; `None` after this server's own change, so
    /// that the next reload reads them once more.
    hooks_version: Mutex<Option<Version>>,
    /// One change or reload of the hooks at a time in this process, so that
    /// the hooks in memory end as the newest write left them.
    changing: tokio::sync::Mutex<()>,
    deliveries: Mutex<DeliveryLog>,
    /// The deliveries this process made (or took over as interrupted): its
    /// record of these wins over the stored one when they are merged.
    mine: Mutex<HashSet<String>>,
    /// The delivery record's version as last read or written.
    deliveries_version: Mutex<Option<Version>>,
    /// A change to the deliveries awaits a flush (one is scheduled).
    dirty: AtomicBool,
    /// One flush writes at a time, so the newest snapshot lands last.
    flush_lock: tokio::sync::Mutex<()>,
    client: OnceLock<Result<deliver::Client, String>>,
    in_flight: tokio::sync::Semaphore,
}

impl Alerts {
    /// The hooks and delivery record in `storage`, with the default retry policy.
    pub async fn open(storage: Storage) -> anyhow::Result<Alerts> {
        Alerts::open_with(storage, RetryPolicy::default()).await
    }

    pub async fn open_with(storage: Storage, policy: RetryPolicy) -> anyhow::Result<Alerts> {
        let (hooks, hooks_version) = read_hooks(&storage).await?;
        let (mut deliveries, deliveries_version) =
            read_deliveries(&storage).await.unwrap_or_else(|error| {
                tracing::warn!("{DELIVERIES}: {error}; starting an empty delivery record");
                (DeliveryLog::new(), None)
            });
        // Deliveries in flight when a server stopped are not resumed: record
        // that they ended, so nobody waits on them. A data directory has one
        // server, so whatever is pending was its own; on a shared database
        // another server may still be trying, so only a delivery older than
        // any retry takes is over.
        let alone = matches!(storage, Storage::Dir(_));
        let over = SystemClock
            .now()
            .saturating_sub(policy.longest().as_secs() + 60);
        let mut mine = HashSet::new();
        for delivery in deliveries.values_mut().flatten() {
            let old = parse_rfc3339(&delivery.created).is_none_or(|created| created < over);
            if delivery.status == DeliveryStatus::Pending && (alone || old) {
                delivery.status = DeliveryStatus::Failed;
                delivery.last_error =
                    Some("the server stopped before this delivery finished".into());
                delivery.finished = Some(now_rfc3339());
                mine.insert(delivery.id.clone());
            }
        }
        let interrupted = !mine.is_empty();
        deliveries.retain(|id, _| hooks.iter().any(|hook| &hook.id == id));
        let alerts = Alerts {
            inner: Arc::new(Inner {
                storage,
                policy,
                hooks: Mutex::new(Arc::new(hooks)),
                hooks_version: Mutex::new(hooks_version),
                changing: tokio::sync::Mutex::new(()),
                deliveries: Mutex::new(deliveries),
                mine: Mutex::new(mine),
                deliveries_version: Mutex::new(deliveries_version),
                dirty: AtomicBool::new(false),
                flush_lock: tokio::sync::Mutex::new(()),
                client: OnceLock::new(),
                in_flight: tokio::sync::Semaphore::new(MAX_IN_FLIGHT),
            }),
        };
        if interrupted {
            alerts.schedule_flush();
        }
        Ok(alerts)
    }

    /// Re-reads the hooks and the delivery record if another server changed
    /// them; returns whether it did. On failure what is in memory stays.
    pub async fn reload(&self) -> anyhow::Result<bool> {
        let deliveries = self.reload_deliveries().await?;
        let _one_at_a_time = self.inner.changing.lock().await;
        let version = self.inner.storage.document_version(WEBHOOKS).await?;
        if version.is_some() && *lock(&self.inner.hooks_version) == version {
            return Ok(deliveries);
        }
        let (hooks, version) = read_hooks(&self.inner.storage).await?;
        lock(&self.inner.deliveries).retain(|id, _| hooks.iter().any(|hook| &hook.id == id));
        self.install(hooks, version);
        Ok(true)
    }

    async fn reload_deliveries(&self) -> anyhow::Result<bool> {
        let _one_at_a_time = self.inner.flush_lock.lock().await;
        let version = self.inner.storage.document_version(DELIVERIES).await?;
        if *lock(&self.inner.deliveries_version) == version {
            return Ok(false);
        }
        let (stored, version) = read_deliveries(&self.inner.storage).await?;
        self.take_in(stored, version);
        Ok(true)
    }

    /// The stored record, with this server's own deliveries as it knows them.
    fn take_in(&self, stored: DeliveryLog, version: Option<Version>) {
        let hooks = self.hooks();
        let mine = lock(&self.inner.mine);
        let mut deliveries = lock(&self.inner.deliveries);
        *deliveries = merge(stored, &deliveries, &mine, &hooks);
        *lock(&self.inner.deliveries_version) = version;
    }

    fn install(&self, hooks: Vec<Hook>, version: Option<Version>) {
        *lock(&self.inner.hooks) = Arc::new(hooks);
        *lock(&self.inner.hooks_version) = version;
    }

    /// A handle that does not keep the alerts alive (for tasks that follow
    /// the storage for as long as the server lasts).
    pub fn downgrade(&self) -> WeakAlerts {
        WeakAlerts(Arc::downgrade(&self.inner))
    }

    pub fn policy(&self) -> RetryPolicy {
        self.inner.policy
    }

    /// Queues `event` to every hook that lists it and returns at once: it never
    /// waits on the network or the disk. `text` is one sentence a person reads
    /// as it is (a Slack incoming webhook shows it); `details` carries the
    /// figures for machines. Returns the deliveries' ids.
    pub fn send(&self, event: AlertEvent, text: impl Into<String>, details: Value) -> Vec<String> {
        let hooks: Vec<Hook> = self
            .hooks()
            .iter()
            .filter(|hook| hook.events.contains(&event))
            .cloned()
            .collect();
        self.dispatch(hooks, event, text.into(), details)
    }

    /// Sends a `test` alert to hook `id` alone; returns the delivery's id.
    pub fn send_test(&self, id: &str, by: &str) -> Result<String, WebhookError> {
        let hook = self
            .hooks()
            .iter()
            .find(|hook| hook.id == id)
            .cloned()
            .ok_or_else(|| WebhookError::Missing(id.into()))?;
        let text = format!("Test alert from stagegate to webhook {id}, sent by {by}.");
        let details = json!({ "webhook": id, "by": by });
        self.dispatch(vec![hook], AlertEvent::Test, text, details)
            .pop()
            .ok_or_else(|| WebhookError::Io(anyhow::anyhow!("the test delivery was not queued")))
    }

    fn dispatch(
        &self,
        hooks: Vec<Hook>,
        event: AlertEvent,
        text: String,
        details: Value,
    ) -> Vec<String> {
        let at = now_rfc3339();
        let runtime = tokio::runtime::Handle::try_current();
        let mut ids = Vec::with_capacity(hooks.len());
        for hook in hooks {
            let id = format!("dlv_{}", random_id(8));
            // The body is fixed once: every attempt sends (and signs) the same bytes.
            let payload = json!({
                "event": event,
                "text": text,
                "at": at,
                "details": details,
                "delivery": id,
            });
            let body = bytes::Bytes::from(serde_json::to_vec(&payload).unwrap_or_default());
            self.record_new(
                &hook.id,
                WebhookDelivery {
                    id: id.clone(),
                    event,
                    text: text.clone(),
                    status: DeliveryStatus::Pending,
                    attempts: 0,
                    response_status: None,
                    last_error: None,
                    created: at.clone(),
                    last_attempt: None,
                    finished: None,
                    history: Vec::new(),
                },
            );
            match &runtime {
                Ok(runtime) => {
                    let task = deliver::run(self.clone(), hook, id.clone(), event, body);
                    runtime.spawn(task);
                }
                Err(_) => self.update(&hook.id, &id, |delivery| {
                    delivery.status = DeliveryStatus::Failed;
                    delivery.last_error = Some("no async runtime to deliver from".into());
                    delivery.finished = Some(now_rfc3339());
                }),
            }
            ids.push(id);
        }
        ids
    }

    /// Every hook as stored (with secrets: for the server's own use).
    pub fn hooks(&self) -> Arc<Vec<Hook>> {
        lock(&self.inner.hooks).clone()
    }

    fn has_hook(&self, id: &str) -> bool {
        lock(&self.inner.hooks).iter().any(|hook| hook.id == id)
    }

    /// Every hook as the API shows it: no secrets; deliveries newest first.
    pub fn list(&self) -> Vec<WebhookInfo> {
        let hooks = self.hooks();
        let deliveries = lock(&self.inner.deliveries);
        hooks
            .iter()
            .map(|hook| WebhookInfo {
                id: hook.id.clone(),
                url: hook.url.clone(),
                events: hook.events.clone(),
                description: hook.description.clone(),
                created: hook.created.clone(),
                created_by: hook.created_by.clone(),
                deliveries: deliveries
                    .get(&hook.id)
                    .map(|log| log.iter().rev().cloned().collect())
                    .unwrap_or_default(),
            })
            .collect()
    }

    /// Adds a hook, checking every field first; nothing is written if one is bad.
    pub async fn add(&self, request: WebhookRequest, by: &str) -> Result<Hook, WebhookError> {
        let url = check_url(request.url.trim())?;
        let events = check_events(&request.events)?;
        let description = request.description.trim().to_string();
        if description.chars().count() > MAX_DESCRIPTION {
            return Err(WebhookError::BadField(
                "description",
                format!("a description has at most {MAX_DESCRIPTION} characters"),
            ));
        }
        let secret = match request.secret {
            Some(secret) => check_secret(secret)?,
            None => format!(
                "whsec_{}",
                random_hex(24).map_err(|e| WebhookError::Io(e.into()))?
            ),
        };
        let hook = Hook {
            id: format!("wh_{}", random_id(6)),
            url,
            events,
            description,
            secret,
            created: now_rfc3339(),
            created_by: by.into(),
        };
        let added = hook.clone();
        self.change(move |hooks| {
            if hooks.len() >= MAX_HOOKS {
                return Err(WebhookError::TooMany);
            }
            hooks.push(added);
            Ok(())
        })
        .await?;
        Ok(hook)
    }

    /// Removes a hook and its delivery record; its pending deliveries stop
    /// before their next attempt.
    pub async fn remove(&self, id: &str) -> Result<Hook, WebhookError> {
        let id = id.to_string();
        let removed = self
            .change(move |hooks| {
                let index = hooks
                    .iter()
                    .position(|hook| hook.id == id)
                    .ok_or(WebhookError::Missing(id))?;
                Ok(hooks.remove(index))
            })
            .await?;
        lock(&self.inner.deliveries).remove(&removed.id);
        self.schedule_flush();
        Ok(removed)
    }

    /// Edits the stored hooks as they are now (under the storage's lock, so
    /// another server's change is never lost), then takes the result as the
    /// hooks in memory.
    async fn change<T: Send + 'static>(
        &self,
        edit: impl FnOnce(&mut Vec<Hook>) -> Result<T, WebhookError> + Send + 'static,
    ) -> Result<T, WebhookError> {
        let _one_at_a_time = self.inner.changing.lock().await;
        let (answer, hooks) = self
            .inner
            .storage
            .update_document(WEBHOOKS, move |old| {
                let mut hooks = parse_hooks(old).map_err(WebhookError::Io)?;
                let answer = edit(&mut hooks)?;
                let text = serde_json::to_string_pretty(&HooksFile {
                    hooks: hooks.clone(),
                })
                .map_err(|e| WebhookError::Io(e.into()))?;
                Ok::<_, WebhookError>((text, (answer, hooks)))
            })
            .await??;
        self.install(hooks, None);
        Ok(answer)
    }

    fn record_new(&self, hook: &str, delivery: WebhookDelivery) {
        lock(&self.inner.mine).insert(delivery.id.clone());
        {
            let mut deliveries = lock(&self.inner.deliveries);
            let log = deliveries.entry(hook.to_string()).or_default();
            log.push_back(delivery);
            while log.len() > DELIVERIES_KEPT {
                log.pop_front();
            }
        }
        self.schedule_flush();
    }

    /// Changes one delivery's record (if it is still kept) and schedules a flush.
    fn update(&self, hook: &str, delivery: &str, change: impl FnOnce(&mut WebhookDelivery)) {
        {
            let mut deliveries = lock(&self.inner.deliveries);
            let found = deliveries
                .get_mut(hook)
                .and_then(|log| log.iter_mut().find(|d| d.id == delivery));
            match found {
                Some(record) => change(record),
                None => return,
            }
        }
        self.schedule_flush();
    }

    /// Writes the delivery record soon, off the caller's path. Changes made
    /// while a flush is pending ride along with it.
    fn schedule_flush(&self) {
        if self.inner.dirty.swap(true, Ordering::SeqCst) {
            return;
        }
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                let alerts = self.clone();
                runtime.spawn(async move { alerts.flush().await });
            }
            // Nothing to write with (a caller outside any runtime): the record
            // stays in memory, and the next flush writes it whole.
            Err(_) => self.inner.dirty.store(false, Ordering::SeqCst),
        }
    }

    /// Writes this server's deliveries into the stored record now, keeping
    /// the other servers' (see `merge`), and takes the result in.
    pub async fn flush(&self) {
        let _one_at_a_time = self.inner.flush_lock.lock().await;
        self.inner.dirty.store(false, Ordering::SeqCst);
        let own = lock(&self.inner.deliveries).clone();
        let mine = lock(&self.inner.mine).clone();
        let hooks = self.hooks();
        let written = self
            .inner
            .storage
            .update_document(DELIVERIES, move |stored| {
                // A damaged record is replaced (it is diagnostics).
                let stored = stored
                    .and_then(|text| serde_json::from_str::<DeliveriesFile>(text).ok())
                    .unwrap_or_default();
                let deliveries = merge(stored.deliveries, &own, &mine, &hooks);
                let file = DeliveriesFile { deliveries };
                match serde_json::to_string(&file) {
                    Ok(text) => Ok((text, file.deliveries)),
                    Err(error) => Err(StorageError::Io(error.to_string())),
                }
            })
            .await;
        match written.and_then(|merged| merged) {
            Ok(merged) => {
                // The version is read again on the next reload: one more read.
                self.take_in(merged, None);
                lock(&self.inner.mine).retain(|id| {
                    lock(&self.inner.deliveries)
                        .values()
                        .flatten()
                        .any(|delivery| &delivery.id == id)
                });
            }
            Err(error) => tracing::warn!("webhook deliveries not saved: {error}"),
        }
    }
}

/// A poisoned lock still holds consistent data here (every change is one
/// assignment or one push), so it is used rather than turned into a panic.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poison| poison.into_inner())
}

fn random_id(bytes: usize) -> String {
    static FALLBACK: AtomicU64 = AtomicU64::new(1);
    random_hex(bytes).unwrap_or_else(|_| format!("n{}", FALLBACK.fetch_add(1, Ordering::Relaxed)))
}

async fn read_hooks(storage: &Storage) -> anyhow::Result<(Vec<Hook>, Option<Version>)> {
    Ok(match storage.document(WEBHOOKS).await? {
        Some((text, version)) => (parse_hooks(Some(&text))?, Some(version)),
        None => (Vec::new(), None),
    })
}

fn parse_hooks(text: Option<&str>) -> anyhow::Result<Vec<Hook>> {
    match text {
        Some(text) => serde_json::from_str::<HooksFile>(text)
            .map(|file| file.hooks)
            .map_err(|error| anyhow::anyhow!("parsing {WEBHOOKS}: {error}")),
        None => Ok(Vec::new()),
    }
}

/// Every server's deliveries: the `stored` record, with this server's own
/// (`mine`, as `local` holds them) put in or over it, oldest first and the
/// newest `DELIVERIES_KEPT` per hook kept, for the hooks there are. A
/// delivery is only ever changed by the server making it, so its record wins.
fn merge(
    mut stored: DeliveryLog,
    local: &DeliveryLog,
    mine: &HashSet<String>,
    hooks: &[Hook],
) -> DeliveryLog {
    stored.retain(|id, _| hooks.iter().any(|hook| &hook.id == id));
    for (hook, log) in local {
        if !hooks.iter().any(|known| &known.id == hook) {
            continue;
        }
        let merged = stored.entry(hook.clone()).or_default();
        for delivery in log.iter().filter(|delivery| mine.contains(&delivery.id)) {
            match merged.iter_mut().find(|old| old.id == delivery.id) {
                Some(old) => *old = delivery.clone(),
                None => merged.push_back(delivery.clone()),
            }
        }
        // RFC 3339 in UTC sorts as text; the sort is stable for equal times.
        merged
            .make_contiguous()
            .sort_by(|a, b| a.created.cmp(&b.created));
        while merged.len() > DELIVERIES_KEPT {
            merged.pop_front();
        }
    }
    stored
}

/// The record is diagnostics: a damaged one is never a reason not to start
/// (in a data directory it is set aside; the next flush replaces it in
/// either backend).
async fn read_deliveries(
    storage: &Storage,
) -> Result<(DeliveryLog, Option<Version>), StorageError> {
    let Some((text, version)) = storage.document(DELIVERIES).await? else {
        return Ok((DeliveryLog::new(), None));
    };
    let deliveries = match serde_json::from_str::<DeliveriesFile>(&text) {
        Ok(file) => file.deliveries,
        Err(error) => {
            if let Storage::Dir(dir) = storage {
                let aside = dir.path().join(format!("{DELIVERIES}.damaged"));
                let _ = std::fs::rename(dir.path().join(DELIVERIES), &aside);
            }
            tracing::warn!("{DELIVERIES}: {error}; starting an empty delivery record");
            DeliveryLog::new()
        }
    };
    Ok((deliveries, Some(version)))
}

/// An `http` or `https` URL with a host, no credentials and no fragment.
fn check_url(url: &str) -> Result<String, WebhookError> {
    let bad = |why: &str| WebhookError::BadField("url", format!("url '{url}' {why}"));
    if url.len() > MAX_URL {
        return Err(WebhookError::BadField(
            "url",
            format!("url has more than {MAX_URL} characters"),
        ));
    }
    if url.contains('#') {
        return Err(bad("has a fragment (#…), which is never sent"));
    }
    let uri: hyper::Uri = url
        .parse()
        .map_err(|_| bad("is not a URL (expected http://host/path or https://host/path)"))?;
    let scheme = uri.scheme_str().unwrap_or("");
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err(bad("must start with http:// or https://"));
    }
    let authority = uri.authority().ok_or_else(|| bad("has no host"))?;
    if authority.as_str().contains('@') {
        return Err(bad(
            "must not hold a user name or password (put a token in the path or query)",
        ));
    }
    if authority.host().is_empty() {
        return Err(bad("has no host"));
    }
    Ok(url.to_string())
}

/// At least one known event, each named once (repeats are dropped).
fn check_events(names: &[String]) -> Result<Vec<AlertEvent>, WebhookError> {
    let known = || {
        AlertEvent::SUBSCRIBABLE
            .iter()
            .map(|event| event.name())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if names.is_empty() {
        return Err(WebhookError::BadField(
            "events",
            format!("events must list at least one of {}", known()),
        ));
    }
    let mut events = Vec::new();
    for name in names {
        let event = AlertEvent::from_name(name)
            .filter(|event| AlertEvent::SUBSCRIBABLE.contains(event))
            .ok_or_else(|| {
                let why = if name == AlertEvent::Test.name() {
                    "is sent only on request (POST /api/webhooks/{id}/test)".to_string()
                } else {
                    "is not an event".to_string()
                };
                WebhookError::BadField("events", format!("'{name}' {why}: use {}", known()))
            })?;
        if !events.contains(&event) {
            events.push(event);
        }
    }
    Ok(events)
}

/// 16 to 256 printable ASCII characters (no spaces): enough entropy to sign
/// with, and safe to paste into a receiver's configuration.
fn check_secret(secret: String) -> Result<String, WebhookError> {
    let ok = (16..=256).contains(&secret.len()) && secret.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(secret)
    } else {
        Err(WebhookError::BadField(
            "secret",
            "secret must be 16 to 256 printable ASCII characters without spaces".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(url: &str, events: &[&str]) -> WebhookRequest {
        WebhookRequest {
            url: url.into(),
            events: events.iter().map(|e| e.to_string()).collect(),
            description: String::new(),
            secret: None,
        }
    }

    fn field(error: WebhookError) -> &'static str {
        match error {
            WebhookError::BadField(field, _) => field,
            other => panic!("not a bad field: {other}"),
        }
    }

    #[test]
    fn urls_must_be_http_or_https_with_a_host() {
        for good in [
            "https://hooks.slack.com/services/T0/B0/XYZ",
            "http://127.0.0.1:9000/hook?x=1",
            "HTTPS://example.com",
        ] {
            assert!(check_url(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "hooks.slack.com/services",
            "ftp://example.com/",
            "file:///etc/passwd",
            "https://",
            "https://user:pass@example.com/",
            "https://example.com/#frag",
            "http://exa mple.com/",
            "/relative",
        ] {
            assert_eq!(field(check_url(bad).unwrap_err()), "url", "{bad}");
        }
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL));
        assert_eq!(field(check_url(&long).unwrap_err()), "url");
    }

    #[test]
    fn events_are_known_subscribable_and_deduplicated() {
        let names = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        assert_eq!(
            check_events(&names(&["rollback", "advance", "rollback"])).unwrap(),
            [AlertEvent::Rollback, AlertEvent::Advance]
        );
        for bad in [&[][..], &["test"], &["rollback", "crash"], &["Rollback"]] {
            assert_eq!(field(check_events(&names(bad)).unwrap_err()), "events");
        }
    }

    async fn storage(dir: &std::path::Path) -> Storage {
        let location = crate::storage::Location::Dir(dir.to_path_buf());
        Storage::open_documents(&location).await.unwrap()
    }

    #[tokio::test]
    async fn bad_input_writes_nothing_and_the_file_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let alerts = Alerts::open(storage(dir.path()).await).await.unwrap();
        let add = |url: &str, events: &[&str]| alerts.add(request(url, events), "ada");
        assert!(add("ftp://x", &["rollback"]).await.is_err());
        let mut short_secret = request("https://example.com", &["rollback"]);
        short_secret.secret = Some("short".into());
        assert_eq!(
            field(alerts.add(short_secret, "t").await.unwrap_err()),
            "secret"
        );
        let file = dir.path().join(WEBHOOKS);
        assert!(!file.exists());
        let hook = add("https://example.com", &["rollback"]).await.unwrap();
        assert!(hook.secret.starts_with("whsec_") && hook.secret.len() == 54);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        for _ in 1..MAX_HOOKS {
            add("https://example.com", &["advance"]).await.unwrap();
        }
        let before = std::fs::read(&file).unwrap();
        assert!(matches!(
            add("https://example.com", &["advance"]).await,
            Err(WebhookError::TooMany)
        ));
        assert_eq!(std::fs::read(&file).unwrap(), before);
        let reopened = Alerts::open(storage(dir.path()).await).await.unwrap();
        assert_eq!(reopened.hooks().len(), MAX_HOOKS);
        assert_eq!(reopened.hooks()[0], hook);
    }

    #[tokio::test]
    async fn another_servers_change_is_kept_and_seen_after_a_reload() {
        let dir = tempfile::tempdir().unwrap();
        let one = Alerts::open(storage(dir.path()).await).await.unwrap();
        let two = Alerts::open(storage(dir.path()).await).await.unwrap();
        let first = one.add(request("https://a.example", &["rollback"]), "ada");
        let first = first.await.unwrap();
        // `two` has not reloaded, yet its change keeps `one`'s hook.
        let second = two.add(request("https://b.example", &["advance"]), "bo");
        let second = second.await.unwrap();
        assert_eq!(two.hooks().len(), 2);
        assert_eq!(one.hooks().len(), 1);
        assert!(one.reload().await.unwrap());
        assert_eq!(*one.hooks(), [first.clone(), second.clone()]);
        assert!(!one.reload().await.unwrap(), "nothing changed since");
        two.remove(&first.id).await.unwrap();
        // What is stored decides, not what `one` last read.
        assert!(matches!(
            one.remove(&first.id).await,
            Err(WebhookError::Missing(_))
        ));
        assert!(one.reload().await.unwrap());
        assert_eq!(*one.hooks(), [second]);
    }

    #[test]
    fn deliveries_in_flight_at_a_stop_are_recorded_as_failed_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let open = || runtime.block_on(async { Alerts::open(storage(dir.path()).await).await });
        let alerts = open().unwrap();
        let hook = runtime
            .block_on(alerts.add(request("http://127.0.0.1:9/", &["rollback"]), "ada"))
            .unwrap();
        // No runtime here: the send is recorded as failed at once.
        let ids = alerts.send(AlertEvent::Rollback, "Rolled back.", json!({}));
        assert_eq!(ids.len(), 1);
        runtime.block_on(alerts.flush());
        let path = dir.path().join(DELIVERIES);
        let mut file: DeliveriesFile =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let record = file.deliveries.get_mut(&hook.id).unwrap();
        assert_eq!(record[0].status, DeliveryStatus::Failed);
        // As if the server had stopped mid-delivery.
        record[0].status = DeliveryStatus::Pending;
        record[0].last_error = None;
        std::fs::write(&path, serde_json::to_vec(&file).unwrap()).unwrap();
        let reopened = open().unwrap();
        let listed = &reopened.list()[0].deliveries[0];
        assert_eq!(listed.id, ids[0]);
        assert_eq!(listed.status, DeliveryStatus::Failed);
        assert!(listed.last_error.as_deref().unwrap().contains("stopped"));
        // A damaged record is set aside, never a reason not to start.
        std::fs::write(&path, "{\"deliv").unwrap();
        let again = open().unwrap();
        assert!(again.list()[0].deliveries.is_empty());
        assert!(dir.path().join("deliveries.json.damaged").exists());
    }
}
