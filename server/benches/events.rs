//! Live-update benchmark: `STREAMS` concurrent `GET /client/production/events`
//! streams to one release `stagegate serve` process (a separate process: each
//! side needs a descriptor per connection), on loopback. Measures:
//!
//! - memory: the server's RSS before and after opening them, per stream;
//! - propagation: the kill switch turned on (then off, `ROUNDS` times) through
//!   the API, and for every stream the time from the write being sent and from
//!   it being acknowledged to the stream's event: p50, p99, max, and how many
//!   of the streams got it.
//!
//! `cargo bench -p stagegate-server --bench events` prints one line per case.
#![allow(clippy::unwrap_used)] // a benchmark that cannot run should stop loudly

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Connection, percentile, post_json, start};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, mpsc};

const STREAMS: usize = 10_000;
/// Connections being opened at once: under the listen backlog, so no SYN is
/// dropped and retried a second later.
const OPENING: usize = 256;
const ROUNDS: usize = 6;
/// How long a round waits for the last event before counting it missing.
const GIVE_UP: Duration = Duration::from_secs(10);
const KILL_SWITCH: &str = "/api/rollouts/domain-migration/environments/production/kill-switch";

/// An event's revision, from its `data:` line.
fn revision(line: &str) -> Option<u64> {
    let rest = line.strip_prefix("data: ")?;
    let digits = rest.split("\"revision\":").nth(1)?;
    digits.trim_end_matches(['}', '\r', '\n']).parse().ok()
}

/// Opens one stream, waits for its first event, then reports every later
/// event's revision and arrival time.
async fn listen(
    addr: SocketAddr,
    opened: mpsc::Sender<()>,
    events: mpsc::UnboundedSender<(u64, Instant)>,
) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    stream
        .write_all(b"GET /client/production/events HTTP/1.1\r\nHost: bench\r\n\r\n")
        .await
        .unwrap();
    let mut lines = BufReader::with_capacity(1024, stream);
    let mut line = String::new();
    let mut first = true;
    loop {
        line.clear();
        if lines.read_line(&mut line).await.unwrap() == 0 {
            return;
        }
        let Some(revision) = revision(&line) else {
            continue;
        };
        if first {
            first = false;
            opened.send(()).await.unwrap();
        } else {
            let _ = events.send((revision, Instant::now()));
        }
    }
}

/// Opens one keep-alive connection, makes one request on it and holds it idle.
async fn idle(addr: SocketAddr, opened: mpsc::Sender<()>, hold: Arc<Semaphore>) {
    let mut connection = Connection::open(addr).await;
    let reply = connection
        .exchange(b"GET /healthz HTTP/1.1\r\nHost: bench\r\n\r\n")
        .await;
    assert_eq!(reply.status, 200);
    opened.send(()).await.unwrap();
    let _ = hold.acquire().await;
}

/// The same number of plain keep-alive connections, idle after one request,
/// on a fresh server: what any open HTTP connection costs, stream or not.
/// Measured at once: the header-read timeout (10 s) closes them.
async fn idle_connections() -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let (opened, mut heard) = mpsc::channel(STREAMS);
    let hold = Arc::new(Semaphore::new(0));
    let warm = tokio::spawn(idle(server.addr, opened.clone(), hold.clone()));
    heard.recv().await.unwrap();
    warm.abort();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = server.rss_kib();
    let gate = Arc::new(Semaphore::new(OPENING));
    for _ in 0..STREAMS {
        let permit = gate.clone().acquire_owned().await.unwrap();
        let (opened, hold, addr) = (opened.clone(), hold.clone(), server.addr);
        tokio::spawn(async move {
            let (signal, mut ready) = mpsc::channel(1);
            let connection = tokio::spawn(idle(addr, signal, hold));
            ready.recv().await.unwrap();
            drop(permit);
            opened.send(()).await.unwrap();
            connection.await.unwrap();
        });
    }
    for _ in 0..STREAMS {
        opened_in_time(&mut heard).await;
    }
    let after = server.rss_kib();
    hold.close();
    // Their descriptors are free again before the streams need them.
    tokio::time::sleep(Duration::from_millis(500)).await;
    kib_per_stream(before, after)
}

/// The next connection's "open", or a loud stop: one that failed never sends it.
async fn opened_in_time(opened: &mut mpsc::Receiver<()>) {
    tokio::time::timeout(Duration::from_secs(60), opened.recv())
        .await
        .expect("a connection failed to open (its panic is above)")
        .unwrap();
}

fn kib_per_stream(before: u64, after: u64) -> f64 {
    (after.saturating_sub(before)) as f64 / STREAMS as f64
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        // First, and closed before the streams open: the client's descriptors
        // are not enough for both.
        let idle = idle_connections().await;
        let mut admin = Connection::open(server.addr).await;
        // The write alone, with no stream open: on, then off again.
        let mut alone = Vec::new();
        for on in [true, false] {
            let body = format!("{{\"on\":{on},\"comment\":\"events bench\"}}");
            let request = post_json(KILL_SWITCH, &server.token, &body);
            let sent = Instant::now();
            assert_eq!(admin.exchange(request.as_bytes()).await.status, 200);
            alone.push(sent.elapsed().as_secs_f64() * 1000.0);
        }
        // One stream opened and dropped first: what the first connection
        // allocates once is not counted per stream.
        let (opened, mut first) = mpsc::channel(STREAMS);
        let (events, mut arrivals) = mpsc::unbounded_channel();
        let warm = tokio::spawn(listen(server.addr, opened.clone(), events.clone()));
        first.recv().await.unwrap();
        warm.abort();
        tokio::time::sleep(Duration::from_millis(500)).await;

        let before = server.rss_kib();
        let started = Instant::now();
        let gate = Arc::new(Semaphore::new(OPENING));
        for _ in 0..STREAMS {
            let permit = gate.clone().acquire_owned().await.unwrap();
            let (opened, events) = (opened.clone(), events.clone());
            let addr = server.addr;
            tokio::spawn(async move {
                let (signal, mut heard) = mpsc::channel(1);
                let stream = tokio::spawn(listen(addr, signal, events));
                heard.recv().await.unwrap();
                drop(permit);
                opened.send(()).await.unwrap();
                stream.await.unwrap();
            });
        }
        for _ in 0..STREAMS {
            opened_in_time(&mut first).await;
        }
        let opening = started.elapsed();
        tokio::time::sleep(Duration::from_millis(500)).await;
        let after = server.rss_kib();
        println!(
            "{STREAMS} streams open in {:.1} s: server RSS {:.1} MiB before, {:.1} MiB after, {:.1} KiB per stream",
            opening.as_secs_f64(),
            before as f64 / 1024.0,
            after as f64 / 1024.0,
            kib_per_stream(before, after)
        );
        println!(
            "for comparison, {STREAMS} idle keep-alive connections after one GET /healthz (another server, measured first): {idle:.1} KiB per connection"
        );
        println!(
            "the kill switch write alone (no stream open): acknowledged in {:.1} ms and {:.1} ms",
            alone[0], alone[1]
        );

        let mut worst_p99 = 0f64;
        for round in 1..=ROUNDS {
            let on = round % 2 == 1;
            let body = format!("{{\"on\":{on},\"comment\":\"events bench\"}}");
            let request = post_json(KILL_SWITCH, &server.token, &body);
            let sent = Instant::now();
            let reply = admin.exchange(request.as_bytes()).await;
            let acknowledged = Instant::now();
            assert_eq!(reply.status, 200, "{}", String::from_utf8_lossy(&reply.body));
            let plan: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
            let written = plan["revision"].as_u64().unwrap();
            let (mut from_ack, mut from_send, mut early) = (Vec::new(), Vec::new(), 0);
            let deadline = tokio::time::Instant::now() + GIVE_UP;
            while from_ack.len() < STREAMS {
                let Ok(Some((revision, at))) =
                    tokio::time::timeout_at(deadline, arrivals.recv()).await
                else {
                    break;
                };
                assert_eq!(revision, written, "an event of another write");
                // The store publishes before the write's answer is sent: an
                // event may arrive first (counted, and as 0 here).
                early += usize::from(at < acknowledged);
                from_ack.push(at.saturating_duration_since(acknowledged));
                from_send.push(at.duration_since(sent));
            }
            let got = from_ack.len();
            let p99 = percentile(&mut from_send, 99);
            worst_p99 = worst_p99.max(p99);
            println!(
                "kill switch {}: {got}/{STREAMS} streams got the event; from sending the write p50 {:.1} ms, p99 {p99:.1} ms, max {:.1} ms; write acknowledged after {:.1} ms, {early} events came before that, from the acknowledgement p99 {:.1} ms, max {:.1} ms",
                if on { "on " } else { "off" },
                percentile(&mut from_send, 50),
                percentile(&mut from_send, 100),
                acknowledged.duration_since(sent).as_secs_f64() * 1000.0,
                percentile(&mut from_ack, 99),
                percentile(&mut from_ack, 100),
            );
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        println!(
            "worst p99 from sending the write, over {ROUNDS} rounds: {worst_p99:.1} ms (target 1,000 ms{})",
            if worst_p99 > 1000.0 { ", MISSED" } else { "" }
        );
    });
    // The streams' tasks are dropped with the runtime; the server with `server`.
    runtime.shutdown_background();
}
