//! `stagegate simulate`: many app users reporting to a running server, through
//! the same wire format and counting rules as the npm reporter (SPEC.md,
//! "Reports"), so a regression can be watched from first report to rollback.
//!
//! Each round (every `--interval-ms`): fetch the environment's client document
//! (it carries the stage and the kill switch, as an app sees them), evaluate
//! every simulated user `user-{i}` with the native evaluator, count exposures
//! (once per user per stage and cohort), sessions, crashes (Bernoulli per session
//! with the cohort's rate), sync operations and failures, post them to
//! `POST /api/metrics`, and print a line.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Args;
use evaluator::bucket::basis_points;
use evaluator::{Evaluator, KeyOnly, Reason};
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, ETAG, IF_NONE_MATCH, USER_AGENT};
use hyper::{Method, Request, StatusCode};
use serde_json::Value;

/// Items in one request: the server refuses more (`POST /api/metrics`).
pub const MAX_ITEMS: usize = 1000;
/// Sync operations in one session (each may fail with the cohort's rate).
pub const SYNC_OPERATIONS_PER_SESSION: u32 = 4;
/// The events counted, in the order of a `Row`'s counts.
pub const EVENTS: [&str; 5] = [
    "exposure",
    "session",
    "crash",
    "syncOperation",
    "syncFailure",
];
const EXPOSURE: usize = 0;
const SESSION: usize = 1;
const CRASH: usize = 2;
const SYNC_OPERATION: usize = 3;
const SYNC_FAILURE: usize = 4;

const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a request is retried (server restarting, network gone) before the
/// simulation gives up.
const RETRY_FOR: Duration = Duration::from_secs(30);
/// How long a refused ingest key is tried again at the start (see `check_key`).
const NEW_KEY_GRACE: Duration = Duration::from_secs(3);
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// The most of an answer read (a client document or a guardrail report).
const MAX_ANSWER_BYTES: usize = 16 * 1024 * 1024;
mod client;
mod population;

use client::*;
pub use population::*;

const USER_AGENT_VALUE: &str = concat!("stagegate-simulate/", env!("CARGO_PKG_VERSION"));

/// The flags of `stagegate simulate`.
#[derive(Args, Debug, Clone)]
pub struct SimulateArgs {
    /// The server, e.g. http://127.0.0.1:8080.
    #[arg(long, value_parser = parse_url)]
    pub url: String,
    /// An ingest key for `--env` (`stagegate ingest-key create`).
    #[arg(long, value_parser = parse_ingest_key)]
    pub ingest_key: String,
    /// The rollout the users evaluate, e.g. domain-migration.
    #[arg(long, value_parser = parse_name)]
    pub rollout: String,
    /// The environment: its client document is fetched, its key reports.
    #[arg(long, value_parser = parse_name)]
    pub env: String,
    /// Simulated users, `user-0` to `user-{N-1}`; each has its sessions every round.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    pub users: u32,
    /// Probability that a session of a user in the rollout crashes (0 to 1).
    #[arg(long, value_parser = parse_rate)]
    pub crash_rate_in: f64,
    /// Probability that a session of a user out of the rollout (the control) crashes.
    #[arg(long, value_parser = parse_rate)]
    pub crash_rate_out: f64,
    /// Probability that a sync operation fails, in the rollout.
    #[arg(long, value_parser = parse_rate, default_value = "0.01")]
    pub sync_failure_rate_in: f64,
    /// Probability that a sync operation fails, out of the rollout.
    #[arg(long, value_parser = parse_rate, default_value = "0.01")]
    pub sync_failure_rate_out: f64,
    /// Sessions each user has per round.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub sessions_per_user: u32,
    /// Time between rounds.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(10..=3_600_000))]
    pub interval_ms: u64,
    /// How long to run (`90s`, `2m`, `500ms`; a plain number is seconds). With
    /// `--until-rollback`, how long to wait for the rollback before failing.
    #[arg(long, default_value = "120s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Stop (exit 0) once the client document shows the kill switch on.
    #[arg(long)]
    pub until_rollback: bool,
    /// Seed of the random crashes and failures: the same seed, the same run.
    #[arg(long)]
    pub seed: Option<u64>,
    /// A user's token, to print the server's guardrail verdicts each round.
    #[arg(long)]
    pub token: Option<String>,
}

fn parse_url(text: &str) -> Result<String, String> {
    let base = text.trim_end_matches('/');
    let uri: hyper::Uri = base
        .parse()
        .map_err(|error| format!("'{text}' is not a URL: {error}"))?;
    let scheme_ok = matches!(uri.scheme_str(), Some("http" | "https"));
    if !scheme_ok || uri.authority().is_none() || uri.query().is_some() {
        return Err(format!(
            "'{text}' must be http:// or https:// with a host, e.g. http://127.0.0.1:8080"
        ));
    }
    Ok(base.to_string())
}

fn parse_ingest_key(text: &str) -> Result<String, String> {
    let key = text.trim();
    if !key.starts_with(crate::app_keys::PREFIX) || key.chars().any(char::is_control) {
        return Err(format!(
            "an ingest key starts with '{}' (make one with `stagegate ingest-key create`)",
            crate::app_keys::PREFIX
        ));
    }
    Ok(key.to_string())
}

/// Rollout and environment names, as a plan allows them (so they fit a path).
fn parse_name(text: &str) -> Result<String, String> {
    let ok = !text.is_empty()
        && text.len() <= 64
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(text.to_string())
    } else {
        Err(format!(
            "'{text}' must be 1–64 letters, digits, '-', '_' or '.'"
        ))
    }
}

fn parse_rate(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(rate) if (0.0..=1.0).contains(&rate) => Ok(rate),
        _ => Err(format!(
            "'{text}' must be a probability from 0 to 1, e.g. 0.02"
        )),
    }
}

/// `500ms`, `90s`, `2m`, `1h`, or a plain number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let scale = match unit {
        "ms" => 0.001,
        "" | "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        _ => {
            return Err(format!(
                "'{text}' must be a duration such as 500ms, 90s, 2m or 1h"
            ));
        }
    };
    let seconds = number
        .parse::<f64>()
        .ok()
        .map(|n| n * scale)
        .filter(|s| s.is_finite() && *s > 0.0 && *s <= 366.0 * 86_400.0)
        .ok_or_else(|| {
            format!("'{text}' must be a duration above 0 and at most a year, e.g. 90s")
        })?;
    Ok(Duration::from_secs_f64(seconds))
}

/// Counts the server took, since the start.
#[derive(Default)]
struct Totals {
    sessions: [u64; 2],
    crashes: [u64; 2],
    requests: u64,
}

impl Totals {
    fn add(&mut self, tally: &Tally) {
        for (cohort, in_rollout) in [true, false].into_iter().enumerate() {
            self.sessions[cohort] += tally.total(in_rollout, EVENTS[SESSION]);
            self.crashes[cohort] += tally.total(in_rollout, EVENTS[CRASH]);
        }
    }

    fn sessions_in_words(&self) -> String {
        format!(
            "{} sessions ({} in the rollout, {} in the control)",
            self.sessions[0] + self.sessions[1],
            self.sessions[0],
            self.sessions[1]
        )
    }
}

/// Runs the simulation to its end; the error is the message to print.
pub fn run(args: SimulateArgs) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| format!("starting the runtime: {error}"))?;
    runtime.block_on(simulate(args))
}

async fn simulate(args: SimulateArgs) -> Result<(), String> {
    let seed = match args.seed {
        Some(seed) => seed,
        None => getrandom::u64().map_err(|error| format!("choosing a seed: {error}"))?,
    };
    let rates = Rates {
        crash: [args.crash_rate_in, args.crash_rate_out],
        sync_failure: [args.sync_failure_rate_in, args.sync_failure_rate_out],
    };
    let server = Server::new(&args)?;
    let mut population = Population::new(args.users, args.sessions_per_user, rates, seed);
    println!(
        "simulating {} users of {} in {} against {} every {} ms (seed {seed})",
        args.users, args.rollout, args.env, args.url, args.interval_ms
    );
    check_key(&server).await?;
    let started = Instant::now();
    let mut ticks = tokio::time::interval(Duration::from_millis(args.interval_ms));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut document: Option<(Evaluator, Option<String>)> = None;
    let mut totals = Totals::default();
    let mut round = 0u64;
    let mut show_verdicts = args.token.is_some();
    loop {
        ticks.tick().await;
        if started.elapsed() >= args.duration {
            break;
        }
        round += 1;
        let etag = document.as_ref().and_then(|(_, etag)| etag.clone());
        let fetched = retrying(|| server.client_document(&args.env, etag.as_deref())).await?;
        if let Some(new) = fetched {
            document = Some(new);
        }
        let Some((evaluator, _)) = &document else {
            return Err(format!(
                "--url: {} answered 304 to a first request",
                args.url
            ));
        };
        let live = Live::of(evaluator, &args.rollout, &args.env)?;
        if round == 1 {
            check_start(&args, &live)?;
        }
        if live.kill_switch && args.until_rollback {
            println!(
                "rolled back: the kill switch of {} is on (revision {}) after {} in {} round(s), {:.1} s",
                args.env,
                live.revision,
                totals.sessions_in_words(),
                round - 1,
                started.elapsed().as_secs_f64()
            );
            if let Some(Ok(report)) = server.guardrails(&args.rollout, &args.env).await
                && let Some(comment) = report["lastAction"]["comment"].as_str()
            {
                println!("why: {comment}");
            }
            return Ok(());
        }
        let tally = population.round(evaluator, &args.rollout, &args.env);
        let items = tally.items(&args.rollout, &args.env);
        for body in bodies(&items) {
            retrying(|| server.post_counts(body.clone())).await?;
            totals.requests += 1;
        }
        totals.add(&tally);
        let mut line = round_line(started, round, &live, &tally, items.len());
        if show_verdicts {
            match server.guardrails(&args.rollout, &args.env).await {
                Some(Ok(report)) => line.push_str(&verdicts(&report)),
                Some(Err(error)) => {
                    eprintln!(
                        "stagegate simulate: --token: cannot read the verdicts ({error}); going on without them"
                    );
                    show_verdicts = false;
                }
                None => {}
            }
        }
        println!("{line}");
    }
    if args.until_rollback {
        return Err(format!(
            "--until-rollback: no rollback within {:.0} s ({} sent); raise --duration, --users or the difference in crash rates",
            args.duration.as_secs_f64(),
            totals.sessions_in_words()
        ));
    }
    println!(
        "done after {} round(s), {:.1} s: {} and {} crashes ({} in the rollout) in {} request(s)",
        round,
        started.elapsed().as_secs_f64(),
        totals.sessions_in_words(),
        totals.crashes[0] + totals.crashes[1],
        totals.crashes[0],
        totals.requests
    );
    Ok(())
}

/// Refuses a run that cannot show what it was asked to; notes what limits it.
fn check_start(args: &SimulateArgs, live: &Live) -> Result<(), String> {
    if live.kill_switch && args.until_rollback {
        return Err(format!(
            "--until-rollback: the kill switch of {} is already on; turn it off first",
            args.env
        ));
    }
    match &live.stage {
        None => println!(
            "note: {} has no active stage: apps get the fallbacks and report nothing; move it to a stage",
            args.env
        ),
        Some(stage) if live.basis_points >= 10_000 => println!(
            "note: {stage} is at 100 %: there is no control cohort, so no comparison with control can decide; move {} to a stage below 100 %",
            args.env
        ),
        Some(_) => {}
    }
    Ok(())
}

fn round_line(started: Instant, round: u64, live: &Live, tally: &Tally, items: usize) -> String {
    let stage = live.stage.as_deref().unwrap_or("no stage");
    let percent = f64::from(live.basis_points) / 100.0;
    let switch = if live.kill_switch { "on" } else { "off" };
    let count = |event: usize| {
        [
            tally.total(true, EVENTS[event]),
            tally.total(false, EVENTS[event]),
        ]
    };
    let [sessions, crashes, operations, failures] =
        [SESSION, CRASH, SYNC_OPERATION, SYNC_FAILURE].map(count);
    format!(
        "[{:6.1}s] round {round}: {stage} ({percent}%), kill switch {switch}; sent {items} counts: \
         sessions {}/{}, crashes {}/{}, sync {}/{} failed {}/{} (in/out)",
        started.elapsed().as_secs_f64(),
        sessions[0],
        sessions[1],
        crashes[0],
        crashes[1],
        operations[0],
        operations[1],
        failures[0],
        failures[1],
    )
}

/// `; crashRate breached, syncFailureRate healthy, …` from a guardrail report.
fn verdicts(report: &Value) -> String {
    let Some(triggers) = report["triggers"].as_array() else {
        return String::new();
    };
    let states: Vec<String> = triggers
        .iter()
        .map(|t| {
            format!(
                "{} {}",
                t["metric"].as_str().unwrap_or("?"),
                t["state"].as_str().unwrap_or("?")
            )
        })
        .collect();
    if states.is_empty() {
        String::new()
    } else {
        format!("; {}", states.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULT_PLAN: &str = include_str!("../../../static/default-plan.json");

    /// The default plan with staging at `stage` and the kill switch as given.
    fn evaluator_at(stage: &str, kill_switch: bool, include: &[&str]) -> Evaluator {
        let mut plan: Value = serde_json::from_str(DEFAULT_PLAN).unwrap();
        let staging = &mut plan["rollouts"]["domain-migration"]["environments"]["staging"];
        staging["activeStage"] = stage.into();
        staging["killSwitch"] = kill_switch.into();
        staging["include"] = include.to_vec().into();
        Evaluator::from_json(&plan.to_string()).unwrap()
    }

    fn rates(crash_in: f64, crash_out: f64) -> Rates {
        Rates {
            crash: [crash_in, crash_out],
            sync_failure: [0.0, 0.0],
        }
    }

    #[test]
    fn exposures_count_once_per_user_per_stage_and_cohort() {
        let mut population = Population::new(2000, 3, rates(0.0, 0.0), 1);
        let stage2 = evaluator_at("stage-2", false, &[]);
        let first = population.round(&stage2, "domain-migration", "staging");
        let (exposed_in, exposed_out) = (
            first.total(true, "exposure"),
            first.total(false, "exposure"),
        );
        assert_eq!(exposed_in + exposed_out, 2000);
        // 25 %: about 500 users in (the hash split, not exactly).
        assert!((400..600).contains(&exposed_in), "{exposed_in}");
        assert_eq!(first.total(true, "session"), 3 * exposed_in);
        assert_eq!(first.total(true, "syncOperation"), 3 * 4 * exposed_in);
        let second = population.round(&stage2, "domain-migration", "staging");
        assert_eq!(
            second.total(true, "exposure") + second.total(false, "exposure"),
            0
        );
        assert_eq!(second.total(false, "session"), 3 * exposed_out);
        // A new stage: everyone is exposed again, some now in the rollout.
        let stage3 = evaluator_at("stage-3", false, &[]);
        let third = population.round(&stage3, "domain-migration", "staging");
        assert_eq!(
            third.total(true, "exposure") + third.total(false, "exposure"),
            2000
        );
        assert!(third.total(true, "exposure") > exposed_in);
        assert!(third.rows.iter().all(|r| r.stage == "stage-3"));
    }

    #[test]
    fn only_split_answers_are_counted() {
        let mut population = Population::new(100, 1, rates(0.5, 0.5), 1);
        let listed = evaluator_at("stage-2", false, &["user-1", "user-2"]);
        let tally = population.round(&listed, "domain-migration", "staging");
        assert_eq!(
            tally.total(true, "session") + tally.total(false, "session"),
            98
        );
        let killed = evaluator_at("stage-2", true, &[]);
        assert_eq!(
            population.round(&killed, "domain-migration", "staging"),
            Tally::default()
        );
    }

    #[test]
    fn crashes_follow_each_cohorts_rate_and_the_seed_repeats_the_run() {
        let stage = evaluator_at("stage-3", false, &[]);
        let run = |seed| {
            Population::new(20_000, 1, rates(0.10, 0.02), seed).round(
                &stage,
                "domain-migration",
                "staging",
            )
        };
        let tally = run(7);
        let rate = |in_rollout| {
            tally.total(in_rollout, "crash") as f64 / tally.total(in_rollout, "session") as f64
        };
        // ~10,000 sessions a cohort: a standard error of 0.3 points at 10 %.
        assert!((rate(true) - 0.10).abs() < 0.012, "{}", rate(true));
        assert!((rate(false) - 0.02).abs() < 0.006, "{}", rate(false));
        assert_eq!(run(7), tally);
        assert_ne!(run(8), tally);
    }

    #[test]
    fn batches_hold_at_most_the_servers_limit_and_big_counts_are_split() {
        let row = |i: usize| Row {
            stage: format!("s{i}"),
            in_rollout: true,
            counts: [1, 1, 1, 1, 1],
        };
        let tally = Tally {
            rows: (0..401).map(row).collect(),
        };
        let items = tally.items("r", "staging");
        assert_eq!(items.len(), 2005);
        let bodies = bodies(&items);
        let sizes: Vec<usize> = bodies
            .iter()
            .map(|b| {
                serde_json::from_slice::<Value>(b).unwrap()["counts"]
                    .as_array()
                    .unwrap()
                    .len()
            })
            .collect();
        assert_eq!(sizes, [1000, 1000, 5]);
        let first: Value = serde_json::from_slice(&bodies[0]).unwrap();
        assert_eq!(
            first["counts"][0],
            serde_json::json!({"rollout": "r", "environment": "staging", "stage": "s0", "inRollout": true, "event": "exposure", "count": 1})
        );
        let huge = Tally {
            rows: vec![Row {
                stage: "s".into(),
                in_rollout: false,
                counts: [0, u64::from(u32::MAX) + 5, 0, 0, 0],
            }],
        };
        let counts: Vec<u64> = huge.items("r", "e").iter().map(|i| i.count).collect();
        assert_eq!(counts, [u64::from(u32::MAX), 5]);
    }

    #[test]
    fn durations_and_flags_are_read_or_refused_with_a_reason() {
        assert_eq!(parse_duration("120s"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        for bad in ["", "0s", "-1s", "5 parsecs", "1e9h", "s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_rate("0.1"), Ok(0.1));
        assert!(parse_rate("1.5").is_err() && parse_rate("NaN").is_err());
        assert_eq!(
            parse_url("http://127.0.0.1:8080/").as_deref(),
            Ok("http://127.0.0.1:8080")
        );
        assert!(parse_url("127.0.0.1:8080").is_err() && parse_url("ftp://x").is_err());
        assert!(parse_ingest_key("sg_admin-token").is_err());
        assert!(parse_name("stag ing").is_err() && parse_name("staging").is_ok());
    }

    #[test]
    fn the_client_documents_live_state_is_read_and_unknown_names_are_named() {
        let staging = evaluator_at("stage-2", true, &[]);
        let live = Live::of(&staging, "domain-migration", "staging").unwrap();
        assert_eq!(
            (live.stage.as_deref(), live.basis_points, live.kill_switch),
            (Some("stage-2"), 2500, true)
        );
        assert!(
            Live::of(&staging, "nope", "staging")
                .unwrap_err()
                .starts_with("--rollout")
        );
        assert!(
            Live::of(&staging, "domain-migration", "qa")
                .unwrap_err()
                .starts_with("--env")
        );
    }
}
