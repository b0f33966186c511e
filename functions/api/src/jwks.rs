//! An external issuer's signing keys, fetched from its JWKS URL and trusted only for as long
//! as the response's Cache-Control allows (within bounds), so that a key the issuer removes
//! stops verifying tokens within that time.
//!
//! Verification reads the keys under a lock that is never held across a fetch: a request whose
//! key is in a fresh set never waits for the issuer. Fetches happen one at a time, and only the
//! requests that need one (no fresh set yet, or an unknown key id) wait for it.

use super::{parse_jwks, pick};
use crate::error::ApiError;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::Algorithm;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// Keys are refetched at least this often, whatever the issuer's Cache-Control says.
pub const MAX_JWKS_AGE: Duration = Duration::from_secs(3600);
/// ... and not more often than this, however short its max-age (unless the configured
/// maximum is shorter still).
pub const MIN_JWKS_AGE: Duration = Duration::from_secs(60);
/// How long a key set is kept when the response names no max-age.
pub const DEFAULT_JWKS_AGE: Duration = Duration::from_secs(300);
/// An unknown key id, or a failed fetch, triggers a JWKS refetch at most this often, so that
/// a flood of tokens with made-up key ids can't turn into a flood of requests to the issuer.
pub const MIN_REFETCH_INTERVAL: Duration = Duration::from_secs(30);
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JwksTiming {
    /// Unknown key ids and failed fetches refetch at most this often.
    pub min_refetch: Duration,
    /// A key set is refetched when it is this old, at the latest.
    pub max_age: Duration,
    /// A key set is kept at least this long, even if the response says less.
    pub min_age: Duration,
}

impl Default for JwksTiming {
    fn default() -> Self {
        Self::with_max_age(MAX_JWKS_AGE)
    }
}

impl JwksTiming {
    /// Keys kept for the response's max-age, but never longer than `max_age` (nor shorter than
    /// `MIN_JWKS_AGE`, or `max_age` itself when that is shorter).
    pub fn with_max_age(max_age: Duration) -> Self {
        Self { min_refetch: MIN_REFETCH_INTERVAL, max_age, min_age: MIN_JWKS_AGE.min(max_age) }
    }

    /// How long a key set served with this Cache-Control header stays fresh.
    pub fn freshness(&self, cache_control: Option<&str>) -> Duration {
        let directives: Vec<String> =
            cache_control.unwrap_or_default().split(',').map(|d| d.trim().to_ascii_lowercase()).collect();
        let wanted = if directives.iter().any(|d| d == "no-cache" || d == "no-store") {
            Duration::ZERO
        } else {
            directives
                .iter()
                .find_map(|d| d.strip_prefix("max-age=").and_then(|v| v.trim_matches('"').parse::<u64>().ok()))
                .map(Duration::from_secs)
                .unwrap_or(DEFAULT_JWKS_AGE)
        };
        wanted.max(self.min_age).min(self.max_age)
    }
}

pub(super) struct RemoteJwks {
    url: String,
    client: reqwest::Client,
    timing: JwksTiming,
    /// Held only to copy the keys out or to replace them, never across an await.
    cache: RwLock<Cache>,
    /// Whoever fetches holds this; requests with a fresh key never take it.
    fetching: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct Cache {
    keys: Arc<Vec<Jwk>>,
    /// None until a fetch has succeeded.
    fresh_until: Option<Instant>,
    last_attempt: Option<Instant>,
    last_error: Option<String>,
    /// Counts fetch attempts, so that a request that waited behind one doesn't repeat it.
    attempts: u64,
}

impl Cache {
    fn is_fresh(&self) -> bool {
        self.fresh_until.is_some_and(|until| Instant::now() < until)
    }

    fn attempted_within(&self, interval: Duration) -> bool {
        self.last_attempt.is_some_and(|at| at.elapsed() < interval)
    }
}

impl RemoteJwks {
    pub(super) fn new(url: &str, timing: JwksTiming) -> Self {
        let client = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .build()
            .expect("a client with only a timeout set always builds");
        Self { url: url.into(), client, timing, cache: Default::default(), fetching: Default::default() }
    }

    pub(super) fn set_timing(&mut self, timing: JwksTiming) {
        self.timing = timing;
    }

    /// The key for `kid`. `source` names the issuer in refusals; the URL goes to the log only.
    pub(super) async fn key_for(&self, kid: Option<&str>, alg: Algorithm, source: &str) -> Result<Jwk, ApiError> {
        let (keys, fresh, attempts) = self.snapshot();
        if fresh {
            if let Ok(jwk) = pick(&keys, kid, alg, source) {
                return Ok(jwk);
            }
        }
        // No fresh set, or a key id it doesn't hold: perhaps the issuer rotated.
        self.refresh(fresh, attempts).await?;
        let (keys, _, _) = self.snapshot();
        pick(&keys, kid, alg, source).inspect_err(|refusal| {
            tracing::info!(jwks_url = %self.url, kid = kid.unwrap_or_default(), %refusal, "token refused by the issuer's keys");
        })
    }

    fn snapshot(&self) -> (Arc<Vec<Jwk>>, bool, u64) {
        let cache = self.cache.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        (cache.keys.clone(), cache.is_fresh(), cache.attempts)
    }

    /// Fetches unless another request just did (or failed to); a set that is merely stale and
    /// can't be refetched stays in use, a first fetch that fails is a 503, not a 401.
    async fn refresh(&self, was_fresh: bool, attempts_seen: u64) -> Result<(), ApiError> {
        let _turn = self.fetching.lock().await;
        let due = {
            let cache = self.cache.read().unwrap_or_else(|poisoned| poisoned.into_inner());
            if cache.attempts != attempts_seen {
                // The request this one waited behind fetched (or tried to): its outcome is ours.
                false
            } else if cache.is_fresh() {
                // An unknown key id, in a set fetched not too recently.
                was_fresh && !cache.attempted_within(self.timing.min_refetch)
            } else {
                cache.last_error.is_none() || !cache.attempted_within(self.timing.min_refetch)
            }
        };
        if due {
            let outcome = self.fetch().await;
            let mut cache = self.write();
            cache.last_attempt = Some(Instant::now());
            cache.attempts += 1;
            match outcome {
                Ok((keys, fresh_for)) => {
                    tracing::info!(url = %self.url, keys = keys.len(), fresh_secs = fresh_for.as_secs(), "fetched token signing keys");
                    cache.keys = Arc::new(keys);
                    cache.fresh_until = Some(Instant::now() + fresh_for);
                    cache.last_error = None;
                }
                Err(e) => {
                    tracing::warn!(url = %self.url, error = %e, "fetching token signing keys failed");
                    cache.last_error = Some(e);
                }
            }
        }
        let cache = self.cache.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        match (&cache.last_error, cache.fresh_until) {
            (Some(_), None) => {
                // The caller learns that the keys are away, not where they live or why: the
                // address and the error are in the warning logged above.
                Err(ApiError::Unavailable(
                    "token signing keys unavailable: the issuer's key set could not be fetched (the server log says why)"
                        .into(),
                ))
            }
            _ => Ok(()),
        }
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Cache> {
        self.cache.write().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    async fn fetch(&self) -> Result<(Vec<Jwk>, Duration), String> {
        let response = self.client.get(&self.url).send().await.map_err(|e| e.to_string())?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("HTTP status {status}"));
        }
        let cache_control =
            response.headers().get(reqwest::header::CACHE_CONTROL).and_then(|v| v.to_str().ok()).map(String::from);
        let body: serde_json::Value = response.json().await.map_err(|e| format!("not a JSON document: {e}"))?;
        if body.get("keys").and_then(serde_json::Value::as_array).is_none() {
            return Err("the document has no 'keys' array".into());
        }
        Ok((parse_jwks(&body), self.timing.freshness(cache_control.as_deref())))
    }
}
