//! What a sync costs grows with what changed: an idle sync writes nothing at A and fetches
//! no shard at B, one change rewrites one shard, a large run fans its copies out, and the
//! receiver stays whole when the sender reshards or an ingest fails.

use airlock_domain::pipeline::{PublishRequest, PublishStep};
use airlock_domain::{new_id, shard_for, Health, ShardEntries};
use airlock_local::pair::{Pair, PairSetup, BOB};
use airlock_local::OutboxPublisher;
use airlock_outbox_publisher::{publish, PublishOutcome};
use airlock_repo::testing::FlakyRepository;
use airlock_runtime::{Handler, MessageMeta, TraceContext};
use airlock_tests::finished;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(60);

/// Every file under the exchange, with its bytes.
fn exchange_files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let key = path.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/");
                out.insert(key, std::fs::read(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// `count` small files shared with A's connection and received by B.
async fn delivered(pair: &Pair, count: usize) -> anyhow::Result<Vec<String>> {
    let mut ids = Vec::new();
    for i in 0..count {
        let file = pair.upload(&format!("part-{i:02}.txt"), "PUBLIC", &[], format!("part {i}\n").as_bytes()).await?;
        pair.share(&file.id).await?;
        ids.push(file.id);
    }
    let (sent, received) = pair.sync().await?;
    assert_eq!((finished(&sent), finished(&received)), (Health::Success, Health::Success), "{sent:?} {received:?}");
    assert_eq!(pair.files_at_b(BOB).await?.len(), count);
    Ok(ids)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_sync_writes_nothing_and_fetches_no_shard() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let pair = Pair::start(PairSetup::embedded(dir.path())).await?;
    delivered(&pair, 12).await?;
    let before = exchange_files(&pair.exchange_dir);

    let (sent, received) = pair.sync().await?;
    assert_eq!((finished(&sent), finished(&received)), (Health::Success, Health::Success));
    assert!(sent.message.starts_with("nothing changed since the last run"), "{}", sent.message);
    assert!(received.message.contains("manifest unchanged"), "{}", received.message);
    assert_eq!(exchange_files(&pair.exchange_dir), before, "not one object written or removed");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_change_rewrites_one_shard_and_the_receiver_fetches_only_it() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let pair = Pair::start(PairSetup::embedded(dir.path())).await?;
    let ids = delivered(&pair, 12).await?;
    let (before, _) = pair.published().await?;

    airlock_services::registry::upload_revision(&pair.a.ctx, "alice", &ids[3], &b"changed\n"[..]).await?;
    let (sent, received) = pair.sync().await?;
    assert!(sent.message.contains("1 shard(s) rewritten"), "{}", sent.message);
    let (after, _) = pair.published().await?;
    let changed: Vec<u32> =
        before.shards.iter().zip(&after.shards).filter(|(b, a)| b.key != a.key).map(|(b, _)| b.shard).collect();
    assert_eq!(changed, [shard_for(&ids[3], before.shard_count)], "only the shard holding the file");
    assert!(received.message.contains("1 of 4 shard(s) fetched: 1 change(s)"), "{}", received.message);
    let files = pair.files_at_b(BOB).await?;
    assert!(files.iter().any(|(r, bytes)| r.name == "part-03.txt" && bytes == b"changed\n"));
    assert_eq!(files.len(), 12);
    Ok(())
}

/// A's publish over a repository that counts the reads of shared files.
async fn counted_publish(pair: &Pair) -> anyhow::Result<(String, Arc<FlakyRepository>)> {
    let repo = Arc::new(FlakyRepository::new(pair.a.ctx.repo.clone(), 0));
    let ctx = pair.a.ctx.with_repo(repo.clone());
    match publish(&ctx, &PublishRequest::plan(&new_id(), &pair.sending.id)).await? {
        PublishOutcome::Published { summary, .. } => Ok((summary, repo)),
        _ => anyhow::bail!("the publish should finish inline"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_after_a_few_changes_reads_only_those_files() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let pair = Pair::start(PairSetup::embedded(dir.path())).await?;
    let ids = delivered(&pair, 12).await?;

    // A new revision: one file read, its shard patched.
    airlock_services::registry::upload_revision(&pair.a.ctx, "alice", &ids[3], &b"changed\n"[..]).await?;
    let (summary, repo) = counted_publish(&pair).await?;
    assert_eq!((repo.calls("shared_sources_of"), repo.calls("shared_sources_page")), (1, 0), "{summary}");
    assert!(summary.starts_with("published 12 resource(s) in 4 shard(s): 1 change(s)"), "{summary}");
    assert!(summary.contains("1 shard(s) rewritten"), "{summary}");
    let (_, received) = pair.sync().await?;
    assert_eq!(finished(&received), Health::Success, "{received:?}");
    let files = pair.files_at_b(BOB).await?;
    assert!(files.iter().any(|(r, bytes)| r.name == "part-03.txt" && bytes == b"changed\n"));

    // A share removed: the file leaves the manifest, read on its own.
    pair.a.ctx.repo.remove_share(&pair.sending.id, &ids[5], "no longer needed", 1).await?;
    let (summary, repo) = counted_publish(&pair).await?;
    assert_eq!((repo.calls("shared_sources_of"), repo.calls("shared_sources_page")), (1, 0), "{summary}");
    assert!(summary.starts_with("published 11 resource(s)"), "{summary}");
    let (_, shards) = pair.published().await?;
    assert!(shards.iter().flat_map(|s| &s.resources).all(|e| e.resource_id != ids[5]));
    pair.sync().await?;
    assert_eq!(pair.files_at_b(BOB).await?.len(), 11, "withdrawn at B");

    // A shard object not as written cannot be patched: the run reads every file instead.
    let (root, _) = pair.published().await?;
    let damaged = &root.shards[shard_for(&ids[7], root.shard_count) as usize];
    std::fs::write(pair.exchange_dir.join(&damaged.key), b"{}")?;
    airlock_services::registry::upload_revision(&pair.a.ctx, "alice", &ids[7], &b"seventh\n"[..]).await?;
    let (summary, repo) = counted_publish(&pair).await?;
    assert_eq!((repo.calls("shared_sources_of"), repo.calls("shared_sources_page")), (1, 1), "{summary}");
    assert!(summary.starts_with("published 11 resource(s) in 4 shard(s)"), "{summary}");
    let (_, received) = pair.sync().await?;
    assert_eq!(finished(&received), Health::Success, "{received:?}");
    let files = pair.files_at_b(BOB).await?;
    assert_eq!(files.len(), 11);
    assert!(files.iter().any(|(r, bytes)| r.name == "part-07.txt" && bytes == b"seventh\n"));

    // Nothing marked and nothing else changed: the next run is idle.
    let (summary, _) = counted_publish(&pair).await?;
    assert!(summary.starts_with("nothing changed since the last run"), "{summary}");
    Ok(())
}

/// A pass over every file reads the shares a page at a time, each page with the published
/// records of its range of ids: with pages of three, a fanned-out first run and a later
/// full pass leave exactly what one page would, whichever page a file falls on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pass_over_every_file_reads_it_a_page_at_a_time() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut setup = PairSetup::embedded(dir.path());
    (setup.settings.publish_page, setup.settings.inline_copies) = (3, 0);
    let pair = Pair::start(setup).await?;
    let mut ids = delivered(&pair, 10).await?;
    ids.sort();

    // Shares gone on the first page, a middle one and after the last, their records left
    // for the pass to find in the range that holds them.
    for id in [&ids[0], &ids[4], &ids[9]] {
        pair.a.ctx.repo.remove_share(&pair.sending.id, id, "no longer needed", 1).await?;
    }
    pair.a.ctx.repo.mark_publish_dirty(&pair.sending.id).await?;
    let (summary, repo) = counted_publish(&pair).await?;
    // Seven shares: pages of three, three and one.
    assert_eq!((repo.calls("shared_sources_page"), repo.calls("shared_sources_of")), (3, 0), "{summary}");
    assert!(summary.starts_with("published 7 resource(s)"), "{summary}");
    let kept: Vec<String> =
        ids.iter().enumerate().filter(|(i, _)| ![0, 4, 9].contains(i)).map(|(_, id)| id.clone()).collect();
    let mut records: Vec<String> =
        pair.a.ctx.repo.published(&pair.sending.id).await?.into_iter().map(|p| p.resource_id).collect();
    records.sort();
    assert_eq!(records, kept, "the records of the shares gone are gone, the others kept");
    let (_, shards) = pair.published().await?;
    let mut named: Vec<String> = shards.iter().flat_map(|s| &s.resources).map(|e| e.resource_id.clone()).collect();
    named.sort();
    assert_eq!(named, kept, "the manifest names the shares left on every page");
    pair.sync().await?;
    assert_eq!(pair.files_at_b(BOB).await?.len(), 7, "withdrawn at B");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manifest_past_half_its_life_is_signed_again_without_its_shards() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut setup = PairSetup::embedded(dir.path());
    setup.settings.manifest_ttl = Duration::from_secs(2);
    let pair = Pair::start(setup).await?;
    delivered(&pair, 3).await?;
    let (before, _) = pair.published().await?;
    tokio::time::sleep(Duration::from_millis(1_100)).await;

    let (sent, received) = pair.sync().await?;
    assert!(sent.message.contains("0 shard(s) rewritten"), "{}", sent.message);
    let (after, _) = pair.published().await?;
    assert!(after.sequence > before.sequence && after.expires_at > before.expires_at);
    assert_eq!(after.shards, before.shards, "the same shard objects");
    assert_eq!(finished(&received), Health::Success, "{received:?}");
    assert!(received.message.contains("refreshed, no shard changed"), "{}", received.message);
    Ok(())
}

fn meta() -> MessageMeta {
    MessageMeta { id: new_id(), attempt: 1, max_attempts: 5, trace: TraceContext::new_root() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_with_many_copies_fans_them_out_and_delivers_each_once() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut setup = PairSetup::embedded(dir.path());
    setup.settings.inline_copies = 0;
    let pair = Pair::start(setup).await?;
    let mut ids = Vec::new();
    for i in 0..10 {
        let file = pair.upload(&format!("part-{i}.txt"), "PUBLIC", &[], format!("{i}\n").as_bytes()).await?;
        pair.share(&file.id).await?;
        ids.push(file.id);
    }
    let sent = pair.a.sync(TIMEOUT).await?.pop().expect("one sending sync");
    assert_eq!((finished(&sent), sent.updated, sent.rows), (Health::Success, 10, 10), "{sent:?}");
    assert!(sent.resources.iter().all(|r| r.message.starts_with("published revision")), "{sent:?}");
    assert_eq!(pair.a.ctx.repo.run_progress(&sent.sync_id).await?, None, "the finished run's copies are forgotten");

    // A copy and a finish delivered again once the run is over change nothing.
    let publisher = OutboxPublisher::new(pair.a.ctx.clone());
    let plan = PublishRequest::plan(&sent.sync_id, &pair.sending.id);
    let before = exchange_files(&pair.exchange_dir);
    publisher.handle(&plan.step(PublishStep::Copy { resource_ids: vec![ids[0].clone()] }), &meta()).await?;
    publisher.handle(&plan.step(PublishStep::Finish), &meta()).await?;
    assert_eq!(exchange_files(&pair.exchange_dir), before);

    let received = pair.b.sync(TIMEOUT).await?.pop().expect("one receiving sync");
    assert_eq!((finished(&received), received.updated), (Health::Success, 10), "{received:?}");
    let event = pair.a.ctx.repo.sync_event(&sent.sync_id).await?.expect("recorded");
    assert_eq!((event.updated, event.rows), (10, 10), "each file once in the history");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_delivered_again_sends_only_the_unsettled_copies() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut setup = PairSetup::embedded(dir.path());
    setup.settings.inline_copies = 0;
    setup.functions_in_process = false;
    let pair = Pair::start(setup).await?;
    let mut ids = Vec::new();
    for i in 0..4 {
        let file = pair.upload(&format!("part-{i}.txt"), "PUBLIC", &[], format!("{i}\n").as_bytes()).await?;
        pair.share(&file.id).await?;
        ids.push(file.id);
    }
    let ctx = pair.a.ctx.clone();
    let plan = PublishRequest::plan(&new_id(), &pair.sending.id);
    let outcome = airlock_outbox_publisher::publish(&ctx, &plan).await?;
    assert!(matches!(outcome, airlock_outbox_publisher::PublishOutcome::FannedOut { copies: 4 }));
    // Two copies run; then the plan is delivered again (its process died before its ack).
    let copy = |ids: &[String]| plan.step(PublishStep::Copy { resource_ids: ids.to_vec() });
    airlock_outbox_publisher::publish(&ctx, &copy(&ids[..2])).await?;
    let again = airlock_outbox_publisher::publish(&ctx, &plan).await?;
    assert!(matches!(again, airlock_outbox_publisher::PublishOutcome::FannedOut { copies: 2 }), "only the others");
    let state = ctx.repo.run_progress(&plan.sync_id).await?.expect("running");
    assert_eq!((state.planned, state.settled), (4, 2));
    // A copy delivered twice settles once.
    airlock_outbox_publisher::publish(&ctx, &copy(&ids[1..3])).await?;
    airlock_outbox_publisher::publish(&ctx, &copy(&ids[3..])).await?;
    let airlock_outbox_publisher::PublishOutcome::Published { summary, rows } =
        airlock_outbox_publisher::publish(&ctx, &plan.step(PublishStep::Finish)).await?
    else {
        panic!("the finish publishes");
    };
    assert!(summary.starts_with("published 4 resource(s)"), "{summary}");
    assert_eq!(rows.len(), 4);
    let (_, shards) = pair.published().await?;
    assert_eq!(shards.iter().map(|s| s.resources.len()).sum::<usize>(), 4);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_ingest_is_offered_again_while_the_manifest_is_unchanged() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let pair = Pair::start(PairSetup::embedded(dir.path())).await?;
    let file = pair.upload("wing.step", "PUBLIC", &[], b"wing\n").await?;
    pair.share(&file.id).await?;
    assert_eq!(finished(&pair.a.sync(TIMEOUT).await?[0]), Health::Success);
    let (_, shards) = pair.published().await?;
    let object = pair.exchange_dir.join(&shards.iter().flat_map(|s| &s.resources).next().expect("one").object_key);
    let bytes = std::fs::read(&object)?;
    std::fs::remove_file(&object)?;
    let failed = pair.b.sync(TIMEOUT).await?.pop().expect("one receiving sync");
    assert_eq!(finished(&failed), Health::Degraded, "{failed:?}");

    // The object is back (a slow replication caught up): the same manifest delivers it.
    std::fs::write(&object, bytes)?;
    let received = pair.b.sync(TIMEOUT).await?.pop().expect("one receiving sync");
    assert_eq!((finished(&received), received.updated), (Health::Success, 1), "{received:?}");
    assert_eq!(pair.files_at_b(BOB).await?.len(), 1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_that_reshards_leaves_the_receiver_whole() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let pair = Pair::start(PairSetup::embedded(dir.path())).await?;
    let ids = delivered(&pair, 12).await?;
    let before: Vec<(String, Vec<u8>)> =
        pair.files_at_b(BOB).await?.into_iter().map(|(r, bytes)| (r.name, bytes)).collect();

    // The sender moves to 8 shards (as it does past 1,000 entries a shard).
    let reshard = |shards: &mut Vec<ShardEntries>, count: u32| {
        let entries: Vec<_> = shards.drain(..).flat_map(|s| s.resources).collect();
        let shared_id = pair.sending.shared_id.clone();
        *shards = (0..count)
            .map(|k| ShardEntries { shared_id: shared_id.clone(), shard: k, shard_count: count, resources: Vec::new() })
            .collect();
        for entry in entries {
            shards[shard_for(&entry.resource_id, count) as usize].resources.push(entry);
        }
    };
    pair.resign_published(|manifest, shards| {
        manifest.sequence += 1;
        manifest.shard_count = 8;
        reshard(shards, 8);
    })
    .await?;
    let received = pair.b.sync(TIMEOUT).await?.pop().expect("one receiving sync");
    assert_eq!(finished(&received), Health::Success, "{received:?}");
    assert!(received.message.contains("8 of 8 shard(s) fetched"), "{}", received.message);
    let after: Vec<(String, Vec<u8>)> =
        pair.files_at_b(BOB).await?.into_iter().map(|(r, bytes)| (r.name, bytes)).collect();
    assert_eq!(after, before, "nothing withdrawn, nothing changed");
    let applied = pair.b.ctx.repo.applied(&pair.receiving.id).await?;
    assert!(applied.iter().all(|a| a.shard == shard_for(&a.remote_resource_id, 8)), "recorded in their new shards");

    // Then one file is renamed: only its shard is fetched, and nothing else moves.
    let target = ids[5].clone();
    pair.resign_published(|manifest, shards| {
        manifest.sequence += 1;
        for entry in shards.iter_mut().flat_map(|s| s.resources.iter_mut()).filter(|e| e.resource_id == target) {
            entry.name = "renamed.txt".into();
        }
    })
    .await?;
    let received = pair.b.sync(TIMEOUT).await?.pop().expect("one receiving sync");
    assert!(received.message.contains("1 of 8 shard(s) fetched: 1 change(s)"), "{}", received.message);
    let names: Vec<String> = pair.files_at_b(BOB).await?.into_iter().map(|(r, _)| r.name).collect();
    assert_eq!(names.len(), 12);
    assert!(names.contains(&"renamed.txt".to_owned()) && !names.contains(&"part-05.txt".to_owned()), "{names:?}");
    Ok(())
}
