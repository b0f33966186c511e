//! A connection's sync history, and starting a sync now.

use super::connections::load;
use crate::error::ApiError;
use crate::extract::{Admin, Query, SyncCaller};
use crate::views::{ProgressView, ResourceRowView, SyncEventView};
use crate::AppState;
use airlock_domain::{now_millis, ConnectionKind};
use airlock_repo::{SyncEvent, SyncState};
use airlock_services::connections;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

pub const MAX_PER_PAGE: u32 = 100;

#[derive(Deserialize)]
pub struct EventsQuery {
    filter: Option<String>,
    page: Option<u32>,
    per_page: Option<u32>,
}

#[derive(Serialize)]
pub struct EventsPage {
    page: u32,
    per_page: u32,
    has_more: bool,
    events: Vec<SyncEventView>,
}

pub async fn events(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<EventsQuery>,
) -> Result<Json<EventsPage>, ApiError> {
    let with_updates = match query.filter.as_deref() {
        None | Some("") | Some("all") => false,
        Some("with_updates") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!("filter '{other}' is neither 'all' nor 'with_updates'")))
        }
    };
    let (page, per_page, offset) = paging(query.page, query.per_page, (20, MAX_PER_PAGE), "any sync history")?;
    let ctx = state.ctx();
    let connection = load(ctx, &id).await?;
    // One more than asked tells whether a next page exists without counting everything.
    let mut heads = ctx.repo.sync_event_heads(&id, with_updates, per_page + 1, offset).await?;
    let has_more = heads.len() > per_page as usize;
    heads.truncate(per_page as usize);
    let mut events = Vec::with_capacity(heads.len());
    for mut head in heads {
        // A page costs the same whatever the size of its syncs: the first rows of each.
        head.resources = ctx.repo.sync_rows(&head.sync_id, ROWS_PER_EVENT, 0).await?;
        let mut view = SyncEventView::from(&head);
        if head.state == SyncState::Running {
            view.progress = progress(ctx, &connection, &head).await?;
        }
        events.push(view);
    }
    Ok(Json(EventsPage { page, per_page, has_more, events }))
}

/// Rows of each event a history page carries; the rest are paged by `rows`.
pub const ROWS_PER_EVENT: u32 = 50;

/// How far a running sync is: a sending one from its fanned-out copies, a receiving one
/// from its ingests. `None` while its totals are not known yet (or for a short inline run).
async fn progress(
    ctx: &airlock_runtime::Context,
    connection: &airlock_domain::Connection,
    head: &SyncEvent,
) -> Result<Option<ProgressView>, ApiError> {
    let now = now_millis();
    Ok(match connection.kind {
        ConnectionKind::Sending => ctx.repo.run_progress(&head.sync_id).await?.map(|run| {
            ProgressView::new((run.settled, run.planned), (run.settled_bytes, run.planned_bytes), run.started_at, now)
        }),
        ConnectionKind::Receiving => ctx.repo.receive_progress(&head.sync_id).await?.map(|p| {
            let done = u64::from(head.rows);
            ProgressView::new((done, p.files_total), (p.bytes_done, p.bytes_total), p.started_at, now)
        }),
    })
}

#[derive(Deserialize)]
pub struct RowsQuery {
    page: Option<u32>,
    per_page: Option<u32>,
}

#[derive(Serialize)]
pub struct RowsPage {
    page: u32,
    per_page: u32,
    has_more: bool,
    rows: Vec<ResourceRowView>,
}

/// Rows per page of one sync's rows at most.
pub const MAX_ROWS_PER_PAGE: u32 = 1000;

/// One page of a sync's rows, in the order the history shows them.
pub async fn rows(
    _: Admin,
    State(state): State<AppState>,
    Path((id, sync_id)): Path<(String, String)>,
    Query(query): Query<RowsQuery>,
) -> Result<Json<RowsPage>, ApiError> {
    let (page, per_page, offset) =
        paging(query.page, query.per_page, (ROWS_PER_EVENT, MAX_ROWS_PER_PAGE), "any sync's rows")?;
    let ctx = state.ctx();
    load(ctx, &id).await?;
    let event = ctx.repo.sync_event_head(&sync_id).await?;
    if event.is_none_or(|e| e.connection_id != id) {
        return Err(ApiError::NotFound(format!("connection '{id}' has no sync '{sync_id}'")));
    }
    let mut rows = ctx.repo.sync_rows(&sync_id, per_page + 1, offset).await?;
    let has_more = rows.len() > per_page as usize;
    rows.truncate(per_page as usize);
    Ok(Json(RowsPage { page, per_page, has_more, rows: rows.iter().map(ResourceRowView::from).collect() }))
}

/// A page's number, size and offset from the query, the size defaulting to
/// `(default, max).0` and at most `.1`; `beyond` names what a too-far page is beyond.
fn paging(
    page: Option<u32>,
    per_page: Option<u32>,
    size: (u32, u32),
    beyond: &str,
) -> Result<(u32, u32, u32), ApiError> {
    let (page, per_page) = (page.unwrap_or(1), per_page.unwrap_or(size.0));
    if page == 0 {
        return Err(ApiError::bad_request("page 0 does not exist; pages count from 1"));
    }
    if per_page == 0 || per_page > size.1 {
        return Err(ApiError::bad_request(format!("per_page {per_page} is not between 1 and {}", size.1)));
    }
    let offset = (page - 1)
        .checked_mul(per_page)
        .ok_or_else(|| ApiError::bad_request(format!("page {page} is beyond {beyond}")))?;
    Ok((page, per_page, offset))
}

pub async fn start(
    SyncCaller(caller): SyncCaller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let ctx = state.ctx();
    let connection = connections::active_connection(ctx, &id).await?;
    let sync_id = airlock_scheduler::start_sync(ctx, &connection)
        .await
        .map_err(|e| ApiError::Unavailable(format!("starting a sync of connection '{id}' failed: {e}")))?;
    tracing::info!(connection_id = %id, %sync_id, by = %caller.sub, "sync requested");
    Ok((StatusCode::ACCEPTED, Json(json!({ "sync_id": sync_id }))))
}
