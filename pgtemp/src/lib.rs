//! A throwaway PostgreSQL cluster for the tests and for trying stagegate by
//! hand: started from the installed server binaries, in a temporary directory,
//! on a free port, and removed afterwards (also when its owner dies).
//!
//! ```no_run
//! let cluster = stagegate_pgtemp::Cluster::start()?;
//! println!("{}", cluster.url());
//! cluster.stop_immediate()?; // as if the machine lost power
//! cluster.start_again()?; // same port, same data
//! # anyhow::Ok(())
//! ```

use std::fs::Permissions;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, anyhow, bail};

/// Stops the server and removes its directory once stdin closes: when the
/// `Cluster` is dropped, and also when its owner dies (Ctrl-C, a test process
/// killed), which Rust cannot catch.
const GUARD: &str = r#"cat >/dev/null; "$@" >/dev/null 2>&1; rm -rf -- "$CLUSTER_DIR""#;

/// Enough for many test servers at once (each keeps a small pool).
const MAX_CONNECTIONS: u32 = 400;

/// `$STAGEGATE_TEST_DATABASE_URL`, or else a throwaway cluster's URL (it lives
/// as long as the returned `Cluster`).
pub fn database_url() -> anyhow::Result<(String, Option<Cluster>)> {
    if let Ok(url) = std::env::var("STAGEGATE_TEST_DATABASE_URL") {
        return Ok((url, None));
    }
    let cluster = Cluster::start()?;
    Ok((cluster.url(), Some(cluster)))
}

/// A running cluster with a superuser `stagegate` (trust authentication, on
/// 127.0.0.1 only) and an empty database `stagegate`.
pub struct Cluster {
    guard: Child,
    bin: PathBuf,
    root: bool,
    data: PathBuf,
    log: PathBuf,
    /// The server's options (`pg_ctl -o`), kept for `start_again`.
    options: String,
    port: u16,
    tls: bool,
}

impl Cluster {
    /// Starts a cluster from the installed server binaries (see
    /// [`server_binaries`]; nothing is installed here: [`install`] does that),
    /// with `fsync=off`: a throwaway cluster need not survive a power cut, and
    /// waiting for the disk would slow every test down.
    pub fn start() -> anyhow::Result<Cluster> {
        Cluster::start_with(false, false)
    }

    /// As `start`, but each commit waits for the disk as in production: for
    /// benchmarks, so that writes are compared with a durable data directory.
    pub fn start_durable() -> anyhow::Result<Cluster> {
        Cluster::start_with(true, false)
    }

    /// As `start`, but clients must use TLS (`hostssl` only): the server's
    /// certificate, for 127.0.0.1, is signed by a CA made for it, in
    /// [`Cluster::ca_file`]. Needs the `openssl` command.
    pub fn start_tls() -> anyhow::Result<Cluster> {
        Cluster::start_with(false, true)
    }

    fn start_with(durable: bool, tls: bool) -> anyhow::Result<Cluster> {
        let started = Instant::now();
        let bin = server_binaries().ok_or_else(|| anyhow!(MISSING))?;
        let root = is_root();
        // As root the cluster belongs to `postgres`, so it must be somewhere
        // that user can reach: not a TMPDIR under /root.
        let base = if root {
            "/tmp".into()
        } else {
            std::env::temp_dir()
        };
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |time| time.subsec_nanos());
        let dir = base.join(format!("stagegate-postgres-{}-{nanos}", std::process::id()));
        let data = dir.join("data");
        let log = dir.join("log");
        let port = free_port()?;
        let mut options = format!(
            "-p {port} -k '{}' -c listen_addresses=127.0.0.1 -c fsync={} -c max_connections={MAX_CONNECTIONS}",
            dir.display(),
            if durable { "on" } else { "off" }
        );
        if tls {
            options.push_str(&format!(
                " -c ssl=on -c ssl_cert_file='{0}/server.crt' -c ssl_key_file='{0}/server.key'",
                dir.display()
            ));
        }
        std::fs::create_dir(&dir).with_context(|| format!("could not create {}", dir.display()))?;

        let mut stop = as_owner(&bin.join("pg_ctl"), root);
        stop.arg("-D").arg(&data).args(["-m", "immediate", "stop"]);
        let guard = Command::new("sh")
            .args(["-c", GUARD, "sh"])
            .arg(stop.get_program())
            .args(stop.get_args())
            .env("CLUSTER_DIR", &dir)
            .current_dir("/")
            .stdin(Stdio::piped())
            .process_group(0) // out of reach of the terminal's Ctrl-C
            .spawn();
        let cluster = match guard {
            Ok(guard) => Cluster {
                guard,
                bin,
                root,
                data,
                log,
                options,
                port,
                tls,
            },
            Err(error) => {
                let _ = std::fs::remove_dir(&dir);
                return Err(error).context("could not start sh");
            }
        };
        // From here on, dropping `cluster` on an error removes everything.

        std::fs::set_permissions(&dir, Permissions::from_mode(0o700))?;
        if root {
            run(Command::new("chown").arg("postgres:").arg(&dir)).context(
                "as root, the cluster runs as the `postgres` user (Debian's postgresql package creates it)",
            )?;
        }
        run(as_owner(&cluster.bin.join("initdb"), root)
            .arg("-D")
            .arg(&cluster.data)
            .args(["-U", "stagegate", "--auth=trust", "-E", "UTF8"])
            // Syncing the new cluster's files would only slow its start.
            .args(["--locale=C", "--no-sync", "--no-instructions"])
            .stdout(Stdio::null()))?;
        if tls {
            cluster.make_certificates(&dir)?;
        }
        cluster.start_again()?;
        run(Command::new(cluster.bin.join("createdb"))
            .args(["-h", "127.0.0.1", "-p", &port.to_string()])
            .args(["-U", "stagegate", "stagegate"]))?;
        eprintln!(
            "PostgreSQL from {} on port {port} in {} (started in {:.1} s)",
            cluster.bin.display(),
            dir.display(),
            started.elapsed().as_secs_f64()
        );
        Ok(cluster)
    }

    /// `postgres://stagegate@127.0.0.1:PORT/stagegate`.
    pub fn url(&self) -> String {
        format!("postgres://stagegate@127.0.0.1:{}/stagegate", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The CA that signed the server's certificate (a cluster from `start_tls`).
    pub fn ca_file(&self) -> Option<PathBuf> {
        self.tls.then(|| self.data.with_file_name("ca.crt"))
    }

    /// A CA and a server certificate for 127.0.0.1 signed by it, in `dir`;
    /// and a `pg_hba.conf` that takes TCP clients over TLS only.
    fn make_certificates(&self, dir: &Path) -> anyhow::Result<()> {
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        let openssl = || {
            let mut command = Command::new("openssl");
            command.current_dir(dir);
            command
        };
        let made = run(openssl()
            .args(["req", "-x509"])
            .args(ec)
            .args(["-keyout", "ca.key", "-out", "ca.crt", "-days", "2"])
            .args(["-subj", "/CN=stagegate test CA"]));
        made.context("the openssl command makes the test cluster's certificates")?;
        run(openssl().arg("req").args(ec).args([
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ]))?;
        std::fs::write(
            dir.join("server.ext"),
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\n\
             keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
        )?;
        run(openssl()
            .args([
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
            ])
            .args(["-CAcreateserial", "-out", "server.crt", "-days", "2"])
            .args(["-extfile", "server.ext"]))?;
        std::fs::set_permissions(dir.join("server.key"), Permissions::from_mode(0o600))?;
        std::fs::write(
            self.data.join("pg_hba.conf"),
            "local all all trust\nhostssl all all 127.0.0.1/32 trust\n",
        )?;
        if self.root {
            run(Command::new("chown")
                .arg("postgres:")
                .arg(dir.join("server.key"))
                .arg(dir.join("server.crt"))
                .arg(self.data.join("pg_hba.conf")))?;
        }
        Ok(())
    }

    /// Stops the server at once, as a crash or a power cut would (`pg_ctl -m
    /// immediate stop`): open connections break, and the next start recovers.
    pub fn stop_immediate(&self) -> anyhow::Result<()> {
        run(self.pg_ctl().args(["-m", "immediate", "-w", "-s", "stop"]))
    }

    /// Starts the server (again) on the same port and data, waiting until it
    /// accepts connections.
    pub fn start_again(&self) -> anyhow::Result<()> {
        run(self
            .pg_ctl()
            .arg("-o")
            .arg(&self.options)
            .arg("-l")
            .arg(&self.log)
            .args(["-w", "-s", "start"]))
        .map_err(|error| anyhow!("{error:#}; the end of its log:\n{}", tail(&self.log)))
    }

    fn pg_ctl(&self) -> Command {
        let mut command = as_owner(&self.bin.join("pg_ctl"), self.root);
        command.arg("-D").arg(&self.data);
        command
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        drop(self.guard.stdin.take());
        let _ = self.guard.wait();
    }
}

const MISSING: &str = "PostgreSQL's server is needed: install Debian's package \
     (sudo apt-get install postgresql), or for the tests set STAGEGATE_TEST_DATABASE_URL \
     to a database they may use";

/// The newest of Debian's /usr/lib/postgresql/<major>/bin, or where pg_ctl is
/// on PATH; `None` when PostgreSQL's server is not installed.
pub fn server_binaries() -> Option<PathBuf> {
    let debian = Path::new("/usr/lib/postgresql");
    let newest = std::fs::read_dir(debian)
        .into_iter()
        .flatten()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|major| debian.join(format!("{major}/bin/pg_ctl")).is_file())
        .max();
    match newest {
        Some(major) => Some(debian.join(format!("{major}/bin"))),
        None => Some(which("pg_ctl")?.parent()?.to_path_buf()),
    }
}

/// The server binaries, installing Debian's package with apt-get when they are
/// missing and we are root.
pub fn install() -> anyhow::Result<PathBuf> {
    if let Some(bin) = server_binaries() {
        return Ok(bin);
    }
    if !is_root() {
        bail!(MISSING);
    }
    eprintln!("PostgreSQL is missing; installing Debian's package");
    run(Command::new("apt-get").arg("update").arg("-q"))?;
    run(Command::new("apt-get")
        .args(["install", "-y", "-q", "--no-install-recommends"])
        .arg("postgresql")
        .env("DEBIAN_FRONTEND", "noninteractive"))?;
    server_binaries().context(
        "apt-get installed postgresql, but its server binaries are not in /usr/lib/postgresql",
    )
}

/// A server program run as the cluster's owner: initdb and pg_ctl refuse root.
fn as_owner(program: &Path, root: bool) -> Command {
    let mut command = if root {
        let mut runuser = Command::new("runuser");
        runuser.args(["-u", "postgres", "--"]).arg(program);
        runuser
    } else {
        Command::new(program)
    };
    // `postgres` may not be allowed into the caller's working directory.
    command.current_dir("/");
    command
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.starts_with(b"0\n"))
}

/// `program` on PATH (xtask uses it too).
pub fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

/// Runs a command, echoing it, and fails if it does (xtask uses it too).
pub fn run(command: &mut Command) -> anyhow::Result<()> {
    eprintln!("$ {}", describe(command));
    let status = command
        .status()
        .with_context(|| format!("could not start {}", describe(command)))?;
    if !status.success() {
        bail!("{} failed ({status})", describe(command));
    }
    Ok(())
}

fn describe(command: &Command) -> String {
    let mut text = command.get_program().to_string_lossy().into_owned();
    for arg in command.get_args() {
        text.push(' ');
        text.push_str(&arg.to_string_lossy());
    }
    text
}

/// The last lines of the server's log, for an error.
fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Start, stop as a crash would, start again on the same port: the data
    /// survives. Skipped where PostgreSQL is not installed.
    #[test]
    fn starts_stops_and_starts_again() {
        if server_binaries().is_none() {
            eprintln!("skipped: {MISSING}");
            return;
        }
        let cluster = Cluster::start().unwrap();
        let psql = |sql: &str| {
            Command::new(cluster.bin.join("psql"))
                .args(["-h", "127.0.0.1", "-p", &cluster.port().to_string()])
                .args(["-U", "stagegate", "-d", "stagegate", "-XAtc", sql])
                .output()
                .unwrap()
        };
        assert!(
            psql("CREATE TABLE kept (n int); INSERT INTO kept VALUES (7)")
                .status
                .success()
        );
        cluster.stop_immediate().unwrap();
        assert!(!psql("SELECT 1").status.success());
        cluster.start_again().unwrap();
        let out = psql("SELECT n FROM kept; SHOW max_connections");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "7\n400\n");
        let dir = cluster.data.parent().unwrap().to_path_buf();
        drop(cluster);
        assert!(!dir.exists());
    }
}
