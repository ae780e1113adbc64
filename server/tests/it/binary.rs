//! The real binary over a real socket: end to end, and killed mid-write.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::http::request;
use serde_json::json;

const BINARY: &str = env!("CARGO_BIN_EXE_stagegate");

struct Running {
    child: Child,
    addr: SocketAddr,
    admin: Option<String>,
    _stdout: BufReader<ChildStdout>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `stagegate serve` on a free port and waits until it listens.
fn start(data: &Path) -> Running {
    let mut child = Command::new(BINARY)
        .args(["serve", "--addr", "127.0.0.1:0", "--console"])
        .arg(data.join("no-console"))
        .arg("--data")
        .arg(data)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut admin = None;
    let addr = loop {
        let mut line = String::new();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "server exited before listening"
        );
        if let Some(token) = line.trim().strip_prefix("admin token: ") {
            admin = Some(token.to_string());
        }
        if let Some(addr) = line.trim().strip_prefix("stagegate listening on http://") {
            break addr.parse().unwrap();
        }
    };
    Running {
        child,
        addr,
        admin,
        _stdout: stdout,
    }
}

#[test]
fn serves_over_a_real_socket() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let admin = server
        .admin
        .clone()
        .expect("first start prints the admin token");
    let bearer = format!("Bearer {admin}");

    let health = request(server.addr, "GET", "/healthz", &[], None).unwrap();
    assert_eq!(health.status, 200);
    assert_eq!(health.json()["revision"], 1);

    let plan = request(
        server.addr,
        "GET",
        "/api/plan",
        &[("Authorization", &bearer)],
        None,
    )
    .unwrap();
    assert_eq!(plan.status, 200);
    assert_eq!(plan.header("etag"), Some("\"1\""));
    assert_eq!(
        request(server.addr, "GET", "/api/plan", &[], None)
            .unwrap()
            .status,
        401
    );

    let client = request(server.addr, "GET", "/client/production.json", &[], None).unwrap();
    assert_eq!(client.status, 200);
    let etag = client.header("etag").unwrap().to_string();
    let again = request(
        server.addr,
        "GET",
        "/client/production.json",
        &[("If-None-Match", &etag)],
        None,
    )
    .unwrap();
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());

    let page = request(server.addr, "GET", "/rollouts/domain-migration", &[], None).unwrap();
    assert_eq!(page.status, 200);
    assert!(String::from_utf8_lossy(&page.body).contains("cargo xtask dist"));

    // `stagegate user add` while the server runs: the server notices the file
    // change (it checks four times a second) and the new token works.
    let output = Command::new(BINARY)
        .args(["user", "add", "quinn", "--role", "qa-lead", "--data"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(output.status.success());
    let stdout = String::from_utf8(output.stdout).unwrap();
    let token = stdout.lines().last().unwrap();
    let me = (0..40)
        .map(|_| {
            std::thread::sleep(std::time::Duration::from_millis(50));
            request(
                server.addr,
                "GET",
                "/api/me",
                &[("Authorization", &format!("Bearer {token}"))],
                None,
            )
            .unwrap()
        })
        .find(|reply| reply.status == 200)
        .expect("the CLI's new user is known within two seconds");
    assert_eq!(me.json()["role"], "qa-lead");
    drop(server);

    // A restart keeps the data and does not make another admin.
    let server = start(dir.path());
    assert!(server.admin.is_none());
    let plan = request(
        server.addr,
        "GET",
        "/api/plan",
        &[("Authorization", &bearer)],
        None,
    )
    .unwrap();
    assert_eq!(plan.status, 200);
}

/// Users made with the CLI before the first start: the directory gets the
/// default plan with them, so `serve` starts on it (a directory with users but
/// no revision looks like a lost history, which it refuses) and makes no admin.
#[test]
fn a_user_added_before_the_first_start() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let output = Command::new(BINARY)
        .args(["user", "add", "ada", "--role", "admin", "--data"])
        .arg(&data)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    let token = stdout.lines().last().unwrap();
    let server = start(&data);
    assert!(server.admin.is_none(), "ada is the admin");
    let bearer = format!("Bearer {token}");
    let plan = request(
        server.addr,
        "GET",
        "/api/plan",
        &[("Authorization", &bearer)],
        None,
    )
    .unwrap();
    assert_eq!(plan.status, 200);
    assert_eq!(plan.json()["revision"], 1);
}

/// One writer: read the current plan, change the description to a unique marker,
/// PUT it with If-Match; record every acknowledged (revision, marker). Returns
/// whether it ended because the server went away (rather than being stopped).
fn writer(
    addr: SocketAddr,
    bearer: String,
    id: usize,
    acked: Arc<Mutex<BTreeMap<u64, String>>>,
    stop: Arc<AtomicBool>,
) -> bool {
    let mut attempt = 0;
    while !stop.load(Ordering::Relaxed) {
        attempt += 1;
        let Ok(current) = request(
            addr,
            "GET",
            "/api/plan",
            &[("Authorization", &bearer)],
            None,
        ) else {
            return true;
        };
        let Some(etag) = current.header("etag").map(str::to_string) else {
            return true;
        };
        let mut plan = current.json();
        let marker = format!("writer {id} attempt {attempt}");
        plan["rollouts"]["domain-migration"]["description"] = json!(marker);
        let body = plan.to_string();
        let headers = [
            ("Authorization", bearer.as_str()),
            ("If-Match", &etag),
            ("Content-Type", "application/json"),
        ];
        match request(addr, "PUT", "/api/plan", &headers, Some(body.as_bytes())) {
            Ok(reply) if reply.status == 200 => {
                let revision = reply.json()["revision"].as_u64().unwrap();
                assert!(
                    acked.lock().unwrap().insert(revision, marker).is_none(),
                    "revision {revision} acknowledged twice"
                );
            }
            Ok(reply) => assert_eq!(
                reply.status,
                412,
                "{}",
                String::from_utf8_lossy(&reply.body)
            ),
            Err(_) => return true, // the server is gone
        }
    }
    false
}

#[test]
fn acknowledged_writes_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let mut acked_total: BTreeMap<u64, String> = BTreeMap::new();
    let mut admin = None;
    for round in 0..3 {
        let mut server = start(dir.path());
        if admin.is_none() {
            admin = server.admin.clone();
        }
        let bearer = format!("Bearer {}", admin.as_deref().unwrap());
        let acked = Arc::new(Mutex::new(BTreeMap::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let writers: Vec<_> = (0..6)
            .map(|id| {
                let (acked, stop, bearer) = (acked.clone(), stop.clone(), bearer.clone());
                let addr = server.addr;
                std::thread::spawn(move || writer(addr, bearer, id, acked, stop))
            })
            .collect();
        // Kill once enough writes are through, while the writers are mid-stream.
        let started = Instant::now();
        while acked.lock().unwrap().len() < 15 + round * 5
            && started.elapsed() < Duration::from_secs(20)
        {
            std::thread::sleep(Duration::from_millis(2));
        }
        server.child.kill().unwrap(); // SIGKILL on Unix
        server.child.wait().unwrap();
        stop.store(true, Ordering::Relaxed);
        // The stop flag is raised only after the kill, so the writers were still
        // writing when the server died: they end on failed requests (one that had
        // just read a reply may see the flag first, so not necessarily all).
        let cut_off = writers
            .into_iter()
            .map(|handle| handle.join().unwrap())
            .filter(|&cut_off| cut_off)
            .count();
        assert!(
            cut_off > 0,
            "round {round}: no writer was cut off by the kill"
        );
        let acked = Arc::try_unwrap(acked).unwrap().into_inner().unwrap();
        assert!(
            !acked.is_empty(),
            "round {round}: no write was acknowledged"
        );
        acked_total.extend(acked);

        // Restart on the same directory: every acknowledged write is there.
        let server = start(dir.path());
        for (revision, marker) in &acked_total {
            let reply = request(
                server.addr,
                "GET",
                &format!("/api/revisions/{revision}"),
                &[("Authorization", &bearer)],
                None,
            )
            .unwrap();
            assert_eq!(reply.status, 200, "revision {revision} lost");
            assert_eq!(
                reply.json()["rollouts"]["domain-migration"]["description"],
                marker.as_str()
            );
        }
        let current = request(server.addr, "GET", "/healthz", &[], None)
            .unwrap()
            .json()["revision"]
            .as_u64()
            .unwrap();
        assert!(current >= *acked_total.keys().last().unwrap());
        drop(server);

        // Every stored revision parses and validates, numbered 1..=current with no gap,
        // and recovery left no temp file behind.
        let revisions = dir.path().join("revisions");
        let mut names: Vec<String> = std::fs::read_dir(&revisions)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert!(
            names.iter().all(|name| name.ends_with(".json")),
            "{names:?}"
        );
        assert_eq!(names.len() as u64, current);
        for number in 1..=current {
            let file = stagegate_server::store::read_revision(&revisions, number).unwrap();
            assert_eq!(file.audit.revision, number);
        }
    }
}
