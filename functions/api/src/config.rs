//! How the api authenticates and where it listens, from `AIRLOCK_*` variables.

use crate::auth::{is_zitadel_roles_claim, RoleClaims, MAX_JWKS_AGE};
use crate::error::ApiError;
use airlock_runtime::Settings;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

pub const DEFAULT_LOCAL_ISSUER: &str = "airlock-local";
pub const DEFAULT_AUDIENCE: &str = "airlock";
pub const DEFAULT_ADMIN_ROLE: &str = "airlock_admin";
pub const DEFAULT_SERVICE_ROLE: &str = "rss_service_user";

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthConfig {
    /// The embedded default: an ES256 key kept in `key_dir` (created if missing); tokens it mints are trusted.
    Local { key_dir: PathBuf, issuer: String, audience: String },
    /// Any OIDC issuer with a JWKS endpoint (Zitadel is the reference). Roles are read from
    /// `roles` only; the keys are refetched at least every `jwks_max_age` (at most an hour).
    Oidc { issuer: String, jwks_url: String, audience: String, roles: RoleClaims, jwks_max_age: Duration },
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
    /// An external issuer whose audience is a Zitadel project id: roles from that project's
    /// claim, keys refetched at least hourly.
    pub fn oidc(issuer: &str, jwks_url: &str, audience: &str) -> Self {
        Self::Oidc {
            issuer: issuer.into(),
            jwks_url: jwks_url.into(),
            audience: audience.into(),
            roles: RoleClaims::zitadel_project(audience),
            jwks_max_age: MAX_JWKS_AGE,
        }
    }

    /// Refuses what `from_lookup` would refuse in a value built in code.
    pub fn validate(&self) -> Result<(), ApiError> {
        match self {
            Self::Local { .. } => Ok(()),
            Self::Oidc { jwks_url, jwks_max_age, roles, .. } => {
                check_jwks_url(jwks_url)?;
                if jwks_max_age.is_zero() || *jwks_max_age > MAX_JWKS_AGE {
                    return Err(ApiError::Config(format!(
                        "the JWKS max age {}s is not between 1 and {} seconds",
                        jwks_max_age.as_secs_f64(),
                        MAX_JWKS_AGE.as_secs()
                    )));
                }
                if roles.names().is_empty() {
                    return Err(ApiError::Config("no claim to read roles from".into()));
                }
                Ok(())
            }
        }
    }

    pub fn from_env() -> Result<Self, ApiError> {
        Self::from_lookup(|name| std::env::var(name).ok().map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()))
    }

    /// `AIRLOCK_LOCAL_ISSUER_DIR` selects the embedded issuer, `AIRLOCK_OIDC_JWKS_URL` an
    /// external one; exactly one must be set, since authentication is never switched off.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ApiError> {
        let project = get("AIRLOCK_OIDC_PROJECT_ID");
        let audience =
            get("AIRLOCK_OIDC_AUDIENCE").or_else(|| project.clone()).unwrap_or_else(|| DEFAULT_AUDIENCE.into());
        match (get("AIRLOCK_LOCAL_ISSUER_DIR"), get("AIRLOCK_OIDC_JWKS_URL")) {
            (Some(dir), None) => Ok(Self::Local {
                key_dir: dir.into(),
                issuer: get("AIRLOCK_OIDC_ISSUER").unwrap_or_else(|| DEFAULT_LOCAL_ISSUER.into()),
                audience,
            }),
            (None, Some(jwks_url)) => {
                check_jwks_url(&jwks_url)?;
                let roles = role_claims(project.as_deref(), get("AIRLOCK_OIDC_ROLES_CLAIM").as_deref(), &audience)?;
                let jwks_max_age = match get("AIRLOCK_OIDC_JWKS_MAX_AGE_SECS") {
                    None => MAX_JWKS_AGE,
                    Some(text) => match text.parse::<u64>() {
                        Ok(secs) if (1..=MAX_JWKS_AGE.as_secs()).contains(&secs) => Duration::from_secs(secs),
                        _ => {
                            return Err(ApiError::Config(format!(
                                "AIRLOCK_OIDC_JWKS_MAX_AGE_SECS='{text}' is not a number of seconds from 1 to {}",
                                MAX_JWKS_AGE.as_secs()
                            )))
                        }
                    },
                };
                let issuer = get("AIRLOCK_OIDC_ISSUER").ok_or_else(|| {
                    ApiError::Config(
                        "AIRLOCK_OIDC_ISSUER is not set; tokens are checked against it when AIRLOCK_OIDC_JWKS_URL is set"
                            .into(),
                    )
                })?;
                Ok(Self::Oidc { issuer, jwks_url, audience, roles, jwks_max_age })
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

/// Only https, except to this machine: keys fetched in the clear from elsewhere could be
/// anyone's. The URL appears here, in a startup error, and in logs, never in a 401.
pub fn check_jwks_url(url: &str) -> Result<(), ApiError> {
    let refuse = |why: &str| Err(ApiError::Config(format!("AIRLOCK_OIDC_JWKS_URL='{url}' {why}")));
    let parsed = match reqwest::Url::parse(url) {
        Ok(parsed) => parsed,
        Err(_) => return refuse("is not an http(s) URL"),
    };
    match parsed.scheme() {
        "https" => Ok(()),
        "http" => {
            let host = parsed.host_str().unwrap_or_default();
            let loopback = match host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
                Ok(ip) => ip.is_loopback(),
                Err(_) => host.eq_ignore_ascii_case("localhost"),
            };
            if loopback {
                Ok(())
            } else {
                refuse(
                    "is plain http to another machine; the signing keys must come over https \
                     (http is accepted only for a loopback address)",
                )
            }
        }
        _ => refuse("is not an http(s) URL"),
    }
}

/// The project's claim when a project is named, the named claims when asked for, and
/// otherwise the claim of the project the audience names (with Zitadel, the audience is the
/// project id). Zitadel claim names are refused in `AIRLOCK_OIDC_ROLES_CLAIM`: the plain one
/// may hold another project's roles, and a project's own is what the project id selects.
fn role_claims(project: Option<&str>, named: Option<&str>, audience: &str) -> Result<RoleClaims, ApiError> {
    let names: Vec<&str> = named.unwrap_or_default().split(',').map(str::trim).filter(|n| !n.is_empty()).collect();
    if let Some(zitadel) = names.iter().find(|name| is_zitadel_roles_claim(name)) {
        return Err(ApiError::Config(format!(
            "AIRLOCK_OIDC_ROLES_CLAIM names Zitadel's claim '{zitadel}'; set AIRLOCK_OIDC_PROJECT_ID instead, so that \
             roles are read from that project's claim only (the plain claim holds the roles of whichever project \
             the requesting client belongs to)"
        )));
    }
    let named = (!names.is_empty()).then(|| RoleClaims::named(names));
    Ok(match (project, named) {
        (Some(project), Some(named)) => RoleClaims::zitadel_project(project).and(named),
        (Some(project), None) => RoleClaims::zitadel_project(project),
        (None, Some(named)) => named,
        (None, None) => RoleClaims::zitadel_project(audience),
    })
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

    fn oidc_with(pairs: &[(&str, &str)]) -> Result<AuthConfig, ApiError> {
        let mut all =
            vec![("AIRLOCK_OIDC_JWKS_URL", "https://idp.example/keys"), ("AIRLOCK_OIDC_ISSUER", "https://idp.example")];
        all.extend_from_slice(pairs);
        AuthConfig::from_lookup(lookup(&all))
    }

    #[test]
    fn plain_http_keys_are_refused_unless_from_this_machine() {
        for url in ["http://idp.example/keys", "http://10.0.0.5:8080/keys", "http://127.0.0.1.nip.io/keys"] {
            let err = oidc_with(&[("AIRLOCK_OIDC_JWKS_URL", url)]).unwrap_err().to_string();
            assert!(err.contains(&format!("AIRLOCK_OIDC_JWKS_URL='{url}' is plain http to another machine")), "{err}");
        }
        for url in
            ["http://127.0.0.1:9000/keys", "http://localhost/keys", "http://[::1]:80/keys", "https://idp.example/k"]
        {
            assert!(oidc_with(&[("AIRLOCK_OIDC_JWKS_URL", url)]).is_ok(), "{url} was refused");
        }
        let err = oidc_with(&[("AIRLOCK_OIDC_JWKS_URL", "ftp://idp.example/keys")]).unwrap_err().to_string();
        assert!(err.contains("is not an http(s) URL"), "{err}");
        // Built in code rather than read from the environment: refused all the same.
        let err = AuthConfig::oidc("i", "http://idp.example/keys", "a").validate().unwrap_err().to_string();
        assert!(err.contains("is plain http to another machine"), "{err}");
        assert!(AuthConfig::oidc("i", "http://127.0.0.1:1/keys", "a").validate().is_ok());
    }

    #[test]
    fn roles_come_from_the_configured_project_or_claim() {
        let roles = |config: AuthConfig| match config {
            AuthConfig::Oidc { roles, .. } => roles.names().to_vec(),
            other => panic!("not an external issuer: {other:?}"),
        };
        let project = oidc_with(&[("AIRLOCK_OIDC_PROJECT_ID", "2891")]).unwrap();
        assert_eq!(roles(project), ["urn:zitadel:iam:org:project:2891:roles"]);
        // The audience is the project id when no project is named (as with Zitadel).
        let audience = oidc_with(&[("AIRLOCK_OIDC_AUDIENCE", "4242")]).unwrap();
        assert_eq!(roles(audience), ["urn:zitadel:iam:org:project:4242:roles"]);
        let flat = oidc_with(&[("AIRLOCK_OIDC_ROLES_CLAIM", "roles")]).unwrap();
        assert_eq!(roles(flat), ["roles"]);
        let both = oidc_with(&[("AIRLOCK_OIDC_PROJECT_ID", "2891"), ("AIRLOCK_OIDC_ROLES_CLAIM", "roles, groups")]);
        assert_eq!(roles(both.unwrap()), ["urn:zitadel:iam:org:project:2891:roles", "roles", "groups"]);
        for zitadel in ["urn:zitadel:iam:org:project:roles", "urn:zitadel:iam:org:project:77:roles"] {
            let err = oidc_with(&[("AIRLOCK_OIDC_ROLES_CLAIM", zitadel)]).unwrap_err().to_string();
            assert!(err.contains("set AIRLOCK_OIDC_PROJECT_ID instead"), "{err}");
        }
    }

    #[test]
    fn jwks_max_age_is_between_a_second_and_an_hour() {
        let age = |config: AuthConfig| match config {
            AuthConfig::Oidc { jwks_max_age, .. } => jwks_max_age,
            other => panic!("not an external issuer: {other:?}"),
        };
        assert_eq!(age(oidc_with(&[]).unwrap()), Duration::from_secs(3600));
        assert_eq!(age(oidc_with(&[("AIRLOCK_OIDC_JWKS_MAX_AGE_SECS", "5")]).unwrap()), Duration::from_secs(5));
        for bad in ["0", "3601", "soon", "-1"] {
            let err = oidc_with(&[("AIRLOCK_OIDC_JWKS_MAX_AGE_SECS", bad)]).unwrap_err().to_string();
            assert!(err.contains(&format!(
                "AIRLOCK_OIDC_JWKS_MAX_AGE_SECS='{bad}' is not a number of seconds from 1 to 3600"
            )));
        }
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
        assert_eq!(oidc, AuthConfig::oidc("https://idp.example", "https://idp.example/oauth/v2/keys", "2891"));
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
