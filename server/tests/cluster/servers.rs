//! Two servers on one database behave as one.

use std::collections::BTreeSet;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::{
    Events, PRODUCTION_KILL, Process, ROLLOUT, call, cluster, get, plan, put_marked, revision,
    serve, tls_cluster, until,
};

/// What the issue asks for is 1 s (p99, measured by `cargo xtask bench`);
/// this only catches a server that does not follow at all, on a loaded machine.
const PROPAGATION_BOUND: Duration = Duration::from_secs(3);

#[test]
fn a_write_on_one_server_is_read_on_the_other() {
    let Some(cluster) = cluster() else { return };
    let a = serve(&cluster.url());
    let admin = a.process.admin().expect("the first server makes the admin");
    let b = serve(&cluster.url());
    assert!(b.process.admin().is_none(), "one admin for the database");

    let mut events = Events::open(b.addr, "production");
    let first = events
        .next(Duration::from_secs(5))
        .expect("the first event");
    assert_eq!(first["revision"], 1);

    let written = Instant::now();
    let reply = call(
        a.addr,
        "POST",
        PRODUCTION_KILL,
        Some(&admin),
        &[],
        Some(&json!({ "on": true, "comment": "from A" }).to_string()),
    )
    .unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text());
    let number = reply.json()["revision"].as_u64().unwrap();
    let acknowledged = written.elapsed();

    let event = events
        .next(PROPAGATION_BOUND)
        .expect("B's stream hears of A's write");
    let streamed = written.elapsed();
    assert_eq!(event["revision"], number, "{event}");
    let planned = until(PROPAGATION_BOUND, || {
        get(b.addr, "/api/plan", &admin).header("etag") == Some(&format!("\"{number}\""))
    })
    .map(|_| written.elapsed())
    .expect("B's /api/plan has A's write");
    let document = call(b.addr, "GET", "/client/production.json", None, &[], None).unwrap();
    assert_eq!(document.status, 200);
    assert_eq!(document.json()["revision"], number);
    let production = &document.json()["rollouts"][ROLLOUT]["environments"]["production"];
    assert_eq!(production["killSwitch"], true, "{production}");
    eprintln!(
        "A acknowledged in {:.1} ms; B streamed it {:.1} ms and served it {:.1} ms after the write began",
        ms(acknowledged),
        ms(streamed),
        ms(planned)
    );
    assert!(streamed < PROPAGATION_BOUND && planned < PROPAGATION_BOUND);

    // The same base on both servers at once: one winner, every time.
    let mut won = Vec::new();
    for round in 0..5 {
        let (plan_now, etag) = plan(a.addr, &admin);
        let start = Arc::new(Barrier::new(2));
        let answers: Vec<_> = [a.addr, b.addr]
            .into_iter()
            .enumerate()
            .map(|(i, addr)| {
                let (plan_now, etag, admin, start) =
                    (plan_now.clone(), etag.clone(), admin.clone(), start.clone());
                std::thread::spawn(move || {
                    start.wait();
                    let marker = format!("round {round} server {i}");
                    put_marked(addr, &admin, plan_now, &etag, &marker).unwrap()
                })
            })
            .collect::<Vec<_>>() // both started before either is waited for
            .into_iter()
            .map(|handle| handle.join().unwrap())
            .collect();
        let mut statuses: Vec<u16> = answers.iter().map(|reply| reply.status).collect();
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 412], "round {round}: one winner per base");
        let loser = answers.iter().find(|reply| reply.status == 412).unwrap();
        assert_eq!(loser.json()["error"], "stale_revision", "{}", loser.text());
        let winner = answers.iter().find(|reply| reply.status == 200).unwrap();
        won.push(winner.json()["revision"].as_u64().unwrap());
        // Both must know the winner before the next round builds on it.
        let newest = *won.last().unwrap();
        until(PROPAGATION_BOUND, || {
            revision(b.addr) == newest && revision(a.addr) == newest
        })
        .expect("both servers have the winning write");
    }
    let expected: Vec<u64> = (number + 1..=number + 5).collect();
    assert_eq!(won, expected, "consecutive revisions, none twice");

    // The history, as each server tells it: 1..=head with no gap, one audit
    // entry each, and the same on both.
    let head = number + 5;
    for server in [&a, &b] {
        let audit = get(server.addr, "/api/audit", &admin).json();
        let numbers: BTreeSet<u64> = audit
            .as_array()
            .unwrap()
            .iter()
            .map(|entry| entry["revision"].as_u64().unwrap())
            .collect();
        assert_eq!(numbers, (1..=head).collect(), "{audit}");
        assert_eq!(audit.as_array().unwrap().len() as u64, head);
    }
    assert_eq!(
        get(a.addr, "/api/audit", &admin).json(),
        get(b.addr, "/api/audit", &admin).json()
    );
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// Users made with the CLI before any server started: the database gets the
/// default plan with them, so the first server starts on it, makes no admin
/// of its own, and knows the CLI's user.
#[test]
fn a_user_added_before_the_first_server() {
    let Some(cluster) = cluster() else { return };
    let url = cluster.url();
    let add = Process::spawn(&["user", "add", "ada", "--role", "admin", "--store", &url]);
    let (code, output) = add.finish(Duration::from_secs(30));
    assert_eq!(code, 0, "{output}");
    let token = output
        .lines()
        .find(|line| line.starts_with("sg_"))
        .unwrap_or_else(|| panic!("no token in: {output}"))
        .trim()
        .to_string();
    let a = serve(&url);
    assert!(a.process.admin().is_none(), "ada is the admin");
    let me = get(a.addr, "/api/me", &token);
    assert_eq!(me.status, 200, "{}", me.text());
    assert_eq!(me.json()["role"], "admin");
    assert_eq!(revision(a.addr), 1, "the default plan, seeded once");
}

/// `sslmode=require`: TLS, with the server's certificate checked against
/// `PGSSLROOTCERT` (here the CA the test cluster made; the cluster takes TCP
/// clients over TLS only). Without the right root, the server says why it
/// cannot connect instead of trusting a certificate it cannot check.
#[test]
fn tls_when_the_url_requires_it() {
    let Some(cluster) = tls_cluster() else { return };
    let ca = cluster.ca_file().unwrap();
    let ca = ca.to_str().unwrap();
    let url = format!("{}?sslmode=require", cluster.url());
    let serve_args = [
        "serve",
        "--store",
        &url,
        "--addr",
        "127.0.0.1:0",
        "--console",
        "none",
    ];

    let mut verified = Process::spawn_with(&serve_args, &[("PGSSLROOTCERT", ca)]);
    let addr = verified.addr();
    let admin = verified.admin().expect("the first server makes the admin");
    let reply = call(
        addr,
        "POST",
        PRODUCTION_KILL,
        Some(&admin),
        &[],
        Some(&json!({ "on": true }).to_string()),
    )
    .unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text());
    // A second server over TLS hears the first one's writes (its own
    // listening connection is TLS too).
    let mut second = Process::spawn_with(&serve_args, &[("PGSSLROOTCERT", ca)]);
    let second_addr = second.addr();
    assert_eq!(revision(second_addr), 2);
    verified.kill();
    second.kill();

    // Plain text is refused by this cluster: the URL without sslmode waits.
    let mut plain = Process::serve(&cluster.url());
    plain.wait_for("waiting for PostgreSQL", Duration::from_secs(20));
    plain.kill();
    // The Mozilla roots do not hold the test CA.
    let mut unverified = Process::spawn_with(&serve_args, &[]);
    let line = unverified.wait_for("waiting for PostgreSQL", Duration::from_secs(20));
    assert!(line.contains("certificate"), "{line}");
    unverified.kill();
    let (code, output) = Process::spawn_with(&serve_args, &[("PGSSLROOTCERT", "/nonexistent.pem")])
        .finish(Duration::from_secs(20));
    assert_eq!(code, 1, "{output}");
    assert!(
        output.contains("PGSSLROOTCERT=/nonexistent.pem"),
        "{output}"
    );
}
