//! `stagegate serve`: open the store, make the first admin, listen.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::body::Body;
use axum::http::Request;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_io_timeout::TimeoutWriter;
use tower::ServiceExt as _;

use crate::api::{AppState, app};
use crate::app_keys::{KeyKind, Keys};
use crate::storage::{Location, Storage};
use crate::store::Store;
use crate::users::Users;

pub struct ServeOptions {
    pub store: Location,
    pub addr: String,
    pub console: PathBuf,
}

/// Opens the store and users under `data`, seeding both on first start (the
/// admin's token is printed then, and never again).
pub async fn open_state(
    location: &Location,
    console: Option<PathBuf>,
) -> anyhow::Result<(AppState, Vec<String>)> {
    let mut notes = Vec::new();
    let storage = Storage::open(location).await?;
    let (store, seeded) = Store::open(storage.clone()).await?;
    let store = Arc::new(store);
    // Other servers' writes arrive from here on (PostgreSQL only).
    store.follow();
    if seeded {
        notes.push(format!(
            "stagegate: seeded the default plan as revision 1 in {}",
            storage.describe()
        ));
    }
    let users = Users::open(storage.clone()).await?;
    // Made only where no users document exists yet: of several servers
    // starting on one new database, one makes it and prints its token.
    if let Some(token) = users
        .create_first_admin()
        .await
        .map_err(|e| anyhow::anyhow!("creating the first admin: {e}"))?
    {
        notes.push(
            "stagegate: created user admin (role admin); its token is shown only this once:".into(),
        );
        notes.push(format!("admin token: {token}"));
    }
    let (metrics, skipped) = crate::metrics::Metrics::open(storage.clone()).await?;
    if skipped > 0 {
        notes.push(format!(
            "stagegate: skipped {skipped} unreadable line(s) of {} (a write cut short)",
            crate::metrics::LOG_FILE
        ));
    }
    let state = AppState {
        store,
        users: Arc::new(users),
        alerts: crate::alerts::Alerts::open(storage.clone()).await?,
        metrics: Arc::new(metrics),
        ingest_keys: Arc::new(Keys::open(storage.clone(), KeyKind::Ingest).await?),
        sdk_keys: Arc::new(Keys::open(storage.clone(), KeyKind::Sdk).await?),
        clock: Arc::new(crate::guard::SystemClock),
        guard: Arc::new(crate::guard::GuardMemory::open(storage.clone()).await?),
        console: console.map(Arc::new),
    };
    follow_documents(&state);
    Ok((state, notes))
}

/// On PostgreSQL, re-reads the documents other servers change (the apps'
/// keys, webhooks, acknowledgements) when the notices say documents changed,
/// and every second while a re-read fails. A data directory has no notices:
/// the flusher polls the keys the CLI may change, and nobody else writes the
/// rest. The task holds the modules weakly and ends when they are all gone
/// (a test may replace one).
fn follow_documents(state: &AppState) {
    let Some(mut notices) = state.store.storage().notices() else {
        return;
    };
    let ingest = Arc::downgrade(&state.ingest_keys);
    let sdk = Arc::downgrade(&state.sdk_keys);
    let guard = Arc::downgrade(&state.guard);
    let alerts = state.alerts.downgrade();
    tokio::spawn(async move {
        let mut seen = notices.borrow_and_update().documents;
        let mut failed = false;
        loop {
            if failed {
                tokio::time::sleep(Duration::from_secs(1)).await;
            } else {
                while notices.borrow_and_update().documents == seen {
                    if notices.changed().await.is_err() {
                        return;
                    }
                }
            }
            let now = notices.borrow().documents;
            let mut reloads = Vec::new();
            for keys in [ingest.upgrade(), sdk.upgrade()].into_iter().flatten() {
                reloads.push(keys.reload().await);
            }
            if let Some(alerts) = alerts.upgrade() {
                reloads.push(alerts.reload().await);
            }
            if let Some(guard) = guard.upgrade() {
                reloads.push(guard.reload().await);
            }
            if reloads.is_empty() {
                return; // the state is gone
            }
            let error = reloads.into_iter().find_map(Result::err);
            if let Some(error) = &error
                && !failed
            {
                tracing::warn!(
                    "re-reading other servers' changes: {error:#} (retrying each second)"
                );
            }
            failed = error.is_some();
            if !failed {
                seen = now;
            }
        }
    });
}

pub fn run(options: ServeOptions) -> anyhow::Result<()> {
    init_logging();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let (state, notes) = open_state(&options.store, Some(options.console.clone())).await?;
        for note in notes {
            println!("{note}");
        }
        if !options.console.is_dir() {
            println!(
                "stagegate: no console at {} (run `cargo xtask dist`); serving a placeholder page",
                options.console.display()
            );
        }
        crate::api::watch_users(state.clone());
        crate::guard::spawn(state.clone());
        let flusher = spawn_flusher(state.clone());
        let listener = tokio::net::TcpListener::bind(&options.addr)
            .await
            .with_context(|| format!("listening on {}", options.addr))?;
        println!("stagegate listening on http://{}", listener.local_addr()?);
        let store = state.store.clone();
        let stopping = async move {
            shutdown().await;
            // Open long polls answer now instead of holding the shutdown up.
            store.close();
        };
        serve(
            listener,
            app(state.clone()),
            ConnectionLimits::default(),
            stopping,
        )
        .await;
        flusher.abort();
        // What arrived since the last flush is kept on a clean stop.
        flush_metrics(&state).await;
        state.alerts.flush().await;
        Ok(())
    })
}

/// Sends the reported counts to the storage every `FLUSH_INTERVAL` (the most
/// a SIGKILL can lose), and re-reads the apps' keys when the CLI changed them.
fn spawn_flusher(state: AppState) -> tokio::task::JoinHandle<()> {
    // On PostgreSQL, `follow_documents` re-reads the keys on notices instead.
    let poll_keys = state.store.storage().notices().is_none();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(crate::metrics::FLUSH_INTERVAL);
        loop {
            tick.tick().await;
            flush_metrics(&state).await;
            if poll_keys {
                for keys in [&state.ingest_keys, &state.sdk_keys] {
                    let _ = keys.reload().await;
                }
            }
        }
    })
}

async fn flush_metrics(state: &AppState) {
    let minute = crate::metrics::minute_of(state.clock.now());
    if let Err(error) = state.metrics.flush(minute).await {
        tracing::error!("storing the metric counts: {error}");
    }
}

/// Logs go to stderr (stdout carries the startup notes, the admin token among
/// them). `RUST_LOG` picks what is shown; the default is `info`.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Fails only if a subscriber is already set (a test, an embedding program): keep theirs.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// What a connection may take from the server before it is closed.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    /// From the connection's start, or the end of its previous response, to the end
    /// of the next request's head. This is also the keep-alive idle timeout: a
    /// connection that sends nothing is closed after it, and so is one that
    /// trickles its headers (slowloris).
    pub header_read_timeout: Duration,
    /// How long a response write may make no progress (a client that stops reading).
    pub write_timeout: Duration,
    /// The request line and headers together; more is answered 431.
    pub max_header_bytes: usize,
    /// After a shutdown signal, how long open requests may take to finish.
    pub shutdown_grace: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            header_read_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(30),
            max_header_bytes: 32 * 1024,
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// Serves `app` on `listener` until `signal` completes, then stops accepting and
/// lets open requests finish (for at most `limits.shutdown_grace`).
///
/// hyper's own HTTP/1 connection builder rather than `axum::serve`, which sets no
/// timer and so no header-read timeout. The header count keeps hyper's default
/// limit of 100 (setting it explicitly would move header parsing to the heap).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    signal: impl Future<Output = ()>,
) {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_header_size(limits.max_header_bytes)
        .max_buf_size(MAX_BUFFER_BYTES)
        .keep_alive(true);
    let graceful = GracefulShutdown::new();
    let mut signal = std::pin::pin!(signal);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    accept_failed(error).await;
                    continue;
                }
            },
            () = &mut signal => break,
        };
        // Small responses go out at once rather than waiting on Nagle's algorithm.
        let _ = stream.set_nodelay(true);
        let mut stream = TimeoutWriter::new(stream);
        stream.set_timeout(Some(limits.write_timeout));
        let io = TokioIo::new(Box::pin(stream));
        let service = TowerToHyperService::new(
            app.clone()
                .map_request(|request: Request<Incoming>| request.map(Body::new)),
        );
        let connection = graceful.watch(http.serve_connection(io, service));
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                // A client gone, a header timeout, malformed HTTP: theirs, not ours.
                tracing::debug!(%peer, %error, "connection closed");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            "shutdown: requests still open after {:?}; closing them",
            limits.shutdown_grace
        );
    }
}

/// The read buffer of a connection (hyper's default is ~400 KB): the request head
/// must fit in it, bodies stream through it.
const MAX_BUFFER_BYTES: usize = 64 * 1024;

/// Connection-level accept errors are the client's; others (out of file
/// descriptors) are ours: log, and wait a moment for descriptors to free up.
async fn accept_failed(error: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        error.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::error!(%error, "accept failed; retrying in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

async fn shutdown() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => return std::future::pending().await,
            };
        tokio::select! {
            _ = interrupt => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
