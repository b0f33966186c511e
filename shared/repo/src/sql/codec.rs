//! Conversions between domain values and the portable column types (TEXT and BIGINT),
//! and the row readers shared by the query modules.

use crate::{AppliedEntry, ManifestState, PublishedEntry, RepoError, Result, Share};
use airlock_domain::pipeline::{ResourceOutcome, ResourceRow};
use airlock_domain::{
    Clearance, Connection, ConnectionKind, Health, InfosecLevel, Resource, Revision, TagSet, TransformRule, User,
};
use sqlx::any::AnyRow;
use sqlx::Row;

pub(super) fn tags_to_json(tags: &TagSet) -> String {
    serde_json::to_string(tags).expect("a set of strings always serializes to JSON")
}

pub(super) fn tags_from_json(text: &str, owner: &str) -> Result<TagSet> {
    serde_json::from_str(text)
        .map_err(|e| RepoError::Corrupt(format!("control tags of {owner} are not a JSON string array ({e}): {text}")))
}

pub(super) fn rule_to_json(rule: &TransformRule) -> String {
    serde_json::to_string(rule).expect("a transform rule always serializes to JSON")
}

pub(super) fn rule_from_json(text: &str, connection_id: &str) -> Result<TransformRule> {
    serde_json::from_str(text).map_err(|e| {
        RepoError::Corrupt(format!("transform rule of connection '{connection_id}' is not valid ({e}): {text}"))
    })
}

/// Unsigned domain counters are stored in BIGINT columns; refuse the values that would
/// wrap instead of storing them negative.
pub(super) fn to_i64(value: u64, what: &'static str) -> Result<i64> {
    i64::try_from(value).map_err(|_| RepoError::OutOfRange { what, value })
}

pub(super) fn to_u32(value: i64, what: &str) -> Result<u32> {
    u32::try_from(value).map_err(|_| RepoError::Corrupt(format!("{what} {value} is not a 32-bit unsigned number")))
}

pub(super) fn to_u64(value: i64, what: &str) -> Result<u64> {
    u64::try_from(value).map_err(|_| RepoError::Corrupt(format!("{what} {value} is negative")))
}

/// Placeholders for `count` rows of `width` values each, numbered from `$first`: for a
/// multi-row VALUES, `value_rows(2, 2, 3)` is `($3, $4), ($5, $6)`.
pub(super) fn value_rows(count: usize, width: usize, first: usize) -> String {
    (0..count)
        .map(|row| {
            let values = (0..width).map(|k| format!("${}", first + row * width + k)).collect::<Vec<_>>();
            format!("({})", values.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Placeholders for an IN list of `count` values numbered from `$first`: `$2, $3, $4`.
pub(super) fn value_list(count: usize, first: usize) -> String {
    (first..first + count).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

pub(super) fn flag(value: bool) -> i64 {
    i64::from(value)
}

pub(super) fn health_from(text: &str, owner: &str) -> Result<Health> {
    Health::parse(text).ok_or_else(|| RepoError::Corrupt(format!("health of {owner} is unknown: '{text}'")))
}

fn level(row: &AnyRow, name_column: &str, order_column: &str) -> Result<InfosecLevel> {
    Ok(InfosecLevel::new(row.try_get::<String, _>(name_column)?, row.try_get::<i64, _>(order_column)?))
}

pub(super) fn user(row: &AnyRow) -> Result<User> {
    let id: String = row.try_get("id")?;
    let tags = tags_from_json(&row.try_get::<String, _>("tags")?, &format!("user '{id}'"))?;
    Ok(User {
        name: row.try_get("name")?,
        clearance: Clearance { level: level(row, "level_name", "level_order")?, tags },
        id,
    })
}

pub(super) fn resource(row: &AnyRow) -> Result<Resource> {
    let id: String = row.try_get("id")?;
    let tags = tags_from_json(&row.try_get::<String, _>("tags")?, &format!("resource '{id}'"))?;
    Ok(Resource {
        name: row.try_get("name")?,
        owner_id: row.try_get("owner_id")?,
        level: level(row, "level_name", "level_order")?,
        tags,
        origin_connection_id: row.try_get("origin_connection_id")?,
        created_at: row.try_get("created_at")?,
        withdrawn_at: row.try_get("withdrawn_at")?,
        id,
    })
}

pub(super) fn revision(row: &AnyRow) -> Result<Revision> {
    let id: String = row.try_get("id")?;
    let size = to_u64(row.try_get("size")?, &format!("size of revision '{id}'"))?;
    Ok(Revision {
        resource_id: row.try_get("resource_id")?,
        size,
        sha256: row.try_get("sha256")?,
        blob_key: row.try_get("blob_key")?,
        created_at: row.try_get("created_at")?,
        id,
    })
}

pub(super) fn connection(row: &AnyRow) -> Result<Connection> {
    let id: String = row.try_get("id")?;
    let owner = format!("connection '{id}'");
    let kind_text: String = row.try_get("kind")?;
    let kind = ConnectionKind::parse(&kind_text)
        .ok_or_else(|| RepoError::Corrupt(format!("kind of {owner} is unknown: '{kind_text}'")))?;
    let permitted_level = match (
        row.try_get::<Option<String>, _>("permitted_level_name")?,
        row.try_get::<Option<i64>, _>("permitted_level_order")?,
    ) {
        (Some(name), Some(order)) => Some(InfosecLevel::new(name, order)),
        (None, None) => None,
        _ => return Err(RepoError::Corrupt(format!("permitted level of {owner} has a name or an order but not both"))),
    };
    let health = match row.try_get::<Option<String>, _>("health")? {
        Some(text) => Some(health_from(&text, &owner)?),
        None => None,
    };
    Ok(Connection {
        kind,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        shared_id: row.try_get("shared_id")?,
        store_label: row.try_get("store_label")?,
        wrapped_secret: row.try_get("wrapped_secret")?,
        permitted_level,
        permitted_tags: tags_from_json(&row.try_get::<String, _>("permitted_tags")?, &owner)?,
        shard_count: to_u32(row.try_get("shard_count")?, &format!("shard count of {owner}"))?,
        created_at: row.try_get("created_at")?,
        archived_at: row.try_get("archived_at")?,
        health,
        id,
    })
}

pub(super) fn share(row: &AnyRow) -> Result<Share> {
    Ok(Share {
        connection_id: row.try_get("connection_id")?,
        resource_id: row.try_get("resource_id")?,
        shared_by: row.try_get("shared_by")?,
        shared_at: row.try_get("shared_at")?,
        removed_at: row.try_get("removed_at")?,
        removed_reason: row.try_get("removed_reason")?,
    })
}

pub(super) fn published(row: &AnyRow) -> Result<PublishedEntry> {
    let resource_id: String = row.try_get("resource_id")?;
    Ok(PublishedEntry {
        connection_id: row.try_get("connection_id")?,
        revision_id: row.try_get("revision_id")?,
        shard: to_u32(row.try_get("shard")?, &format!("shard of published resource '{resource_id}'"))?,
        object_key: row.try_get("object_key")?,
        entry_json: row.try_get("entry_json")?,
        resource_id,
    })
}

pub(super) fn manifest_state(row: &AnyRow) -> Result<ManifestState> {
    let connection_id: String = row.try_get("connection_id")?;
    let owner = format!("manifest state of connection '{connection_id}'");
    Ok(ManifestState {
        shard: to_u32(row.try_get("shard")?, &format!("shard of {owner}"))?,
        sequence: to_u64(row.try_get("sequence")?, &format!("sequence of {owner}"))?,
        digest: row.try_get("digest")?,
        connection_id,
    })
}

pub(super) fn applied(row: &AnyRow) -> Result<AppliedEntry> {
    let remote_resource_id: String = row.try_get("remote_resource_id")?;
    Ok(AppliedEntry {
        connection_id: row.try_get("connection_id")?,
        shard: to_u32(row.try_get("shard")?, &format!("shard of applied resource '{remote_resource_id}'"))?,
        entry_digest: row.try_get("entry_digest")?,
        local_resource_id: row.try_get("local_resource_id")?,
        sequence: to_u64(row.try_get("sequence")?, &format!("sequence of applied resource '{remote_resource_id}'"))?,
        withdrawn: row.try_get::<i64, _>("withdrawn")? != 0,
        remote_resource_id,
    })
}

pub(super) fn resource_row(row: &AnyRow) -> Result<ResourceRow> {
    let resource_id: String = row.try_get("resource_id")?;
    let outcome_text: String = row.try_get("outcome")?;
    let outcome = ResourceOutcome::parse(&outcome_text).ok_or_else(|| {
        RepoError::Corrupt(format!("outcome of sync row for resource '{resource_id}' is unknown: '{outcome_text}'"))
    })?;
    Ok(ResourceRow { name: row.try_get("name")?, outcome, message: row.try_get("message")?, resource_id })
}
