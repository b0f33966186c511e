//! The checks of a platform file against the stored platform, made before any change.

use super::{invalid, PlatformFile, PlatformFileError};
use crate::platform::{self, PlatformError};
use airlock_domain::InfosecLevel;
use airlock_runtime::Context;
use std::collections::BTreeMap;

/// The platform as it will be after the file, checked against what is stored: levels,
/// max, tags and users' clearances must fit together.
pub(super) struct Plan {
    /// Tag name to active state, stored and named.
    pub(super) tags: BTreeMap<String, bool>,
}

pub(super) async fn plan(ctx: &Context, file: &PlatformFile) -> Result<Plan, PlatformFileError> {
    let repo = &ctx.repo;
    let stored = repo.platform().await.map_err(PlatformError::from)?;
    let mut levels: Vec<InfosecLevel> = stored.levels.clone();
    let infosec = file.infosec.clone().unwrap_or_default();
    for (i, entry) in infosec.levels.iter().enumerate() {
        let field = format!("infosec.levels[{i}].order");
        if let Some(other) = levels.iter().find(|l| l.order == entry.order && l.name != entry.name) {
            return Err(invalid(field, format!("{} is already the order of level '{}'", entry.order, other.name)));
        }
        match levels.iter_mut().find(|l| l.name == entry.name) {
            Some(existing) if existing.order != entry.order => {
                let usage = repo.level_usage(&entry.name).await.map_err(PlatformError::from)?;
                if !usage.is_empty() {
                    return Err(invalid(
                        field,
                        format!(
                            "moving '{}' from order {} to {} is refused: {} hold it",
                            entry.name,
                            existing.order,
                            entry.order,
                            platform::describe_usage(&usage)
                        ),
                    ));
                }
                existing.order = entry.order;
            }
            Some(_) => {}
            None => levels.push(InfosecLevel::new(&entry.name, entry.order)),
        }
    }
    let level_list = || {
        let mut sorted = levels.clone();
        sorted.sort();
        sorted.iter().map(|l| l.name.as_str()).collect::<Vec<_>>().join(", ")
    };
    let find = |name: &str| levels.iter().find(|l| l.name == name).cloned();
    let max = match &infosec.max {
        Some(name) => {
            let max = find(name).ok_or_else(|| {
                invalid("infosec.max", format!("'{name}' is not one of the levels ({})", level_list()))
            })?;
            if max.name != stored.max_level.name {
                let above = repo.usage_above(max.order).await.map_err(PlatformError::from)?;
                if !above.is_empty() {
                    return Err(invalid(
                        "infosec.max",
                        format!("'{name}' is below {}", platform::describe_usage(&above)),
                    ));
                }
            }
            max
        }
        None => find(&stored.max_level.name).unwrap_or(stored.max_level.clone()),
    };
    let mut tags: BTreeMap<String, bool> =
        repo.control_tags().await.map_err(PlatformError::from)?.into_iter().map(|t| (t.tag, t.active)).collect();
    let stored_tags = tags.clone();
    for tag in &file.tags {
        tags.insert(tag.name.clone(), tag.active);
    }
    for (i, user) in file.users.iter().enumerate() {
        if let Some(name) = &user.level {
            let level = find(name).ok_or_else(|| {
                invalid(format!("users[{i}].level"), format!("'{name}' is not one of the levels ({})", level_list()))
            })?;
            if level.order > max.order {
                return Err(invalid(
                    format!("users[{i}].level"),
                    format!("'{name}' lies above the max level '{}'", max.name),
                ));
            }
        }
        for (j, tag) in user.tags.iter().flatten().enumerate() {
            if tags.get(tag) != Some(&true) {
                return Err(invalid(format!("users[{i}].tags[{j}]"), format!("'{tag}' is not an active control tag")));
            }
        }
    }
    Ok(Plan { tags: stored_tags })
}
