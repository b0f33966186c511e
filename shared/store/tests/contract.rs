//! The object-store contract against every backend: memory, the local filesystem, S3 on
//! moto's server and Azure Blob on Azurite (both started by the test when not running).

use airlock_store::testing::LocalServer;
use airlock_store::{contract, NamedStores, Scheme, StoreConfig};
use object_store::memory::InMemory;
use std::sync::Arc;

fn open(config: StoreConfig) -> Arc<dyn object_store::ObjectStore> {
    let label = config.label.clone();
    NamedStores::from_configs(&[config]).expect("store opens").get(&label).unwrap()
}

#[tokio::test]
async fn memory_keeps_the_contract() {
    contract::run_all(Arc::new(InMemory::new())).await;
}

#[tokio::test]
async fn local_filesystem_keeps_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let name = dir.path().join("bucket").to_string_lossy().into_owned();
    let config = StoreConfig {
        label: "OUTBOX".into(),
        scheme: Scheme::File,
        name,
        endpoint_url: None,
        region: None,
        access_key: None,
        secret_key: None,
    };
    contract::run_all(open(config)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_on_moto_keeps_the_contract() {
    let server = LocalServer::s3().expect("an S3 server");
    contract::run_all(open(server.new_bucket("OUTBOX").expect("a bucket"))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_blob_on_azurite_keeps_the_contract() {
    let server = LocalServer::azurite().expect("an Azurite server");
    contract::run_all(open(server.new_container("INBOX").expect("a container"))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_azure_key_is_refused() {
    let server = LocalServer::azurite().expect("an Azurite server");
    let mut config = server.new_container("INBOX").expect("a container");
    config.secret_key = Some(base64_of("not the account key"));
    let err = open(config).put(&"x".into(), object_store::PutPayload::from_static(b"x")).await.unwrap_err();
    assert!(!err.to_string().is_empty());
}

fn base64_of(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(text)
}
