#[tokio::main]
async fn main() -> anyhow::Result<()> {
    airlock_runtime::serve(airlock_outbox_publisher::OutboxPublisher::new, 4).await?;
    Ok(())
}
