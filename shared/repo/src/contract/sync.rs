//! Sync history, and writers racing each other.

use super::{connection, new_id};
use crate::{DynRepository, Repository, Result, SyncEvent, SyncState};
use airlock_domain::pipeline::{ResourceOutcome, ResourceRow, StatusEvent, StatusReport};
use airlock_domain::{ConnectionKind, Health};
use std::collections::BTreeSet;

fn row(name: &str, outcome: ResourceOutcome) -> ResourceRow {
    ResourceRow {
        resource_id: new_id(),
        name: name.to_owned(),
        outcome,
        message: format!("{name}: {}", outcome.as_str()),
    }
}

fn report(sync_id: &str, connection_id: &str, at: i64, event: StatusEvent) -> StatusReport {
    StatusReport {
        sync_id: sync_id.to_owned(),
        connection_id: connection_id.to_owned(),
        kind: ConnectionKind::Receiving,
        at,
        event,
    }
}

fn stage_end(failed: bool, pending: u32, resources: Vec<ResourceRow>) -> StatusEvent {
    let message = if failed { "connection failed (no manifest received)" } else { "manifest applied" };
    StatusEvent::StageFinished { failed, message: message.to_owned(), pending, resources }
}

fn one(row: &ResourceRow) -> StatusEvent {
    StatusEvent::Resource { row: row.clone() }
}

/// Folds a report as the recorder would, received a little after it was sent.
async fn fold(repo: &dyn Repository, report: &StatusReport) -> Result<SyncEvent> {
    repo.record_status(report, report.at + RECEIVED_AFTER).await
}

const RECEIVED_AFTER: i64 = 7;

/// The event as `record_status` returns it: counters, no rows.
fn head(event: &SyncEvent) -> SyncEvent {
    SyncEvent { resources: Vec::new(), ..event.clone() }
}

async fn health_of(repo: &dyn Repository, connection_id: &str) -> Result<Option<Health>> {
    Ok(repo.connection(connection_id).await?.and_then(|c| c.health))
}

pub async fn sync_history(repo: &dyn Repository) -> Result<()> {
    let c = connection(ConnectionKind::Receiving, 1_000);
    repo.create_connection(&c).await?;
    assert_eq!(repo.sync_event(&new_id()).await?, None, "unknown sync");

    // A receiving sync: the validator finishes first and announces two ingests.
    let s1 = new_id();
    let validated = report(&s1, &c.id, 1_000, stage_end(false, 2, vec![]));
    let event = fold(repo, &validated).await?;
    assert_eq!(event.state, SyncState::Running, "running while ingests are pending");
    assert!(event.stage_finished && !event.stage_failed && event.pending == 2);
    assert_eq!((event.started_at, event.finished_at), (1_000, None));
    assert_eq!(event.message, "manifest applied");
    assert_eq!(fold(repo, &validated).await?, event, "a redelivered stage end changes nothing");

    let changed = row("b-report.pdf", ResourceOutcome::Updated);
    let same = row("a-notes.txt", ResourceOutcome::Unchanged);
    let event = fold(repo, &report(&s1, &c.id, 1_100, one(&changed))).await?;
    assert_eq!(event.state, SyncState::Running, "one ingest still pending");
    assert_eq!(health_of(repo, &c.id).await?, None, "no health before the first sync finishes");
    let last = report(&s1, &c.id, 1_200, one(&same));
    let event = fold(repo, &last).await?;
    assert_eq!(event.state, SyncState::Finished(Health::Success), "every pending row arrived");
    assert_eq!(event.finished_at, Some(1_200 + RECEIVED_AFTER), "finished when the recorder folded the last row");
    assert_eq!(event.updated, 1, "only the changed row counts as an update");
    assert_eq!((event.rows, event.failed), (2, 0));
    assert!(event.resources.is_empty(), "folding a report reads no rows");
    assert_eq!(fold(repo, &last).await?, event, "a redelivered row changes nothing");
    let stored = repo.sync_event(&s1).await?.expect("stored");
    assert_eq!(head(&stored), event, "the stored event is the returned one");
    assert_eq!(stored.resources, vec![same.clone(), changed.clone()], "rows by name");
    assert_eq!(repo.sync_rows(&s1, 1, 1).await?, vec![changed.clone()], "a page of rows");
    assert_eq!(repo.sync_rows(&s1, 10, 0).await?, stored.resources, "every row");
    let head = repo.sync_event_head(&s1).await?.expect("stored");
    assert_eq!(head, SyncEvent { resources: Vec::new(), ..stored.clone() }, "the head: the same but its rows");
    assert_eq!(health_of(repo, &c.id).await?, Some(Health::Success), "the connection takes the sync's health");

    // A failed resource degrades the sync.
    let s2 = new_id();
    fold(repo, &report(&s2, &c.id, 2_000, stage_end(false, 1, vec![]))).await?;
    let broken = row("broken.bin", ResourceOutcome::Failed);
    let event = fold(repo, &report(&s2, &c.id, 2_100, one(&broken))).await?;
    assert_eq!(event.state, SyncState::Finished(Health::Degraded));
    assert_eq!((event.updated, event.failed), (0, 1));
    assert_eq!(health_of(repo, &c.id).await?, Some(Health::Degraded));

    // A failed stage fails the sync at once when nothing is pending.
    let s3 = new_id();
    let event = fold(repo, &report(&s3, &c.id, 3_000, stage_end(true, 0, vec![]))).await?;
    assert_eq!(event.state, SyncState::Finished(Health::Failure));
    assert!(event.stage_failed && event.rows == 0);
    assert_eq!(event.message, "connection failed (no manifest received)");
    assert_eq!(health_of(repo, &c.id).await?, Some(Health::Failure));

    // A sending sync reports its rows with its stage end; a resource row may also arrive
    // before the stage end that announces it.
    let s4 = new_id();
    let early = row("early.txt", ResourceOutcome::Removed);
    let event = fold(repo, &report(&s4, &c.id, 4_100, one(&early))).await?;
    assert_eq!(event.state, SyncState::Running, "a row alone does not finish a sync");
    let published = vec![row("p1", ResourceOutcome::Updated), row("p2", ResourceOutcome::Unchanged)];
    let event = fold(repo, &report(&s4, &c.id, 4_000, stage_end(false, 1, published.clone()))).await?;
    assert_eq!(event.state, SyncState::Finished(Health::Success));
    assert_eq!(event.started_at, 4_000, "the event starts at its earliest report");
    assert_eq!(event.updated, 2, "updated and removed rows count as updates");
    let rows = repo.sync_event(&s4).await?.expect("stored").resources;
    assert_eq!(rows, vec![early, published[0].clone(), published[1].clone()]);

    // An older sync that finishes late keeps its own health but not the connection's.
    let late = new_id();
    fold(repo, &report(&late, &c.id, 3_500, stage_end(false, 1, vec![]))).await?;
    let flipped = row("x", ResourceOutcome::Failed);
    fold(
        repo,
        &report(&late, &c.id, 4_900, one(&ResourceRow { outcome: ResourceOutcome::Updated, ..flipped.clone() })),
    )
    .await?;
    let event = fold(repo, &report(&late, &c.id, 5_000, one(&flipped))).await?;
    assert_eq!((event.rows, event.updated, event.failed), (1, 0, 1), "a replaced row moves the counters, not adds");
    assert_eq!(event.state, SyncState::Finished(Health::Degraded));
    assert_eq!(health_of(repo, &c.id).await?, Some(Health::Success), "the newest finished sync decides");

    let ids = |events: Vec<SyncEvent>| events.into_iter().map(|e| e.sync_id).collect::<Vec<_>>();
    assert_eq!(
        ids(repo.sync_events(&c.id, false, 10, 0).await?),
        vec![s4.clone(), late.clone(), s3.clone(), s2.clone(), s1.clone()],
        "newest first"
    );
    assert_eq!(ids(repo.sync_events(&c.id, true, 10, 0).await?), vec![s4.clone(), s1.clone()], "with updates only");
    assert_eq!(ids(repo.sync_events(&c.id, false, 2, 1).await?), vec![late, s3], "a page");
    assert_eq!(ids(repo.sync_events(&c.id, true, 1, 1).await?), vec![s1.clone()], "a page of updates");
    assert!(repo.sync_events(&c.id, false, 10, 5).await?.is_empty(), "past the end");
    assert!(repo.sync_events(&new_id(), false, 10, 0).await?.is_empty(), "another connection");
    let listed = repo.sync_events(&c.id, true, 10, 0).await?;
    assert_eq!(Some(&listed[1]), repo.sync_event(&s1).await?.as_ref(), "listed events carry their rows");
    Ok(())
}

/// Many writers at once, as the status-recorder and publishers run them: every write must
/// succeed (no "database is locked"), sequences must be unique, and a sync whose rows
/// arrive all at once must still finish exactly when the last one is in.
pub async fn concurrent_writes(repo: DynRepository) -> Result<()> {
    const TASKS: usize = 20;
    let c = connection(ConnectionKind::Receiving, 1_000);
    repo.create_connection(&c).await?;
    let sync_id = new_id();

    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..TASKS {
        let (repo, connection_id, sync_id) = (repo.clone(), c.id.clone(), sync_id.clone());
        tasks.spawn(async move {
            let resource = row(&format!("file-{i:02}"), ResourceOutcome::Updated);
            let event = fold(&*repo, &report(&sync_id, &connection_id, 2_000 + i as i64, one(&resource))).await?;
            let sequence = repo.next_manifest_sequence(&connection_id).await?;
            Ok::<_, crate::RepoError>((event, sequence))
        });
    }
    {
        let (repo, connection_id, sync_id) = (repo.clone(), c.id.clone(), sync_id.clone());
        tasks.spawn(async move {
            let event =
                fold(&*repo, &report(&sync_id, &connection_id, 1_000, stage_end(false, TASKS as u32, vec![]))).await?;
            Ok((event, 0))
        });
    }
    let mut sequences = BTreeSet::new();
    let mut finished_by = 0;
    while let Some(joined) = tasks.join_next().await {
        let (event, sequence) = joined.expect("a writer task panicked")?;
        if matches!(event.state, SyncState::Finished(_)) {
            finished_by += 1;
        }
        if sequence != 0 {
            assert!(sequences.insert(sequence), "manifest sequence {sequence} handed out twice");
        }
    }
    assert_eq!(sequences, (1..=TASKS as u64).collect(), "sequences 1..={TASKS}, each once");
    assert_eq!(finished_by, 1, "exactly one report finishes the sync");
    let event = repo.sync_event(&sync_id).await?.expect("the sync was recorded");
    assert_eq!(event.state, SyncState::Finished(Health::Success));
    assert_eq!((event.resources.len(), event.updated as usize), (TASKS, TASKS));
    assert_eq!(event.started_at, 1_000);
    assert_eq!(health_of(repo.as_ref(), &c.id).await?, Some(Health::Success));
    Ok(())
}

/// Events that never finish are finished as failed once past the deadline, naming what
/// never reported; finished and younger events are left alone.
pub async fn sync_deadline(repo: &dyn Repository) -> Result<()> {
    let c = connection(ConnectionKind::Receiving, 1_000);
    repo.create_connection(&c).await?;
    let (silent, short, young, done) = (new_id(), new_id(), new_id(), new_id());
    fold(repo, &report(&silent, &c.id, 1_000, StatusEvent::StageStarted)).await?;
    fold(repo, &report(&short, &c.id, 1_100, stage_end(false, 3, vec![]))).await?;
    fold(repo, &report(&short, &c.id, 1_200, one(&row("arrived", ResourceOutcome::Updated)))).await?;
    fold(repo, &report(&young, &c.id, 9_000, StatusEvent::StageStarted)).await?;
    fold(repo, &report(&done, &c.id, 900, stage_end(false, 0, vec![]))).await?;

    let mut expired = repo.expire_sync_events(5_000, 20_000, 3_600).await?;
    expired.retain(|e| e.connection_id == c.id);
    expired.sort_by_key(|e| e.started_at);
    let ids: Vec<&str> = expired.iter().map(|e| e.sync_id.as_str()).collect();
    assert_eq!(ids, [silent.as_str(), short.as_str()], "only the old running events");
    for event in &expired {
        assert_eq!((event.state, event.finished_at), (SyncState::Finished(Health::Failure), Some(20_000)));
    }
    assert_eq!(expired[0].message, "sync did not finish within 3600 s: its stage never reported its end");
    assert_eq!(
        expired[1].message,
        "sync did not finish within 3600 s: 2 of 3 resource row(s) never reported (manifest applied)"
    );
    assert_eq!(repo.sync_event(&young).await?.map(|e| e.state), Some(SyncState::Running));
    assert_eq!(repo.sync_event(&done).await?.map(|e| e.state), Some(SyncState::Finished(Health::Success)));
    assert_eq!(health_of(repo, &c.id).await?, Some(Health::Failure), "the newest finished sync decides");
    // A row that arrives after all is still recorded; the event stays failed.
    let late = fold(repo, &report(&short, &c.id, 30_000, one(&row("late", ResourceOutcome::Updated)))).await?;
    assert_eq!((late.state, late.rows), (SyncState::Finished(Health::Failure), 2));
    Ok(())
}
