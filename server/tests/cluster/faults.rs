//! Parts going away: a server killed mid-write, PostgreSQL stopped at once
//! under writes, and a server started before its database.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::harness::{
    Acked, Process, ROLLOUT, call, cluster, get, plan, put_marked, revision, serve, until, writer,
};

/// Several writers on each of two servers; SIGKILL one mid-stream. Every
/// write either answered 200 is in the history, with its audit entry, and
/// the other server goes on serving writes and reads.
#[test]
fn a_killed_server_loses_no_acknowledged_write() {
    let Some(cluster) = cluster() else { return };
    let mut a = serve(&cluster.url());
    let admin = a.process.admin().unwrap();
    let b = serve(&cluster.url());
    let acked: Acked = Arc::new(Mutex::new(BTreeMap::new()));
    let (stop_a, stop_b) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let spawn = |addr, name: String, stop: &Arc<AtomicBool>| {
        let (token, acked, stop) = (admin.clone(), acked.clone(), stop.clone());
        std::thread::spawn(move || writer(addr, token, name, acked, stop, &[]))
    };
    let on_a: Vec<_> = (0..3)
        .map(|i| spawn(a.addr, format!("A{i}"), &stop_a))
        .collect();
    let on_b: Vec<_> = (0..3)
        .map(|i| spawn(b.addr, format!("B{i}"), &stop_b))
        .collect();
    until(Duration::from_secs(30), || {
        acked.lock().unwrap().len() >= 30
    })
    .expect("30 writes acknowledged");
    a.process.kill();
    stop_a.store(true, Ordering::Relaxed);
    let cut_off = on_a.into_iter().map(|handle| handle.join().unwrap());
    assert!(
        cut_off.filter(|&cut| cut).count() > 0,
        "the kill cut a writer off"
    );
    // B's writers go on past the kill.
    let at_kill = acked.lock().unwrap().len();
    until(Duration::from_secs(30), || {
        acked.lock().unwrap().len() >= at_kill + 10
    })
    .expect("B goes on acknowledging writes after A was killed");
    stop_b.store(true, Ordering::Relaxed);
    for handle in on_b {
        assert!(!handle.join().unwrap(), "B went away");
    }

    let acked = acked.lock().unwrap().clone();
    let audit = get(b.addr, "/api/audit", &admin).json();
    let audited: BTreeMap<u64, &serde_json::Value> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| (entry["revision"].as_u64().unwrap(), entry))
        .collect();
    for (number, marker) in &acked {
        let stored = get(b.addr, &format!("/api/revisions/{number}"), &admin);
        assert_eq!(stored.status, 200, "revision {number} lost");
        assert_eq!(
            stored.json()["rollouts"][ROLLOUT]["description"],
            marker.as_str(),
            "revision {number}"
        );
        let entry = audited
            .get(number)
            .unwrap_or_else(|| panic!("no audit entry for {number}"));
        assert_eq!(entry["author"], "admin");
    }
    let head = revision(b.addr);
    assert_eq!(
        audited.keys().copied().collect::<Vec<_>>(),
        (1..=head).collect::<Vec<_>>()
    );
    eprintln!(
        "{} writes acknowledged, head {head}; every one found after the kill",
        acked.len()
    );

    // B still writes and reads.
    let (now, etag) = plan(b.addr, &admin);
    let reply = put_marked(b.addr, &admin, now, &etag, "after the kill").unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text());
    let document = call(b.addr, "GET", "/client/production.json", None, &[], None).unwrap();
    assert_eq!(document.status, 200);
}

/// PostgreSQL stopped at once (`pg_ctl -m immediate`) under writes: writes
/// answer 503 `store_unavailable` promptly (never 500, never a hang), the
/// client documents are still served, and when PostgreSQL returns both servers
/// write again by themselves and B catches up with A.
#[test]
fn the_database_going_away_gives_503_and_recovery() {
    let Some(cluster) = cluster() else { return };
    let a = serve(&cluster.url());
    let admin = a.process.admin().unwrap();
    let b = serve(&cluster.url());
    let acked: Acked = Arc::new(Mutex::new(BTreeMap::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = [a.addr, a.addr, b.addr, b.addr]
        .into_iter()
        .enumerate()
        .map(|(i, addr)| {
            let (token, acked, stop) = (admin.clone(), acked.clone(), stop.clone());
            std::thread::spawn(move || writer(addr, token, format!("w{i}"), acked, stop, &[503]))
        })
        .collect();
    until(Duration::from_secs(30), || {
        acked.lock().unwrap().len() >= 10
    })
    .expect("writes before the stop");
    cluster.stop_immediate().unwrap();
    let last_acked = *acked.lock().unwrap().keys().last().unwrap();

    // The documents as the servers held them at the stop.
    let documents: Vec<String> = [a.addr, b.addr]
        .iter()
        .map(|&addr| {
            let reply = call(addr, "GET", "/client/production.json", None, &[], None).unwrap();
            assert_eq!(reply.status, 200);
            reply.text()
        })
        .collect();

    // Writes now: 503 in the API's error shape, promptly.
    for addr in [a.addr, b.addr] {
        for _ in 0..3 {
            let (now, etag) = plan(addr, &admin);
            let reply = put_marked(addr, &admin, now, &etag, "while down").unwrap();
            assert_eq!(reply.status, 503, "{}", reply.text());
            let body = reply.json();
            assert_eq!(body["error"], "store_unavailable", "{body}");
            assert!(
                body["message"].as_str().is_some_and(|m| !m.is_empty()),
                "{body}"
            );
            assert!(body.get("details").is_some(), "{body}");
            assert!(
                reply.took < Duration::from_secs(7),
                "answered in {:?}",
                reply.took
            );
            eprintln!("503 in {:.0} ms", reply.took.as_secs_f64() * 1000.0);
        }
        // The last client document, still served.
        let reply = call(addr, "GET", "/client/production.json", None, &[], None).unwrap();
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert!(documents.contains(&reply.text()));
    }
    stop.store(true, Ordering::Relaxed);
    for handle in writers {
        assert!(!handle.join().unwrap(), "a server stopped answering");
    }
    // Acknowledged before the stop means kept (the cluster fsyncs nothing,
    // but an immediate stop is a crash of PostgreSQL, not of the machine).
    let before_stop = acked.lock().unwrap().clone();

    cluster.start_again().unwrap();
    let restarted = Instant::now();
    let mut newest = 0;
    for (name, addr) in [("A", a.addr), ("B", b.addr)] {
        let took = until(Duration::from_secs(15), || {
            let (now, etag) = plan(addr, &admin);
            match put_marked(
                addr,
                &admin,
                now,
                &etag,
                &format!("{name} after the restart"),
            ) {
                Ok(reply) if reply.status == 200 => {
                    newest = reply.json()["revision"].as_u64().unwrap();
                    true
                }
                Ok(reply) => {
                    assert!([412, 503].contains(&reply.status), "{}", reply.text());
                    false
                }
                Err(error) => panic!("{name}: {error}"),
            }
        })
        .unwrap_or_else(|| panic!("{name} writes again within 15 s of PostgreSQL's return"));
        eprintln!(
            "{name} wrote again {:.1} s after the restart",
            took.as_secs_f64()
        );
    }
    assert!(newest > last_acked);
    // B's writes reach A, and A's reach B.
    until(Duration::from_secs(5), || revision(a.addr) == newest).expect("A catches up with B");
    let (now, etag) = plan(a.addr, &admin);
    let reply = put_marked(a.addr, &admin, now, &etag, "A last").unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text());
    let last = reply.json()["revision"].as_u64().unwrap();
    until(Duration::from_secs(5), || revision(b.addr) == last)
        .expect("B catches up with A's writes");
    eprintln!(
        "recovered and caught up {:.1} s after PostgreSQL's return",
        restarted.elapsed().as_secs_f64()
    );
    for (number, marker) in &before_stop {
        let stored = get(b.addr, &format!("/api/revisions/{number}"), &admin);
        assert_eq!(stored.status, 200, "revision {number} lost");
        assert_eq!(
            stored.json()["rollouts"][ROLLOUT]["description"],
            marker.as_str()
        );
    }
}

/// A server started while its database is down says so, keeps trying, and
/// serves once the database is there.
#[test]
fn a_server_waits_for_its_database() {
    let Some(cluster) = cluster() else { return };
    cluster.stop_immediate().unwrap();
    let mut server = Process::serve(&cluster.url());
    let line = server.wait_for("waiting for PostgreSQL at", Duration::from_secs(15));
    let port = cluster.port().to_string();
    assert!(
        line.contains(&port),
        "the message names the database: {line}"
    );
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "it keeps trying:\n{}",
        server.output()
    );
    cluster.start_again().unwrap();
    let addr = server.addr();
    assert_eq!(revision(addr), 1);
    let admin = server.admin().expect("a fresh database gets its admin");
    assert_eq!(get(addr, "/api/plan", &admin).status, 200);
}
