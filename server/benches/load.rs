//! Load benchmark: starts the release `stagegate` on a temp data directory, and
//! on a new PostgreSQL database when `STAGEGATE_BENCH_DATABASE_URL` names a
//! cluster (`cargo xtask bench` starts one), on loopback, and drives each with
//! keep-alive HTTP/1.1 connections. On PostgreSQL it also measures how long a
//! kill switch written on server A takes to reach server B's event stream.
//!
//! `cargo bench -p stagegate-server --bench load` prints one line per case:
//! requests per second and p99 latency.
#![allow(clippy::unwrap_used)] // a benchmark that cannot run should stop loudly

mod common;

use std::time::{Duration, Instant};

use common::{Connection, Server, hammer, load_generator, percentile, start_on};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PUTS: usize = 300;

/// Sequential PUTs, each based on the revision the previous one created.
async fn puts(server: &Server) -> (f64, f64) {
    let mut connection = Connection::open(server.addr).await;
    let get = format!(
        "GET /api/plan HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {}\r\n\r\n",
        server.token
    );
    let reply = connection.exchange(get.as_bytes()).await;
    let mut plan: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    let mut etag = reply.etag.unwrap();
    let mut latencies = Vec::with_capacity(PUTS);
    let started = Instant::now();
    for i in 0..PUTS {
        plan["rollouts"]["domain-migration"]["description"] = format!("bench write {i}").into();
        let body = plan.to_string();
        let request = format!(
            "PUT /api/plan HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {}\r\nIf-Match: {etag}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            server.token,
            body.len()
        );
        let sent = Instant::now();
        let reply = connection.exchange(request.as_bytes()).await;
        latencies.push(sent.elapsed());
        assert_eq!(
            reply.status,
            200,
            "{}",
            String::from_utf8_lossy(&reply.body)
        );
        etag = reply.etag.unwrap();
    }
    let rate = PUTS as f64 / started.elapsed().as_secs_f64();
    (rate, percentile(&mut latencies, 99))
}

/// Kill switch writes on A, each timed until B's event stream carries it.
const PROPAGATIONS: usize = 200;

async fn propagation(a: &Server, b: &Server) -> (f64, f64) {
    let mut stream = tokio::net::TcpStream::connect(b.addr).await.unwrap();
    let open = "GET /client/production/events HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n\r\n";
    stream.write_all(open.as_bytes()).await.unwrap();
    let mut seen = String::new();
    // The stream's first event: its current state.
    read_until(&mut stream, &mut seen, "\"revision\"").await;
    let mut writer = Connection::open(a.addr).await;
    let mut latencies = Vec::with_capacity(PROPAGATIONS);
    for i in 0..PROPAGATIONS {
        let on = i % 2 == 0;
        let body = format!("{{\"on\":{on}}}");
        let request = common::post_json(
            "/api/rollouts/domain-migration/environments/production/kill-switch",
            &a.token,
            &body,
        );
        seen.clear();
        let sent = Instant::now();
        let reply = writer.exchange(request.as_bytes()).await;
        assert_eq!(
            reply.status,
            200,
            "{}",
            String::from_utf8_lossy(&reply.body)
        );
        let revision: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
        let wanted = format!("\"revision\":{}", revision["revision"]);
        read_until(&mut stream, &mut seen, &wanted).await;
        latencies.push(sent.elapsed());
    }
    let mut sorted = latencies.clone();
    (percentile(&mut sorted, 50), percentile(&mut latencies, 99))
}

async fn read_until(stream: &mut tokio::net::TcpStream, seen: &mut String, wanted: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !seen.contains(wanted) {
        let mut chunk = [0u8; 4096];
        let left = deadline.saturating_duration_since(Instant::now());
        let n = tokio::time::timeout(left, stream.read(&mut chunk))
            .await
            .expect("B's event stream carried the write within 10 s")
            .unwrap();
        assert!(n > 0, "B closed its event stream");
        seen.push_str(&String::from_utf8_lossy(&chunk[..n]));
    }
}

/// A new database on the cluster at `url`; its URL.
fn new_database(runtime: &tokio::runtime::Runtime, url: &str) -> String {
    runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .unwrap();
        let driver = tokio::spawn(connection);
        let name = format!("bench_{}", std::process::id());
        // One statement each: several in one string run as one transaction,
        // where PostgreSQL refuses DROP and CREATE DATABASE.
        for statement in [
            format!("DROP DATABASE IF EXISTS {name}"),
            format!("CREATE DATABASE {name}"),
        ] {
            client.batch_execute(&statement).await.unwrap();
        }
        drop(client);
        let _ = driver.await;
        let base = url.rsplit_once('/').unwrap().0;
        format!("{base}/{name}")
    })
}

fn cases(runtime: &tokio::runtime::Runtime, server: &Server, backend: &str) {
    runtime.block_on(async {
        let path = "/client/production.json";
        let get = format!("GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n");
        let (rate, p99) = hammer(server.addr, get, 200).await;
        println!("{backend}: GET {path} 200: {rate:.0} req/s, p99 {p99:.2} ms");

        let mut connection = Connection::open(server.addr).await;
        let etag = connection.exchange(format!("GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n").as_bytes()).await.etag.unwrap();
        let conditional = format!("GET {path} HTTP/1.1\r\nHost: bench\r\nIf-None-Match: {etag}\r\n\r\n");
        let (rate, p99) = hammer(server.addr, conditional, 304).await;
        println!("{backend}: GET {path} 304: {rate:.0} req/s, p99 {p99:.2} ms");

        let (rate, p99) = puts(server).await;
        println!("{backend}: PUT /api/plan: {rate:.0} req/s, p99 {p99:.2} ms (sequential, durable per write, {PUTS} writes)");
    });
}

fn main() {
    // `cargo bench` passes flags such as --bench; this harness takes none.
    let runtime = load_generator();
    let dir = tempfile::tempdir().unwrap();
    cases(&runtime, &start_on(dir.path(), None), "data directory");

    let Ok(cluster) = std::env::var("STAGEGATE_BENCH_DATABASE_URL") else {
        println!(
            "PostgreSQL: not measured (set STAGEGATE_BENCH_DATABASE_URL, as `cargo xtask bench` does)"
        );
        return;
    };
    let url = new_database(&runtime, &cluster);
    let a = start_on(dir.path(), Some(&url));
    cases(&runtime, &a, "PostgreSQL");
    let mut b = start_on(dir.path(), Some(&url));
    b.token = a.token.clone();
    let (p50, p99) = runtime.block_on(propagation(&a, &b));
    println!(
        "PostgreSQL: kill switch on server A → server B's event stream: p50 {p50:.1} ms, p99 {p99:.1} ms ({PROPAGATIONS} writes)"
    );
}
