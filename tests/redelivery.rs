//! At-least-once delivery: a redelivered or duplicated message changes nothing, at every
//! stage. Handlers are called directly, as a redelivering bus would call them.

use airlock_domain::pipeline::{Change, IngestBatch, IngestRequest, PollRequest, PublishRequest};
use airlock_domain::{new_id, Health};
use airlock_local::pair::{Pair, PairSetup, BOB};
use airlock_local::{InboxIngester, ManifestValidator, OutboxPublisher, StatusRecorder};
use airlock_runtime::{Handler, MessageMeta, TraceContext};
use airlock_tests::finished;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

fn meta() -> MessageMeta {
    MessageMeta { id: new_id(), attempt: 2, max_attempts: 5, trace: TraceContext::new_root() }
}

fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.insert(path.strip_prefix(dir).unwrap().display().to_string(), std::fs::read(&path).unwrap());
            }
        }
    }
    out
}

async fn pair_with_one_shared_file(dir: &tempfile::TempDir) -> anyhow::Result<Pair> {
    let pair = Pair::start(PairSetup::embedded(dir.path())).await?;
    let file = pair.upload("wing-spar.step", "INTERNAL", &["ITAR"], &airlock_tests::cad_bytes(150_000)).await?;
    pair.share(&file.id).await?;
    Ok(pair)
}

#[tokio::test]
async fn redelivered_publish_writes_nothing_new() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let pair = pair_with_one_shared_file(&dir).await?;
    let publisher = OutboxPublisher::new(pair.a.ctx.clone());
    let request = PublishRequest::plan(&new_id(), &pair.sending.id);
    publisher.handle(&request, &meta()).await?;
    let after_first = snapshot(&pair.exchange_dir);
    assert!(!after_first.is_empty());
    publisher.handle(&request, &meta()).await?;
    assert_eq!(snapshot(&pair.exchange_dir), after_first, "a redelivered publish must not rewrite the outbox");
    let event = pair.a.wait_for_sync(&request.sync_id, Duration::from_secs(30)).await?;
    assert_eq!((finished(&event), event.updated), (Health::Success, 1));
    Ok(())
}

#[tokio::test]
async fn redelivered_ingest_and_poll_change_nothing() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let pair = pair_with_one_shared_file(&dir).await?;
    let (_, received) = pair.sync().await?;
    assert_eq!((finished(&received), received.updated), (Health::Success, 1));
    let files_before = pair.files_at_b(BOB).await?;
    let applied_before = pair.b.ctx.repo.applied(&pair.receiving.id).await?;
    let registry_before = snapshot(&dir.path().join("registry-b"));

    // The ingest message of that sync, delivered once more.
    let (manifest, shards) = pair.published().await?;
    let shard = applied_before[0].shard;
    let entry = shards[shard as usize].resources[0].clone();
    let ingest = IngestRequest {
        sync_id: received.sync_id.clone(),
        connection_id: pair.receiving.id.clone(),
        shard,
        sequence: manifest.sequence,
        change: Change::Upsert { entry },
    };
    InboxIngester::new(pair.b.ctx.clone()).handle(&IngestBatch::one(ingest), &meta()).await?;

    // The poll of that sync, delivered once more.
    let poll = PollRequest { sync_id: received.sync_id.clone(), connection_id: pair.receiving.id.clone() };
    ManifestValidator::new(pair.b.ctx.clone()).handle(&poll, &meta()).await?;

    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(pair.files_at_b(BOB).await?, files_before);
    assert_eq!(pair.b.ctx.repo.applied(&pair.receiving.id).await?, applied_before);
    assert_eq!(snapshot(&dir.path().join("registry-b")), registry_before, "no second copy of the content");
    let event = pair.b.ctx.repo.sync_event(&received.sync_id).await?.unwrap();
    assert_eq!(event, received, "the sync history is unchanged");
    Ok(())
}

#[tokio::test]
async fn duplicated_status_report_changes_nothing() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let pair = pair_with_one_shared_file(&dir).await?;
    let (sent, _) = pair.sync().await?;
    let recorder = StatusRecorder::new(pair.a.ctx.clone());
    let report = airlock_domain::pipeline::StatusReport {
        sync_id: sent.sync_id.clone(),
        connection_id: pair.sending.id.clone(),
        kind: airlock_domain::ConnectionKind::Sending,
        at: airlock_domain::now_millis(),
        event: airlock_domain::pipeline::StatusEvent::StageFinished {
            failed: true,
            message: "a late duplicate that must not rewrite history".into(),
            pending: 0,
            resources: Vec::new(),
        },
    };
    recorder.handle(&report, &meta()).await?;
    assert_eq!(pair.a.ctx.repo.sync_event(&sent.sync_id).await?.unwrap(), sent);
    Ok(())
}
