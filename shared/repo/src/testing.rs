//! Test support: a PostgreSQL database made for one test run and dropped after it.

use sqlx::{AnyConnection, Connection, Executor};

pub const DEFAULT_TEST_SERVER: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A fresh database on the server at `AIRLOCK_TEST_DATABASE_URL` (default: the local one
/// with trust authentication).
pub struct TestDatabase {
    pub url: String,
    server: String,
    name: String,
}

impl TestDatabase {
    pub async fn create() -> Result<Self, String> {
        sqlx::any::install_default_drivers();
        let server = std::env::var("AIRLOCK_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_TEST_SERVER.to_owned());
        let name = format!("airlock_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = AnyConnection::connect(&server)
            .await
            .map_err(|e| format!("connecting to the PostgreSQL test server at {server} failed: {e}"))?;
        admin
            .execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .map_err(|e| format!("creating test database {name} failed: {e}"))?;
        let _ = admin.close().await;
        Ok(Self { url: with_database(&server, &name), server, name })
    }

    /// Drops the database, closing any connection still open to it.
    pub async fn drop_database(self) {
        match AnyConnection::connect(&self.server).await {
            Ok(mut admin) => {
                let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
                if let Err(e) = admin.execute(sql.as_str()).await {
                    tracing::warn!(database = %self.name, error = %e, "dropping the test database failed");
                }
                let _ = admin.close().await;
            }
            Err(e) => {
                tracing::warn!(database = %self.name, error = %e, "could not reach the server to drop the test database")
            }
        }
    }
}

/// Swaps the database name in a server URL, keeping any query string.
pub fn with_database(server_url: &str, database: &str) -> String {
    let (base, query) = match server_url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (server_url, None),
    };
    let authority_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let root = match base[authority_end..].find('/') {
        Some(slash) => &base[..authority_end + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{root}/{database}?{query}"),
        None => format!("{root}/{database}"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn database_name_is_swapped_and_query_kept() {
        assert_eq!(super::with_database("postgres://u@h:5432/postgres", "x"), "postgres://u@h:5432/x");
        assert_eq!(
            super::with_database("postgres://u@h/postgres?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
        assert_eq!(super::with_database("postgres://u@h", "x"), "postgres://u@h/x");
    }
}
