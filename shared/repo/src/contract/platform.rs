//! Platform administration: accounts, level usage and renames, tag withdrawal, a file's
//! revisions and shares, and the audit log.

use super::{connection, new_id, resource, tags, unique_tag, user};
use crate::{AuditEntry, ControlTag, RepoError, Repository, Result, SignIn};
use airlock_domain::{Clearance, ConnectionKind, InfosecLevel, PlatformSettings, Revision, TagSet};

pub async fn run_all(repo: &dyn Repository) -> Result<()> {
    control_tag_list(repo).await?;
    accounts(repo).await?;
    user_search(repo).await?;
    level_usage_and_rename(repo).await?;
    tag_withdrawal(repo).await?;
    file_revisions_and_shares(repo).await?;
    audit_log(repo).await?;
    Ok(())
}

pub async fn control_tag_list(repo: &dyn Repository) -> Result<()> {
    let (on, off) = (unique_tag("LISTED"), unique_tag("RETIRED"));
    repo.put_control_tag(&on, true).await?;
    repo.put_control_tag(&off, true).await?;
    repo.put_control_tag(&off, false).await?;
    let all = repo.control_tags().await?;
    assert!(all.contains(&ControlTag { tag: on.clone(), active: true }), "an active tag is listed as active");
    assert!(all.contains(&ControlTag { tag: off.clone(), active: false }), "an inactive tag is listed too");
    assert!(all.windows(2).all(|w| w[0].tag < w[1].tag), "tags listed once each, in byte order");
    Ok(())
}

pub async fn accounts(repo: &dyn Repository) -> Result<()> {
    let id = new_id();
    let lowest = Clearance { level: InfosecLevel::new("UNCLASSIFIED", 0), tags: TagSet::new() };
    let first = SignIn {
        id: id.clone(),
        name: "Dana".into(),
        email: "dana@example.org".into(),
        initial_clearance: lowest.clone(),
        at: 1_000,
    };
    let created = repo.sign_in(&first).await?;
    assert_eq!(created.user.clearance, lowest, "a new user starts with the initial clearance");
    assert_eq!((created.user.name.as_str(), created.email.as_str()), ("Dana", "dana@example.org"));
    assert!(!created.secure_connections, "the feature flag starts off");
    assert_eq!((created.created_at, created.last_seen_at), (1_000, 1_000), "first sign-in times");

    let cleared = Clearance { level: InfosecLevel::new("SECRET", 3), tags: tags(&["ITAR"]) };
    repo.set_user_clearance(&id, &cleared).await?;
    repo.set_secure_connections(&id, true).await?;
    let again = SignIn {
        name: "Dana Q".into(),
        email: "dq@example.org".into(),
        initial_clearance: lowest.clone(),
        at: 2_000,
        ..first.clone()
    };
    let refreshed = repo.sign_in(&again).await?;
    assert_eq!(refreshed.user.clearance, cleared, "a later sign-in keeps the clearance set since");
    assert!(refreshed.secure_connections, "a later sign-in keeps the flag");
    assert_eq!((refreshed.user.name.as_str(), refreshed.email.as_str()), ("Dana Q", "dq@example.org"));
    assert_eq!((refreshed.created_at, refreshed.last_seen_at), (1_000, 2_000), "created once, seen again");
    assert_eq!(repo.user_account(&id).await?, Some(refreshed.clone()), "the account as stored");
    assert_eq!(repo.user(&id).await?, Some(refreshed.user), "the account's user is the registry user");

    repo.set_secure_connections(&id, false).await?;
    assert!(!repo.user_account(&id).await?.expect("stored").secure_connections, "flag switched off");
    assert_eq!(repo.user_account(&new_id()).await?, None, "unknown account");
    let unknown = new_id();
    assert!(
        matches!(repo.set_secure_connections(&unknown, true).await, Err(RepoError::NotFound { .. })),
        "the flag of an unknown user is refused"
    );
    assert!(
        matches!(repo.set_user_clearance(&unknown, &cleared).await, Err(RepoError::NotFound { .. })),
        "the clearance of an unknown user is refused"
    );

    // Users stored before their first sign-in (the demo's, the tests') get its time then.
    let seeded = user("seeded", InfosecLevel::new("UNCLASSIFIED", 0), &[]);
    repo.put_user(&seeded).await?;
    let signed = repo
        .sign_in(&SignIn {
            id: seeded.id.clone(),
            name: "seeded".into(),
            email: String::new(),
            initial_clearance: lowest,
            at: 3_000,
        })
        .await?;
    assert_eq!((signed.created_at, signed.last_seen_at), (3_000, 3_000), "a stored user's first sign-in");
    Ok(())
}

pub async fn user_search(repo: &dyn Repository) -> Result<()> {
    let marker = new_id()[..8].to_owned();
    let lowest = Clearance { level: InfosecLevel::new("UNCLASSIFIED", 0), tags: TagSet::new() };
    for (name, email) in [("Bea", "b@x.org"), ("Abe", "a@x.org"), ("Cid", "c@x.org")] {
        repo.sign_in(&SignIn {
            id: new_id(),
            name: format!("{name} {marker}"),
            email: email.replace('@', &format!("+{marker}@")),
            initial_clearance: lowest.clone(),
            at: 1,
        })
        .await?;
    }
    let page = repo.search_users(&marker.to_uppercase(), 2, 0).await?;
    assert_eq!(page.total, 3, "every match is counted, whatever the case of the search");
    let names: Vec<&str> = page.items.iter().map(|a| a.user.name.split(' ').next().unwrap_or("")).collect();
    assert_eq!(names, ["Abe", "Bea"], "the first page, by name");
    let rest = repo.search_users(&marker, 2, 2).await?;
    assert_eq!(rest.items.len(), 1, "the last page");
    assert!(rest.items[0].user.name.starts_with("Cid"), "the last page holds the last name");
    let by_email = repo.search_users(&format!("a+{marker}@"), 10, 0).await?;
    assert_eq!(by_email.total, 1, "email is searched too");
    let wildcard = repo.search_users(&format!("%{marker}"), 10, 0).await?;
    assert_eq!(wildcard.total, 0, "'%' in a search is a character, not a wildcard");
    Ok(())
}

pub async fn level_usage_and_rename(repo: &dyn Repository) -> Result<()> {
    // Orders grow with every run, so rows left above by earlier runs sit below this one's.
    let order = airlock_domain::now_millis();
    let name = unique_tag("LEVEL");
    let level = InfosecLevel::new(&name, order);
    let floor = InfosecLevel::new(unique_tag("FLOOR"), 0);
    repo.save_platform(&PlatformSettings {
        infosec_enabled: true,
        levels: vec![floor.clone(), level.clone()],
        max_level: level.clone(),
    })
    .await?;
    assert!(repo.level_usage(&name).await?.is_empty(), "nothing names a new level");

    let holder = user("holder", level.clone(), &[]);
    repo.put_user(&holder).await?;
    let mut own = resource("own.txt", &holder.id);
    own.level = level.clone();
    let mut received = resource("received.txt", &new_id());
    received.level = level.clone();
    received.origin_connection_id = Some(new_id());
    repo.put_resource(&own).await?;
    repo.put_resource(&received).await?;
    let mut sending = connection(ConnectionKind::Sending, 1_000);
    sending.permitted_level = Some(level.clone());
    repo.create_connection(&sending).await?;

    let usage = repo.level_usage(&name).await?;
    assert_eq!((usage.users, usage.files, usage.received, usage.connections), (1, 1, 1, 1), "{usage:?}");
    assert_eq!(usage.user_examples, vec!["holder".to_owned()], "the user is named");
    assert_eq!(usage.file_examples, vec!["own.txt".to_owned()], "the file is named");
    assert_eq!(usage.received_examples, vec!["received.txt".to_owned()], "the received file is named");
    assert_eq!(usage.connection_examples, vec![sending.name.clone()], "the connection is named");
    let above = repo.usage_above(order - 1).await?;
    assert_eq!((above.users, above.files, above.received, above.connections), (1, 1, 1, 0), "{above:?}");
    assert!(repo.usage_above(order).await?.is_empty(), "nothing lies above the highest order");

    let renamed = unique_tag("RENAMED");
    assert!(
        matches!(repo.rename_level(&name, &floor.name).await, Err(RepoError::Conflict(_))),
        "renaming onto another level's name is refused"
    );
    assert!(
        matches!(repo.rename_level(&new_id(), &renamed).await, Err(RepoError::NotFound { .. })),
        "renaming an unknown level is refused"
    );
    repo.rename_level(&name, &renamed).await?;
    let new_level = InfosecLevel::new(&renamed, order);
    let platform = repo.platform().await?;
    assert_eq!(platform.levels, vec![floor, new_level.clone()], "the scale carries the new name in place");
    assert_eq!(platform.max_level, new_level, "the max level is renamed");
    assert_eq!(repo.user(&holder.id).await?.expect("stored").clearance.level, new_level, "users renamed");
    assert_eq!(repo.resource(&own.id).await?.expect("stored").level, new_level, "files renamed");
    assert_eq!(repo.resource(&received.id).await?.expect("stored").level, new_level, "received files renamed");
    let connection = repo.connection(&sending.id).await?.expect("stored");
    assert_eq!(connection.permitted_level, Some(new_level), "connections renamed");
    assert!(repo.level_usage(&name).await?.is_empty(), "nothing names the old name");
    Ok(())
}

pub async fn tag_withdrawal(repo: &dyn Repository) -> Result<()> {
    let tag = unique_tag("WITHDRAWN");
    let other_tag = format!("{tag}-LONGER");
    let sending = connection(ConnectionKind::Sending, 1_000);
    let receiving = connection(ConnectionKind::Receiving, 1_000);
    repo.create_connection(&sending).await?;
    repo.create_connection(&receiving).await?;
    let owner = new_id();
    let mut tagged = resource("tagged.txt", &owner);
    tagged.tags = tags(&[&tag, "OTHER"]);
    let mut similar = resource("similar.txt", &owner);
    similar.tags = tags(&[&other_tag]);
    let plain = resource("plain.txt", &owner);
    for r in [&tagged, &similar, &plain] {
        repo.put_resource(r).await?;
        repo.share(&sending.id, &r.id, &owner, 10).await?;
    }
    repo.share(&receiving.id, &tagged.id, &owner, 10).await?;

    let reason = format!("control tag '{tag}' was deactivated");
    let removed = repo.remove_shares_with_tag(&tag, &reason, 50).await?;
    assert_eq!(removed.len(), 1, "only the sending share of the file carrying the tag: {removed:?}");
    assert_eq!((removed[0].resource_id.as_str(), removed[0].removed_at), (tagged.id.as_str(), Some(50)));
    let active: Vec<String> = repo.active_shares(&sending.id).await?.into_iter().map(|s| s.resource_id).collect();
    assert!(!active.contains(&tagged.id), "the share is withdrawn");
    assert!(active.contains(&similar.id) && active.contains(&plain.id), "a longer tag of the same prefix stays");
    let all = repo.all_shares(&sending.id).await?;
    let withdrawn = all.iter().find(|s| s.resource_id == tagged.id).expect("still listed");
    assert_eq!(withdrawn.removed_reason.as_deref(), Some(reason.as_str()), "the reason is recorded");
    assert_eq!(repo.active_shares(&receiving.id).await?.len(), 1, "a receiving connection's row is not touched");
    assert!(repo.remove_shares_with_tag(&tag, "again", 60).await?.is_empty(), "a second withdrawal finds nothing");
    Ok(())
}

pub async fn file_revisions_and_shares(repo: &dyn Repository) -> Result<()> {
    let owner = new_id();
    let file = resource("revised.txt", &owner);
    repo.put_resource(&file).await?;
    let revision = |created_at: i64| Revision {
        id: new_id(),
        resource_id: file.id.clone(),
        size: created_at as u64,
        sha256: format!("{created_at:0>64}"),
        blob_key: format!("blobs/{created_at}"),
        created_at,
    };
    let (old, middle, new) = (revision(10), revision(20), revision(30));
    for r in [&middle, &new, &old] {
        repo.add_revision(r).await?;
    }
    assert_eq!(repo.revisions(&file.id).await?, vec![new, middle, old], "revisions newest first");
    assert!(repo.revisions(&new_id()).await?.is_empty(), "a file without revisions");

    let (first, second) = (connection(ConnectionKind::Sending, 1_000), connection(ConnectionKind::Sending, 1_000));
    repo.create_connection(&first).await?;
    repo.create_connection(&second).await?;
    repo.share(&second.id, &file.id, &owner, 20).await?;
    repo.share(&first.id, &file.id, &owner, 10).await?;
    repo.remove_share(&second.id, &file.id, "unshared by its owner", 30).await?;
    let shares = repo.resource_shares(&file.id).await?;
    assert_eq!(shares.len(), 1, "only active shares: {shares:?}");
    assert_eq!((shares[0].connection_id.as_str(), shares[0].shared_at), (first.id.as_str(), 10));
    Ok(())
}

pub async fn audit_log(repo: &dyn Repository) -> Result<()> {
    let target = new_id();
    let entry = |action: &str, before: Option<&str>, after: Option<&str>| AuditEntry {
        id: new_id(),
        at: 1_000,
        actor: "admin".into(),
        action: action.into(),
        target: target.clone(),
        before: before.map(String::from),
        after: after.map(String::from),
    };
    let entries = [
        entry("level.add", None, Some("{\"name\":\"A\"}")),
        entry("level.rename", Some("\"A\""), Some("\"B\"")),
        entry("level.remove", Some("\"B\""), None),
    ];
    let before = repo.audit_entries(1, 0).await?.total;
    for e in &entries {
        repo.record_audit(e).await?;
    }
    let page = repo.audit_entries(3, 0).await?;
    assert_eq!(page.total, before + 3, "every entry is counted");
    let newest_first: Vec<AuditEntry> = entries.iter().rev().cloned().collect();
    assert_eq!(page.items, newest_first, "newest first, even within one millisecond");
    let second = repo.audit_entries(1, 1).await?;
    assert_eq!(second.items, vec![entries[1].clone()], "paging by offset");
    Ok(())
}
