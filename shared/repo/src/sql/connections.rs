//! Connections, their transform rules and their owners.

use super::codec::{self, rule_from_json, rule_to_json, tags_to_json};
use super::SqlRepository;
use crate::{RepoError, Result};
use airlock_domain::{Connection, Health, Millis, TransformRule};
use sqlx::Row;
use std::collections::BTreeSet;

fn not_found(id: &str) -> RepoError {
    RepoError::NotFound { what: "connection", id: id.to_owned() }
}

pub(super) async fn create(repo: &SqlRepository, c: &Connection) -> Result<()> {
    let result = sqlx::query(
        "INSERT INTO connections (id, kind, name, description, shared_id, store_label, wrapped_secret, \
         permitted_level_name, permitted_level_order, permitted_tags, shard_count, created_at, \
         archived_at, health) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(&c.id)
    .bind(c.kind.as_str())
    .bind(&c.name)
    .bind(&c.description)
    .bind(&c.shared_id)
    .bind(&c.store_label)
    .bind(&c.wrapped_secret)
    .bind(c.permitted_level.as_ref().map(|l| l.name.clone()))
    .bind(c.permitted_level.as_ref().map(|l| l.order))
    .bind(tags_to_json(&c.permitted_tags))
    .bind(i64::from(c.shard_count))
    .bind(c.created_at)
    .bind(c.archived_at)
    .bind(c.health.map(Health::as_str))
    .execute(&repo.pool)
    .await;
    match result {
        Ok(_) => Ok(()),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            Err(RepoError::Conflict(format!("connection '{}' already exists", c.id)))
        }
        Err(e) => Err(e.into()),
    }
}

pub(super) async fn update(repo: &SqlRepository, c: &Connection) -> Result<()> {
    let done = sqlx::query(
        "UPDATE connections SET name = $2, description = $3, store_label = $4, wrapped_secret = $5, \
         permitted_level_name = $6, permitted_level_order = $7, permitted_tags = $8, shard_count = $9, \
         archived_at = $10, health = $11 WHERE id = $1",
    )
    .bind(&c.id)
    .bind(&c.name)
    .bind(&c.description)
    .bind(&c.store_label)
    .bind(&c.wrapped_secret)
    .bind(c.permitted_level.as_ref().map(|l| l.name.clone()))
    .bind(c.permitted_level.as_ref().map(|l| l.order))
    .bind(tags_to_json(&c.permitted_tags))
    .bind(i64::from(c.shard_count))
    .bind(c.archived_at)
    .bind(c.health.map(Health::as_str))
    .execute(&repo.pool)
    .await?;
    if done.rows_affected() == 0 {
        return Err(not_found(&c.id));
    }
    Ok(())
}

pub(super) async fn get(repo: &SqlRepository, id: &str) -> Result<Option<Connection>> {
    let row = sqlx::query("SELECT * FROM connections WHERE id = $1").bind(id).fetch_optional(&repo.pool).await?;
    row.as_ref().map(codec::connection).transpose()
}

pub(super) async fn wrapped_channel_key(repo: &SqlRepository, id: &str) -> Result<Option<String>> {
    let row = sqlx::query("SELECT wrapped_channel_key FROM connections WHERE id = $1")
        .bind(id)
        .fetch_optional(&repo.pool)
        .await?
        .ok_or_else(|| not_found(id))?;
    Ok(row.try_get("wrapped_channel_key")?)
}

pub(super) async fn set_wrapped_channel_key(repo: &SqlRepository, id: &str, wrapped: &str) -> Result<()> {
    let done = sqlx::query("UPDATE connections SET wrapped_channel_key = $2 WHERE id = $1")
        .bind(id)
        .bind(wrapped)
        .execute(&repo.pool)
        .await?;
    if done.rows_affected() == 0 {
        return Err(not_found(id));
    }
    Ok(())
}

pub(super) async fn list(repo: &SqlRepository, include_archived: bool) -> Result<Vec<Connection>> {
    let sql = if include_archived {
        "SELECT * FROM connections ORDER BY created_at, id"
    } else {
        "SELECT * FROM connections WHERE archived_at IS NULL ORDER BY created_at, id"
    };
    let rows = sqlx::query(sql).fetch_all(&repo.pool).await?;
    rows.iter().map(codec::connection).collect()
}

pub(super) async fn archive(repo: &SqlRepository, id: &str, at: Millis) -> Result<()> {
    // Archiving is final, so a second archive keeps the time of the first.
    let done = sqlx::query("UPDATE connections SET archived_at = COALESCE(archived_at, $2) WHERE id = $1")
        .bind(id)
        .bind(at)
        .execute(&repo.pool)
        .await?;
    if done.rows_affected() == 0 {
        return Err(not_found(id));
    }
    Ok(())
}

pub(super) async fn set_health(repo: &SqlRepository, id: &str, health: Health) -> Result<()> {
    let done = sqlx::query("UPDATE connections SET health = $2 WHERE id = $1")
        .bind(id)
        .bind(health.as_str())
        .execute(&repo.pool)
        .await?;
    if done.rows_affected() == 0 {
        return Err(not_found(id));
    }
    Ok(())
}

pub(super) async fn set_transforms(repo: &SqlRepository, connection_id: &str, rules: &[TransformRule]) -> Result<()> {
    let mut tx = repo.begin().await?;
    sqlx::query("DELETE FROM transform_rules WHERE connection_id = $1").bind(connection_id).execute(&mut *tx).await?;
    for (position, rule) in rules.iter().enumerate() {
        sqlx::query("INSERT INTO transform_rules (connection_id, position, rule) VALUES ($1, $2, $3)")
            .bind(connection_id)
            .bind(position as i64)
            .bind(rule_to_json(rule))
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

pub(super) async fn transforms(repo: &SqlRepository, connection_id: &str) -> Result<Vec<TransformRule>> {
    let rows = sqlx::query("SELECT rule FROM transform_rules WHERE connection_id = $1 ORDER BY position")
        .bind(connection_id)
        .fetch_all(&repo.pool)
        .await?;
    rows.iter().map(|r| rule_from_json(&r.try_get::<String, _>("rule")?, connection_id)).collect()
}

pub(super) async fn set_owners(repo: &SqlRepository, connection_id: &str, user_ids: &[String]) -> Result<()> {
    // Owners are a set: a name listed twice must not trip the primary key.
    let unique: BTreeSet<&String> = user_ids.iter().collect();
    let mut tx = repo.begin().await?;
    sqlx::query("DELETE FROM connection_owners WHERE connection_id = $1").bind(connection_id).execute(&mut *tx).await?;
    for user_id in unique {
        sqlx::query("INSERT INTO connection_owners (connection_id, user_id) VALUES ($1, $2)")
            .bind(connection_id)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Owner ids in ascending byte order.
pub(super) async fn owners(repo: &SqlRepository, connection_id: &str) -> Result<Vec<String>> {
    let rows = sqlx::query("SELECT user_id FROM connection_owners WHERE connection_id = $1")
        .bind(connection_id)
        .fetch_all(&repo.pool)
        .await?;
    let mut owners = rows.iter().map(|r| r.try_get::<String, _>("user_id")).collect::<sqlx::Result<Vec<_>>>()?;
    // Sorted here, not in SQL: PostgreSQL orders text by the database's locale and SQLite
    // by bytes, and both backends must answer alike.
    owners.sort();
    Ok(owners)
}
