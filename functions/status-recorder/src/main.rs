/// A container consumer of its topic, or a Lambda behind its SQS queue when the Lambda
/// runtime is there (`airlock_runtime::serve` tells which).
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    airlock_runtime::limit_malloc_arenas();
    airlock_runtime::serve(airlock_status_recorder::StatusRecorder::new, 4).await?;
    Ok(())
}
