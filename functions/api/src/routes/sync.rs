//! A connection's sync history, and starting a sync now.

use super::connections::load;
use crate::error::ApiError;
use crate::extract::{Admin, Query, SyncCaller};
use crate::views::SyncEventView;
use crate::AppState;
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
    let page = query.page.unwrap_or(1);
    let per_page = query.per_page.unwrap_or(20);
    if page == 0 {
        return Err(ApiError::bad_request("page 0 does not exist; pages count from 1"));
    }
    if per_page == 0 || per_page > MAX_PER_PAGE {
        return Err(ApiError::bad_request(format!("per_page {per_page} is not between 1 and {MAX_PER_PAGE}")));
    }
    let offset = (page - 1)
        .checked_mul(per_page)
        .ok_or_else(|| ApiError::bad_request(format!("page {page} is beyond any sync history")))?;
    let ctx = state.ctx();
    load(ctx, &id).await?;
    // One more than asked tells whether a next page exists without counting everything.
    let mut events = ctx.repo.sync_events(&id, with_updates, per_page + 1, offset).await?;
    let has_more = events.len() > per_page as usize;
    events.truncate(per_page as usize);
    Ok(Json(EventsPage { page, per_page, has_more, events: events.iter().map(SyncEventView::from).collect() }))
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
