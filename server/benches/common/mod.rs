//! What the server benchmarks share: the release `stagegate` started on a temp
//! data directory on loopback, a keep-alive HTTP/1.1 connection, and a fixed-time
//! run of many connections sending one request.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub const CONNECTIONS: usize = 64;
pub const CASE_DURATION: Duration = Duration::from_secs(4);
const WARMUP: Duration = Duration::from_millis(500);

pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    pub token: String,
}

impl Server {
    #[allow(dead_code)] // only the guardrails bench reads it
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server process's resident memory in KiB (`VmRSS` of /proc/PID/status).
    #[allow(dead_code)] // only the guardrails bench reads it
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[allow(dead_code)] // the load bench calls `start_on`
pub fn start(data: &std::path::Path) -> Server {
    start_on(data, None)
}

/// `start`, on the PostgreSQL database `store` when given (`data` then only
/// holds nothing: the console path). The admin token is printed by the first
/// server on a new database only: later ones get `token` empty.
pub fn start_on(data: &std::path::Path, store: Option<&str>) -> Server {
    let mut command = Command::new(env!("CARGO_BIN_EXE_stagegate"));
    command
        .args(["serve", "--addr", "127.0.0.1:0", "--data"])
        .arg(data)
        .arg("--console")
        .arg(data.join("no-console"));
    if let Some(url) = store {
        command.arg("--store").arg(url);
    }
    let mut child = command.stdout(Stdio::piped()).spawn().unwrap();
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
pub struct Connection {
    stream: TcpStream,
    buffer: Vec<u8>,
}

pub struct Reply {
    pub status: u16,
    #[allow(dead_code)] // the events bench reads none
    pub etag: Option<String>,
    pub body: Vec<u8>,
}

impl Connection {
    pub async fn open(addr: SocketAddr) -> Connection {
        let stream = TcpStream::connect(addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        Connection {
            stream,
            buffer: Vec::with_capacity(16 * 1024),
        }
    }

    pub async fn exchange(&mut self, request: &[u8]) -> Reply {
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

/// The load generator's runtime: one thread, leaving the other cores to the server.
#[allow(dead_code)] // the events bench runs its clients on its own runtime
pub fn load_generator() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A request with a JSON body, as bytes to send.
#[allow(dead_code)] // the events bench posts none
pub fn post_json(path: &str, bearer: &str, body: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {bearer}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// The latency at `percent` (0 to 100) in milliseconds.
pub fn percentile(latencies: &mut [Duration], percent: usize) -> f64 {
    latencies.sort_unstable();
    let index = (latencies.len() * percent / 100).min(latencies.len().saturating_sub(1));
    latencies
        .get(index)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

/// `CONNECTIONS` connections sending the same request for `CASE_DURATION`
/// (after a warm-up): requests per second and p99 latency in milliseconds.
#[allow(dead_code)] // the guardrails bench names its connections
pub async fn hammer(addr: SocketAddr, request: String, expect: u16) -> (f64, f64) {
    hammer_with(addr, request, expect, CONNECTIONS).await
}

/// `hammer` with `connections` connections.
pub async fn hammer_with(
    addr: SocketAddr,
    request: String,
    expect: u16,
    connections: usize,
) -> (f64, f64) {
    let run = |duration: Duration| {
        let request = request.clone();
        async move {
            let deadline = Instant::now() + duration;
            let tasks: Vec<_> = (0..connections)
                .map(|_| {
                    let request = request.clone();
                    tokio::spawn(async move {
                        let mut connection = Connection::open(addr).await;
                        let mut latencies = Vec::with_capacity(100_000);
                        while Instant::now() < deadline {
                            let started = Instant::now();
                            let reply = connection.exchange(request.as_bytes()).await;
                            latencies.push(started.elapsed());
                            assert_eq!(
                                reply.status,
                                expect,
                                "{}",
                                String::from_utf8_lossy(&reply.body)
                            );
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
    (rate, percentile(&mut latencies, 99))
}
