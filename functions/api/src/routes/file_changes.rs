//! What a file's owner does after the upload: new revisions, a new level or tags, and
//! withdrawing it from a connection; and the lists those screens show.

use crate::error::ApiError;
use crate::extract::{Body, RegistryUser};
use crate::views::{FileView, RevisionView, ShareView};
use crate::AppState;
use airlock_domain::TagSet;
use airlock_services::platform;
use airlock_services::registry;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use futures::TryStreamExt;
use serde::Deserialize;
use serde_json::json;

/// The body is streamed into the registry store as it arrives, as on the first upload.
pub async fn upload_revision(
    RegistryUser(user): RegistryUser,
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: axum::body::Body,
) -> Result<(StatusCode, Json<FileView>), ApiError> {
    let stream = body.into_data_stream().map_err(std::io::Error::other);
    let reader = tokio_util::io::StreamReader::new(stream);
    let ctx = state.ctx();
    let revision = registry::upload_revision(ctx, &user.id, &id, reader).await?;
    tracing::info!(file_id = %id, revision_id = %revision.id, size = revision.size, "revision uploaded");
    let resource = ctx.repo.resource(&id).await?.ok_or_else(|| ApiError::NotFound(format!("file '{id}' not found")))?;
    Ok((StatusCode::CREATED, Json(FileView::new(&resource, revision.size))))
}

pub async fn revisions(
    RegistryUser(user): RegistryUser,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Vec<RevisionView>>, ApiError> {
    let revisions = registry::revisions(state.ctx(), &user.id, &id).await?;
    Ok(Json(revisions.iter().map(RevisionView::from).collect()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilePatch {
    level: Option<String>,
    tags: Option<Vec<String>>,
}

pub async fn reclassify(
    RegistryUser(user): RegistryUser,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Body(body): Body<FilePatch>,
) -> Result<Json<FileView>, ApiError> {
    let ctx = state.ctx();
    let before = ctx.repo.resource(&id).await?;
    let tags: Option<TagSet> = body.tags.map(|tags| tags.iter().map(|t| t.trim().to_owned()).collect());
    let resource = registry::reclassify(ctx, &user.id, &id, body.level.as_deref().map(str::trim), tags).await?;
    if let Some(before) = before.filter(|b| b.level != resource.level || b.tags != resource.tags) {
        let shown = |r: &airlock_domain::Resource| json!({ "level": r.level.name, "tags": r.tags });
        platform::record(ctx, &user.id, "file.classify", &id, Some(shown(&before)), Some(shown(&resource))).await?;
    }
    let size = ctx.repo.latest_revision(&id).await?.map(|r| r.size).unwrap_or(0);
    Ok(Json(FileView::new(&resource, size)))
}

pub async fn unshare(
    RegistryUser(user): RegistryUser,
    State(state): State<AppState>,
    Path((id, connection_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    registry::unshare(state.ctx(), &user.id, &id, &connection_id).await?;
    tracing::info!(file_id = %id, connection_id, by = %user.id, "file unshared");
    Ok(StatusCode::NO_CONTENT)
}

pub async fn shares(
    RegistryUser(user): RegistryUser,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Vec<ShareView>>, ApiError> {
    let ctx = state.ctx();
    let shares = registry::shares(ctx, &user.id, &id).await?;
    let connections = ctx.repo.connections(true).await?;
    let name_of = |cid: &str| connections.iter().find(|c| c.id == cid).map(|c| c.name.clone()).unwrap_or_default();
    Ok(Json(
        shares
            .into_iter()
            .map(|s| ShareView {
                connection_name: name_of(&s.connection_id),
                connection_id: s.connection_id,
                shared_by: s.shared_by,
                shared_at: s.shared_at,
            })
            .collect(),
    ))
}
