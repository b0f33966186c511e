//! What a publish run reads and records, and what a validation records of the shards.

use super::{new_id, resource};
use crate::{ApplyOutcome, ManifestState};
use crate::{CopySettlement, PlannedCopy, PublishedEntry, Repository, Result, ShardState, ROOT_STATE_SHARD};
use airlock_domain::pipeline::{ResourceOutcome, ResourceRow, StatusEvent, StatusReport};
use airlock_domain::{ConnectionKind, Revision};

/// The shares of a connection with their resources and current revisions, a page at a time.
pub async fn shared_sources(repo: &dyn Repository) -> Result<()> {
    let (connection_id, owner) = (new_id(), new_id());
    let with_two = resource("two.txt", &owner);
    let without = resource("none.txt", &owner);
    repo.put_resource(&with_two).await?;
    repo.put_resource(&without).await?;
    let revision = |id: &str, created_at: i64| Revision {
        id: id.to_owned(),
        resource_id: with_two.id.clone(),
        size: 7,
        sha256: "00".repeat(32),
        blob_key: format!("blobs/{id}"),
        created_at,
    };
    let (old, new) = (revision(&new_id(), 10), revision(&new_id(), 20));
    repo.add_revision(&old).await?;
    repo.add_revision(&new).await?;
    let gone = new_id();
    for id in [&with_two.id, &without.id, &gone] {
        repo.share(&connection_id, id, &owner, 1).await?;
    }
    let removed = resource("removed.txt", &owner);
    repo.put_resource(&removed).await?;
    repo.share(&connection_id, &removed.id, &owner, 1).await?;
    repo.remove_share(&connection_id, &removed.id, "unshared", 2).await?;

    // Pages of two: the first two in resource id order, then the one after them.
    let mut sources = repo.shared_sources_page(&connection_id, "", 2).await?;
    assert_eq!(sources.len(), 2, "a page holds at most its limit");
    let last = sources[1].share.resource_id.clone();
    let rest = repo.shared_sources_page(&connection_id, &last, 2).await?;
    assert_eq!(rest.len(), 1, "the next page starts after the last one read");
    assert!(repo.shared_sources_page(&connection_id, &rest[0].share.resource_id, 2).await?.is_empty());
    sources.extend(rest);
    let mut expected = vec![
        (with_two.id.clone(), Some(with_two.clone()), Some(new.clone())),
        (without.id.clone(), Some(without.clone()), None),
        (gone.clone(), None, None),
    ];
    expected.sort_by(|a, b| a.0.cmp(&b.0));
    let got: Vec<_> = sources.into_iter().map(|s| (s.share.resource_id, s.resource, s.revision)).collect();
    assert_eq!(got, expected, "active shares only, by resource id, each with its resource and newest revision");

    // The same shares asked for by id, the removed one among them.
    let ids = vec![gone.clone(), removed.id.clone(), with_two.id.clone(), without.id.clone()];
    let mut got: Vec<_> = repo
        .shared_sources_of(&connection_id, &ids)
        .await?
        .into_iter()
        .map(|s| (s.share.resource_id, s.resource, s.revision))
        .collect();
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(got, expected, "the shares of these files: active ones, each with its resource and newest revision");
    Ok(())
}

/// A receiving sync's fetched shards count as applied when its event finishes with every
/// file arrived, in the transaction that finishes it; a sync with a failed file records
/// none of them, and an older sync finishing late moves no shard back.
pub async fn shard_states(repo: &dyn Repository) -> Result<()> {
    let connection_id = new_id();
    assert!(repo.shard_states(&connection_id).await?.is_empty());
    let state = |shard: u32, digest: &str| ShardState { shard, digest: digest.into() };
    let finish = |sync_id: &str, outcome: ResourceOutcome| StatusReport {
        sync_id: sync_id.into(),
        connection_id: connection_id.clone(),
        kind: ConnectionKind::Receiving,
        at: 10,
        event: StatusEvent::StageFinished {
            failed: false,
            message: String::new(),
            pending: 0,
            resources: vec![ResourceRow {
                resource_id: "r".into(),
                name: "r.txt".into(),
                outcome,
                message: String::new(),
            }],
        },
    };
    let sorted = |mut states: Vec<ShardState>| {
        states.sort_by_key(|s| s.shard);
        states
    };

    let (s1, s2, s3, s4) = (new_id(), new_id(), new_id(), new_id());
    repo.put_pending_shards(&s1, &connection_id, 5, &[state(0, "a0"), state(1, "a1")]).await?;
    assert!(repo.shard_states(&connection_id).await?.is_empty(), "pending until the sync finishes");
    let root = ManifestState {
        connection_id: connection_id.clone(),
        shard: ROOT_STATE_SHARD,
        sequence: 5,
        digest: "r".into(),
    };
    assert_eq!(repo.put_manifest_state(&root).await?, ApplyOutcome::Applied);
    repo.record_status(&finish(&s1, ResourceOutcome::Updated), 20).await?;
    assert_eq!(
        sorted(repo.shard_states(&connection_id).await?),
        vec![state(0, "a0"), state(1, "a1")],
        "recorded once every file arrived; the root's row is not a shard"
    );

    // A file of the next sync fails: its shard is fetched again next time.
    repo.put_pending_shards(&s2, &connection_id, 6, &[state(0, "b0")]).await?;
    repo.record_status(&finish(&s2, ResourceOutcome::Failed), 20).await?;
    assert_eq!(sorted(repo.shard_states(&connection_id).await?), vec![state(0, "a0"), state(1, "a1")]);

    // A newer sync records shard 1; an older one finishing after it does not move it back.
    repo.put_pending_shards(&s3, &connection_id, 8, &[state(1, "c1")]).await?;
    repo.put_pending_shards(&s4, &connection_id, 7, &[state(1, "old")]).await?;
    repo.record_status(&finish(&s3, ResourceOutcome::Updated), 20).await?;
    repo.record_status(&finish(&s4, ResourceOutcome::Updated), 20).await?;
    assert_eq!(sorted(repo.shard_states(&connection_id).await?), vec![state(0, "a0"), state(1, "c1")]);

    repo.reset_replay_state(&connection_id).await?;
    assert!(repo.shard_states(&connection_id).await?.is_empty(), "rotation forgets the shards too");
    Ok(())
}

/// Writes to a file mark it for each connection sharing it, in order, without moving the
/// counter of changes that concern every file.
pub async fn changed_files(repo: &dyn Repository) -> Result<()> {
    let connection_id = new_id();
    let none = repo.changed_files(&connection_id, 10).await?;
    assert_eq!((none.resource_ids, none.through), (Some(Vec::new()), 0), "nothing marked yet");
    let (shared, other) = (resource("shared.txt", &new_id()), resource("other.txt", &new_id()));
    repo.put_resource(&shared).await?;
    repo.put_resource(&other).await?;
    assert_eq!(repo.changed_files(&connection_id, 10).await?.resource_ids, Some(Vec::new()), "not shared: no mark");
    let counted = repo.registry_changes().await?;
    repo.share(&connection_id, &shared.id, "alice", 1).await?;
    repo.put_resource(&shared).await?;
    let changed = repo.changed_files(&connection_id, 10).await?;
    assert_eq!(changed.resource_ids, Some(vec![shared.id.clone()]), "one mark per file");
    assert_eq!(repo.registry_changes().await?, counted, "file writes leave the counter alone");
    repo.share(&connection_id, &other.id, "alice", 2).await?;
    let over = repo.changed_files(&connection_id, 1).await?;
    assert_eq!(over.resource_ids, None, "more than the limit");
    assert!(over.through > changed.through, "the newest mark");
    repo.forget_changed_files(&connection_id, changed.through).await?;
    let left = repo.changed_files(&connection_id, 10).await?;
    assert_eq!(left.resource_ids, Some(vec![other.id.clone()]), "a mark newer than the run stays");
    repo.remove_share(&connection_id, &shared.id, "gone", 3).await?;
    repo.forget_changed_files(&connection_id, left.through).await?;
    let removed = repo.changed_files(&connection_id, 10).await?;
    assert_eq!(removed.resource_ids, Some(vec![shared.id.clone()]), "a removed share marks its file");
    Ok(())
}

/// A run starts, and says whether the one before it wrote its manifest.
pub async fn publish_versions(repo: &dyn Repository) -> Result<()> {
    let connection_id = new_id();
    let (interrupted, first) = repo.begin_publish(&connection_id).await?;
    assert!(!interrupted, "the first run has none before it");
    repo.end_publish(&connection_id, first).await?;
    let (interrupted, second) = repo.begin_publish(&connection_id).await?;
    assert!(!interrupted, "the run before ended");
    // The second run stops short; the third rebuilds.
    let (interrupted, third) = repo.begin_publish(&connection_id).await?;
    assert!(interrupted, "the run before stopped short");
    repo.end_publish(&connection_id, third).await?;
    // A run that ends late does not move the mark back.
    repo.end_publish(&connection_id, second).await?;
    let (interrupted, fourth) = repo.begin_publish(&connection_id).await?;
    assert!(!interrupted);
    repo.end_publish(&connection_id, fourth).await?;
    // A copy of a run that lost its lease records a revision.
    repo.mark_publish_dirty(&connection_id).await?;
    assert!(repo.begin_publish(&connection_id).await?.0, "a record no manifest shows");

    let marks = repo.publish_marks(&connection_id).await?.expect("runs began");
    assert!(marks.interrupted, "the run just begun has not ended");
    assert_eq!(repo.publish_marks(&new_id()).await?, None, "no run yet");
    let before = repo.registry_changes().await?;
    repo.set_transforms(&new_id(), &[]).await?;
    assert!(repo.registry_changes().await? > before, "a write that concerns every file counts");
    repo.set_registry_seen(&connection_id, before).await?;
    assert_eq!(repo.publish_marks(&connection_id).await?.map(|m| m.registry_seen), Some(before));

    assert_eq!(repo.published_root(&connection_id).await?, None);
    repo.set_published_root(&connection_id, "ab12").await?;
    repo.set_published_root(&connection_id, "cd34").await?;
    assert_eq!(repo.published_root(&connection_id).await?.as_deref(), Some("cd34"), "the last one written");
    let fresh = new_id();
    repo.set_published_root(&fresh, "ef56").await?;
    assert!(!repo.begin_publish(&fresh).await?.0, "recording a manifest marks no run as stopped short");
    Ok(())
}

/// A fanned-out run's copies, each settled once, counted as they settle.
pub async fn fanned_out_runs(repo: &dyn Repository) -> Result<()> {
    let (sync_id, connection_id) = (new_id(), new_id());
    assert_eq!(repo.run_progress(&sync_id).await?, None);
    let copy = |id: &str, size: u64| PlannedCopy {
        resource_id: id.into(),
        name: format!("{id}.step"),
        size,
        blob_key: format!("blobs/{id}"),
        shard: 1,
        entry_json: format!("{{\"resource_id\":\"{id}\"}}"),
        replaces: (id == "b").then(|| "s/objects/b/old".to_owned()),
        settled: None,
    };
    let copies = [copy("a", 10), copy("b", 20), copy("c", 5_000_000_000)];
    assert!(repo.plan_run(&sync_id, &connection_id, &copies, (true, 7), 100).await?);
    assert!(!repo.plan_run(&sync_id, &connection_id, &copies[..1], (false, 8), 200).await?, "a redelivered plan");
    let state = repo.run_progress(&sync_id).await?.expect("planned");
    assert_eq!(
        (state.planned, state.settled, state.planned_bytes, state.settled_bytes, state.started_at),
        (3, 0, 5_000_000_030, 0, 100)
    );
    assert_eq!((state.version, state.rebuild_all), (7, true), "what the plan began with, for the finish");
    let two = ["b".to_owned(), "z".to_owned(), "c".to_owned()];
    let mut found = repo.planned_copies(&sync_id, &two).await?;
    found.sort_by(|x, y| x.resource_id.cmp(&y.resource_id));
    assert_eq!(found, vec![copies[1].clone(), copies[2].clone()], "round trip; an unknown one is left out");

    let record = |id: &str| PublishedEntry {
        connection_id: connection_id.clone(),
        resource_id: id.into(),
        revision_id: format!("rev-{id}"),
        shard: 1,
        object_key: format!("s/objects/{id}/new"),
        entry_json: copy(id, 0).entry_json,
    };
    let done = |id: &str| CopySettlement::Done { record: record(id), replaces: copy(id, 0).replaces };
    let failed = |id: &str, why: &str| CopySettlement::Failed { resource_id: id.into(), why: why.into() };
    let state = repo.settle_copies(&sync_id, &[done("b")], 50).await?.expect("planned");
    assert_eq!((state.settled, state.settled_bytes, state.is_complete()), (1, 20, false));
    assert_eq!(repo.published(&connection_id).await?, vec![record("b")], "the record is written with it");
    assert_eq!(repo.due_deletions(&connection_id, 50, 10).await?, ["s/objects/b/old"], "the replaced object");
    let again = repo.settle_copies(&sync_id, &[failed("b", "a redelivery that failed")], 50).await?.expect("planned");
    assert_eq!(again.settled, 1, "a copy settles once");
    let b = repo.planned_copies(&sync_id, &["b".to_owned()]).await?;
    assert_eq!(b[0].settled, Some(Ok(())), "the first one wins");
    let unsettled: Vec<String> = repo.run_copies(&sync_id, true).await?.into_iter().map(|c| c.resource_id).collect();
    assert_eq!(unsettled, ["a", "c"]);
    let batch = [failed("a", "the registry copy is gone"), done("c"), done("b")];
    let state = repo.settle_copies(&sync_id, &batch, 50).await?.expect("planned");
    assert!(state.is_complete());
    assert_eq!((state.settled, state.settled_bytes), (3, 5_000_000_030), "b is not counted twice");
    let outcomes: Vec<_> = repo.run_copies(&sync_id, false).await?.into_iter().map(|c| c.settled).collect();
    assert_eq!(outcomes, [Some(Err("the registry copy is gone".into())), Some(Ok(())), Some(Ok(()))]);
    repo.forget_run(&sync_id).await?;
    assert_eq!(repo.run_progress(&sync_id).await?, None);
    assert_eq!(repo.planned_copies(&sync_id, &["a".to_owned()]).await?, []);
    assert_eq!(repo.settle_copies(&sync_id, &[failed("a", "late")], 50).await?, None, "a finished run settles nothing");
    Ok(())
}
