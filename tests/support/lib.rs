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
