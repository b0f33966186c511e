//! The built-in registry: files with revisions, owners, levels and tags, sharing with a
//! sending connection, and what each user may see. It lets a platform run on its own.

use airlock_domain::policy::Ineligible;
use airlock_domain::{new_id, now_millis, ConnectionKind, InfosecLevel, Resource, Revision, TagSet, User};
use airlock_repo::{visible_resources, RepoError, Share};
use airlock_runtime::Context;
use airlock_store::StoreError;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(transparent)]
    Repo(#[from] RepoError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("storing file content failed: {0}")]
    Write(String),
    #[error("reading file content failed: {0}")]
    Read(String),
    #[error("user '{0}' not found")]
    UnknownUser(String),
    #[error("file '{0}' not found")]
    UnknownFile(String),
    #[error("infosec level '{0}' is not one of this platform's levels")]
    UnknownLevel(String),
    #[error("control tag(s) not active on this platform: {0}")]
    UnknownTags(String),
    #[error("user '{user}' may not {action} file '{file}': {why}")]
    Forbidden { user: String, action: &'static str, file: String, why: String },
    #[error("connection '{0}' is not an active sending connection")]
    NotSending(String),
    #[error(
        "sharing with a secure connection needs the certification that the file may go to an external organization"
    )]
    NotCertified,
    #[error("file '{file}' is not eligible for this connection: {why}")]
    Ineligible { file: String, why: Ineligible },
    #[error("file '{file}' is not shared with connection '{connection}'")]
    NotShared { file: String, connection: String },
    #[error("nothing to change for file '{0}': send \"level\" and/or \"tags\"")]
    NothingToChange(String),
}

/// Stores a new file with its first revision. The level is a platform level by name.
pub async fn upload(
    ctx: &Context,
    owner_id: &str,
    name: &str,
    level_name: &str,
    tags: TagSet,
    content: impl AsyncRead + Unpin,
) -> Result<(Resource, Revision), RegistryError> {
    let owner = known_user(ctx, owner_id).await?;
    let level = platform_level(ctx, level_name).await?;
    if let Some(unknown) = inactive_tags(ctx, &tags).await? {
        return Err(RegistryError::UnknownTags(unknown));
    }
    if !owner.clearance.permits(&level, &tags) {
        return Err(RegistryError::Forbidden {
            user: owner.id,
            action: "classify",
            file: name.into(),
            why: "a user cannot store a file above their own level or with tags they do not hold".into(),
        });
    }
    let resource = Resource {
        id: new_id(),
        name: name.into(),
        owner_id: owner.id.clone(),
        level,
        tags,
        origin_connection_id: None,
        created_at: now_millis(),
        withdrawn_at: None,
    };
    ctx.repo.put_resource(&resource).await?;
    let revision = store_revision(ctx, &resource.id, content).await?;
    Ok((resource, revision))
}

/// Adds a new revision to a file its owner holds.
pub async fn upload_revision(
    ctx: &Context,
    user_id: &str,
    resource_id: &str,
    content: impl AsyncRead + Unpin,
) -> Result<Revision, RegistryError> {
    let resource =
        ctx.repo.resource(resource_id).await?.ok_or_else(|| RegistryError::UnknownFile(resource_id.into()))?;
    if resource.owner_id != user_id {
        return Err(forbidden(user_id, "revise", resource_id, "only the owner adds revisions"));
    }
    store_revision(ctx, resource_id, content).await
}

async fn store_revision(
    ctx: &Context,
    resource_id: &str,
    mut content: impl AsyncRead + Unpin,
) -> Result<Revision, RegistryError> {
    let id = new_id();
    // One directory for every blob: a directory per file costs an inode allocation each.
    let blob_key = format!("blobs/{id}");
    let mut writer = airlock_store::writer(ctx.registry_store()?, &blob_key);
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = content.read(&mut buf).await.map_err(|e| RegistryError::Read(e.to_string()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
        if let Err(e) = writer.write_all(&buf[..n]).await {
            let _ = writer.abort().await;
            return Err(RegistryError::Write(e.to_string()));
        }
    }
    writer.shutdown().await.map_err(|e| RegistryError::Write(e.to_string()))?;
    let revision = Revision {
        id,
        resource_id: resource_id.into(),
        size,
        sha256: hex::encode(hasher.finalize()),
        blob_key,
        created_at: now_millis(),
    };
    ctx.repo.add_revision(&revision).await?;
    Ok(revision)
}

/// Shares a file with a sending connection. Only the owner may, only with the
/// certification, never a file that itself arrived through a secure connection, and only
/// a file the connection's policy lets through.
pub async fn share_with_connection(
    ctx: &Context,
    user_id: &str,
    resource_id: &str,
    connection_id: &str,
    certified: bool,
) -> Result<(), RegistryError> {
    if !certified {
        return Err(RegistryError::NotCertified);
    }
    let resource =
        ctx.repo.resource(resource_id).await?.ok_or_else(|| RegistryError::UnknownFile(resource_id.into()))?;
    if resource.owner_id != user_id {
        return Err(forbidden(user_id, "share", resource_id, "only the file's owner (editor) shares it"));
    }
    // An owner whose clearance was lowered since the upload no longer holds the file's level
    // or tags, and may not send it out either.
    let sharer = known_user(ctx, user_id).await?;
    if !sharer.clearance.permits(&resource.level, &resource.tags) {
        return Err(forbidden(
            user_id,
            "share",
            resource_id,
            "the user's own clearance does not cover the file's level and tags",
        ));
    }
    if resource.origin_connection_id.is_some() {
        return Err(forbidden(
            user_id,
            "share",
            resource_id,
            "files received through a secure connection cannot be reshared to another secure connection",
        ));
    }
    let connection = ctx
        .repo
        .connection(connection_id)
        .await?
        .filter(|c| c.kind == ConnectionKind::Sending && c.is_active())
        .ok_or_else(|| RegistryError::NotSending(connection_id.into()))?;
    let platform = ctx.repo.platform().await?;
    connection
        .sending_policy(platform.infosec_enabled)
        .check(&resource.level, &resource.tags, platform.lowest_level().order)
        .map_err(|why| RegistryError::Ineligible { file: resource.name.clone(), why })?;
    ctx.repo.share(connection_id, resource_id, user_id, now_millis()).await?;
    Ok(())
}

/// Reshares a file at viewer level with another user of this platform. The file's owner
/// may, and so may the owners of the receiving connection it arrived through.
pub async fn reshare_to_user(
    ctx: &Context,
    user_id: &str,
    resource_id: &str,
    target_user_id: &str,
) -> Result<(), RegistryError> {
    let user = known_user(ctx, user_id).await?;
    known_user(ctx, target_user_id).await?;
    let visible = visible_resources(ctx.repo.as_ref(), &user).await?;
    let Some(resource) = visible.into_iter().find(|r| r.id == resource_id) else {
        return Err(forbidden(user_id, "reshare", resource_id, "the user cannot see it"));
    };
    let may = resource.owner_id == user_id
        || match &resource.origin_connection_id {
            Some(connection_id) => ctx.repo.owners(connection_id).await?.iter().any(|o| o == user_id),
            None => false,
        };
    if !may {
        return Err(forbidden(
            user_id,
            "reshare",
            resource_id,
            "only the file's owner or an owner of the receiving connection it arrived through reshares it",
        ));
    }
    ctx.repo.grant_view(resource_id, target_user_id).await?;
    Ok(())
}

/// The files a user can see: reachable and within their clearance.
pub async fn files_visible_to(ctx: &Context, user_id: &str) -> Result<Vec<Resource>, RegistryError> {
    let user = known_user(ctx, user_id).await?;
    Ok(visible_resources(ctx.repo.as_ref(), &user).await?)
}

/// Reads a visible file's newest revision into memory (for small files and checks).
pub async fn read_file(ctx: &Context, user_id: &str, resource_id: &str) -> Result<Vec<u8>, RegistryError> {
    if !files_visible_to(ctx, user_id).await?.iter().any(|r| r.id == resource_id) {
        return Err(forbidden(user_id, "read", resource_id, "not visible to this user (ownership, level or tags)"));
    }
    let revision =
        ctx.repo.latest_revision(resource_id).await?.ok_or_else(|| RegistryError::UnknownFile(resource_id.into()))?;
    let mut reader = airlock_store::reader(&ctx.registry_store()?, &revision.blob_key)
        .await
        .map_err(|e| RegistryError::Read(e.to_string()))?;
    let mut out = Vec::with_capacity(revision.size as usize);
    reader.read_to_end(&mut out).await.map_err(|e| RegistryError::Read(e.to_string()))?;
    Ok(out)
}

/// Every revision of a file the user can see, newest first.
pub async fn revisions(ctx: &Context, user_id: &str, resource_id: &str) -> Result<Vec<Revision>, RegistryError> {
    if !files_visible_to(ctx, user_id).await?.iter().any(|r| r.id == resource_id) {
        return Err(forbidden(
            user_id,
            "list revisions of",
            resource_id,
            "not visible to this user (ownership, level or tags)",
        ));
    }
    Ok(ctx.repo.revisions(resource_id).await?)
}

/// A file its owner holds: the check the owner-only operations share.
async fn owned(
    ctx: &Context,
    user_id: &str,
    resource_id: &str,
    action: &'static str,
) -> Result<Resource, RegistryError> {
    let resource =
        ctx.repo.resource(resource_id).await?.ok_or_else(|| RegistryError::UnknownFile(resource_id.into()))?;
    if resource.owner_id != user_id {
        return Err(forbidden(user_id, action, resource_id, "only the file's owner may"));
    }
    Ok(resource)
}

/// Changes a file's level and/or tags: the owner only, within their own clearance, with
/// active tags. A shared file that no longer fits a connection leaves it at its next
/// publish, with the reason recorded, as the publisher's rules say.
pub async fn reclassify(
    ctx: &Context,
    user_id: &str,
    resource_id: &str,
    level_name: Option<&str>,
    tags: Option<TagSet>,
) -> Result<Resource, RegistryError> {
    if level_name.is_none() && tags.is_none() {
        return Err(RegistryError::NothingToChange(resource_id.into()));
    }
    let mut resource = owned(ctx, user_id, resource_id, "reclassify").await?;
    let owner = known_user(ctx, user_id).await?;
    if let Some(name) = level_name {
        resource.level = platform_level(ctx, name).await?;
    }
    if let Some(tags) = tags {
        if let Some(unknown) = inactive_tags(ctx, &tags).await? {
            return Err(RegistryError::UnknownTags(unknown));
        }
        resource.tags = tags;
    }
    if !owner.clearance.permits(&resource.level, &resource.tags) {
        return Err(forbidden(
            user_id,
            "reclassify",
            resource_id,
            "a user cannot classify a file above their own level or with tags they do not hold",
        ));
    }
    ctx.repo.put_resource(&resource).await?;
    Ok(resource)
}

/// The reason recorded when an owner withdraws a file from a connection.
pub fn unshared_reason(user_id: &str) -> String {
    format!("unshared by its owner '{user_id}'")
}

/// Withdraws a file from a sending connection: it leaves the next manifest (removed list).
pub async fn unshare(
    ctx: &Context,
    user_id: &str,
    resource_id: &str,
    connection_id: &str,
) -> Result<(), RegistryError> {
    owned(ctx, user_id, resource_id, "unshare").await?;
    if !ctx.repo.resource_shares(resource_id).await?.iter().any(|s| s.connection_id == connection_id) {
        return Err(RegistryError::NotShared { file: resource_id.into(), connection: connection_id.into() });
    }
    ctx.repo.remove_share(connection_id, resource_id, &unshared_reason(user_id), now_millis()).await?;
    Ok(())
}

/// The active shares of a file its owner holds.
pub async fn shares(ctx: &Context, user_id: &str, resource_id: &str) -> Result<Vec<Share>, RegistryError> {
    owned(ctx, user_id, resource_id, "list the shares of").await?;
    Ok(ctx.repo.resource_shares(resource_id).await?)
}

/// The given tags that are not active control tags of this platform, joined for a message.
pub(crate) async fn inactive_tags(ctx: &Context, tags: &TagSet) -> Result<Option<String>, RepoError> {
    let active = ctx.repo.active_control_tags().await?;
    let unknown: Vec<&str> = tags.difference(&active).map(String::as_str).collect();
    Ok((!unknown.is_empty()).then(|| unknown.join(", ")))
}

async fn known_user(ctx: &Context, user_id: &str) -> Result<User, RegistryError> {
    ctx.repo.user(user_id).await?.ok_or_else(|| RegistryError::UnknownUser(user_id.into()))
}

async fn platform_level(ctx: &Context, name: &str) -> Result<InfosecLevel, RegistryError> {
    let platform = ctx.repo.platform().await?;
    platform.level_by_name(name).cloned().ok_or_else(|| RegistryError::UnknownLevel(name.into()))
}

fn forbidden(user: &str, action: &'static str, file: &str, why: &str) -> RegistryError {
    RegistryError::Forbidden { user: user.into(), action, file: file.into(), why: why.into() }
}
