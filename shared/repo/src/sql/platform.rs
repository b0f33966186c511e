//! Platform administration: user accounts (sign-in, search, clearance, the feature flag),
//! what depends on a level, renaming one, withdrawing shares of a deactivated tag, a
//! file's revisions and shares, and the audit log.

use super::codec::{self, flag, tags_from_json, tags_to_json};
use super::{Backend, SqlRepository};
use crate::{
    AuditEntry, ControlTag, LevelUsage, Page, RepoError, Result, Share, SignIn, SignedIn, UserAccount, USAGE_EXAMPLES,
};
use airlock_domain::{Clearance, Millis, Revision};
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, Row};

/// Byte order for ORDER BY on both engines (PostgreSQL would otherwise sort by locale).
fn byte_order(repo: &SqlRepository) -> &'static str {
    match repo.backend {
        Backend::Postgres => "COLLATE \"C\"",
        Backend::Sqlite => "COLLATE BINARY",
    }
}

/// `text` as a LIKE pattern matching itself, with `\` escaping the wildcards.
fn like_escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn account(row: &AnyRow) -> Result<UserAccount> {
    Ok(UserAccount {
        user: codec::user(row)?,
        email: row.try_get("email")?,
        secure_connections: row.try_get::<i64, _>("secure_connections")? != 0,
        created_at: row.try_get("created_at")?,
        last_seen_at: row.try_get("last_seen_at")?,
    })
}

fn count(row: &AnyRow) -> Result<u64> {
    codec::to_u64(row.try_get::<i64, _>("n")?, "row count")
}

pub(super) async fn control_tags(repo: &SqlRepository) -> Result<Vec<ControlTag>> {
    let rows = sqlx::query("SELECT tag, active FROM control_tags").fetch_all(&repo.pool).await?;
    let mut tags = rows
        .iter()
        .map(|r| Ok(ControlTag { tag: r.try_get("tag")?, active: r.try_get::<i64, _>("active")? != 0 }))
        .collect::<Result<Vec<_>>>()?;
    tags.sort_by(|a, b| a.tag.cmp(&b.tag));
    Ok(tags)
}

pub(super) async fn sign_in(repo: &SqlRepository, s: &SignIn) -> Result<SignedIn> {
    // The insert that does nothing on conflict tells, by its row count, which of several
    // first requests at once created the user: only that one is reported as a creation.
    let inserted = sqlx::query(
        "INSERT INTO users (id, name, level_name, level_order, tags, email, secure_connections, created_at, \
         last_seen_at) VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $7) ON CONFLICT (id) DO NOTHING",
    )
    .bind(&s.id)
    .bind(&s.name)
    .bind(&s.initial_clearance.level.name)
    .bind(s.initial_clearance.level.order)
    .bind(tags_to_json(&s.initial_clearance.tags))
    .bind(&s.email)
    .bind(s.at)
    .execute(&repo.pool)
    .await?;
    let created = inserted.rows_affected() == 1;
    if !created {
        // A later sign-in refreshes what the token carries and leaves the clearance and the
        // flag alone; users stored before they ever signed in get their first sign-in time.
        sqlx::query(
            "UPDATE users SET name = $2, email = $3, last_seen_at = $4, \
             created_at = CASE WHEN created_at = 0 THEN $4 ELSE created_at END WHERE id = $1",
        )
        .bind(&s.id)
        .bind(&s.name)
        .bind(&s.email)
        .bind(s.at)
        .execute(&repo.pool)
        .await?;
    }
    let account =
        user_account(repo, &s.id).await?.ok_or_else(|| RepoError::NotFound { what: "user", id: s.id.clone() })?;
    Ok(SignedIn { account, created })
}

pub(super) async fn user_account(repo: &SqlRepository, id: &str) -> Result<Option<UserAccount>> {
    let row = sqlx::query("SELECT * FROM users WHERE id = $1").bind(id).fetch_optional(&repo.pool).await?;
    row.as_ref().map(account).transpose()
}

pub(super) async fn search_users(
    repo: &SqlRepository,
    search: &str,
    limit: u32,
    offset: u32,
) -> Result<Page<UserAccount>> {
    let pattern = format!("%{}%", like_escaped(&search.trim().to_lowercase()));
    let filter = "WHERE LOWER(id) LIKE $1 ESCAPE '\\' OR LOWER(name) LIKE $1 ESCAPE '\\' \
                  OR LOWER(email) LIKE $1 ESCAPE '\\'";
    let total =
        sqlx::query(&format!("SELECT COUNT(*) AS n FROM users {filter}")).bind(&pattern).fetch_one(&repo.pool).await?;
    let order = byte_order(repo);
    let rows =
        sqlx::query(&format!("SELECT * FROM users {filter} ORDER BY name {order}, id {order} LIMIT $2 OFFSET $3"))
            .bind(&pattern)
            .bind(i64::from(limit))
            .bind(i64::from(offset))
            .fetch_all(&repo.pool)
            .await?;
    Ok(Page { total: count(&total)?, items: rows.iter().map(account).collect::<Result<_>>()? })
}

fn user_not_found(id: &str) -> RepoError {
    RepoError::NotFound { what: "user", id: id.to_owned() }
}

pub(super) async fn set_user_clearance(repo: &SqlRepository, id: &str, clearance: &Clearance) -> Result<()> {
    let done = sqlx::query("UPDATE users SET level_name = $2, level_order = $3, tags = $4 WHERE id = $1")
        .bind(id)
        .bind(&clearance.level.name)
        .bind(clearance.level.order)
        .bind(tags_to_json(&clearance.tags))
        .execute(&repo.pool)
        .await?;
    if done.rows_affected() == 0 {
        return Err(user_not_found(id));
    }
    Ok(())
}

pub(super) async fn set_secure_connections(repo: &SqlRepository, id: &str, enabled: bool) -> Result<()> {
    let done = sqlx::query("UPDATE users SET secure_connections = $2 WHERE id = $1")
        .bind(id)
        .bind(flag(enabled))
        .execute(&repo.pool)
        .await?;
    if done.rows_affected() == 0 {
        return Err(user_not_found(id));
    }
    Ok(())
}

#[derive(Clone, Copy)]
enum Key<'a> {
    Name(&'a str),
    Above(i64),
}

fn bound<'q>(query: Query<'q, Any, AnyArguments<'q>>, key: Key<'q>) -> Query<'q, Any, AnyArguments<'q>> {
    match key {
        Key::Name(name) => query.bind(name),
        Key::Above(order) => query.bind(order),
    }
}

/// How many rows `from_where` selects (with `$1` bound to the key) and a few of their labels.
async fn tally(repo: &SqlRepository, from_where: &str, label: &str, key: Key<'_>) -> Result<(u64, Vec<String>)> {
    let total =
        bound(sqlx::query(&format!("SELECT COUNT(*) AS n FROM {from_where}")), key).fetch_one(&repo.pool).await?;
    let order = byte_order(repo);
    let examples_sql =
        format!("SELECT {label} AS label FROM {from_where} ORDER BY {label} {order} LIMIT {USAGE_EXAMPLES}");
    let rows = bound(sqlx::query(&examples_sql), key).fetch_all(&repo.pool).await?;
    let examples = rows.iter().map(|r| r.try_get::<String, _>("label")).collect::<sqlx::Result<Vec<_>>>()?;
    Ok((count(&total)?, examples))
}

pub(super) async fn level_usage(repo: &SqlRepository, name: &str) -> Result<LevelUsage> {
    let key = Key::Name(name);
    let (users, user_examples) = tally(repo, "users WHERE level_name = $1", "name", key).await?;
    let (files, file_examples) =
        tally(repo, "resources WHERE level_name = $1 AND origin_connection_id IS NULL", "name", key).await?;
    let (received, received_examples) =
        tally(repo, "resources WHERE level_name = $1 AND origin_connection_id IS NOT NULL", "name", key).await?;
    let (connections, connection_examples) =
        tally(repo, "connections WHERE permitted_level_name = $1 AND archived_at IS NULL", "name", key).await?;
    Ok(LevelUsage {
        users,
        user_examples,
        files,
        file_examples,
        received,
        received_examples,
        connections,
        connection_examples,
    })
}

pub(super) async fn usage_above(repo: &SqlRepository, order: i64) -> Result<LevelUsage> {
    let key = Key::Above(order);
    let (users, user_examples) = tally(repo, "users WHERE level_order > $1", "name", key).await?;
    let (files, file_examples) =
        tally(repo, "resources WHERE level_order > $1 AND origin_connection_id IS NULL", "name", key).await?;
    let (received, received_examples) =
        tally(repo, "resources WHERE level_order > $1 AND origin_connection_id IS NOT NULL", "name", key).await?;
    Ok(LevelUsage { users, user_examples, files, file_examples, received, received_examples, ..Default::default() })
}

pub(super) async fn rename_level(repo: &SqlRepository, from: &str, to: &str) -> Result<()> {
    let mut tx = repo.begin().await?;
    let taken =
        sqlx::query("SELECT 1 AS one FROM platform_levels WHERE name = $1").bind(to).fetch_optional(&mut *tx).await?;
    if taken.is_some() {
        return Err(RepoError::Conflict(format!("infosec level '{to}' already exists")));
    }
    let renamed = sqlx::query("UPDATE platform_levels SET name = $2 WHERE name = $1")
        .bind(from)
        .bind(to)
        .execute(&mut *tx)
        .await?;
    if renamed.rows_affected() == 0 {
        return Err(RepoError::NotFound { what: "infosec level", id: from.to_owned() });
    }
    for sql in [
        "UPDATE platform_settings SET max_level_name = $2 WHERE max_level_name = $1",
        "UPDATE users SET level_name = $2 WHERE level_name = $1",
        "UPDATE resources SET level_name = $2 WHERE level_name = $1",
        "UPDATE connections SET permitted_level_name = $2 WHERE permitted_level_name = $1",
    ] {
        sqlx::query(sql).bind(from).bind(to).execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Pairs per UPDATE, well under SQLite's limit of bound parameters.
const SHARES_PER_STATEMENT: usize = 400;

pub(super) async fn remove_shares_with_tag(
    repo: &SqlRepository,
    tag: &str,
    reason: &str,
    at: Millis,
) -> Result<Vec<Share>> {
    // LIKE narrows the rows to those whose tag text mentions the tag; the exact check is
    // on the decoded set, since the pattern alone can't tell "A" from "A\"B".
    let quoted = serde_json::to_string(tag).expect("a string always serializes to JSON");
    let pattern = format!("%{}%", like_escaped(&quoted));
    let mut tx = repo.begin().await?;
    let rows = sqlx::query(
        "SELECT s.*, r.tags AS resource_tags FROM shares s \
         JOIN resources r ON r.id = s.resource_id JOIN connections c ON c.id = s.connection_id \
         WHERE s.removed_at IS NULL AND c.kind = 'sending' AND r.tags LIKE $1 ESCAPE '\\'",
    )
    .bind(&pattern)
    .fetch_all(&mut *tx)
    .await?;
    let mut removed = Vec::new();
    for row in &rows {
        let share = codec::share(row)?;
        let tags =
            tags_from_json(&row.try_get::<String, _>("resource_tags")?, &format!("resource '{}'", share.resource_id))?;
        if tags.contains(tag) {
            removed.push(Share { removed_at: Some(at), removed_reason: Some(reason.to_owned()), ..share });
        }
    }
    for chunk in removed.chunks(SHARES_PER_STATEMENT) {
        let pairs: Vec<String> = (0..chunk.len()).map(|i| format!("(${}, ${})", 3 + 2 * i, 4 + 2 * i)).collect();
        let sql = format!(
            "UPDATE shares SET removed_at = $1, removed_reason = $2 \
             WHERE removed_at IS NULL AND (connection_id, resource_id) IN ({})",
            pairs.join(", ")
        );
        let mut query = sqlx::query(&sql).bind(at).bind(reason);
        for share in chunk {
            query = query.bind(&share.connection_id).bind(&share.resource_id);
        }
        query.execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(removed)
}

pub(super) async fn resource_shares(repo: &SqlRepository, resource_id: &str) -> Result<Vec<Share>> {
    let rows = sqlx::query(
        "SELECT s.* FROM shares s JOIN connections c ON c.id = s.connection_id \
         WHERE s.resource_id = $1 AND s.removed_at IS NULL AND c.kind = 'sending'",
    )
    .bind(resource_id)
    .fetch_all(&repo.pool)
    .await?;
    let mut shares = rows.iter().map(codec::share).collect::<Result<Vec<_>>>()?;
    shares.sort_by(|a, b| (a.shared_at, &a.connection_id).cmp(&(b.shared_at, &b.connection_id)));
    Ok(shares)
}

pub(super) async fn revisions(repo: &SqlRepository, resource_id: &str) -> Result<Vec<Revision>> {
    let rows = sqlx::query("SELECT * FROM revisions WHERE resource_id = $1 ORDER BY created_at DESC, id DESC")
        .bind(resource_id)
        .fetch_all(&repo.pool)
        .await?;
    rows.iter().map(codec::revision).collect()
}

/// Two writers may pick the same next `seq` on PostgreSQL; the loser tries again.
const AUDIT_ATTEMPTS: usize = 5;

pub(super) async fn record_audit(repo: &SqlRepository, entry: &AuditEntry) -> Result<()> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let result = sqlx::query(
            "INSERT INTO audit_log (seq, id, at, actor, action, target, before_json, after_json) \
             SELECT COALESCE(MAX(seq), 0) + 1, CAST($1 AS TEXT), CAST($2 AS BIGINT), CAST($3 AS TEXT), \
             CAST($4 AS TEXT), CAST($5 AS TEXT), CAST($6 AS TEXT), CAST($7 AS TEXT) FROM audit_log",
        )
        .bind(&entry.id)
        .bind(entry.at)
        .bind(&entry.actor)
        .bind(&entry.action)
        .bind(&entry.target)
        .bind(&entry.before)
        .bind(&entry.after)
        .execute(&repo.pool)
        .await;
        match result {
            Ok(_) => return Ok(()),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() && attempt < AUDIT_ATTEMPTS => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

pub(super) async fn audit_entries(repo: &SqlRepository, limit: u32, offset: u32) -> Result<Page<AuditEntry>> {
    let total = sqlx::query("SELECT COUNT(*) AS n FROM audit_log").fetch_one(&repo.pool).await?;
    let rows = sqlx::query("SELECT * FROM audit_log ORDER BY seq DESC LIMIT $1 OFFSET $2")
        .bind(i64::from(limit))
        .bind(i64::from(offset))
        .fetch_all(&repo.pool)
        .await?;
    let items = rows
        .iter()
        .map(|r| {
            Ok(AuditEntry {
                id: r.try_get("id")?,
                at: r.try_get("at")?,
                actor: r.try_get("actor")?,
                action: r.try_get("action")?,
                target: r.try_get("target")?,
                before: r.try_get("before_json")?,
                after: r.try_get("after_json")?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Page { total: count(&total)?, items })
}
