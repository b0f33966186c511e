//! Sync history: folding the stages' status reports into sync events.

use super::codec::{self, flag, health_from, to_u32};
use super::{Backend, SqlRepository};
use crate::{Result, SyncEvent, SyncState};
use airlock_domain::pipeline::{health_from_counts, ResourceOutcome, ResourceRow, StatusEvent, StatusReport};
use airlock_domain::Millis;
use sqlx::any::AnyRow;
use sqlx::AnyConnection;
use sqlx::{Any, Executor, Row};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Sync ids per query when fetching a page's resource rows, well under both engines'
/// limits on bound parameters.
const ROWS_QUERY_BATCH: usize = 500;

/// The sync_events row, before its resource rows are attached.
struct Head {
    sync_id: String,
    connection_id: String,
    started_at: Millis,
    finished_at: Option<Millis>,
    health: Option<String>,
    message: String,
    stage_finished: bool,
    stage_failed: bool,
    pending: i64,
    expected_rows: i64,
    updated: i64,
    row_count: i64,
    failed: i64,
}

impl Head {
    fn read(row: &AnyRow) -> Result<Self> {
        Ok(Self {
            sync_id: row.try_get("sync_id")?,
            connection_id: row.try_get("connection_id")?,
            started_at: row.try_get("started_at")?,
            finished_at: row.try_get("finished_at")?,
            health: row.try_get("health")?,
            message: row.try_get("message")?,
            stage_finished: row.try_get::<i64, _>("stage_finished")? != 0,
            stage_failed: row.try_get::<i64, _>("stage_failed")? != 0,
            pending: row.try_get("pending")?,
            expected_rows: row.try_get("expected_rows")?,
            updated: row.try_get("updated")?,
            row_count: row.try_get("row_count")?,
            failed: row.try_get("failed")?,
        })
    }

    fn into_event(self, resources: Vec<ResourceRow>) -> Result<SyncEvent> {
        let owner = format!("sync event '{}'", self.sync_id);
        let state = match (self.finished_at, &self.health) {
            (None, _) => SyncState::Running,
            (Some(_), Some(health)) => SyncState::Finished(health_from(health, &owner)?),
            (Some(_), None) => return Err(crate::RepoError::Corrupt(format!("{owner} is finished but has no health"))),
        };
        Ok(SyncEvent {
            connection_id: self.connection_id,
            started_at: self.started_at,
            finished_at: self.finished_at,
            state,
            message: self.message,
            stage_finished: self.stage_finished,
            stage_failed: self.stage_failed,
            pending: to_u32(self.pending, &format!("pending rows of {owner}"))?,
            updated: to_u32(self.updated, &format!("updated rows of {owner}"))?,
            rows: to_u32(self.row_count, &format!("rows of {owner}"))?,
            failed: to_u32(self.failed, &format!("failed rows of {owner}"))?,
            resources,
            sync_id: self.sync_id,
        })
    }
}

/// Resource rows in the order the history shows them: by name, then id, compared as bytes
/// so that both backends agree whatever PostgreSQL's locale.
fn sort_rows(rows: &mut [ResourceRow]) {
    rows.sort_by(|a, b| (&a.name, &a.resource_id).cmp(&(&b.name, &b.resource_id)));
}

async fn load_rows<'e, E: Executor<'e, Database = Any>>(executor: E, sync_id: &str) -> Result<Vec<ResourceRow>> {
    let rows = sqlx::query("SELECT * FROM sync_resources WHERE sync_id = $1").bind(sync_id).fetch_all(executor).await?;
    let mut rows = rows.iter().map(codec::resource_row).collect::<Result<Vec<_>>>()?;
    sort_rows(&mut rows);
    Ok(rows)
}

/// Rows per statement when folding a batch, well under both engines' parameter limits.
const FOLD_BATCH: usize = 200;

/// How a batch of rows changes an event's counters.
#[derive(Default)]
struct Delta {
    rows: i64,
    updated: i64,
    failed: i64,
}

impl Delta {
    fn count(&mut self, outcome: ResourceOutcome, sign: i64) {
        self.updated += sign * i64::from(outcome.is_update());
        self.failed += sign * i64::from(outcome == ResourceOutcome::Failed);
    }
}

/// Upserts rows (a later report for the same resource replaces the earlier outcome) and
/// returns how the event's counters move: set-based, a few statements per batch, and
/// never a read of the sync's other rows.
async fn upsert_rows(conn: &mut AnyConnection, sync_id: &str, rows: &[ResourceRow]) -> Result<Delta> {
    let unique: BTreeMap<&str, &ResourceRow> = rows.iter().map(|r| (r.resource_id.as_str(), r)).collect();
    let rows: Vec<&ResourceRow> = unique.into_values().collect();
    let mut delta = Delta::default();
    for chunk in rows.chunks(FOLD_BATCH) {
        let placeholders = (2..chunk.len() + 2).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ");
        let sql = format!(
            "SELECT resource_id, outcome FROM sync_resources WHERE sync_id = $1 AND resource_id IN ({placeholders})"
        );
        let mut query = sqlx::query(&sql).bind(sync_id);
        for row in chunk {
            query = query.bind(&row.resource_id);
        }
        let mut before: HashMap<String, String> = HashMap::new();
        for existing in query.fetch_all(&mut *conn).await? {
            before.insert(existing.try_get("resource_id")?, existing.try_get("outcome")?);
        }
        for row in chunk {
            match before.get(&row.resource_id).and_then(|o| ResourceOutcome::parse(o)) {
                Some(old) => delta.count(old, -1),
                None => delta.rows += 1,
            }
            delta.count(row.outcome, 1);
        }
        let values = (0..chunk.len())
            .map(|i| format!("($1, ${}, ${}, ${}, ${})", 4 * i + 2, 4 * i + 3, 4 * i + 4, 4 * i + 5))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "INSERT INTO sync_resources (sync_id, resource_id, name, outcome, message) VALUES {values} \
             ON CONFLICT (sync_id, resource_id) DO UPDATE SET name = excluded.name, outcome = excluded.outcome, \
             message = excluded.message"
        );
        let mut query = sqlx::query(&sql).bind(sync_id);
        for row in chunk {
            query = query.bind(&row.resource_id).bind(&row.name).bind(row.outcome.as_str()).bind(&row.message);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(delta)
}

pub(super) async fn record_status(repo: &SqlRepository, report: &StatusReport, now: Millis) -> Result<SyncEvent> {
    let mut tx = repo.begin().await?;
    // Always an update, never a plain read: on PostgreSQL the DO UPDATE locks the event's
    // row until commit, so the reports of one sync fold one after another and each sees
    // the counters the previous one left. The event starts at the earliest report seen,
    // since reports of one sync may arrive in any order.
    let row = sqlx::query(
        "INSERT INTO sync_events (sync_id, connection_id, started_at, finished_at, health, message, \
         stage_finished, stage_failed, pending, expected_rows, updated, row_count, failed) \
         VALUES ($1, $2, $3, NULL, NULL, '', 0, 0, 0, 0, 0, 0, 0) \
         ON CONFLICT (sync_id) DO UPDATE SET started_at = CASE \
             WHEN excluded.started_at < sync_events.started_at THEN excluded.started_at \
             ELSE sync_events.started_at END \
         RETURNING *",
    )
    .bind(&report.sync_id)
    .bind(&report.connection_id)
    .bind(report.at)
    .fetch_one(&mut *tx)
    .await?;
    let mut head = Head::read(&row)?;

    let delta = match &report.event {
        StatusEvent::StageStarted => Delta::default(),
        StatusEvent::Resource { row } => upsert_rows(&mut tx, &head.sync_id, std::slice::from_ref(row)).await?,
        StatusEvent::Rows { rows } => upsert_rows(&mut tx, &head.sync_id, rows).await?,
        // A stage end that was already folded in is a redelivery: it changes nothing.
        StatusEvent::StageFinished { .. } if head.stage_finished => Delta::default(),
        StatusEvent::StageFinished { failed, message, pending, resources } => {
            let delta = upsert_rows(&mut tx, &head.sync_id, resources).await?;
            let own_rows: BTreeSet<&str> = resources.iter().map(|r| r.resource_id.as_str()).collect();
            head.stage_finished = true;
            head.stage_failed = *failed;
            head.message = message.clone();
            head.pending = i64::from(*pending);
            head.expected_rows = own_rows.len() as i64 + head.pending;
            delta
        }
    };
    head.row_count += delta.rows;
    head.updated += delta.updated;
    head.failed += delta.failed;
    let complete = head.stage_finished && head.row_count >= head.expected_rows;
    let health = complete.then(|| health_from_counts(head.stage_failed, head.failed as u64).as_str().to_owned());
    let health_changed = complete && health != head.health;
    if complete && head.finished_at.is_none() {
        // A receiving sync's fetched shards count as applied only now, and only if every
        // file of them arrived; otherwise the next validation fetches them again.
        let success = !head.stage_failed && head.failed == 0;
        super::runs::settle_pending_shards(&mut tx, &head.sync_id, success).await?;
        // When the event finished here, not when some stage sent its last report.
        head.finished_at = Some(now);
    }
    if complete || head.finished_at.is_none() {
        head.health = health;
    }
    sqlx::query(
        "UPDATE sync_events SET finished_at = $2, health = $3, updated = $4, row_count = $5, failed = $6, \
         stage_finished = $7, stage_failed = $8, message = $9, pending = $10, expected_rows = $11 WHERE sync_id = $1",
    )
    .bind(&head.sync_id)
    .bind(head.finished_at)
    .bind(&head.health)
    .bind(head.updated)
    .bind(head.row_count)
    .bind(head.failed)
    .bind(flag(head.stage_finished))
    .bind(flag(head.stage_failed))
    .bind(&head.message)
    .bind(head.pending)
    .bind(head.expected_rows)
    .execute(&mut *tx)
    .await?;
    if health_changed {
        set_connection_health(&mut tx, &head).await?;
    }
    tx.commit().await?;
    head.into_event(Vec::new())
}

/// A connection's health is that of its most recent finished sync: an older sync that
/// happens to finish late must not overwrite a newer one's.
async fn set_connection_health(conn: &mut AnyConnection, head: &Head) -> Result<()> {
    let done = sqlx::query(
        "UPDATE connections SET health = $2 WHERE id = $1 AND NOT EXISTS ( \
             SELECT 1 FROM sync_events WHERE connection_id = $1 AND finished_at IS NOT NULL \
             AND (started_at > $3 OR (started_at = $3 AND sync_id > $4)))",
    )
    .bind(&head.connection_id)
    .bind(&head.health)
    .bind(head.started_at)
    .bind(&head.sync_id)
    .execute(conn)
    .await?;
    if done.rows_affected() == 0 {
        tracing::debug!(
            sync_id = %head.sync_id,
            connection_id = %head.connection_id,
            "sync finished but its connection's health was left alone: the connection is unknown or a newer sync finished first"
        );
    }
    Ok(())
}

/// Byte order on both engines, whatever PostgreSQL's locale.
fn bytewise(repo: &SqlRepository) -> &'static str {
    match repo.backend {
        Backend::Postgres => "COLLATE \"C\"",
        Backend::Sqlite => "COLLATE BINARY",
    }
}

pub(super) async fn sync_rows(
    repo: &SqlRepository,
    sync_id: &str,
    limit: u32,
    offset: u32,
) -> Result<Vec<ResourceRow>> {
    let order = bytewise(repo);
    let sql = format!(
        "SELECT * FROM sync_resources WHERE sync_id = $1 ORDER BY name {order}, resource_id {order} LIMIT $2 OFFSET $3"
    );
    let rows =
        sqlx::query(&sql).bind(sync_id).bind(i64::from(limit)).bind(i64::from(offset)).fetch_all(&repo.pool).await?;
    rows.iter().map(codec::resource_row).collect()
}

pub(super) async fn expire(
    repo: &SqlRepository,
    started_before: Millis,
    now: Millis,
    deadline_secs: u64,
) -> Result<Vec<SyncEvent>> {
    let mut tx = repo.begin().await?;
    let within = format!("sync did not finish within {deadline_secs} s: ");
    let expired = sqlx::query(
        "UPDATE sync_events SET finished_at = $2, health = 'failure', stage_failed = 1, message = CASE \
             WHEN stage_finished = 0 THEN $3 || 'its stage never reported its end' \
             ELSE $3 || CAST(expected_rows - row_count AS TEXT) || ' of ' || CAST(expected_rows AS TEXT) \
                  || ' resource row(s) never reported (' || message || ')' END \
         WHERE finished_at IS NULL AND started_at < $1 RETURNING *",
    )
    .bind(started_before)
    .bind(now)
    .bind(within)
    .fetch_all(&mut *tx)
    .await?
    .iter()
    .map(Head::read)
    .collect::<Result<Vec<_>>>()?;
    // Few, and only when something went wrong: one health update per expired event.
    for head in &expired {
        set_connection_health(&mut tx, head).await?;
    }
    tx.commit().await?;
    expired.into_iter().map(|head| head.into_event(Vec::new())).collect()
}

pub(super) async fn sync_event(repo: &SqlRepository, sync_id: &str) -> Result<Option<SyncEvent>> {
    let Some(row) =
        sqlx::query("SELECT * FROM sync_events WHERE sync_id = $1").bind(sync_id).fetch_optional(&repo.pool).await?
    else {
        return Ok(None);
    };
    let head = Head::read(&row)?;
    let rows = load_rows(&repo.pool, sync_id).await?;
    head.into_event(rows).map(Some)
}

/// The event's head alone (counters, state, message): no rows read, whatever their number.
pub(super) async fn sync_event_head(repo: &SqlRepository, sync_id: &str) -> Result<Option<SyncEvent>> {
    let Some(row) =
        sqlx::query("SELECT * FROM sync_events WHERE sync_id = $1").bind(sync_id).fetch_optional(&repo.pool).await?
    else {
        return Ok(None);
    };
    Head::read(&row)?.into_event(Vec::new()).map(Some)
}

pub(super) async fn sync_event_heads(
    repo: &SqlRepository,
    connection_id: &str,
    with_updates_only: bool,
    limit: u32,
    offset: u32,
) -> Result<Vec<SyncEvent>> {
    heads(repo, connection_id, with_updates_only, limit, offset)
        .await?
        .into_iter()
        .map(|h| h.into_event(Vec::new()))
        .collect()
}

async fn heads(
    repo: &SqlRepository,
    connection_id: &str,
    with_updates_only: bool,
    limit: u32,
    offset: u32,
) -> Result<Vec<Head>> {
    let sql = if with_updates_only {
        "SELECT * FROM sync_events WHERE connection_id = $1 AND updated > 0 \
         ORDER BY started_at DESC, sync_id DESC LIMIT $2 OFFSET $3"
    } else {
        "SELECT * FROM sync_events WHERE connection_id = $1 \
         ORDER BY started_at DESC, sync_id DESC LIMIT $2 OFFSET $3"
    };
    let heads = sqlx::query(sql)
        .bind(connection_id)
        .bind(i64::from(limit))
        .bind(i64::from(offset))
        .fetch_all(&repo.pool)
        .await?
        .iter()
        .map(Head::read)
        .collect::<Result<Vec<_>>>()?;
    Ok(heads)
}

pub(super) async fn sync_events(
    repo: &SqlRepository,
    connection_id: &str,
    with_updates_only: bool,
    limit: u32,
    offset: u32,
) -> Result<Vec<SyncEvent>> {
    let heads = heads(repo, connection_id, with_updates_only, limit, offset).await?;
    // The rows of the whole page in a few queries rather than one per event. The ids are
    // bound, not re-selected, so an event started meanwhile can't shift the page.
    let mut by_sync: HashMap<String, Vec<ResourceRow>> = HashMap::new();
    for chunk in heads.chunks(ROWS_QUERY_BATCH) {
        let placeholders = (1..=chunk.len()).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ");
        let sql = format!("SELECT * FROM sync_resources WHERE sync_id IN ({placeholders})");
        let mut query = sqlx::query(&sql);
        for head in chunk {
            query = query.bind(&head.sync_id);
        }
        for row in query.fetch_all(&repo.pool).await? {
            by_sync.entry(row.try_get("sync_id")?).or_default().push(codec::resource_row(&row)?);
        }
    }
    heads
        .into_iter()
        .map(|head| {
            let mut rows = by_sync.remove(&head.sync_id).unwrap_or_default();
            sort_rows(&mut rows);
            head.into_event(rows)
        })
        .collect()
}
