//! `cargo xtask test`: every test of the repository, in the order that lets each
//! part use what the previous built.

use std::path::PathBuf;

use anyhow::{Context, bail};

use crate::util::{build_stagegate, cargo, command, run, which};

pub fn test() -> anyhow::Result<()> {
    let dist = crate::dist::dist()?;
    node_version()?;
    // PostgreSQL first: $STAGEGATE_TEST_DATABASE_URL, or a throwaway cluster
    // (installing the server with apt-get when missing and root) that lives
    // until this returns. The cluster tests start clusters of their own from
    // the same binaries, and must not skip here.
    let (database, _cluster) = crate::postgres::database_url()?;
    // Rust: unit, integration, data-driven, server and CLI tests, the parity test
    // against the npm package just built, and the multi-server and fault tests.
    run(cargo()
        .args(["test", "--workspace", "--locked"])
        .env("STAGEGATE_NPM_PACKAGE", &dist.evaluator)
        .env("STAGEGATE_REQUIRE_POSTGRES", "1"))?;
    // The server's behavioural suite again, each test on a new database.
    run(cargo()
        .args(["test", "--locked", "-p", "stagegate-server", "--test", "it"])
        .env("STAGEGATE_TEST_BACKEND", "postgres")
        .env("STAGEGATE_TEST_DATABASE_URL", &database))?;
    // The npm package in Node, on the same test data; the OFREP and flagd tests
    // run the real server binary beside it.
    let stagegate = build_stagegate(false)?;
    run(command("node")
        .args(["--test", "tests/js/"])
        .env("STAGEGATE_NPM_PACKAGE", &dist.evaluator)
        .env("STAGEGATE_BIN", &stagegate))?;
    if let Some(console) = dist.console {
        let chromium = chromium()?;
        run(command("node")
            .args(["--test", "--test-concurrency=1", "tests/e2e/"])
            .env("CHROMIUM", chromium)
            .env("STAGEGATE_BIN", stagegate)
            .env("STAGEGATE_CONSOLE", console)
            // several-servers.test.mjs: two servers on one database.
            .env("STAGEGATE_TEST_DATABASE_URL", &database))?;
    }
    eprintln!("xtask test: all passed");
    Ok(())
}

fn node_version() -> anyhow::Result<()> {
    let output = command("node")
        .arg("--version")
        .output()
        .context("node (Node.js 20 or later) is needed")?;
    let version = String::from_utf8_lossy(&output.stdout);
    let major: u32 = version
        .trim()
        .trim_start_matches('v')
        .split('.')
        .next()
        .unwrap_or("0")
        .parse()
        .unwrap_or(0);
    if major < 20 {
        bail!("Node.js 20 or later is needed, found {}", version.trim());
    }
    Ok(())
}

/// Debian's Chromium for the browser tests: $CHROMIUM, or /usr/bin/chromium,
/// installed with apt-get when missing and we are root.
pub fn chromium() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("CHROMIUM") {
        return Ok(path.into());
    }
    if let Some(path) = which("chromium") {
        return Ok(path);
    }
    let is_root = command("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.starts_with(b"0\n"));
    if !is_root {
        bail!(
            "the browser tests need Chromium: install Debian's package (sudo apt-get install chromium) \
             or set CHROMIUM to a Chromium or Chrome binary"
        );
    }
    eprintln!("Chromium is missing; installing Debian's package");
    run(command("apt-get").arg("update").arg("-q"))?;
    run(command("apt-get")
        .args(["install", "-y", "-q", "--no-install-recommends", "chromium"])
        .env("DEBIAN_FRONTEND", "noninteractive"))?;
    which("chromium").context("apt-get installed chromium, but it is not on PATH")
}
