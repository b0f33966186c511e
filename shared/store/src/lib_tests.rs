use super::*;

fn vars(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[test]
fn reads_the_registry_variables() {
    let configs = configs_from_vars(vars(&[
        ("FILE_SERVICE_OBJECT_STORES__INBOX__SCHEME", "wasbs"),
        ("FILE_SERVICE_OBJECT_STORES__INBOX__NAME", "dev-inbox"),
        ("FILE_SERVICE_OBJECT_STORES__INBOX__REGION", "\"\""),
        ("FILE_SERVICE_OBJECT_STORES__INBOX__ENDPOINT_URL", "https://acct.blob.example"),
        ("FILE_SERVICE_OBJECT_STORES__outbox__SCHEME", "s3"),
        ("FILE_SERVICE_OBJECT_STORES__outbox__NAME", "dev-outbox"),
        ("UNRELATED", "x"),
    ]))
    .unwrap();
    assert_eq!(configs.len(), 2);
    assert_eq!(configs[0].label, "INBOX");
    assert_eq!(configs[0].scheme, Scheme::Wasbs);
    assert_eq!(configs[0].region, None, "empty quoted region means unset");
    assert_eq!(configs[1].label, "OUTBOX");
    assert_eq!(configs[1].access_key, None, "keys may be omitted for pod identity");
}

#[test]
fn refuses_missing_scheme_or_name_and_unknown_schemes() {
    let err = configs_from_vars(vars(&[("FILE_SERVICE_OBJECT_STORES__X__NAME", "b")])).unwrap_err();
    assert_eq!(err.to_string(), "object store 'X': SCHEME is missing (FILE_SERVICE_OBJECT_STORES__X__SCHEME)");
    let err = configs_from_vars(vars(&[
        ("FILE_SERVICE_OBJECT_STORES__X__SCHEME", "ftp"),
        ("FILE_SERVICE_OBJECT_STORES__X__NAME", "b"),
    ]))
    .unwrap_err();
    assert!(err.to_string().contains("scheme 'ftp' is not one of"));
}

#[test]
fn unknown_label_gives_the_documented_message() {
    let registry = NamedStores::default();
    let err = registry.get("OUTBOX").unwrap_err();
    assert!(err.to_string().starts_with(
        "connection failed (no manifest produced): bucket not configured: No RSS object-store configuration for label"
    ));
}

fn config(label: &str, scheme: Scheme, name: &str, endpoint: Option<&str>) -> StoreConfig {
    StoreConfig {
        label: label.into(),
        scheme,
        name: name.into(),
        endpoint_url: endpoint.map(Into::into),
        region: Some("eu-west-1".into()),
        access_key: None,
        secret_key: None,
    }
}

#[test]
fn labels_for_one_bucket_or_directory_are_the_same_place() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_string_lossy().into_owned();
    let configs = [
        config("registry", Scheme::File, &format!("{root}/registry"), None),
        config("alias", Scheme::File, &format!("{root}/other/../registry/"), None),
        config("outbox", Scheme::File, &format!("{root}/outbox"), None),
        config("s3-a", Scheme::S3, "files", Some("http://minio:9000")),
        config("s3-b", Scheme::S3, "Files", Some("HTTP://minio:9000/")),
        config("s3-other-endpoint", Scheme::S3, "files", Some("http://other:9000")),
        config("s3-default", Scheme::S3, "files", None),
        config("mem-a", Scheme::Memory, "same", None),
        config("mem-b", Scheme::Memory, "same", None),
    ];
    std::fs::create_dir_all(format!("{root}/other")).unwrap();
    let registry = NamedStores::from_configs(&configs).unwrap();
    assert!(registry.same_place("REGISTRY", "registry"));
    assert!(registry.same_place("ALIAS", "REGISTRY"), "another spelling of the same directory");
    assert!(!registry.same_place("OUTBOX", "REGISTRY"));
    assert!(registry.same_place("S3-A", "S3-B"), "same endpoint and bucket under two labels");
    assert!(!registry.same_place("S3-A", "S3-OTHER-ENDPOINT"), "same bucket name on another server");
    assert!(!registry.same_place("S3-A", "S3-DEFAULT"));
    assert!(!registry.same_place("MEM-A", "MEM-B"), "two memory stores are two places");
    assert!(!registry.same_place("NOPE", "REGISTRY"));
}

#[tokio::test]
async fn reads_stop_at_the_limit_whatever_the_object_size() {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let path = Path::from("big");
    store.put(&path, vec![7u8; 1 << 20].into()).await.unwrap();
    let read = |limit| {
        let store = store.clone();
        let path = path.clone();
        async move { read_at_most(store.get(&path).await.unwrap(), limit).await.unwrap() }
    };
    assert_eq!(read(1001).await.len(), 1001, "a 1 MiB object costs only the limit");
    assert_eq!(read(1 << 21).await.len(), 1 << 20, "a smaller object is read whole");
    assert_eq!(read((1 << 20) + 1).await.len(), 1 << 20);
}

#[tokio::test]
async fn file_store_round_trip_commits_only_on_shutdown() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let config = StoreConfig {
        label: "box".into(),
        scheme: Scheme::File,
        name: dir.path().join("bucket").to_string_lossy().into_owned(),
        endpoint_url: None,
        region: None,
        access_key: None,
        secret_key: None,
    };
    let registry = NamedStores::from_configs(&[config]).unwrap();
    let store = registry.get("BOX").unwrap();

    let mut dropped = writer(store.clone(), "a/never");
    dropped.write_all(b"lost").await.unwrap();
    drop(dropped);
    assert!(is_not_found(&store.head(&Path::from("a/never")).await.unwrap_err()));

    let mut w = writer(store.clone(), "a/b");
    w.write_all(b"hello").await.unwrap();
    w.shutdown().await.unwrap();
    let mut text = String::new();
    reader(&store, "a/b").await.unwrap().read_to_string(&mut text).await.unwrap();
    assert_eq!(text, "hello");
}

#[tokio::test]
async fn directory_files_are_objects_of_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let bucket = config("box", Scheme::File, &dir.path().join("bucket").to_string_lossy(), None);
    let mut registry = NamedStores::from_configs(&[bucket, config("mem", Scheme::Memory, "m", None)]).unwrap();
    let store = registry.get("BOX").unwrap();
    let files = registry.directory("box").expect("a file-scheme label is a directory");
    assert!(registry.directory("MEM").is_none(), "memory is no directory");

    files.write("deep/down/a", b"first").unwrap();
    // As a killed writer's part would be: found there, and replaced whole.
    files.write("deep/down/a", b"second").unwrap();
    let got = store.get(&Path::from("deep/down/a")).await.unwrap().bytes().await.unwrap();
    assert_eq!(&got[..], b"second", "the store reads what was written, the newest write whole");
    let names: Vec<_> =
        std::fs::read_dir(dir.path().join("bucket/deep/down")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, ["a"], "no staging file is left");

    store.put(&Path::from("b"), vec![1u8; 100].into()).await.unwrap();
    assert_eq!(files.read_small("b", 100).unwrap().unwrap().len(), 100);
    assert_eq!(files.read_small("b", 99).unwrap(), None, "a larger object is left to the stream");
    assert!(is_not_found(&files.read_small("missing", 10).unwrap_err()));
    assert!(is_not_found(&files.read_small("deep", 10).unwrap_err()), "a directory is no object");

    registry.insert("BOX", Arc::new(InMemory::new()));
    assert!(registry.directory("BOX").is_none(), "a replaced store is used as a store");
}
