//! Per resource the newest sequence wins whatever order deliveries finish in, and one
//! validation runs per connection at a time.

use airlock_domain::pipeline::{Change, IngestBatch, IngestRequest, PollRequest, ResourceOutcome};
use airlock_domain::{derived_id, new_id, Health};
use airlock_local::pair::{Pair, PairSetup, BOB};
use airlock_local::{InboxIngester, ManifestValidator};
use airlock_runtime::{Handler, HandlerError, MessageMeta, TraceContext};
use airlock_store::object_store::local::LocalFileSystem;
use airlock_tests::gate::GatedStore;
use airlock_tests::{cad_bytes, finished};
use std::sync::Arc;
use std::time::Duration;

fn meta() -> MessageMeta {
    MessageMeta { id: new_id(), attempt: 1, max_attempts: 5, trace: TraceContext::new_root() }
}

/// The ingest B's validator would emit for `resource_id` from the manifest now in the exchange.
async fn ingest_from_exchange(pair: &Pair, resource_id: &str) -> anyhow::Result<IngestRequest> {
    let (manifest, shards) = pair.published().await?;
    let (shard, entry) = shards
        .into_iter()
        .find_map(|s| s.resources.into_iter().find(|e| e.resource_id == resource_id).map(|e| (s.shard, e)))
        .expect("entry in manifest");
    Ok(IngestRequest {
        sync_id: new_id(),
        connection_id: pair.receiving.id.clone(),
        shard,
        sequence: manifest.sequence,
        change: Change::Upsert { entry },
    })
}

/// A large revision's ingest opens its object, then a small newer revision is published
/// and fully received before the large download finishes: the late older ingest loses,
/// is reported as superseded (not failed), and B keeps serving the newer revision.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_large_ingest_finishing_last_loses() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let exchange_dir = dir.path().join("exchange");
    std::fs::create_dir_all(&exchange_dir)?;
    let gated = GatedStore::new(Arc::new(LocalFileSystem::new_with_prefix(&exchange_dir)?));
    let mut setup = PairSetup::embedded(dir.path());
    setup.exchange = Some(gated.clone());
    let pair = Pair::start(setup).await?;

    let large = cad_bytes(600_000);
    let file = pair.upload("wing.step", "PUBLIC", &[], &large).await?;
    pair.share(&file.id).await?;
    assert_eq!(finished(&pair.a.sync(Duration::from_secs(30)).await?[0]), Health::Success);
    let old = ingest_from_exchange(&pair, &file.id).await?;
    let Change::Upsert { entry: old_entry } = &old.change else { unreachable!() };

    // The older ingest opens its object and stalls mid-download.
    gated.hold(&old_entry.revision_id);
    let ingester = InboxIngester::new(pair.b.ctx.clone());
    let late = {
        let (ctx, old) = (pair.b.ctx.clone(), old.clone());
        tokio::spawn(async move { airlock_inbox_ingester::ingest(&ctx, &old).await })
    };
    let _ = tokio::time::timeout(Duration::from_secs(20), gated.reached.acquire()).await??;

    let small = b"v2: the small fix\n".to_vec();
    airlock_services::registry::upload_revision(&pair.a.ctx, "alice", &file.id, &small[..]).await?;
    let (sent, received) = pair.sync().await?;
    assert_eq!(finished(&sent), Health::Success, "{sent:?}");
    assert_eq!((finished(&received), received.updated), (Health::Success, 1), "{received:?}");

    gated.open();
    let row = late.await??;
    assert_eq!(row.outcome, ResourceOutcome::Unchanged, "superseded is not a failure: {row:?}");
    let newer = pair.b.ctx.repo.applied_entry(&pair.receiving.id, &file.id).await?.expect("applied");
    assert!(newer.sequence > old.sequence);
    assert_eq!(row.message, format!("superseded by sequence {}", newer.sequence));

    let bob = pair.files_at_b(BOB).await?;
    assert_eq!(bob.len(), 1);
    assert_eq!(bob[0].1, small, "B serves the newest revision, not the one that finished last");
    let local_id = derived_id(&pair.receiving.id, &file.id);
    let current = pair.b.ctx.repo.latest_revision(&local_id).await?.expect("a current revision");
    assert_eq!(current.size, small.len() as u64);

    // The next round finds the newest entry in place and changes nothing.
    let (_, again) = pair.sync().await?;
    assert_eq!((finished(&again), again.updated), (Health::Success, 0), "{again:?}");
    assert_eq!(pair.files_at_b(BOB).await?[0].1, small);
    // A redelivery of the old ingest is dropped before any download.
    ingester.handle(&IngestBatch::one(old.clone()), &meta()).await?;
    assert_eq!(pair.files_at_b(BOB).await?[0].1, small);
    Ok(())
}

/// A second validation of a connection while one holds its lease waits (deferred, not
/// failed, attempts not used up), then runs once the lease is free.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_validation_waits_for_the_running_one() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let pair = Pair::start(PairSetup::embedded(dir.path())).await?;
    let file = pair.upload("notes.txt", "PUBLIC", &[], b"hello\n").await?;
    pair.share(&file.id).await?;
    pair.a.sync(Duration::from_secs(30)).await?;

    let poll = PollRequest { sync_id: new_id(), connection_id: pair.receiving.id.clone() };
    let now = airlock_domain::now_millis();
    let running = new_id();
    assert!(pair.b.ctx.repo.take_lease(&poll.lease_key(), &running, now, now + 60_000).await?);
    let validator = ManifestValidator::new(pair.b.ctx.clone());
    let last = MessageMeta { attempt: 5, ..meta() };
    let waited = validator.handle(&poll, &last).await.unwrap_err();
    assert!(matches!(waited, HandlerError::Deferred(_)), "{waited:?}");
    assert!(waited.to_string().contains("is running elsewhere"), "{waited}");
    assert!(pair.b.ctx.repo.sync_event(&poll.sync_id).await?.is_none(), "nothing recorded for the waiting one");

    pair.b.ctx.repo.release_lease(&poll.lease_key(), &running).await?;
    validator.handle(&poll, &meta()).await?;
    let event = pair.b.wait_for_sync(&poll.sync_id, Duration::from_secs(30)).await?;
    assert_eq!((finished(&event), event.updated), (Health::Success, 1), "{event:?}");
    Ok(())
}

/// Two publishes in quick succession while B works from the first manifest: the first
/// manifest's objects stay for the grace period, so B's ingest finds its object (no
/// NoSuchKey); with no grace period left they are removed by the publish run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quick_succession_keeps_the_previous_manifests_objects() -> anyhow::Result<()> {
    for grace in [Duration::from_secs(3600), Duration::ZERO] {
        let dir = tempfile::tempdir()?;
        let mut setup = PairSetup::embedded(dir.path());
        setup.settings.object_grace = grace;
        let pair = Pair::start(setup).await?;
        let file = pair.upload("wing.step", "PUBLIC", &[], &cad_bytes(100_000)).await?;
        pair.share(&file.id).await?;
        pair.a.sync(Duration::from_secs(30)).await?;
        let first = ingest_from_exchange(&pair, &file.id).await?;
        let Change::Upsert { entry } = &first.change else { unreachable!() };
        let first_object = pair.exchange_dir.join(&entry.object_key);
        assert!(first_object.exists());

        airlock_services::registry::upload_revision(&pair.a.ctx, "alice", &file.id, &b"v2\n"[..]).await?;
        let sent = pair.a.sync(Duration::from_secs(30)).await?;
        assert_eq!(finished(&sent[0]), Health::Success);
        if grace.is_zero() {
            assert!(!first_object.exists(), "past its grace period the superseded object is removed");
            continue;
        }
        assert!(first_object.exists(), "the first manifest's object stays for the grace period");
        let row = airlock_inbox_ingester::ingest(&pair.b.ctx, &first).await?;
        assert_eq!(row.outcome, ResourceOutcome::Updated, "B finishes from the first manifest: {row:?}");
        let (_, received) = pair.sync().await?;
        assert_eq!(finished(&received), Health::Success, "{received:?}");
        assert_eq!(pair.files_at_b(BOB).await?[0].1, b"v2\n", "and then takes the newer revision");
    }
    Ok(())
}

/// After new revisions, an unshare, a reclassification out of the connection's policy and
/// a file unshared then shared again, the exchange holds exactly what the current
/// manifests name plus the superseded objects within their grace period; with no grace
/// period left, exactly what the manifests name. Nothing else, and no staging file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_exchange_holds_only_what_the_manifests_and_the_grace_period_name() -> anyhow::Result<()> {
    use airlock_services::registry;
    for (grace, superseded) in [(Duration::from_secs(3600), 5), (Duration::ZERO, 0)] {
        let dir = tempfile::tempdir()?;
        let mut setup = PairSetup::embedded(dir.path());
        setup.settings.object_grace = grace;
        let pair = Pair::start(setup).await?;
        let mut files = Vec::new();
        for i in 0..6 {
            let file = pair.upload(&format!("part-{i}.step"), "PUBLIC", &[], &cad_bytes(20_000 + i)).await?;
            pair.share(&file.id).await?;
            files.push(file);
        }
        pair.sync().await?;

        registry::upload_revision(&pair.a.ctx, "alice", &files[0].id, &b"v2\n"[..]).await?;
        pair.a.sync(Duration::from_secs(30)).await?;
        registry::upload_revision(&pair.a.ctx, "alice", &files[0].id, &b"v3\n"[..]).await?;
        registry::upload_revision(&pair.a.ctx, "alice", &files[1].id, &b"v2\n"[..]).await?;
        registry::unshare(&pair.a.ctx, "alice", &files[2].id, &pair.sending.id).await?;
        registry::reclassify(&pair.a.ctx, "alice", &files[3].id, Some("SECRET"), None).await?;
        registry::unshare(&pair.a.ctx, "alice", &files[4].id, &pair.sending.id).await?;
        pair.sync().await?;
        pair.share(&files[4].id).await?;
        let (sent, received) = pair.sync().await?;
        assert_eq!((finished(&sent), finished(&received)), (Health::Success, Health::Success), "{sent:?}");

        let audit = airlock_local::audit::audit_exchange(
            &pair.a.ctx,
            &pair.sending,
            &pair.exchange,
            Some(pair.exchange_dir.as_path()),
        )
        .await
        .map_err(anyhow::Error::msg)?;
        assert!(audit.is_clean(), "grace {grace:?}: {audit:?}");
        let named = 1 + pair.sending.shard_count as usize + 4;
        assert_eq!(audit.named, named, "the manifest, one entries object per shard and four files: {audit:?}");
        // files[0]'s first two revisions, files[1]'s first, files[2] and files[3]; files[4]
        // is named again, so its object is not superseded. Replaced shard entries wait too.
        let pending = pair.a.ctx.repo.due_deletions(&pair.sending.id, i64::MAX, u32::MAX).await?;
        let payloads = pending.iter().filter(|k| k.contains("/objects/")).count();
        assert_eq!(payloads, superseded, "grace {grace:?}: {pending:?}");
        assert_eq!(audit.pending, pending.len(), "grace {grace:?}: {audit:?}");
        let names: Vec<String> = pair.files_at_b(BOB).await?.into_iter().map(|(r, _)| r.name).collect();
        assert_eq!(names, ["part-0.step", "part-1.step", "part-4.step", "part-5.step"]);
    }
    Ok(())
}

/// A publish whose manifests cannot be written has already recorded the new revision as
/// published: the superseded object is scheduled for deletion all the same, so the next
/// run's manifests leave nothing behind that nothing names.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_stopped_before_its_manifests_leaves_no_orphan() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut setup = PairSetup::embedded(dir.path());
    setup.settings.object_grace = Duration::ZERO;
    let pair = Pair::start(setup).await?;
    let file = pair.upload("wing.step", "PUBLIC", &[], &cad_bytes(50_000)).await?;
    pair.share(&file.id).await?;
    assert_eq!(finished(&pair.a.sync(Duration::from_secs(30)).await?[0]), Health::Success);

    airlock_services::registry::upload_revision(&pair.a.ctx, "alice", &file.id, &b"v2\n"[..]).await?;
    // A directory where shard 0's manifest goes: the manifest write fails, after the
    // revision was copied and recorded.
    let manifest = pair.exchange_dir.join(&pair.sending.shared_id).join("shard0/manifest");
    std::fs::remove_file(&manifest)?;
    std::fs::create_dir_all(manifest.join("in-the-way"))?;
    let failed = pair.a.sync(Duration::from_secs(30)).await?;
    assert_eq!(finished(&failed[0]), Health::Failure, "{failed:?}");
    std::fs::remove_dir_all(&manifest)?;
    assert_eq!(finished(&pair.a.sync(Duration::from_secs(30)).await?[0]), Health::Success);

    let audit = airlock_local::audit::audit_exchange(&pair.a.ctx, &pair.sending, &pair.exchange, None)
        .await
        .map_err(anyhow::Error::msg)?;
    assert!(audit.is_clean(), "{audit:?}");
    // The manifest, one entries object per shard, the payload.
    assert_eq!((audit.named, audit.pending), (pair.sending.shard_count as usize + 2, 0), "{audit:?}");
    Ok(())
}
