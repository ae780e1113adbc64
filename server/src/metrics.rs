//! The counts apps report (`POST /api/metrics`), aggregated per minute per
//! rollout, environment, stage, cohort and event (SPEC.md, "Reports").
//!
//! Memory is bounded by the plan, not by traffic: rollouts, environments and
//! stages must exist, each stage takes at most `MAX_EVENTS` event names, and
//! minutes older than `MINUTES_KEPT` fold into hours, hours older than
//! `HOURS_KEPT` are dropped. On disk, `DIR/metrics.log`
//! holds one JSON line per (series, minute) delta: the flusher appends what
//! arrived in the last `FLUSH_INTERVAL` and fsyncs, so a SIGKILL loses at most
//! that long of acknowledged counts. When the log grows past `COMPACT_BYTES` it
//! is replaced by a snapshot in the same format, so the file stays bounded too.

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::util::write_atomic;

pub const LOG_FILE: &str = "metrics.log";
/// How often counts reach the disk: the most a SIGKILL can lose.
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(1);
/// Distinct event names per rollout, environment and stage.
pub const MAX_EVENTS: usize = 64;
/// Minute buckets kept as minutes (six hours); older ones fold into hours.
const MINUTES_KEPT: u32 = 6 * 60;
/// Hours kept (sixty days): a stage live longer is judged on its last sixty days.
const HOURS_KEPT: u32 = 60 * 24;
/// The log is compacted when it passes this, or twice its last snapshot.
const COMPACT_BYTES: u64 = 32 * 1024 * 1024;

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
    /// Counts not yet on disk, by minute (almost always one entry).
    pending: Vec<(u32, u64)>,
}

#[derive(Default)]
struct Inner {
    series: HashMap<Box<str>, Series>,
    /// Distinct events per stage key, to bound `series`.
    events: HashMap<Box<str>, usize>,
    log_bytes: u64,
    /// The size of the last snapshot the log was compacted into.
    snapshot_bytes: u64,
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
    dir: PathBuf,
    inner: Mutex<Inner>,
    /// Woken on every accepted batch: the guardrails look again.
    pub arrived: tokio::sync::Notify,
}

#[derive(Debug)]
pub enum Refused {
    /// A new event name beyond `MAX_EVENTS` for its stage (the item's index).
    TooManyEvents(usize),
}

impl Metrics {
    /// Opens `DIR/metrics.log`, replaying it. A line that does not read (the
    /// torn end of a write cut short) is skipped and counted in the answer.
    pub fn open(dir: &Path) -> anyhow::Result<(Metrics, usize)> {
        let mut inner = Inner::default();
        let mut skipped = 0;
        let path = dir.join(LOG_FILE);
        if let Ok(file) = File::open(&path) {
            inner.log_bytes = file.metadata()?.len();
            let mut read = 0u64;
            for line in BufReader::new(file).split(b'\n') {
                let line = line?;
                read += line.len() as u64 + 1;
                match serde_json::from_slice::<Line>(&line) {
                    // A key as `key_into` writes it: cohort digit, NUL, names.
                    Ok(line) if line.k.starts_with("0\0") || line.k.starts_with("1\0") => {
                        inner.add(&line.k, line.m, line.n, None);
                    }
                    _ if line.is_empty() => {}
                    _ => skipped += 1,
                }
            }
            // A torn end (no newline) would swallow the first line appended
            // after it: end it here, so it stays one skipped line.
            if read > inner.log_bytes {
                OpenOptions::new()
                    .append(true)
                    .open(&path)?
                    .write_all(b"\n")?;
                inner.log_bytes += 1;
            }
        }
        let metrics = Metrics {
            dir: dir.to_path_buf(),
            inner: Mutex::new(inner),
            arrived: tokio::sync::Notify::new(),
        };
        Ok((metrics, skipped))
    }

    /// Adds a batch at `minute`: all of it, or (if it names too many new
    /// events) none of it.
    pub fn add(&self, minute: u32, counts: &[Count]) -> Result<(), Refused> {
        let mut key = String::new();
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
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
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
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
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
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
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let buckets = inner.series.values().map(|s| s.minutes.len()).sum();
        (inner.series.len(), buckets)
    }

    /// Appends what arrived since the last flush to the log and fsyncs it; folds
    /// old minutes into hours, and compacts the log when it has grown.
    pub fn flush(&self, now_minute: u32) -> std::io::Result<()> {
        let (lines, compact) = {
            let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            inner.fold(
                now_minute.saturating_sub(MINUTES_KEPT),
                now_minute.saturating_sub(HOURS_KEPT * 60),
            );
            // Against a snapshot that is itself large, only when the log has doubled.
            let compact = inner.log_bytes > COMPACT_BYTES.max(2 * inner.snapshot_bytes);
            let mut text = String::new();
            for (key, series) in inner.series.iter_mut() {
                for (minute, n) in series.pending.drain(..) {
                    if !compact {
                        push_line(&mut text, key, minute, n);
                    }
                }
            }
            if compact {
                (inner.snapshot(), true)
            } else {
                (text, false)
            }
        };
        if compact {
            write_atomic(&self.dir, LOG_FILE, lines.as_bytes())?;
        } else if !lines.is_empty() {
            let mut file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.dir.join(LOG_FILE))?;
            file.write_all(lines.as_bytes())?;
            file.sync_data()?;
        }
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if compact {
            inner.snapshot_bytes = lines.len() as u64;
            inner.log_bytes = inner.snapshot_bytes;
        } else {
            inner.log_bytes += lines.len() as u64;
        }
        Ok(())
    }
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

    #[test]
    fn counts_add_up_by_cohort_and_survive_a_reopen_after_a_flush() {
        let dir = tempfile::tempdir().unwrap();
        let (metrics, _) = Metrics::open(dir.path()).unwrap();
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
        metrics.flush(102).unwrap();
        metrics.add(102, &[count("s1", true, "crash", 1)]).unwrap();
        metrics.flush(102).unwrap();
        let (reopened, skipped) = Metrics::open(dir.path()).unwrap();
        assert_eq!(skipped, 0);
        assert_eq!(reopened.sum(at, true, "crash", 0), 6);
        assert_eq!(
            reopened.minutes(at, true, "crash", 0),
            [(100, 2), (101, 3), (102, 1)]
        );
    }

    #[test]
    fn a_torn_last_line_is_skipped_and_the_rest_kept() {
        let dir = tempfile::tempdir().unwrap();
        let (metrics, _) = Metrics::open(dir.path()).unwrap();
        metrics.add(7, &[count("s1", true, "crash", 4)]).unwrap();
        metrics.flush(7).unwrap();
        let mut file = OpenOptions::new()
            .append(true)
            .open(dir.path().join(LOG_FILE))
            .unwrap();
        // A line that reads as JSON but holds no key of ours is skipped too.
        file.write_all("{\"k\":\"é\\u0000x\",\"m\":1,\"n\":1}\n".as_bytes())
            .unwrap();
        file.write_all(b"{\"k\":\"1\\u0000r\\u0000prod").unwrap();
        let (reopened, skipped) = Metrics::open(dir.path()).unwrap();
        assert_eq!(skipped, 2);
        assert_eq!(reopened.sum(["r", "production", "s1"], true, "crash", 0), 4);
    }

    #[test]
    fn a_stage_takes_a_bounded_number_of_event_names_and_a_refused_batch_adds_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (metrics, _) = Metrics::open(dir.path()).unwrap();
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

    #[test]
    fn old_minutes_fold_into_hours_and_keep_their_sum() {
        let dir = tempfile::tempdir().unwrap();
        let (metrics, _) = Metrics::open(dir.path()).unwrap();
        for minute in 0..180 {
            metrics
                .add(minute, &[count("s1", false, "session", 1)])
                .unwrap();
        }
        metrics.flush(180 + MINUTES_KEPT).unwrap();
        let at = ["r", "production", "s1"];
        assert_eq!(metrics.sum(at, false, "session", 0), 180);
        assert_eq!(
            metrics.minutes(at, false, "session", 0),
            [(0, 60), (60, 60), (120, 60)]
        );
        // Hours older than `HOURS_KEPT` go.
        metrics.flush(60 + HOURS_KEPT * 60).unwrap();
        assert_eq!(
            metrics.minutes(at, false, "session", 0),
            [(60, 60), (120, 60)]
        );
    }
}
