use crate::settings::{Settings, SettingsError};
use airlock_bus::{BusError, DynBus};
use airlock_domain::failures;
use airlock_domain::Connection;
use airlock_protocol::{ChannelKeys, MasterKey};
use airlock_repo::{DynRepository, RepoError};
use airlock_store::object_store::ObjectStore;
use airlock_store::{NamedStores, StoreError};
use secrecy::ExposeSecret;
use std::sync::Arc;

/// The ports and settings one platform's functions work with.
pub struct Context {
    pub settings: Settings,
    pub repo: DynRepository,
    pub bus: DynBus,
    pub stores: NamedStores,
    pub master: MasterKey,
}

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error("opening the database failed: {0}")]
    Database(#[from] RepoError),
    #[error("opening the message bus failed: {0}")]
    Bus(#[from] BusError),
    #[error("object store configuration is invalid: {0}")]
    Store(#[from] StoreError),
}

impl Context {
    /// Everything from the environment: `AIRLOCK_*` settings and `FILE_SERVICE_OBJECT_STORES__*`.
    pub async fn from_env() -> Result<Arc<Self>, StartupError> {
        let (settings, master) = Settings::from_env()?;
        let stores = NamedStores::from_env()?;
        let repo = airlock_repo::connect(&settings.database_url).await?;
        let bus = airlock_bus::connect(&settings.bus_url).await?;
        Ok(Arc::new(Self { settings, repo, bus, stores, master }))
    }

    /// The same platform over another repository: a test's wrapper that delays or fails
    /// chosen calls, say.
    pub fn with_repo(&self, repo: DynRepository) -> Context {
        Context {
            settings: self.settings.clone(),
            repo,
            bus: self.bus.clone(),
            stores: self.stores.clone(),
            master: self.master.clone(),
        }
    }

    pub fn registry_store(&self) -> Result<Arc<dyn ObjectStore>, StoreError> {
        self.stores.get(&self.settings.registry_store)
    }

    /// The channel keys of a connection: the ones derived from its current secret and stored
    /// wrapped under the master key, or (no keys stored yet, or stored for an older secret)
    /// derived now once and stored. Fails with the documented text when the master key has
    /// changed since the secret was stored.
    pub async fn channel_keys(&self, connection: &Connection) -> Result<ChannelKeys, &'static str> {
        let max = self.settings.max_kdf_memory_kib;
        // A failed read or write costs one more derivation, never the sync: the keys are the
        // same whichever way they were obtained.
        match self.repo.wrapped_channel_key(&connection.id).await {
            Ok(Some(stored)) => {
                if let Ok(keys) = ChannelKeys::unwrap(&self.master, &stored, &connection.wrapped_secret) {
                    return Ok(keys.with_max_kdf_memory_kib(max));
                }
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(connection_id = %connection.id, "reading stored channel keys failed: {e}"),
        }
        let secret = self.master.unwrap(&connection.wrapped_secret).map_err(|_| failures::SECRET_UNAVAILABLE)?;
        let shared_id = connection.shared_id.clone();
        // Argon2id takes a good fraction of a second of CPU: off the async workers.
        let keys = tokio::task::spawn_blocking(move || ChannelKeys::derive(secret.expose_secret(), &shared_id))
            .await
            .expect("the key derivation does not panic");
        let wrapped = keys.wrap(&self.master, &connection.wrapped_secret);
        if let Err(e) = self.repo.set_wrapped_channel_key(&connection.id, &wrapped).await {
            tracing::warn!(connection_id = %connection.id, "storing derived channel keys failed: {e}");
        }
        tracing::info!(connection_id = %connection.id, kdf = %keys.params(), "channel keys derived and stored");
        Ok(keys.with_max_kdf_memory_kib(max))
    }

    /// Takes the lease `key` for this run, renewed in the background until released or
    /// dropped. `None` while another process holds it.
    pub async fn take_lease(&self, key: &str) -> Result<Option<Lease>, RepoError> {
        self.take_lease_as(key, &airlock_domain::new_id()).await
    }

    /// `take_lease` for a named holder, which takes a lease it holds already again: work
    /// that spans several messages (a fanned-out publish run) holds it under one name.
    pub async fn take_lease_as(&self, key: &str, holder: &str) -> Result<Option<Lease>, RepoError> {
        let holder = holder.to_owned();
        let ttl = self.settings.lease_ttl;
        let now = airlock_domain::now_millis();
        if !self.repo.take_lease(key, &holder, now, now + ttl.as_millis() as i64).await? {
            return Ok(None);
        }
        let (repo, renewed_key, renewing_holder) = (self.repo.clone(), key.to_owned(), holder.clone());
        let renew = tokio::spawn(async move {
            let mut interval = tokio::time::interval(ttl / 3);
            interval.tick().await;
            loop {
                interval.tick().await;
                let now = airlock_domain::now_millis();
                match repo.take_lease(&renewed_key, &renewing_holder, now, now + ttl.as_millis() as i64).await {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::warn!(lease = %renewed_key, "lease lost to another process while still working");
                        return;
                    }
                    Err(e) => tracing::warn!(lease = %renewed_key, error = %e, "renewing a lease failed"),
                }
            }
        });
        Ok(Some(Lease { repo: self.repo.clone(), key: key.to_owned(), holder, renew }))
    }
}

/// A held lease (see `Context::take_lease`). Dropping it stops the renewal and lets the
/// lease expire; `release` frees it at once.
pub struct Lease {
    repo: DynRepository,
    key: String,
    holder: String,
    renew: tokio::task::JoinHandle<()>,
}

impl Lease {
    pub async fn release(self) {
        self.renew.abort();
        if let Err(e) = self.repo.release_lease(&self.key, &self.holder).await {
            tracing::warn!(lease = %self.key, error = %e, "releasing a lease failed; it expires on its own");
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.renew.abort();
    }
}
