use airlock_outbox_publisher::OutboxPublisher;
use airlock_runtime::lambda;

/// A Lambda behind its SQS queue when the Lambda runtime is there, else a container consumer.
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if lambda::is_lambda() {
        lambda::serve_sqs(OutboxPublisher::new).await?;
    } else {
        airlock_runtime::serve(OutboxPublisher::new, 4).await?;
    }
    Ok(())
}
