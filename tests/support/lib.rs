//! Shared pieces of the end-to-end tests: real backends (a fresh PostgreSQL database,
//! a NATS server) and small helpers.

use airlock_bus::testing::NatsServer;
use airlock_bus::NatsBus;
use airlock_domain::Health;
use airlock_local::pair::PairSetup;
use airlock_repo::testing::TestDatabase;
use airlock_repo::{SyncEvent, SyncState};
use std::path::Path;
use std::sync::Arc;

/// The health of a finished sync; panics on one still running.
pub fn finished(event: &SyncEvent) -> Health {
    match event.state {
        SyncState::Finished(health) => health,
        SyncState::Running => panic!("sync {} still running: {event:?}", event.sync_id),
    }
}

/// Deterministic content that spans several payload chunks.
pub fn cad_bytes(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

/// What to tear down after a test on real backends.
pub struct Cleanup {
    databases: Vec<TestDatabase>,
    buses: Vec<Arc<NatsBus>>,
    _nats: NatsServer,
}

impl Cleanup {
    pub async fn run(self) {
        for bus in &self.buses {
            bus.delete_streams().await;
        }
        for db in self.databases {
            db.drop_database().await;
        }
    }
}

pub struct RealBackends {
    pub setup: PairSetup,
    pub cleanup: Cleanup,
}

/// Two platforms on the real services: a fresh PostgreSQL database each and a NATS
/// JetStream bus each (one server, separate stream prefixes).
pub async fn postgres_nats_setup(dir: &Path) -> anyhow::Result<RealBackends> {
    let nats = NatsServer::find_or_start().map_err(anyhow::Error::msg)?;
    let db_a = TestDatabase::create().await.map_err(anyhow::Error::msg)?;
    let db_b = TestDatabase::create().await.map_err(anyhow::Error::msg)?;
    let prefix = uuid::Uuid::new_v4().simple().to_string();
    let bus_a = Arc::new(NatsBus::connect(&nats.url, &format!("a{prefix}")).await?);
    let bus_b = Arc::new(NatsBus::connect(&nats.url, &format!("b{prefix}")).await?);
    let mut setup = PairSetup::embedded(dir);
    setup.database_a = db_a.url.clone();
    setup.database_b = db_b.url.clone();
    setup.bus_a = bus_a.clone();
    setup.bus_b = bus_b.clone();
    Ok(RealBackends { setup, cleanup: Cleanup { databases: vec![db_a, db_b], buses: vec![bus_a, bus_b], _nats: nats } })
}

/// An object store that holds back the bytes of objects whose key contains a given text
/// until the test opens the gate: a download that started (its object opened) but has
/// not finished, as a large file is while something newer overtakes it.
pub mod gate {
    use async_trait::async_trait;
    use futures::stream::{BoxStream, StreamExt};
    use object_store::path::Path;
    use object_store::{
        GetOptions, GetResult, GetResultPayload, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
        PutMultipartOptions, PutOptions, PutPayload, PutResult, Result,
    };
    use std::sync::{Arc, Mutex};
    use tokio::sync::Semaphore;

    #[derive(Debug)]
    pub struct GatedStore {
        inner: Arc<dyn ObjectStore>,
        held: Mutex<Option<String>>,
        gate: Arc<Semaphore>,
        /// One permit per held read that reached the gate.
        pub reached: Arc<Semaphore>,
    }

    impl GatedStore {
        pub fn new(inner: Arc<dyn ObjectStore>) -> Arc<Self> {
            Arc::new(Self {
                inner,
                held: Mutex::new(None),
                gate: Arc::new(Semaphore::new(0)),
                reached: Arc::new(Semaphore::new(0)),
            })
        }

        /// Holds back reads of keys containing `text` from now on.
        pub fn hold(&self, text: &str) {
            *self.held.lock().unwrap() = Some(text.to_owned());
        }

        /// Lets every held read go on.
        pub fn open(&self) {
            *self.held.lock().unwrap() = None;
            self.gate.add_permits(1 << 20);
        }
    }

    impl std::fmt::Display for GatedStore {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "GatedStore({})", self.inner)
        }
    }

    #[async_trait]
    impl ObjectStore for GatedStore {
        async fn put_opts(&self, location: &Path, payload: PutPayload, opts: PutOptions) -> Result<PutResult> {
            self.inner.put_opts(location, payload, opts).await
        }
        async fn put_multipart_opts(
            &self,
            location: &Path,
            opts: PutMultipartOptions,
        ) -> Result<Box<dyn MultipartUpload>> {
            self.inner.put_multipart_opts(location, opts).await
        }
        async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
            let held = self.held.lock().unwrap().as_ref().is_some_and(|text| location.as_ref().contains(text.as_str()));
            let result = self.inner.get_opts(location, options).await?;
            if !held {
                return Ok(result);
            }
            // Opened now (so deleting it later changes nothing), read once the gate opens.
            let (meta, range, attributes) = (result.meta.clone(), result.range.clone(), result.attributes.clone());
            let (gate, reached) = (self.gate.clone(), self.reached.clone());
            let body = result.into_stream();
            let waited = futures::stream::once(async move {
                reached.add_permits(1);
                let _ = gate.acquire().await.expect("the gate is never closed");
                body
            })
            .flatten();
            Ok(GetResult { payload: GetResultPayload::Stream(waited.boxed()), meta, range, attributes })
        }
        async fn delete(&self, location: &Path) -> Result<()> {
            self.inner.delete(location).await
        }
        fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
            self.inner.list(prefix)
        }
        async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
            self.inner.list_with_delimiter(prefix).await
        }
        async fn copy(&self, from: &Path, to: &Path) -> Result<()> {
            self.inner.copy(from, to).await
        }
        async fn copy_if_not_exists(&self, from: &Path, to: &Path) -> Result<()> {
            self.inner.copy_if_not_exists(from, to).await
        }
    }
}
