//! Load benchmark: starts the release `stagegate` on a temp data directory on
//! loopback and drives it with keep-alive HTTP/1.1 connections.
//!
//! `cargo bench -p stagegate-server --bench load` prints one line per case:
//! requests per second and p99 latency.
#![allow(clippy::unwrap_used)] // a benchmark that cannot run should stop loudly

mod common;

use std::time::Instant;

use common::{Connection, Server, hammer, load_generator, percentile, start};

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

fn main() {
    // `cargo bench` passes flags such as --bench; this harness takes none.
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let runtime = load_generator();
    runtime.block_on(async {
        let path = "/client/production.json";
        let get = format!("GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n");
        let (rate, p99) = hammer(server.addr, get, 200).await;
        println!("GET {path} 200: {rate:.0} req/s, p99 {p99:.2} ms");

        let mut connection = Connection::open(server.addr).await;
        let etag = connection.exchange(format!("GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n").as_bytes()).await.etag.unwrap();
        let conditional = format!("GET {path} HTTP/1.1\r\nHost: bench\r\nIf-None-Match: {etag}\r\n\r\n");
        let (rate, p99) = hammer(server.addr, conditional, 304).await;
        println!("GET {path} 304: {rate:.0} req/s, p99 {p99:.2} ms");

        let (rate, p99) = puts(&server).await;
        println!("PUT /api/plan: {rate:.0} req/s, p99 {p99:.2} ms (sequential, fsync per write, {PUTS} writes)");
    });
}
