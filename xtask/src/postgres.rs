//! A throwaway PostgreSQL cluster for the tests and for trying stagegate by hand:
//! started from the installed server binaries, in a temporary directory, on a
//! free port, and removed afterwards.

use std::fs::Permissions;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, anyhow, bail};

use crate::util::{command, run, which};

/// Stops the server and removes its directory once stdin closes: when the
/// `Cluster` is dropped, and also when xtask dies (Ctrl-C), which std cannot catch.
const GUARD: &str = r#"cat >/dev/null; "$@" >/dev/null 2>&1; rm -rf -- "$CLUSTER_DIR""#;

/// `$STAGEGATE_TEST_DATABASE_URL`, or else a throwaway cluster's URL (it lives
/// as long as the returned `Cluster`).
#[allow(dead_code)] // `cargo xtask test` uses it once the server has a PostgreSQL backend
pub fn database_url() -> anyhow::Result<(String, Option<Cluster>)> {
    if let Ok(url) = std::env::var("STAGEGATE_TEST_DATABASE_URL") {
        return Ok((url, None));
    }
    let (url, cluster) = Cluster::start()?;
    Ok((url, Some(cluster)))
}

/// `cargo xtask postgres`: a throwaway cluster until Ctrl-C.
pub fn postgres() -> anyhow::Result<()> {
    let (url, _cluster) = Cluster::start()?;
    println!("{url}");
    eprintln!("Ctrl-C stops it and removes its directory");
    loop {
        std::thread::park();
    }
}

pub struct Cluster {
    guard: Child,
}

impl Cluster {
    fn start() -> anyhow::Result<(String, Cluster)> {
        let started = Instant::now();
        let bin = server_binaries()?;
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
            Ok(guard) => Cluster { guard },
            Err(error) => {
                let _ = std::fs::remove_dir(&dir);
                return Err(error).context("could not start sh");
            }
        };
        // From here on, dropping `cluster` on an error removes everything.

        std::fs::set_permissions(&dir, Permissions::from_mode(0o700))?;
        if root {
            run(command("chown").arg("postgres:").arg(&dir)).context(
                "as root, the cluster runs as the `postgres` user (Debian's postgresql package creates it)",
            )?;
        }
        run(as_owner(&bin.join("initdb"), root)
            .arg("-D")
            .arg(&data)
            .args(["-U", "stagegate", "--auth=trust", "-E", "UTF8"])
            // --no-sync and fsync=off: a throwaway cluster need not survive a
            // power cut, and waiting for the disk would slow every test down.
            .args(["--locale=C", "--no-sync", "--no-instructions"])
            .stdout(Stdio::null()))?;
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let options = format!(
            "-p {port} -k '{}' -c listen_addresses=127.0.0.1 -c fsync=off",
            dir.display()
        );
        run(as_owner(&bin.join("pg_ctl"), root)
            .arg("-D")
            .arg(&data)
            .arg("-o")
            .arg(options)
            .arg("-l")
            .arg(&log)
            .args(["-w", "-s", "start"]))
        .map_err(|error| anyhow!("{error:#}; the end of its log:\n{}", tail(&log)))?;
        run(command(bin.join("createdb"))
            .args(["-h", "127.0.0.1", "-p", &port.to_string()])
            .args(["-U", "stagegate", "stagegate"]))?;
        eprintln!(
            "PostgreSQL from {} on port {port} in {} (started in {:.1} s)",
            bin.display(),
            dir.display(),
            started.elapsed().as_secs_f64()
        );
        let url = format!("postgres://stagegate@127.0.0.1:{port}/stagegate");
        Ok((url, cluster))
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        drop(self.guard.stdin.take());
        let _ = self.guard.wait();
    }
}

/// A server program run as the cluster's owner: initdb and pg_ctl refuse root.
fn as_owner(program: &Path, root: bool) -> Command {
    let mut command = if root {
        let mut runuser = command("runuser");
        runuser.args(["-u", "postgres", "--"]).arg(program);
        runuser
    } else {
        command(program)
    };
    // `postgres` may not be allowed into the workspace.
    command.current_dir("/");
    command
}

/// The newest of Debian's /usr/lib/postgresql/<major>/bin, or where pg_ctl is
/// on PATH; Debian's package is installed with apt-get when missing and we are root.
fn server_binaries() -> anyhow::Result<PathBuf> {
    if let Some(bin) = find_server_binaries() {
        return Ok(bin);
    }
    if !is_root() {
        bail!(
            "PostgreSQL's server is needed: install Debian's package (sudo apt-get install postgresql), \
             or for the tests set STAGEGATE_TEST_DATABASE_URL to a database they may use"
        );
    }
    eprintln!("PostgreSQL is missing; installing Debian's package");
    run(command("apt-get").arg("update").arg("-q"))?;
    run(command("apt-get")
        .args(["install", "-y", "-q", "--no-install-recommends"])
        .arg("postgresql")
        .env("DEBIAN_FRONTEND", "noninteractive"))?;
    find_server_binaries().context(
        "apt-get installed postgresql, but its server binaries are not in /usr/lib/postgresql",
    )
}

fn find_server_binaries() -> Option<PathBuf> {
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

fn is_root() -> bool {
    command("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.starts_with(b"0\n"))
}

/// The last lines of the server's log, for an error.
fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}
