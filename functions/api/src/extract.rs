//! Request extractors. Each route names who may call it in its signature (`Admin`,
//! `SyncCaller`, `RegistryUser`, `SignedIn`), so a route can't be added without deciding
//! that; and body or query errors come back as JSON like every other error. Every one of
//! them signs the caller in: the registry account is made or refreshed from the token.

use crate::auth::Caller;
use crate::config::ClearanceClaims;
use crate::error::ApiError;
use crate::AppState;
use airlock_domain::{TagSet, User};
use airlock_repo::UserAccount;
use airlock_services::platform::{self, Identity};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use serde_json::Value;

async fn authenticate(parts: &Parts, state: &AppState) -> Result<Caller, ApiError> {
    let header = match parts.headers.get(AUTHORIZATION) {
        None => None,
        Some(value) => Some(value.to_str().map_err(|_| {
            ApiError::Unauthorized("missing bearer token: the authorization header is not printable text".into())
        })?),
    };
    state.verifier().verify_header(header).await
}

/// A verified caller and their registry account, created on first sight from the token.
async fn sign_in(parts: &Parts, state: &AppState) -> Result<(Caller, UserAccount), ApiError> {
    let caller = authenticate(parts, state).await?;
    let account = platform::sign_in(state.ctx(), &identity(&caller, state.clearance_claims())?).await?;
    Ok((caller, account))
}

/// What the token says about its subject, with the configured clearance claims when present.
fn identity(caller: &Caller, claims: &ClearanceClaims) -> Result<Identity, ApiError> {
    let claimed_level = match &claims.level {
        Some(claim) => match caller.claims.get(claim) {
            None | Some(Value::Null) => None,
            Some(Value::String(level)) => Some(level.trim().to_owned()),
            Some(other) => {
                return Err(ApiError::Forbidden(format!(
                    "clearance level claim '{claim}' of the token of '{}' is {other}, not a level name",
                    caller.sub
                )))
            }
        },
        None => None,
    };
    let claimed_tags = match &claims.tags {
        Some(claim) => match caller.claims.get(claim) {
            None | Some(Value::Null) => None,
            Some(Value::String(list)) => Some(split_tags(list)),
            Some(Value::Array(items)) => Some(
                items
                    .iter()
                    .map(|item| item.as_str().map(|t| t.trim().to_owned()))
                    .collect::<Option<TagSet>>()
                    .ok_or_else(|| {
                        ApiError::Forbidden(format!(
                            "clearance tags claim '{claim}' of the token of '{}' has an entry that is not a string",
                            caller.sub
                        ))
                    })?
                    .into_iter()
                    .filter(|t| !t.is_empty())
                    .collect(),
            ),
            Some(other) => {
                return Err(ApiError::Forbidden(format!(
                    "clearance tags claim '{claim}' of the token of '{}' is {other}, not a list of tags",
                    caller.sub
                )))
            }
        },
        None => None,
    };
    Ok(Identity { id: caller.sub.clone(), name: caller.name(), email: caller.email(), claimed_level, claimed_tags })
}

/// Comma-separated tags, as in query strings and string claims.
pub fn split_tags(list: &str) -> TagSet {
    list.split(',').map(str::trim).filter(|t| !t.is_empty()).map(String::from).collect()
}

fn require_admin_role(caller: &Caller, state: &AppState) -> Result<(), ApiError> {
    if !caller.has_role(state.admin_role()) {
        return Err(ApiError::Forbidden(format!(
            "admin role '{}' required; the token of '{}' has roles: {}",
            state.admin_role(),
            caller.sub,
            caller.roles_text()
        )));
    }
    Ok(())
}

/// The per-user Secure Connections feature flag of the admin guide.
fn require_secure_connections(account: &UserAccount) -> Result<(), ApiError> {
    if !account.secure_connections {
        return Err(ApiError::Forbidden(platform::secure_connections_disabled(&account.user.id)));
    }
    Ok(())
}

/// A caller holding the admin role, with the Secure Connections feature flag on.
pub struct Admin(pub Caller);

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let (caller, account) = sign_in(parts, state).await?;
        require_admin_role(&caller, state)?;
        require_secure_connections(&account)?;
        Ok(Self(caller))
    }
}

/// A caller that may start syncs: the service role (other systems' schedulers) or an admin
/// (who, as on every admin route, needs the feature flag).
pub struct SyncCaller(pub Caller);

impl FromRequestParts<AppState> for SyncCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let (caller, account) = sign_in(parts, state).await?;
        if caller.has_role(state.service_role()) {
            return Ok(Self(caller));
        }
        if !caller.has_role(state.admin_role()) {
            return Err(ApiError::Forbidden(format!(
                "service role '{}' or admin role '{}' required; the token of '{}' has roles: {}",
                state.service_role(),
                state.admin_role(),
                caller.sub,
                caller.roles_text()
            )));
        }
        require_secure_connections(&account)?;
        Ok(Self(caller))
    }
}

/// A caller as a registry user: their account is created on first sight.
pub struct RegistryUser(pub User);

impl FromRequestParts<AppState> for RegistryUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let (_, account) = sign_in(parts, state).await?;
        Ok(Self(account.user))
    }
}

/// Any signed-in caller with their account (the `/me` routes).
pub struct SignedIn(pub Caller, pub UserAccount);

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let (caller, account) = sign_in(parts, state).await?;
        Ok(Self(caller, account))
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
