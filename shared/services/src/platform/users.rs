//! Accounts: sign-in from the token (with clearance claims), the feature flag, admins'
//! changes to a user's clearance and flag, and the user search.

use super::{clearance_json, inactive, level_names, record, unknown_level, PlatformError, Result, CLAIMS_ACTOR};
use airlock_domain::classification::{join_tags, validate_tag};
use airlock_domain::{now_millis, Clearance, TagSet};
use airlock_repo::{Page, SignIn, SignedIn, UserAccount};
use airlock_runtime::Context;
use serde_json::json;
use std::time::Duration;

/// A sign-in refreshes the last-seen time at most this often, so requests don't all write.
pub const LAST_SEEN_RESOLUTION: Duration = Duration::from_secs(60);

/// The refusal of an admin route to a caller whose feature flag is off.
pub fn secure_connections_disabled(user_id: &str) -> String {
    format!(
        "secure connections is not enabled for user '{user_id}': enable it in Settings > Experimental Features > \
         Secure Connections (PUT /api/v1/me/features)"
    )
}

/// Who signed in, as the verified token says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Identity {
    pub id: String,
    pub name: Option<String>,
    pub email: Option<String>,
    /// From the configured clearance claims, when configured and present in the token.
    pub claimed_level: Option<String>,
    pub claimed_tags: Option<TagSet>,
}

/// The account of the token's subject: created on first sight with the platform's lowest
/// level, no tags and the flag off; name and email refreshed from the token; the clearance
/// set from the clearance claims when the token carries them.
pub async fn sign_in(ctx: &Context, identity: &Identity) -> Result<UserAccount> {
    let id = identity.id.as_str();
    let existing = ctx.repo.user_account(id).await?;
    let name = identity
        .name
        .clone()
        .or_else(|| existing.as_ref().map(|a| a.user.name.clone()))
        .unwrap_or_else(|| id.to_owned());
    let email = identity.email.clone().or_else(|| existing.as_ref().map(|a| a.email.clone())).unwrap_or_default();
    let now = now_millis();
    let stale = |a: &UserAccount| now - a.last_seen_at >= LAST_SEEN_RESOLUTION.as_millis() as i64;
    let mut account = match existing {
        Some(a) if a.user.name == name && a.email == email && !stale(&a) => a,
        _ => {
            let platform = ctx.repo.platform().await?;
            let initial_clearance = Clearance { level: platform.lowest_level(), tags: TagSet::new() };
            let SignedIn { account, created } =
                ctx.repo.sign_in(&SignIn { id: id.into(), name, email, initial_clearance, at: now }).await?;
            if created {
                let after = json!({ "name": account.user.name, "email": account.email,
                    "clearance": clearance_json(&account.user.clearance), "secure_connections": false });
                record(ctx, id, "user.create", id, None, Some(after)).await?;
            }
            account
        }
    };
    if identity.claimed_level.is_some() || identity.claimed_tags.is_some() {
        let claimed = claimed_clearance(ctx, identity, &account.user.clearance).await?;
        if claimed != account.user.clearance {
            ctx.repo.set_user_clearance(id, &claimed).await?;
            let before = clearance_json(&account.user.clearance);
            record(ctx, CLAIMS_ACTOR, "user.clearance", id, Some(before), Some(clearance_json(&claimed))).await?;
            account.user.clearance = claimed;
        }
    }
    Ok(account)
}

async fn claimed_clearance(ctx: &Context, identity: &Identity, current: &Clearance) -> Result<Clearance> {
    let mut clearance = current.clone();
    if let Some(name) = &identity.claimed_level {
        let platform = ctx.repo.platform().await?;
        clearance.level = platform.level_by_name(name).cloned().ok_or_else(|| {
            PlatformError::Forbidden(format!(
                "the token of '{}' claims clearance level '{name}', which is not one of this platform's levels: {}",
                identity.id,
                level_names(&platform)
            ))
        })?;
    }
    if let Some(tags) = &identity.claimed_tags {
        let inactive = inactive(ctx, tags).await?;
        if !inactive.is_empty() {
            return Err(PlatformError::Forbidden(format!(
                "the token of '{}' claims control tag(s) not active on this platform: {}",
                identity.id,
                join_tags(&inactive)
            )));
        }
        clearance.tags = tags.clone();
    }
    Ok(clearance)
}

/// The caller's own feature flag (Settings > Experimental Features > Secure Connections).
pub async fn set_own_features(ctx: &Context, user_id: &str, secure_connections: bool) -> Result<UserAccount> {
    set_flag(ctx, user_id, user_id, secure_connections).await
}

async fn set_flag(ctx: &Context, actor: &str, user_id: &str, enabled: bool) -> Result<UserAccount> {
    let mut account = known_account(ctx, user_id).await?;
    if account.secure_connections != enabled {
        ctx.repo.set_secure_connections(user_id, enabled).await?;
        let (before, after) = (json!(account.secure_connections), json!(enabled));
        record(ctx, actor, "user.secure_connections", user_id, Some(before), Some(after)).await?;
        account.secure_connections = enabled;
    }
    Ok(account)
}

async fn known_account(ctx: &Context, user_id: &str) -> Result<UserAccount> {
    ctx.repo.user_account(user_id).await?.ok_or_else(|| PlatformError::NotFound(format!("user '{user_id}' not found")))
}

pub async fn search_users(ctx: &Context, search: &str, limit: u32, offset: u32) -> Result<Page<UserAccount>> {
    Ok(ctx.repo.search_users(search, limit, offset).await?)
}

/// A clearance as an admin sends it: a level name and tag names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClearanceInput {
    pub level: String,
    pub tags: TagSet,
}

/// Checks a clearance against the platform: a known level not above the max, active tags.
pub async fn resolve_clearance(ctx: &Context, input: &ClearanceInput) -> Result<Clearance> {
    let platform = ctx.repo.platform().await?;
    let level = platform
        .level_by_name(input.level.trim())
        .cloned()
        .ok_or_else(|| PlatformError::Invalid(unknown_level(&input.level, &platform)))?;
    if level.order > platform.max_level.order {
        return Err(PlatformError::Invalid(format!(
            "infosec level '{}' lies above the platform's max level '{}'",
            level.name, platform.max_level.name
        )));
    }
    for tag in &input.tags {
        validate_tag(tag).map_err(PlatformError::Invalid)?;
    }
    let inactive = inactive(ctx, &input.tags).await?;
    if !inactive.is_empty() {
        return Err(PlatformError::Invalid(format!(
            "control tag(s) not active on this platform: {}",
            join_tags(&inactive)
        )));
    }
    Ok(Clearance { level, tags: input.tags.clone() })
}

/// An admin's change to a user: the clearance, the feature flag, or both.
pub async fn update_user(
    ctx: &Context,
    actor: &str,
    user_id: &str,
    clearance: Option<&ClearanceInput>,
    secure_connections: Option<bool>,
) -> Result<UserAccount> {
    let mut account = known_account(ctx, user_id).await?;
    if clearance.is_none() && secure_connections.is_none() {
        return Err(PlatformError::Invalid(format!(
            "nothing to change for user '{user_id}': send \"clearance\" and/or \"secure_connections\""
        )));
    }
    let clearance = match clearance {
        Some(input) => Some(resolve_clearance(ctx, input).await?),
        None => None,
    };
    if let Some(clearance) = clearance.filter(|c| *c != account.user.clearance) {
        ctx.repo.set_user_clearance(user_id, &clearance).await?;
        let before = clearance_json(&account.user.clearance);
        record(ctx, actor, "user.clearance", user_id, Some(before), Some(clearance_json(&clearance))).await?;
        account.user.clearance = clearance;
    }
    if let Some(enabled) = secure_connections {
        account = set_flag(ctx, actor, user_id, enabled)
            .await
            .map(|flagged| UserAccount { user: account.user, ..flagged })?;
    }
    Ok(account)
}
