//! The counts apps report (`POST /api/metrics`), aggregated per minute per
//! rollout, environment, stage, cohort and event (SPEC.md, "Reports").
//!
//! Memory is bounded by the plan, not by traffic: rollouts, environments and
//! stages must exist, each stage takes at most `MAX_EVENTS` event names, and
//! minutes older than `MINUTES_KEPT` fold into hours, hours older than
//! `HOURS_KEPT` are dropped.
//!
//! Counts reach the storage every `FLUSH_INTERVAL` (serve.rs's flusher), so a
//! SIGKILL loses at most that long of acknowledged counts, on either backend:
//! - a data directory: `DIR/metrics.log` holds one JSON line per (series,
//!   minute) delta, appended and fsynced; when it grows past `COMPACT_BYTES` it
//!   is replaced by a snapshot in the same format, so the file stays bounded;
//! - PostgreSQL: the deltas are added to totals every server shares, and each
//!   flush then pulls the totals any server changed lately, so every server
//!   holds the sum of all of them. Only the leader folds old minutes there.

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::storage::postgres::PgStorage;
use crate::storage::{CountDelta, Storage, StorageError};
use crate::util::write_atomic;

pub const LOG_FILE: &str = crate::storage::dir::COUNTS_FILE;
/// How often counts reach the storage: the most a SIGKILL can lose.
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(1);
/// Distinct event names per rollout, environment and stage.
pub const MAX_EVENTS: usize = 64;
/// Minute buckets kept as minutes (six hours); older ones fold into hours.
const MINUTES_KEPT: u32 = 6 * 60;
/// Hours kept (sixty days): a stage live longer is judged on its last sixty days.
const HOURS_KEPT: u32 = 60 * 24;
/// The log is compacted when it passes this, or twice its last snapshot.
const COMPACT_BYTES: u64 = 32 * 1024 * 1024;
/// PostgreSQL: a pull asks for the rows changed since the last pull began, and
/// this much before it, for a write that committed after it took its time.
const PULL_OVERLAP: Duration = Duration::from_secs(10);
/// PostgreSQL: the minutes a pull looks at. Counts are added at the minute
/// they arrive, so only recent minutes change; older ones change only by
/// folding, which every server does to its own copy the same way.
const PULL_MINUTES: u32 = 60;

/// One reported count (as the wire carries it: `stagegate simulate` sends these).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Count<'a> {
    pub rollout: &'a str,
    pub environment: &'a str,
    pub stage: &'a str,
    pub in_rollout: bool,
    pub event: &'a str,
    pub count: u64,
}

/// A series' key: cohort, rollout, environment, stage, event, NUL-separated
/// (names cannot hold NUL), so a lookup builds one string and no tuple.
fn key_into(buffer: &mut String, in_rollout: bool, parts: [&str; 4]) {
    buffer.clear();
    buffer.push(if in_rollout { '1' } else { '0' });
    for part in parts {
        buffer.push('\0');
        buffer.push_str(part);
    }
}

/// Whether a key read back from storage is one `key_into` wrote: cohort
/// digit, NUL, names.
fn is_key(key: &str) -> bool {
    key.starts_with("0\0") || key.starts_with("1\0")
}

/// The stage a key belongs to (its key without the cohort and the event).
fn stage_of(key: &str) -> &str {
    let body = &key[2..];
    body.rfind('\0').map_or(body, |end| &body[..end])
}

#[derive(Default)]
struct Series {
    /// Minute since the epoch → count; minutes older than `MINUTES_KEPT` are
    /// folded into the first minute of their hour.
    minutes: BTreeMap<u32, u64>,
    /// Counts not yet in storage, by minute (almost always one entry).
    pending: Vec<(u32, u64)>,
}

#[derive(Default)]
struct Inner {
    series: HashMap<Box<str>, Series>,
    /// Distinct events per stage key, to bound `series`.
    events: HashMap<Box<str>, usize>,
    /// Data directory: the size of the last snapshot the log was compacted into.
    snapshot_bytes: u64,
    /// PostgreSQL: when the last pull that worked began (or the load at open).
    pulled: Option<Instant>,
    /// PostgreSQL: the minute the leader last folded the stored totals at.
    folded: Option<u32>,
    /// PostgreSQL: a batch whose answer never came (it may or may not be
    /// stored), sent again as it is, under its id, before anything new.
    unsent: Option<(String, Vec<CountDelta>)>,
    /// PostgreSQL: this process's batch ids are `<prefix>-<sequence>`.
    batch_prefix: String,
    batches: u64,
}

/// One line of the log.
#[derive(Serialize, Deserialize)]
struct Line<'a> {
    /// The series key.
    #[serde(borrow)]
    k: std::borrow::Cow<'a, str>,
    /// Minute since the epoch.
    m: u32,
    n: u64,
}

pub struct Metrics {
    storage: Storage,
    inner: Mutex<Inner>,
    /// One flush at a time (the flusher, and the last one on a clean stop).
    flushing: tokio::sync::Mutex<()>,
    /// Woken on every accepted batch, and when a pull brings other servers'
    /// counts: the guardrails look again.
    pub arrived: tokio::sync::Notify,
}

#[derive(Debug)]
pub enum Refused {
    /// A new event name beyond `MAX_EVENTS` for its stage (the item's index).
    TooManyEvents(usize),
}

impl Metrics {
    /// Loads the counts kept. On a data directory, replays `DIR/metrics.log`:
    /// a line that does not read (the torn end of a write cut short) is
    /// skipped and counted in the answer. On PostgreSQL, loads the totals of
    /// the minutes kept.
    pub async fn open(storage: Storage) -> anyhow::Result<(Metrics, usize)> {
        let (inner, skipped) = match &storage {
            Storage::Dir(dir) => {
                let path = dir.path().join(LOG_FILE);
                tokio::task::spawn_blocking(move || replay(&path)).await??
            }
            Storage::Postgres(pg) => {
                let now = minute_of(crate::guard::Clock::now(&crate::guard::SystemClock));
                (load(pg, now.saturating_sub(HOURS_KEPT * 60)).await?, 0)
            }
        };
        let metrics = Metrics {
            storage,
            inner: Mutex::new(inner),
            flushing: tokio::sync::Mutex::new(()),
            arrived: tokio::sync::Notify::new(),
        };
        Ok((metrics, skipped))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a batch at `minute`: all of it, or (if it names too many new
    /// events) none of it.
    pub fn add(&self, minute: u32, counts: &[Count]) -> Result<(), Refused> {
        let mut key = String::new();
        let mut inner = self.lock();
        // First pass: would a new event name break its stage's bound?
        let mut new_per_stage: HashMap<String, Vec<&str>> = HashMap::new();
        for (i, count) in counts.iter().enumerate() {
            key_into(
                &mut key,
                count.in_rollout,
                [count.rollout, count.environment, count.stage, count.event],
            );
            if inner.knows_event(&key) {
                continue;
            }
            let known = inner.events.get(stage_of(&key)).copied().unwrap_or(0);
            let new = new_per_stage.entry(stage_of(&key).to_string()).or_default();
            if !new.contains(&count.event) {
                new.push(count.event);
            }
            if known + new.len() > MAX_EVENTS {
                return Err(Refused::TooManyEvents(i));
            }
        }
        for count in counts {
            if count.count == 0 {
                continue;
            }
            key_into(
                &mut key,
                count.in_rollout,
                [count.rollout, count.environment, count.stage, count.event],
            );
            inner.add(&key, minute, count.count, Some(minute));
        }
        drop(inner);
        self.arrived.notify_waiters();
        Ok(())
    }

    /// The count of one event in one cohort from minute `since` on.
    pub fn sum(&self, at: [&str; 3], in_rollout: bool, event: &str, since: u32) -> u64 {
        let mut key = String::new();
        key_into(&mut key, in_rollout, [at[0], at[1], at[2], event]);
        let inner = self.lock();
        inner.series.get(key.as_str()).map_or(0, |series| {
            series.minutes.range(since..).map(|(_, n)| n).sum()
        })
    }

    /// Per-minute counts of one event in one cohort from minute `since` on.
    pub fn minutes(
        &self,
        at: [&str; 3],
        in_rollout: bool,
        event: &str,
        since: u32,
    ) -> Vec<(u32, u64)> {
        let mut key = String::new();
        key_into(&mut key, in_rollout, [at[0], at[1], at[2], event]);
        let inner = self.lock();
        inner
            .series
            .get(key.as_str())
            .map_or_else(Vec::new, |series| {
                series
                    .minutes
                    .range(since..)
                    .map(|(m, n)| (*m, *n))
                    .collect()
            })
    }

    /// How many series and buckets are held (for the memory benchmark).
    pub fn size(&self) -> (usize, usize) {
        let inner = self.lock();
        let buckets = inner.series.values().map(|s| s.minutes.len()).sum();
        (inner.series.len(), buckets)
    }

    /// Sends what arrived since the last flush to the storage and folds old
    /// minutes into hours. On PostgreSQL, then takes in what other servers
    /// added; counts the database did not take stay pending for the next
    /// flush, so none are lost while it is away.
    pub async fn flush(&self, now_minute: u32) -> Result<(), StorageError> {
        let _one = self.flushing.lock().await;
        self.lock().fold(
            now_minute.saturating_sub(MINUTES_KEPT),
            now_minute.saturating_sub(HOURS_KEPT * 60),
        );
        match &self.storage {
            Storage::Dir(dir) => self.flush_to_log(dir.path()).await,
            Storage::Postgres(pg) => self.flush_to_database(pg, now_minute).await,
        }
    }

    /// Appends the pending deltas to the log (fsynced), or, when the log has
    /// grown, replaces it with a snapshot of everything held.
    async fn flush_to_log(&self, dir: &Path) -> Result<(), StorageError> {
        let size = tokio::fs::metadata(dir.join(LOG_FILE))
            .await
            .map_or(0, |m| m.len());
        let (deltas, snapshot) = {
            let mut inner = self.lock();
            // Against a snapshot that is itself large, only when the log has doubled.
            let compact = size > COMPACT_BYTES.max(2 * inner.snapshot_bytes);
            // Taken either way: a failed append is not retried, as the lines
            // may be half written (a retry could count them twice).
            let deltas = inner.take_pending();
            (deltas, compact.then(|| inner.snapshot()))
        };
        let Some(snapshot) = snapshot else {
            return self.storage.add_counts(deltas).await;
        };
        let (dir, bytes) = (dir.to_path_buf(), snapshot.len() as u64);
        tokio::task::spawn_blocking(move || write_atomic(&dir, LOG_FILE, snapshot.as_bytes()))
            .await
            .map_err(|error| StorageError::Io(error.to_string()))?
            .map_err(|error| StorageError::Io(format!("writing {LOG_FILE}: {error}")))?;
        self.lock().snapshot_bytes = bytes;
        Ok(())
    }

    /// Adds the pending deltas to the shared totals, then sets each
    /// series-minute any server changed lately to its total plus what arrived
    /// here meanwhile. Totals can be applied twice (the pulls overlap) without
    /// counting anything twice. A SIGKILL loses what arrived since the last
    /// flush that worked, as on a data directory.
    async fn flush_to_database(&self, pg: &PgStorage, now_minute: u32) -> Result<(), StorageError> {
        // An unanswered batch first, under its id (stored once whatever
        // happened to it), then what arrived since.
        loop {
            let batch = {
                let mut inner = self.lock();
                match inner.unsent.take() {
                    Some(batch) => Some(batch),
                    None => inner.next_batch(),
                }
            };
            let Some((id, deltas)) = batch else { break };
            if let Err(error) = pg.add_counts(&id, &deltas).await {
                self.lock().unsent = Some((id, deltas));
                return Err(error);
            }
        }
        // The stored totals fold once a minute, by the one server that leads.
        let mut folded = Ok(());
        let due = self.lock().folded != Some(now_minute);
        if due && self.storage.leads().await {
            folded = pg
                .fold_counts(
                    now_minute.saturating_sub(MINUTES_KEPT),
                    now_minute.saturating_sub(HOURS_KEPT * 60),
                )
                .await;
        }
        if due && folded.is_ok() {
            self.lock().folded = Some(now_minute);
        }
        let started = Instant::now();
        let since_last = self.lock().pulled.map_or(Duration::ZERO, |at| at.elapsed());
        let totals = pg
            .counts(
                now_minute.saturating_sub(PULL_MINUTES),
                Some(since_last + PULL_OVERLAP),
            )
            .await?;
        let changed = {
            let mut inner = self.lock();
            inner.pulled = Some(started);
            inner.settle(totals)
        };
        if changed {
            self.arrived.notify_waiters();
        }
        folded
    }
}

/// Replays a log: what it holds, and how many lines did not read.
fn replay(path: &Path) -> anyhow::Result<(Inner, usize)> {
    let (inner, skipped, torn) = read_log(path)?;
    // A torn end (no newline) would swallow the first line appended after
    // it: end it here, so it stays one skipped line.
    if torn {
        OpenOptions::new()
            .append(true)
            .open(path)?
            .write_all(b"\n")?;
    }
    Ok((inner, skipped))
}

/// Every total a data directory's log holds, and how many lines did not
/// read: what `stagegate migrate` copies. The log is only read.
pub fn log_totals(path: &Path) -> anyhow::Result<(Vec<CountDelta>, usize)> {
    let (inner, skipped, _) = read_log(path)?;
    let mut totals = Vec::new();
    for (key, series) in &inner.series {
        for (&minute, &n) in &series.minutes {
            totals.push(CountDelta {
                series: key.to_string(),
                minute,
                n,
            });
        }
    }
    Ok((totals, skipped))
}

/// What a log holds, how many lines did not read, and whether it ends torn.
fn read_log(path: &Path) -> anyhow::Result<(Inner, usize, bool)> {
    let mut inner = Inner::default();
    let mut skipped = 0;
    let Ok(file) = File::open(path) else {
        return Ok((inner, skipped, false));
    };
    let length = file.metadata()?.len();
    let mut read = 0u64;
    for line in BufReader::new(file).split(b'\n') {
        let line = line?;
        read += line.len() as u64 + 1;
        match serde_json::from_slice::<Line>(&line) {
            Ok(line) if is_key(&line.k) => inner.add(&line.k, line.m, line.n, None),
            _ if line.is_empty() => {}
            _ => skipped += 1,
        }
    }
    Ok((inner, skipped, read > length))
}

/// The stored totals from minute `since` on.
async fn load(pg: &PgStorage, since: u32) -> anyhow::Result<Inner> {
    let mut inner = Inner {
        pulled: Some(Instant::now()),
        // Unique per process: ids of batches from a server before a restart
        // are never those of the new one.
        batch_prefix: crate::util::random_hex(12)?,
        ..Inner::default()
    };
    let totals = pg
        .counts(since, None)
        .await
        .map_err(|error| anyhow::anyhow!("loading the metric counts: {error}"))?;
    for total in totals.iter().filter(|total| is_key(&total.series)) {
        inner.add(&total.series, total.minute, total.n, None);
    }
    Ok(inner)
}

pub(crate) fn push_line(text: &mut String, key: &str, minute: u32, n: u64) {
    let line = Line {
        k: key.into(),
        m: minute,
        n,
    };
    if let Ok(json) = serde_json::to_string(&line) {
        text.push_str(&json);
        text.push('\n');
    }
}

impl Inner {
    /// Adds `n` to a series' minute; `pending` records it for the log when the
    /// count is new (not replayed from the log).
    fn add(&mut self, key: &str, minute: u32, n: u64, pending: Option<u32>) {
        if !self.series.contains_key(key) {
            if !self.knows_event(key) {
                *self.events.entry(stage_of(key).into()).or_default() += 1;
            }
            self.series.insert(key.into(), Series::default());
        }
        if let Some(series) = self.series.get_mut(key) {
            let bucket = series.minutes.entry(minute).or_default();
            *bucket = bucket.saturating_add(n);
            if let Some(minute) = pending {
                match series.pending.last_mut() {
                    Some((last, delta)) if *last == minute => *delta = delta.saturating_add(n),
                    _ => series.pending.push((minute, n)),
                }
            }
        }
    }

    /// The counts not yet in storage, as deltas; none are left pending.
    fn take_pending(&mut self) -> Vec<CountDelta> {
        let mut deltas = Vec::new();
        for (key, series) in self.series.iter_mut() {
            for (minute, n) in series.pending.drain(..) {
                deltas.push(CountDelta {
                    series: key.to_string(),
                    minute,
                    n,
                });
            }
        }
        deltas
    }

    /// The pending deltas as a new batch with its id (`None` when nothing is pending).
    fn next_batch(&mut self) -> Option<(String, Vec<CountDelta>)> {
        let deltas = self.take_pending();
        if deltas.is_empty() {
            return None;
        }
        self.batches += 1;
        Some((format!("{}-{}", self.batch_prefix, self.batches), deltas))
    }

    /// Sets each series-minute to its stored total plus what arrived here
    /// since the deltas were taken; whether anything changed.
    fn settle(&mut self, totals: Vec<CountDelta>) -> bool {
        let mut changed = false;
        for total in totals.iter().filter(|total| is_key(&total.series)) {
            self.add(&total.series, total.minute, 0, None);
            let Some(series) = self.series.get_mut(total.series.as_str()) else {
                continue;
            };
            let waiting = self.unsent.iter().flat_map(|(_, deltas)| deltas);
            let unsent: u64 = series
                .pending
                .iter()
                .filter(|(m, _)| *m == total.minute)
                .map(|(_, n)| n)
                .chain(
                    waiting
                        .filter(|d| d.minute == total.minute && *d.series == *total.series)
                        .map(|d| &d.n),
                )
                .sum();
            let count = total.n.saturating_add(unsent);
            if series.minutes.insert(total.minute, count) != Some(count) {
                changed = true;
            }
        }
        changed
    }

    /// Whether either cohort of this key's stage has counted its event.
    fn knows_event(&self, key: &str) -> bool {
        let other = if key.starts_with('1') { '0' } else { '1' };
        self.series.contains_key(key)
            || self
                .series
                .contains_key(format!("{other}{}", &key[1..]).as_str())
    }

    /// Folds minutes before `before` into the first minute of their hour, and
    /// drops buckets before `gone`.
    fn fold(&mut self, before: u32, gone: u32) {
        for series in self.series.values_mut() {
            series.minutes = series.minutes.split_off(&gone);
            let old: Vec<(u32, u64)> = series
                .minutes
                .range(..before)
                .filter(|(m, _)| *m % 60 != 0)
                .map(|(m, n)| (*m, *n))
                .collect();
            for (minute, n) in old {
                series.minutes.remove(&minute);
                let hour = series.minutes.entry(minute - minute % 60).or_default();
                *hour = hour.saturating_add(n);
            }
        }
    }

    fn snapshot(&self) -> String {
        let mut text = String::new();
        for (key, series) in &self.series {
            for (minute, n) in &series.minutes {
                push_line(&mut text, key, *minute, *n);
            }
        }
        text
    }
}

/// The minute since the epoch of a Unix time in seconds.
pub fn minute_of(unix_secs: u64) -> u32 {
    u32::try_from(unix_secs / 60).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::Location;

    /// A data directory, opened once: a reopen of the counts replays its log.
    async fn storage(dir: &Path) -> Storage {
        Storage::open(&Location::Dir(dir.to_path_buf()))
            .await
            .unwrap()
    }

    async fn open(storage: &Storage) -> (Metrics, usize) {
        Metrics::open(storage.clone()).await.unwrap()
    }

    fn count<'a>(stage: &'a str, in_rollout: bool, event: &'a str, n: u64) -> Count<'a> {
        Count {
            rollout: "r",
            environment: "production",
            stage,
            in_rollout,
            event,
            count: n,
        }
    }

    #[tokio::test]
    async fn counts_add_up_by_cohort_and_survive_a_reopen_after_a_flush() {
        let dir = tempfile::tempdir().unwrap();
        let storage = storage(dir.path()).await;
        let (metrics, _) = open(&storage).await;
        let at = ["r", "production", "s1"];
        metrics
            .add(
                100,
                &[
                    count("s1", true, "crash", 2),
                    count("s1", false, "crash", 5),
                ],
            )
            .unwrap();
        metrics.add(101, &[count("s1", true, "crash", 3)]).unwrap();
        assert_eq!(metrics.sum(at, true, "crash", 0), 5);
        assert_eq!(metrics.sum(at, true, "crash", 101), 3);
        assert_eq!(metrics.sum(at, false, "crash", 0), 5);
        metrics.flush(102).await.unwrap();
        metrics.add(102, &[count("s1", true, "crash", 1)]).unwrap();
        metrics.flush(102).await.unwrap();
        let (reopened, skipped) = open(&storage).await;
        assert_eq!(skipped, 0);
        assert_eq!(reopened.sum(at, true, "crash", 0), 6);
        assert_eq!(
            reopened.minutes(at, true, "crash", 0),
            [(100, 2), (101, 3), (102, 1)]
        );
    }

    #[tokio::test]
    async fn a_torn_last_line_is_skipped_and_the_rest_kept() {
        let dir = tempfile::tempdir().unwrap();
        let storage = storage(dir.path()).await;
        let (metrics, _) = open(&storage).await;
        metrics.add(7, &[count("s1", true, "crash", 4)]).unwrap();
        metrics.flush(7).await.unwrap();
        let mut file = OpenOptions::new()
            .append(true)
            .open(dir.path().join(LOG_FILE))
            .unwrap();
        // A line that reads as JSON but holds no key of ours is skipped too.
        file.write_all("{\"k\":\"é\\u0000x\",\"m\":1,\"n\":1}\n".as_bytes())
            .unwrap();
        file.write_all(b"{\"k\":\"1\\u0000r\\u0000prod").unwrap();
        let (reopened, skipped) = open(&storage).await;
        assert_eq!(skipped, 2);
        assert_eq!(reopened.sum(["r", "production", "s1"], true, "crash", 0), 4);
    }

    #[tokio::test]
    async fn a_stage_takes_a_bounded_number_of_event_names_and_a_refused_batch_adds_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let storage = storage(dir.path()).await;
        let (metrics, _) = open(&storage).await;
        let names: Vec<String> = (0..=MAX_EVENTS).map(|i| format!("e{i}")).collect();
        let fits: Vec<Count> = names[..MAX_EVENTS]
            .iter()
            .map(|e| count("s1", true, e, 1))
            .collect();
        metrics.add(1, &fits).unwrap();
        let batch = [
            count("s1", true, "e0", 1),
            count("s1", true, &names[MAX_EVENTS], 1),
        ];
        assert!(matches!(
            metrics.add(1, &batch),
            Err(Refused::TooManyEvents(1))
        ));
        assert_eq!(metrics.sum(["r", "production", "s1"], true, "e0", 0), 1);
        // Another stage has its own bound.
        metrics
            .add(1, &[count("s2", true, &names[MAX_EVENTS], 1)])
            .unwrap();
    }

    #[tokio::test]
    async fn old_minutes_fold_into_hours_and_keep_their_sum() {
        let dir = tempfile::tempdir().unwrap();
        let storage = storage(dir.path()).await;
        let (metrics, _) = open(&storage).await;
        for minute in 0..180 {
            metrics
                .add(minute, &[count("s1", false, "session", 1)])
                .unwrap();
        }
        metrics.flush(180 + MINUTES_KEPT).await.unwrap();
        let at = ["r", "production", "s1"];
        assert_eq!(metrics.sum(at, false, "session", 0), 180);
        assert_eq!(
            metrics.minutes(at, false, "session", 0),
            [(0, 60), (60, 60), (120, 60)]
        );
        // Hours older than `HOURS_KEPT` go.
        metrics.flush(60 + HOURS_KEPT * 60).await.unwrap();
        assert_eq!(
            metrics.minutes(at, false, "session", 0),
            [(60, 60), (120, 60)]
        );
    }

    #[test]
    fn pulled_totals_keep_what_arrived_since_and_apply_twice_alike() {
        let mut inner = Inner::default();
        let key = "1\0r\0production\0s1\0crash";
        inner.add(key, 5, 3, Some(5));
        let sent = inner.take_pending();
        assert_eq!(sent.len(), 1);
        // Arrived here after the deltas were taken, not yet sent.
        inner.add(key, 5, 2, Some(5));
        // The database holds ours (3) and another server's (10).
        let totals = || {
            vec![CountDelta {
                series: key.into(),
                minute: 5,
                n: 13,
            }]
        };
        assert!(inner.settle(totals()));
        assert!(!inner.settle(totals()));
        assert_eq!(inner.series[key].minutes[&5], 15);
        // A foreign key that is not ours is ignored rather than trusted.
        inner.settle(vec![CountDelta {
            series: "x".into(),
            minute: 5,
            n: 1,
        }]);
        assert_eq!(inner.series.len(), 1);
        // A batch whose answer was lost waits under its id, and still counts
        // here: the database has 11 from elsewhere and not our 3.
        inner.unsent = Some(("a-1".into(), sent));
        assert!(inner.settle(vec![CountDelta {
            series: key.into(),
            minute: 5,
            n: 11,
        }]));
        assert_eq!(inner.series[key].minutes[&5], 16);
        // The next batch is what arrived since, under a new id.
        inner.batch_prefix = "a".into();
        let (id, next) = inner.next_batch().unwrap();
        assert_eq!((id.as_str(), next[0].n), ("a-1", 2));
        assert!(inner.next_batch().is_none());
    }
}
