//! Build automation (matklad's xtask pattern): `cargo xtask <command>`.
//!
//! Everything the README promises runs from here, with nothing but cargo, node
//! and npm on the machine: no binary is downloaded at build or test time.

mod bench;
mod dist;
mod postgres;
mod test;
mod util;

use std::process::ExitCode;

const HELP: &str = "\
usage: cargo xtask <command>

commands:
  dist      build dist/evaluator (the npm package) and dist/console (the web console)
  serve     build everything and run `stagegate serve` on ./stagegate-data (default plan on first start);
            `serve --postgres` runs it on a throwaway PostgreSQL cluster instead
  test      run every test: Rust, the npm package in Node, native/wasm parity, browser end-to-end
  bench     run the benchmarks and print their numbers
  postgres  start a throwaway PostgreSQL cluster, print its URL, and remove it on Ctrl-C
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("dist") => dist::dist().map(|_| ()),
        Some("serve") => serve(&args[1..]),
        Some("test") => test::test(),
        Some("bench") => bench::bench(),
        Some("postgres") => postgres::postgres(),
        Some("help" | "--help" | "-h") | None => {
            print!("{HELP}");
            Ok(())
        }
        Some(other) => Err(anyhow::anyhow!("unknown command '{other}'\n\n{HELP}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// `cargo xtask serve [--postgres] [ARGS...]`: extra arguments go to
/// `stagegate serve`; `--postgres` serves from a throwaway cluster, removed on exit.
fn serve(args: &[String]) -> anyhow::Result<()> {
    let postgres = args.first().is_some_and(|arg| arg == "--postgres");
    let args = if postgres { &args[1..] } else { args };
    dist::dist()?;
    let cluster = if postgres {
        let (url, cluster) = postgres::database_url()?;
        eprintln!("xtask serve: PostgreSQL at {url} (removed when this stops)");
        Some((url, cluster))
    } else {
        None
    };
    let root = util::root();
    let mut command = util::cargo();
    command.args([
        "run",
        "--release",
        "--locked",
        "-p",
        "stagegate-server",
        "--bin",
        "stagegate",
        "--",
        "serve",
    ]);
    command
        .arg("--console")
        .arg(root.join("dist/console"))
        .args(args);
    if let Some((url, _)) = &cluster {
        command.arg("--store").arg(url);
    }
    util::run(&mut command)
}
