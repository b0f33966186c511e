//! The embedded token issuer: one ES256 key kept in a directory, a JWKS document for it,
//! and minting. It exists so that a platform without an external IdP still checks every
//! request; the verifier treats its tokens exactly like an external issuer's.

use crate::error::ApiError;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub const KEY_FILE: &str = "es256-signing-key.pem";
const PEM_LABEL: &str = "PRIVATE KEY";
/// Zitadel's project-roles claim: an object whose keys are the role names.
pub const ZITADEL_ROLES_CLAIM: &str = "urn:zitadel:iam:org:project:roles";

pub struct LocalIssuer {
    issuer: String,
    audience: String,
    kid: String,
    encoding: EncodingKey,
    public_jwk: Value,
}

impl std::fmt::Debug for LocalIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalIssuer").field("issuer", &self.issuer).field("kid", &self.kid).finish_non_exhaustive()
    }
}

impl LocalIssuer {
    /// Loads the key from `key_dir`, creating the directory and a fresh key on first use.
    pub fn open(key_dir: &Path, issuer: &str, audience: &str) -> Result<Self, ApiError> {
        let unusable = |why: String| ApiError::IssuerKey { dir: key_dir.display().to_string(), why };
        let pkcs8 = load_or_create(key_dir).map_err(|e| unusable(e.to_string()))?;
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8, &SystemRandom::new())
            .map_err(|e| unusable(format!("{KEY_FILE} is not a PKCS#8 P-256 key: {e}")))?;
        // An uncompressed point: 0x04, then 32 bytes of x and 32 of y.
        let point = pair.public_key().as_ref();
        let (x, y) = (URL_SAFE_NO_PAD.encode(&point[1..33]), URL_SAFE_NO_PAD.encode(&point[33..65]));
        // RFC 7638 thumbprint: stable across restarts, and a different key gets a different id.
        let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
        let kid = URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()));
        let public_jwk = json!({"kty": "EC", "crv": "P-256", "x": x, "y": y, "kid": kid, "alg": "ES256", "use": "sig"});
        Ok(Self {
            issuer: issuer.into(),
            audience: audience.into(),
            kid,
            encoding: EncodingKey::from_ec_der(&pkcs8),
            public_jwk,
        })
    }

    /// The embedded issuer a config names, to mint tokens outside a running server
    /// (`airlock-api mint-token`, `airlock token`). An external issuer keeps its keys to
    /// itself, so there is nothing here to sign with.
    pub fn for_minting(auth: &crate::AuthConfig) -> Result<Self, ApiError> {
        match auth {
            crate::AuthConfig::Local { key_dir, issuer, audience } => Self::open(key_dir, issuer, audience),
            crate::AuthConfig::Oidc { .. } => Err(ApiError::Config(
                "tokens are signed with the embedded issuer's key: set AIRLOCK_LOCAL_ISSUER_DIR, not AIRLOCK_OIDC_JWKS_URL"
                    .into(),
            )),
        }
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn audience(&self) -> &str {
        &self.audience
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The JWKS document served at `/oauth/v2/keys`.
    pub fn jwks(&self) -> Value {
        json!({ "keys": [self.public_jwk.clone()] })
    }

    /// A token for `sub` with `roles` in Zitadel's project-roles claims, valid for `ttl`: the
    /// plain one, and the one of the project the audience names, so that an api trusting this
    /// issuer as an external one reads them as it reads Zitadel's.
    pub fn mint(&self, sub: &str, roles: &[&str], ttl: Duration) -> String {
        let now = unix_now();
        let role_claim: serde_json::Map<String, Value> =
            roles.iter().map(|role| (role.to_string(), json!({ "local": self.issuer }))).collect();
        let mut claims = json!({
            "iss": self.issuer,
            "sub": sub,
            "aud": [self.audience],
            "iat": now,
            "nbf": now,
            "exp": now + ttl.as_secs(),
            ZITADEL_ROLES_CLAIM: role_claim.clone(),
        });
        claims[crate::auth::zitadel_project_claim(&self.audience)] = Value::Object(role_claim);
        self.sign(&claims)
    }

    /// Signs arbitrary claims with this key (for special-purpose tokens and tests).
    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding)
            .expect("a key that ring accepted at open time signs any JSON claims")
    }
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

fn load_or_create(dir: &Path) -> std::io::Result<Vec<u8>> {
    let path = dir.join(KEY_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            return decode_pem(&text).ok_or_else(|| invalid(format!("{} is not a PEM private key", path.display())))
        }
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        Err(_) => {}
    }
    create_private_dir(dir)?;
    let document = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
        .map_err(|_| invalid("generating a P-256 key failed".into()))?;
    let pkcs8 = document.as_ref().to_vec();
    // Written aside and linked into place, so that two processes starting together never
    // read a half-written key: the loser of the race reads the winner's.
    let staging = dir.join(format!(".{KEY_FILE}.{}", std::process::id()));
    write_private(&staging, encode_pem(&pkcs8).as_bytes())?;
    let linked = std::fs::hard_link(&staging, &path);
    let _ = std::fs::remove_file(&staging);
    match linked {
        Ok(()) => Ok(pkcs8),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let text = std::fs::read_to_string(&path)?;
            decode_pem(&text).ok_or_else(|| invalid(format!("{} is not a PEM private key", path.display())))
        }
        Err(e) => Err(e),
    }
}

fn invalid(message: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, message)
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

fn write_private(path: &PathBuf, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

fn encode_pem(der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let lines: Vec<&str> =
        body.as_bytes().chunks(64).map(|chunk| std::str::from_utf8(chunk).expect("base64 is ascii")).collect();
    format!("-----BEGIN {PEM_LABEL}-----\n{}\n-----END {PEM_LABEL}-----\n", lines.join("\n"))
}

fn decode_pem(text: &str) -> Option<Vec<u8>> {
    let begin = format!("-----BEGIN {PEM_LABEL}-----");
    let end = format!("-----END {PEM_LABEL}-----");
    let start = text.find(&begin)? + begin.len();
    let stop = text[start..].find(&end)? + start;
    let body: String = text[start..stop].chars().filter(|c| !c.is_whitespace()).collect();
    STANDARD.decode(body).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_is_created_once_and_reloaded_with_the_same_id() {
        let dir = tempfile::tempdir().unwrap();
        let first = LocalIssuer::open(&dir.path().join("keys"), "airlock-local", "airlock").unwrap();
        let again = LocalIssuer::open(&dir.path().join("keys"), "airlock-local", "airlock").unwrap();
        assert_eq!(first.kid(), again.kid());
        let other = LocalIssuer::open(&dir.path().join("other"), "airlock-local", "airlock").unwrap();
        assert_ne!(first.kid(), other.kid());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("keys").join(KEY_FILE)).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "the signing key must not be readable by others");
        }
    }

    #[test]
    fn minted_roles_sit_in_the_plain_claim_and_the_audiences_project_claim() {
        let dir = tempfile::tempdir().unwrap();
        let issuer = LocalIssuer::open(dir.path(), "airlock-local", "2891").unwrap();
        let token = issuer.mint("alice", &["airlock_admin"], Duration::from_secs(60));
        let payload = token.split('.').nth(1).unwrap();
        let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        let expected = json!({"airlock_admin": {"local": "airlock-local"}});
        assert_eq!(claims[ZITADEL_ROLES_CLAIM], expected);
        assert_eq!(claims["urn:zitadel:iam:org:project:2891:roles"], expected);
    }

    #[test]
    fn a_corrupt_key_file_is_refused_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(KEY_FILE), "not a key").unwrap();
        let err = LocalIssuer::open(dir.path(), "i", "a").unwrap_err().to_string();
        assert!(err.contains("is not a PEM private key"), "{err}");
    }
}
