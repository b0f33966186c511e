//! Publish runs: the versions that tell a run whether the one before it finished, and the
//! copies a large run fans out over the publisher's workers.

use super::codec::{self, to_i64, to_u64};
use super::SqlRepository;
use crate::{ChangedFiles, CopySettlement, PlannedCopy, PublishMarks, ReceiveProgress, Result, RunState, ShardState};
use airlock_domain::Millis;
use sqlx::any::AnyRow;
use sqlx::Row;

pub(super) async fn begin_publish(repo: &SqlRepository, connection_id: &str) -> Result<(bool, i64)> {
    let row = sqlx::query(
        "INSERT INTO publish_versions (connection_id, dirty, clean) VALUES ($1, 1, 0) \
         ON CONFLICT (connection_id) DO UPDATE SET dirty = publish_versions.dirty + 1 RETURNING dirty, clean",
    )
    .bind(connection_id)
    .fetch_one(&repo.pool)
    .await?;
    let (dirty, clean): (i64, i64) = (row.try_get("dirty")?, row.try_get("clean")?);
    // Before this run's own step, dirty was one less: anything above clean is a run (or a
    // late copy) whose changes no manifest shows yet.
    Ok((dirty - 1 > clean, dirty))
}

pub(super) async fn end_publish(repo: &SqlRepository, connection_id: &str, version: i64) -> Result<()> {
    sqlx::query(
        "UPDATE publish_versions SET clean = CASE WHEN clean < $2 THEN $2 ELSE clean END WHERE connection_id = $1",
    )
    .bind(connection_id)
    .bind(version)
    .execute(&repo.pool)
    .await?;
    Ok(())
}

pub(super) async fn published_root(repo: &SqlRepository, connection_id: &str) -> Result<Option<String>> {
    let row = sqlx::query("SELECT root_digest FROM publish_versions WHERE connection_id = $1")
        .bind(connection_id)
        .fetch_optional(&repo.pool)
        .await?;
    Ok(match row {
        Some(row) => row.try_get("root_digest")?,
        None => None,
    })
}

pub(super) async fn set_published_root(repo: &SqlRepository, connection_id: &str, digest: &str) -> Result<()> {
    sqlx::query(
        "INSERT INTO publish_versions (connection_id, dirty, clean, root_digest) VALUES ($1, 0, 0, $2) \
         ON CONFLICT (connection_id) DO UPDATE SET root_digest = excluded.root_digest",
    )
    .bind(connection_id)
    .bind(digest)
    .execute(&repo.pool)
    .await?;
    Ok(())
}

pub(super) async fn bump_registry_changes(repo: &SqlRepository) -> Result<()> {
    sqlx::query("UPDATE registry_changes SET n = n + 1 WHERE id = 1").execute(&repo.pool).await?;
    Ok(())
}

pub(super) async fn registry_changes(repo: &SqlRepository) -> Result<i64> {
    Ok(sqlx::query("SELECT n FROM registry_changes WHERE id = 1").fetch_one(&repo.pool).await?.try_get("n")?)
}

/// Marks files changed for every connection sharing them, within the caller's transaction.
pub(super) async fn mark_files_changed(conn: &mut sqlx::AnyConnection, resource_ids: &[&str]) -> Result<()> {
    if resource_ids.is_empty() {
        return Ok(());
    }
    let n = next_mark(conn).await?;
    for chunk in resource_ids.chunks(super::ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO changed_files (connection_id, resource_id, n) \
             SELECT connection_id, resource_id, $1 FROM shares \
             WHERE removed_at IS NULL AND resource_id IN ({}) \
             ON CONFLICT (connection_id, resource_id) DO UPDATE SET n = excluded.n",
            codec::value_list(chunk.len(), 2)
        );
        let mut query = sqlx::query(&sql).bind(n);
        for id in chunk {
            query = query.bind(*id);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Marks a file changed for one connection, within the caller's transaction: a share of
/// it made or removed.
pub(super) async fn mark_share_changed(
    conn: &mut sqlx::AnyConnection,
    connection_id: &str,
    resource_id: &str,
) -> Result<()> {
    let n = next_mark(conn).await?;
    sqlx::query(
        "INSERT INTO changed_files (connection_id, resource_id, n) VALUES ($1, $2, $3) \
         ON CONFLICT (connection_id, resource_id) DO UPDATE SET n = excluded.n",
    )
    .bind(connection_id)
    .bind(resource_id)
    .bind(n)
    .execute(conn)
    .await?;
    Ok(())
}

/// The counter's row stays locked until the caller's transaction commits, so marks become
/// visible in the order of their n.
async fn next_mark(conn: &mut sqlx::AnyConnection) -> Result<i64> {
    let row = sqlx::query("UPDATE registry_changes SET n = n + 1 WHERE id = 2 RETURNING n").fetch_one(conn).await?;
    Ok(row.try_get("n")?)
}

pub(super) async fn changed_files(repo: &SqlRepository, connection_id: &str, limit: u32) -> Result<ChangedFiles> {
    // Newest first, one more than asked: the first row has the newest mark, and an extra
    // row says there are more.
    let rows = sqlx::query(
        "SELECT resource_id, n FROM changed_files WHERE connection_id = $1 ORDER BY n DESC, resource_id LIMIT $2",
    )
    .bind(connection_id)
    .bind(i64::from(limit) + 1)
    .fetch_all(&repo.pool)
    .await?;
    let through = match rows.first() {
        Some(row) => row.try_get("n")?,
        None => 0,
    };
    let resource_ids = if rows.len() > limit as usize {
        None
    } else {
        Some(rows.iter().map(|row| row.try_get("resource_id")).collect::<std::result::Result<Vec<String>, _>>()?)
    };
    Ok(ChangedFiles { resource_ids, through })
}

pub(super) async fn forget_changed_files(repo: &SqlRepository, connection_id: &str, through: i64) -> Result<()> {
    sqlx::query("DELETE FROM changed_files WHERE connection_id = $1 AND n <= $2")
        .bind(connection_id)
        .bind(through)
        .execute(&repo.pool)
        .await?;
    Ok(())
}

pub(super) async fn publish_marks(repo: &SqlRepository, connection_id: &str) -> Result<Option<PublishMarks>> {
    let row = sqlx::query("SELECT * FROM publish_versions WHERE connection_id = $1")
        .bind(connection_id)
        .fetch_optional(&repo.pool)
        .await?;
    row.map(|row| {
        Ok(PublishMarks {
            interrupted: row.try_get::<i64, _>("dirty")? > row.try_get::<i64, _>("clean")?,
            root_digest: row.try_get("root_digest")?,
            registry_seen: row.try_get("registry_seen")?,
        })
    })
    .transpose()
}

pub(super) async fn set_registry_seen(repo: &SqlRepository, connection_id: &str, seen: i64) -> Result<()> {
    sqlx::query("UPDATE publish_versions SET registry_seen = $2 WHERE connection_id = $1")
        .bind(connection_id)
        .bind(seen)
        .execute(&repo.pool)
        .await?;
    Ok(())
}

pub(super) async fn mark_publish_dirty(repo: &SqlRepository, connection_id: &str) -> Result<()> {
    sqlx::query(
        "INSERT INTO publish_versions (connection_id, dirty, clean) VALUES ($1, 1, 0) \
         ON CONFLICT (connection_id) DO UPDATE SET dirty = publish_versions.dirty + 1",
    )
    .bind(connection_id)
    .execute(&repo.pool)
    .await?;
    Ok(())
}

pub(super) async fn plan_run(
    repo: &SqlRepository,
    sync_id: &str,
    connection_id: &str,
    copies: &[PlannedCopy],
    begun: (bool, i64),
    at: Millis,
) -> Result<bool> {
    let mut tx = repo.begin().await?;
    let bytes: u64 = copies.iter().map(|c| c.size).sum();
    let created = sqlx::query(
        "INSERT INTO publish_runs (sync_id, connection_id, planned, settled, planned_bytes, settled_bytes, started_at, \
         version, rebuild_all) VALUES ($1, $2, $3, 0, $4, 0, $5, $6, $7) ON CONFLICT (sync_id) DO NOTHING",
    )
    .bind(sync_id)
    .bind(connection_id)
    .bind(copies.len() as i64)
    .bind(to_i64(bytes, "planned bytes")?)
    .bind(at)
    .bind(begun.1)
    .bind(i64::from(begun.0))
    .execute(&mut *tx)
    .await?
    .rows_affected()
        > 0;
    if created {
        for chunk in copies.chunks(super::ROWS_PER_STATEMENT) {
            let sql = format!(
                "INSERT INTO publish_copies (sync_id, resource_id, name, size, blob_key, shard, entry_json, replaces, \
                 outcome, message) VALUES {}",
                (0..chunk.len())
                    .map(|i| format!("({}, NULL, '')", codec::value_list(8, 1 + 8 * i)))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            // The run's id bound in every row, not once for all: then SQLite binds by position.
            let sql = super::for_engine(&tx, sql);
            let mut query = sqlx::query(&sql);
            for copy in chunk {
                query = query
                    .bind(sync_id)
                    .bind(&copy.resource_id)
                    .bind(&copy.name)
                    .bind(to_i64(copy.size, "copy size")?)
                    .bind(&copy.blob_key)
                    .bind(i64::from(copy.shard))
                    .bind(&copy.entry_json)
                    .bind(&copy.replaces);
            }
            query.execute(&mut *tx).await?;
        }
    }
    tx.commit().await?;
    Ok(created)
}

fn planned_copy(row: &AnyRow) -> Result<PlannedCopy> {
    let outcome: Option<String> = row.try_get("outcome")?;
    let message: String = row.try_get("message")?;
    Ok(PlannedCopy {
        resource_id: row.try_get("resource_id")?,
        name: row.try_get("name")?,
        size: to_u64(row.try_get("size")?, "copy size")?,
        blob_key: row.try_get("blob_key")?,
        shard: super::codec::to_u32(row.try_get("shard")?, "copy shard")?,
        entry_json: row.try_get("entry_json")?,
        replaces: row.try_get("replaces")?,
        settled: outcome.map(|o| if o == "ok" { Ok(()) } else { Err(message) }),
    })
}

pub(super) async fn planned_copies(
    repo: &SqlRepository,
    sync_id: &str,
    resource_ids: &[String],
) -> Result<Vec<PlannedCopy>> {
    let sql = "SELECT * FROM publish_copies WHERE sync_id = $1 AND resource_id IN ({keys})";
    super::rows_in(&mut *repo.pool.acquire().await?, sql, Some(sync_id), resource_ids, planned_copy).await
}

/// The copies of a run, all of them or only the unsettled ones.
pub(super) async fn run_copies(repo: &SqlRepository, sync_id: &str, unsettled_only: bool) -> Result<Vec<PlannedCopy>> {
    let sql = if unsettled_only {
        "SELECT * FROM publish_copies WHERE sync_id = $1 AND outcome IS NULL ORDER BY resource_id"
    } else {
        "SELECT * FROM publish_copies WHERE sync_id = $1 ORDER BY resource_id"
    };
    super::decoded(&repo.pool, sqlx::query(sql).bind(sync_id), planned_copy).await
}

/// Settles a batch of copies in one transaction: the replaced objects scheduled, the done
/// copies' records written, then every copy settled that nobody settled before (the first
/// settlement wins), and the run's counters moved once for the lot.
pub(super) async fn settle_copies(
    repo: &SqlRepository,
    sync_id: &str,
    settlements: &[CopySettlement],
    due_at: Millis,
) -> Result<Option<RunState>> {
    let mut tx = repo.begin().await?;
    let mut records = Vec::new();
    let mut replaced: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
    for settlement in settlements {
        if let CopySettlement::Done { record, replaces } = settlement {
            replaced.entry(&record.connection_id).or_default().extend(replaces.iter().cloned());
            records.push(record);
        }
    }
    for (connection_id, keys) in &replaced {
        super::exchange::schedule_deletions_in(&mut tx, connection_id, keys, due_at).await?;
    }
    for chunk in records.chunks(super::ROWS_PER_STATEMENT) {
        super::exchange::put_published_in(&mut tx, chunk).await?;
    }
    let done: Vec<&str> = records.iter().map(|r| r.resource_id.as_str()).collect();
    let sql = "UPDATE publish_copies SET outcome = 'ok', message = '' \
               WHERE sync_id = $1 AND outcome IS NULL AND resource_id IN ({keys}) RETURNING size";
    let sizes = super::rows_in(&mut tx, sql, Some(sync_id), &done, |row| Ok(row.try_get::<i64, _>("size")?)).await?;
    let (mut count, mut bytes) = (sizes.len() as i64, sizes.iter().sum::<i64>());
    for settlement in settlements {
        if let CopySettlement::Failed { resource_id, why } = settlement {
            let row = sqlx::query(
                "UPDATE publish_copies SET outcome = 'failed', message = $3 \
                 WHERE sync_id = $1 AND resource_id = $2 AND outcome IS NULL RETURNING size",
            )
            .bind(sync_id)
            .bind(resource_id)
            .bind(why)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(row) = row {
                count += 1;
                bytes += row.try_get::<i64, _>("size")?;
            }
        }
    }
    if count > 0 {
        // The one update of the run's row per batch: counters, never a count of the copies.
        sqlx::query(
            "UPDATE publish_runs SET settled = settled + $2, settled_bytes = settled_bytes + $3 WHERE sync_id = $1",
        )
        .bind(sync_id)
        .bind(count)
        .bind(bytes)
        .execute(&mut *tx)
        .await?;
    }
    let progress = progress_in(&mut tx, sync_id).await?;
    tx.commit().await?;
    Ok(progress)
}

async fn progress_in(conn: &mut sqlx::AnyConnection, sync_id: &str) -> Result<Option<RunState>> {
    let row = sqlx::query("SELECT * FROM publish_runs WHERE sync_id = $1").bind(sync_id).fetch_optional(conn).await?;
    row.map(|row| {
        Ok(RunState {
            planned: to_u64(row.try_get("planned")?, "planned copies")?,
            settled: to_u64(row.try_get("settled")?, "settled copies")?,
            planned_bytes: to_u64(row.try_get("planned_bytes")?, "planned bytes")?,
            settled_bytes: to_u64(row.try_get("settled_bytes")?, "settled bytes")?,
            started_at: row.try_get("started_at")?,
            version: row.try_get("version")?,
            rebuild_all: row.try_get::<i64, _>("rebuild_all")? != 0,
        })
    })
    .transpose()
}

pub(super) async fn run_progress(repo: &SqlRepository, sync_id: &str) -> Result<Option<RunState>> {
    let mut conn = repo.pool.acquire().await?;
    progress_in(&mut conn, sync_id).await
}

pub(super) async fn forget_run(repo: &SqlRepository, sync_id: &str) -> Result<()> {
    let mut tx = repo.begin().await?;
    sqlx::query("DELETE FROM publish_copies WHERE sync_id = $1").bind(sync_id).execute(&mut *tx).await?;
    sqlx::query("DELETE FROM publish_runs WHERE sync_id = $1").bind(sync_id).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(())
}

pub(super) async fn put_pending_shards(
    repo: &SqlRepository,
    sync_id: &str,
    connection_id: &str,
    sequence: u64,
    states: &[ShardState],
) -> Result<()> {
    let sequence = to_i64(sequence, "manifest sequence")?;
    let mut tx = repo.begin().await?;
    for state in states {
        sqlx::query(
            "INSERT INTO pending_shards (sync_id, connection_id, shard, sequence, digest) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (sync_id, shard) DO NOTHING",
        )
        .bind(sync_id)
        .bind(connection_id)
        .bind(i64::from(state.shard))
        .bind(sequence)
        .bind(&state.digest)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Within the transaction that finishes a sync event: a successful sync records its
/// pending shards as applied (each only if its sequence does not go back) and drops older syncs' leftovers of the same connection; any
/// other end just drops them.
pub(super) async fn settle_pending_shards(conn: &mut sqlx::AnyConnection, sync_id: &str, success: bool) -> Result<()> {
    if success {
        let rows =
            sqlx::query("SELECT * FROM pending_shards WHERE sync_id = $1").bind(sync_id).fetch_all(&mut *conn).await?;
        for row in &rows {
            let (connection_id, sequence): (String, i64) = (row.try_get("connection_id")?, row.try_get("sequence")?);
            let state = ShardState {
                shard: super::codec::to_u32(row.try_get("shard")?, "pending shard")?,
                digest: row.try_get("digest")?,
            };
            super::exchange::record_shard_state(&mut *conn, &connection_id, sequence, &state).await?;
            sqlx::query("DELETE FROM pending_shards WHERE connection_id = $1 AND sequence < $2")
                .bind(&connection_id)
                .bind(sequence)
                .execute(&mut *conn)
                .await?;
        }
    }
    sqlx::query("DELETE FROM pending_shards WHERE sync_id = $1").bind(sync_id).execute(&mut *conn).await?;
    sqlx::query("DELETE FROM receive_progress WHERE sync_id = $1").bind(sync_id).execute(&mut *conn).await?;
    Ok(())
}

pub(super) async fn start_receive_progress(
    repo: &SqlRepository,
    sync_id: &str,
    files_total: u64,
    bytes_total: u64,
    at: Millis,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO receive_progress (sync_id, files_total, bytes_total, bytes_done, started_at) \
         VALUES ($1, $2, $3, 0, $4) ON CONFLICT (sync_id) DO NOTHING",
    )
    .bind(sync_id)
    .bind(to_i64(files_total, "files")?)
    .bind(to_i64(bytes_total, "bytes")?)
    .bind(at)
    .execute(&repo.pool)
    .await?;
    Ok(())
}

pub(super) async fn add_received_bytes(repo: &SqlRepository, sync_id: &str, bytes: u64) -> Result<()> {
    sqlx::query("UPDATE receive_progress SET bytes_done = bytes_done + $2 WHERE sync_id = $1")
        .bind(sync_id)
        .bind(to_i64(bytes, "bytes")?)
        .execute(&repo.pool)
        .await?;
    Ok(())
}

pub(super) async fn receive_progress(repo: &SqlRepository, sync_id: &str) -> Result<Option<ReceiveProgress>> {
    let row = sqlx::query("SELECT * FROM receive_progress WHERE sync_id = $1")
        .bind(sync_id)
        .fetch_optional(&repo.pool)
        .await?;
    row.map(|row| {
        Ok(ReceiveProgress {
            files_total: to_u64(row.try_get("files_total")?, "files")?,
            bytes_total: to_u64(row.try_get("bytes_total")?, "bytes")?,
            bytes_done: to_u64(row.try_get("bytes_done")?, "bytes")?,
            started_at: row.try_get("started_at")?,
        })
    })
    .transpose()
}
