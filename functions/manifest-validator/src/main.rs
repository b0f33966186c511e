use airlock_manifest_validator::{consume_object_events, on_lambda_event, queue_endpoint, ManifestValidator};
use airlock_runtime::lambda;

/// A Lambda behind its SQS queue and the inbox's S3 notifications when the Lambda runtime
/// is there, else a container consumer of polls.
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    airlock_runtime::limit_malloc_arenas();
    if !lambda::is_lambda() {
        // Optionally, the inbox bucket's notifications through a queue start syncs at once.
        if let Ok(queue_url) = std::env::var("AIRLOCK_OBJECT_EVENTS_QUEUE_URL") {
            let ctx = airlock_runtime::Context::from_env().await?;
            let sqs = queue_endpoint(&queue_url).client().await;
            tokio::spawn(consume_object_events(ctx, sqs, queue_url, |_| {}));
        }
        airlock_runtime::serve(ManifestValidator::new, 4).await?;
        return Ok(());
    }
    airlock_runtime::init_logging();
    let validator = ManifestValidator::new(airlock_runtime::Context::from_env().await?);
    lambda::run(|event: serde_json::Value| async { Ok(on_lambda_event(&validator, event).await?) }).await?;
    Ok(())
}
