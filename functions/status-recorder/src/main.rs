use airlock_runtime::lambda;
use airlock_status_recorder::StatusRecorder;

/// A Lambda behind its SQS queue when the Lambda runtime is there, else a container consumer.
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if lambda::is_lambda() {
        lambda::serve_sqs(StatusRecorder::new).await?;
    } else {
        airlock_runtime::serve(StatusRecorder::new, 4).await?;
    }
    Ok(())
}
