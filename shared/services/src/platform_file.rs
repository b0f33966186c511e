//! The declarative platform file (`AIRLOCK_PLATFORM_FILE`, TOML or YAML by extension):
//! levels, the max level, control tags, users with their clearance and feature flag.
//! `apply` sets what the file names and leaves alone what it doesn't; applying the same
//! file again changes and records nothing. Every reference is checked before the first
//! write, so a bad file changes nothing and its refusal names the field and why.

mod plan;

use crate::platform::{self, ClearanceInput, PlatformError};
use airlock_domain::classification::validate_tag;
use airlock_domain::{Clearance, TagSet};
use airlock_repo::SignIn;
use airlock_runtime::Context;
use serde::Deserialize;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The environment variable naming the file.
pub const PLATFORM_FILE_VAR: &str = "AIRLOCK_PLATFORM_FILE";
/// Audit actor of the changes a platform file makes.
pub const FILE_ACTOR: &str = "platform-file";

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlatformFile {
    #[serde(default)]
    pub infosec: Option<InfosecSection>,
    #[serde(default)]
    pub tags: Vec<TagEntry>,
    #[serde(default)]
    pub users: Vec<UserEntry>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InfosecSection {
    pub enabled: Option<bool>,
    pub max: Option<String>,
    #[serde(default)]
    pub levels: Vec<LevelEntry>,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LevelEntry {
    pub name: String,
    pub order: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagEntry {
    pub name: String,
    #[serde(default = "active_by_default")]
    pub active: bool,
}

fn active_by_default() -> bool {
    true
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserEntry {
    /// The token's `sub`.
    pub id: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub level: Option<String>,
    pub tags: Option<Vec<String>>,
    pub secure_connections: Option<bool>,
}

#[derive(Debug, thiserror::Error)]
pub enum PlatformFileError {
    #[error("platform file '{path}' cannot be read: {why}")]
    Read { path: String, why: String },
    #[error("platform file '{path}' has no .toml, .yaml or .yml extension, so its format is unknown")]
    UnknownFormat { path: String },
    #[error("platform file '{path}' is not valid {format}: {why}")]
    Syntax { path: String, format: &'static str, why: String },
    #[error("platform file {field}: {why}")]
    Invalid { field: String, why: String },
    #[error("applying the platform file failed: {0}")]
    Apply(#[from] PlatformError),
}

fn invalid(field: impl Into<String>, why: impl Into<String>) -> PlatformFileError {
    PlatformFileError::Invalid { field: field.into(), why: why.into() }
}

/// What an application changed, one line per change; empty when the platform already matched.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApplySummary {
    pub changes: Vec<String>,
}

impl ApplySummary {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}

impl PlatformFile {
    /// Reads and checks the file; the format follows the extension (.toml, .yaml, .yml).
    pub fn load(path: impl AsRef<Path>) -> Result<Self, PlatformFileError> {
        let path = path.as_ref();
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| PlatformFileError::Read { path: shown.clone(), why: e.to_string() })?;
        let extension = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
        match extension.as_deref() {
            Some("toml") => Self::from_toml(&text),
            Some("yaml" | "yml") => Self::from_yaml(&text),
            _ => Err(PlatformFileError::UnknownFormat { path: shown.clone() }),
        }
        .map_err(|e| match e {
            PlatformFileError::Syntax { format, why, .. } => {
                PlatformFileError::Syntax { path: shown.clone(), format, why }
            }
            other => other,
        })
    }

    pub fn from_toml(text: &str) -> Result<Self, PlatformFileError> {
        let file: Self = toml::from_str(text).map_err(|e| PlatformFileError::Syntax {
            path: String::new(),
            format: "TOML",
            why: e.message().to_owned() + &e.span().map(|s| format!(" (at byte {})", s.start)).unwrap_or_default(),
        })?;
        file.check()?;
        Ok(file)
    }

    pub fn from_yaml(text: &str) -> Result<Self, PlatformFileError> {
        let file: Self = serde_yaml_ng::from_str(text).map_err(|e| PlatformFileError::Syntax {
            path: String::new(),
            format: "YAML",
            why: e.to_string(),
        })?;
        file.check()?;
        Ok(file)
    }

    /// The checks that need no database: names well formed and listed once.
    pub fn check(&self) -> Result<(), PlatformFileError> {
        if let Some(infosec) = &self.infosec {
            let mut names = BTreeSet::new();
            let mut orders = BTreeMap::new();
            for (i, level) in infosec.levels.iter().enumerate() {
                let field = format!("infosec.levels[{i}]");
                level_name_ok(&level.name).map_err(|why| invalid(format!("{field}.name"), why))?;
                if !names.insert(level.name.as_str()) {
                    return Err(invalid(format!("{field}.name"), format!("'{}' is listed twice", level.name)));
                }
                if let Some(other) = orders.insert(level.order, level.name.as_str()) {
                    return Err(invalid(
                        format!("{field}.order"),
                        format!("{} is also the order of '{other}'; levels need distinct orders", level.order),
                    ));
                }
            }
            if let Some(max) = &infosec.max {
                level_name_ok(max).map_err(|why| invalid("infosec.max", why))?;
            }
        }
        let mut tags = BTreeSet::new();
        for (i, tag) in self.tags.iter().enumerate() {
            validate_tag(&tag.name).map_err(|why| invalid(format!("tags[{i}].name"), why))?;
            if !tags.insert(tag.name.as_str()) {
                return Err(invalid(format!("tags[{i}].name"), format!("'{}' is listed twice", tag.name)));
            }
        }
        let mut ids = BTreeSet::new();
        for (i, user) in self.users.iter().enumerate() {
            if user.id.trim().is_empty() || user.id.chars().any(char::is_control) {
                return Err(invalid(format!("users[{i}].id"), "is empty or has control characters"));
            }
            if !ids.insert(user.id.as_str()) {
                return Err(invalid(format!("users[{i}].id"), format!("'{}' is listed twice", user.id)));
            }
            for (j, tag) in user.tags.iter().flatten().enumerate() {
                validate_tag(tag).map_err(|why| invalid(format!("users[{i}].tags[{j}]"), why))?;
            }
            if user.tags.is_some() && user.level.is_none() {
                return Err(invalid(
                    format!("users[{i}].level"),
                    "is needed when tags are given (a clearance is both)",
                ));
            }
        }
        Ok(())
    }
}

fn level_name_ok(name: &str) -> Result<(), String> {
    if name.trim().is_empty() || name.trim() != name || name.chars().any(|c| c.is_control() || c == ',') {
        return Err(format!("'{name}' is empty, has surrounding spaces, a comma or a control character"));
    }
    Ok(())
}

/// Reads the file named by `AIRLOCK_PLATFORM_FILE`, if set.
pub fn load_from_env() -> Result<Option<PlatformFile>, PlatformFileError> {
    match std::env::var(PLATFORM_FILE_VAR) {
        Ok(path) if !path.trim().is_empty() => PlatformFile::load(path.trim()).map(Some),
        _ => Ok(None),
    }
}

/// Makes the platform match the file. Changes are recorded in the audit log as `actor`'s,
/// with one more entry for the application as a whole; nothing is recorded when nothing changed.
pub async fn apply(ctx: &Context, file: &PlatformFile, actor: &str) -> Result<ApplySummary, PlatformFileError> {
    file.check()?;
    let plan = plan::plan(ctx, file).await?;
    let mut summary = ApplySummary::default();
    let infosec = file.infosec.clone().unwrap_or_default();
    if let Some(enabled) = infosec.enabled {
        if ctx.repo.platform().await.map_err(PlatformError::from)?.infosec_enabled != enabled {
            platform::set_infosec(ctx, actor, enabled).await?;
            summary.changes.push(format!("infosec {}", if enabled { "enabled" } else { "disabled" }));
        }
    }
    for level in &infosec.levels {
        let current = ctx.repo.platform().await.map_err(PlatformError::from)?;
        match current.level_by_name(&level.name) {
            None => {
                platform::add_level(ctx, actor, &level.name, level.order).await?;
                summary.changes.push(format!("level '{}' added with order {}", level.name, level.order));
            }
            Some(existing) if existing.order != level.order => {
                platform::update_level(ctx, actor, &level.name, None, Some(level.order)).await?;
                summary.changes.push(format!("level '{}' moved to order {}", level.name, level.order));
            }
            Some(_) => {}
        }
    }
    if let Some(max) = &infosec.max {
        if ctx.repo.platform().await.map_err(PlatformError::from)?.max_level.name != *max {
            platform::set_max_level(ctx, actor, max).await?;
            summary.changes.push(format!("max level set to '{max}'"));
        }
    }
    for tag in &file.tags {
        match plan.tags.get(&tag.name) {
            None => {
                platform::add_tag(ctx, actor, &tag.name).await?;
                if !tag.active {
                    platform::set_tag_active(ctx, actor, &tag.name, false).await?;
                }
                summary.changes.push(format!("tag '{}' added{}", tag.name, if tag.active { "" } else { " inactive" }));
            }
            Some(active) if *active != tag.active => {
                platform::set_tag_active(ctx, actor, &tag.name, tag.active).await?;
                summary.changes.push(format!(
                    "tag '{}' {}",
                    tag.name,
                    if tag.active { "reactivated" } else { "deactivated" }
                ));
            }
            Some(_) => {}
        }
    }
    for user in &file.users {
        apply_user(ctx, actor, user, &mut summary).await?;
    }
    if !summary.is_empty() {
        platform::record(ctx, actor, "platform_file.apply", "platform", None, Some(json!(summary.changes)))
            .await
            .map_err(PlatformError::from)?;
    }
    Ok(summary)
}

async fn apply_user(
    ctx: &Context,
    actor: &str,
    user: &UserEntry,
    summary: &mut ApplySummary,
) -> Result<(), PlatformFileError> {
    let existing = ctx.repo.user_account(&user.id).await.map_err(PlatformError::from)?;
    let name =
        user.name.clone().or_else(|| existing.as_ref().map(|a| a.user.name.clone())).unwrap_or_else(|| user.id.clone());
    let email = user.email.clone().or_else(|| existing.as_ref().map(|a| a.email.clone())).unwrap_or_default();
    let needs_write = existing.as_ref().is_none_or(|a| a.user.name != name || a.email != email);
    if needs_write {
        let lowest = ctx.repo.platform().await.map_err(PlatformError::from)?.lowest_level();
        let at = airlock_domain::now_millis();
        let initial_clearance = Clearance { level: lowest, tags: TagSet::new() };
        ctx.repo
            .sign_in(&SignIn { id: user.id.clone(), name: name.clone(), email: email.clone(), initial_clearance, at })
            .await
            .map_err(PlatformError::from)?;
        let action = if existing.is_none() { "user.create" } else { "user.profile" };
        let before = existing.as_ref().map(|a| json!({ "name": a.user.name, "email": a.email }));
        platform::record(ctx, actor, action, &user.id, before, Some(json!({ "name": name, "email": email })))
            .await
            .map_err(PlatformError::from)?;
        summary.changes.push(format!("user '{}' {}", user.id, if existing.is_none() { "created" } else { "renamed" }));
    }
    let account = ctx.repo.user_account(&user.id).await.map_err(PlatformError::from)?;
    let account =
        account.ok_or_else(|| invalid("users", format!("user '{}' vanished while being applied", user.id)))?;
    let clearance = user
        .level
        .as_ref()
        .map(|level| ClearanceInput { level: level.clone(), tags: user.tags.iter().flatten().cloned().collect() });
    let clearance_changes = match &clearance {
        Some(input) => platform::resolve_clearance(ctx, input).await? != account.user.clearance,
        None => false,
    };
    let flag_changes = user.secure_connections.is_some_and(|f| f != account.secure_connections);
    if clearance_changes || flag_changes {
        let clearance = clearance.filter(|_| clearance_changes);
        let flag = user.secure_connections.filter(|_| flag_changes);
        platform::update_user(ctx, actor, &user.id, clearance.as_ref(), flag).await?;
        if clearance_changes {
            summary.changes.push(format!("user '{}' clearance set", user.id));
        }
        if flag_changes {
            summary.changes.push(format!(
                "user '{}' secure connections {}",
                user.id,
                if flag.unwrap_or(false) { "enabled" } else { "disabled" }
            ));
        }
    }
    Ok(())
}
