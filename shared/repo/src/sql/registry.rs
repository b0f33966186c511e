//! Platform settings, control tags, users, resources, revisions and view grants.

use super::codec::{self, flag, tags_to_json, to_i64};
use super::SqlRepository;
use crate::Result;
use airlock_domain::{InfosecLevel, PlatformSettings, Resource, Revision, TagSet, User};
use sqlx::{AnyConnection, Row};

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

const DEFAULT_LEVEL: &str = "UNCLASSIFIED";

/// Before an administrator saves anything: classification on, with a single level.
fn default_platform() -> PlatformSettings {
    let level = InfosecLevel::new(DEFAULT_LEVEL, 0);
    PlatformSettings { infosec_enabled: true, levels: vec![level.clone()], max_level: level }
}

pub(super) async fn platform(repo: &SqlRepository) -> Result<PlatformSettings> {
    let Some(row) = sqlx::query("SELECT * FROM platform_settings WHERE id = 1").fetch_optional(&repo.pool).await?
    else {
        return Ok(default_platform());
    };
    let levels = sqlx::query("SELECT name, level_order FROM platform_levels ORDER BY position")
        .fetch_all(&repo.pool)
        .await?
        .iter()
        .map(|r| Ok(InfosecLevel::new(r.try_get::<String, _>("name")?, r.try_get::<i64, _>("level_order")?)))
        .collect::<Result<Vec<_>>>()?;
    Ok(PlatformSettings {
        infosec_enabled: row.try_get::<i64, _>("infosec_enabled")? != 0,
        levels,
        max_level: InfosecLevel::new(
            row.try_get::<String, _>("max_level_name")?,
            row.try_get::<i64, _>("max_level_order")?,
        ),
    })
}

pub(super) async fn save_platform(repo: &SqlRepository, settings: &PlatformSettings) -> Result<()> {
    let mut tx = repo.begin().await?;
    sqlx::query(
        "INSERT INTO platform_settings (id, infosec_enabled, max_level_name, max_level_order) \
         VALUES (1, $1, $2, $3) \
         ON CONFLICT (id) DO UPDATE SET infosec_enabled = excluded.infosec_enabled, \
         max_level_name = excluded.max_level_name, max_level_order = excluded.max_level_order",
    )
    .bind(flag(settings.infosec_enabled))
    .bind(&settings.max_level.name)
    .bind(settings.max_level.order)
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM platform_levels").execute(&mut *tx).await?;
    for (position, level) in settings.levels.iter().enumerate() {
        sqlx::query("INSERT INTO platform_levels (position, name, level_order) VALUES ($1, $2, $3)")
            .bind(position as i64)
            .bind(&level.name)
            .bind(level.order)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

pub(super) async fn put_control_tag(repo: &SqlRepository, tag: &str, active: bool) -> Result<()> {
    sqlx::query(
        "INSERT INTO control_tags (tag, active) VALUES ($1, $2) \
         ON CONFLICT (tag) DO UPDATE SET active = excluded.active",
    )
    .bind(tag)
    .bind(flag(active))
    .execute(&repo.pool)
    .await?;
    Ok(())
}

pub(super) async fn active_control_tags(repo: &SqlRepository) -> Result<TagSet> {
    let rows = sqlx::query("SELECT tag FROM control_tags WHERE active = 1").fetch_all(&repo.pool).await?;
    Ok(rows.iter().map(|r| r.try_get::<String, _>("tag")).collect::<sqlx::Result<_>>()?)
}

pub(super) async fn put_user(repo: &SqlRepository, user: &User) -> Result<()> {
    sqlx::query(
        "INSERT INTO users (id, name, level_name, level_order, tags) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, level_name = excluded.level_name, \
         level_order = excluded.level_order, tags = excluded.tags",
    )
    .bind(&user.id)
    .bind(&user.name)
    .bind(&user.clearance.level.name)
    .bind(user.clearance.level.order)
    .bind(tags_to_json(&user.clearance.tags))
    .execute(&repo.pool)
    .await?;
    Ok(())
}

pub(super) async fn user(repo: &SqlRepository, id: &str) -> Result<Option<User>> {
    let row = sqlx::query("SELECT * FROM users WHERE id = $1").bind(id).fetch_optional(&repo.pool).await?;
    row.as_ref().map(codec::user).transpose()
}

pub(super) async fn users(repo: &SqlRepository) -> Result<Vec<User>> {
    let rows = sqlx::query("SELECT * FROM users").fetch_all(&repo.pool).await?;
    let mut users = rows.iter().map(codec::user).collect::<Result<Vec<_>>>()?;
    // Sorted here, not in SQL: PostgreSQL orders text by the database's locale and SQLite
    // by bytes, and both backends must answer alike.
    users.sort_by(|a, b| (&a.name, &a.id).cmp(&(&b.name, &b.id)));
    Ok(users)
}

/// The nine columns both resource writes start with, bound as `$1`..`$9` in table order.
fn bind_resource<'q>(query: AnyQuery<'q>, resource: &'q Resource) -> AnyQuery<'q> {
    query
        .bind(&resource.id)
        .bind(&resource.name)
        .bind(&resource.owner_id)
        .bind(&resource.level.name)
        .bind(resource.level.order)
        .bind(tags_to_json(&resource.tags))
        .bind(&resource.origin_connection_id)
        .bind(resource.created_at)
        .bind(resource.withdrawn_at)
}

pub(super) async fn put_resource(conn: &mut AnyConnection, resource: &Resource) -> Result<()> {
    let query = sqlx::query(
        "INSERT INTO resources \
         (id, name, owner_id, level_name, level_order, tags, origin_connection_id, created_at, withdrawn_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, owner_id = excluded.owner_id, \
         level_name = excluded.level_name, level_order = excluded.level_order, tags = excluded.tags, \
         origin_connection_id = excluded.origin_connection_id, created_at = excluded.created_at, \
         withdrawn_at = excluded.withdrawn_at",
    );
    bind_resource(query, resource).execute(conn).await?;
    Ok(())
}

pub(super) async fn resources_of(repo: &SqlRepository, ids: &[String]) -> Result<Vec<Resource>> {
    let sql = "SELECT * FROM resources WHERE id IN ({keys})";
    super::rows_in(&mut *repo.pool.acquire().await?, sql, None, ids, codec::resource).await
}

pub(super) async fn resource(repo: &SqlRepository, id: &str) -> Result<Option<Resource>> {
    let row = sqlx::query("SELECT * FROM resources WHERE id = $1").bind(id).fetch_optional(&repo.pool).await?;
    row.as_ref().map(codec::resource).transpose()
}

/// Revisions are immutable: a repeated insert (a redelivered upload) keeps the first. One
/// statement for the lot (the caller chunks).
pub(super) async fn add_revisions(conn: &mut AnyConnection, revisions: &[&Revision]) -> Result<()> {
    if revisions.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "INSERT INTO revisions (id, resource_id, size, sha256, blob_key, created_at) VALUES {} \
         ON CONFLICT (id) DO NOTHING",
        codec::value_rows(revisions.len(), 6, 1)
    );
    let sql = super::for_engine(conn, sql);
    let mut query = sqlx::query(&sql);
    for revision in revisions {
        query = query
            .bind(&revision.id)
            .bind(&revision.resource_id)
            .bind(to_i64(revision.size, "revision size")?)
            .bind(&revision.sha256)
            .bind(&revision.blob_key)
            .bind(revision.created_at);
    }
    query.execute(conn).await?;
    Ok(())
}

/// Which of these revisions are stored, a hundred ids per query.
pub(super) async fn stored_revisions(repo: &SqlRepository, ids: &[String]) -> Result<Vec<String>> {
    let sql = "SELECT id FROM revisions WHERE id IN ({keys})";
    super::rows_in(&mut *repo.pool.acquire().await?, sql, None, ids, |row| Ok(row.try_get("id")?)).await
}

pub(super) async fn revision(repo: &SqlRepository, id: &str) -> Result<Option<Revision>> {
    let row = sqlx::query("SELECT * FROM revisions WHERE id = $1").bind(id).fetch_optional(&repo.pool).await?;
    row.as_ref().map(codec::revision).transpose()
}

pub(super) async fn latest_revision(repo: &SqlRepository, resource_id: &str) -> Result<Option<Revision>> {
    // A received file's current revision is the one of its newest applied entry, which a
    // late older ingest may have stored after it: the time a revision was stored says
    // nothing about which is newer. Local files have no pointer; their newest upload wins.
    let row = sqlx::query(
        "SELECT v.* FROM revisions v WHERE v.resource_id = $1 ORDER BY \
         CASE WHEN v.id = (SELECT current_revision_id FROM resources WHERE id = $1) THEN 0 ELSE 1 END, \
         v.created_at DESC, v.id DESC LIMIT 1",
    )
    .bind(resource_id)
    .fetch_optional(&repo.pool)
    .await?;
    row.as_ref().map(codec::revision).transpose()
}

/// The local copies of received resources, as the newest applied changes left them, with
/// their current revisions: one statement for the lot (the caller chunks). An existing
/// row keeps its creation time; a file of another origin that holds one of their ids is
/// left as it is.
pub(super) async fn upsert_received(conn: &mut AnyConnection, received: &[(&Resource, &str)]) -> Result<()> {
    if received.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "INSERT INTO resources (id, name, owner_id, level_name, level_order, tags, origin_connection_id, \
         created_at, withdrawn_at, current_revision_id) VALUES {} \
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, owner_id = excluded.owner_id, \
         level_name = excluded.level_name, level_order = excluded.level_order, tags = excluded.tags, \
         origin_connection_id = excluded.origin_connection_id, withdrawn_at = excluded.withdrawn_at, \
         current_revision_id = excluded.current_revision_id \
         WHERE resources.origin_connection_id IS NOT DISTINCT FROM excluded.origin_connection_id",
        codec::value_rows(received.len(), 10, 1)
    );
    let sql = super::for_engine(conn, sql);
    let mut query = sqlx::query(&sql);
    for (resource, revision_id) in received {
        query = bind_resource(query, resource).bind(*revision_id);
    }
    query.execute(conn).await?;
    Ok(())
}

pub(super) async fn grant_view(repo: &SqlRepository, resource_id: &str, user_id: &str) -> Result<()> {
    sqlx::query("INSERT INTO grants (resource_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
        .bind(resource_id)
        .bind(user_id)
        .execute(&repo.pool)
        .await?;
    Ok(())
}

pub(super) async fn reachable_resources(repo: &SqlRepository, user_id: &str) -> Result<Vec<Resource>> {
    let query = sqlx::query(
        "SELECT r.* FROM resources r WHERE r.withdrawn_at IS NULL AND ( \
             r.owner_id = $1 \
             OR EXISTS (SELECT 1 FROM grants g WHERE g.resource_id = r.id AND g.user_id = $1) \
             OR EXISTS (SELECT 1 FROM connection_owners o \
                        WHERE o.connection_id = r.origin_connection_id AND o.user_id = $1))",
    );
    let mut resources = super::decoded(&repo.pool, query.bind(user_id), codec::resource).await?;
    // By name in byte order, the same on both backends (see `users`).
    resources.sort_by(|a, b| (&a.name, &a.id).cmp(&(&b.name, &b.id)));
    Ok(resources)
}
