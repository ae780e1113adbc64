//! A throwaway PostgreSQL cluster for the tests and for trying stagegate by hand
//! (the `stagegate-pgtemp` crate, which the server's tests use too), with
//! PostgreSQL's server installed by apt-get when it is missing and we are root.

pub use stagegate_pgtemp::Cluster;

/// `$STAGEGATE_TEST_DATABASE_URL`, or else a throwaway cluster's URL (it lives
/// as long as the returned `Cluster`).
#[allow(dead_code)] // `cargo xtask test` uses it once the server has a PostgreSQL backend
pub fn database_url() -> anyhow::Result<(String, Option<Cluster>)> {
    if std::env::var_os("STAGEGATE_TEST_DATABASE_URL").is_none() {
        stagegate_pgtemp::install()?;
    }
    stagegate_pgtemp::database_url()
}

/// `cargo xtask postgres`: a throwaway cluster until Ctrl-C.
pub fn postgres() -> anyhow::Result<()> {
    stagegate_pgtemp::install()?;
    let cluster = Cluster::start()?;
    println!("{}", cluster.url());
    eprintln!("Ctrl-C stops it and removes its directory");
    loop {
        std::thread::park();
    }
}
