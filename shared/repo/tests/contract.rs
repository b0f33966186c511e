//! The contract suite against both backends: SQLite in a temporary file, and PostgreSQL
//! in a database made for this run (server from `AIRLOCK_TEST_DATABASE_URL`, by default
//! the local one with trust authentication). Set `AIRLOCK_TEST_SKIP_POSTGRES=1` where no
//! PostgreSQL server is available.

use airlock_repo::testing::TestDatabase;
use airlock_repo::{connect, contract, DynRepository, RepoError, SqlRepository};
use anyhow::Context;
use std::sync::Arc;

async fn suite(repo: &SqlRepository) -> anyhow::Result<()> {
    contract::fresh_defaults(repo).await?;
    contract::run_all(repo).await?;
    // Twice, as on a long-lived database: the suite must not trip over its own leftovers.
    contract::run_all(repo).await?;
    contract::concurrent_writes(Arc::new(repo.clone()) as DynRepository).await?;
    contract::racing_leases(Arc::new(repo.clone()) as DynRepository).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_backend_keeps_the_contract() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("airlock.db").display());
    let repo = SqlRepository::connect(&url).await.context("opening a new SQLite file")?;
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(repo.pool()).await?;
    assert_eq!(mode, "wal", "SQLite files are opened in WAL mode so readers don't block on writers");
    suite(&repo).await?;
    repo.close().await;
    // Reopening runs the migrations again, which must find nothing left to do.
    let reopened = SqlRepository::connect(&url).await.context("reopening the SQLite file")?;
    contract::run_all(&reopened).await?;
    reopened.close().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_in_memory_works() -> anyhow::Result<()> {
    let repo = connect("sqlite::memory:").await?;
    contract::fresh_defaults(repo.as_ref()).await?;
    contract::run_all(repo.as_ref()).await?;
    Ok(())
}

#[tokio::test]
async fn other_schemes_are_refused() {
    let refused = SqlRepository::connect("mysql://localhost/airlock").await;
    assert!(matches!(refused, Err(RepoError::UnsupportedUrl(url)) if url == "mysql://localhost/airlock"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_backend_keeps_the_contract() -> anyhow::Result<()> {
    if std::env::var("AIRLOCK_TEST_SKIP_POSTGRES").is_ok_and(|v| v == "1") {
        eprintln!("skipping the PostgreSQL contract run: AIRLOCK_TEST_SKIP_POSTGRES=1");
        return Ok(());
    }
    let database = TestDatabase::create().await.map_err(anyhow::Error::msg)?;
    // Run the suite in its own task so that a failed check still lets the database be dropped.
    let url = database.url.clone();
    let outcome = tokio::spawn(async move {
        let repo = SqlRepository::connect(&url).await.context("opening the new PostgreSQL database")?;
        let result = suite(&repo).await;
        repo.close().await;
        let reopened = SqlRepository::connect(&url).await.context("reopening the PostgreSQL database")?;
        reopened.close().await;
        result
    })
    .await;
    database.drop_database().await;
    match outcome {
        Ok(result) => result,
        Err(join) => std::panic::resume_unwind(join.into_panic()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_file_opened_by_many_at_once() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("shared.db").display());
    let mut opening = tokio::task::JoinSet::new();
    for _ in 0..6 {
        let url = url.clone();
        opening.spawn(async move { SqlRepository::connect(&url).await });
    }
    while let Some(opened) = opening.join_next().await {
        let repo = opened?.context("opening a new SQLite file from several tasks at once")?;
        contract::manifest_sequences(&repo).await?;
    }
    Ok(())
}
