//! `stagegate serve`: open the store, make the first admin, listen.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;

use crate::api::{AppState, app};
use crate::store::Store;
use crate::users::Users;

pub struct ServeOptions {
    pub data: PathBuf,
    pub addr: String,
    pub console: PathBuf,
}

/// Opens the store and users under `data`, seeding both on first start (the
/// admin's token is printed then, and never again).
pub fn open_state(
    data: &std::path::Path,
    console: Option<PathBuf>,
) -> anyhow::Result<(AppState, Vec<String>)> {
    let mut notes = Vec::new();
    let (store, seeded) = Store::open(data)?;
    if seeded {
        notes.push(format!(
            "stagegate: seeded the default plan as revision 1 in {}",
            data.display()
        ));
    }
    let users = Users::open(data)?;
    if !users.exists() {
        let (_, token) = users
            .add("admin", evaluator::model::Role::Admin, "stagegate")
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        notes.push(
            "stagegate: created user admin (role admin); its token is shown only this once:".into(),
        );
        notes.push(format!("admin token: {token}"));
    }
    let state = AppState {
        store: Arc::new(store),
        users: Arc::new(users),
        console: console.map(Arc::new),
    };
    Ok((state, notes))
}

pub fn run(options: ServeOptions) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let (state, notes) = open_state(&options.data, Some(options.console.clone()))?;
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
        let listener = tokio::net::TcpListener::bind(&options.addr)
            .await
            .with_context(|| format!("listening on {}", options.addr))?;
        println!("stagegate listening on http://{}", listener.local_addr()?);
        axum::serve(listener, app(state))
            .with_graceful_shutdown(shutdown())
            .await?;
        Ok(())
    })
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
