//! `stagegate ingest-key` and `stagegate simulate` against the real binary: a
//! regression rolls back by itself; a healthy run does not.

use std::io::Read;
use std::net::SocketAddr;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::http::request;
use crate::durability::{
    BINARY, ROLLOUT, Served, cli_ingest_key, get, post_counts, until_key_works,
};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs the binary, killing it if it takes longer than `limit`.
fn run_within(args: &[&str], limit: Duration) -> (Output, Duration) {
    let started = Instant::now();
    let mut child = Command::new(BINARY)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Drained on threads so a chatty child never blocks on a full pipe.
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stdout.read_to_end(&mut bytes);
        bytes
    });
    let err = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stderr.read_to_end(&mut bytes);
        bytes
    });
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{args:?} did not finish within {limit:?}: {}",
                text(&out.join().unwrap())
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let output = Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    };
    (output, started.elapsed())
}

/// Staging moved to `stage` through the API, as a person would.
fn staging_at(addr: SocketAddr, admin: &str, stage: &str) {
    let authorization = format!("Bearer {admin}");
    let body = json!({ "stage": stage, "comment": "watch the guardrails" }).to_string();
    let headers = [
        ("Authorization", authorization.as_str()),
        ("Content-Type", "application/json"),
    ];
    let path = format!("/api/rollouts/{ROLLOUT}/environments/staging/stage");
    let reply = request(addr, "POST", &path, &headers, Some(body.as_bytes())).unwrap();
    assert_eq!(reply.status, 200, "{}", text(&reply.body));
}

/// A server with staging at stage 2 (25 %) and an ingest key for it, made on
/// the command line (so the server may not know it yet).
fn stage_two_server(dir: &std::path::Path) -> (Served, String, String) {
    let server = Served::start(dir);
    let admin = server.admin.clone().unwrap();
    staging_at(server.addr, &admin, "stage-2");
    let (_, key) = cli_ingest_key(dir, "staging");
    (server, admin, key)
}

fn simulate_args<'a>(
    url: &'a str,
    key: &'a str,
    rates: [&'a str; 2],
    rest: &[&'a str],
) -> Vec<&'a str> {
    let mut args = vec![
        "simulate",
        "--url",
        url,
        "--ingest-key",
        key,
        "--rollout",
        ROLLOUT,
        "--env",
        "staging",
        "--users",
        "4000",
        "--interval-ms",
        "200",
        "--seed",
        "11",
        "--crash-rate-in",
        rates[0],
        "--crash-rate-out",
        rates[1],
    ];
    args.extend_from_slice(rest);
    args
}

#[test]
fn a_simulated_regression_rolls_staging_back_and_simulate_stops_there() {
    let dir = tempfile::tempdir().unwrap();
    let (server, admin, key) = stage_two_server(dir.path());
    let url = format!("http://{}", server.addr);
    let args = simulate_args(
        &url,
        &key,
        ["0.10", "0.02"],
        &["--until-rollback", "--duration", "60s", "--token", &admin],
    );
    let (output, took) = run_within(&args, Duration::from_secs(70));
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", text(&output.stderr));
    assert!(took < Duration::from_secs(60), "took {took:?}");
    let summary = stdout
        .lines()
        .find(|l| l.starts_with("rolled back: "))
        .unwrap_or_else(|| panic!("{stdout}"));
    eprintln!("{summary} (wall {took:?})");
    assert!(
        stdout.contains("why: Automatic rollback: trigger crashRate breached"),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.contains("round 1: stage-2 (25%), kill switch off")),
        "{stdout}"
    );

    let plan = get(server.addr, &admin, "/api/plan");
    assert_eq!(
        plan["rollouts"][ROLLOUT]["environments"]["staging"]["killSwitch"],
        true
    );
    let audit = get(server.addr, &admin, "/api/audit");
    let entry = audit
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "auto-rollback")
        .unwrap_or_else(|| panic!("{audit}"));
    assert_eq!(entry["author"], "stagegate");
    assert!(
        entry["comment"].as_str().unwrap().contains("crashRate"),
        "{entry}"
    );
    // One rollback, whatever arrived after it.
    let rollbacks = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "auto-rollback")
        .count();
    assert_eq!(rollbacks, 1);
}

#[test]
fn a_healthy_simulation_leaves_the_kill_switch_off_and_counts_each_user_once() {
    let dir = tempfile::tempdir().unwrap();
    let (server, admin, key) = stage_two_server(dir.path());
    let url = format!("http://{}", server.addr);
    let args = simulate_args(
        &url,
        &key,
        ["0.02", "0.02"],
        &["--duration", "2s", "--token", &admin],
    );
    let (output, _) = run_within(&args, Duration::from_secs(30));
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", text(&output.stderr));
    let rounds = stdout.lines().filter(|l| l.contains("] round ")).count();
    assert!(rounds >= 5, "{stdout}");
    assert!(
        stdout.lines().last().unwrap().starts_with("done after"),
        "{stdout}"
    );
    assert!(!stdout.contains("breached"), "{stdout}");

    let plan = get(server.addr, &admin, "/api/plan");
    assert_eq!(
        plan["rollouts"][ROLLOUT]["environments"]["staging"]["killSwitch"],
        false
    );
    let report = get(
        server.addr,
        &admin,
        &format!("/api/guardrails/{ROLLOUT}/staging"),
    );
    // Every round's users are the same 4,000: each exposed once at this stage.
    let exposures = report["exposures"].as_array().unwrap();
    let (exposed_in, exposed_out) = (
        exposures[0].as_u64().unwrap(),
        exposures[1].as_u64().unwrap(),
    );
    assert_eq!(exposed_in + exposed_out, 4000, "{report}");
    assert!((800..1200).contains(&exposed_in), "{report}");
    let crash = report["triggers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["metric"] == "crashRate")
        .unwrap();
    assert_eq!(crash["state"], "healthy", "{crash}");
    let sessions =
        crash["cohorts"][0]["per"].as_u64().unwrap() + crash["cohorts"][1]["per"].as_u64().unwrap();
    assert_eq!(sessions, 4000 * rounds as u64, "{stdout}");
}

#[test]
fn simulate_refuses_what_cannot_work_and_names_the_flag() {
    let flag_errors: [(&[&str], &str); 5] = [
        (&["--crash-rate-in", "1.5"], "--crash-rate-in"),
        (&["--users", "0"], "--users"),
        (&["--duration", "5 parsecs"], "--duration"),
        (&["--url", "localhost:8080"], "--url"),
        (&["--rollout", "no such"], "--rollout"),
    ];
    for (wrong, flag) in flag_errors {
        let mut args = vec![
            "simulate",
            "--url",
            "http://127.0.0.1:9",
            "--ingest-key",
            "sgi_x",
            "--rollout",
            ROLLOUT,
            "--env",
            "staging",
            "--users",
            "10",
            "--crash-rate-in",
            "0.1",
            "--crash-rate-out",
            "0.1",
        ];
        match args.iter().position(|a| *a == wrong[0]) {
            Some(at) => args[at + 1] = wrong[1],
            None => args.extend_from_slice(wrong),
        }
        let (output, _) = run_within(&args, Duration::from_secs(10));
        assert_eq!(output.status.code(), Some(2), "{wrong:?}");
        assert!(
            text(&output.stderr).contains(flag),
            "{wrong:?}: {}",
            text(&output.stderr)
        );
    }
    let (output, _) = run_within(
        &[
            "simulate",
            "--url",
            "http://x",
            "--ingest-key",
            "sg_user-token",
        ],
        Duration::from_secs(10),
    );
    assert!(
        text(&output.stderr).contains("--ingest-key"),
        "{}",
        text(&output.stderr)
    );

    // Against a server: a rollout it does not have, a key it does not know, a
    // rollback asked for where the kill switch is already on.
    let dir = tempfile::tempdir().unwrap();
    let (server, admin, key) = stage_two_server(dir.path());
    let url = format!("http://{}", server.addr);
    let cases: [(Vec<&str>, &str); 2] = [
        (
            vec!["--rollout", "other"],
            "--rollout: the client document of 'staging' has no rollout 'other'",
        ),
        (
            vec!["--ingest-key", "sgi_0000"],
            "--ingest-key: the server refused the key (401)",
        ),
    ];
    for (change, message) in cases {
        let mut args = simulate_args(&url, &key, ["0.1", "0.1"], &["--duration", "5s"]);
        let at = args.iter().position(|a| *a == change[0]).unwrap();
        args[at + 1] = change[1];
        let (output, _) = run_within(&args, Duration::from_secs(20));
        assert_eq!(output.status.code(), Some(1), "{change:?}");
        assert!(
            text(&output.stderr).contains(message),
            "{change:?}: {}",
            text(&output.stderr)
        );
    }
    let authorization = format!("Bearer {admin}");
    let body = json!({ "on": true, "comment": "stop" }).to_string();
    let path = format!("/api/rollouts/{ROLLOUT}/environments/staging/kill-switch");
    let headers = [
        ("Authorization", authorization.as_str()),
        ("Content-Type", "application/json"),
    ];
    let reply = request(server.addr, "POST", &path, &headers, Some(body.as_bytes())).unwrap();
    assert_eq!(reply.status, 200, "{}", text(&reply.body));
    let args = simulate_args(&url, &key, ["0.1", "0.1"], &["--until-rollback"]);
    let (output, _) = run_within(&args, Duration::from_secs(20));
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("--until-rollback: the kill switch of staging is already on"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn ingest_keys_are_made_listed_and_revoked_on_the_command_line_and_the_server_follows() {
    let dir = tempfile::tempdir().unwrap();
    let server = Served::start(dir.path());
    let (id, key) = cli_ingest_key(dir.path(), "staging");
    assert!(key.starts_with("sgi_"), "{key}");
    let took = until_key_works(server.addr, &key);
    eprintln!("a key made on the command line worked after {took:?}");

    let list = |data: &std::path::Path| {
        let output = Command::new(BINARY)
            .args(["ingest-key", "list", "--data"])
            .arg(data)
            .output()
            .unwrap();
        assert!(output.status.success());
        text(&output.stdout)
    };
    let listed = list(dir.path());
    assert!(
        listed.starts_with(&format!("{id}\tstaging\ttest\t")),
        "{listed}"
    );
    assert!(listed.trim_end().ends_with("\tcli"), "{listed}");
    assert!(!listed.contains(&key));

    let revoke = |id: &str| {
        Command::new(BINARY)
            .args(["ingest-key", "revoke", id, "--data"])
            .arg(dir.path())
            .output()
            .unwrap()
    };
    let output = revoke(&id);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(
        text(&output.stdout),
        format!("revoked ingest key {id} (staging)\n")
    );
    let started = Instant::now();
    let counts = json!({ "counts": [] });
    while post_counts(server.addr, &key, &counts).status != 401 {
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "the revoked key still works after 3 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(list(dir.path()), "");
    let output = revoke(&id);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains(&format!("ingest key '{id}' does not exist")),
        "{}",
        text(&output.stderr)
    );

    let create = |env: &str, data: &std::path::Path| {
        Command::new(BINARY)
            .args(["ingest-key", "create", "--env", env, "--data"])
            .arg(data)
            .output()
            .unwrap()
    };
    let output = create("prod uction", dir.path());
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).starts_with("stagegate: --env: environment 'prod uction'"),
        "{}",
        text(&output.stderr)
    );
    let output = create("staging", &dir.path().join("missing"));
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("--data: "),
        "{}",
        text(&output.stderr)
    );
    let output = Command::new(BINARY)
        .args(["ingest-key", "create", "--data"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("--env"),
        "{}",
        text(&output.stderr)
    );
}
