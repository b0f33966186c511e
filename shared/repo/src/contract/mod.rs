//! The behaviour every `Repository` backend must show, as a suite that any test can run
//! against any backend. Every check works on fresh random ids, so the suite can run again
//! and again against the same database, alone or beside other runs. Checks panic with a
//! message on a wrong answer; repository errors are returned.

mod exchange;
mod platform;
mod runs;
mod sync;

pub use exchange::{
    batched_changes, manifest_sequences, ordering, pending_deletions, processed_work, published_entries, racing_leases,
    receiving_state, shares,
};
pub use platform::run_all as platform_administration;
pub use runs::{changed_files, fanned_out_runs, publish_versions, shard_states, shared_sources};
pub use sync::{concurrent_writes, sync_deadline, sync_history};

use crate::{visible_resources, RepoError, Repository, Result};
use airlock_domain::{
    Clearance, Connection, ConnectionKind, Health, InfosecLevel, PlatformSettings, Resource, Revision, RuleKind,
    TagSet, TransformRule, User,
};

/// Every check that needs no more than a shared reference to the repository.
pub async fn run_all(repo: &dyn Repository) -> Result<()> {
    platform_and_tags(repo).await?;
    users(repo).await?;
    resources_and_revisions(repo).await?;
    reachability(repo).await?;
    connections(repo).await?;
    transforms_and_owners(repo).await?;
    shares(repo).await?;
    published_entries(repo).await?;
    pending_deletions(repo).await?;
    manifest_sequences(repo).await?;
    receiving_state(repo).await?;
    ordering(repo).await?;
    batched_changes(repo).await?;
    sync_history(repo).await?;
    sync_deadline(repo).await?;
    processed_work(repo).await?;
    shared_sources(repo).await?;
    shard_states(repo).await?;
    publish_versions(repo).await?;
    changed_files(repo).await?;
    fanned_out_runs(repo).await?;
    platform::run_all(repo).await?;
    Ok(())
}

/// What a database that nothing was saved to yet answers. Only meaningful on a new database.
pub async fn fresh_defaults(repo: &dyn Repository) -> Result<()> {
    let settings = repo.platform().await?;
    let unclassified = InfosecLevel::new("UNCLASSIFIED", 0);
    assert!(settings.infosec_enabled, "classification must be on by default");
    assert_eq!(settings.levels, vec![unclassified.clone()], "default levels");
    assert_eq!(settings.max_level, unclassified, "default max level");
    assert!(repo.active_control_tags().await?.is_empty(), "no control tags by default");
    Ok(())
}

pub(crate) fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

pub(crate) fn tags(list: &[&str]) -> TagSet {
    list.iter().map(|s| s.to_string()).collect()
}

/// A control tag unique to this run, so that runs sharing a database don't interfere.
fn unique_tag(name: &str) -> String {
    format!("{name}-{}", &new_id()[..8])
}

pub(crate) fn user(name: &str, level: InfosecLevel, tag_list: &[&str]) -> User {
    User { id: new_id(), name: name.to_owned(), clearance: Clearance { level, tags: tags(tag_list) } }
}

pub(crate) fn resource(name: &str, owner_id: &str) -> Resource {
    Resource {
        id: new_id(),
        name: name.to_owned(),
        owner_id: owner_id.to_owned(),
        level: InfosecLevel::new("UNCLASSIFIED", 0),
        tags: TagSet::new(),
        origin_connection_id: None,
        created_at: 1_000,
        withdrawn_at: None,
    }
}

pub(crate) fn connection(kind: ConnectionKind, created_at: i64) -> Connection {
    let id = new_id();
    Connection {
        kind,
        name: format!("partner {}", &id[..8]),
        description: "exchange with the partner's registry".to_owned(),
        shared_id: format!("shared.{}", &id[..8]),
        store_label: "OUTBOX".to_owned(),
        wrapped_secret: "wrapped:c2VjcmV0".to_owned(),
        permitted_level: match kind {
            ConnectionKind::Sending => Some(InfosecLevel::new("CONFIDENTIAL", 2)),
            ConnectionKind::Receiving => None,
        },
        permitted_tags: match kind {
            ConnectionKind::Sending => tags(&["ITAR", "PROJECT-X"]),
            ConnectionKind::Receiving => TagSet::new(),
        },
        shard_count: 4,
        created_at,
        archived_at: None,
        health: None,
        id,
    }
}

pub async fn platform_and_tags(repo: &dyn Repository) -> Result<()> {
    let settings = PlatformSettings {
        infosec_enabled: true,
        levels: vec![
            InfosecLevel::new("SECRET", 3),
            InfosecLevel::new("UNCLASSIFIED", 0),
            InfosecLevel::new("CONFIDENTIAL", 2),
        ],
        max_level: InfosecLevel::new("SECRET", 3),
    };
    repo.save_platform(&settings).await?;
    assert_eq!(repo.platform().await?, settings, "platform settings round trip, levels in the given order");
    let smaller = PlatformSettings {
        infosec_enabled: false,
        levels: vec![InfosecLevel::new("OPEN", 0), InfosecLevel::new("CLOSED", 5)],
        max_level: InfosecLevel::new("OPEN", 0),
    };
    repo.save_platform(&smaller).await?;
    assert_eq!(repo.platform().await?, smaller, "saving again replaces switches and every level");

    let (on, off, switched_off) = (unique_tag("ITAR"), unique_tag("DRAFT"), unique_tag("OLD"));
    repo.put_control_tag(&on, true).await?;
    repo.put_control_tag(&off, false).await?;
    repo.put_control_tag(&switched_off, true).await?;
    repo.put_control_tag(&switched_off, false).await?;
    repo.put_control_tag(&on, true).await?;
    let active = repo.active_control_tags().await?;
    assert!(active.contains(&on), "an active tag is listed");
    assert!(!active.contains(&off), "an inactive tag is not listed");
    assert!(!active.contains(&switched_off), "a deactivated tag is no longer listed");
    Ok(())
}

pub async fn users(repo: &dyn Repository) -> Result<()> {
    let mut alice = user("alice", InfosecLevel::new("SECRET", 3), &["ITAR", "PROJECT-X"]);
    let bob = user("bob", InfosecLevel::new("UNCLASSIFIED", 0), &[]);
    repo.put_user(&alice).await?;
    repo.put_user(&bob).await?;
    assert_eq!(repo.user(&alice.id).await?, Some(alice.clone()), "user round trip with tags");
    assert_eq!(repo.user(&bob.id).await?, Some(bob.clone()), "user round trip without tags");
    assert_eq!(repo.user(&new_id()).await?, None, "unknown user");

    alice.name = "alice (ops)".to_owned();
    alice.clearance = Clearance { level: InfosecLevel::new("CONFIDENTIAL", 2), tags: tags(&["EXPORT"]) };
    repo.put_user(&alice).await?;
    assert_eq!(repo.user(&alice.id).await?, Some(alice.clone()), "putting a user again replaces it");

    let all = repo.users().await?;
    let mine: Vec<&User> = all.iter().filter(|u| u.id == alice.id || u.id == bob.id).collect();
    assert_eq!(mine, vec![&alice, &bob], "users listed by name");
    let keys: Vec<(&String, &String)> = all.iter().map(|u| (&u.name, &u.id)).collect();
    assert!(keys.windows(2).all(|w| w[0] <= w[1]), "users sorted by name, then id");
    Ok(())
}

pub async fn resources_and_revisions(repo: &dyn Repository) -> Result<()> {
    let owner = new_id();
    let plain = resource("plain.txt", &owner);
    let mut rich = resource("rich.bin", &owner);
    rich.level = InfosecLevel::new("SECRET", 3);
    rich.tags = tags(&["ITAR", "PROJECT-X"]);
    rich.origin_connection_id = Some(new_id());
    rich.withdrawn_at = Some(5_000);
    repo.put_resource(&plain).await?;
    repo.put_resource(&rich).await?;
    assert_eq!(repo.resource(&plain.id).await?, Some(plain.clone()), "resource round trip, empty options");
    assert_eq!(repo.resource(&rich.id).await?, Some(rich.clone()), "resource round trip, every option set");
    assert_eq!(repo.resource(&new_id()).await?, None, "unknown resource");

    rich.name = "renamed.bin".to_owned();
    rich.tags = TagSet::new();
    rich.origin_connection_id = None;
    rich.withdrawn_at = None;
    repo.put_resource(&rich).await?;
    assert_eq!(repo.resource(&rich.id).await?, Some(rich.clone()), "putting a resource again replaces it");

    let mut ids = [new_id(), new_id(), new_id()];
    ids.sort();
    let revision = |id: &str, created_at: i64| Revision {
        id: id.to_owned(),
        resource_id: plain.id.clone(),
        size: 5_000_000_000,
        sha256: format!("{:0>64}", created_at),
        blob_key: format!("blobs/{id}"),
        created_at,
    };
    let first = revision(&ids[0], 10);
    let tied_low = revision(&ids[1], 20);
    let tied_high = revision(&ids[2], 20);
    repo.add_revision(&tied_high).await?;
    repo.add_revision(&first).await?;
    repo.add_revision(&tied_low).await?;
    let mut altered = first.clone();
    altered.blob_key = "somewhere/else".to_owned();
    repo.add_revision(&altered).await?;
    assert_eq!(repo.revision(&first.id).await?, Some(first.clone()), "adding a revision again changes nothing");
    assert_eq!(
        repo.latest_revision(&plain.id).await?,
        Some(tied_high.clone()),
        "the latest revision is the newest, ties broken by the higher id"
    );
    assert_eq!(repo.revision(&new_id()).await?, None, "unknown revision");
    assert_eq!(repo.latest_revision(&new_id()).await?, None, "a resource without revisions");
    Ok(())
}

pub async fn reachability(repo: &dyn Repository) -> Result<()> {
    let high = InfosecLevel::new("SECRET", 3);
    let owner = user("owner", InfosecLevel::new("UNCLASSIFIED", 0), &[]);
    let grantee = user("grantee", high.clone(), &["ITAR"]);
    let receiver = user("receiver", high.clone(), &[]);
    let stranger = user("stranger", high.clone(), &["ITAR"]);
    for u in [&owner, &grantee, &receiver, &stranger] {
        repo.put_user(u).await?;
    }
    let incoming = connection(ConnectionKind::Receiving, 1_000);
    repo.create_connection(&incoming).await?;
    repo.set_owners(&incoming.id, std::slice::from_ref(&receiver.id)).await?;

    let owned = resource("owned.txt", &owner.id);
    let mut owned_secret = resource("owned-secret.txt", &owner.id);
    owned_secret.level = high.clone();
    let mut granted = resource("granted.txt", &new_id());
    granted.tags = tags(&["ITAR"]);
    let mut arrived = resource("arrived.txt", &new_id());
    arrived.origin_connection_id = Some(incoming.id.clone());
    let mut withdrawn = resource("withdrawn.txt", &owner.id);
    withdrawn.withdrawn_at = Some(2_000);
    let mut arrived_withdrawn = arrived.clone();
    arrived_withdrawn.id = new_id();
    arrived_withdrawn.withdrawn_at = Some(2_000);
    for r in [&owned, &owned_secret, &granted, &arrived, &withdrawn, &arrived_withdrawn] {
        repo.put_resource(r).await?;
    }
    repo.grant_view(&granted.id, &grantee.id).await?;
    repo.grant_view(&granted.id, &grantee.id).await?;
    repo.grant_view(&withdrawn.id, &grantee.id).await?;

    let ids = |list: Vec<Resource>| list.into_iter().map(|r| r.id).collect::<Vec<_>>();
    assert_eq!(
        ids(repo.reachable_resources(&owner.id).await?),
        vec![owned_secret.id.clone(), owned.id.clone()],
        "an owner reaches what they own, by name, withdrawn ones hidden"
    );
    assert_eq!(ids(repo.reachable_resources(&grantee.id).await?), vec![granted.id.clone()], "a grantee");
    assert_eq!(
        ids(repo.reachable_resources(&receiver.id).await?),
        vec![arrived.id.clone()],
        "an owner of the receiving connection reaches what arrived through it"
    );
    assert!(repo.reachable_resources(&stranger.id).await?.is_empty(), "a stranger reaches nothing");
    assert_eq!(
        ids(visible_resources(repo, &owner).await?),
        vec![owned.id.clone()],
        "ownership does not lift the clearance check"
    );
    Ok(())
}

pub async fn connections(repo: &dyn Repository) -> Result<()> {
    let mut sending = connection(ConnectionKind::Sending, 300);
    let mut receiving = connection(ConnectionKind::Receiving, 100);
    let mut twin = connection(ConnectionKind::Receiving, 100);
    for c in [&sending, &receiving, &twin] {
        repo.create_connection(c).await?;
    }
    assert_eq!(repo.connection(&sending.id).await?, Some(sending.clone()), "sending connection round trip");
    assert_eq!(repo.connection(&receiving.id).await?, Some(receiving.clone()), "receiving connection round trip");
    assert_eq!(repo.connection(&new_id()).await?, None, "unknown connection");
    assert!(
        matches!(repo.create_connection(&sending).await, Err(RepoError::Conflict(_))),
        "creating a connection twice is a conflict"
    );

    let mut changed = sending.clone();
    changed.name = "renamed".to_owned();
    changed.description = "new purpose".to_owned();
    changed.store_label = "OTHER-OUTBOX".to_owned();
    changed.wrapped_secret = "wrapped:bmV3".to_owned();
    changed.permitted_level = None;
    changed.permitted_tags = tags(&["EXPORT"]);
    changed.shard_count = 16;
    changed.health = Some(Health::Degraded);
    let mut attempt = changed.clone();
    attempt.kind = ConnectionKind::Receiving;
    attempt.shared_id = "not.allowed".to_owned();
    attempt.created_at = 999_999;
    repo.update_connection(&attempt).await?;
    assert_eq!(
        repo.connection(&sending.id).await?,
        Some(changed.clone()),
        "an update changes every field but id, kind, shared id and creation time"
    );
    sending = changed;
    let unknown = connection(ConnectionKind::Sending, 1);
    assert!(
        matches!(repo.update_connection(&unknown).await, Err(RepoError::NotFound { what: "connection", .. })),
        "updating an unknown connection"
    );

    repo.set_health(&receiving.id, Health::Failure).await?;
    receiving.health = Some(Health::Failure);
    assert_eq!(repo.connection(&receiving.id).await?, Some(receiving.clone()), "health is kept");
    assert!(matches!(repo.set_health(&unknown.id, Health::Success).await, Err(RepoError::NotFound { .. })));

    assert_eq!(repo.wrapped_channel_key(&receiving.id).await?, None, "no derived keys until stored");
    repo.set_wrapped_channel_key(&receiving.id, "v1:a2V5cw==").await?;
    assert_eq!(repo.wrapped_channel_key(&receiving.id).await?.as_deref(), Some("v1:a2V5cw=="), "keys round trip");
    repo.update_connection(&receiving).await?;
    assert_eq!(
        repo.wrapped_channel_key(&receiving.id).await?.as_deref(),
        Some("v1:a2V5cw=="),
        "an update of the connection leaves its stored keys alone (they are bound to the secret)"
    );
    assert_eq!(repo.wrapped_channel_key(&sending.id).await?, None, "keys are per connection");
    assert!(matches!(repo.wrapped_channel_key(&unknown.id).await, Err(RepoError::NotFound { .. })));
    assert!(matches!(repo.set_wrapped_channel_key(&unknown.id, "x").await, Err(RepoError::NotFound { .. })));

    let mut ordered = [&receiving, &twin];
    ordered.sort_by(|a, b| a.id.cmp(&b.id));
    let expected: Vec<String> = vec![ordered[0].id.clone(), ordered[1].id.clone(), sending.id.clone()];
    let mine =
        |list: Vec<Connection>| list.into_iter().map(|c| c.id).filter(|id| expected.contains(id)).collect::<Vec<_>>();
    assert_eq!(mine(repo.connections(false).await?), expected, "connections by creation time, then id");

    repo.archive_connection(&twin.id, 5_000).await?;
    repo.archive_connection(&twin.id, 9_000).await?;
    twin.archived_at = Some(5_000);
    assert_eq!(repo.connection(&twin.id).await?, Some(twin.clone()), "archiving twice keeps the first time");
    let active = mine(repo.connections(false).await?);
    assert!(!active.contains(&twin.id), "an archived connection leaves the active list");
    assert!(mine(repo.connections(true).await?).contains(&twin.id), "but stays in the full list");
    assert!(
        matches!(repo.archive_connection(&unknown.id, 1).await, Err(RepoError::NotFound { .. })),
        "archiving an unknown connection"
    );
    Ok(())
}

pub async fn transforms_and_owners(repo: &dyn Repository) -> Result<()> {
    let c = connection(ConnectionKind::Receiving, 1_000);
    repo.create_connection(&c).await?;
    let rule = |kind: RuleKind| TransformRule { id: new_id(), kind, description: "partner naming".to_owned() };
    let rules = vec![
        rule(RuleKind::Map { predicate: "THEIR-ITAR".into(), value: "ITAR".into() }),
        rule(RuleKind::Add { value: "FROM-PARTNER".into() }),
        rule(RuleKind::Remove { predicate: "INTERNAL".into() }),
    ];
    assert!(repo.transforms(&c.id).await?.is_empty(), "no rules at first");
    repo.set_transforms(&c.id, &rules).await?;
    assert_eq!(repo.transforms(&c.id).await?, rules, "rules keep their order");
    repo.set_transforms(&c.id, &rules[1..2]).await?;
    assert_eq!(repo.transforms(&c.id).await?, rules[1..2].to_vec(), "setting rules replaces them");
    repo.set_transforms(&c.id, &[]).await?;
    assert!(repo.transforms(&c.id).await?.is_empty(), "rules can be cleared");

    let (a, b) = (new_id(), new_id());
    let mut sorted = vec![a.clone(), b.clone()];
    sorted.sort();
    repo.set_owners(&c.id, &[b.clone(), a.clone(), b.clone()]).await?;
    assert_eq!(repo.owners(&c.id).await?, sorted, "owners are a set, sorted");
    repo.set_owners(&c.id, std::slice::from_ref(&a)).await?;
    assert_eq!(repo.owners(&c.id).await?, vec![a], "setting owners replaces them");
    repo.set_owners(&c.id, &[]).await?;
    assert!(repo.owners(&c.id).await?.is_empty(), "owners can be cleared");
    Ok(())
}
