use airlock_protocol::{MasterKey, MasterKeyError};
use std::time::Duration;

/// Service settings, read from `AIRLOCK_*` variables.
#[derive(Clone, Debug)]
pub struct Settings {
    pub database_url: String,
    pub bus_url: String,
    /// Label of the object store that holds the registry's own file contents.
    pub registry_store: String,
    /// Shards a new sending connection spreads its resources over.
    pub shard_count: u32,
    pub manifest_ttl: Duration,
    pub max_manifest_bytes: usize,
    /// The most memory a partner's manifest may name for its key derivation.
    pub max_kdf_memory_kib: u32,
    /// The most shards a partner's manifest may spread over (each costs a read per sync).
    pub max_shards: u32,
    /// The longest a partner's manifest may stay valid, counted from now.
    pub max_manifest_ttl: Duration,
    /// How far ahead of this platform's clock a partner's may run.
    pub clock_skew: Duration,
    pub chunk_size: usize,
    /// Revisions one publish run copies into the outbox at once.
    pub copy_concurrency: usize,
    /// A publish run with at most this many revisions to copy (and at most 256 MiB) copies
    /// them itself; a larger one fans one message per copy out to the publisher's workers.
    pub inline_copies: usize,
    /// The shares a publish pass over every file reads at a time, each page with its
    /// published records: what it holds of the connection's rows at once.
    pub publish_page: u32,
    pub schedule_interval: Duration,
    /// Deliveries of one message before a handler gives up on a retryable failure.
    pub max_attempts: u32,
    /// The same for status reports: at the backoff's 30 s ceiling, the default keeps
    /// retrying for about a day, so an outage of the database or bus loses no history.
    pub status_max_attempts: u32,
    /// How long a validation or publish holds its connection's lease before another
    /// process may take over (renewed while it runs).
    pub lease_ttl: Duration,
    /// A sync event still running this long after it started finishes as failed.
    pub sync_deadline: Duration,
    /// How long superseded outbox objects stay after a later manifest is out, so a
    /// receiver working from the previous manifest can finish.
    pub object_grace: Duration,
    /// Interrupted uploads (staging files, multipart uploads) older than this are swept.
    pub staging_max_age: Duration,
    pub host: String,
    pub port: u16,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            database_url: "sqlite://airlock.db".into(),
            bus_url: "memory://".into(),
            registry_store: "REGISTRY".into(),
            shard_count: 4,
            manifest_ttl: Duration::from_secs(24 * 3600),
            max_manifest_bytes: 16 << 20,
            max_kdf_memory_kib: airlock_protocol::KdfParams::RFC9106_SECOND.memory_kib,
            max_shards: 1024,
            // The longest AIRLOCK_MANIFEST_TTL_SECS a sender may set.
            max_manifest_ttl: Duration::from_secs(30 * 86400),
            clock_skew: Duration::from_secs(300),
            chunk_size: airlock_protocol::DEFAULT_CHUNK_SIZE,
            copy_concurrency: 8,
            inline_copies: 32,
            publish_page: 5_000,
            schedule_interval: Duration::from_secs(60),
            max_attempts: 5,
            status_max_attempts: 3000,
            lease_ttl: Duration::from_secs(120),
            sync_deadline: Duration::from_secs(6 * 3600),
            object_grace: Duration::from_secs(3600),
            staging_max_age: Duration::from_secs(24 * 3600),
            host: "0.0.0.0".into(),
            port: 8000,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("AIRLOCK_MASTER_SECRET is not set; it must be at least 32 characters and the same on every function")]
    MissingMasterSecret,
    #[error(transparent)]
    MasterKey(#[from] MasterKeyError),
    #[error("{name}='{value}' is not valid: {why}")]
    Invalid { name: String, value: String, why: String },
}

impl Settings {
    /// Reads settings and the master key; refuses to start on a missing or short key.
    pub fn from_env() -> Result<(Settings, MasterKey), SettingsError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<(Settings, MasterKey), SettingsError> {
        let secret = get("AIRLOCK_MASTER_SECRET").ok_or(SettingsError::MissingMasterSecret)?;
        let master = MasterKey::new(&secret)?;
        let d = Settings::default();
        let text = |name: &str, default: String| get(name).filter(|v| !v.is_empty()).unwrap_or(default);
        let settings = Settings {
            database_url: text("AIRLOCK_DATABASE_URL", d.database_url),
            bus_url: text("AIRLOCK_BUS_URL", d.bus_url),
            registry_store: text("AIRLOCK_REGISTRY_STORE", d.registry_store),
            shard_count: number(&get, "AIRLOCK_SHARD_COUNT", d.shard_count, 1..=1024)?,
            manifest_ttl: Duration::from_secs(number(
                &get,
                "AIRLOCK_MANIFEST_TTL_SECS",
                d.manifest_ttl.as_secs(),
                60..=30 * 86400,
            )?),
            max_manifest_bytes: number(&get, "AIRLOCK_MAX_MANIFEST_BYTES", d.max_manifest_bytes, 1024..=1 << 30)?,
            max_kdf_memory_kib: number(&get, "AIRLOCK_MAX_KDF_MEMORY_KIB", d.max_kdf_memory_kib, 8..=1 << 22)?,
            max_shards: number(&get, "AIRLOCK_MAX_SHARDS", d.max_shards, 1..=65536)?,
            max_manifest_ttl: secs(&get, "AIRLOCK_MAX_MANIFEST_TTL_SECS", d.max_manifest_ttl, 60..=365 * 86400)?,
            clock_skew: secs(&get, "AIRLOCK_CLOCK_SKEW_SECS", d.clock_skew, 0..=86400)?,
            chunk_size: number(&get, "AIRLOCK_CHUNK_SIZE", d.chunk_size, 1024..=airlock_protocol::MAX_CHUNK_SIZE)?,
            copy_concurrency: number(&get, "AIRLOCK_COPY_CONCURRENCY", d.copy_concurrency, 1..=256)?,
            inline_copies: number(&get, "AIRLOCK_PUBLISH_INLINE_COPIES", d.inline_copies, 0..=100_000)?,
            publish_page: number(&get, "AIRLOCK_PUBLISH_PAGE", d.publish_page, 1..=1_000_000)?,
            schedule_interval: Duration::from_secs(number(
                &get,
                "AIRLOCK_SCHEDULE_INTERVAL_SECS",
                d.schedule_interval.as_secs(),
                1..=86400,
            )?),
            max_attempts: number(&get, "AIRLOCK_MAX_ATTEMPTS", d.max_attempts, 1..=100)?,
            status_max_attempts: number(&get, "AIRLOCK_STATUS_MAX_ATTEMPTS", d.status_max_attempts, 1..=1_000_000)?,
            lease_ttl: secs(&get, "AIRLOCK_LEASE_SECS", d.lease_ttl, 5..=86400)?,
            sync_deadline: secs(&get, "AIRLOCK_SYNC_DEADLINE_SECS", d.sync_deadline, 10..=30 * 86400)?,
            object_grace: secs(&get, "AIRLOCK_OBJECT_GRACE_SECS", d.object_grace, 0..=30 * 86400)?,
            staging_max_age: secs(&get, "AIRLOCK_STAGING_MAX_AGE_SECS", d.staging_max_age, 10..=30 * 86400)?,
            host: text("AIRLOCK_HOST", d.host),
            port: number(&get, "AIRLOCK_PORT", d.port, 0..=65535)?,
        };
        Ok((settings, master))
    }
}

fn secs(
    get: &impl Fn(&str) -> Option<String>,
    name: &str,
    default: Duration,
    range: std::ops::RangeInclusive<u64>,
) -> Result<Duration, SettingsError> {
    Ok(Duration::from_secs(number(get, name, default.as_secs(), range)?))
}

fn number<T>(
    get: &impl Fn(&str) -> Option<String>,
    name: &str,
    default: T,
    range: std::ops::RangeInclusive<T>,
) -> Result<T, SettingsError>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
{
    let Some(value) = get(name).filter(|v| !v.is_empty()) else { return Ok(default) };
    let invalid = |why: String| SettingsError::Invalid { name: name.into(), value: value.clone(), why };
    let parsed: T = value.trim().parse().map_err(|_| invalid("not a whole number".into()))?;
    if !range.contains(&parsed) {
        return Err(invalid(format!("must be between {} and {}", range.start(), range.end())));
    }
    Ok(parsed)
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
    fn refuses_to_start_without_or_with_a_short_master_secret() {
        let err = Settings::from_lookup(lookup(&[])).unwrap_err();
        assert!(err.to_string().starts_with("AIRLOCK_MASTER_SECRET is not set"));
        let err = Settings::from_lookup(lookup(&[("AIRLOCK_MASTER_SECRET", "short")])).unwrap_err();
        assert_eq!(err.to_string(), "AIRLOCK_MASTER_SECRET is 5 characters long; at least 32 are required");
    }

    #[test]
    fn reads_values_and_refuses_bad_numbers() {
        let key = "k".repeat(32);
        let (s, _) =
            Settings::from_lookup(lookup(&[("AIRLOCK_MASTER_SECRET", &key), ("AIRLOCK_SHARD_COUNT", "8")])).unwrap();
        assert_eq!(s.shard_count, 8);
        let err = Settings::from_lookup(lookup(&[("AIRLOCK_MASTER_SECRET", &key), ("AIRLOCK_SHARD_COUNT", "0")]))
            .unwrap_err();
        assert_eq!(err.to_string(), "AIRLOCK_SHARD_COUNT='0' is not valid: must be between 1 and 1024");
    }

    #[test]
    fn partner_bounds_are_read_and_range_checked() {
        let key = "k".repeat(32);
        let base = [("AIRLOCK_MASTER_SECRET", key.as_str())];
        let (s, _) = Settings::from_lookup(lookup(&base)).unwrap();
        assert_eq!((s.max_shards, s.max_manifest_ttl.as_secs(), s.clock_skew.as_secs()), (1024, 30 * 86400, 300));
        let set = [
            base[0],
            ("AIRLOCK_MAX_SHARDS", "16"),
            ("AIRLOCK_MAX_MANIFEST_TTL_SECS", "3600"),
            ("AIRLOCK_CLOCK_SKEW_SECS", "0"),
        ];
        let (s, _) = Settings::from_lookup(lookup(&set)).unwrap();
        assert_eq!((s.max_shards, s.max_manifest_ttl.as_secs(), s.clock_skew.as_secs()), (16, 3600, 0));
        let err = Settings::from_lookup(lookup(&[base[0], ("AIRLOCK_MAX_SHARDS", "0")])).unwrap_err();
        assert_eq!(err.to_string(), "AIRLOCK_MAX_SHARDS='0' is not valid: must be between 1 and 65536");
    }
}
