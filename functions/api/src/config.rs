//! How the api authenticates and where it listens, from `AIRLOCK_*` variables.

use crate::error::ApiError;
use airlock_runtime::Settings;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

pub const DEFAULT_LOCAL_ISSUER: &str = "airlock-local";
pub const DEFAULT_AUDIENCE: &str = "airlock";
pub const DEFAULT_ADMIN_ROLE: &str = "airlock_admin";
pub const DEFAULT_SERVICE_ROLE: &str = "rss_service_user";

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthConfig {
    /// The embedded default: an ES256 key kept in `key_dir` (created if missing); tokens it mints are trusted.
    Local { key_dir: PathBuf, issuer: String, audience: String },
    /// Any OIDC issuer with a JWKS endpoint (Zitadel is the reference).
    Oidc { issuer: String, jwks_url: String, audience: String },
}

#[derive(Clone, Debug)]
pub struct ApiConfig {
    pub bind: SocketAddr,
    pub auth: AuthConfig,
    pub admin_role: String,
    pub service_role: String,
    pub clearance_claims: ClearanceClaims,
}

/// Token claims that carry a user's clearance, for organizations that keep it in their IdP
/// (`AIRLOCK_OIDC_CLEARANCE_LEVEL_CLAIM`, `AIRLOCK_OIDC_CLEARANCE_TAGS_CLAIM`). Unset, or
/// absent from a token, the clearance an admin set stands.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClearanceClaims {
    /// A string claim naming a platform level.
    pub level: Option<String>,
    /// An array of tag names, or one comma-separated string.
    pub tags: Option<String>,
}

impl ApiConfig {
    /// The embedded issuer with default names and roles, on `bind` (tests and the demo).
    pub fn local(bind: SocketAddr, key_dir: impl Into<PathBuf>) -> Self {
        Self {
            bind,
            auth: AuthConfig::Local {
                key_dir: key_dir.into(),
                issuer: DEFAULT_LOCAL_ISSUER.into(),
                audience: DEFAULT_AUDIENCE.into(),
            },
            admin_role: DEFAULT_ADMIN_ROLE.into(),
            service_role: DEFAULT_SERVICE_ROLE.into(),
            clearance_claims: ClearanceClaims::default(),
        }
    }

    pub fn from_env(settings: &Settings) -> Result<Self, ApiError> {
        Self::from_lookup(settings, |name| std::env::var(name).ok())
    }

    pub fn from_lookup(settings: &Settings, get: impl Fn(&str) -> Option<String>) -> Result<Self, ApiError> {
        let bind = (settings.host.as_str(), settings.port)
            .to_socket_addrs()
            .ok()
            .and_then(|mut addrs| addrs.next())
            .ok_or_else(|| {
                ApiError::Config(format!(
                    "AIRLOCK_HOST='{}' with AIRLOCK_PORT={} is not an address to listen on",
                    settings.host, settings.port
                ))
            })?;
        let get = |name: &str| get(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        Ok(Self {
            bind,
            auth: AuthConfig::from_lookup(get)?,
            admin_role: get("AIRLOCK_OIDC_ADMIN_ROLE").unwrap_or_else(|| DEFAULT_ADMIN_ROLE.into()),
            service_role: get("AIRLOCK_OIDC_SERVICE_ROLE").unwrap_or_else(|| DEFAULT_SERVICE_ROLE.into()),
            clearance_claims: ClearanceClaims {
                level: get("AIRLOCK_OIDC_CLEARANCE_LEVEL_CLAIM"),
                tags: get("AIRLOCK_OIDC_CLEARANCE_TAGS_CLAIM"),
            },
        })
    }
}

impl AuthConfig {
    pub fn from_env() -> Result<Self, ApiError> {
        Self::from_lookup(|name| std::env::var(name).ok().map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()))
    }

    /// `AIRLOCK_LOCAL_ISSUER_DIR` selects the embedded issuer, `AIRLOCK_OIDC_JWKS_URL` an
    /// external one; exactly one must be set, since authentication is never switched off.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ApiError> {
        let audience = get("AIRLOCK_OIDC_AUDIENCE")
            .or_else(|| get("AIRLOCK_OIDC_PROJECT_ID"))
            .unwrap_or_else(|| DEFAULT_AUDIENCE.into());
        match (get("AIRLOCK_LOCAL_ISSUER_DIR"), get("AIRLOCK_OIDC_JWKS_URL")) {
            (Some(dir), None) => Ok(Self::Local {
                key_dir: dir.into(),
                issuer: get("AIRLOCK_OIDC_ISSUER").unwrap_or_else(|| DEFAULT_LOCAL_ISSUER.into()),
                audience,
            }),
            (None, Some(jwks_url)) => {
                if !(jwks_url.starts_with("https://") || jwks_url.starts_with("http://")) {
                    return Err(ApiError::Config(format!("AIRLOCK_OIDC_JWKS_URL='{jwks_url}' is not an http(s) URL")));
                }
                let issuer = get("AIRLOCK_OIDC_ISSUER").ok_or_else(|| {
                    ApiError::Config(
                        "AIRLOCK_OIDC_ISSUER is not set; tokens are checked against it when AIRLOCK_OIDC_JWKS_URL is set"
                            .into(),
                    )
                })?;
                Ok(Self::Oidc { issuer, jwks_url, audience })
            }
            (Some(dir), Some(url)) => Err(ApiError::Config(format!(
                "both AIRLOCK_LOCAL_ISSUER_DIR='{dir}' and AIRLOCK_OIDC_JWKS_URL='{url}' are set; \
                 set one: the embedded issuer or an external one"
            ))),
            (None, None) => Err(ApiError::Config(
                "no token issuer configured, and authentication is never switched off: set AIRLOCK_OIDC_JWKS_URL \
                 (with AIRLOCK_OIDC_ISSUER and AIRLOCK_OIDC_AUDIENCE) to trust an OIDC issuer, or \
                 AIRLOCK_LOCAL_ISSUER_DIR to run the embedded one"
                    .into(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn refuses_to_start_without_an_issuer() {
        let err = AuthConfig::from_lookup(lookup(&[])).unwrap_err().to_string();
        assert!(err.contains("authentication is never switched off"), "{err}");
    }

    #[test]
    fn refuses_two_issuers_and_an_external_one_without_its_name() {
        let both = lookup(&[("AIRLOCK_LOCAL_ISSUER_DIR", "/k"), ("AIRLOCK_OIDC_JWKS_URL", "https://idp/keys")]);
        assert!(AuthConfig::from_lookup(both).unwrap_err().to_string().contains("set one"));
        let nameless = lookup(&[("AIRLOCK_OIDC_JWKS_URL", "https://idp/keys")]);
        assert!(AuthConfig::from_lookup(nameless)
            .unwrap_err()
            .to_string()
            .starts_with("api configuration is invalid: AIRLOCK_OIDC_ISSUER is not set"));
        let bad_url = lookup(&[("AIRLOCK_OIDC_JWKS_URL", "idp/keys"), ("AIRLOCK_OIDC_ISSUER", "i")]);
        assert!(AuthConfig::from_lookup(bad_url).unwrap_err().to_string().contains("is not an http(s) URL"));
    }

    #[test]
    fn reads_both_modes_with_defaults_and_the_project_id_alias() {
        let local = AuthConfig::from_lookup(lookup(&[("AIRLOCK_LOCAL_ISSUER_DIR", "/keys")])).unwrap();
        assert_eq!(
            local,
            AuthConfig::Local { key_dir: "/keys".into(), issuer: "airlock-local".into(), audience: "airlock".into() }
        );
        let oidc = AuthConfig::from_lookup(lookup(&[
            ("AIRLOCK_OIDC_JWKS_URL", "https://idp.example/oauth/v2/keys"),
            ("AIRLOCK_OIDC_ISSUER", "https://idp.example"),
            ("AIRLOCK_OIDC_PROJECT_ID", "2891"),
        ]))
        .unwrap();
        assert_eq!(
            oidc,
            AuthConfig::Oidc {
                issuer: "https://idp.example".into(),
                jwks_url: "https://idp.example/oauth/v2/keys".into(),
                audience: "2891".into()
            }
        );
    }

    #[test]
    fn api_config_takes_roles_and_address() {
        let settings = Settings { host: "127.0.0.1".into(), port: 8123, ..Settings::default() };
        let config = ApiConfig::from_lookup(
            &settings,
            lookup(&[("AIRLOCK_LOCAL_ISSUER_DIR", "/k"), ("AIRLOCK_OIDC_ADMIN_ROLE", "ops")]),
        )
        .unwrap();
        assert_eq!(config.bind, "127.0.0.1:8123".parse().unwrap());
        assert_eq!(config.admin_role, "ops");
        assert_eq!(config.service_role, "rss_service_user");
        assert_eq!(config.clearance_claims, ClearanceClaims::default(), "no clearance claims unless configured");
        let claims = ApiConfig::from_lookup(
            &settings,
            lookup(&[
                ("AIRLOCK_LOCAL_ISSUER_DIR", "/k"),
                ("AIRLOCK_OIDC_CLEARANCE_LEVEL_CLAIM", "clearance"),
                ("AIRLOCK_OIDC_CLEARANCE_TAGS_CLAIM", " caveats "),
            ]),
        )
        .unwrap()
        .clearance_claims;
        assert_eq!(claims, ClearanceClaims { level: Some("clearance".into()), tags: Some("caveats".into()) });
    }
}
