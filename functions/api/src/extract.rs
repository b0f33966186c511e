//! Request extractors. Each route names who may call it in its signature (`Admin`,
//! `SyncCaller`, `RegistryUser`), so a route can't be added without deciding that; and
//! body or query errors come back as JSON like every other error.

use crate::auth::Caller;
use crate::error::ApiError;
use crate::AppState;
use airlock_domain::User;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

async fn authenticate(parts: &Parts, state: &AppState) -> Result<Caller, ApiError> {
    let header = match parts.headers.get(AUTHORIZATION) {
        None => None,
        Some(value) => Some(value.to_str().map_err(|_| {
            ApiError::Unauthorized("missing bearer token: the authorization header is not printable text".into())
        })?),
    };
    state.verifier().verify_header(header).await
}

/// A caller holding the admin role.
pub struct Admin(pub Caller);

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = authenticate(parts, state).await?;
        if !caller.has_role(state.admin_role()) {
            return Err(ApiError::Forbidden(format!(
                "admin role '{}' required; the token of '{}' has roles: {}",
                state.admin_role(),
                caller.sub,
                caller.roles_text()
            )));
        }
        Ok(Self(caller))
    }
}

/// A caller that may start syncs: the service role (other systems' schedulers) or an admin.
pub struct SyncCaller(pub Caller);

impl FromRequestParts<AppState> for SyncCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = authenticate(parts, state).await?;
        if !caller.has_role(state.service_role()) && !caller.has_role(state.admin_role()) {
            return Err(ApiError::Forbidden(format!(
                "service role '{}' or admin role '{}' required; the token of '{}' has roles: {}",
                state.service_role(),
                state.admin_role(),
                caller.sub,
                caller.roles_text()
            )));
        }
        Ok(Self(caller))
    }
}

/// A caller whose `sub` is a user of this platform's registry.
pub struct RegistryUser(pub User);

impl FromRequestParts<AppState> for RegistryUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = authenticate(parts, state).await?;
        match state.ctx().repo.user(&caller.sub).await? {
            Some(user) => Ok(Self(user)),
            None => Err(ApiError::Forbidden(format!("user '{}' is not a registry user", caller.sub))),
        }
    }
}

/// `axum::Json` with its rejection turned into a JSON 400.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(ApiError::BadRequest(format!("request body refused: {}", rejection.body_text()))),
        }
    }
}

/// `axum::extract::Query` with its rejection turned into a JSON 400.
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Self(value)),
            Err(rejection) => Err(ApiError::BadRequest(format!("query string refused: {}", rejection.body_text()))),
        }
    }
}

/// Tells an absent field (`None`) from an explicit `null` (`Some(None)`), for PATCH bodies
/// where `null` clears a value and absence leaves it alone.
pub fn double_option<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    T: serde::Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(deserializer).map(Some)
}
