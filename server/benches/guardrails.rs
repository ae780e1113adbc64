//! Guardrails benchmark: starts the release `stagegate` on a temp data directory
//! on loopback with a plan of `ROLLOUTS` rollouts × 4 stages (the default
//! rollout, copied), and measures, through the API only:
//!
//! - ingestion: `POST /api/metrics` batches of 50 counts, keep-alive connections;
//! - breach to kill switch: a breaching batch until `GET /client/staging.json`
//!   shows the kill switch on;
//! - memory: the server's RSS and `metrics.log` after 10 million counts
//!   across all 100 stages, and again after 10 million more.
//!
//! `cargo bench -p stagegate-server --bench guardrails` prints one line per case.
#![allow(clippy::unwrap_used)] // a benchmark that cannot run should stop loudly

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{
    Connection, Reply, Server, hammer_with, load_generator, percentile, post_json, start,
};
use serde_json::{Value, json};

/// Rollouts 0..20 take the breaches on an idle server, 20..40 those under
/// ingestion, 40..45 the ingestion; the memory case counts for 20..45.
const ROLLOUTS: usize = 45;
/// Each breach uses a rollout of its own (see `breaches`).
const BREACHES: usize = 20;
const LOADED_BREACHES_FROM: usize = 20;
const INGESTION_FROM: usize = 40;
/// 25 rollouts × 4 stages = 100 stages.
const MEMORY_FROM: usize = 20;
/// Keep-alive connections the ingestion cases send from: on 2 cores the server
/// takes more batches from 16 than from 64, so both are shown.
const INGEST_CONNECTIONS: [usize; 2] = [16, 64];
/// Connections sending batches while the breaches under load are measured,
/// and in the memory case.
const BACKGROUND_CONNECTIONS: usize = 16;
/// The live stage of every rollout in staging: 25 %.
const LIVE_STAGE: &str = "stage-2";
const STAGES: [&str; 4] = ["stage-1", "stage-2", "stage-3", "stage-4"];
/// Counts in one batch.
const BATCH: usize = 50;
/// 10,000,000 counts.
const MEMORY_BATCHES: usize = 200_000;

fn rollout(i: usize) -> String {
    format!("bench-{i:02}")
}

/// One count for staging.
fn item(rollout: &str, stage: &str, in_rollout: bool, event: &str, count: u64) -> Value {
    json!({ "rollout": rollout, "environment": "staging", "stage": stage,
            "inRollout": in_rollout, "event": event, "count": count })
}

/// The ten counts an app fleet reports for one stage in a few seconds, both
/// cohorts, `scale` times over: crash and sync failure rates alike in and out
/// (2 % and 1 %), exposures in proportion to 25 %. Healthy: no trigger acts.
fn healthy(rollout: &str, stage: &str, scale: u64, items: &mut Vec<Value>) {
    for (in_rollout, share) in [(true, 1), (false, 3)] {
        let n = scale * share;
        for (event, count) in [
            ("exposure", 2 * n),
            ("session", 50 * n),
            ("crash", n),
            ("syncOperation", 100 * n),
            ("syncFailure", n),
        ] {
            items.push(item(rollout, stage, in_rollout, event, count));
        }
    }
}

fn batch(items: Vec<Value>) -> String {
    json!({ "counts": items }).to_string()
}

fn get(path: &str, bearer: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {bearer}\r\n\r\n")
}

async fn expect(connection: &mut Connection, request: &str, status: u16) -> Reply {
    let reply = connection.exchange(request.as_bytes()).await;
    assert_eq!(
        reply.status,
        status,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    reply
}

/// The default rollout copied `ROLLOUTS` times (in place of it), then staging
/// moved to its 25 % stage in each, as a person would.
async fn plan_of_many_rollouts(server: &Server, admin: &mut Connection) {
    let reply = expect(admin, &get("/api/plan", &server.token), 200).await;
    let mut plan: Value = serde_json::from_slice(&reply.body).unwrap();
    let template = plan["rollouts"]["domain-migration"].clone();
    let mut rollouts = serde_json::Map::new();
    for i in 0..ROLLOUTS {
        let mut copy = template.clone();
        copy["salt"] = rollout(i).into();
        copy["environments"]["staging"]["activeStage"] = Value::Null;
        rollouts.insert(rollout(i), copy);
    }
    plan["rollouts"] = rollouts.into();
    let body = plan.to_string();
    let put = format!(
        "PUT /api/plan HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {}\r\nIf-Match: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        server.token,
        reply.etag.unwrap(),
        body.len()
    );
    expect(admin, &put, 200).await;
    for i in 0..ROLLOUTS {
        let path = format!("/api/rollouts/{}/environments/staging/stage", rollout(i));
        let body = json!({ "stage": LIVE_STAGE, "comment": "guardrails bench" }).to_string();
        expect(admin, &post_json(&path, &server.token, &body), 200).await;
    }
}

async fn ingest_key(server: &Server, admin: &mut Connection) -> String {
    let body = json!({ "environment": "staging", "name": "bench" }).to_string();
    let reply = expect(
        admin,
        &post_json("/api/ingest-keys", &server.token, &body),
        201,
    )
    .await;
    let created: Value = serde_json::from_slice(&reply.body).unwrap();
    created["key"].as_str().unwrap().to_string()
}

/// The ingestion case's batch: 50 counts over five rollout/stage pairs (two of
/// them late reports for the stage before the live one), five events, both
/// cohorts.
fn ingestion_batch(key: &str) -> String {
    let mut items = Vec::with_capacity(BATCH);
    for (i, stage) in [
        (0, LIVE_STAGE),
        (1, LIVE_STAGE),
        (2, LIVE_STAGE),
        (0, "stage-1"),
        (1, "stage-1"),
    ] {
        healthy(&rollout(INGESTION_FROM + i), stage, 1, &mut items);
    }
    assert_eq!(items.len(), BATCH);
    post_json("/api/metrics", key, &batch(items))
}

/// CPU time (user + system) of a process so far, from /proc/PID/stat.
fn cpu_time(pid: &str) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The fields after the command name, which is in parentheses.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // USER_HZ is 100 on Linux whatever the kernel's own tick.
    Duration::from_millis(ticks * 10)
}

/// Whether the client document shows the kill switch on for `rollout`.
fn killed(document: &[u8], rollout: &str) -> bool {
    let document: Value = serde_json::from_slice(document).unwrap();
    document["rollouts"][rollout]["environments"]["staging"]["killSwitch"] == true
}

/// Breach to kill switch, `BREACHES` times: a healthy baseline (over every
/// trigger's minimum sample), a pause for the decisions to settle on it, then a
/// batch whose in-rollout crash rate is far above the control's; the time from
/// sending it until `GET /client/staging.json`, polled every millisecond with
/// `If-None-Match`, shows the kill switch on.
///
/// A trigger counts from the start of the minute its stage became live again,
/// so a rollout whose kill switch is turned off in the minute of its breach is
/// rolled back again at once: each breach takes a rollout of its own instead.
async fn breaches(addr: SocketAddr, key: &str, first: usize) -> Vec<Duration> {
    let mut reporter = Connection::open(addr).await;
    let mut poller = Connection::open(addr).await;
    let document = "GET /client/staging.json HTTP/1.1\r\nHost: bench\r\n\r\n";
    let mut times = Vec::with_capacity(BREACHES);
    for i in first..first + BREACHES {
        let name = rollout(i);
        let mut baseline = Vec::new();
        healthy(&name, LIVE_STAGE, 400, &mut baseline);
        let baseline = post_json("/api/metrics", key, &batch(baseline));
        expect(&mut reporter, &baseline, 202).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let reply = expect(&mut poller, document, 200).await;
        assert!(
            !killed(&reply.body, &name),
            "{name} rolled back on healthy counts"
        );
        let mut etag = reply.etag.unwrap();
        // In: 10,000 more sessions with 1,500 crashes (6.3 % in all, against 2 %).
        let breach = batch(vec![
            item(&name, LIVE_STAGE, true, "exposure", 500),
            item(&name, LIVE_STAGE, true, "session", 10_000),
            item(&name, LIVE_STAGE, true, "crash", 1_500),
            item(&name, LIVE_STAGE, false, "exposure", 1_500),
            item(&name, LIVE_STAGE, false, "session", 30_000),
            item(&name, LIVE_STAGE, false, "crash", 600),
        ]);
        let breach = post_json("/api/metrics", key, &breach);
        let sent = Instant::now();
        expect(&mut reporter, &breach, 202).await;
        loop {
            assert!(
                sent.elapsed() < Duration::from_secs(15),
                "{name}: no rollback 15 s after the breach"
            );
            let conditional = format!(
                "GET /client/staging.json HTTP/1.1\r\nHost: bench\r\nIf-None-Match: {etag}\r\n\r\n"
            );
            let reply = poller.exchange(conditional.as_bytes()).await;
            if reply.status == 200 {
                if killed(&reply.body, &name) {
                    times.push(sent.elapsed());
                    break;
                }
                etag = reply.etag.unwrap();
            } else {
                assert_eq!(reply.status, 304);
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    times
}

/// `connections` connections sending `request` until `stop`: how many they sent.
fn background(
    addr: SocketAddr,
    request: String,
    connections: usize,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> Vec<tokio::task::JoinHandle<usize>> {
    (0..connections)
        .map(|_| {
            let (request, stop) = (request.clone(), stop.clone());
            tokio::spawn(async move {
                let mut connection = Connection::open(addr).await;
                let mut sent = 0;
                while !stop.load(Ordering::Relaxed) {
                    expect(&mut connection, &request, 202).await;
                    sent += 1;
                }
                sent
            })
        })
        .collect()
}

/// `total` batches from `BACKGROUND_CONNECTIONS` connections, each taking the
/// next of `requests` in turn; the time it took.
async fn send(addr: SocketAddr, requests: Arc<Vec<String>>, total: usize) -> Duration {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..BACKGROUND_CONNECTIONS)
        .map(|_| {
            let (requests, next) = (requests.clone(), next.clone());
            tokio::spawn(async move {
                let mut connection = Connection::open(addr).await;
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= total {
                        return;
                    }
                    expect(&mut connection, &requests[n % requests.len()], 202).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    started.elapsed()
}

/// Twenty batches that together count for every stage of every rollout: each
/// covers five stages (ten counts each: five events, both cohorts). With the
/// events the twenty batches count.
fn batches_over_every_stage(key: &str) -> (Vec<String>, u64) {
    let stages: Vec<(String, &str)> = (MEMORY_FROM..ROLLOUTS)
        .flat_map(|i| STAGES.iter().map(move |stage| (rollout(i), *stage)))
        .collect();
    let mut events = 0;
    let requests = stages
        .chunks(BATCH / 10)
        .map(|chunk| {
            let mut items = Vec::with_capacity(BATCH);
            for (name, stage) in chunk {
                healthy(name, stage, 1, &mut items);
            }
            events += items
                .iter()
                .map(|i| i["count"].as_u64().unwrap())
                .sum::<u64>();
            post_json("/api/metrics", key, &batch(items))
        })
        .collect();
    (requests, events)
}

fn log_bytes(data: &std::path::Path) -> u64 {
    std::fs::metadata(data.join("metrics.log")).map_or(0, |m| m.len())
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn main() {
    // `cargo bench` passes flags such as --bench; this harness takes none.
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let runtime = load_generator();
    runtime.block_on(async {
        let mut admin = Connection::open(server.addr).await;
        plan_of_many_rollouts(&server, &mut admin).await;
        let key = ingest_key(&server, &mut admin).await;
        let idle_rss = server.rss_kib();

        let mut times = breaches(server.addr, &key, 0).await;
        let (p50, p99) = (percentile(&mut times, 50), percentile(&mut times, 99));
        println!(
            "breaching batch → killSwitch in GET /client/staging.json, idle server: p50 {p50:.0} ms, p99 {p99:.0} ms ({BREACHES} breaches, staging at 25 %)"
        );

        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let started = Instant::now();
        let senders = background(
            server.addr,
            ingestion_batch(&key),
            BACKGROUND_CONNECTIONS,
            stop.clone(),
        );
        let mut times = breaches(server.addr, &key, LOADED_BREACHES_FROM).await;
        stop.store(true, Ordering::Relaxed);
        let mut sent = 0;
        for sender in senders {
            sent += sender.await.unwrap();
        }
        let rate = sent as f64 / started.elapsed().as_secs_f64();
        let (p50, p99) = (percentile(&mut times, 50), percentile(&mut times, 99));
        println!(
            "breaching batch → killSwitch in GET /client/staging.json, during ingestion ({rate:.0} batches/s on {BACKGROUND_CONNECTIONS} connections): p50 {p50:.0} ms, p99 {p99:.0} ms ({BREACHES} breaches)"
        );

        let server_pid = server.pid().to_string();
        for connections in INGEST_CONNECTIONS {
            let (server_cpu, own_cpu) = (cpu_time(&server_pid), cpu_time("self"));
            let started = Instant::now();
            let (rate, p99) =
                hammer_with(server.addr, ingestion_batch(&key), 202, connections).await;
            // The CPU times include the warm-up: count its batches at the same rate.
            let batches = rate * started.elapsed().as_secs_f64();
            let per_batch = |cpu: Duration| cpu.as_secs_f64() * 1e6 / batches;
            println!(
                "POST /api/metrics (50 counts per batch) 202, {connections} connections: {rate:.0} batches/s, p99 {p99:.2} ms ({:.2} M counts/s; CPU per batch: server {:.0} µs, load generator {:.0} µs)",
                rate * BATCH as f64 / 1e6,
                per_batch(cpu_time(&server_pid) - server_cpu),
                per_batch(cpu_time("self") - own_cpu),
            );
        }

        let (requests, events_per_round) = batches_over_every_stage(&key);
        let rounds = (MEMORY_BATCHES / requests.len()) as u64;
        let requests = Arc::new(requests);
        println!("memory: RSS {:.1} MiB idle with the plan", mib(idle_rss));
        for _ in 0..2 {
            let before = server.rss_kib();
            let took = send(server.addr, requests.clone(), MEMORY_BATCHES).await;
            // Let the flusher write what arrived (it runs every second).
            tokio::time::sleep(Duration::from_millis(1500)).await;
            println!(
                "memory: RSS {:.1} → {:.1} MiB over {} M more counts in {MEMORY_BATCHES} batches across 100 stages × 2 cohorts × 5 events ({} M events, {:.1} s); metrics.log {:.2} MiB",
                mib(before),
                mib(server.rss_kib()),
                MEMORY_BATCHES * BATCH / 1_000_000,
                rounds * events_per_round / 1_000_000,
                took.as_secs_f64(),
                log_bytes(dir.path()) as f64 / (1024.0 * 1024.0),
            );
        }
    });
}
