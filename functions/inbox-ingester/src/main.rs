#[tokio::main]
async fn main() -> anyhow::Result<()> {
    airlock_runtime::serve(airlock_inbox_ingester::InboxIngester::new, 4).await?;
    Ok(())
}
