//! The benchmark: one large file, or many small ones, through the whole pipeline beside
//! rclone and openssl (see `airlock_local::bench`).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    airlock_runtime::limit_malloc_arenas();
    airlock_local::bench::main().await
}
