//! Load benchmark: starts the release `stagegate` on a temp data directory on
//! loopback and drives it with keep-alive HTTP/1.1 connections.
//!
//! `cargo bench -p stagegate-server --bench load` prints one line per case:
//! requests per second and p99 latency.
#![allow(clippy::unwrap_used)] // a benchmark that cannot run should stop loudly

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const CONNECTIONS: usize = 64;
const CASE_DURATION: Duration = Duration::from_secs(4);
const WARMUP: Duration = Duration::from_millis(500);
const PUTS: usize = 300;

struct Server {
    child: Child,
    addr: SocketAddr,
    token: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(data: &std::path::Path) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_stagegate"))
        .args(["serve", "--addr", "127.0.0.1:0", "--data"])
        .arg(data)
        .arg("--console")
        .arg(data.join("no-console"))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut token = String::new();
    let addr = loop {
        let mut line = String::new();
        assert!(stdout.read_line(&mut line).unwrap() > 0, "server exited");
        if let Some(t) = line.trim().strip_prefix("admin token: ") {
            token = t.to_string();
        }
        if let Some(addr) = line.trim().strip_prefix("stagegate listening on http://") {
            break addr.parse().unwrap();
        }
    };
    // Keep the pipe open (and drained) for the server's lifetime.
    std::thread::spawn(move || for _ in stdout.lines() {});
    Server { child, addr, token }
}

/// One keep-alive connection: send a request, read exactly one response.
struct Connection {
    stream: TcpStream,
    buffer: Vec<u8>,
}

struct Reply {
    status: u16,
    etag: Option<String>,
    body: Vec<u8>,
}

impl Connection {
    async fn open(addr: SocketAddr) -> Connection {
        let stream = TcpStream::connect(addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        Connection {
            stream,
            buffer: Vec::with_capacity(16 * 1024),
        }
    }

    async fn exchange(&mut self, request: &[u8]) -> Reply {
        self.stream.write_all(request).await.unwrap();
        loop {
            if let Some(reply) = self.take_reply() {
                return reply;
            }
            let mut chunk = [0u8; 16 * 1024];
            let n = self.stream.read(&mut chunk).await.unwrap();
            assert!(n > 0, "server closed the connection");
            self.buffer.extend_from_slice(&chunk[..n]);
        }
    }

    fn take_reply(&mut self) -> Option<Reply> {
        let end = self.buffer.windows(4).position(|w| w == b"\r\n\r\n")?;
        let head = std::str::from_utf8(&self.buffer[..end]).unwrap();
        let status = head[9..12].parse().unwrap();
        let mut length = 0;
        let mut etag = None;
        for line in head.split("\r\n").skip(1) {
            let (name, value) = line.split_once(':').unwrap();
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap();
            } else if name.eq_ignore_ascii_case("etag") {
                etag = Some(value.trim().to_string());
            }
        }
        if self.buffer.len() < end + 4 + length {
            return None;
        }
        let body = self.buffer[end + 4..end + 4 + length].to_vec();
        self.buffer.drain(..end + 4 + length);
        Some(Reply { status, etag, body })
    }
}

fn p99(latencies: &mut [Duration]) -> f64 {
    latencies.sort_unstable();
    let index = (latencies.len() * 99 / 100).min(latencies.len().saturating_sub(1));
    latencies
        .get(index)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

/// Many connections sending the same GET for a fixed time.
async fn hammer(addr: SocketAddr, request: String, expect: u16) -> (f64, f64) {
    let run = |duration: Duration| {
        let request = request.clone();
        async move {
            let deadline = Instant::now() + duration;
            let tasks: Vec<_> = (0..CONNECTIONS)
                .map(|_| {
                    let request = request.clone();
                    tokio::spawn(async move {
                        let mut connection = Connection::open(addr).await;
                        let mut latencies = Vec::with_capacity(100_000);
                        while Instant::now() < deadline {
                            let started = Instant::now();
                            let reply = connection.exchange(request.as_bytes()).await;
                            latencies.push(started.elapsed());
                            assert_eq!(reply.status, expect);
                        }
                        latencies
                    })
                })
                .collect();
            let mut all = Vec::new();
            for task in tasks {
                all.extend(task.await.unwrap());
            }
            all
        }
    };
    run(WARMUP).await;
    let started = Instant::now();
    let mut latencies = run(CASE_DURATION).await;
    let rate = latencies.len() as f64 / started.elapsed().as_secs_f64();
    (rate, p99(&mut latencies))
}

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
    (rate, p99(&mut latencies))
}

fn main() {
    // `cargo bench` passes flags such as --bench; this harness takes none.
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    // One thread for the load generator, leaving the rest to the server.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
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
