//! What the cluster tests share: a throwaway cluster, `stagegate` processes
//! with their output kept, a blocking HTTP client with a deadline, an event
//! stream reader, and a writer that records what was acknowledged.
#![allow(dead_code)] // each test module uses a different part

use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use stagegate_pgtemp::Cluster;

pub const BINARY: &str = env!("CARGO_BIN_EXE_stagegate");
pub const ROLLOUT: &str = "domain-migration";
pub const PRODUCTION_KILL: &str =
    "/api/rollouts/domain-migration/environments/production/kill-switch";
/// Any request, however the store is doing, answers within this.
pub const ANSWER_WITHIN: Duration = Duration::from_secs(10);

/// A throwaway cluster, or `None` (the test passes, saying why) where
/// PostgreSQL's server is not installed and `STAGEGATE_REQUIRE_POSTGRES` is not 1.
pub fn cluster() -> Option<Cluster> {
    installed().then(|| Cluster::start().expect("starting a throwaway PostgreSQL cluster"))
}

/// `cluster`, taking clients over TLS only (`Cluster::start_tls`).
pub fn tls_cluster() -> Option<Cluster> {
    installed().then(|| Cluster::start_tls().expect("starting a throwaway cluster with TLS"))
}

fn installed() -> bool {
    if stagegate_pgtemp::server_binaries().is_none() {
        let why = "PostgreSQL's server binaries are not installed (Debian: apt-get install \
                   postgresql), so the multi-server and fault tests cannot run";
        if std::env::var("STAGEGATE_REQUIRE_POSTGRES").is_ok_and(|value| value == "1") {
            panic!("{why} (STAGEGATE_REQUIRE_POSTGRES=1)");
        }
        eprintln!("skipped: {why}");
        return false;
    }
    true
}

/// A `stagegate` process, its stdout and stderr kept (and shown if the test fails).
pub struct Process {
    pub child: Child,
    output: Arc<Mutex<String>>,
    _dir: tempfile::TempDir,
}

impl Process {
    /// `stagegate ARGS…` in a directory of its own.
    pub fn spawn(args: &[&str]) -> Process {
        Process::spawn_with(args, &[])
    }

    /// `spawn`, with these environment variables set.
    pub fn spawn_with(args: &[&str], env: &[(&str, &str)]) -> Process {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(BINARY)
            .args(args)
            .envs(env.iter().copied())
            .current_dir(dir.path())
            .env_remove("STAGEGATE_DATABASE_URL")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let output = Arc::new(Mutex::new(String::new()));
        let stdout = child
            .stdout
            .take()
            .map(|out| Box::new(out) as Box<dyn Read + Send>);
        let stderr = child
            .stderr
            .take()
            .map(|err| Box::new(err) as Box<dyn Read + Send>);
        for pipe in [stdout, stderr].into_iter().flatten() {
            let output = output.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines() {
                    let Ok(line) = line else { break };
                    let mut output = output.lock().unwrap();
                    output.push_str(&line);
                    output.push('\n');
                }
            });
        }
        Process {
            child,
            output,
            _dir: dir,
        }
    }

    /// `stagegate serve --store URL` on a free port, not waiting for it.
    pub fn serve(url: &str) -> Process {
        let console = "no-console"; // relative to its own directory: missing
        Process::spawn(&[
            "serve",
            "--store",
            url,
            "--addr",
            "127.0.0.1:0",
            "--console",
            console,
        ])
    }

    pub fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// Waits until the output has a line containing `text`; returns that line.
    pub fn wait_for(&mut self, text: &str, within: Duration) -> String {
        let started = Instant::now();
        loop {
            if let Some(line) = self.output().lines().find(|line| line.contains(text)) {
                return line.to_string();
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                std::thread::sleep(Duration::from_millis(100)); // the last lines
                panic!(
                    "stagegate exited ({status}) before printing {text:?}:\n{}",
                    self.output()
                );
            }
            assert!(
                started.elapsed() < within,
                "no {text:?} within {within:?}:\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Where it listens (once it says so).
    pub fn addr(&mut self) -> SocketAddr {
        let line = self.wait_for("stagegate listening on http://", Duration::from_secs(60));
        let addr = line.split("http://").nth(1).unwrap();
        addr.trim().parse().unwrap()
    }

    /// The admin token a first start prints.
    pub fn admin(&self) -> Option<String> {
        self.output()
            .lines()
            .find_map(|line| line.strip_prefix("admin token: "))
            .map(str::to_string)
    }

    /// SIGKILL, and wait for it to be gone.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The whole run of a command that ends: its exit code and output.
    pub fn finish(mut self, within: Duration) -> (i32, String) {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                std::thread::sleep(Duration::from_millis(100)); // the pipes' last lines
                return (status.code().unwrap_or(-1), self.output());
            }
            assert!(
                started.elapsed() < within,
                "still running after {within:?}:\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!(
                "--- output of stagegate {} ---\n{}",
                self.child.id(),
                self.output()
            );
        }
    }
}

/// A running server: where it listens.
pub struct Served {
    pub process: Process,
    pub addr: SocketAddr,
}

/// `stagegate serve --store URL`, once it listens.
pub fn serve(url: &str) -> Served {
    let mut process = Process::serve(url);
    let addr = process.addr();
    Served { process, addr }
}

pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// How long the answer took.
    pub took: Duration,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One request on its own connection; an error if there is no whole answer
/// within `ANSWER_WITHIN` (a hang is a failure, not a wait).
pub fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> io::Result<Response> {
    let started = Instant::now();
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(ANSWER_WITHIN))?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(token) = token {
        head.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if let Some(body) = body {
        head.push_str("Content-Type: application/json\r\n");
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    head.push_str(body.unwrap_or(""));
    stream.write_all(head.as_bytes())?;
    let mut raw = Vec::new();
    let mut buffer = [0u8; 16 * 1024];
    loop {
        if started.elapsed() > ANSWER_WITHIN {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "no answer in time"));
        }
        match stream.read(&mut buffer)? {
            0 => break,
            n => raw.extend_from_slice(&buffer[..n]),
        }
    }
    let (status, headers, body) = parse_head(&raw)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "malformed response"))?;
    Ok(Response {
        status,
        headers,
        body: raw[body..].to_vec(),
        took: started.elapsed(),
    })
}

/// The status, headers and where the body starts, once the head is whole.
/// A response head: status, headers, and its length in bytes.
type Head = (u16, Vec<(String, String)>, usize);

fn parse_head(raw: &[u8]) -> Option<Head> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_string(), value.trim().to_string()))
        .collect();
    Some((status, headers, end + 4))
}

pub fn get(addr: SocketAddr, path: &str, token: &str) -> Response {
    call(addr, "GET", path, Some(token), &[], None)
        .unwrap_or_else(|error| panic!("GET {path} on {addr}: {error}"))
}

/// The current plan and its ETag.
pub fn plan(addr: SocketAddr, token: &str) -> (Value, String) {
    let reply = get(addr, "/api/plan", token);
    assert_eq!(reply.status, 200, "{}", reply.text());
    let etag = reply.header("etag").unwrap().to_string();
    (reply.json(), etag)
}

/// The revision a server serves now, by `/healthz`.
pub fn revision(addr: SocketAddr) -> u64 {
    let reply = call(addr, "GET", "/healthz", None, &[], None).unwrap();
    reply.json()["revision"].as_u64().unwrap()
}

/// PUT /api/plan with the description set to `marker`, over `etag`.
pub fn put_marked(
    addr: SocketAddr,
    token: &str,
    mut plan: Value,
    etag: &str,
    marker: &str,
) -> io::Result<Response> {
    plan["rollouts"][ROLLOUT]["description"] = json!(marker);
    let body = plan.to_string();
    call(
        addr,
        "PUT",
        "/api/plan",
        Some(token),
        &[("If-Match", etag)],
        Some(&body),
    )
}

/// Polls `check` every 10 ms until it holds; returns how long that took, or
/// `None` if it did not within `within`.
pub fn until(within: Duration, mut check: impl FnMut() -> bool) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < within {
        if check() {
            return Some(started.elapsed());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    None
}

/// Acknowledged writes: revision → the marker written.
pub type Acked = Arc<Mutex<BTreeMap<u64, String>>>;

/// One writer: read the plan, set a unique marker, PUT it with If-Match, and
/// record each 200. Any other answer than 200, 412 (another write first) or
/// `allowed` fails the test. Returns why it stopped: `true` when the server
/// went away (no answer), `false` when told to stop.
pub fn writer(
    addr: SocketAddr,
    token: String,
    name: String,
    acked: Acked,
    stop: Arc<AtomicBool>,
    allowed: &'static [u16],
) -> bool {
    let mut attempt = 0;
    while !stop.load(Ordering::Relaxed) {
        attempt += 1;
        let Ok(current) = call(addr, "GET", "/api/plan", Some(&token), &[], None) else {
            return true;
        };
        let Some(etag) = current.header("etag").map(str::to_string) else {
            panic!("GET /api/plan: {} {}", current.status, current.text());
        };
        let marker = format!("{name} attempt {attempt}");
        match put_marked(addr, &token, current.json(), &etag, &marker) {
            Ok(reply) if reply.status == 200 => {
                let revision = reply.json()["revision"].as_u64().unwrap();
                let earlier = acked.lock().unwrap().insert(revision, marker);
                assert!(earlier.is_none(), "revision {revision} acknowledged twice");
            }
            Ok(reply) => {
                assert!(
                    reply.status == 412 || allowed.contains(&reply.status),
                    "PUT /api/plan answered {}: {}",
                    reply.status,
                    reply.text()
                );
                if reply.status != 412 {
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
            Err(_) => return true,
        }
    }
    false
}

/// One open `GET /client/{env}/events` stream, read event by event.
pub struct Events {
    stream: TcpStream,
    raw: Vec<u8>,
    /// Where the next chunk starts in `raw` (the body is chunked).
    at: usize,
    text: String,
}

impl Events {
    pub fn open(addr: SocketAddr, env: &str) -> Events {
        let mut stream = TcpStream::connect(addr).unwrap();
        let head = format!("GET /client/{env}/events HTTP/1.1\r\nHost: {addr}\r\n\r\n");
        stream.write_all(head.as_bytes()).unwrap();
        let mut events = Events {
            stream,
            raw: Vec::new(),
            at: 0,
            text: String::new(),
        };
        let deadline = Instant::now() + ANSWER_WITHIN;
        let start = loop {
            if let Some((status, headers, start)) = parse_head(&events.raw) {
                assert_eq!(status, 200);
                assert!(
                    headers.iter().any(|(name, value)| name
                        .eq_ignore_ascii_case("transfer-encoding")
                        && value == "chunked"),
                    "{headers:?}"
                );
                break start;
            }
            assert!(events.read(deadline), "no answer to the event stream");
        };
        events.at = start;
        events
    }

    /// More bytes, or `false` if none came by `deadline` (or the stream ended).
    fn read(&mut self, deadline: Instant) -> bool {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        self.stream.set_read_timeout(Some(left)).unwrap();
        let mut buffer = [0u8; 8192];
        match self.stream.read(&mut buffer) {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.raw.extend_from_slice(&buffer[..n]);
                true
            }
        }
    }

    /// Moves whole chunks from `raw` into `text`.
    fn dechunk(&mut self) {
        while let Some(line) = self.raw[self.at..].windows(2).position(|w| w == b"\r\n") {
            let size = std::str::from_utf8(&self.raw[self.at..self.at + line]).unwrap();
            let size = usize::from_str_radix(size.trim(), 16).unwrap();
            let start = self.at + line + 2;
            if self.raw.len() < start + size + 2 {
                return;
            }
            self.text
                .push_str(std::str::from_utf8(&self.raw[start..start + size]).unwrap());
            self.at = start + size + 2;
        }
    }

    /// The data of the next event (blocks without data, `retry:` and
    /// keep-alives, are passed over), or `None` if none came within `within`.
    pub fn next(&mut self, within: Duration) -> Option<Value> {
        let deadline = Instant::now() + within;
        loop {
            self.dechunk();
            while let Some(end) = self.text.find("\n\n") {
                let block: String = self.text.drain(..end + 2).collect();
                let data = block.lines().find_map(|line| line.strip_prefix("data: "));
                if let Some(data) = data {
                    return Some(serde_json::from_str(data).unwrap());
                }
            }
            if !self.read(deadline) {
                return None;
            }
        }
    }
}

/// A data directory's path, as a `&str` argument.
pub fn arg(path: &Path) -> &str {
    path.to_str().unwrap()
}
