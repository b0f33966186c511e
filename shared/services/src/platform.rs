//! Platform administration: who signs in (accounts made from the token), the per-user
//! Secure Connections feature flag, the classification scale (infosec switch, levels, max
//! level), control tags, users' clearances, and the audit log every change is written to.
//! Every refusal is checked before anything is written, so a refused call changes nothing.

use airlock_domain::classification::validate_tag;
use airlock_domain::{new_id, now_millis, Clearance, InfosecLevel, PlatformSettings, TagSet};
use airlock_repo::{AuditEntry, LevelUsage, Page, RepoError};
use airlock_runtime::Context;
use serde_json::{json, Value};

#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    #[error(transparent)]
    Repo(#[from] RepoError),
    /// The request names something impossible (a malformed name, an unknown level in a body).
    #[error("{0}")]
    Invalid(String),
    /// The thing the request is about does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The request clashes with what exists (a taken name, a level something depends on).
    #[error("{0}")]
    Conflict(String),
    /// The caller may not do this (the feature flag is off, the token's clearance is unusable).
    #[error("{0}")]
    Forbidden(String),
}

mod users;

pub use users::{
    resolve_clearance, search_users, secure_connections_disabled, set_own_features, sign_in, update_user,
    ClearanceInput, Identity, LAST_SEEN_RESOLUTION,
};

type Result<T> = std::result::Result<T, PlatformError>;

/// Audit actor for changes made from token claims at sign-in.
pub const CLAIMS_ACTOR: &str = "token-claims";
const MAX_LEVEL_NAME: usize = 100;

/// Writes one audit entry. `before`/`after` are `None` when there is no such state.
pub async fn record(
    ctx: &Context,
    actor: &str,
    action: &str,
    target: &str,
    before: Option<Value>,
    after: Option<Value>,
) -> std::result::Result<(), RepoError> {
    let entry = AuditEntry {
        id: new_id(),
        at: now_millis(),
        actor: actor.into(),
        action: action.into(),
        target: target.into(),
        before: before.map(|v| v.to_string()),
        after: after.map(|v| v.to_string()),
    };
    ctx.repo.record_audit(&entry).await
}

pub(crate) fn clearance_json(clearance: &Clearance) -> Value {
    json!({ "level": clearance.level.name, "tags": clearance.tags })
}

fn level_json(level: &InfosecLevel) -> Value {
    json!({ "name": level.name, "order": level.order })
}

pub(crate) async fn inactive(ctx: &Context, tags: &TagSet) -> std::result::Result<TagSet, RepoError> {
    let active = ctx.repo.active_control_tags().await?;
    Ok(tags.difference(&active).cloned().collect())
}

pub(crate) fn level_names(platform: &PlatformSettings) -> String {
    let mut levels = platform.levels.clone();
    levels.sort();
    levels.iter().map(|l| l.name.as_str()).collect::<Vec<_>>().join(", ")
}

pub async fn set_infosec(ctx: &Context, actor: &str, enabled: bool) -> Result<PlatformSettings> {
    let mut platform = ctx.repo.platform().await?;
    if platform.infosec_enabled != enabled {
        let before = json!(platform.infosec_enabled);
        platform.infosec_enabled = enabled;
        ctx.repo.save_platform(&platform).await?;
        record(ctx, actor, "platform.infosec", "infosec", Some(before), Some(json!(enabled))).await?;
    }
    Ok(platform)
}

fn check_level_name(name: &str) -> Result<&str> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_LEVEL_NAME || name.chars().any(|c| c.is_control() || c == ',') {
        return Err(PlatformError::Invalid(format!(
            "infosec level name '{name}' is empty, longer than {MAX_LEVEL_NAME} characters, or has a comma or a \
             control character"
        )));
    }
    Ok(name)
}

fn order_taken(platform: &PlatformSettings, order: i64, except: &str) -> Result<()> {
    match platform.levels.iter().find(|l| l.order == order && l.name != except) {
        Some(other) => Err(PlatformError::Conflict(format!(
            "order {order} is already taken by infosec level '{}'; levels need distinct orders",
            other.name
        ))),
        None => Ok(()),
    }
}

pub(crate) fn unknown_level(name: &str, platform: &PlatformSettings) -> String {
    format!("infosec level '{name}' is not one of this platform's levels: {}", level_names(platform))
}

pub async fn add_level(ctx: &Context, actor: &str, name: &str, order: i64) -> Result<PlatformSettings> {
    let name = check_level_name(name)?;
    let mut platform = ctx.repo.platform().await?;
    if let Some(existing) = platform.level_by_name(name) {
        return Err(PlatformError::Conflict(format!(
            "infosec level '{name}' already exists (order {})",
            existing.order
        )));
    }
    order_taken(&platform, order, name)?;
    let level = InfosecLevel::new(name, order);
    platform.levels.push(level.clone());
    ctx.repo.save_platform(&platform).await?;
    record(ctx, actor, "level.add", name, None, Some(level_json(&level))).await?;
    Ok(platform)
}

/// Renames a level and/or changes its order. A rename is applied everywhere the level is
/// named; an order change is refused while anything holds the level, since that would
/// silently move it relative to the others.
pub async fn update_level(
    ctx: &Context,
    actor: &str,
    name: &str,
    new_name: Option<&str>,
    new_order: Option<i64>,
) -> Result<PlatformSettings> {
    let mut platform = ctx.repo.platform().await?;
    let level =
        platform.level_by_name(name).cloned().ok_or_else(|| PlatformError::NotFound(unknown_level(name, &platform)))?;
    if new_name.is_none() && new_order.is_none() {
        return Err(PlatformError::Invalid(format!(
            "nothing to change for infosec level '{name}': send \"name\" and/or \"order\""
        )));
    }
    let rename = match new_name {
        Some(new) => Some(check_level_name(new)?).filter(|new| *new != name),
        None => None,
    };
    if let Some(new) = rename {
        if platform.level_by_name(new).is_some() {
            return Err(PlatformError::Conflict(format!(
                "cannot rename '{name}' to '{new}': infosec level '{new}' already exists"
            )));
        }
    }
    let reorder = new_order.filter(|order| *order != level.order);
    if let Some(order) = reorder {
        order_taken(&platform, order, name)?;
        let usage = ctx.repo.level_usage(name).await?;
        if !usage.is_empty() {
            return Err(PlatformError::Conflict(format!(
                "changing the order of infosec level '{name}' from {} to {order} is refused: {} hold it, and their \
                 meaning would change silently; add a new level instead",
                level.order,
                describe_usage(&usage)
            )));
        }
    }
    if let Some(order) = reorder {
        for l in platform.levels.iter_mut().filter(|l| l.name == name) {
            l.order = order;
        }
        if platform.max_level.name == name {
            platform.max_level.order = order;
        }
        ctx.repo.save_platform(&platform).await?;
    }
    if let Some(new) = rename {
        ctx.repo.rename_level(name, new).await?;
    }
    if reorder.is_some() || rename.is_some() {
        let after = InfosecLevel::new(rename.unwrap_or(name), reorder.unwrap_or(level.order));
        record(ctx, actor, "level.update", name, Some(level_json(&level)), Some(level_json(&after))).await?;
    }
    Ok(ctx.repo.platform().await?)
}

/// "2 user(s) (alice, bob), 1 file(s) (plan.pdf)": what a refusal names.
pub fn describe_usage(usage: &LevelUsage) -> String {
    let parts = [
        (usage.users, "user(s)", &usage.user_examples),
        (usage.files, "file(s)", &usage.file_examples),
        (usage.received, "received file(s)", &usage.received_examples),
        (usage.connections, "sending connection(s)", &usage.connection_examples),
    ];
    parts
        .iter()
        .filter(|(count, _, _)| *count > 0)
        .map(|(count, what, examples)| {
            let more = if *count as usize > examples.len() { ", …" } else { "" };
            format!("{count} {what} ({}{more})", examples.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

pub async fn set_max_level(ctx: &Context, actor: &str, name: &str) -> Result<PlatformSettings> {
    let mut platform = ctx.repo.platform().await?;
    let level = platform
        .level_by_name(name.trim())
        .cloned()
        .ok_or_else(|| PlatformError::Invalid(unknown_level(name, &platform)))?;
    if level == platform.max_level {
        return Ok(platform);
    }
    let above = ctx.repo.usage_above(level.order).await?;
    if !above.is_empty() {
        return Err(PlatformError::Conflict(format!(
            "the max level cannot be lowered to '{}' (order {}): {} lie above it",
            level.name,
            level.order,
            describe_usage(&above)
        )));
    }
    let before = level_json(&platform.max_level);
    platform.max_level = level.clone();
    ctx.repo.save_platform(&platform).await?;
    record(ctx, actor, "platform.max_level", "max_level", Some(before), Some(level_json(&level))).await?;
    Ok(platform)
}

pub async fn add_tag(ctx: &Context, actor: &str, tag: &str) -> Result<()> {
    let tag = tag.trim();
    validate_tag(tag).map_err(PlatformError::Invalid)?;
    if let Some(existing) = ctx.repo.control_tags().await?.into_iter().find(|t| t.tag == tag) {
        let state = if existing.active { "active" } else { "inactive; reactivate it instead" };
        return Err(PlatformError::Conflict(format!("control tag '{tag}' already exists ({state})")));
    }
    ctx.repo.put_control_tag(tag, true).await?;
    record(ctx, actor, "tag.add", tag, None, Some(json!({ "active": true }))).await?;
    Ok(())
}

/// The reason recorded on shares withdrawn because their file carries a deactivated tag.
pub fn deactivated_reason(tag: &str) -> String {
    format!("control tag '{tag}' was deactivated on this platform")
}

/// Activates or deactivates a tag. Deactivation withdraws, with the reason recorded, the
/// shares of sending connections whose file carries the tag, so it leaves their next
/// manifests; returns how many were withdrawn.
pub async fn set_tag_active(ctx: &Context, actor: &str, tag: &str, active: bool) -> Result<usize> {
    let existing =
        ctx.repo.control_tags().await?.into_iter().find(|t| t.tag == tag).ok_or_else(|| {
            PlatformError::NotFound(format!("control tag '{tag}' is not one of this platform's tags"))
        })?;
    if existing.active == active {
        return Ok(0);
    }
    ctx.repo.put_control_tag(tag, active).await?;
    let withdrawn = if active {
        Vec::new()
    } else {
        ctx.repo.remove_shares_with_tag(tag, &deactivated_reason(tag), now_millis()).await?
    };
    let action = if active { "tag.reactivate" } else { "tag.deactivate" };
    let after = json!({ "active": active, "withdrawn_shares": withdrawn.len() });
    record(ctx, actor, action, tag, Some(json!({ "active": existing.active })), Some(after)).await?;
    Ok(withdrawn.len())
}

pub async fn audit(ctx: &Context, limit: u32, offset: u32) -> Result<Page<AuditEntry>> {
    Ok(ctx.repo.audit_entries(limit, offset).await?)
}
