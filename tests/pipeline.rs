//! The whole pipeline end to end: the same exchange between two platforms on the embedded
//! default (SQLite + in-process bus), on PostgreSQL + NATS JetStream, and on SQS.

use airlock_domain::pipeline::ResourceOutcome;
use airlock_domain::{Health, InfosecLevel};
use airlock_local::pair::{Pair, PairSetup, BOB, CAROL};
use airlock_repo::SyncState;
use airlock_store::testing::LocalServer;
use airlock_tests::{cad_bytes, finished, postgres_nats_setup};
use std::sync::Arc;

/// Files shared at A arrive at B byte-identical with transformed tags, visible to a
/// cleared owner and hidden from an uncleared one; an unchanged revision is not copied
/// again; a file that becomes ineligible is removed at A with its reason and withdrawn at B.
async fn exchange(pair: &Pair) -> anyhow::Result<()> {
    let spar_bytes = cad_bytes(200_000);
    let spar = pair.upload("wing-spar.step", "INTERNAL", &["ITAR", "PROJECT-X"], &spar_bytes).await?;
    let readme = pair.upload("readme.txt", "PUBLIC", &[], b"hello partner\n").await?;
    let empty = pair.upload("empty.dat", "PUBLIC", &[], b"").await?;
    for file in [&spar, &readme, &empty] {
        pair.share(&file.id).await?;
    }

    let (sent, received) = pair.sync().await?;
    assert_eq!(finished(&sent), Health::Success, "{sent:?}");
    assert_eq!(sent.updated, 3);
    assert_eq!(finished(&received), Health::Success, "{received:?}");
    assert_eq!(received.updated, 3);
    assert!(received.resources.iter().all(|r| r.outcome == ResourceOutcome::Updated));

    let bob = pair.files_at_b(BOB).await?;
    let names: Vec<&str> = bob.iter().map(|(r, _)| r.name.as_str()).collect();
    assert_eq!(names, ["empty.dat", "readme.txt", "wing-spar.step"]);
    let (spar_b, spar_b_bytes) = &bob[2];
    assert_eq!(spar_b_bytes, &spar_bytes, "content must arrive byte-identical");
    let expected_tags: Vec<&str> = vec!["B-ITAR", "FROM-PARTNER-A"];
    assert_eq!(
        spar_b.tags.iter().map(String::as_str).collect::<Vec<_>>(),
        expected_tags,
        "PROJECT-X removed at A, ITAR mapped and provenance added at B"
    );
    assert_eq!(spar_b.level, InfosecLevel::new("RESTRICTED", 1), "INTERNAL (order 1) maps to B's level of order 1");
    assert_eq!(bob[0].1, b"");

    let carol: Vec<String> = pair.files_at_b(CAROL).await?.into_iter().map(|(r, _)| r.name).collect();
    assert_eq!(carol, ["empty.dat", "readme.txt"], "an owner without the level and tags does not see the ITAR file");

    // Nothing changed: nothing is copied or applied again.
    let object_count = count_objects(pair).await;
    let (sent, received) = pair.sync().await?;
    assert_eq!((finished(&sent), sent.updated), (Health::Success, 0), "{sent:?}");
    assert_eq!((finished(&received), received.updated), (Health::Success, 0), "{received:?}");
    assert_eq!(count_objects(pair).await, object_count);

    // A new revision moves; then a reclassification makes the file ineligible.
    airlock_services::registry::upload_revision(&pair.a.ctx, "alice", &readme.id, &b"hello partner, v2\n"[..]).await?;
    let mut spar_secret = spar.clone();
    spar_secret.level = InfosecLevel::new("SECRET", 2);
    pair.a.ctx.repo.put_resource(&spar_secret).await?;
    let (sent, received) = pair.sync().await?;
    assert_eq!(finished(&sent), Health::Success, "{sent:?}");
    let removed = sent.resources.iter().find(|r| r.resource_id == spar.id).expect("a row for the reclassified file");
    assert_eq!(removed.outcome, ResourceOutcome::Removed);
    assert!(removed.message.contains("exceeds the connection's permitted level"), "{}", removed.message);
    let shares = pair.a.ctx.repo.all_shares(&pair.sending.id).await?;
    let share = shares.iter().find(|s| s.resource_id == spar.id).unwrap();
    assert!(share.removed_at.is_some());
    assert!(share.removed_reason.as_deref().unwrap().contains("'SECRET' (order=2)"));

    assert_eq!(finished(&received), Health::Success, "{received:?}");
    assert_eq!(received.updated, 2, "one new revision, one withdrawal: {received:?}");
    let bob: Vec<(String, Vec<u8>)> = pair.files_at_b(BOB).await?.into_iter().map(|(r, b)| (r.name, b)).collect();
    assert_eq!(bob.len(), 2, "the withdrawn file is hidden");
    assert_eq!(bob[1], ("readme.txt".to_string(), b"hello partner, v2\n".to_vec()));

    // History: newest first, with-updates filter, both sides.
    let history = pair.b.ctx.repo.sync_events(&pair.receiving.id, false, 10, 0).await?;
    assert_eq!(history.len(), 3);
    assert!(history.iter().all(|e| matches!(e.state, SyncState::Finished(Health::Success))));
    let with_updates = pair.b.ctx.repo.sync_events(&pair.receiving.id, true, 10, 0).await?;
    assert_eq!(with_updates.len(), 2);
    let health = pair.a.ctx.repo.connection(&pair.sending.id).await?.unwrap().health;
    assert_eq!(health, Some(Health::Success));
    Ok(())
}

async fn count_objects(pair: &Pair) -> usize {
    use futures::TryStreamExt;
    pair.exchange.list(None).try_collect::<Vec<_>>().await.unwrap().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exchange_on_sqlite_and_in_process_bus() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    exchange(&Pair::start(PairSetup::embedded(dir.path())).await?).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exchange_on_postgres_and_nats() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let backends = postgres_nats_setup(dir.path()).await?;
    let result = exchange(&Pair::start(backends.setup).await?).await;
    backends.cleanup.run().await;
    result
}

/// Both platforms' buses on SQS (moto's): a queue set per platform, told apart by prefix.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exchange_on_sqlite_and_sqs() -> anyhow::Result<()> {
    let server = LocalServer::s3().map_err(anyhow::Error::msg)?;
    let endpoint = airlock_bus::SqsEndpoint {
        endpoint_url: Some(server.endpoint.clone()),
        region: Some("us-east-1".into()),
        credentials: Some(("testing".into(), "testing".into())),
    };
    let prefix = uuid::Uuid::new_v4().simple().to_string();
    let options = airlock_bus::SqsOptions::default();
    let bus_a = Arc::new(airlock_bus::SqsBus::connect(endpoint.clone(), &format!("a{prefix}"), options.clone()).await?);
    let bus_b = Arc::new(airlock_bus::SqsBus::connect(endpoint, &format!("b{prefix}"), options).await?);
    let dir = tempfile::tempdir()?;
    let mut setup = PairSetup::embedded(dir.path());
    setup.bus_a = bus_a.clone();
    setup.bus_b = bus_b.clone();
    let result = exchange(&Pair::start(setup).await?).await;
    bus_a.delete_queues().await;
    bus_b.delete_queues().await;
    result
}

/// The exchange bucket on a real S3 server (moto), then on Azure Blob (Azurite).
async fn exchange_over(config: airlock_store::StoreConfig) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let label = config.label.clone();
    let store = airlock_store::NamedStores::from_configs(&[config])?.get(&label)?;
    let mut setup = PairSetup::embedded(dir.path());
    setup.exchange = Some(store.clone());
    let pair = Pair::start(setup).await?;
    exchange(&pair).await?;
    // The exchange really went through that bucket, not a local directory.
    let manifest = object_store::path::Path::from(format!("{}/shard0/manifest", pair.sending.shared_id));
    store.head(&manifest).await?;
    assert!(!pair.exchange_dir.exists(), "nothing may be written to the default exchange directory");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exchange_through_s3() -> anyhow::Result<()> {
    let server = LocalServer::s3().map_err(anyhow::Error::msg)?;
    exchange_over(server.new_bucket("EXCHANGE").map_err(anyhow::Error::msg)?).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exchange_through_azure_blob() -> anyhow::Result<()> {
    let server = LocalServer::azurite().map_err(anyhow::Error::msg)?;
    exchange_over(server.new_container("EXCHANGE").map_err(anyhow::Error::msg)?).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_files_spread_over_shards_arrive() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let pair = Pair::start(PairSetup::embedded(dir.path())).await?;
    for i in 0..40 {
        let file = pair.upload(&format!("part-{i:02}.txt"), "PUBLIC", &[], format!("part {i}\n").as_bytes()).await?;
        pair.share(&file.id).await?;
    }
    let (sent, received) = pair.sync().await?;
    assert_eq!((finished(&sent), sent.updated), (Health::Success, 40));
    assert_eq!((finished(&received), received.updated), (Health::Success, 40));
    let (manifest, shards) = pair.published().await?;
    assert_eq!((manifest.shard_count, shards.len()), (4, 4));
    assert!(shards.iter().all(|s| !s.resources.is_empty()), "every shard holds some of the files");
    assert_eq!(shards.iter().map(|s| s.resources.len()).sum::<usize>(), 40);
    assert_eq!(pair.files_at_b(BOB).await?.len(), 40);
    Ok(())
}
