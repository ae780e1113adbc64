//! `cargo xtask bench`: every benchmark, printed as lines to paste into
//! BENCHMARKS.md (with the machine and date they were measured on).

use std::fs;
use std::io::Write;
use std::time::Instant;

use anyhow::Context;
use flate2::Compression;
use flate2::write::GzEncoder;

use crate::util::{build_stagegate, cargo, command, root, run};

pub fn bench() -> anyhow::Result<()> {
    let dist = crate::dist::dist()?;
    println!("## Measured {} on {}", today()?, machine());
    println!("\n### Evaluator, native (release)");
    run(cargo().args([
        "bench",
        "--locked",
        "-q",
        "-p",
        "stagegate-evaluator",
        "--bench",
        "evaluate",
    ]))?;

    println!(
        "\n### Evaluator, npm package in Node {}",
        output("node", &["--version"])?
    );
    run(command("node")
        .arg("tests/js/bench.mjs")
        .env("STAGEGATE_NPM_PACKAGE", &dist.evaluator))?;
    println!("\n### npm package size");
    let mut total = 0;
    for file in [
        "stagegate_evaluator_bg.wasm",
        "stagegate_evaluator.js",
        "index.js",
    ] {
        let (raw, gzip) = sizes(&dist.evaluator.join(file))?;
        total += gzip;
        println!("{file}: {raw} bytes raw, {gzip} bytes gzip");
    }
    println!(
        "wasm + JS glue + wrapper: {total} bytes gzip ({:.1} KiB; target 40 KB = 40,000 bytes{})",
        total as f64 / 1024.0,
        if total > 40_000 { ", OVER" } else { "" }
    );
    // Separate entry points, outside the 40 KB above: the reporter imports
    // nothing; the live client and the providers add their own bytes to the core.
    for (file, entry) in [
        ("reporter.js", "reporter"),
        ("live.js", "live, on top of the core"),
        ("openfeature.js", "openfeature, on top of live"),
    ] {
        let (raw, gzip) = sizes(&dist.evaluator.join(file))?;
        println!("{file} (stagegate-evaluator/{entry}): {raw} bytes raw, {gzip} bytes gzip");
    }

    println!("\n### CLI");
    cli_bucket_stream()?;

    // The load bench measures PostgreSQL beside the data directory, on a
    // cluster that syncs each commit to disk as the directory does each write.
    let (database, _cluster) = match std::env::var("STAGEGATE_BENCH_DATABASE_URL") {
        Ok(url) => (url, None),
        Err(_) => {
            stagegate_pgtemp::install()?;
            let cluster = stagegate_pgtemp::Cluster::start_durable()?;
            (cluster.url(), Some(cluster))
        }
    };
    for (title, bench) in [
        ("Server", "load"),
        ("Guardrails", "guardrails"),
        ("Live updates (SSE)", "events"),
    ] {
        println!("\n### {title} (release, loopback)");
        run(cargo()
            .args([
                "bench",
                "--locked",
                "-q",
                "-p",
                "stagegate-server",
                "--bench",
                bench,
            ])
            .env("STAGEGATE_BENCH_DATABASE_URL", &database))?;
    }

    if let Some(console) = dist.console {
        println!("\n### Console (headless Chromium, loopback)");
        let stagegate = build_stagegate(true)?;
        run(command("node")
            .arg("tests/e2e/bench.mjs")
            .env("CHROMIUM", crate::test::chromium()?)
            .env("STAGEGATE_BIN", stagegate)
            .env("STAGEGATE_CONSOLE", console))?;
    }
    Ok(())
}

/// `stagegate bucket` over one million ids on stdin, best of three.
fn cli_bucket_stream() -> anyhow::Result<()> {
    let stagegate = build_stagegate(true)?;
    let ids = root().join("target/bench-ids.txt");
    let text: String = (0..1_000_000).map(|i| format!("user-{i}\n")).collect();
    fs::write(&ids, text)?;
    let mut best = f64::INFINITY;
    for _ in 0..3 {
        let start = Instant::now();
        let status = command(&stagegate)
            .args(["bucket", "--salt", "domain-migration"])
            .stdin(fs::File::open(&ids)?)
            .stdout(std::process::Stdio::null())
            .status()?;
        anyhow::ensure!(status.success(), "stagegate bucket failed");
        best = best.min(start.elapsed().as_secs_f64());
    }
    println!(
        "stagegate bucket, 1,000,000 ids on stdin: {:.3} s (best of 3)",
        best
    );
    Ok(())
}

fn sizes(path: &std::path::Path) -> anyhow::Result<(usize, usize)> {
    let bytes = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let mut gzip = GzEncoder::new(Vec::new(), Compression::best());
    gzip.write_all(&bytes)?;
    Ok((bytes.len(), gzip.finish()?.len()))
}

fn output(program: &str, args: &[&str]) -> anyhow::Result<String> {
    let out = command(program)
        .args(args)
        .output()
        .with_context(|| format!("running {program}"))?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn today() -> anyhow::Result<String> {
    output("date", &["-u", "+%Y-%m-%d"])
}

fn machine() -> String {
    let cpu = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!(
        "{cores} cores ({cpu}), rustc {}",
        output("rustc", &["--version"]).unwrap_or_default()
    )
}
