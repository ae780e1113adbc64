use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;

/// The workspace root (xtask lives one level below it).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask is inside the workspace")
        .to_path_buf()
}

/// `cargo`, the same one that runs xtask, working in the workspace root.
pub fn cargo() -> Command {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command.current_dir(root());
    command
}

pub fn command(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut command = Command::new(program);
    command.current_dir(root());
    command
}

pub use stagegate_pgtemp::run;

/// `npm ci` from the committed lockfile, when node_modules is missing or older than it.
pub fn npm_ci() -> anyhow::Result<()> {
    let root = root();
    let stamp = root.join("node_modules/.package-lock.json");
    let fresh = match (modified(&stamp), modified(&root.join("package-lock.json"))) {
        (Some(installed), Some(lock)) => installed >= lock,
        _ => false,
    };
    if !fresh {
        which("npm").context("npm is needed (Node.js 20 or later with npm)")?;
        run(command("npm").args(["ci", "--no-audit", "--no-fund"]))?;
    }
    Ok(())
}

fn modified(path: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(path)
        .and_then(|meta| meta.modified())
        .ok()
}

pub use stagegate_pgtemp::which;

/// Builds the `stagegate` binary and returns its path.
pub fn build_stagegate(release: bool) -> anyhow::Result<PathBuf> {
    let mut command = cargo();
    command.args([
        "build",
        "--locked",
        "-q",
        "-p",
        "stagegate-server",
        "--bin",
        "stagegate",
    ]);
    if release {
        command.arg("--release");
    }
    run(&mut command)?;
    Ok(root()
        .join("target")
        .join(if release { "release" } else { "debug" })
        .join("stagegate"))
}
