use airlock_runtime::lambda::{self, aws_lambda_events::event::eventbridge::EventBridgeEvent};
use serde_json::{json, Value};

/// One tick per EventBridge scheduled event when the Lambda runtime is there, else a
/// container ticking on its own interval.
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    airlock_runtime::limit_malloc_arenas();
    airlock_runtime::init_logging();
    let ctx = airlock_runtime::Context::from_env().await?;
    if !lambda::is_lambda() {
        airlock_scheduler::run(&ctx).await;
        return Ok(());
    }
    let ctx = &ctx;
    lambda::run(|event: EventBridgeEvent<Value>| async move {
        let summary = airlock_scheduler::on_scheduled_event(ctx, &event).await?;
        Ok(json!({ "publish": summary.publish.len(), "poll": summary.poll.len() }))
    })
    .await?;
    Ok(())
}
