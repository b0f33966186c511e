#[tokio::main]
async fn main() -> anyhow::Result<()> {
    airlock_runtime::serve(airlock_status_recorder::StatusRecorder::new, 4).await?;
    Ok(())
}
