//! Alerts by webhook: the hooks an admin configured (`DIR/webhooks.json`, mode
//! 0600: it holds the signing secrets), the record of recent deliveries
//! (`DIR/deliveries.json`, the last [`DELIVERIES_KEPT`] per hook), and
//! [`Alerts::send`], which queues an alert to every hook that lists its event
//! and returns at once: each delivery is a background task that signs the body,
//! POSTs it, retries with backoff and records every attempt (see `deliver.rs`).
//!
//! Only the server writes these files (the CLI does not), so a mutex in the
//! process serializes the changes; there is no cross-process lock as for users.

mod deliver;

use std::collections::{BTreeMap, VecDeque};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use stagegate_api::{DeliveryStatus, WebhookDelivery, WebhookInfo, WebhookRequest};

pub use self::deliver::signature;
pub use stagegate_api::AlertEvent;

use crate::util::{TEMP_SUFFIX, now_rfc3339, random_hex, write_atomic, write_atomic_private};

pub const WEBHOOKS_FILE: &str = "webhooks.json";
pub const DELIVERIES_FILE: &str = "deliveries.json";
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
            WebhookError::Io(error) => write!(f, "{error:#}"),
        }
    }
}

impl std::error::Error for WebhookError {}

/// The alert handle: cheap to clone, kept in the app state, usable from any
/// handler or background task.
#[derive(Clone)]
pub struct Alerts {
    inner: Arc<Inner>,
}

struct Inner {
    dir: PathBuf,
    policy: RetryPolicy,
    hooks: Mutex<Arc<Vec<Hook>>>,
    deliveries: Mutex<DeliveryLog>,
    /// A change to the deliveries awaits a flush (one is scheduled).
    dirty: AtomicBool,
    /// One flush writes at a time, so the newest snapshot lands last.
    flush_lock: tokio::sync::Mutex<()>,
    client: OnceLock<Result<deliver::Client, String>>,
    in_flight: tokio::sync::Semaphore,
}

impl Alerts {
    /// The hooks and delivery record of `dir`, with the default retry policy.
    pub fn open(dir: &Path) -> anyhow::Result<Alerts> {
        Alerts::open_with(dir, RetryPolicy::default())
    }

    pub fn open_with(dir: &Path, policy: RetryPolicy) -> anyhow::Result<Alerts> {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        remove_leftovers(dir);
        let hooks_path = dir.join(WEBHOOKS_FILE);
        let hooks = match fs::read_to_string(&hooks_path) {
            Ok(text) => {
                serde_json::from_str::<HooksFile>(&text)
                    .with_context(|| format!("parsing {}", hooks_path.display()))?
                    .hooks
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(error) => {
                return Err(error).with_context(|| format!("reading {}", hooks_path.display()));
            }
        };
        let mut deliveries = read_deliveries(dir);
        // Deliveries in flight when the server stopped are not resumed: record
        // that they ended, so nobody waits on them.
        let mut interrupted = false;
        for delivery in deliveries.values_mut().flatten() {
            if delivery.status == DeliveryStatus::Pending {
                delivery.status = DeliveryStatus::Failed;
                delivery.last_error =
                    Some("the server stopped before this delivery finished".into());
                delivery.finished = Some(now_rfc3339());
                interrupted = true;
            }
        }
        deliveries.retain(|id, _| hooks.iter().any(|hook| &hook.id == id));
        let alerts = Alerts {
            inner: Arc::new(Inner {
                dir: dir.to_path_buf(),
                policy,
                hooks: Mutex::new(Arc::new(hooks)),
                deliveries: Mutex::new(deliveries),
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
    /// Blocks on the disk: call it from `spawn_blocking`.
    pub fn add(&self, request: WebhookRequest, by: &str) -> Result<Hook, WebhookError> {
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
        let mut hooks = lock(&self.inner.hooks);
        if hooks.len() >= MAX_HOOKS {
            return Err(WebhookError::TooMany);
        }
        let mut next = hooks.as_ref().clone();
        next.push(hook.clone());
        self.write_hooks(&next)?;
        *hooks = Arc::new(next);
        Ok(hook)
    }

    /// Removes a hook and its delivery record; its pending deliveries stop
    /// before their next attempt. Blocks on the disk.
    pub fn remove(&self, id: &str) -> Result<Hook, WebhookError> {
        let mut hooks = lock(&self.inner.hooks);
        let index = hooks
            .iter()
            .position(|hook| hook.id == id)
            .ok_or_else(|| WebhookError::Missing(id.into()))?;
        let mut next = hooks.as_ref().clone();
        let removed = next.remove(index);
        self.write_hooks(&next)?;
        *hooks = Arc::new(next);
        drop(hooks);
        lock(&self.inner.deliveries).remove(id);
        self.schedule_flush();
        Ok(removed)
    }

    fn write_hooks(&self, hooks: &[Hook]) -> Result<(), WebhookError> {
        let file = HooksFile {
            hooks: hooks.to_vec(),
        };
        let bytes = serde_json::to_vec_pretty(&file).map_err(|e| WebhookError::Io(e.into()))?;
        write_atomic_private(&self.inner.dir, WEBHOOKS_FILE, &bytes)
            .with_context(|| format!("writing {WEBHOOKS_FILE}"))
            .map_err(WebhookError::Io)
    }

    fn record_new(&self, hook: &str, delivery: WebhookDelivery) {
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
            Err(_) => {
                self.inner.dirty.store(false, Ordering::SeqCst);
                if let Err(error) = self.write_deliveries() {
                    tracing::warn!("webhook deliveries not saved: {error:#}");
                }
            }
        }
    }

    /// Writes the delivery record now (durably, with `write_atomic`).
    pub async fn flush(&self) {
        let _one_at_a_time = self.inner.flush_lock.lock().await;
        self.inner.dirty.store(false, Ordering::SeqCst);
        let alerts = self.clone();
        let written = tokio::task::spawn_blocking(move || alerts.write_deliveries()).await;
        match written {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!("webhook deliveries not saved: {error:#}"),
            Err(error) => tracing::warn!("webhook deliveries not saved: {error}"),
        }
    }

    fn write_deliveries(&self) -> anyhow::Result<()> {
        let file = DeliveriesFile {
            deliveries: lock(&self.inner.deliveries).clone(),
        };
        let bytes = serde_json::to_vec(&file)?;
        write_atomic(&self.inner.dir, DELIVERIES_FILE, &bytes)
            .with_context(|| format!("writing {DELIVERIES_FILE}"))
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

/// The record is diagnostics: a damaged one is set aside with a warning rather
/// than stopping the server.
fn read_deliveries(dir: &Path) -> DeliveryLog {
    let path = dir.join(DELIVERIES_FILE);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return DeliveryLog::new(),
        Err(error) => {
            tracing::warn!(
                "{}: {error}; starting an empty delivery record",
                path.display()
            );
            return DeliveryLog::new();
        }
    };
    match serde_json::from_str::<DeliveriesFile>(&text) {
        Ok(file) => file.deliveries,
        Err(error) => {
            let aside = dir.join(format!("{DELIVERIES_FILE}.damaged"));
            let _ = fs::rename(&path, &aside);
            tracing::warn!(
                "{}: {error}; moved to {} and starting an empty delivery record",
                path.display(),
                aside.display()
            );
            DeliveryLog::new()
        }
    }
}

/// Temp files of writes a crash interrupted (see `write_atomic`).
fn remove_leftovers(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let ours = [WEBHOOKS_FILE, DELIVERIES_FILE]
            .iter()
            .any(|file| name.starts_with(&format!("{file}.")));
        if ours && name.ends_with(TEMP_SUFFIX) {
            let _ = fs::remove_file(entry.path());
        }
    }
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

    #[test]
    fn bad_input_writes_nothing_and_the_file_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let alerts = Alerts::open(dir.path()).unwrap();
        assert!(alerts.add(request("ftp://x", &["rollback"]), "t").is_err());
        let mut short_secret = request("https://example.com", &["rollback"]);
        short_secret.secret = Some("short".into());
        assert_eq!(field(alerts.add(short_secret, "t").unwrap_err()), "secret");
        assert!(!dir.path().join(WEBHOOKS_FILE).exists());
        let hook = alerts
            .add(request("https://example.com", &["rollback"]), "ada")
            .unwrap();
        assert!(hook.secret.starts_with("whsec_") && hook.secret.len() == 54);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.path().join(WEBHOOKS_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        for _ in 1..MAX_HOOKS {
            alerts
                .add(request("https://example.com", &["advance"]), "ada")
                .unwrap();
        }
        let before = fs::read(dir.path().join(WEBHOOKS_FILE)).unwrap();
        assert!(matches!(
            alerts.add(request("https://example.com", &["advance"]), "ada"),
            Err(WebhookError::TooMany)
        ));
        assert_eq!(fs::read(dir.path().join(WEBHOOKS_FILE)).unwrap(), before);
        let reopened = Alerts::open(dir.path()).unwrap();
        assert_eq!(reopened.hooks().len(), MAX_HOOKS);
        assert_eq!(reopened.hooks()[0], hook);
    }

    #[test]
    fn deliveries_in_flight_at_a_stop_are_recorded_as_failed_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let alerts = Alerts::open(dir.path()).unwrap();
        let hook = alerts
            .add(request("http://127.0.0.1:9/", &["rollback"]), "ada")
            .unwrap();
        // No runtime here: the send is recorded as failed at once, and written.
        let ids = alerts.send(AlertEvent::Rollback, "Rolled back.", json!({}));
        assert_eq!(ids.len(), 1);
        let mut file: DeliveriesFile =
            serde_json::from_slice(&fs::read(dir.path().join(DELIVERIES_FILE)).unwrap()).unwrap();
        let record = file.deliveries.get_mut(&hook.id).unwrap();
        assert_eq!(record[0].status, DeliveryStatus::Failed);
        // As if the server had stopped mid-delivery.
        record[0].status = DeliveryStatus::Pending;
        record[0].last_error = None;
        fs::write(
            dir.path().join(DELIVERIES_FILE),
            serde_json::to_vec(&file).unwrap(),
        )
        .unwrap();
        let reopened = Alerts::open(dir.path()).unwrap();
        let listed = &reopened.list()[0].deliveries[0];
        assert_eq!(listed.id, ids[0]);
        assert_eq!(listed.status, DeliveryStatus::Failed);
        assert!(listed.last_error.as_deref().unwrap().contains("stopped"));
        // A damaged record is set aside, never a reason not to start.
        fs::write(dir.path().join(DELIVERIES_FILE), "{\"deliv").unwrap();
        let again = Alerts::open(dir.path()).unwrap();
        assert!(again.list()[0].deliveries.is_empty());
        assert!(dir.path().join("deliveries.json.damaged").exists());
    }
}
