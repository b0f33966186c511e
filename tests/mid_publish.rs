//! What a publish writes is decided by the connection as it is when the manifests are
//! written, not as it was when the run began: a connection narrowed or archived while the
//! files are being copied publishes nothing it no longer allows.

use airlock_domain::pipeline::PublishRequest;
use airlock_domain::{failures, new_id, now_millis, InfosecLevel, TagSet};
use airlock_local::pair::{Pair, PairSetup, BOB};
use airlock_outbox_publisher::{publish, PublishOutcome};
use airlock_repo::testing::{FlakyRepository, Pause};
use std::sync::Arc;
use tokio::task::JoinHandle;

type Run = JoinHandle<Result<PublishOutcome, airlock_outbox_publisher::PublishError>>;

/// A's publish, started over a repository that holds its read of the shares until released.
async fn paused_publish(pair: &Pair) -> (Run, Arc<Pause>, Arc<FlakyRepository>) {
    let (repo, pause) = FlakyRepository::pausing(pair.a.ctx.repo.clone(), "shared_sources_page");
    let repo = Arc::new(repo);
    let ctx = Arc::new(pair.a.ctx.with_repo(repo.clone()));
    let request = PublishRequest::plan(&new_id(), &pair.sending.id);
    let run = tokio::spawn(async move { publish(&ctx, &request).await });
    pause.reached().await;
    (run, pause, repo)
}

/// An ITAR file at INTERNAL and a plain PUBLIC one, both shared with A's connection.
async fn two_shared_files(pair: &Pair) -> anyhow::Result<(String, String)> {
    let itar = pair.upload("wing-spar.step", "INTERNAL", &["ITAR"], b"restricted design").await?;
    let public = pair.upload("brochure.txt", "PUBLIC", &[], b"public text").await?;
    pair.share(&itar.id).await?;
    pair.share(&public.id).await?;
    Ok((itar.id, public.id))
}

/// The names of every entry the exchange's manifest lists.
async fn named(pair: &Pair) -> anyhow::Result<Vec<String>> {
    let (_, shards) = pair.published().await?;
    Ok(shards.into_iter().flat_map(|s| s.resources).map(|e| e.name).collect())
}

#[tokio::test]
async fn a_connection_narrowed_mid_publish_publishes_only_what_it_still_allows() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let pair = Pair::start(PairSetup::embedded(dir.path())).await?;
    let (itar, public) = two_shared_files(&pair).await?;

    let (run, pause, repo) = paused_publish(&pair).await;
    // An admin narrows the connection (what PATCH writes) while the run is under way.
    let mut narrowed = pair.a.ctx.repo.connection(&pair.sending.id).await?.expect("exists");
    narrowed.permitted_level = Some(InfosecLevel::new("PUBLIC", 0));
    narrowed.permitted_tags = TagSet::new();
    pair.a.ctx.repo.update_connection(&narrowed).await?;
    pause.release();

    let PublishOutcome::Published { summary, rows } = run.await?? else { panic!("the publish should finish") };
    assert!(summary.starts_with("published 1 resource(s)"), "{summary}");
    assert_eq!(named(&pair).await?, ["brochure.txt"], "the ITAR file copied under the old permissions is not named");
    let row = rows.iter().find(|r| r.resource_id == itar).expect("a row for the ITAR file");
    assert!(row.message.contains("(changed while this publish ran)"), "{}", row.message);
    assert!(rows.iter().any(|r| r.resource_id == public), "{rows:?}");
    let share = pair.a.ctx.repo.all_shares(&pair.sending.id).await?.into_iter().find(|s| s.resource_id == itar);
    assert!(share.and_then(|s| s.removed_at).is_some(), "the share is withdrawn, so the next run skips it too");
    assert!(pair.a.ctx.repo.published(&pair.sending.id).await?.iter().all(|p| p.resource_id != itar));
    // The connection is read twice whatever the number of files: at the start and once at the end.
    assert_eq!(repo.calls("connection"), 2);

    let received = pair.b.sync(std::time::Duration::from_secs(30)).await?;
    assert_eq!(received.len(), 1);
    let at_b: Vec<String> = pair.files_at_b(BOB).await?.into_iter().map(|(r, _)| r.name).collect();
    assert_eq!(at_b, ["brochure.txt"]);
    Ok(())
}

#[tokio::test]
async fn a_connection_archived_mid_publish_writes_no_manifest() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let pair = Pair::start(PairSetup::embedded(dir.path())).await?;
    two_shared_files(&pair).await?;

    let (run, pause, _) = paused_publish(&pair).await;
    pair.a.ctx.repo.archive_connection(&pair.sending.id, now_millis()).await?;
    pause.release();

    let PublishOutcome::Failed { message, .. } = run.await?? else { panic!("the publish should stop") };
    assert_eq!(message, failures::ARCHIVED_DURING_PUBLISH);
    let path = pair.exchange_dir.join(airlock_domain::manifest::manifest_key(&pair.sending.shared_id));
    assert!(!path.exists(), "no manifest at {}", path.display());
    Ok(())
}
