//! Bearer token verification: signature against the issuer's JWKS, then issuer, audience,
//! expiry and not-before, each refusal saying which check failed and with what value.

use crate::error::ApiError;
use crate::issuer::{unix_now, ZITADEL_ROLES_CLAIM};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::time::Duration;

#[path = "jwks.rs"]
mod jwks;
pub use jwks::{JwksTiming, DEFAULT_JWKS_AGE, MAX_JWKS_AGE, MIN_JWKS_AGE, MIN_REFETCH_INTERVAL};

/// Clocks of the issuer and this server may disagree by this much.
pub const LEEWAY_SECS: u64 = 30;

/// Asymmetric algorithms only: with HS*, whoever can read the public JWKS could sign.
const ACCEPTED: &[Algorithm] = &[
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::EdDSA,
];

/// Who called, as the token says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub sub: String,
    pub roles: BTreeSet<String>,
    /// Every claim of the verified token, for the profile (name, email) and clearance claims.
    pub claims: Map<String, Value>,
}

impl Caller {
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.contains(role)
    }

    /// The display name: `name`, `preferred_username` or `email`, whichever comes first.
    pub fn name(&self) -> Option<String> {
        ["name", "preferred_username", "email"].iter().find_map(|claim| self.text_claim(claim))
    }

    pub fn email(&self) -> Option<String> {
        self.text_claim("email")
    }

    /// A non-empty string claim, trimmed.
    pub fn text_claim(&self, claim: &str) -> Option<String> {
        self.claims.get(claim).and_then(Value::as_str).map(str::trim).filter(|v| !v.is_empty()).map(String::from)
    }

    pub fn roles_text(&self) -> String {
        if self.roles.is_empty() {
            "none".into()
        } else {
            self.roles.iter().map(String::as_str).collect::<Vec<_>>().join(", ")
        }
    }
}

pub struct Verifier {
    issuer: String,
    audience: String,
    roles: RoleClaims,
    keys: KeySource,
}

enum KeySource {
    /// The embedded issuer's own keys: nothing to fetch.
    Fixed(Vec<Jwk>),
    Remote(jwks::RemoteJwks),
}

fn rejected(why: impl std::fmt::Display) -> ApiError {
    ApiError::Unauthorized(format!("token rejected: {why}"))
}

impl Verifier {
    /// Trusts the given JWKS document (the embedded issuer's), with roles from its claim.
    pub fn fixed(issuer: &str, audience: &str, jwks: &Value) -> Self {
        Self {
            issuer: issuer.into(),
            audience: audience.into(),
            roles: RoleClaims::local(),
            keys: KeySource::Fixed(parse_jwks(jwks)),
        }
    }

    /// Fetches the issuer's keys from `jwks_url` when first needed, again when they are older
    /// than the response's Cache-Control allows (at most an hour), and on an unknown key id.
    /// Roles are read from the Zitadel project claim of `audience` unless `with_roles` says otherwise.
    pub fn remote(issuer: &str, audience: &str, jwks_url: &str) -> Self {
        Self::remote_with(issuer, audience, jwks_url, JwksTiming::default())
    }

    #[cfg(test)]
    pub(crate) fn remote_with_interval(issuer: &str, audience: &str, jwks_url: &str, min_refetch: Duration) -> Self {
        Self::remote_with(issuer, audience, jwks_url, JwksTiming { min_refetch, ..JwksTiming::default() })
    }

    pub(crate) fn remote_with(issuer: &str, audience: &str, jwks_url: &str, timing: JwksTiming) -> Self {
        Self {
            issuer: issuer.into(),
            audience: audience.into(),
            roles: RoleClaims::zitadel_project(audience),
            keys: KeySource::Remote(jwks::RemoteJwks::new(jwks_url, timing)),
        }
    }

    /// Reads roles from these claims only.
    pub fn with_roles(mut self, roles: RoleClaims) -> Self {
        self.roles = roles;
        self
    }

    /// Refetches a remote issuer's keys at least this often (see `JwksTiming::with_max_age`).
    pub fn with_jwks_max_age(mut self, max_age: Duration) -> Self {
        if let KeySource::Remote(remote) = &mut self.keys {
            remote.set_timing(JwksTiming::with_max_age(max_age));
        }
        self
    }

    /// Checks a raw `Authorization` header value.
    pub async fn verify_header(&self, header: Option<&str>) -> Result<Caller, ApiError> {
        let Some(value) = header else {
            return Err(ApiError::Unauthorized("missing bearer token: send 'Authorization: Bearer <jwt>'".into()));
        };
        let token = match value.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => token.trim(),
            _ => {
                let scheme = value.split(' ').next().unwrap_or_default();
                return Err(ApiError::Unauthorized(format!(
                    "missing bearer token: the authorization header uses scheme '{scheme}', expected 'Bearer <jwt>'"
                )));
            }
        };
        self.verify(token).await
    }

    pub async fn verify(&self, token: &str) -> Result<Caller, ApiError> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| rejected(malformed(&e)))?;
        if !ACCEPTED.contains(&header.alg) {
            return Err(rejected(format!(
                "algorithm {:?} is not accepted; expected an asymmetric one (ES256, RS256, …)",
                header.alg
            )));
        }
        let jwk = self.key_for(header.kid.as_deref(), header.alg).await?;
        let key = DecodingKey::from_jwk(&jwk).map_err(|e| rejected(format!("the issuer's key is unusable: {e}")))?;
        let mut validation = Validation::new(header.alg);
        // The claims are checked below, by hand, so that each refusal can name its value.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        let data =
            jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation).map_err(|e| match e.kind() {
                ErrorKind::InvalidSignature | ErrorKind::Crypto(_) => rejected("signature does not verify"),
                ErrorKind::InvalidAlgorithm => {
                    rejected(format!("algorithm {:?} does not fit the issuer's key {}", header.alg, key_name(&jwk)))
                }
                _ => rejected(malformed(&e)),
            })?;
        self.check_claims(&data.claims)
    }

    fn check_claims(&self, claims: &Map<String, Value>) -> Result<Caller, ApiError> {
        let now = unix_now();
        let exp = claims.get("exp").and_then(Value::as_f64).ok_or_else(|| rejected("no expiry ('exp' claim)"))?;
        if exp + (LEEWAY_SECS as f64) < now as f64 {
            return Err(rejected(format!("expired at {} (now {})", rfc3339(exp), rfc3339(now as f64))));
        }
        if let Some(nbf) = claims.get("nbf") {
            let nbf = nbf.as_f64().ok_or_else(|| rejected(format!("'nbf' claim {nbf} is not a number")))?;
            if nbf > (now + LEEWAY_SECS) as f64 {
                return Err(rejected(format!("not valid before {} (now {})", rfc3339(nbf), rfc3339(now as f64))));
            }
        }
        match claims.get("iss").and_then(Value::as_str) {
            Some(iss) if iss == self.issuer => {}
            Some(iss) => return Err(rejected(format!("issuer '{iss}' is not the expected '{}'", self.issuer))),
            None => return Err(rejected(format!("no issuer ('iss' claim); expected '{}'", self.issuer))),
        }
        let audiences: Vec<&str> = match claims.get("aud") {
            Some(Value::String(one)) => vec![one.as_str()],
            Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if !audiences.contains(&self.audience.as_str()) {
            let shown = if audiences.is_empty() { "(none)".to_string() } else { audiences.join(", ") };
            return Err(rejected(format!("audience '{shown}' does not include '{}'", self.audience)));
        }
        let sub = claims
            .get("sub")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| rejected("no subject ('sub' claim)"))?;
        Ok(Caller { sub: sub.into(), roles: self.roles.read(claims), claims: claims.clone() })
    }

    async fn key_for(&self, kid: Option<&str>, alg: Algorithm) -> Result<Jwk, ApiError> {
        match &self.keys {
            KeySource::Fixed(keys) => pick(keys, kid, alg, "the local issuer"),
            KeySource::Remote(remote) => remote.key_for(kid, alg, &format!("issuer '{}'", self.issuer)).await,
        }
    }
}

/// Keys that can't be parsed or are symmetric are skipped: one odd key in an issuer's set
/// must not lock everyone out, and a symmetric key in a public document is no proof of anything.
fn parse_jwks(document: &Value) -> Vec<Jwk> {
    let keys = document.get("keys").and_then(Value::as_array).cloned().unwrap_or_default();
    keys.into_iter()
        .filter_map(|key| serde_json::from_value::<Jwk>(key).ok())
        .filter(|jwk| !matches!(jwk.algorithm, AlgorithmParameters::OctetKey(_)))
        .collect()
}

fn pick(keys: &[Jwk], kid: Option<&str>, alg: Algorithm, source: &str) -> Result<Jwk, ApiError> {
    let fits = |jwk: &Jwk| jwk.common.key_algorithm.is_none_or(|a| format!("{a:?}") == format!("{alg:?}"));
    let found = match kid {
        Some(kid) => keys.iter().find(|k| k.common.key_id.as_deref() == Some(kid)),
        None => {
            let candidates: Vec<&Jwk> = keys.iter().filter(|k| fits(k)).collect();
            match candidates.as_slice() {
                [only] => Some(*only),
                _ => {
                    return Err(rejected(format!(
                        "the token names no key ('kid') and {source} has {} keys for {alg:?}",
                        candidates.len()
                    )))
                }
            }
        }
    };
    let Some(jwk) = found else {
        return Err(rejected(format!("signing key '{}' is not one of the keys of {source}", kid.unwrap_or_default())));
    };
    if !fits(jwk) {
        return Err(rejected(format!("algorithm {alg:?} does not fit the issuer's key {}", key_name(jwk))));
    }
    Ok(jwk.clone())
}

fn malformed(error: &jsonwebtoken::errors::Error) -> String {
    match error.kind() {
        ErrorKind::InvalidToken => "malformed token: not three dot-separated base64url parts".into(),
        ErrorKind::Base64(e) => format!("malformed token: a part is not base64url ({e})"),
        ErrorKind::Json(e) => format!("malformed token: header or claims are not the expected JSON ({e})"),
        ErrorKind::Utf8(e) => format!("malformed token: a part is not UTF-8 ({e})"),
        _ => format!("malformed token: {error}"),
    }
}

fn key_name(jwk: &Jwk) -> String {
    format!("'{}'", jwk.common.key_id.as_deref().unwrap_or("(no kid)"))
}

/// The claims a token's roles are read from: each an object whose keys are the role names
/// (Zitadel's shape, `{"airlock_admin": {"<org id>": "<org domain>"}}`) or an array of names.
///
/// Zitadel asserts the roles of every project a token is for under
/// `urn:zitadel:iam:org:project:<project id>:roles`, and repeats those of the project the
/// requesting client belongs to under the plain `urn:zitadel:iam:org:project:roles`. A client
/// of another project that asks for this project's audience therefore gets a token for us whose
/// plain claim holds its own project's roles; only the named claim says whose roles they are,
/// so an external issuer's plain claim is never read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleClaims {
    names: Vec<String>,
}

impl RoleClaims {
    /// Zitadel's roles of this one project.
    pub fn zitadel_project(project_id: &str) -> Self {
        Self { names: vec![zitadel_project_claim(project_id)] }
    }

    /// Roles from exactly these claims (for issuers other than Zitadel, e.g. a flat `roles` array).
    pub fn named<S: Into<String>>(names: impl IntoIterator<Item = S>) -> Self {
        Self { names: names.into_iter().map(Into::into).collect() }
    }

    /// The embedded issuer's plain claim: it signs for this platform only, so the claim can't
    /// belong to anyone else.
    pub fn local() -> Self {
        Self::named([ZITADEL_ROLES_CLAIM])
    }

    /// These claims and `other`'s.
    pub fn and(mut self, other: RoleClaims) -> Self {
        for name in other.names {
            if !self.names.contains(&name) {
                self.names.push(name);
            }
        }
        self
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The roles in the configured claims; any other claim, however role-like, is ignored.
    pub fn read(&self, claims: &Map<String, Value>) -> BTreeSet<String> {
        let mut roles = BTreeSet::new();
        for value in self.names.iter().filter_map(|name| claims.get(name)) {
            match value {
                Value::Object(map) => roles.extend(map.keys().cloned()),
                Value::Array(list) => roles.extend(list.iter().filter_map(Value::as_str).map(String::from)),
                _ => {}
            }
        }
        roles
    }
}

/// `urn:zitadel:iam:org:project:<id>:roles`, the claim of one project's roles.
pub fn zitadel_project_claim(project_id: &str) -> String {
    format!("urn:zitadel:iam:org:project:{project_id}:roles")
}

/// Whether `name` is one of Zitadel's project-roles claims (plain or of some project).
pub fn is_zitadel_roles_claim(name: &str) -> bool {
    if name == ZITADEL_ROLES_CLAIM {
        return true;
    }
    name.strip_prefix("urn:zitadel:iam:org:project:")
        .and_then(|rest| rest.strip_suffix(":roles"))
        .is_some_and(|project| !project.is_empty() && !project.contains(':'))
}

fn rfc3339(unix: f64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix as i64)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| format!("{unix} (unix time)"))
}

#[cfg(test)]
#[path = "auth_tests.rs"]
mod tests;
