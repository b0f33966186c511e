use airlock_inbox_ingester::InboxIngester;
use airlock_runtime::lambda;

/// A Lambda behind its SQS queue when the Lambda runtime is there, else a container consumer.
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if lambda::is_lambda() {
        lambda::serve_sqs(InboxIngester::new).await?;
    } else {
        airlock_runtime::serve(InboxIngester::new, 4).await?;
    }
    Ok(())
}
