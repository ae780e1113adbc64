//! The reported counts on disk, with the real binary: what a SIGKILL may lose
//! (at most `FLUSH_INTERVAL` of acknowledged counts, plus the write's own time),
//! that nothing is counted twice, that a clean stop loses nothing, and that a
//! torn last line of `metrics.log` does not stop the server.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use stagegate_server::metrics::{FLUSH_INTERVAL, LOG_FILE};

use crate::common::http::{Response, request};

pub(crate) const BINARY: &str = env!("CARGO_BIN_EXE_stagegate");
pub(crate) const ROLLOUT: &str = "domain-migration";

/// `stagegate serve` on a temp data directory and a free port.
pub(crate) struct Served {
    child: Child,
    pub addr: SocketAddr,
    /// The admin's token, printed on the first start only.
    pub admin: Option<String>,
    /// What the server printed before it listened.
    pub notes: Vec<String>,
    _stdout: BufReader<ChildStdout>,
}

impl Served {
    pub fn start(data: &Path) -> Served {
        let mut child = Command::new(BINARY)
            .args(["serve", "--addr", "127.0.0.1:0", "--console"])
            .arg(data.join("no-console"))
            .arg("--data")
            .arg(data)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut notes = Vec::new();
        let addr = loop {
            let mut line = String::new();
            assert!(
                stdout.read_line(&mut line).unwrap() > 0,
                "server exited before listening: {notes:?}"
            );
            if let Some(addr) = line.trim().strip_prefix("stagegate listening on http://") {
                break addr.parse().unwrap();
            }
            notes.push(line.trim().to_string());
        };
        let admin = notes
            .iter()
            .find_map(|n| n.strip_prefix("admin token: "))
            .map(str::to_string);
        Served {
            child,
            addr,
            admin,
            notes,
            _stdout: stdout,
        }
    }

    /// SIGKILL: no flush, no goodbye.
    pub fn sigkill(mut self) {
        self.child.kill().unwrap(); // SIGKILL on Unix
        self.child.wait().unwrap();
    }

    /// SIGTERM, then the exit status once the server has stopped by itself.
    pub fn sigterm(mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "no exit within 20 s of SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Makes an ingest key with the CLI; returns its id and the key.
pub(crate) fn cli_ingest_key(data: &Path, env: &str) -> (String, String) {
    let output = Command::new(BINARY)
        .args([
            "ingest-key",
            "create",
            "--env",
            env,
            "--name",
            "test",
            "--data",
        ])
        .arg(data)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let id = stdout.split_whitespace().nth(3).unwrap().to_string();
    (id, stdout.lines().last().unwrap().to_string())
}

pub(crate) fn post_counts(addr: SocketAddr, key: &str, body: &Value) -> Response {
    let authorization = format!("Bearer {key}");
    let headers = [
        ("Authorization", authorization.as_str()),
        ("Content-Type", "application/json"),
    ];
    request(
        addr,
        "POST",
        "/api/metrics",
        &headers,
        Some(body.to_string().as_bytes()),
    )
    .unwrap()
}

/// Waits until the running server takes `key` (it re-reads the keys file every
/// `FLUSH_INTERVAL`); returns how long that took.
pub(crate) fn until_key_works(addr: SocketAddr, key: &str) -> Duration {
    let started = Instant::now();
    loop {
        let status = post_counts(addr, key, &json!({ "counts": [] })).status;
        if status == 202 {
            return started.elapsed();
        }
        assert_eq!(status, 401);
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "the new key was not taken within 3 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub(crate) fn get(addr: SocketAddr, token: &str, path: &str) -> Value {
    let authorization = format!("Bearer {token}");
    let reply = request(
        addr,
        "GET",
        path,
        &[("Authorization", authorization.as_str())],
        None,
    )
    .unwrap();
    assert_eq!(
        reply.status,
        200,
        "{path}: {}",
        String::from_utf8_lossy(&reply.body)
    );
    reply.json()
}

/// `n` exposures in the rollout at staging's live stage (stage 4 in the default
/// plan): a count no trigger acts on.
fn exposures(n: u64) -> Value {
    json!({ "counts": [{ "rollout": ROLLOUT, "environment": "staging", "stage": "stage-4",
                         "inRollout": true, "event": "exposure", "count": n }] })
}

/// The exposures the server holds for staging's live stage.
fn counted(addr: SocketAddr, admin: &str) -> u64 {
    get(addr, admin, &format!("/api/guardrails/{ROLLOUT}/staging"))["exposures"][0]
        .as_u64()
        .unwrap()
}

/// Posts `batches` acknowledged batches; their total.
fn post_batches(addr: SocketAddr, key: &str, batches: u64) -> u64 {
    (0..batches)
        .map(|i| {
            let n = 1 + i % 7;
            assert_eq!(post_counts(addr, key, &exposures(n)).status, 202);
            n
        })
        .sum()
}

#[test]
fn a_sigkill_loses_at_most_the_flush_interval_of_acknowledged_counts_and_counts_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let server = Served::start(dir.path());
    let admin = server.admin.clone().unwrap();
    let (_, key) = cli_ingest_key(dir.path(), "staging");
    until_key_works(server.addr, &key);
    // A steady stream for 2.5 s, each batch's acknowledgement timed.
    let mut acknowledged: Vec<(Instant, u64)> = Vec::new();
    let started = Instant::now();
    let mut i = 0;
    while started.elapsed() < Duration::from_millis(2500) {
        let n = 1 + i % 7;
        i += 1;
        let reply = post_counts(server.addr, &key, &exposures(n));
        assert_eq!(
            reply.status,
            202,
            "{}",
            String::from_utf8_lossy(&reply.body)
        );
        acknowledged.push((Instant::now(), n));
        std::thread::sleep(Duration::from_millis(5));
    }
    let killed_at = Instant::now();
    server.sigkill();

    let server = Served::start(dir.path());
    let restored = counted(server.addr, &admin);
    let total: u64 = acknowledged.iter().map(|(_, n)| n).sum();
    let bound = FLUSH_INTERVAL + Duration::from_millis(500);
    let must_survive: u64 = acknowledged
        .iter()
        .filter(|(at, _)| killed_at.duration_since(*at) > bound)
        .map(|(_, n)| n)
        .sum();
    let lost = total - restored.min(total);
    let lost_window = acknowledged
        .iter()
        .rev()
        .scan(0, |sum, (at, n)| {
            *sum += n;
            Some((*sum, killed_at.duration_since(*at)))
        })
        .find(|(sum, _)| *sum >= lost)
        .map_or(Duration::ZERO, |(_, ago)| ago);
    eprintln!(
        "SIGKILL: {} batches, {total} counts acknowledged, {restored} restored, {lost} lost \
         (the last ~{} ms before the kill; bound {} ms)",
        acknowledged.len(),
        lost_window.as_millis(),
        bound.as_millis()
    );
    assert!(
        restored >= must_survive,
        "restored {restored}, but {must_survive} were acknowledged more than {bound:?} before the kill"
    );
    assert!(
        restored <= total,
        "restored {restored} of {total}: something was counted twice"
    );
    assert!(
        must_survive > 0,
        "the stream ran long enough to test the bound"
    );
}

#[test]
fn a_clean_stop_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = Served::start(dir.path());
    let admin = server.admin.clone().unwrap();
    let (_, key) = cli_ingest_key(dir.path(), "staging");
    until_key_works(server.addr, &key);
    // Straight into the stop: most of these are not yet on disk.
    let total = post_batches(server.addr, &key, 200);
    assert_eq!(counted(server.addr, &admin), total);
    assert!(server.sigterm().success());
    let server = Served::start(dir.path());
    assert_eq!(counted(server.addr, &admin), total);
}

#[test]
fn a_torn_last_line_of_the_log_is_skipped_and_the_rest_served() {
    // About metrics.log alone, and the same on either run; on PostgreSQL,
    // shared_counts covers what a failed write leaves (counts stay pending).
    if crate::common::on_postgres() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = Served::start(dir.path());
    let admin = server.admin.clone().unwrap();
    let (_, key) = cli_ingest_key(dir.path(), "staging");
    until_key_works(server.addr, &key);
    let total = post_batches(server.addr, &key, 20);
    assert!(server.sigterm().success());
    // A write cut short: half a line, no newline.
    let mut log = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.path().join(LOG_FILE))
        .unwrap();
    log.write_all(b"{\"k\":\"1\\u0000domain-migration\\u0000stag")
        .unwrap();
    drop(log);

    let server = Served::start(dir.path());
    assert!(
        server
            .notes
            .iter()
            .any(|n| n.contains("skipped 1 unreadable line")),
        "{:?}",
        server.notes
    );
    assert_eq!(counted(server.addr, &admin), total);
    // Counts after the torn line are kept too, across another restart.
    let more = post_batches(server.addr, &key, 10);
    assert!(server.sigterm().success());
    let server = Served::start(dir.path());
    assert_eq!(counted(server.addr, &admin), total + more);
}
