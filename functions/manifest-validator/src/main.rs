#[tokio::main]
async fn main() -> anyhow::Result<()> {
    airlock_runtime::serve(airlock_manifest_validator::ManifestValidator::new, 4).await?;
    Ok(())
}
