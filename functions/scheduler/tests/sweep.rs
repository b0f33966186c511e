//! The scheduler's ticks sweep interrupted uploads from the configured stores: a staging
//! file older than `staging_max_age` goes, a young one (maybe an upload still running)
//! stays, and ticks between two sweeps list nothing.

use airlock_protocol::MasterKey;
use airlock_runtime::{Context, Settings};
use airlock_store::{NamedStores, Scheme, StoreConfig};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

fn staging_file(path: &Path, age: Duration) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let file = std::fs::File::create(path).unwrap();
    file.set_modified(SystemTime::now() - age).unwrap();
}

#[tokio::test]
async fn ticks_sweep_old_staging_files_and_keep_young_ones() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let exchange = dir.path().join("exchange");
    let stores = NamedStores::from_configs(&[StoreConfig {
        label: "OUTBOX".into(),
        scheme: Scheme::File,
        name: exchange.to_string_lossy().into_owned(),
        endpoint_url: None,
        region: None,
        access_key: None,
        secret_key: None,
    }])?;
    let settings = Settings {
        database_url: format!("sqlite://{}", dir.path().join("a.db").display()),
        schedule_interval: Duration::from_secs(60),
        staging_max_age: Duration::from_secs(600),
        ..Settings::default()
    };
    let ctx = Context {
        repo: airlock_repo::connect(&settings.database_url).await?,
        bus: Arc::new(airlock_bus::InProcessBus::new()),
        stores,
        master: MasterKey::new(&"m".repeat(32))?,
        settings,
    };
    assert_eq!(airlock_scheduler::upload_sweep_every(&ctx), 2, "a quarter of ten minutes at one tick a minute");

    let old = exchange.join("chan/shard0/objects/r/v1#1");
    let young = exchange.join("chan/shard1/manifest#2");
    staging_file(&old, Duration::from_secs(700));
    staging_file(&young, Duration::from_secs(5));

    airlock_scheduler::tick(&ctx, Some(1)).await?;
    assert!(old.exists(), "no sweep between two sweep slots");
    airlock_scheduler::tick(&ctx, Some(2)).await?;
    assert!(!old.exists(), "an old staging file is swept by the tick");
    assert!(young.exists(), "a young staging file may be an upload still running");
    airlock_scheduler::tick(&ctx, None).await?;
    assert!(young.exists());
    Ok(())
}
