//! PostgreSQL: one database that any number of servers share.
//!
//! - Revisions: `stagegate_head` holds the newest number. A write moves it
//!   forward with `UPDATE … WHERE revision = <the head it was built on>` and
//!   inserts the revision with its audit entry in the same transaction: the
//!   row lock makes a second write on the same base find no row (`Behind`),
//!   so there is one winner per base, and the primary key never repeats.
//! - Documents: changed under a transaction-scoped advisory lock per name.
//! - Counts: `INSERT … ON CONFLICT DO UPDATE SET n = n + excluded.n`.
//! - Other servers hear of writes by `NOTIFY stagegate` and, because
//!   notifications are lost while a connection is down, by a check of the head
//!   every second.
//! - The guardrails' decisions are taken by the server that holds a
//!   session-level advisory lock on a connection of its own: when that server
//!   dies, its connection closes, the lock is released and another takes it.
//!
//! Every statement takes its input as `$n` parameters. Every call is bounded by
//! a timeout, so a database that went away gives `Unavailable`, never a hang.

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use futures_util::StreamExt as _;
use tokio::sync::watch;
use tokio_postgres::config::SslMode;
use tokio_postgres::{AsyncMessage, Connection, NoTls, Socket};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::{Append, Contents, CountDelta, Draft, Notice, RevisionFile, StorageError, Version};

/// The schema, in order; applied on start and by `stagegate migrate`.
const MIGRATIONS: &[(i32, &str, &str)] = &[
    (1, "init", include_str!("migrations/0001_init.sql")),
    (
        2,
        "count batches",
        include_str!("migrations/0002_count_batches.sql"),
    ),
    (
        3,
        "numbers used",
        include_str!("migrations/0003_numbers_used.sql"),
    ),
];

/// Advisory lock keys (first half of the two-int form): stagegate's own space.
const LOCK_SPACE: i32 = 0x5354_4147; // "STAG"
const LOCK_MIGRATE: i32 = 1;
const LOCK_LEADER: i32 = 2;
const LOCK_DOCUMENT: i32 = 3;

/// The longest any one call may take before the database counts as away.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// How often each server checks the head (notifications can be lost).
pub const CHECK_INTERVAL: Duration = Duration::from_secs(1);
/// The NOTIFY channel and the advisory lock keys are per schema, so stores in
/// several schemas of one database (`options=-c search_path=…`) stay apart.
const CHANNEL: &str = "'stagegate_' || md5(coalesce(current_schema(), ''))";
const SCOPE: &str = "hashtext(coalesce(current_schema(), ''))";

pub struct PgStorage {
    pool: Pool,
    config: tokio_postgres::Config,
    tls: Tls,
    describe: String,
    notices: watch::Sender<Notice>,
    /// The connection holding the leader's lock, when this server leads (or
    /// the one it tries from).
    leader: tokio::sync::Mutex<Option<(tokio_postgres::Client, bool)>>,
}

impl PgStorage {
    /// Connects, waiting for a database that is down (saying so every few
    /// seconds), applies the migrations, and starts listening for changes.
    pub async fn connect(url: &str) -> anyhow::Result<PgStorage> {
        let storage = PgStorage::new(url)?;
        let mut said = None::<tokio::time::Instant>;
        loop {
            match storage.migrate().await {
                Ok(_) => break,
                Err(StorageError::Unavailable(message)) => {
                    if said.is_none_or(|at| at.elapsed() >= Duration::from_secs(5)) {
                        eprintln!(
                            "stagegate: waiting for PostgreSQL at {}: {message} (retrying every second)",
                            storage.describe
                        );
                        said = Some(tokio::time::Instant::now());
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Err(error) => anyhow::bail!("PostgreSQL at {}: {error}", storage.describe),
            }
        }
        storage.spawn_watchers();
        Ok(storage)
    }

    /// A pool on `url`, connecting lazily.
    pub fn new(url: &str) -> anyhow::Result<PgStorage> {
        let config: tokio_postgres::Config = url
            .parse()
            .map_err(|error| anyhow::anyhow!("--store: not a PostgreSQL URL ({error})"))?;
        let tls = Tls::for_config(&config)?;
        let describe = describe(&config);
        let manager_config = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        let manager = match &tls {
            Tls::Plain => Manager::from_config(config.clone(), NoTls, manager_config),
            Tls::Verified(tls) => Manager::from_config(config.clone(), tls.clone(), manager_config),
        };
        let pool = Pool::builder(manager)
            .max_size(16)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(CALL_TIMEOUT))
            .create_timeout(Some(CALL_TIMEOUT))
            .recycle_timeout(Some(CALL_TIMEOUT))
            .build()
            .map_err(|error| anyhow::anyhow!("--store: {error}"))?;
        Ok(PgStorage {
            pool,
            config,
            tls,
            describe,
            notices: watch::channel(Notice::default()).0,
            leader: tokio::sync::Mutex::new(None),
        })
    }

    pub fn describe(&self) -> String {
        self.describe.clone()
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StorageError> {
        self.pool
            .get()
            .await
            .map_err(|error| StorageError::Unavailable(pool_error(&error)))
    }

    /// Applies the migrations this database lacks, one transaction each,
    /// under a lock so that servers starting together apply each once.
    /// Returns how many it applied.
    pub async fn migrate(&self) -> Result<usize, StorageError> {
        bounded(async {
            let mut client = self.client().await?;
            client
                .batch_execute(
                    "CREATE TABLE IF NOT EXISTS stagegate_migrations (
                        version integer PRIMARY KEY,
                        name text NOT NULL,
                        applied_at timestamptz NOT NULL DEFAULT now()
                    )",
                )
                .await
                .or_else(ignore_concurrent_create)?;
            let mut applied = 0;
            for &(version, name, sql) in MIGRATIONS {
                let tx = client.transaction().await.map_err(pg)?;
                tx.execute(
                    &format!("SELECT pg_advisory_xact_lock($1, {SCOPE})"),
                    &[&(LOCK_SPACE ^ LOCK_MIGRATE)],
                )
                .await
                .map_err(pg)?;
                let newest: Option<i32> = tx
                    .query_one("SELECT max(version) FROM stagegate_migrations", &[])
                    .await
                    .map_err(pg)?
                    .get(0);
                let known = MIGRATIONS.last().map_or(0, |m| m.0);
                if let Some(newest) = newest.filter(|&n| n > known) {
                    return Err(StorageError::Io(format!(
                        "the database's schema is version {newest}, newer than this stagegate \
                         knows ({known}): run the newer stagegate, or restore a backup"
                    )));
                }
                if newest.is_some_and(|n| n >= version) {
                    continue;
                }
                tx.batch_execute(sql).await.map_err(pg)?;
                tx.execute(
                    "INSERT INTO stagegate_migrations (version, name) VALUES ($1, $2)",
                    &[&version, &name],
                )
                .await
                .map_err(pg)?;
                tx.commit().await.map_err(pg)?;
                applied += 1;
            }
            Ok(applied)
        })
        .await
    }

    /// Whether the database holds no revision and no document yet.
    pub async fn is_new(&self) -> Result<bool, StorageError> {
        bounded(async {
            let client = self.client().await?;
            let row = client
                .query_one(
                    "SELECT (SELECT revision FROM stagegate_head) = 0
                        AND NOT EXISTS (SELECT 1 FROM stagegate_documents)",
                    &[],
                )
                .await
                .map_err(pg)?;
            Ok(row.get(0))
        })
        .await
    }

    pub async fn head(&self) -> Result<u64, StorageError> {
        bounded(async {
            let client = self.client().await?;
            let statement = client
                .prepare_cached("SELECT revision FROM stagegate_head")
                .await
                .map_err(pg)?;
            let head: i64 = client.query_one(&statement, &[]).await.map_err(pg)?.get(0);
            Ok(head as u64)
        })
        .await
    }

    pub async fn revisions_after(&self, after: u64) -> Result<Vec<RevisionFile>, StorageError> {
        bounded(async {
            let client = self.client().await?;
            let rows = client
                .query(
                    "SELECT revision, audit::text, plan::text FROM stagegate_revisions
                     WHERE revision > $1 ORDER BY revision",
                    &[&(after as i64)],
                )
                .await
                .map_err(pg)?;
            rows.iter()
                .map(|row| revision_file(row.get(0), row.get(1), row.get(2)))
                .collect()
        })
        .await
    }

    pub async fn revision(&self, number: u64) -> Result<Option<RevisionFile>, StorageError> {
        bounded(async {
            let client = self.client().await?;
            let row = client
                .query_opt(
                    "SELECT revision, audit::text, plan::text FROM stagegate_revisions
                     WHERE revision = $1",
                    &[&(number as i64)],
                )
                .await
                .map_err(pg)?;
            row.map(|row| revision_file(row.get(0), row.get(1), row.get(2)))
                .transpose()
        })
        .await
    }

    pub async fn append<T, E, F>(
        &self,
        head: u64,
        build: F,
    ) -> Result<Append<T, E, F>, StorageError>
    where
        F: FnOnce(u64) -> Result<Draft<T>, E>,
    {
        bounded(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(pg)?;
            let moved = tx
                .query_opt(
                    "UPDATE stagegate_head SET revision = greatest(revision, used) + 1
                     WHERE revision = $1 RETURNING revision",
                    &[&(head as i64)],
                )
                .await
                .map_err(pg)?;
            // Dropping the transaction rolls it back.
            let Some(moved) = moved else {
                return Ok(Append::Behind(build));
            };
            let number: i64 = moved.get(0);
            let (file, answer) = match build(number as u64) {
                Ok(draft) => draft,
                Err(refused) => return Ok(Append::Refused(refused)),
            };
            let Some(file) = file else {
                return Ok(Append::Nothing(answer));
            };
            insert_revision(&tx, number, &file).await?;
            tx.execute(
                &format!("SELECT pg_notify({CHANNEL}, $1)"),
                &[&format!("r{number}")],
            )
            .await
            .map_err(pg)?;
            tx.commit().await.map_err(pg)?;
            Ok(Append::Written(answer))
        })
        .await
    }

    pub async fn document(&self, name: &str) -> Result<Option<(String, Version)>, StorageError> {
        bounded(async {
            let client = self.client().await?;
            let row = client
                .query_opt(
                    "SELECT body::text, version FROM stagegate_documents WHERE name = $1",
                    &[&name],
                )
                .await
                .map_err(pg)?;
            Ok(row.map(|row| (row.get(0), Version(row.get::<_, i64>(1) as u64))))
        })
        .await
    }

    pub async fn document_version(&self, name: &str) -> Result<Option<Version>, StorageError> {
        bounded(async {
            let client = self.client().await?;
            let statement = client
                .prepare_cached("SELECT version FROM stagegate_documents WHERE name = $1")
                .await
                .map_err(pg)?;
            let row = client.query_opt(&statement, &[&name]).await.map_err(pg)?;
            Ok(row.map(|row| Version(row.get::<_, i64>(0) as u64)))
        })
        .await
    }

    pub async fn update_document<T, E>(
        &self,
        name: &str,
        edit: impl FnOnce(Option<&str>) -> Result<(String, T), E>,
    ) -> Result<Result<T, E>, StorageError> {
        bounded(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(pg)?;
            tx.execute(
                &format!("SELECT pg_advisory_xact_lock($1, {SCOPE} # hashtext($2))"),
                &[&(LOCK_SPACE ^ LOCK_DOCUMENT), &name],
            )
            .await
            .map_err(pg)?;
            let old: Option<String> = tx
                .query_opt(
                    "SELECT body::text FROM stagegate_documents WHERE name = $1",
                    &[&name],
                )
                .await
                .map_err(pg)?
                .map(|row| row.get(0));
            let (text, answer) = match edit(old.as_deref()) {
                Ok(edited) => edited,
                Err(refused) => return Ok(Err(refused)),
            };
            upsert_document(&tx, name, &text).await?;
            tx.commit().await.map_err(pg)?;
            Ok(Ok(answer))
        })
        .await
    }

    /// Adds a batch of counts once: `batch` (unique per server and batch) is
    /// recorded in the same transaction, so a batch sent again after its
    /// answer was lost is skipped. An attempt still in flight holds the id's
    /// row, so the second waits for it, then skips or adds.
    pub async fn add_counts(&self, batch: &str, deltas: &[CountDelta]) -> Result<(), StorageError> {
        if deltas.is_empty() {
            return Ok(());
        }
        let (series, minutes, counts) = count_columns(deltas);
        bounded(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(pg)?;
            let new = tx
                .execute(
                    "INSERT INTO stagegate_count_batches (id) VALUES ($1) ON CONFLICT DO NOTHING",
                    &[&batch],
                )
                .await
                .map_err(pg)?;
            if new == 0 {
                return Ok(());
            }
            let statement = tx
                .prepare_cached(
                    "INSERT INTO stagegate_counts AS c (series, minute, n)
                     SELECT * FROM unnest($1::text[], $2::integer[], $3::bigint[])
                     ON CONFLICT (series, minute) DO UPDATE
                     SET n = c.n + excluded.n, updated_at = clock_timestamp()",
                )
                .await
                .map_err(pg)?;
            tx.execute(&statement, &[&series, &minutes, &counts])
                .await
                .map_err(pg)?;
            tx.commit().await.map_err(pg)
        })
        .await
    }

    /// The totals of the series' minutes from `minute` on, or (with `recent`)
    /// only those any server changed in the last `recent`.
    pub async fn counts(
        &self,
        minute: u32,
        recent: Option<Duration>,
    ) -> Result<Vec<CountDelta>, StorageError> {
        bounded(async {
            let client = self.client().await?;
            let seconds = recent.map(|recent| recent.as_secs_f64());
            let rows = client
                .query(
                    "SELECT series, minute, n FROM stagegate_counts
                     WHERE minute >= $1
                       AND ($2::float8 IS NULL OR updated_at >= now() - $2 * interval '1 second')",
                    &[&(minute as i32), &seconds],
                )
                .await
                .map_err(pg)?;
            Ok(rows.iter().map(count_from_row).collect())
        })
        .await
    }

    /// Folds minutes before `before` into the first minute of their hour and
    /// drops whatever is older than `gone`, as each server does in memory.
    pub async fn fold_counts(&self, before: u32, gone: u32) -> Result<(), StorageError> {
        bounded(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(pg)?;
            // A batch is sent again within seconds; an hour is plenty.
            tx.execute(
                "DELETE FROM stagegate_count_batches WHERE applied_at < now() - interval '1 hour'",
                &[],
            )
            .await
            .map_err(pg)?;
            tx.execute(
                "DELETE FROM stagegate_counts WHERE minute < $1",
                &[&(gone as i32)],
            )
            .await
            .map_err(pg)?;
            tx.execute(
                "WITH old AS (
                    DELETE FROM stagegate_counts WHERE minute < $1 AND minute % 60 <> 0
                    RETURNING series, minute - minute % 60 AS hour, n)
                 INSERT INTO stagegate_counts AS c (series, minute, n)
                 SELECT series, hour, sum(n)::bigint FROM old GROUP BY series, hour
                 ON CONFLICT (series, minute) DO UPDATE SET n = c.n + excluded.n",
                &[&(before as i32)],
            )
            .await
            .map_err(pg)?;
            tx.commit().await.map_err(pg)
        })
        .await
    }

    /// Whether this server holds the leader's lock, taking it if it is free.
    pub async fn leads(&self) -> bool {
        let mut leader = self.leader.lock().await;
        if let Some((client, held)) = leader.as_ref() {
            if client.is_closed() {
                *leader = None;
            } else if *held {
                return true;
            }
        }
        if leader.is_none() {
            let connected =
                tokio::time::timeout(CALL_TIMEOUT, self.tls.connect(&self.config, Spawn)).await;
            let Ok(Ok((client, ()))) = connected else {
                return false;
            };
            *leader = Some((client, false));
        }
        let Some((client, held)) = leader.as_mut() else {
            return false;
        };
        let taken = tokio::time::timeout(
            CALL_TIMEOUT,
            client.query_one(
                &format!("SELECT pg_try_advisory_lock($1, {SCOPE})"),
                &[&(LOCK_SPACE ^ LOCK_LEADER)],
            ),
        )
        .await;
        match taken {
            Ok(Ok(row)) => {
                *held = row.get(0);
                *held
            }
            _ => {
                *leader = None;
                false
            }
        }
    }

    pub fn notices(&self) -> watch::Receiver<Notice> {
        self.notices.subscribe()
    }

    /// Listens for `NOTIFY stagegate` on a connection of its own, reconnecting
    /// when it drops, and checks the head and the documents every second.
    fn spawn_watchers(&self) {
        let (config, tls, sender) = (self.config.clone(), self.tls.clone(), self.notices.clone());
        tokio::spawn(async move {
            loop {
                listen(&config, &tls, &sender).await;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        let (pool, sender) = (self.pool.clone(), self.notices.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(CHECK_INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut documents = None;
            loop {
                tick.tick().await;
                let Ok(Ok(client)) = tokio::time::timeout(CALL_TIMEOUT, pool.get()).await else {
                    continue;
                };
                let row = tokio::time::timeout(
                    CALL_TIMEOUT,
                    client.query_one(
                        "SELECT (SELECT revision FROM stagegate_head),
                                (SELECT coalesce(sum(version), 0)::bigint FROM stagegate_documents)",
                        &[],
                    ),
                )
                .await;
                let Ok(Ok(row)) = row else { continue };
                let (head, versions): (i64, i64) = (row.get(0), row.get(1));
                // The first check counts as a change: a write between the
                // modules' first reads and this baseline is not missed.
                let changed = documents != Some(versions);
                documents = Some(versions);
                sender.send_if_modified(|notice| {
                    let newer = head as u64 > notice.revision;
                    notice.revision = notice.revision.max(head as u64);
                    if changed {
                        notice.documents += 1;
                    }
                    newer || changed
                });
            }
        });
    }
}

/// One listening connection, until it drops.
async fn listen(config: &tokio_postgres::Config, tls: &Tls, sender: &watch::Sender<Notice>) {
    let (forward, mut heard) = tokio::sync::mpsc::unbounded_channel();
    let connected = tokio::time::timeout(CALL_TIMEOUT, tls.connect(config, Forward(forward))).await;
    let Ok(Ok((client, driver))) = connected else {
        return;
    };
    let channel = client
        .query_one(&format!("SELECT {CHANNEL}"), &[])
        .await
        .map(|row| row.get::<_, String>(0));
    // The name is 'stagegate_' and hex digits: nothing to quote.
    let listening = match channel {
        Ok(channel) => client.batch_execute(&format!("LISTEN {channel}")).await,
        Err(error) => Err(error),
    };
    if listening.is_err() {
        driver.abort();
        return;
    }
    // Notifications sent while this connection was down are lost: the
    // periodic check covers them.
    while let Some(payload) = heard.recv().await {
        sender.send_if_modified(|notice| match payload.strip_prefix('r') {
            Some(number) => {
                let number = number.parse().unwrap_or(0);
                let newer = number > notice.revision;
                notice.revision = notice.revision.max(number);
                newer
            }
            None => {
                notice.documents += 1;
                true
            }
        });
    }
    drop(client);
}

/// How connections are made: in plain text, or (`sslmode=require`) over TLS
/// that verifies the server's certificate and name, against the PEM file
/// `PGSSLROOTCERT` names or else the Mozilla roots compiled in (as libpq's
/// `verify-full`: `require` alone would not stop a server in the middle).
#[derive(Clone)]
enum Tls {
    Plain,
    Verified(MakeRustlsConnect),
}

impl Tls {
    fn for_config(config: &tokio_postgres::Config) -> anyhow::Result<Tls> {
        if config.get_ssl_mode() != SslMode::Require {
            return Ok(Tls::Plain);
        }
        let mut roots = rustls::RootCertStore::empty();
        match std::env::var_os("PGSSLROOTCERT") {
            Some(path) => {
                use rustls::pki_types::{CertificateDer, pem::PemObject as _};
                let named = || format!("PGSSLROOTCERT={}", path.to_string_lossy());
                for cert in CertificateDer::pem_file_iter(&path)
                    .map_err(|error| anyhow::anyhow!("{}: {error}", named()))?
                {
                    let cert = cert.map_err(|error| anyhow::anyhow!("{}: {error}", named()))?;
                    roots
                        .add(cert)
                        .map_err(|error| anyhow::anyhow!("{}: {error}", named()))?;
                }
                anyhow::ensure!(!roots.is_empty(), "{}: no certificate in it", named());
            }
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let client = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|error| anyhow::anyhow!("TLS: {error}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Tls::Verified(MakeRustlsConnect::new(client)))
    }

    /// A connection of its own (not from the pool), handed to `driver` to run.
    async fn connect<D: Driver>(
        &self,
        config: &tokio_postgres::Config,
        driver: D,
    ) -> Result<(tokio_postgres::Client, D::Running), tokio_postgres::Error> {
        match self {
            Tls::Plain => {
                let (client, connection) = config.connect(NoTls).await?;
                Ok((client, driver.drive(connection)))
            }
            Tls::Verified(tls) => {
                let (client, connection) = config.connect(tls.clone()).await?;
                Ok((client, driver.drive(connection)))
            }
        }
    }
}

/// What runs a connection's I/O, whichever stream it is over.
trait Driver {
    type Running;
    fn drive<T>(self, connection: Connection<Socket, T>) -> Self::Running
    where
        T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static;
}

/// Runs it in the background (the leader's connection).
struct Spawn;

impl Driver for Spawn {
    type Running = ();
    fn drive<T>(self, connection: Connection<Socket, T>)
    where
        T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        tokio::spawn(connection);
    }
}

/// Runs it and forwards each notification's payload (the listening connection).
struct Forward(tokio::sync::mpsc::UnboundedSender<String>);

impl Driver for Forward {
    type Running = tokio::task::JoinHandle<()>;
    fn drive<T>(self, mut connection: Connection<Socket, T>) -> Self::Running
    where
        T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        tokio::spawn(async move {
            let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
            while let Some(Ok(message)) = messages.next().await {
                if let AsyncMessage::Notification(notification) = message {
                    let _ = self.0.send(notification.payload().to_string());
                }
            }
        })
    }
}

async fn insert_revision(
    tx: &deadpool_postgres::Transaction<'_>,
    number: i64,
    file: &RevisionFile,
) -> Result<(), StorageError> {
    let audit = serde_json::to_string(&file.audit).map_err(|e| StorageError::Io(e.to_string()))?;
    let plan = serde_json::to_string(&file.plan).map_err(|e| StorageError::Io(e.to_string()))?;
    let statement = tx
        .prepare_cached(
            "INSERT INTO stagegate_revisions (revision, audit, plan)
             VALUES ($1, $2::text::json, $3::text::json)",
        )
        .await
        .map_err(pg)?;
    tx.execute(&statement, &[&number, &audit, &plan])
        .await
        .map_err(pg)?;
    Ok(())
}

async fn upsert_document(
    tx: &deadpool_postgres::Transaction<'_>,
    name: &str,
    text: &str,
) -> Result<(), StorageError> {
    tx.execute(
        "INSERT INTO stagegate_documents AS d (name, body, version) VALUES ($1, $2::text::json, 1)
         ON CONFLICT (name) DO UPDATE SET body = excluded.body, version = d.version + 1",
        &[&name, &text],
    )
    .await
    .map_err(pg)?;
    tx.execute(
        &format!("SELECT pg_notify({CHANNEL}, $1)"),
        &[&format!("d{name}")],
    )
    .await
    .map_err(pg)?;
    Ok(())
}

/// Copies a data directory's contents as they are into an empty database
/// (or, with `force`, over what it holds), in one transaction.
pub async fn import(
    storage: &PgStorage,
    contents: &Contents,
    force: bool,
) -> Result<(), StorageError> {
    let mut client = storage.client().await?;
    let tx = client.transaction().await.map_err(pg)?;
    let row = tx
        .query_one(
            "SELECT (SELECT revision FROM stagegate_head),
                    (SELECT count(*) FROM stagegate_documents)",
            &[],
        )
        .await
        .map_err(pg)?;
    let (head, held): (i64, i64) = (row.get(0), row.get(1));
    if (head > 0 || held > 0) && !force {
        return Err(StorageError::Io(format!(
            "the database is not empty (head revision {head}, {held} documents): \
             refusing to copy over it (--force replaces what it holds)"
        )));
    }
    tx.batch_execute(
        "DELETE FROM stagegate_revisions; DELETE FROM stagegate_documents;
         DELETE FROM stagegate_counts; DELETE FROM stagegate_count_batches;
         UPDATE stagegate_head SET revision = 0, used = 0;",
    )
    .await
    .map_err(pg)?;
    let mut newest = 0;
    for file in &contents.revisions {
        let number = file.plan.revision as i64;
        insert_revision(&tx, number, file).await?;
        newest = newest.max(number);
    }
    let used = (contents.numbers_used as i64).max(newest);
    tx.execute(
        "UPDATE stagegate_head SET revision = $1, used = $2",
        &[&newest, &used],
    )
    .await
    .map_err(pg)?;
    for (name, text) in &contents.documents {
        upsert_document(&tx, name, text).await?;
    }
    let (series, minutes, counts) = count_columns(&contents.counts);
    tx.execute(
        "INSERT INTO stagegate_counts (series, minute, n)
         SELECT * FROM unnest($1::text[], $2::integer[], $3::bigint[])",
        &[&series, &minutes, &counts],
    )
    .await
    .map_err(pg)?;
    tx.execute(
        &format!("SELECT pg_notify({CHANNEL}, $1)"),
        &[&format!("r{newest}")],
    )
    .await
    .map_err(pg)?;
    tx.commit().await.map_err(pg)
}

/// Everything the database holds, read in one snapshot (a repeatable-read
/// transaction): `stagegate migrate --from URL --to DIR`.
pub async fn export(storage: &PgStorage) -> Result<Contents, StorageError> {
    let mut client = storage.client().await?;
    let tx = client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .map_err(pg)?;
    let mut revisions = Vec::new();
    let rows = tx
        .query(
            "SELECT revision, audit::text, plan::text FROM stagegate_revisions ORDER BY revision",
            &[],
        )
        .await
        .map_err(pg)?;
    for row in rows {
        revisions.push(revision_file(row.get(0), row.get(1), row.get(2))?);
    }
    let used: i64 = tx
        .query_one("SELECT greatest(revision, used) FROM stagegate_head", &[])
        .await
        .map_err(pg)?
        .get(0);
    let mut documents = Vec::new();
    for name in super::documents::ALL {
        let row = tx
            .query_opt(
                "SELECT body::text FROM stagegate_documents WHERE name = $1",
                &[&name],
            )
            .await
            .map_err(pg)?;
        if let Some(row) = row {
            documents.push((name, row.get(0)));
        }
    }
    let counts = tx
        .query("SELECT series, minute, n FROM stagegate_counts", &[])
        .await
        .map_err(pg)?
        .iter()
        .map(count_from_row)
        .collect();
    tx.commit().await.map_err(pg)?;
    Ok(Contents {
        revisions,
        numbers_used: used as u64,
        documents,
        counts,
    })
}

fn revision_file(number: i64, audit: String, plan: String) -> Result<RevisionFile, StorageError> {
    let damaged = |what: &str, error: serde_json::Error| {
        StorageError::Io(format!(
            "revision {number}: its {what} does not read: {error}"
        ))
    };
    Ok(RevisionFile {
        audit: serde_json::from_str(&audit).map_err(|e| damaged("audit entry", e))?,
        plan: serde_json::from_str(&plan).map_err(|e| damaged("plan", e))?,
    })
}

/// Counts as three arrays, for one `INSERT … SELECT * FROM unnest(…)`.
fn count_columns(deltas: &[CountDelta]) -> (Vec<String>, Vec<i32>, Vec<i64>) {
    let series = deltas.iter().map(|d| series_to_text(&d.series)).collect();
    let minutes = deltas.iter().map(|d| d.minute as i32).collect();
    let counts = deltas
        .iter()
        .map(|d| i64::try_from(d.n).unwrap_or(i64::MAX))
        .collect();
    (series, minutes, counts)
}

/// A `series, minute, n` row of `stagegate_counts`.
fn count_from_row(row: &tokio_postgres::Row) -> CountDelta {
    CountDelta {
        series: series_from_text(row.get(0)),
        minute: row.get::<_, i32>(1) as u32,
        n: row.get::<_, i64>(2) as u64,
    }
}

/// A series key as `text` holds it: PostgreSQL's text takes no NUL, which
/// the metrics' keys separate names with. Escaped reversibly: `\` as `\\`,
/// NUL as `\0`.
fn series_to_text(series: &str) -> String {
    series.replace('\\', "\\\\").replace('\0', "\\0")
}

fn series_from_text(text: &str) -> String {
    let mut series = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        series.push(match (c, c == '\\') {
            (c, false) => c,
            (_, true) => match chars.next() {
                Some('0') => '\0',
                Some(other) => other,
                None => '\\',
            },
        });
    }
    series
}

/// `user@host:port/dbname`, never the password.
fn describe(config: &tokio_postgres::Config) -> String {
    let host = config
        .get_hosts()
        .first()
        .map(|host| match host {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".into());
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "{}@{host}:{port}/{}",
        config.get_user().unwrap_or("?"),
        config.get_dbname().unwrap_or("?")
    )
}

async fn bounded<T>(
    call: impl Future<Output = Result<T, StorageError>>,
) -> Result<T, StorageError> {
    tokio::time::timeout(CALL_TIMEOUT, call)
        .await
        .unwrap_or_else(|_| {
            Err(StorageError::Unavailable(format!(
                "no answer within {} s",
                CALL_TIMEOUT.as_secs()
            )))
        })
}

/// A failed statement: the connection's failures (and a server shutting down,
/// or refusing connections) are `Unavailable`; the rest are `Io`.
fn pg(error: tokio_postgres::Error) -> StorageError {
    let Some(db) = error.as_db_error() else {
        return StorageError::Unavailable(crate::util::with_causes(&error));
    };
    let code = db.code().code();
    // 08: connection exception; 57P: operator intervention (shutdown, …);
    // 53: insufficient resources.
    if code.starts_with("08") || code.starts_with("57P") || code.starts_with("53") {
        StorageError::Unavailable(db.message().to_string())
    } else {
        StorageError::Io(format!("{}: {}", code, db.message()))
    }
}

fn pool_error(error: &deadpool_postgres::PoolError) -> String {
    match error {
        deadpool_postgres::PoolError::Backend(error) => crate::util::with_causes(error),
        other => other.to_string(),
    }
}

/// Two servers creating the migrations table at once: one loses the race on
/// the catalog, and the table is there all the same.
fn ignore_concurrent_create(error: tokio_postgres::Error) -> Result<(), StorageError> {
    match error.as_db_error().map(|db| db.code().code()) {
        Some("23505") | Some("42P07") => Ok(()),
        _ => Err(pg(error)),
    }
}
