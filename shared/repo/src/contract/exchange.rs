//! Sending and receiving state.

use super::{new_id, tags};
use crate::{AppliedEntry, ManifestState, PublishedEntry, RepoError, Repository, Result, Share};
use airlock_domain::TagSet;

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
    repo.put_manifest_state(&state).await?;
    assert_eq!(repo.manifest_state(&connection_id, 2).await?, Some(state.clone()), "manifest state round trip");
    assert_eq!(repo.manifest_state(&connection_id, 1).await?, None, "each shard on its own");
    state.sequence = 1 << 40;
    state.digest = "cd".repeat(32);
    repo.put_manifest_state(&state).await?;
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
    };
    let mut remotes = [new_id(), new_id()];
    remotes.sort();
    let (mut first, second) = (entry(&remotes[0]), entry(&remotes[1]));
    repo.put_applied(&second).await?;
    repo.put_applied(&first).await?;
    assert_eq!(repo.applied(&connection_id).await?, vec![first.clone(), second.clone()], "by remote id");
    first.entry_digest = "22".repeat(32);
    first.shard = 3;
    repo.put_applied(&first).await?;
    assert_eq!(
        repo.applied_entry(&connection_id, &first.remote_resource_id).await?,
        Some(first.clone()),
        "put replaces"
    );
    assert_eq!(repo.applied_entry(&connection_id, &new_id()).await?, None, "unknown remote resource");
    repo.delete_applied(&connection_id, &second.remote_resource_id).await?;
    assert_eq!(repo.applied(&connection_id).await?, vec![first], "deleted");

    assert_eq!(repo.incoming_tags(&connection_id).await?, TagSet::new(), "no incoming tags seen yet");
    repo.set_incoming_tags(&connection_id, &tags(&["THEIR-ITAR", "INTERNAL"])).await?;
    assert_eq!(repo.incoming_tags(&connection_id).await?, tags(&["INTERNAL", "THEIR-ITAR"]));
    repo.set_incoming_tags(&connection_id, &tags(&["NEW"])).await?;
    assert_eq!(repo.incoming_tags(&connection_id).await?, tags(&["NEW"]), "the last tags seen replace the earlier");
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
