//! Sending and receiving state.

use super::{connection, resource};
use super::{new_id, tags};
use crate::{
    AppliedEntry, ApplyOutcome, LocalChange, ManifestState, PublishedEntry, ReceivedChange, RepoError, Repository,
    Result, Share,
};
use airlock_domain::TagSet;
use airlock_domain::{ConnectionKind, Revision};

pub async fn shares(repo: &dyn Repository) -> Result<()> {
    let (connection_id, alice, bob) = (new_id(), new_id(), new_id());
    let (first, second) = (new_id(), new_id());
    let share = |resource_id: &str, shared_by: &str, shared_at: i64| Share {
        connection_id: connection_id.clone(),
        resource_id: resource_id.to_owned(),
        shared_by: shared_by.to_owned(),
        shared_at,
        removed_at: None,
        removed_reason: None,
    };

    assert!(repo.active_shares(&connection_id).await?.is_empty(), "no shares at first");
    repo.share(&connection_id, &second, &alice, 20).await?;
    repo.share(&connection_id, &first, &alice, 10).await?;
    repo.share(&connection_id, &first, &bob, 30).await?;
    let both = vec![share(&first, &alice, 10), share(&second, &alice, 20)];
    assert_eq!(repo.active_shares(&connection_id).await?, both, "sharing an active share again changes nothing");

    let reason = "infosec level 'SECRET' (order=3) exceeds the connection's permitted level";
    repo.remove_share(&connection_id, &first, reason, 40).await?;
    repo.remove_share(&connection_id, &first, "unshared by a user", 50).await?;
    repo.remove_share(&connection_id, &new_id(), "never shared", 50).await?;
    let removed = Share { removed_at: Some(40), removed_reason: Some(reason.to_owned()), ..share(&first, &alice, 10) };
    assert_eq!(repo.active_shares(&connection_id).await?, vec![share(&second, &alice, 20)], "removed share hidden");
    assert_eq!(
        repo.all_shares(&connection_id).await?,
        vec![removed, share(&second, &alice, 20)],
        "every share, the removed one with its first removal's time and reason"
    );

    repo.share(&connection_id, &first, &bob, 60).await?;
    assert_eq!(
        repo.active_shares(&connection_id).await?,
        vec![share(&second, &alice, 20), share(&first, &bob, 60)],
        "sharing a removed share again re-activates it, with the new sharer and time"
    );
    assert!(repo.all_shares(&new_id()).await?.is_empty(), "another connection has no shares");
    Ok(())
}

pub async fn published_entries(repo: &dyn Repository) -> Result<()> {
    let connection_id = new_id();
    let entry = |shard: u32| {
        let resource_id = new_id();
        PublishedEntry {
            connection_id: connection_id.clone(),
            revision_id: new_id(),
            shard,
            object_key: format!("shared.x/objects/{resource_id}"),
            entry_json: format!(r#"{{"resource_id":"{resource_id}","tags":["ITAR"]}}"#),
            resource_id,
        }
    };
    let (mut high, low) = (entry(3), entry(0));
    repo.put_published(&high).await?;
    repo.put_published(&low).await?;
    assert_eq!(repo.published(&connection_id).await?, vec![low.clone(), high.clone()], "by shard");
    let (first, second) = if low.resource_id < high.resource_id { (&low, &high) } else { (&high, &low) };
    let between = |after: String, upto: Option<String>| {
        let connection_id = &connection_id;
        async move { repo.published_between(connection_id, &after, upto.as_deref()).await }
    };
    assert_eq!(between(String::new(), None).await?, vec![first.clone(), second.clone()], "by resource id");
    let (a, b) = (first.resource_id.clone(), second.resource_id.clone());
    assert_eq!(between(String::new(), Some(a.clone())).await?, vec![first.clone()], "up to and with `upto`");
    assert_eq!(between(a.clone(), Some(b.clone())).await?, vec![second.clone()], "after `after`");
    assert_eq!(between(a, None).await?, vec![second.clone()], "after `after`, to the last");
    assert!(between(b, None).await?.is_empty(), "nothing after the last");
    high.revision_id = new_id();
    high.entry_json = "{}".to_owned();
    repo.put_published(&high).await?;
    assert_eq!(repo.published(&connection_id).await?, vec![low.clone(), high.clone()], "put replaces");
    repo.delete_published(&connection_id, &low.resource_id).await?;
    repo.delete_published(&connection_id, &low.resource_id).await?;
    assert_eq!(repo.published(&connection_id).await?, vec![high], "deleted, twice without harm");
    Ok(())
}

pub async fn manifest_sequences(repo: &dyn Repository) -> Result<()> {
    let (a, b) = (new_id(), new_id());
    assert_eq!(repo.next_manifest_sequence(&a).await?, 1, "the first sequence is 1");
    assert_eq!(repo.next_manifest_sequence(&a).await?, 2);
    assert_eq!(repo.next_manifest_sequence(&b).await?, 1, "each connection counts on its own");
    assert_eq!(repo.next_manifest_sequence(&a).await?, 3);
    assert_eq!(repo.next_manifest_sequence(&b).await?, 2);
    Ok(())
}

pub async fn receiving_state(repo: &dyn Repository) -> Result<()> {
    let connection_id = new_id();

    assert_eq!(repo.manifest_state(&connection_id, 0).await?, None, "no manifest applied yet");
    let mut state =
        ManifestState { connection_id: connection_id.clone(), shard: 2, sequence: 7, digest: "ab".repeat(32) };
    assert_eq!(repo.put_manifest_state(&state).await?, ApplyOutcome::Applied);
    assert_eq!(repo.manifest_state(&connection_id, 2).await?, Some(state.clone()), "manifest state round trip");
    assert_eq!(repo.manifest_state(&connection_id, 1).await?, None, "each shard on its own");
    assert_eq!(repo.put_manifest_state(&state).await?, ApplyOutcome::Current, "the same manifest again");
    state.sequence = 1 << 40;
    state.digest = "cd".repeat(32);
    assert_eq!(repo.put_manifest_state(&state).await?, ApplyOutcome::Applied);
    assert_eq!(repo.manifest_state(&connection_id, 2).await?, Some(state.clone()), "a newer manifest replaces");
    let too_large = ManifestState { sequence: u64::MAX, ..state.clone() };
    assert!(
        matches!(repo.put_manifest_state(&too_large).await, Err(RepoError::OutOfRange { .. })),
        "a sequence beyond the signed 64-bit range is refused, not wrapped"
    );

    let entry = |remote: &str| AppliedEntry {
        connection_id: connection_id.clone(),
        remote_resource_id: remote.to_owned(),
        shard: 1,
        entry_digest: "11".repeat(32),
        local_resource_id: new_id(),
        sequence: 3,
        withdrawn: false,
    };
    let mut remotes = [new_id(), new_id()];
    remotes.sort();
    let (mut first, second) = (entry(&remotes[0]), entry(&remotes[1]));
    for e in [&second, &first] {
        let change = upsert(&connection_id, &e.local_resource_id, "a.txt", &new_id());
        assert_eq!(repo.apply_change(e, &change).await?, ApplyOutcome::Applied);
    }
    assert_eq!(repo.applied(&connection_id).await?, vec![first.clone(), second.clone()], "by remote id");
    first.entry_digest = "22".repeat(32);
    first.shard = 3;
    first.sequence = 4;
    let change = upsert(&connection_id, &first.local_resource_id, "a.txt", &new_id());
    assert_eq!(repo.apply_change(&first, &change).await?, ApplyOutcome::Applied, "a newer change replaces");
    assert_eq!(repo.applied_entry(&connection_id, &first.remote_resource_id).await?, Some(first.clone()));
    assert_eq!(repo.applied_entry(&connection_id, &new_id()).await?, None, "unknown remote resource");
    let gone = AppliedEntry { entry_digest: String::new(), sequence: 4, withdrawn: true, ..second.clone() };
    assert_eq!(repo.apply_change(&gone, &LocalChange::Withdraw { at: 9 }).await?, ApplyOutcome::Applied);
    assert_eq!(repo.applied(&connection_id).await?, vec![first], "a withdrawn entry is no longer listed");
    assert_eq!(
        repo.applied_entry(&connection_id, &second.remote_resource_id).await?,
        Some(gone),
        "but stays as a tombstone"
    );

    assert_eq!(repo.incoming_tags(&connection_id).await?, TagSet::new(), "no incoming tags seen yet");
    repo.set_incoming_tags(&connection_id, &tags(&["THEIR-ITAR", "INTERNAL"])).await?;
    assert_eq!(repo.incoming_tags(&connection_id).await?, tags(&["INTERNAL", "THEIR-ITAR"]));
    repo.set_incoming_tags(&connection_id, &tags(&["NEW"])).await?;
    assert_eq!(repo.incoming_tags(&connection_id).await?, tags(&["NEW"]), "the last tags seen replace the earlier");
    Ok(())
}

/// Superseded objects wait for their due time, and one published again is never removed.
pub async fn pending_deletions(repo: &dyn Repository) -> Result<()> {
    let connection_id = new_id();
    let (old, older, again) = ("s/shard0/objects/r/v2".to_owned(), "s/shard0/objects/r/v1".to_owned(), new_id());
    repo.schedule_deletions(&connection_id, std::slice::from_ref(&older), 1_000).await?;
    repo.schedule_deletions(&connection_id, &[old.clone(), again.clone()], 5_000).await?;
    repo.schedule_deletions(&connection_id, std::slice::from_ref(&older), 500).await?;
    assert!(repo.due_deletions(&connection_id, 999, 10).await?.is_empty(), "nothing due yet");
    assert_eq!(repo.due_deletions(&connection_id, 1_000, 10).await?, vec![older.clone()], "a later due time kept");
    let republished = PublishedEntry {
        connection_id: connection_id.clone(),
        resource_id: new_id(),
        revision_id: new_id(),
        shard: 0,
        object_key: again.clone(),
        entry_json: "{}".to_owned(),
    };
    repo.put_published(&republished).await?;
    assert_eq!(
        repo.due_deletions(&connection_id, 9_000, 10).await?,
        vec![older.clone(), old.clone()],
        "by due time; a key published again is kept"
    );
    assert_eq!(repo.due_deletions(&connection_id, 9_000, 1).await?, vec![older.clone()], "a bounded batch");
    repo.forget_deletions(&connection_id, &[older, old]).await?;
    assert!(repo.due_deletions(&connection_id, 9_000, 10).await?.is_empty(), "forgotten once done");
    assert!(repo.due_deletions(&new_id(), 9_000, 10).await?.is_empty(), "another connection");
    Ok(())
}

/// Work recorded as done stays done, and recording it twice is harmless.
pub async fn processed_work(repo: &dyn Repository) -> Result<()> {
    let key = format!("publish:{}", new_id());
    assert!(!repo.is_processed(&key).await?);
    repo.mark_processed(&key, 10).await?;
    repo.mark_processed(&key, 20).await?;
    assert!(repo.is_processed(&key).await?);
    assert!(!repo.is_processed(&format!("{key}-other")).await?, "keys are not prefixes of each other");
    Ok(())
}

fn upsert(connection_id: &str, local_id: &str, name: &str, revision_id: &str) -> LocalChange {
    let mut local = resource(name, &format!("connection:{connection_id}"));
    local.id = local_id.to_owned();
    local.origin_connection_id = Some(connection_id.to_owned());
    LocalChange::Upsert { resource: local, revision_id: revision_id.to_owned() }
}

/// Per resource the newest sequence wins whatever order ingests finish in, per shard the
/// manifest state only moves forward, and a lease keeps a second taker out until it expires.
pub async fn ordering(repo: &dyn Repository) -> Result<()> {
    let c = connection(ConnectionKind::Receiving, 1_000);
    repo.create_connection(&c).await?;
    let (remote, local_id) = (new_id(), new_id());
    let revision = |id: &str, size: u64, created_at: i64| Revision {
        id: id.to_owned(),
        resource_id: local_id.clone(),
        size,
        sha256: "00".repeat(32),
        blob_key: format!("blobs/{id}"),
        created_at,
    };
    let entry = |sequence: u64, digest: &str| AppliedEntry {
        connection_id: c.id.clone(),
        remote_resource_id: remote.clone(),
        shard: 0,
        entry_digest: digest.to_owned(),
        local_resource_id: local_id.clone(),
        sequence,
        withdrawn: false,
    };

    // The small newer revision (sequence 6) is applied first; the large older one
    // (sequence 5) finishes its download later, and its revision is stored last.
    let (small, large) = (revision(&new_id(), 32 << 10, 2_000), revision(&new_id(), 160 << 20, 3_000));
    repo.add_revision(&small).await?;
    assert_eq!(
        repo.apply_change(&entry(6, "new"), &upsert(&c.id, &local_id, "v2.bin", &small.id)).await?,
        ApplyOutcome::Applied
    );
    repo.add_revision(&large).await?;
    let late = repo.apply_change(&entry(5, "old"), &upsert(&c.id, &local_id, "v1.bin", &large.id)).await?;
    assert_eq!(late, ApplyOutcome::Superseded { by: 6 }, "the older ingest loses");
    assert_eq!(repo.applied_entry(&c.id, &remote).await?, Some(entry(6, "new")), "the newer entry stays");
    assert_eq!(repo.resource(&local_id).await?.map(|r| r.name), Some("v2.bin".to_owned()), "and its metadata");
    assert_eq!(
        repo.latest_revision(&local_id).await?,
        Some(small.clone()),
        "the current revision is the newest applied entry's, not the last stored"
    );
    let again = repo.apply_change(&entry(6, "new"), &upsert(&c.id, &local_id, "v2.bin", &small.id)).await?;
    assert_eq!(again, ApplyOutcome::Current, "a redelivered change writes nothing");

    // A removal at 7 leaves a tombstone that an upsert from 6 finishing late can't undo.
    let removal = AppliedEntry { entry_digest: String::new(), withdrawn: true, ..entry(7, "") };
    assert_eq!(repo.apply_change(&removal, &LocalChange::Withdraw { at: 4_000 }).await?, ApplyOutcome::Applied);
    let undo = repo.apply_change(&entry(6, "new"), &upsert(&c.id, &local_id, "v2.bin", &small.id)).await?;
    assert_eq!(undo, ApplyOutcome::Superseded { by: 7 });
    assert_eq!(repo.resource(&local_id).await?.and_then(|r| r.withdrawn_at), Some(4_000), "still withdrawn");
    let mut later = upsert(&c.id, &local_id, "v3.bin", &large.id);
    if let LocalChange::Upsert { resource, .. } = &mut later {
        resource.created_at = 9_999;
    }
    let back = repo.apply_change(&entry(8, "back"), &later).await?;
    assert_eq!(back, ApplyOutcome::Applied, "a newer upsert brings it back");
    let resource = repo.resource(&local_id).await?.expect("the received resource");
    assert_eq!((resource.withdrawn_at, resource.created_at), (None, 1_000), "back, with its first creation time");
    assert_eq!(repo.latest_revision(&local_id).await?, Some(large), "now the large one is current");

    // Two validations finishing in either order: the manifest state only moves forward.
    let state = |sequence: u64| ManifestState {
        connection_id: c.id.clone(),
        shard: 0,
        sequence,
        digest: format!("{sequence:064}"),
    };
    assert_eq!(repo.put_manifest_state(&state(9)).await?, ApplyOutcome::Applied);
    assert_eq!(repo.put_manifest_state(&state(8)).await?, ApplyOutcome::Superseded { by: 9 });
    assert_eq!(repo.manifest_state(&c.id, 0).await?, Some(state(9)), "the older validation did not move it back");

    // A new receiving secret: the sequences are forgotten (a forged manifest may have pushed
    // them to the top), what was applied stays, for the next manifest to be diffed against.
    let other = connection(ConnectionKind::Receiving, 1_000);
    repo.create_connection(&other).await?;
    let untouched = ManifestState { connection_id: other.id.clone(), ..state(4) };
    repo.put_manifest_state(&untouched).await?;
    repo.reset_replay_state(&c.id).await?;
    assert_eq!(repo.manifest_state(&c.id, 0).await?, None, "no shard state is left");
    assert_eq!(repo.applied_entry(&c.id, &remote).await?, Some(entry(0, "back")), "the entry stays, at sequence 0");
    assert_eq!(repo.manifest_state(&other.id, 0).await?, Some(untouched), "other connections keep theirs");
    assert_eq!(repo.put_manifest_state(&state(1)).await?, ApplyOutcome::Applied, "sequence 1 is newer again");
    let after = repo.apply_change(&entry(1, "after"), &upsert(&c.id, &local_id, "v4.bin", &small.id)).await?;
    assert_eq!(after, ApplyOutcome::Applied, "and so is a change from it");

    // Leases: one holder at a time until expiry; the holder may renew; release frees it.
    let key = format!("validate:{}", c.id);
    let (first, second) = (new_id(), new_id());
    assert!(repo.take_lease(&key, &first, 10_000, 20_000).await?, "a free lease is taken");
    assert!(!repo.take_lease(&key, &second, 15_000, 25_000).await?, "a held lease is refused");
    assert!(repo.take_lease(&key, &first, 15_000, 30_000).await?, "the holder renews");
    assert!(!repo.take_lease(&key, &second, 25_000, 35_000).await?, "the renewal counts");
    repo.release_lease(&key, &second).await?;
    assert!(!repo.take_lease(&key, &second, 25_000, 35_000).await?, "only the holder releases");
    assert!(repo.take_lease(&key, &second, 30_000, 40_000).await?, "an expired lease is taken over");
    repo.release_lease(&key, &second).await?;
    assert!(repo.take_lease(&key, &first, 31_000, 41_000).await?, "a released lease is free");
    repo.release_lease(&key, &first).await?;
    Ok(())
}

/// A batch of received changes in one write: each decides as it would alone, of two for
/// one resource the newer decides, and the revisions come with it.
pub async fn batched_changes(repo: &dyn Repository) -> Result<()> {
    let c = connection(ConnectionKind::Receiving, 1_000);
    repo.create_connection(&c).await?;
    let remotes: Vec<String> = (0..4).map(|_| new_id()).collect();
    let locals: Vec<String> = (0..4).map(|_| new_id()).collect();
    let entry = |i: usize, sequence: u64| AppliedEntry {
        connection_id: c.id.clone(),
        remote_resource_id: remotes[i].clone(),
        shard: 0,
        entry_digest: format!("{sequence:064}"),
        local_resource_id: locals[i].clone(),
        sequence,
        withdrawn: false,
    };
    // Revision ids unique to this run: the contract may run twice on one database.
    let run = new_id();
    let rev = |name: &str| format!("{run}-{name}");
    let revision = |i: usize, id: &str| Revision {
        id: rev(id),
        resource_id: locals[i].clone(),
        size: 3,
        sha256: "00".repeat(32),
        blob_key: format!("blobs/{}", rev(id)),
        created_at: 1,
    };
    let received = |i: usize, sequence: u64, revision_id: &str| ReceivedChange {
        entry: entry(i, sequence),
        change: upsert(&c.id, &locals[i], &format!("f{i}.bin"), &rev(revision_id)),
        revision: Some(revision(i, revision_id)),
    };
    // Stored before the batch: resource 2 at sequence 9, resource 3 at 4.
    let before = [received(2, 9, "r2-new"), received(3, 4, "r3")];
    assert_eq!(repo.apply_changes(&before).await?, [ApplyOutcome::Applied, ApplyOutcome::Applied]);

    let batch = [
        received(0, 5, "r0"),
        received(1, 5, "r1-old"),
        received(1, 6, "r1-new"),
        received(2, 7, "r2-old"),
        received(3, 4, "r3"),
        ReceivedChange {
            entry: AppliedEntry { withdrawn: true, entry_digest: String::new(), ..entry(3, 8) },
            change: LocalChange::Withdraw { at: 77 },
            revision: None,
        },
    ];
    let outcomes = repo.apply_changes(&batch).await?;
    use ApplyOutcome::{Applied, Superseded};
    assert_eq!(
        outcomes,
        [Applied, Superseded { by: 6 }, Applied, Superseded { by: 9 }, Superseded { by: 8 }, Applied],
        "each as alone; the newer of two in the batch decides"
    );
    let mut ids: Vec<String> = ["r0", "r1-old", "r1-new", "r2-old", "nothing"].map(rev).to_vec();
    let mut stored = repo.stored_revisions(&ids).await?;
    stored.sort();
    ids.truncate(4);
    ids.sort();
    assert_eq!(stored, ids, "every downloaded revision is kept, whatever its change decided");
    let mut applied = repo.applied_entries(&c.id, &remotes).await?;
    applied.sort_by_key(|a| remotes.iter().position(|r| *r == a.remote_resource_id));
    let sequences: Vec<(u64, bool)> = applied.iter().map(|a| (a.sequence, a.withdrawn)).collect();
    assert_eq!(sequences, [(5, false), (6, false), (9, false), (8, true)]);
    let current = repo.latest_revision(&locals[1]).await?.map(|r| r.id);
    assert_eq!(current, Some(rev("r1-new")), "the newer change's revision is current");
    assert_eq!(repo.resource(&locals[3]).await?.and_then(|r| r.withdrawn_at), Some(77), "withdrawn in the batch");
    assert_eq!(repo.apply_changes(&[]).await?, [], "an empty batch writes nothing");

    // A change whose local id is a file of another origin (a local upload here) is
    // recorded but touches that file neither by an upsert nor by a removal.
    let mine = resource("mine.txt", "someone");
    repo.put_resource(&mine).await?;
    let (remote, second) = (new_id(), new_id());
    let stray = |sequence: u64, withdrawn: bool, change: LocalChange| ReceivedChange {
        entry: AppliedEntry {
            remote_resource_id: remote.clone(),
            local_resource_id: mine.id.clone(),
            withdrawn,
            ..entry(0, sequence)
        },
        change,
        revision: None,
    };
    let upserted = stray(10, false, upsert(&c.id, &mine.id, "stolen.bin", &second));
    assert_eq!(repo.apply_changes(&[upserted]).await?, [Applied]);
    let removed = stray(11, true, LocalChange::Withdraw { at: 88 });
    assert_eq!(repo.apply_changes(&[removed]).await?, [Applied]);
    let kept = repo.resource(&mine.id).await?.expect("the local file");
    assert_eq!((kept.name.as_str(), kept.withdrawn_at), ("mine.txt", None), "a received change never reaches it");
    Ok(())
}

/// Takers racing for one lease: exactly one gets it.
pub async fn racing_leases(repo: crate::DynRepository) -> Result<()> {
    let key = format!("publish:{}", new_id());
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (repo, key) = (repo.clone(), key.clone());
        tasks.spawn(async move { repo.take_lease(&key, &new_id(), 1_000, 60_000).await });
    }
    let mut taken = 0;
    while let Some(joined) = tasks.join_next().await {
        taken += usize::from(joined.expect("a lease task panicked")?);
    }
    assert_eq!(taken, 1, "exactly one of the racing takers holds the lease");
    Ok(())
}
