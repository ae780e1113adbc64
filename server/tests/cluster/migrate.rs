//! `stagegate migrate`: the schema, a data directory moved into PostgreSQL
//! with every revision, audit entry, user, sign-off, key, webhook and metric
//! count unchanged, and a database moved back into a data directory.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{
    PRODUCTION_KILL, Process, ROLLOUT, arg, call, cluster, get, revision, serve, until,
};

const FINISH: Duration = Duration::from_secs(60);

fn post(addr: SocketAddr, path: &str, token: &str, body: Value) -> Value {
    let reply = call(
        addr,
        "POST",
        path,
        Some(token),
        &[],
        Some(&body.to_string()),
    )
    .unwrap();
    assert!(
        [200, 201].contains(&reply.status),
        "POST {path}: {}",
        reply.text()
    );
    reply.json()
}

/// `stagegate migrate ARGS…`: its exit code and output.
fn migrate(args: &[&str]) -> (i32, String) {
    let mut all = vec!["migrate"];
    all.extend_from_slice(args);
    Process::spawn(&all).finish(FINISH)
}

/// Everything the API shows of what a store keeps, as JSON, by what it is.
fn everything(addr: SocketAddr, admin: &str) -> Vec<(String, Value)> {
    let mut paths: Vec<String> = [
        "/api/plan",
        "/api/audit",
        "/api/revisions",
        "/api/users",
        "/api/users/log",
        "/api/ingest-keys",
        "/api/sdk-keys",
        "/api/webhooks",
    ]
    .map(str::to_string)
    .to_vec();
    paths.extend((1..=revision(addr)).map(|n| format!("/api/revisions/{n}")));
    let mut seen: Vec<(String, Value)> = paths
        .into_iter()
        .map(|path| {
            let reply = get(addr, &path, admin);
            assert_eq!(reply.status, 200, "GET {path}: {}", reply.text());
            let mut json = reply.json();
            // When a token was last used is noted in memory and written
            // now and then (a killed server loses it): not history.
            for user in json.as_array_mut().into_iter().flatten() {
                if path == "/api/users" {
                    user.as_object_mut().unwrap().remove("lastUsed");
                }
            }
            (path, json)
        })
        .collect();
    let document = call(addr, "GET", "/client/production.json", None, &[], None).unwrap();
    seen.push(("/client/production.json".into(), document.json()));
    seen
}

#[test]
fn a_data_directory_moves_into_postgres_unchanged() {
    let Some(cluster) = cluster() else { return };
    let url = cluster.url();
    let data = tempfile::tempdir().unwrap();

    // A history worth copying, made through the API of a server on the directory.
    let mut on_dir =
        Process::spawn(&["serve", "--data", arg(data.path()), "--addr", "127.0.0.1:0"]);
    let addr = on_dir.addr();
    let admin = on_dir.admin().unwrap();
    let qa = post(
        addr,
        "/api/users",
        &admin,
        json!({ "name": "quinn", "role": "qa-lead" }),
    );
    let qa = qa["token"].as_str().unwrap().to_string();
    post(
        addr,
        "/api/users",
        &admin,
        json!({ "name": "eddie", "role": "editor" }),
    );
    for on in [true, false, true] {
        post(
            addr,
            PRODUCTION_KILL,
            &admin,
            json!({ "on": on, "comment": format!("on: {on}") }),
        );
    }
    let signoff = json!({ "rollout": ROLLOUT, "stage": "stage-1", "comment": "looks good" });
    post(addr, "/api/signoffs", &qa, signoff);
    let ingest = post(
        addr,
        "/api/ingest-keys",
        &admin,
        json!({ "environment": "staging", "name": "web" }),
    );
    post(
        addr,
        "/api/sdk-keys",
        &admin,
        json!({ "environment": "staging", "name": "backend" }),
    );
    let hook =
        json!({ "url": "http://127.0.0.1:9/hook", "events": ["rollback"], "description": "ops" });
    post(addr, "/api/webhooks", &admin, hook);
    let ingest = ingest["key"].as_str().unwrap();
    let stage = get(addr, GUARDRAILS, &admin).json()["stage"].clone();
    let count = |in_rollout: bool, event: &str, count: u64| {
        json!({ "rollout": ROLLOUT, "environment": "staging", "stage": stage,
                "inRollout": in_rollout, "event": event, "count": count })
    };
    let batch = json!({ "counts": [count(true, "exposure", 400), count(false, "exposure", 1600),
                                   count(true, "critical-bug", 3)] });
    let reply = call(
        addr,
        "POST",
        "/api/metrics",
        Some(ingest),
        &[],
        Some(&batch.to_string()),
    );
    assert_eq!(reply.unwrap().status, 202);
    let counted = counts(addr, &admin);
    assert_eq!(counted["exposures"], json!([400, 1600]), "{counted}");
    // Counts reach the log within a second.
    let log = data.path().join("metrics.log");
    let flushed = until(Duration::from_secs(10), || {
        std::fs::metadata(&log).is_ok_and(|file| file.len() > 0)
    });
    assert!(flushed.is_some(), "metrics.log stayed empty");
    let before = everything(addr, &admin);
    let head = revision(addr);
    assert!(head >= 5, "head {head}");
    on_dir.kill();

    // A directory that is not a data directory is refused, and left alone.
    let stranger = tempfile::tempdir().unwrap();
    std::fs::write(stranger.path().join("notes.txt"), "hello").unwrap();
    let (code, output) = migrate(&["--from", arg(stranger.path()), "--to", &url]);
    assert_eq!(code, 1, "{output}");
    assert!(
        output.contains("is not a stagegate data directory"),
        "{output}"
    );
    assert!(!stranger.path().join("revisions").exists());
    let (code, output) = migrate(&["--from", arg(data.path()), "--to", "not-a-url"]);
    assert_eq!(code, 1, "{output}");
    assert!(
        output.contains("--to: 'not-a-url' is not a PostgreSQL URL"),
        "{output}"
    );

    // The schema alone, then again: nothing left to apply.
    let (code, output) = migrate(&["--store", &url]);
    assert_eq!(code, 0, "{output}");
    let applied: u32 = output
        .split(' ')
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(output.starts_with("applied ") && applied >= 1, "{output}");
    let (code, output) = migrate(&["--store", &url]);
    assert_eq!(code, 0, "{output}");
    assert!(output.contains("applied 0 migrations"), "{output}");

    let (code, output) = migrate(&["--from", arg(data.path()), "--to", &url]);
    assert_eq!(code, 0, "{output}");
    assert!(
        output.contains(&format!("copied {head} revisions (head {head})")),
        "{output}"
    );
    assert!(output.contains(" metric totals "), "{output}");
    eprintln!("{output}");

    // A server on the database serves the same: revisions, audit entries,
    // users (the old tokens work), sign-offs, keys, webhooks.
    let mut on_pg = serve(&url);
    assert!(
        on_pg.process.admin().is_none(),
        "users came along: no new admin"
    );
    let after = everything(on_pg.addr, &admin);
    for ((path, old), (_, new)) in before.iter().zip(&after) {
        assert_eq!(old, new, "{path}");
    }
    assert_eq!(before.len(), after.len());
    let me = get(on_pg.addr, "/api/me", &qa);
    assert_eq!(me.status, 200);
    assert_eq!(me.json()["name"], "quinn");
    let signoffs = &after[0].1["signoffs"];
    assert_eq!(signoffs.as_array().map(Vec::len), Some(1), "{signoffs}");
    assert_eq!(
        counts(on_pg.addr, &admin),
        counted,
        "the metric counts came along"
    );

    // A second copy is refused, and changes nothing.
    post(on_pg.addr, PRODUCTION_KILL, &admin, json!({ "on": false }));
    let (code, output) = migrate(&["--from", arg(data.path()), "--to", &url]);
    assert_eq!(code, 1, "{output}");
    assert!(output.contains("the database is not empty"), "{output}");
    assert!(output.contains("--force"), "{output}");
    on_pg.process.kill();
    let on_pg = serve(&url);
    assert_eq!(revision(on_pg.addr), head + 1);
    drop(on_pg);

    // --force replaces what the database held (servers stopped first).
    let (code, output) = migrate(&["--from", arg(data.path()), "--to", &url, "--force"]);
    assert_eq!(code, 0, "{output}");
    let on_pg = serve(&url);
    assert_eq!(revision(on_pg.addr), head);
    assert_eq!(everything(on_pg.addr, &admin), before);

    // And back, while the database's server runs: a new data directory that
    // a server serves the same from.
    let back = tempfile::tempdir().unwrap();
    let into = back.path().join("data");
    let (code, output) = migrate(&["--from", &url, "--to", arg(&into)]);
    assert_eq!(code, 0, "{output}");
    assert!(
        output.contains(&format!("copied {head} revisions (head {head})")),
        "{output}"
    );
    let mut on_back = Process::spawn(&["serve", "--data", arg(&into), "--addr", "127.0.0.1:0"]);
    let addr = on_back.addr();
    assert!(on_back.admin().is_none(), "users came along: no new admin");
    assert_eq!(everything(addr, &admin), before);
    assert_eq!(counts(addr, &admin), counted, "the metric counts came back");
    on_back.kill();
    // A directory that holds anything is refused, and left as it was.
    let (code, output) = migrate(&["--from", &url, "--to", arg(&into)]);
    assert_eq!(code, 1, "{output}");
    assert!(output.contains("is not empty"), "{output}");
    let (code, output) = migrate(&["--from", &url, "--to", arg(back.path()), "--force"]);
    assert_eq!(code, 1, "{output}");
    assert!(output.contains("never replaces"), "{output}");
}

/// Staging's stage is live in the default plan (production's kill switch is
/// pulled above).
const GUARDRAILS: &str = "/api/guardrails/domain-migration/staging";

/// The live stage's counts as the guardrails report them (exposures, and
/// each trigger's cohorts).
fn counts(addr: SocketAddr, token: &str) -> Value {
    let report = get(addr, GUARDRAILS, token).json();
    let cohorts: Vec<&Value> = report["triggers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|trigger| &trigger["cohorts"])
        .collect();
    json!({ "exposures": report["exposures"], "cohorts": cohorts })
}

/// A revision set aside as damaged keeps its number in the database: the
/// next write there takes the number after it, as it would have on the directory.
#[test]
fn numbers_set_aside_are_not_handed_out_again() {
    let Some(cluster) = cluster() else { return };
    let data = tempfile::tempdir().unwrap();
    let mut on_dir =
        Process::spawn(&["serve", "--data", arg(data.path()), "--addr", "127.0.0.1:0"]);
    let addr = on_dir.addr();
    let admin = on_dir.admin().unwrap();
    for on in [true, false] {
        post(addr, PRODUCTION_KILL, &admin, json!({ "on": on }));
    }
    assert_eq!(revision(addr), 3);
    on_dir.kill();
    let revisions = data.path().join("revisions");
    std::fs::rename(
        revisions.join("000003.json"),
        revisions.join("000003.json.damaged"),
    )
    .unwrap();

    let (code, output) = migrate(&["--from", arg(data.path()), "--to", &cluster.url()]);
    assert_eq!(code, 0, "{output}");
    assert!(output.contains("copied 2 revisions (head 2)"), "{output}");
    let on_pg = serve(&cluster.url());
    assert_eq!(revision(on_pg.addr), 2);

    // Copied back into a directory, the number stays held there too.
    let back = tempfile::tempdir().unwrap();
    let (code, output) = migrate(&["--from", &cluster.url(), "--to", arg(back.path())]);
    assert_eq!(code, 0, "{output}");
    assert!(back.path().join("revisions/000003.json.damaged").exists());
    let mut on_back =
        Process::spawn(&["serve", "--data", arg(back.path()), "--addr", "127.0.0.1:0"]);
    let written = post(
        on_back.addr(),
        PRODUCTION_KILL,
        &admin,
        json!({ "on": false }),
    );
    assert_eq!(written["revision"], 4, "the plan written");
    on_back.kill();

    let written = post(on_pg.addr, PRODUCTION_KILL, &admin, json!({ "on": false }));
    assert_eq!(written["revision"], 4, "the plan written");
    assert_eq!(revision(on_pg.addr), 4);
}

/// The directory's files are all the migration reads: a damaged revision stops it.
#[test]
fn a_damaged_history_is_not_copied() {
    let Some(cluster) = cluster() else { return };
    let data = tempfile::tempdir().unwrap();
    let mut on_dir =
        Process::spawn(&["serve", "--data", arg(data.path()), "--addr", "127.0.0.1:0"]);
    on_dir.addr();
    on_dir.kill();
    damage(&data.path().join("revisions/000001.json"));
    let (code, output) = migrate(&["--from", arg(data.path()), "--to", &cluster.url()]);
    assert_eq!(code, 1, "{output}");
    assert!(output.contains("000001.json"), "{output}");
    let on_pg = serve(&cluster.url());
    assert_eq!(revision(on_pg.addr), 1, "nothing copied: a fresh seed");
    assert!(on_pg.process.admin().is_some());
}

fn damage(path: &Path) {
    let text = std::fs::read_to_string(path).unwrap();
    std::fs::write(path, &text[..text.len() / 2]).unwrap();
}
