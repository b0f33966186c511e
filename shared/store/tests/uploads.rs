//! Interrupted uploads are swept from configured stores: incomplete S3 multipart uploads
//! (on moto's server, started by the test when not running) and directory staging files.

use airlock_store::testing::LocalServer;
use airlock_store::{NamedStores, Scheme, StoreConfig};
use object_store::path::Path;
use object_store::{ObjectStore, PutPayload};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn now_millis() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

/// Starts a multipart upload with one part and walks away from it, as a killed writer does.
async fn interrupted_upload(store: &dyn ObjectStore, key: &str) {
    let mut upload = store.put_multipart(&Path::from(key)).await.expect("upload starts");
    upload.put_part(PutPayload::from(vec![7u8; 5 << 20])).await.expect("a part goes up");
    std::mem::forget(upload);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_multipart_uploads_older_than_the_age_are_aborted() {
    let server = LocalServer::s3().expect("an S3 server");
    let registry = NamedStores::from_configs(&[server.new_bucket("OUTBOX").expect("a bucket")]).unwrap();
    let store = registry.get("OUTBOX").unwrap();
    interrupted_upload(store.as_ref(), "chan/shard0/objects/r/v1").await;
    store.put(&Path::from("chan/shard0/manifest"), PutPayload::from_static(b"kept")).await.unwrap();
    let uploads = registry.s3_uploads("outbox").expect("an S3 label has uploads to sweep");
    let listed = uploads.list().await.unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].key, "chan/shard0/objects/r/v1");

    // Young: it may belong to a writer still running. moto reports one fixed initiation
    // time for every upload (in 2010), so "young" is an age reaching past the time the
    // server reported, whatever that is.
    let reported_age = Duration::from_millis((now_millis() - listed[0].initiated_at).max(0) as u64);
    let reports = registry.sweep_interrupted_uploads(reported_age + Duration::from_secs(3600)).await;
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].result, Ok(0), "{reports:?}");
    assert_eq!(uploads.list().await.unwrap().len(), 1, "a young upload is kept");

    let reports = registry.sweep_interrupted_uploads(Duration::ZERO).await;
    assert_eq!(reports[0].result, Ok(1), "{reports:?}");
    assert_eq!(uploads.list().await.unwrap(), Vec::new(), "the old upload is aborted");
    let kept = store.get(&Path::from("chan/shard0/manifest")).await.unwrap().bytes().await.unwrap();
    assert_eq!(&kept[..], b"kept", "committed objects stay");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bucket_that_cannot_be_listed_is_reported() {
    let server = LocalServer::s3().expect("an S3 server");
    let mut config = server.new_bucket("OUTBOX").expect("a bucket");
    config.name = format!("{}-missing", config.name);
    let registry = NamedStores::from_configs(&[config.clone()]).unwrap();
    let reports = registry.sweep_interrupted_uploads(Duration::ZERO).await;
    let why = reports[0].result.as_ref().unwrap_err();
    assert!(
        why.starts_with(&format!("listing multipart uploads of bucket '{}' failed: status 404", config.name)),
        "{why}"
    );
}

#[tokio::test]
async fn directory_staging_files_are_swept_once_per_place() {
    let dir = tempfile::tempdir().unwrap();
    let name = dir.path().to_string_lossy().into_owned();
    let config = |label: &str| StoreConfig {
        label: label.into(),
        scheme: Scheme::File,
        name: name.clone(),
        endpoint_url: None,
        region: None,
        access_key: None,
        secret_key: None,
    };
    // One directory, two labels (A's outbox is B's inbox): swept once.
    let registry = NamedStores::from_configs(&[config("OUTBOX"), config("INBOX")]).unwrap();
    std::fs::create_dir_all(dir.path().join("chan/shard0")).unwrap();
    std::fs::write(dir.path().join("chan/shard0/manifest#3"), b"half").unwrap();
    let reports = registry.sweep_interrupted_uploads(Duration::from_secs(3600)).await;
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].result, Ok(0));
    let reports = registry.sweep_interrupted_uploads(Duration::ZERO).await;
    assert_eq!(reports[0].result, Ok(1));
    assert!(!dir.path().join("chan/shard0/manifest#3").exists());
    assert!(registry.s3_uploads("OUTBOX").is_none());
}
