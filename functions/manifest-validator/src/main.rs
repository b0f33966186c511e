use airlock_manifest_validator::{on_lambda_event, ManifestValidator};
use airlock_runtime::lambda;

/// A Lambda behind its SQS queue and the inbox's S3 notifications when the Lambda runtime
/// is there, else a container consumer of polls.
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if !lambda::is_lambda() {
        airlock_runtime::serve(ManifestValidator::new, 4).await?;
        return Ok(());
    }
    airlock_runtime::init_logging();
    let validator = ManifestValidator::new(airlock_runtime::Context::from_env().await?);
    lambda::run(|event: serde_json::Value| async { Ok(on_lambda_event(&validator, event).await?) }).await?;
    Ok(())
}
