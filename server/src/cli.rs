//! The command line: serve, validate, eval, bucket, user, ingest-key, sdk-key, export, simulate.

use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use evaluator::bucket::Salt;
use evaluator::json::Value;
use evaluator::model::{ROLES, Role};
use evaluator::{Context, Evaluator, Invalid};

use crate::app_keys::{KeyError, KeyKind, Keys, check_environment};
use crate::serve::{ServeOptions, run};
use crate::simulate::SimulateArgs;
use crate::storage::{Location, Storage};
use crate::users::{UserError, Users};

#[derive(Parser)]
#[command(
    name = "stagegate",
    version,
    about = "Staged rollouts: config store server, console host and offline tools"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API, the client documents and the console.
    Serve {
        /// The data directory, when no `--store` is given; seeded on first start.
        #[arg(long, default_value = "stagegate-data")]
        data: PathBuf,
        /// A PostgreSQL database (`postgres://user@host/db`) that any number of
        /// servers share, in place of the data directory.
        #[arg(long, env = "STAGEGATE_DATABASE_URL", value_name = "URL")]
        store: Option<String>,
        #[arg(long, default_value = "127.0.0.1:8080")]
        addr: String,
        /// The built console (`cargo xtask dist`); a placeholder page without it.
        #[arg(long, default_value = "dist/console")]
        console: PathBuf,
    },
    /// Check a plan file: prints "ok: …" or every problem, one per line (exit 1).
    Validate {
        /// The plan (JSON); `-` reads standard input.
        file: PathBuf,
    },
    /// Evaluate one unit against a plan file and print the evaluation as JSON.
    Eval {
        #[arg(long)]
        plan: PathBuf,
        #[arg(long)]
        rollout: String,
        #[arg(long)]
        env: String,
        /// The targeting key (user id).
        #[arg(long)]
        unit: String,
        /// A context attribute, `key=value`; repeatable. A value that reads as a JSON
        /// number or boolean (`42`, `1.5`, `true`) is one; anything else is a string.
        #[arg(long = "attr", value_name = "KEY=VALUE", value_parser = parse_attr)]
        attrs: Vec<(String, Value)>,
    },
    /// Print the bucket (0–9999) of `--unit`, or of every id read from standard
    /// input: ids are separated by LF only (any other byte, CR included, is part of
    /// the id; a last id without LF counts), one bucket per line, in order.
    Bucket {
        #[arg(long)]
        salt: String,
        #[arg(long)]
        unit: Option<String>,
    },
    /// Manage users (and their tokens).
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage ingest keys: per-environment keys that can only report counts
    /// (`POST /api/metrics`). A running server sees changes within a second.
    IngestKey {
        #[command(subcommand)]
        command: KeyCommand,
    },
    /// Manage SDK keys: per-environment keys that can only evaluate over OFREP
    /// (`/ofrep/v1/…`). A running server sees changes within a second.
    SdkKey {
        #[command(subcommand)]
        command: KeyCommand,
    },
    /// Write a plan in another feature-flag system's format.
    Export {
        #[command(subcommand)]
        command: ExportCommand,
    },
    /// Drive simulated app users against a running server: each round, fetch the
    /// client document, evaluate every user, and report exposures, sessions,
    /// crashes and sync failures as the npm reporter would.
    Simulate(SimulateArgs),
    /// Bring a PostgreSQL database's schema up to date (`--store URL`; servers
    /// also do this on start), or copy a data directory into an empty database
    /// (`--from DIR --to URL`): every revision with its audit entry, users,
    /// sign-offs, keys and webhooks.
    Migrate {
        /// The database whose schema to bring up to date.
        #[arg(long, env = "STAGEGATE_DATABASE_URL", value_name = "URL")]
        store: Option<String>,
        /// What to copy: a data directory (the server using it stopped), or
        /// a database (`postgres://…`; its servers may keep running).
        #[arg(long, value_name = "DIR|URL", requires = "to")]
        from: Option<String>,
        /// Where to copy it: a database, which must be empty unless `--force`;
        /// or, from a database, a data directory that is new or empty.
        #[arg(long, value_name = "URL|DIR", requires = "from")]
        to: Option<String>,
        /// Replace whatever the database holds (a copy into a database only).
        #[arg(long, requires = "from")]
        force: bool,
    },
}

#[derive(Subcommand)]
enum ExportCommand {
    /// flagd flag definitions for one environment: a flag `ROLLOUT.FLAG` per flag
    /// of every rollout that has it, deciding as stagegate does (README.md,
    /// "Exporting to flagd").
    Flagd {
        #[arg(long)]
        plan: PathBuf,
        #[arg(long)]
        env: String,
        /// Where to write the JSON (replaced whole); standard output without it.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// The same commands for ingest keys and SDK keys.
#[derive(Subcommand)]
enum KeyCommand {
    /// Create a key for an environment; the key is the last line printed, shown
    /// only this once (the server keeps its hash).
    Create {
        #[arg(long, default_value = "stagegate-data")]
        data: PathBuf,
        /// A PostgreSQL database (`postgres://…`), in place of the data directory.
        #[arg(long, env = "STAGEGATE_DATABASE_URL", value_name = "URL")]
        store: Option<String>,
        /// The environment the key is for (it works for no other).
        #[arg(long)]
        env: String,
        /// What the key is for, e.g. "web app".
        #[arg(long, default_value = "")]
        name: String,
    },
    /// List keys (id, environment, name, created, by); never the keys themselves.
    List {
        #[arg(long, default_value = "stagegate-data")]
        data: PathBuf,
        /// A PostgreSQL database (`postgres://…`), in place of the data directory.
        #[arg(long, env = "STAGEGATE_DATABASE_URL", value_name = "URL")]
        store: Option<String>,
    },
    /// Revoke a key by its id: it is refused from then on.
    Revoke {
        id: String,
        #[arg(long, default_value = "stagegate-data")]
        data: PathBuf,
        /// A PostgreSQL database (`postgres://…`), in place of the data directory.
        #[arg(long, env = "STAGEGATE_DATABASE_URL", value_name = "URL")]
        store: Option<String>,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user; their token is the last line printed, shown only this once.
    Add {
        name: String,
        #[arg(long, value_parser = parse_role)]
        role: Role,
        #[arg(long, default_value = "stagegate-data")]
        data: PathBuf,
        /// A PostgreSQL database (`postgres://…`), in place of the data directory.
        #[arg(long, env = "STAGEGATE_DATABASE_URL", value_name = "URL")]
        store: Option<String>,
    },
    /// Change a user's role (never the last admin's).
    Role {
        name: String,
        #[arg(value_parser = parse_role)]
        role: Role,
        #[arg(long, default_value = "stagegate-data")]
        data: PathBuf,
        /// A PostgreSQL database (`postgres://…`), in place of the data directory.
        #[arg(long, env = "STAGEGATE_DATABASE_URL", value_name = "URL")]
        store: Option<String>,
    },
    /// List users and their roles.
    List {
        #[arg(long, default_value = "stagegate-data")]
        data: PathBuf,
        /// A PostgreSQL database (`postgres://…`), in place of the data directory.
        #[arg(long, env = "STAGEGATE_DATABASE_URL", value_name = "URL")]
        store: Option<String>,
    },
    /// Remove a user (their token stops working at once; never the last admin).
    Remove {
        name: String,
        #[arg(long, default_value = "stagegate-data")]
        data: PathBuf,
        /// A PostgreSQL database (`postgres://…`), in place of the data directory.
        #[arg(long, env = "STAGEGATE_DATABASE_URL", value_name = "URL")]
        store: Option<String>,
    },
}

fn parse_role(text: &str) -> Result<Role, String> {
    Role::from_name(text)
        .ok_or_else(|| format!("'{text}' is not a role (one of {})", ROLES.join(", ")))
}

fn parse_attr(text: &str) -> Result<(String, Value), String> {
    let (key, value) = text
        .split_once('=')
        .ok_or_else(|| format!("'{text}' is not key=value"))?;
    if key.is_empty() {
        return Err(format!("'{text}' has an empty key"));
    }
    let value = match evaluator::json::parse(value) {
        Ok(parsed @ (Value::Number(_) | Value::Bool(_))) => parsed,
        _ => Value::String(value.to_string()),
    };
    Ok((key.to_string(), value))
}

/// How a command ended, short of success.
enum Failure {
    /// The input is wrong (problems already printed): exit 1.
    Rejected,
    /// Reading or writing failed: exit 2.
    Io(String),
    /// Anything else: exit 1.
    Other(String),
}

impl From<io::Error> for Failure {
    fn from(error: io::Error) -> Self {
        Failure::Io(error.to_string())
    }
}

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return ExitCode::from(error.exit_code().clamp(0, 255) as u8);
        }
    };
    match dispatch(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Rejected) => ExitCode::from(1),
        Err(Failure::Io(message)) => {
            eprintln!("stagegate: {message}");
            ExitCode::from(2)
        }
        Err(Failure::Other(message)) => {
            eprintln!("stagegate: {message}");
            ExitCode::from(1)
        }
    }
}

fn dispatch(command: Command) -> Result<(), Failure> {
    let result = match command {
        Command::Serve {
            data,
            store,
            addr,
            console,
        } => run(ServeOptions {
            store: store_location(store, data),
            addr,
            console,
        })
        .map_err(|error| Failure::Other(format!("{error:#}"))),
        Command::Validate { file } => validate(&file),
        Command::Eval {
            plan,
            rollout,
            env,
            unit,
            attrs,
        } => eval(&plan, &rollout, &env, unit, attrs),
        Command::Bucket { salt, unit } => bucket(&salt, unit.as_deref()),
        Command::User { command } => user(command),
        Command::IngestKey { command } => app_key(KeyKind::Ingest, command),
        Command::SdkKey { command } => app_key(KeyKind::Sdk, command),
        Command::Export {
            command: ExportCommand::Flagd { plan, env, out },
        } => export_flagd(&plan, &env, out.as_deref()),
        Command::Simulate(args) => crate::simulate::run(args).map_err(Failure::Other),
        Command::Migrate {
            store,
            from,
            to,
            force,
        } => migrate(store, from.zip(to), force),
    };
    match result {
        // Whoever reads our output stopped reading (`| head`): not an error.
        Err(Failure::Io(message)) if message.contains("Broken pipe") => Ok(()),
        other => other,
    }
}

/// The file's text. Bytes that are not UTF-8 are a problem with the plan (exit 1,
/// like any other invalid plan), not a failure to read it (exit 2).
fn read_input(file: &Path) -> Result<String, Failure> {
    let mut bytes = Vec::new();
    let result = if file == Path::new("-") {
        io::stdin().read_to_end(&mut bytes).map(|_| ())
    } else {
        std::fs::read(file).map(|read| bytes = read)
    };
    result.map_err(|error| Failure::Io(format!("cannot read {}: {error}", file.display())))?;
    String::from_utf8(bytes).or_else(|error| {
        writeln!(
            io::stdout(),
            "/: {} is not UTF-8 text (invalid byte at offset {})",
            file.display(),
            error.utf8_error().valid_up_to()
        )?;
        Err(Failure::Rejected)
    })
}

fn print_problems(invalid: &Invalid) -> Result<(), Failure> {
    let mut out = io::stdout().lock();
    for problem in &invalid.0 {
        writeln!(out, "{problem}")?;
    }
    out.flush()?;
    Err(Failure::Rejected)
}

/// `--store URL`, or the data directory.
fn store_location(store: Option<String>, data: PathBuf) -> Location {
    match store {
        Some(url) => Location::parse(&url),
        None => Location::Dir(data),
    }
}

/// `stagegate migrate`: the schema (`--store`), or a copy (`--from --to`).
fn migrate(
    store: Option<String>,
    copy: Option<(String, String)>,
    force: bool,
) -> Result<(), Failure> {
    use crate::storage::migrate;
    let postgres = |flag: &str, url: String| match Location::parse(&url) {
        Location::Postgres(url) => Ok(url),
        Location::Dir(_) => Err(Failure::Other(format!(
            "{flag}: '{url}' is not a PostgreSQL URL (postgres://user@host/db)"
        ))),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut out = io::stdout().lock();
    match copy {
        Some((from, to)) => {
            let (copied, from, to) = match (Location::parse(&from), Location::parse(&to)) {
                (Location::Dir(from), Location::Postgres(to)) => {
                    let (copied, database) = runtime
                        .block_on(migrate::into_database(&from, &to, force))
                        .map_err(|error| Failure::Other(format!("{error:#}")))?;
                    (copied, from.display().to_string(), database)
                }
                (Location::Postgres(from), Location::Dir(to)) => {
                    if force {
                        return Err(Failure::Other(
                            "--force: a copy into a data directory never replaces one: give a new directory".into(),
                        ));
                    }
                    let (copied, database) = runtime
                        .block_on(migrate::into_directory(&from, &to))
                        .map_err(|error| Failure::Other(format!("{error:#}")))?;
                    (copied, database, to.display().to_string())
                }
                (Location::Dir(_), Location::Dir(_)) => {
                    return Err(Failure::Other(format!(
                        "--to: '{to}' is not a PostgreSQL URL (postgres://user@host/db); \
                         to copy a data directory, stop its server and copy the directory"
                    )));
                }
                (Location::Postgres(_), Location::Postgres(_)) => {
                    return Err(Failure::Other(
                        "--from and --to are both databases: copy one database into another \
                         with pg_dump and pg_restore"
                            .into(),
                    ));
                }
            };
            writeln!(
                out,
                "copied {} revisions (head {}), {} documents ({}) and {} metric totals \
                 from {from} to {to}",
                copied.revisions,
                copied.head,
                copied.documents.len(),
                copied.documents.join(", "),
                copied.counts,
            )?;
            if copied.unreadable_count_lines > 0 {
                writeln!(
                    out,
                    "note: {} lines of {} did not read and were not copied \
                     (a server replaying it skips them too)",
                    copied.unreadable_count_lines,
                    crate::metrics::LOG_FILE
                )?;
            }
        }
        None => {
            let store = store.ok_or_else(|| {
                Failure::Other(
                    "migrate: give --store URL (or STAGEGATE_DATABASE_URL), or --from DIR --to URL"
                        .into(),
                )
            })?;
            let store = postgres("--store", store)?;
            let (applied, database) = runtime
                .block_on(migrate::schema(&store))
                .map_err(|error| Failure::Other(format!("{error:#}")))?;
            writeln!(
                out,
                "applied {applied} migration{} to {database}; its schema is current",
                if applied == 1 { "" } else { "s" }
            )?;
        }
    }
    Ok(())
}

fn validate(file: &Path) -> Result<(), Failure> {
    let text = read_input(file)?;
    match evaluator::parse_plan(&text) {
        Ok(plan) => {
            let count = plan.rollouts.len();
            let noun = if count == 1 { "rollout" } else { "rollouts" };
            writeln!(
                io::stdout(),
                "ok: {count} {noun}, revision {}",
                plan.revision
            )?;
            Ok(())
        }
        Err(invalid) => print_problems(&invalid),
    }
}

fn eval(
    plan: &Path,
    rollout: &str,
    env: &str,
    unit: String,
    attrs: Vec<(String, Value)>,
) -> Result<(), Failure> {
    let text = read_input(plan)?;
    let evaluator = match Evaluator::from_json(&text) {
        Ok(evaluator) => evaluator,
        Err(invalid) => return print_problems(&invalid),
    };
    let mut context = Context::new(unit);
    context.attributes.extend(attrs);
    let evaluation = evaluator.evaluate(rollout, env, &context);
    let json = serde_json::to_string_pretty(&evaluation)
        .map_err(|error| Failure::Other(error.to_string()))?;
    writeln!(io::stdout(), "{json}")?;
    Ok(())
}

fn export_flagd(plan: &Path, env: &str, out: Option<&Path>) -> Result<(), Failure> {
    let text = read_input(plan)?;
    let plan = match evaluator::parse_plan(&text) {
        Ok(plan) => plan,
        Err(invalid) => return print_problems(&invalid),
    };
    let export = crate::export::flagd::flagd(&plan, env)
        .map_err(|error| Failure::Other(error.to_string()))?;
    let mut json =
        serde_json::to_string_pretty(&export).map_err(|error| Failure::Other(error.to_string()))?;
    json.push('\n');
    match out {
        None => io::stdout().write_all(json.as_bytes())?,
        // Replaced whole (a temp file renamed over it): whoever serves the
        // file to flagd never reads half an export.
        Some(path) => {
            let dir = match path.parent() {
                Some(dir) if !dir.as_os_str().is_empty() => dir,
                _ => Path::new("."),
            };
            let name = path
                .file_name()
                .and_then(|name| name.to_str())
                .ok_or_else(|| Failure::Other(format!("--out {} names no file", path.display())))?;
            crate::util::write_atomic(dir, name, json.as_bytes())
                .map_err(|error| Failure::Io(format!("cannot write {}: {error}", path.display())))?
        }
    }
    Ok(())
}

fn bucket(salt: &str, unit: Option<&str>) -> Result<(), Failure> {
    let salt = Salt::new(salt);
    if let Some(unit) = unit {
        writeln!(io::stdout(), "{}", salt.bucket(unit))?;
        return Ok(());
    }
    stream_buckets(&salt, io::stdin().lock(), io::stdout().lock())?;
    Ok(())
}

/// One bucket per LF-separated id, in order; built for millions of ids: one
/// reused buffer, big buffered reads and writes, digits written by hand.
pub fn stream_buckets(salt: &Salt, input: impl Read, output: impl Write) -> io::Result<()> {
    let mut reader = BufReader::with_capacity(1 << 16, input);
    let mut writer = BufWriter::with_capacity(1 << 16, output);
    let mut id = Vec::with_capacity(256);
    loop {
        id.clear();
        if reader.read_until(b'\n', &mut id)? == 0 {
            break;
        }
        let unit = id.strip_suffix(b"\n").unwrap_or(&id);
        write_number_line(&mut writer, salt.bucket_bytes(unit))?;
    }
    writer.flush()
}

fn write_number_line(out: &mut impl Write, number: u16) -> io::Result<()> {
    let mut digits = [0u8; 6];
    let mut at = digits.len() - 1;
    digits[at] = b'\n';
    let mut rest = number;
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    out.write_all(&digits[at..])
}

/// Who the users' log names for changes made on the command line.
const CLI: &str = "cli";

fn user(command: UserCommand) -> Result<(), Failure> {
    block_on(user_command(command))
}

/// Runs a command's async work (the store is async) on a runtime of its own.
fn block_on(work: impl Future<Output = Result<(), Failure>>) -> Result<(), Failure> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(work)
}

async fn user_command(command: UserCommand) -> Result<(), Failure> {
    let open = |store: Option<String>, data: PathBuf| async move {
        let storage = open_documents(&store_location(store, data)).await?;
        Users::open(storage)
            .await
            .map_err(|e| Failure::Other(format!("{e:#}")))
    };
    let mut out = io::stdout().lock();
    match command {
        UserCommand::Add {
            name,
            role,
            data,
            store,
        } => {
            let users = open(store, data).await?;
            let (user, token) = users.add(&name, role, CLI).await.map_err(user_failure)?;
            writeln!(
                out,
                "created user {} (role {}); the token is shown only this once:",
                user.name, user.role
            )?;
            writeln!(out, "{token}")?;
        }
        UserCommand::List { data, store } => {
            let users = open(store, data).await?;
            for user in users.list().iter() {
                writeln!(out, "{}\t{}\t{}", user.name, user.role, user.created)?;
            }
        }
        UserCommand::Remove { name, data, store } => {
            let users = open(store, data).await?;
            users.remove(&name, CLI).await.map_err(user_failure)?;
            writeln!(out, "removed user {name}")?;
        }
        UserCommand::Role {
            name,
            role,
            data,
            store,
        } => {
            let users = open(store, data).await?;
            users
                .set_role(&name, role, CLI)
                .await
                .map_err(user_failure)?;
            writeln!(out, "user {name} is now {role}")?;
        }
    }
    Ok(())
}

/// A refused user change exits 1; a store that failed us, 2 (as reading a
/// file does).
fn user_failure(error: UserError) -> Failure {
    match error {
        UserError::Io(_) | UserError::Unavailable(_) => Failure::Io(error.to_string()),
        refused => Failure::Other(refused.to_string()),
    }
}

fn app_key(kind: KeyKind, command: KeyCommand) -> Result<(), Failure> {
    block_on(app_key_command(kind, command))
}

async fn app_key_command(kind: KeyKind, command: KeyCommand) -> Result<(), Failure> {
    let open = |store: Option<String>, data: PathBuf| async move {
        let location = store_location(store, data);
        if let Location::Dir(data) = &location
            && !data.is_dir()
        {
            return Err(Failure::Other(format!(
                "--data: {} is not a directory (where `stagegate serve` keeps its data)",
                data.display()
            )));
        }
        let storage = open_documents(&location).await?;
        let keys = Keys::open(storage.clone(), kind)
            .await
            .map_err(|e| Failure::Other(format!("{e:#}")))?;
        Ok((keys, storage))
    };
    let noun = kind.noun();
    let mut out = io::stdout().lock();
    match command {
        KeyCommand::Create {
            data,
            store,
            env,
            name,
        } => {
            let (keys, storage) = open(store, data).await?;
            check_environment(&env).map_err(|e| key_failure(kind, e))?;
            known_environment(&storage, &env).await?;
            let (info, key) = keys
                .create(&env, &name, CLI)
                .await
                .map_err(|e| key_failure(kind, e))?;
            writeln!(
                out,
                "created {noun} {} for {}; the key is shown only this once:",
                info.id, info.environment
            )?;
            writeln!(out, "{key}")?;
        }
        KeyCommand::List { data, store } => {
            let (keys, _) = open(store, data).await?;
            for key in keys.list().iter() {
                writeln!(
                    out,
                    "{}\t{}\t{}\t{}\t{}",
                    key.id, key.environment, key.name, key.created, key.created_by
                )?;
            }
        }
        KeyCommand::Revoke { id, data, store } => {
            let (keys, _) = open(store, data).await?;
            let info = keys.revoke(&id).await.map_err(|e| key_failure(kind, e))?;
            writeln!(out, "revoked {noun} {} ({})", info.id, info.environment)?;
        }
    }
    Ok(())
}

/// The store a user or key command changes. A new one first gets the
/// default plan, as `serve` would give it on its first start: a store with
/// users but no revision looks like a lost history, which `serve` refuses.
async fn open_documents(location: &Location) -> Result<Storage, Failure> {
    let failure = |error: anyhow::Error| Failure::Other(format!("{error:#}"));
    let storage = Storage::open_documents(location).await.map_err(failure)?;
    if storage.is_new().await.map_err(|e| failure(e.into()))? {
        // The directory's document-only view knows no revision numbers.
        let seeding = match &storage {
            Storage::Dir(_) => Storage::open(location).await.map_err(failure)?,
            Storage::Postgres(_) => storage.clone(),
        };
        crate::store::Store::open(seeding).await.map_err(failure)?;
    }
    Ok(storage)
}

/// As the API does: a key for an environment that no rollout has is refused
/// (when the store has a plan to ask).
async fn known_environment(storage: &Storage, env: &str) -> Result<(), Failure> {
    let plan = match storage {
        Storage::Dir(dir) => crate::store::newest_plan(dir.path()),
        Storage::Postgres(_) => match storage.head().await {
            Ok(head) if head > 0 => storage.revision(head).await.ok().flatten().map(|r| r.plan),
            _ => None,
        },
    };
    let Some(plan) = plan else {
        return Ok(());
    };
    let mut known: Vec<&str> = (plan.rollouts.values())
        .flat_map(|rollout| rollout.environments.keys().map(String::as_str))
        .collect();
    if known.contains(&env) {
        return Ok(());
    }
    known.sort_unstable();
    known.dedup();
    Err(Failure::Other(format!(
        "--env: no rollout has an environment '{env}' (the plan's: {})",
        known.join(", ")
    )))
}

/// A refused key change, naming the flag that carried the bad value.
fn key_failure(kind: KeyKind, error: KeyError) -> Failure {
    match &error {
        KeyError::BadField(field, message) => {
            let flag = if *field == "environment" {
                "env"
            } else {
                field
            };
            Failure::Other(format!("--{flag}: {message}"))
        }
        KeyError::Missing(..) => {
            let command = match kind {
                KeyKind::Ingest => "ingest-key",
                KeyKind::Sdk => "sdk-key",
            };
            Failure::Other(format!("{error} (see `stagegate {command} list`)"))
        }
        KeyError::Io(_) | KeyError::Unavailable(_) => Failure::Io(error.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_lf_separated_ids_keeping_cr() {
        let salt = Salt::new("domain-migration");
        let mut out = Vec::new();
        stream_buckets(&salt, &b"user-42\nuser-1\r\n\nuser-1"[..], &mut out).unwrap();
        let expected = format!(
            "7035\n{}\n{}\n2624\n",
            salt.bucket("user-1\r"),
            salt.bucket("")
        );
        assert_eq!(String::from_utf8(out).unwrap(), expected);
    }

    #[test]
    fn numbers_are_written_plainly() {
        for number in [0u16, 7, 10, 999, 9999] {
            let mut out = Vec::new();
            write_number_line(&mut out, number).unwrap();
            assert_eq!(out, format!("{number}\n").into_bytes());
        }
    }

    #[test]
    fn attributes_read_numbers_and_booleans_as_json() {
        assert_eq!(parse_attr("n=42").unwrap().1, Value::from(42));
        assert_eq!(parse_attr("b=true").unwrap().1, Value::Bool(true));
        assert_eq!(parse_attr("v=3.4.1").unwrap().1, Value::from("3.4.1"));
        assert_eq!(parse_attr("s=\"x\"").unwrap().1, Value::from("\"x\""));
        assert_eq!(parse_attr("e=").unwrap().1, Value::from(""));
        assert!(parse_attr("novalue").is_err());
    }
}
