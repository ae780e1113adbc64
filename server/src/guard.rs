//! The guardrails' decisions (SPEC.md, "Guardrails"): for every environment
//! with a live stage, every trigger judged on the counts since the stage became
//! live, by the evaluator's `stats` (the console judges the same counts with the
//! same functions); a breached roll-back trigger turns the kill switch on at
//! once; a stage whose soak has passed advances when nothing holds it. Taken on
//! new counts (at most every `DEBOUNCE`), on every write, and on a timer.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use evaluator::bucket::basis_points;
use evaluator::model::{
    EXPOSURE_EVENT, GATED_ENVIRONMENT, Plan, Role, RollbackTrigger, Rollout, TriggerAction,
};
use evaluator::stats::{self, Cohort};
use serde_json::json;
use stagegate_api::{
    Acknowledgement, AlertEvent, AutomaticAction, GuardrailReport, ScheduleReport, TriggerReport,
};

use crate::api::AppState;
use crate::error::ApiError;
use crate::metrics::minute_of;
use crate::storage::documents::ACKNOWLEDGEMENTS;
use crate::storage::{Storage, StorageError, Version};
use crate::store::Change;
use crate::util::rfc3339;

/// Who the server's own writes are by.
pub const SYSTEM: &str = "stagegate";
/// How often the decisions are taken without news.
pub const TICK: Duration = Duration::from_secs(5);
/// The least time between two rounds of decisions under a stream of reports.
const DEBOUNCE: Duration = Duration::from_millis(100);
/// Minutes of history in a report's chart.
const CHART_MINUTES: u32 = 24 * 60;

/// The time, injectable so tests move it by days in a millisecond.
pub trait Clock: Send + Sync {
    /// Seconds since the Unix epoch.
    fn now(&self) -> u64;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }
}

/// A clock a test sets by hand.
#[derive(Default)]
pub struct ManualClock(std::sync::atomic::AtomicU64);

impl ManualClock {
    pub fn starting_now() -> ManualClock {
        ManualClock(SystemClock.now().into())
    }

    pub fn advance(&self, by: Duration) {
        self.0
            .fetch_add(by.as_secs(), std::sync::atomic::Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> u64 {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// An environment's live state: the active stage and the kill switch.
type LiveState = (Option<String>, bool);

/// What the decisions remember between rounds.
pub struct GuardMemory {
    /// (rollout, environment) → the live state and the Unix time it began.
    since: Mutex<HashMap<(String, String), (LiveState, u64)>>,
    /// Alerts already sent for a condition, so each is sent once.
    alerted: Mutex<HashSet<String>>,
    /// (rollout, environment) → the latest incident a person reported, with
    /// their comment, for the audit entry of a rollback it causes.
    incidents: Mutex<HashMap<(String, String), String>>,
    /// Revision of an automatic action → who acknowledged it (kept in the
    /// storage's `acknowledgements.json`), and the version read.
    acknowledged: Mutex<HashMap<u64, Acknowledgement>>,
    acknowledged_version: Mutex<Option<Version>>,
    /// One acknowledgement or reload at a time in this process, so that the
    /// copy in memory ends as the newest write left it.
    acknowledging: tokio::sync::Mutex<()>,
    storage: Storage,
}

type Acknowledgements = HashMap<u64, Acknowledgement>;

impl GuardMemory {
    /// Opens the acknowledgements kept in the storage.
    pub async fn open(storage: Storage) -> anyhow::Result<GuardMemory> {
        let (acknowledged, version) = match storage.document(ACKNOWLEDGEMENTS).await? {
            Some((text, version)) => (parse_acknowledgements(Some(&text))?, Some(version)),
            None => (HashMap::new(), None),
        };
        Ok(GuardMemory {
            since: Mutex::default(),
            alerted: Mutex::default(),
            incidents: Mutex::default(),
            acknowledged: Mutex::new(acknowledged),
            acknowledged_version: Mutex::new(version),
            acknowledging: tokio::sync::Mutex::new(()),
            storage,
        })
    }

    /// Records that `ack.by` took the automatic action of `revision` in hand
    /// (under the storage's lock: acknowledgements on other servers are kept).
    pub async fn acknowledge(
        &self,
        revision: u64,
        ack: Acknowledgement,
    ) -> Result<(), StorageError> {
        let _one_at_a_time = self.acknowledging.lock().await;
        let acks = self
            .storage
            .update_document(ACKNOWLEDGEMENTS, move |old| {
                let mut acks = parse_acknowledgements(old)
                    .map_err(|error| StorageError::Io(format!("{error:#}")))?;
                acks.insert(revision, ack);
                let text = serde_json::to_string_pretty(&acks)
                    .map_err(|error| StorageError::Io(error.to_string()))?;
                Ok((text, acks))
            })
            .await??;
        *lock(&self.acknowledged) = acks;
        // Read once more on the next reload (see `Keys`' `Loaded::version`).
        *lock(&self.acknowledged_version) = None;
        Ok(())
    }

    /// Re-reads the acknowledgements if another server changed them.
    pub async fn reload(&self) -> anyhow::Result<bool> {
        let _one_at_a_time = self.acknowledging.lock().await;
        let version = self.storage.document_version(ACKNOWLEDGEMENTS).await?;
        if version.is_some() && *lock(&self.acknowledged_version) == version {
            return Ok(false);
        }
        let Some((text, version)) = self.storage.document(ACKNOWLEDGEMENTS).await? else {
            return Ok(false);
        };
        *lock(&self.acknowledged) = parse_acknowledgements(Some(&text))?;
        *lock(&self.acknowledged_version) = Some(version);
        Ok(true)
    }

    pub fn note_incident(&self, rollout: &str, environment: &str, note: String) {
        let mut incidents = self.incidents.lock().unwrap_or_else(|e| e.into_inner());
        incidents.insert((rollout.into(), environment.into()), note);
    }
}

fn parse_acknowledgements(text: Option<&str>) -> anyhow::Result<Acknowledgements> {
    match text {
        Some(text) => serde_json::from_str(text)
            .map_err(|error| anyhow::anyhow!("parsing {ACKNOWLEDGEMENTS}: {error}")),
        None => Ok(HashMap::new()),
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poison| poison.into_inner())
}

/// Runs the decisions for as long as the server does. They are taken once,
/// by the server that leads (always this one, on a data directory; on
/// PostgreSQL, the holder of the leader's advisory lock). Another asks again
/// every `FOLLOWER_CHECK`, so it takes over within about a second of the
/// leader's death.
pub fn spawn(state: AppState) {
    const FOLLOWER_CHECK: Duration = Duration::from_secs(1);
    tokio::spawn(async move {
        let mut feed = state.store.subscribe();
        let storage = state.store.storage().clone();
        loop {
            // Listening before deciding: counts that arrive meanwhile wake the next round.
            let arrived = state.metrics.arrived.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            let started = tokio::time::Instant::now();
            let leads = storage.leads().await;
            if leads {
                decide(&state).await;
            }
            tokio::select! {
                _ = arrived, if leads => {}
                changed = feed.changed() => {
                    if changed.is_err() || feed.borrow().closing {
                        return;
                    }
                }
                _ = tokio::time::sleep(if leads { TICK } else { FOLLOWER_CHECK }) => {}
            }
            // At once on news, but at most one round per `DEBOUNCE`.
            tokio::time::sleep_until(started + DEBOUNCE).await;
        }
    });
}

/// One round: every environment of every rollout with a live stage.
pub async fn decide(state: &AppState) {
    let current = state.store.current();
    let plan = current.plan();
    for (key, rollout) in &plan.rollouts {
        for (env_name, env) in &rollout.environments {
            if env.active_stage.is_none() || env.kill_switch {
                continue;
            }
            let report = judged(state, plan, key, env_name, Detail::Decide).await;
            act(state, rollout, key, env_name, &report).await;
        }
    }
}

/// How much a report holds: a decision needs no chart and no history.
#[derive(Clone, Copy, PartialEq)]
enum Detail {
    Decide,
    Show,
}

/// The counts and verdicts of one environment's live stage, with the chart and
/// the last automatic action (`GET /api/guardrails`).
pub async fn report(state: &AppState, plan: &Plan, key: &str, env_name: &str) -> GuardrailReport {
    judged(state, plan, key, env_name, Detail::Show).await
}

async fn judged(
    state: &AppState,
    plan: &Plan,
    key: &str,
    env_name: &str,
    detail: Detail,
) -> GuardrailReport {
    let rollout = plan.rollouts.get(key);
    let env = rollout.and_then(|r| r.environments.get(env_name));
    let stage = rollout
        .zip(env)
        .and_then(|(r, e)| r.stage(e.active_stage.as_deref()?));
    let live = env.is_some_and(|e| !e.kill_switch) && stage.is_some();
    let since = live_since(state, plan, key, env_name).await;
    let mut report = GuardrailReport {
        rollout: key.into(),
        environment: env_name.into(),
        stage: stage.map(|s| s.id.clone()),
        basis_points: stage.and_then(|s| basis_points(&s.percentage)).unwrap_or(0),
        live,
        live_since: since.map(rfc3339),
        exposures: [0, 0],
        triggers: Vec::new(),
        schedule: ScheduleReport::default(),
        last_action: (detail == Detail::Show)
            .then(|| last_action(state, key, env_name))
            .flatten(),
    };
    let (Some(rollout), Some(stage), Some(since)) = (rollout, stage, since) else {
        return report;
    };
    let from = minute_of(since);
    let at = [key, env_name, stage.id.as_str()];
    let sum = |in_rollout: bool, event: &str| state.metrics.sum(at, in_rollout, event, from);
    report.exposures = [sum(true, EXPOSURE_EVENT), sum(false, EXPOSURE_EVENT)];
    let chart_from = from.max(minute_of(state.clock.now()).saturating_sub(CHART_MINUTES));
    for trigger in &rollout.rollback_triggers {
        let cohort = |in_rollout: bool| Cohort {
            events: sum(in_rollout, &trigger.event),
            per: trigger.per.as_deref().map_or(0, |per| sum(in_rollout, per)),
            exposures: report.exposures[usize::from(!in_rollout)],
        };
        let cohorts = [cohort(true), cohort(false)];
        let verdict = stats::judge(trigger, report.basis_points, &cohorts[0], &cohorts[1]);
        report.triggers.push(TriggerReport {
            metric: trigger.metric.clone(),
            state: verdict.state.name().into(),
            explanation: verdict.explain(),
            cohorts,
            minutes: if detail == Detail::Show {
                chart(state, at, trigger, chart_from)
            } else {
                Vec::new()
            },
        });
    }
    report.schedule = schedule(state, plan, rollout, key, env_name, since, &report);
    if !report.live {
        report.schedule.soak_ends = None;
        report.schedule.waiting_for =
            vec!["a person: the kill switch is on, so nothing advances".into()];
    }
    report
}

/// Per-minute counts of a trigger's event and `per`, in and out, merged by minute.
fn chart(state: &AppState, at: [&str; 3], trigger: &RollbackTrigger, from: u32) -> Vec<[u64; 5]> {
    let mut rows: std::collections::BTreeMap<u32, [u64; 5]> = Default::default();
    let columns = [
        (true, Some(trigger.event.as_str())),
        (true, trigger.per.as_deref()),
        (false, Some(trigger.event.as_str())),
        (false, trigger.per.as_deref()),
    ];
    for (column, (in_rollout, event)) in columns.into_iter().enumerate() {
        let Some(event) = event else { continue };
        for (minute, n) in state.metrics.minutes(at, in_rollout, event, from) {
            let row = rows
                .entry(minute)
                .or_insert([u64::from(minute), 0, 0, 0, 0]);
            row[column + 1] = n;
        }
    }
    rows.into_values().collect()
}

/// What the next automatic step waits for.
fn schedule(
    state: &AppState,
    plan: &Plan,
    rollout: &Rollout,
    key: &str,
    env_name: &str,
    since: u64,
    report: &GuardrailReport,
) -> ScheduleReport {
    let index = rollout
        .stages
        .iter()
        .position(|s| Some(&s.id) == report.stage.as_ref());
    let Some(stage) = index.map(|i| &rollout.stages[i]) else {
        return ScheduleReport::default();
    };
    let next = index.and_then(|i| rollout.stages.get(i + 1));
    let soak_secs = stage
        .soak_hours
        .as_ref()
        .and_then(|h| h.as_f64())
        .map(|hours| (hours * 3600.0).round() as u64);
    let soak_ends = soak_secs.map(|secs| since.saturating_add(secs));
    let mut waiting_for = Vec::new();
    if next.is_none() {
        waiting_for.push("nothing: this is the last stage".to_string());
    }
    if !stage.auto_advance {
        waiting_for.push("a person: this stage does not advance by itself".into());
    }
    let now = state.clock.now();
    match soak_ends {
        Some(end) if end > now => waiting_for.push(format!(
            "the soak, until {} ({} left)",
            rfc3339(end),
            duration_words(end - now)
        )),
        _ => {}
    }
    for trigger in &report.triggers {
        match trigger.state.as_str() {
            "notEnoughData" => waiting_for.push(format!("enough data for {}", trigger.metric)),
            "holding" | "breached" => {
                waiting_for.push(format!("{}: {}", trigger.metric, trigger.explanation))
            }
            _ => {}
        }
    }
    if let Some(check) = stats::sample_ratio(
        report.exposures[0],
        report.exposures[1],
        report.basis_points,
    ) && check.mismatch
    {
        waiting_for.push(format!(
            "sound reporting: exposures {} in, {} out do not fit the stage's {}% (p = {:.1e})",
            report.exposures[0],
            report.exposures[1],
            f64::from(report.basis_points) / 100.0,
            check.p_value
        ));
    }
    if let Some(next) = next
        && env_name == GATED_ENVIRONMENT
    {
        let missing = evaluator::gate::missing_signoffs(plan, key, next);
        if !missing.is_empty() {
            let roles: Vec<&str> = missing.iter().map(|r| r.name()).collect();
            waiting_for.push(format!("sign-offs for {}: {}", next.name, roles.join(", ")));
        }
    }
    ScheduleReport {
        planned_for: stage.planned_for.clone(),
        soak_ends: soak_ends.map(rfc3339),
        auto_advance: stage.auto_advance,
        next: next.map(|s| s.id.clone()),
        waiting_for,
    }
}

fn duration_words(secs: u64) -> String {
    match secs {
        0..=5399 => format!("{} min", secs.div_ceil(60)),
        _ => format!("{:.1} h", secs as f64 / 3600.0),
    }
}

/// Rolls back on a breach, alerts once per condition, advances when due.
async fn act(
    state: &AppState,
    rollout: &Rollout,
    key: &str,
    env_name: &str,
    report: &GuardrailReport,
) {
    let Some(stage) = report.stage.clone() else {
        return;
    };
    let breach = rollout
        .rollback_triggers
        .iter()
        .zip(&report.triggers)
        .find(|(trigger, r)| trigger.action == TriggerAction::Rollback && r.state == "breached");
    if let Some((trigger, found)) = breach {
        let incident = state
            .guard
            .incidents
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&(key.to_string(), env_name.to_string()))
            .map(|note| format!(" {note}"))
            .unwrap_or_default();
        let comment = format!(
            "Automatic rollback: trigger {} breached. {}{incident}",
            trigger.metric, found.explanation
        );
        let written = system_write(
            state,
            "auto-rollback",
            comment.clone(),
            key,
            env_name,
            &stage,
            |env| {
                env.kill_switch = true;
            },
        )
        .await;
        if let Ok(revision) = written {
            let text = format!(
                "stagegate rolled back {key} in {env_name} (revision {revision}): {comment}"
            );
            state.alerts.send(
                AlertEvent::Rollback,
                text,
                json!({"rollout": key, "environment": env_name, "stage": stage, "revision": revision,
                       "trigger": trigger.metric, "cohorts": found.cohorts}),
            );
        }
        return;
    }
    for found in &report.triggers {
        if found.state == "holding" || found.state == "breached" {
            let text = format!(
                "{key} in {env_name} ({stage}): trigger {} is {}. {}",
                found.metric, found.state, found.explanation
            );
            alert_once(
                state,
                format!("{key}/{env_name}/{stage}/{}/{}", found.metric, found.state),
                AlertEvent::TriggerWarning,
                text,
            );
        }
    }
    if let Some(check) = stats::sample_ratio(
        report.exposures[0],
        report.exposures[1],
        report.basis_points,
    ) && check.mismatch
    {
        let text = format!(
            "{key} in {env_name} ({stage}): exposures {} in and {} out do not fit the stage's percentage (p = {:.1e}); progression holds",
            report.exposures[0], report.exposures[1], check.p_value
        );
        alert_once(
            state,
            format!("{key}/{env_name}/{stage}/srm"),
            AlertEvent::SampleRatioMismatch,
            text,
        );
    }
    let schedule = &report.schedule;
    let Some(next) = schedule.next.clone() else {
        return;
    };
    let only_signoffs = !schedule.waiting_for.is_empty()
        && schedule
            .waiting_for
            .iter()
            .all(|w| w.starts_with("sign-offs for"));
    if only_signoffs {
        let text = format!(
            "{key} in {env_name} is due to advance from {stage} to {next}, waiting on {}",
            schedule.waiting_for.join("; ")
        );
        alert_once(
            state,
            format!("{key}/{env_name}/{stage}/waiting"),
            AlertEvent::WaitingOnSignoffs,
            text,
        );
    }
    if !schedule.waiting_for.is_empty() {
        return;
    }
    let comment = format!(
        "Automatic advance on schedule: {stage} soaked, every trigger healthy, sign-offs current"
    );
    let written = system_write(
        state,
        "auto-advance",
        comment,
        key,
        env_name,
        &stage,
        |env| {
            env.active_stage = Some(next.clone());
        },
    )
    .await;
    if let Ok(revision) = written {
        // The new stage's soak starts now, by the guardrails' own clock (a
        // test's, which may be days ahead of the revision's time stamp).
        state
            .guard
            .since
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                (key.to_string(), env_name.to_string()),
                ((Some(next.clone()), false), state.clock.now()),
            );
        let text = format!(
            "stagegate advanced {key} in {env_name} from {stage} to {next} (revision {revision})"
        );
        state.alerts.send(
            AlertEvent::Advance,
            text,
            json!({"rollout": key, "environment": env_name, "from": stage, "to": next, "revision": revision}),
        );
    }
}

fn alert_once(state: &AppState, condition: String, event: AlertEvent, text: String) {
    let new = state
        .guard
        .alerted
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(condition);
    if new {
        state.alerts.send(event, text, json!({}));
    }
}

/// A write by the server itself, made only if the environment is still live at
/// `stage` (so a thousand breaching reports make one rollback).
async fn system_write(
    state: &AppState,
    action: &'static str,
    comment: String,
    key: &str,
    env_name: &str,
    stage: &str,
    edit: impl Fn(&mut evaluator::model::Environment),
) -> Result<u64, ApiError> {
    let change = Change {
        author: SYSTEM.into(),
        role: Role::Admin,
        action,
        comment,
        base: None,
    };
    let current = crate::api::write(state, change, |old| {
        let mut plan = old.clone();
        let env = plan
            .rollouts
            .get_mut(key)
            .and_then(|r| r.environments.get_mut(env_name))
            .filter(|env| !env.kill_switch && env.active_stage.as_deref() == Some(stage))
            .ok_or(ApiError::Conflict("no longer live at that stage".into()))?;
        edit(env);
        Ok(plan)
    })
    .await?;
    Ok(current.revision())
}

/// When the environment's current live state began: the time of the oldest
/// revision of the latest run of revisions with that state (for a kill switch
/// that is on, of the live run it ended).
async fn live_since(state: &AppState, plan: &Plan, key: &str, env_name: &str) -> Option<u64> {
    let live_state = |plan: &Plan| -> Option<LiveState> {
        let env = plan.rollouts.get(key)?.environments.get(env_name)?;
        Some((env.active_stage.clone(), env.kill_switch))
    };
    let now_state = live_state(plan)?;
    let cache_key = (key.to_string(), env_name.to_string());
    if let Some((cached, since)) = state
        .guard
        .since
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&cache_key)
        && *cached == now_state
    {
        return Some(*since);
    }
    // Back through the revisions with this state; with the kill switch on, on
    // through the live run before it, so a rollback's figures stay in view.
    let mut first = plan.revision;
    let mut matching = now_state.clone();
    while first > 1 {
        let Ok(older) = state.store.revision(first - 1).await else {
            break;
        };
        let older = live_state(&older);
        if older.as_ref() == Some(&matching) {
            first -= 1;
        } else if matching.1 && older == Some((matching.0.clone(), false)) {
            matching.1 = false;
            first -= 1;
        } else {
            break;
        }
    }
    let audit = state.store.audit();
    let at = audit.iter().find(|entry| entry.revision == first)?;
    let since = crate::util::parse_rfc3339(&at.at)?;
    state
        .guard
        .since
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(cache_key, (now_state, since));
    Some(since)
}

/// The newest write the server made by itself to this environment.
fn last_action(state: &AppState, key: &str, env_name: &str) -> Option<AutomaticAction> {
    let prefix = format!("{key}/{env_name}:");
    state
        .store
        .audit()
        .iter()
        .rev()
        .find(|e| {
            e.author == SYSTEM
                && e.action.starts_with("auto-")
                && e.summary.iter().any(|l| l.starts_with(&prefix))
        })
        .map(|e| AutomaticAction {
            revision: e.revision,
            at: e.at.clone(),
            action: e.action.clone(),
            comment: e.comment.clone(),
            acknowledged: state
                .guard
                .acknowledged
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&e.revision)
                .cloned(),
        })
}
