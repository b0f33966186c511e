//! The faults the drills inject besides `kill -9`: a database that goes away, an exchange
//! that goes away, and old messages published again.

use airlock_bus::{MessageBus, OutgoingMessage, Topic};
use futures::StreamExt;
use sqlx::Connection;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Databases of one run on the PostgreSQL server, created fresh and dropped at the end.
#[derive(Clone)]
pub struct Databases {
    /// `postgres://user@host:port` without a database.
    pub server: String,
    pub names: Vec<String>,
}

impl Databases {
    async fn admin(&self) -> anyhow::Result<sqlx::postgres::PgConnection> {
        let url = format!("{}/postgres", self.server);
        sqlx::postgres::PgConnection::connect(&url).await.map_err(|e| anyhow::anyhow!("connecting to {url}: {e}"))
    }

    pub async fn create(server: &str, names: Vec<String>) -> anyhow::Result<Self> {
        let databases = Self { server: server.trim_end_matches('/').to_owned(), names };
        let mut admin = databases.admin().await?;
        for name in &databases.names {
            sqlx::query(&format!("CREATE DATABASE \"{name}\"")).execute(&mut admin).await?;
        }
        Ok(databases)
    }

    pub fn url(&self, name: &str) -> String {
        format!("{}/{name}", self.server)
    }

    /// Nobody can connect (superusers neither: the functions may connect as one) and every
    /// open connection is cut, as when the database server goes away.
    pub async fn cut_off(&self, name: &str) -> anyhow::Result<()> {
        let mut admin = self.admin().await?;
        sqlx::query(&format!("ALTER DATABASE \"{name}\" WITH ALLOW_CONNECTIONS false")).execute(&mut admin).await?;
        sqlx::query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
        )
        .bind(name)
        .execute(&mut admin)
        .await?;
        Ok(())
    }

    pub async fn restore(&self, name: &str) -> anyhow::Result<()> {
        let mut admin = self.admin().await?;
        sqlx::query(&format!("ALTER DATABASE \"{name}\" WITH ALLOW_CONNECTIONS true")).execute(&mut admin).await?;
        Ok(())
    }

    pub async fn drop_all(&self) {
        let Ok(mut admin) = self.admin().await else { return };
        for name in &self.names {
            let _ = sqlx::query(&format!("ALTER DATABASE \"{name}\" WITH ALLOW_CONNECTIONS true"))
                .execute(&mut admin)
                .await;
            if let Err(e) =
                sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).execute(&mut admin).await
            {
                eprintln!("drill: dropping database {name} failed: {e}");
            }
        }
    }
}

/// The exchange directory made unavailable: renamed away and a plain file put in its
/// place, so nothing can be read or written there (whoever we run as; a `chmod` would not
/// stop root) and the store cannot recreate the directory.
pub struct StoreOutage {
    dir: PathBuf,
    away: PathBuf,
}

impl StoreOutage {
    pub fn begin(dir: &Path) -> anyhow::Result<Self> {
        let away = dir.with_extension("away");
        std::fs::rename(dir, &away)?;
        std::fs::write(dir, b"the exchange is away for a drill\n")?;
        Ok(Self { dir: dir.to_owned(), away })
    }

    pub fn end(self) -> anyhow::Result<()> {
        std::fs::remove_file(&self.dir)?;
        std::fs::rename(&self.away, &self.dir)?;
        Ok(())
    }
}

/// One message seen on the bus.
#[derive(Clone)]
pub struct Captured {
    pub topic: Topic,
    pub headers: Vec<(String, String)>,
    pub payload: bytes::Bytes,
}

/// Copies of every message published under a platform's bus prefix, taken by a plain
/// (non-JetStream) subscription beside the functions' consumers.
pub struct Capture {
    pub messages: Arc<Mutex<Vec<Captured>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Capture {
    pub async fn start(server: &str, prefix: &str) -> anyhow::Result<Self> {
        let client = async_nats::connect(server).await?;
        let mut subscription = client.subscribe(format!("{prefix}.>")).await?;
        let messages: Arc<Mutex<Vec<Captured>>> = Arc::default();
        let sink = messages.clone();
        let task = tokio::spawn(async move {
            let _client = client;
            while let Some(message) = subscription.next().await {
                let Some(suffix) = message.subject.as_str().rsplit('.').next() else { continue };
                let Some(topic) = Topic::ALL.into_iter().find(|t| t.as_str() == suffix) else { continue };
                let mut headers = Vec::new();
                for (name, values) in message.headers.iter().flat_map(|map| map.iter()) {
                    let name: &str = name.as_ref();
                    // The bus's own (Nats-Msg-Id and the like) are set again on publish.
                    if name.to_ascii_lowercase().starts_with("nats-") {
                        continue;
                    }
                    if let Some(value) = values.last() {
                        headers.push((name.to_owned(), value.as_str().to_owned()));
                    }
                }
                sink.lock().unwrap().push(Captured { topic, headers, payload: message.payload });
            }
        });
        Ok(Self { messages, task })
    }

    /// Publishes up to `limit` captured messages of `topics` again (a random sample, in
    /// random order), each under a new id so the bus's duplicate window does not drop it:
    /// a replay long after the originals were handled.
    pub async fn republish(&self, bus: &dyn MessageBus, topics: &[Topic], limit: usize) -> anyhow::Result<usize> {
        let mut old: Vec<Captured> =
            self.messages.lock().unwrap().iter().filter(|m| topics.contains(&m.topic)).cloned().collect();
        rand::seq::SliceRandom::shuffle(&mut old[..], &mut rand::thread_rng());
        old.truncate(limit);
        for message in &old {
            let mut out = OutgoingMessage::new(format!("replay-{}", airlock_domain::new_id()), message.payload.clone());
            for (name, value) in &message.headers {
                out = out.with_header(name.clone(), value.clone());
            }
            bus.publish(message.topic, out).await?;
        }
        Ok(old.len())
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.task.abort();
    }
}
