//! What moves over a connection: shares, published entries and manifest sequences on the
//! sending side; manifest state, applied entries and incoming tags on the receiving side.

use super::codec::{self, tags_from_json, tags_to_json, to_i64, to_u64};
use super::SqlRepository;
use crate::{
    AppliedEntry, ApplyOutcome, LocalChange, ManifestState, PublishedEntry, ReceivedChange, Result, ShardState, Share,
    SharedSource, ROOT_STATE_SHARD,
};
use airlock_domain::{Millis, TagSet};
use airlock_domain::{Resource, Revision};
use sqlx::{AnyConnection, Row};
use std::collections::{HashMap, HashSet};

pub(super) async fn share(
    conn: &mut AnyConnection,
    connection_id: &str,
    resource_id: &str,
    shared_by: &str,
    at: Millis,
) -> Result<()> {
    // Sharing an active share again keeps its original time and sharer; only a removed
    // share is brought back (with the new ones).
    sqlx::query(
        "INSERT INTO shares (connection_id, resource_id, shared_by, shared_at, removed_at, removed_reason) \
         VALUES ($1, $2, $3, $4, NULL, NULL) \
         ON CONFLICT (connection_id, resource_id) DO UPDATE SET shared_by = excluded.shared_by, \
         shared_at = excluded.shared_at, removed_at = NULL, removed_reason = NULL \
         WHERE shares.removed_at IS NOT NULL",
    )
    .bind(connection_id)
    .bind(resource_id)
    .bind(shared_by)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Shares ordered by the time they were made.
pub(super) async fn shares(repo: &SqlRepository, connection_id: &str, include_removed: bool) -> Result<Vec<Share>> {
    let sql = if include_removed {
        "SELECT * FROM shares WHERE connection_id = $1 ORDER BY shared_at, resource_id"
    } else {
        "SELECT * FROM shares WHERE connection_id = $1 AND removed_at IS NULL ORDER BY shared_at, resource_id"
    };
    let rows = sqlx::query(sql).bind(connection_id).fetch_all(&repo.pool).await?;
    rows.iter().map(codec::share).collect()
}

/// Each active share of these files with its resource and that resource's current revision
/// (as `latest_revision` picks it): two queries per hundred files asked for.
pub(super) async fn shared_sources_of(
    repo: &SqlRepository,
    connection_id: &str,
    ids: &[String],
) -> Result<Vec<SharedSource>> {
    let mut sources = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(super::ROWS_PER_STATEMENT) {
        let keys: Vec<&str> = chunk.iter().map(String::as_str).collect();
        let filter = format!(" AND s.resource_id IN ({})", codec::value_list(keys.len(), 2));
        let sql = active_shares_where(&filter, SHARES_WITH_RESOURCES) + " ORDER BY s.shared_at, s.resource_id";
        let shares = super::decoded(&repo.pool, scoped(&sql, connection_id, &keys), share_with_resource).await?;
        sources.extend(with_revisions(repo, connection_id, &filter, &keys, shares).await?);
    }
    Ok(sources)
}

/// A page of the active shares in resource id order, with their resources and current
/// revisions: the page's shares with their resources, then the revisions of the ids from
/// `after` to its last one.
pub(super) async fn shared_sources_page(
    repo: &SqlRepository,
    connection_id: &str,
    after: &str,
    limit: u32,
) -> Result<Vec<SharedSource>> {
    let sql =
        active_shares_where(" AND s.resource_id > $2", SHARES_WITH_RESOURCES) + " ORDER BY s.resource_id LIMIT $3";
    let query = sqlx::query(&sql).bind(connection_id).bind(after).bind(i64::from(limit));
    let shares = super::decoded(&repo.pool, query, share_with_resource).await?;
    let Some(last) = shares.last().map(|(share, _)| share.resource_id.clone()) else {
        return Ok(Vec::new());
    };
    let filter = " AND s.resource_id > $2 AND s.resource_id <= $3";
    with_revisions(repo, connection_id, filter, &[after, &last], shares).await
}

/// `SELECT what` of a connection's active shares (`s`), narrowed by `filter`.
fn active_shares_where(filter: &str, what: &str) -> String {
    format!("SELECT {what} WHERE s.connection_id = $1 AND s.removed_at IS NULL{filter}")
}

/// Shares with their resources, if any, in one row each: the two tables' columns have no
/// name in common (a share names its resource `resource_id`, the resource itself `id`).
const SHARES_WITH_RESOURCES: &str = "s.*, r.* FROM shares s LEFT JOIN resources r ON r.id = s.resource_id";

/// A share, with its resource and the revision the resource points at (a received file's
/// newest applied entry; `None` for a local file), or no resource when it is gone.
type ShareRow = (Share, Option<(Resource, Option<String>)>);

fn share_with_resource(row: &sqlx::any::AnyRow) -> Result<ShareRow> {
    let resource = match row.try_get::<Option<String>, _>("id")? {
        Some(_) => Some((codec::resource(row)?, row.try_get::<Option<String>, _>("current_revision_id")?)),
        None => None,
    };
    Ok((codec::share(row)?, resource))
}

/// A statement over one connection's shares, the filter's keys bound from `$2` on.
fn scoped<'q>(
    sql: &'q str,
    connection_id: &'q str,
    keys: &'q [&'q str],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    keys.iter().fold(sqlx::query(sql).bind(connection_id), |query, key| query.bind(*key))
}

/// The shares read under `filter` with their resources, each given its current revision,
/// read under the same filter: one query whatever the number of shares.
async fn with_revisions(
    repo: &SqlRepository,
    connection_id: &str,
    filter: &str,
    keys: &[&str],
    shares: Vec<ShareRow>,
) -> Result<Vec<SharedSource>> {
    // A received file's current revision is the one its newest applied entry points at;
    // a local file's is its newest upload (as `latest_revision` picks it).
    let current: HashMap<&str, Option<&str>> = shares
        .iter()
        .filter_map(|(_, resource)| resource.as_ref())
        .map(|(resource, pointed)| (resource.id.as_str(), pointed.as_deref()))
        .collect();
    // Every revision of the shared files in one plain join, the current one picked here:
    // a correlated subquery per row took over a second at 100,000 files.
    let sql = active_shares_where(filter, "v.* FROM shares s JOIN revisions v ON v.resource_id = s.resource_id");
    let rows = super::decoded(&repo.pool, scoped(&sql, connection_id, keys), codec::revision).await?;
    let mut revisions: HashMap<String, Revision> = HashMap::with_capacity(current.len());
    for revision in rows {
        let pointed = current.get(revision.resource_id.as_str()).copied().flatten();
        let better = match revisions.get(&revision.resource_id) {
            None => true,
            Some(held) if pointed == Some(held.id.as_str()) => false,
            Some(_) if pointed == Some(revision.id.as_str()) => true,
            Some(held) => (revision.created_at, &revision.id) > (held.created_at, &held.id),
        };
        if better {
            revisions.insert(revision.resource_id.clone(), revision);
        }
    }
    Ok(shares
        .into_iter()
        .map(|(share, resource)| SharedSource {
            revision: revisions.remove(&share.resource_id),
            resource: resource.map(|(resource, _)| resource),
            share,
        })
        .collect())
}

/// Removing a share that is already removed keeps the first time and reason; removing one
/// that never existed does nothing, so a redelivered removal is harmless.
pub(super) async fn remove_share(
    conn: &mut AnyConnection,
    connection_id: &str,
    resource_id: &str,
    reason: &str,
    at: Millis,
) -> Result<()> {
    sqlx::query(
        "UPDATE shares SET removed_at = $3, removed_reason = $4 \
         WHERE connection_id = $1 AND resource_id = $2 AND removed_at IS NULL",
    )
    .bind(connection_id)
    .bind(resource_id)
    .bind(at)
    .bind(reason)
    .execute(conn)
    .await?;
    Ok(())
}

/// Published entries ordered by shard, then resource id.
pub(super) async fn published(repo: &SqlRepository, connection_id: &str) -> Result<Vec<PublishedEntry>> {
    let query = sqlx::query("SELECT * FROM published WHERE connection_id = $1 ORDER BY shard, resource_id");
    super::decoded(&repo.pool, query.bind(connection_id), codec::published).await
}

/// Published records after `after` and up to `upto` (to the last if `None`), by resource id.
pub(super) async fn published_between(
    repo: &SqlRepository,
    connection_id: &str,
    after: &str,
    upto: Option<&str>,
) -> Result<Vec<PublishedEntry>> {
    let query = match upto {
        Some(upto) => sqlx::query(
            "SELECT * FROM published WHERE connection_id = $1 AND resource_id > $2 AND resource_id <= $3 \
             ORDER BY resource_id",
        )
        .bind(connection_id)
        .bind(after)
        .bind(upto),
        None => {
            sqlx::query("SELECT * FROM published WHERE connection_id = $1 AND resource_id > $2 ORDER BY resource_id")
                .bind(connection_id)
                .bind(after)
        }
    };
    super::decoded(&repo.pool, query, codec::published).await
}

/// The published records of these files, a hundred per query.
pub(super) async fn published_of(
    repo: &SqlRepository,
    connection_id: &str,
    resource_ids: &[String],
) -> Result<Vec<PublishedEntry>> {
    let sql = "SELECT * FROM published WHERE connection_id = $1 AND resource_id IN ({keys})";
    super::rows_in(&mut *repo.pool.acquire().await?, sql, Some(connection_id), resource_ids, codec::published).await
}

pub(super) async fn put_published(repo: &SqlRepository, entry: &PublishedEntry) -> Result<()> {
    let mut conn = repo.pool.acquire().await?;
    put_published_in(&mut conn, &[entry]).await
}

/// Writes published records, one statement for the lot (the caller chunks).
pub(super) async fn put_published_in(conn: &mut AnyConnection, entries: &[&PublishedEntry]) -> Result<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "INSERT INTO published (connection_id, resource_id, revision_id, shard, object_key, entry_json) \
         VALUES {} \
         ON CONFLICT (connection_id, resource_id) DO UPDATE SET revision_id = excluded.revision_id, \
         shard = excluded.shard, object_key = excluded.object_key, entry_json = excluded.entry_json",
        codec::value_rows(entries.len(), 6, 1)
    );
    let sql = super::for_engine(conn, sql);
    let mut query = sqlx::query(&sql);
    for entry in entries {
        query = query
            .bind(&entry.connection_id)
            .bind(&entry.resource_id)
            .bind(&entry.revision_id)
            .bind(i64::from(entry.shard))
            .bind(&entry.object_key)
            .bind(&entry.entry_json);
    }
    query.execute(conn).await?;
    Ok(())
}

pub(super) async fn delete_published(repo: &SqlRepository, connection_id: &str, resource_id: &str) -> Result<()> {
    sqlx::query("DELETE FROM published WHERE connection_id = $1 AND resource_id = $2")
        .bind(connection_id)
        .bind(resource_id)
        .execute(&repo.pool)
        .await?;
    Ok(())
}

pub(super) async fn next_manifest_sequence(repo: &SqlRepository, connection_id: &str) -> Result<u64> {
    // One statement, so both engines apply it atomically: concurrent callers each get
    // their own number without an explicit transaction.
    let row = sqlx::query(
        "INSERT INTO manifest_sequences (connection_id, last_sequence) VALUES ($1, 1) \
         ON CONFLICT (connection_id) DO UPDATE SET last_sequence = manifest_sequences.last_sequence + 1 \
         RETURNING last_sequence",
    )
    .bind(connection_id)
    .fetch_one(&repo.pool)
    .await?;
    to_u64(row.try_get("last_sequence")?, &format!("manifest sequence of connection '{connection_id}'"))
}

pub(super) async fn manifest_state(
    repo: &SqlRepository,
    connection_id: &str,
    shard: u32,
) -> Result<Option<ManifestState>> {
    let row = sqlx::query("SELECT * FROM manifest_state WHERE connection_id = $1 AND shard = $2")
        .bind(connection_id)
        .bind(i64::from(shard))
        .fetch_optional(&repo.pool)
        .await?;
    row.as_ref().map(codec::manifest_state).transpose()
}

pub(super) async fn put_manifest_state(repo: &SqlRepository, state: &ManifestState) -> Result<ApplyOutcome> {
    let mut tx = repo.begin().await?;
    // One conditional upsert: two validations finishing in either order leave the newer
    // manifest's state, so an older manifest can never be taken for 'unchanged' later.
    let written = sqlx::query(
        "INSERT INTO manifest_state (connection_id, shard, sequence, digest) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (connection_id, shard) DO UPDATE SET sequence = excluded.sequence, digest = excluded.digest \
         WHERE manifest_state.sequence < excluded.sequence",
    )
    .bind(&state.connection_id)
    .bind(i64::from(state.shard))
    .bind(to_i64(state.sequence, "manifest sequence")?)
    .bind(&state.digest)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let outcome = if written > 0 {
        ApplyOutcome::Applied
    } else {
        let row = sqlx::query("SELECT sequence FROM manifest_state WHERE connection_id = $1 AND shard = $2")
            .bind(&state.connection_id)
            .bind(i64::from(state.shard))
            .fetch_one(&mut *tx)
            .await?;
        let stored = to_u64(row.try_get("sequence")?, "stored manifest sequence")?;
        compare(stored, state.sequence)
    };
    tx.commit().await?;
    Ok(outcome)
}

pub(super) async fn reset_replay_state(repo: &SqlRepository, connection_id: &str) -> Result<()> {
    let mut tx = repo.begin().await?;
    sqlx::query("DELETE FROM manifest_state WHERE connection_id = $1").bind(connection_id).execute(&mut *tx).await?;
    sqlx::query("UPDATE applied SET sequence = 0 WHERE connection_id = $1")
        .bind(connection_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// What a write of `ours` that found `stored` in place (and so wrote nothing) means.
fn compare(stored: u64, ours: u64) -> ApplyOutcome {
    if stored > ours {
        ApplyOutcome::Superseded { by: stored }
    } else {
        ApplyOutcome::Current
    }
}

/// Applied entries ordered by remote resource id.
pub(super) async fn applied(repo: &SqlRepository, connection_id: &str) -> Result<Vec<AppliedEntry>> {
    let query =
        sqlx::query("SELECT * FROM applied WHERE connection_id = $1 AND withdrawn = 0 ORDER BY remote_resource_id");
    super::decoded(&repo.pool, query.bind(connection_id), codec::applied).await
}

pub(super) async fn applied_in_shard(
    repo: &SqlRepository,
    connection_id: &str,
    shard: u32,
) -> Result<Vec<AppliedEntry>> {
    let query = sqlx::query(
        "SELECT * FROM applied WHERE connection_id = $1 AND shard = $2 AND withdrawn = 0 ORDER BY remote_resource_id",
    );
    super::decoded(&repo.pool, query.bind(connection_id).bind(i64::from(shard)), codec::applied).await
}

pub(super) async fn shard_states(repo: &SqlRepository, connection_id: &str) -> Result<Vec<ShardState>> {
    let rows = sqlx::query("SELECT shard, digest FROM manifest_state WHERE connection_id = $1 AND shard <> $2")
        .bind(connection_id)
        .bind(i64::from(ROOT_STATE_SHARD))
        .fetch_all(&repo.pool)
        .await?;
    rows.iter()
        .map(|row| {
            Ok(ShardState {
                shard: codec::to_u32(row.try_get("shard")?, "shard of a manifest state")?,
                digest: row.try_get("digest")?,
            })
        })
        .collect()
}

/// One shard recorded as applied at `sequence`, unless a newer sequence is recorded.
pub(super) async fn record_shard_state(
    conn: &mut AnyConnection,
    connection_id: &str,
    sequence: i64,
    state: &ShardState,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO manifest_state (connection_id, shard, sequence, digest) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (connection_id, shard) DO UPDATE SET sequence = excluded.sequence, digest = excluded.digest \
         WHERE manifest_state.sequence <= excluded.sequence",
    )
    .bind(connection_id)
    .bind(i64::from(state.shard))
    .bind(sequence)
    .bind(&state.digest)
    .execute(conn)
    .await?;
    Ok(())
}

pub(super) async fn applied_entry(
    repo: &SqlRepository,
    connection_id: &str,
    remote_resource_id: &str,
) -> Result<Option<AppliedEntry>> {
    let row = sqlx::query("SELECT * FROM applied WHERE connection_id = $1 AND remote_resource_id = $2")
        .bind(connection_id)
        .bind(remote_resource_id)
        .fetch_optional(&repo.pool)
        .await?;
    row.as_ref().map(codec::applied).transpose()
}

pub(super) async fn applied_entries(
    repo: &SqlRepository,
    connection_id: &str,
    remote_resource_ids: &[String],
) -> Result<Vec<AppliedEntry>> {
    let sql = "SELECT * FROM applied WHERE connection_id = $1 AND remote_resource_id IN ({keys})";
    super::rows_in(&mut *repo.pool.acquire().await?, sql, Some(connection_id), remote_resource_ids, codec::applied)
        .await
}

/// Applies a batch of received changes in one transaction, in a few statements whatever
/// its size: the revisions, then the conditional upsert of every entry (the rows it wrote
/// come back), the stored sequences of those it did not write, then the local changes of
/// those it did. The upsert locks the entries' rows (PostgreSQL) or the database (SQLite,
/// BEGIN IMMEDIATE) until commit, so two batches touching one resource decide one after
/// the other, each against what the other wrote.
pub(super) async fn apply_changes(repo: &SqlRepository, changes: &[ReceivedChange]) -> Result<Vec<ApplyOutcome>> {
    // Of two changes of one resource in the batch, the newer decides (one statement may
    // not write a row twice); the other is compared with it afterwards.
    let mut deciding: HashMap<(&str, &str), usize> = HashMap::new();
    for (i, change) in changes.iter().enumerate() {
        let key = (change.entry.connection_id.as_str(), change.entry.remote_resource_id.as_str());
        let newest = deciding.entry(key).or_insert(i);
        if changes[*newest].entry.sequence < change.entry.sequence {
            *newest = i;
        }
    }
    // In key order, so that two transactions lock shared rows in the same order.
    let mut order: Vec<usize> = deciding.values().copied().collect();
    order.sort_unstable_by_key(|&i| (&changes[i].entry.connection_id, &changes[i].entry.remote_resource_id));

    let mut tx = repo.begin().await?;
    let revisions: Vec<&Revision> = changes.iter().filter_map(|c| c.revision.as_ref()).collect();
    for chunk in revisions.chunks(super::ROWS_PER_STATEMENT) {
        super::registry::add_revisions(&mut tx, chunk).await?;
    }
    let mut written: HashSet<(String, String)> = HashSet::new();
    for chunk in order.chunks(super::ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO applied (connection_id, remote_resource_id, shard, entry_digest, local_resource_id, \
             sequence, withdrawn) VALUES {} \
             ON CONFLICT (connection_id, remote_resource_id) DO UPDATE SET shard = excluded.shard, \
             entry_digest = excluded.entry_digest, local_resource_id = excluded.local_resource_id, \
             sequence = excluded.sequence, withdrawn = excluded.withdrawn \
             WHERE applied.sequence < excluded.sequence RETURNING connection_id, remote_resource_id",
            codec::value_rows(chunk.len(), 7, 1)
        );
        let sql = super::for_engine(&tx, sql);
        let mut query = sqlx::query(&sql);
        for &i in chunk {
            let entry = &changes[i].entry;
            query = query
                .bind(&entry.connection_id)
                .bind(&entry.remote_resource_id)
                .bind(i64::from(entry.shard))
                .bind(&entry.entry_digest)
                .bind(&entry.local_resource_id)
                .bind(to_i64(entry.sequence, "manifest sequence")?)
                .bind(codec::flag(entry.withdrawn));
        }
        for row in query.fetch_all(&mut *tx).await? {
            written.insert((row.try_get("connection_id")?, row.try_get("remote_resource_id")?));
        }
    }
    let key = |i: usize| (changes[i].entry.connection_id.clone(), changes[i].entry.remote_resource_id.clone());
    let (applied, lost): (Vec<usize>, Vec<usize>) = order.iter().partition(|&&i| written.contains(&key(i)));
    let stored = stored_sequences(&mut tx, changes, &lost).await?;

    let upserts: Vec<(&Resource, &str)> = applied
        .iter()
        .filter_map(|&i| match &changes[i].change {
            LocalChange::Upsert { resource, revision_id } => Some((resource, revision_id.as_str())),
            LocalChange::Withdraw { .. } => None,
        })
        .collect();
    for chunk in upserts.chunks(super::ROWS_PER_STATEMENT) {
        super::registry::upsert_received(&mut tx, chunk).await?;
    }
    for &i in &applied {
        if let LocalChange::Withdraw { at } = changes[i].change {
            withdraw_local(&mut tx, &changes[i].entry, at).await?;
        }
    }
    let changed: Vec<&str> = applied.iter().map(|&i| changes[i].entry.local_resource_id.as_str()).collect();
    super::runs::mark_files_changed(&mut tx, &changed).await?;
    tx.commit().await?;

    let mut outcomes = vec![ApplyOutcome::Current; changes.len()];
    for &i in &applied {
        outcomes[i] = ApplyOutcome::Applied;
    }
    for &i in &lost {
        outcomes[i] = compare(stored.get(&key(i)).copied().unwrap_or(0), changes[i].entry.sequence);
    }
    for (i, change) in changes.iter().enumerate() {
        let newest = deciding[&(change.entry.connection_id.as_str(), change.entry.remote_resource_id.as_str())];
        if newest != i {
            let by = match outcomes[newest] {
                ApplyOutcome::Superseded { by } => by,
                _ => changes[newest].entry.sequence,
            };
            outcomes[i] = compare(by, change.entry.sequence);
        }
    }
    Ok(outcomes)
}

/// The stored sequences of the entries `lost` points at, read within the transaction.
async fn stored_sequences(
    conn: &mut AnyConnection,
    changes: &[ReceivedChange],
    lost: &[usize],
) -> Result<HashMap<(String, String), u64>> {
    let mut by_connection: HashMap<&str, Vec<&str>> = HashMap::new();
    for &i in lost {
        let entry = &changes[i].entry;
        by_connection.entry(&entry.connection_id).or_default().push(&entry.remote_resource_id);
    }
    let mut stored = HashMap::new();
    let sql =
        "SELECT remote_resource_id, sequence FROM applied WHERE connection_id = $1 AND remote_resource_id IN ({keys})";
    for (connection_id, ids) in by_connection {
        let rows = super::rows_in(&mut *conn, sql, Some(connection_id), &ids, |row| {
            let sequence = to_u64(row.try_get("sequence")?, "stored applied sequence")?;
            Ok((row.try_get::<String, _>("remote_resource_id")?, sequence))
        })
        .await?;
        stored.extend(rows.into_iter().map(|(id, sequence)| ((connection_id.to_owned(), id), sequence)));
    }
    Ok(stored)
}

/// Hides the local copy of a withdrawn entry: only a file that came through its connection.
async fn withdraw_local(conn: &mut AnyConnection, entry: &AppliedEntry, at: Millis) -> Result<()> {
    sqlx::query(
        "UPDATE resources SET withdrawn_at = $2 WHERE id = $1 AND withdrawn_at IS NULL AND origin_connection_id = $3",
    )
    .bind(&entry.local_resource_id)
    .bind(at)
    .bind(&entry.connection_id)
    .execute(conn)
    .await?;
    Ok(())
}

pub(super) async fn set_incoming_tags(repo: &SqlRepository, connection_id: &str, tags: &TagSet) -> Result<()> {
    sqlx::query(
        "INSERT INTO incoming_tags (connection_id, tags) VALUES ($1, $2) \
         ON CONFLICT (connection_id) DO UPDATE SET tags = excluded.tags",
    )
    .bind(connection_id)
    .bind(tags_to_json(tags))
    .execute(&repo.pool)
    .await?;
    Ok(())
}

/// Empty until the partner's first manifest has been seen.
pub(super) async fn incoming_tags(repo: &SqlRepository, connection_id: &str) -> Result<TagSet> {
    let row = sqlx::query("SELECT tags FROM incoming_tags WHERE connection_id = $1")
        .bind(connection_id)
        .fetch_optional(&repo.pool)
        .await?;
    match row {
        Some(row) => tags_from_json(
            &row.try_get::<String, _>("tags")?,
            &format!("incoming tags of connection '{connection_id}'"),
        ),
        None => Ok(TagSet::new()),
    }
}

pub(super) async fn is_processed(repo: &SqlRepository, key: &str) -> Result<bool> {
    let row = sqlx::query("SELECT work_key FROM processed_work WHERE work_key = $1")
        .bind(key)
        .fetch_optional(&repo.pool)
        .await?;
    Ok(row.is_some())
}

pub(super) async fn mark_processed(repo: &SqlRepository, key: &str, at: Millis) -> Result<()> {
    sqlx::query("INSERT INTO processed_work (work_key, done_at) VALUES ($1, $2) ON CONFLICT (work_key) DO NOTHING")
        .bind(key)
        .bind(at)
        .execute(&repo.pool)
        .await?;
    Ok(())
}

pub(super) async fn take_lease(
    repo: &SqlRepository,
    key: &str,
    holder: &str,
    now: Millis,
    expires_at: Millis,
) -> Result<bool> {
    // One statement, atomic on both engines: of two takers racing for a free or expired
    // lease, the upsert of one finds the other's row unexpired and writes nothing.
    let taken = sqlx::query(
        "INSERT INTO leases (lease_key, holder, expires_at) VALUES ($1, $2, $3) \
         ON CONFLICT (lease_key) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at \
         WHERE leases.holder = excluded.holder OR leases.expires_at <= $4",
    )
    .bind(key)
    .bind(holder)
    .bind(expires_at)
    .bind(now)
    .execute(&repo.pool)
    .await?
    .rows_affected();
    Ok(taken > 0)
}

pub(super) async fn release_lease(repo: &SqlRepository, key: &str, holder: &str) -> Result<()> {
    sqlx::query("DELETE FROM leases WHERE lease_key = $1 AND holder = $2")
        .bind(key)
        .bind(holder)
        .execute(&repo.pool)
        .await?;
    Ok(())
}

/// Keys per statement, well under both engines' parameter limits.
const KEYS_PER_STATEMENT: usize = 200;

pub(super) async fn schedule_deletions(
    repo: &SqlRepository,
    connection_id: &str,
    object_keys: &[String],
    due_at: Millis,
) -> Result<()> {
    let mut conn = repo.pool.acquire().await?;
    schedule_deletions_in(&mut conn, connection_id, object_keys, due_at).await
}

/// `schedule_deletions` within a transaction of the caller's.
pub(super) async fn schedule_deletions_in(
    conn: &mut AnyConnection,
    connection_id: &str,
    object_keys: &[String],
    due_at: Millis,
) -> Result<()> {
    for chunk in object_keys.chunks(KEYS_PER_STATEMENT) {
        let values = (0..chunk.len()).map(|i| format!("($1, ${}, $2)", i + 3)).collect::<Vec<_>>().join(", ");
        let sql = format!(
            "INSERT INTO pending_deletions (connection_id, object_key, due_at) VALUES {values} \
             ON CONFLICT (connection_id, object_key) DO UPDATE SET due_at = excluded.due_at \
             WHERE pending_deletions.due_at < excluded.due_at"
        );
        let mut query = sqlx::query(&sql).bind(connection_id).bind(due_at);
        for key in chunk {
            query = query.bind(key);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

pub(super) async fn due_deletions(
    repo: &SqlRepository,
    connection_id: &str,
    now: Millis,
    limit: u32,
) -> Result<Vec<String>> {
    let rows = sqlx::query(
        "SELECT d.object_key FROM pending_deletions d WHERE d.connection_id = $1 AND d.due_at <= $2 \
         AND NOT EXISTS (SELECT 1 FROM published p WHERE p.connection_id = $1 AND p.object_key = d.object_key) \
         ORDER BY d.due_at, d.object_key LIMIT $3",
    )
    .bind(connection_id)
    .bind(now)
    .bind(i64::from(limit))
    .fetch_all(&repo.pool)
    .await?;
    Ok(rows.iter().map(|r| r.try_get::<String, _>("object_key")).collect::<sqlx::Result<_>>()?)
}

pub(super) async fn forget_deletions(repo: &SqlRepository, connection_id: &str, object_keys: &[String]) -> Result<()> {
    for chunk in object_keys.chunks(KEYS_PER_STATEMENT) {
        let placeholders = (0..chunk.len()).map(|i| format!("${}", i + 2)).collect::<Vec<_>>().join(", ");
        let sql = format!("DELETE FROM pending_deletions WHERE connection_id = $1 AND object_key IN ({placeholders})");
        let mut query = sqlx::query(&sql).bind(connection_id);
        for key in chunk {
            query = query.bind(key);
        }
        query.execute(&repo.pool).await?;
    }
    Ok(())
}
