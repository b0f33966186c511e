//! One error type for the whole API: each variant is an HTTP status, and every response
//! body is `{"error": "<what failed, why, the value>"}`.

use airlock_repo::RepoError;
use airlock_services::connections::ConnectionError;
use airlock_services::platform::PlatformError;
use airlock_services::registry::RegistryError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// Something this server depends on (the issuer's key endpoint) is unreachable: not
    /// the caller's fault, so not a 401.
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
    /// Startup: the configuration can't work.
    #[error("api configuration is invalid: {0}")]
    Config(String),
    #[error("binding the api to {addr} failed: {source}")]
    Bind { addr: std::net::SocketAddr, source: std::io::Error },
    #[error("local token issuer key in '{dir}' is unusable: {why}")]
    IssuerKey { dir: String, why: String },
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) | Self::Config(_) | Self::Bind { .. } | Self::IssuerKey { .. } => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::BadRequest(message.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(status = status.as_u16(), error = %self, "request failed");
        }
        let mut response = (status, Json(serde_json::json!({ "error": self.to_string() }))).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer realm=\"airlock\""),
            );
        }
        response
    }
}

impl From<RepoError> for ApiError {
    fn from(error: RepoError) -> Self {
        match error {
            RepoError::NotFound { .. } => Self::NotFound(error.to_string()),
            RepoError::Conflict(_) => Self::Conflict(error.to_string()),
            _ => Self::Internal(error.to_string()),
        }
    }
}

impl From<ConnectionError> for ApiError {
    fn from(error: ConnectionError) -> Self {
        match error {
            ConnectionError::Repo(e) => e.into(),
            ConnectionError::NotFound(_) => Self::NotFound(error.to_string()),
            ConnectionError::Archived(_) => Self::Conflict(error.to_string()),
            ConnectionError::SharedId(_)
            | ConnectionError::Transform(_)
            | ConnectionError::EmptyName
            | ConnectionError::UnknownStore(_)
            | ConnectionError::WeakSecret { .. }
            | ConnectionError::SecretMismatch
            | ConnectionError::NotCertified
            | ConnectionError::UnknownLevel(_)
            | ConnectionError::UnknownTags(_)
            | ConnectionError::UnknownUser(_) => Self::BadRequest(error.to_string()),
        }
    }
}

impl From<RegistryError> for ApiError {
    fn from(error: RegistryError) -> Self {
        match error {
            RegistryError::Repo(e) => e.into(),
            RegistryError::Store(_) | RegistryError::Write(_) | RegistryError::Read(_) => {
                Self::Internal(error.to_string())
            }
            RegistryError::Forbidden { .. } => Self::Forbidden(error.to_string()),
            RegistryError::UnknownFile(_) | RegistryError::NotShared { .. } => Self::NotFound(error.to_string()),
            RegistryError::UnknownUser(_)
            | RegistryError::UnknownLevel(_)
            | RegistryError::UnknownTags(_)
            | RegistryError::NotSending(_)
            | RegistryError::NotCertified
            | RegistryError::Ineligible { .. }
            | RegistryError::NothingToChange(_) => Self::BadRequest(error.to_string()),
        }
    }
}

impl From<PlatformError> for ApiError {
    fn from(error: PlatformError) -> Self {
        match error {
            PlatformError::Repo(e) => e.into(),
            PlatformError::Invalid(message) => Self::BadRequest(message),
            PlatformError::NotFound(message) => Self::NotFound(message),
            PlatformError::Conflict(message) => Self::Conflict(message),
            PlatformError::Forbidden(message) => Self::Forbidden(message),
        }
    }
}
