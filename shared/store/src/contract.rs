//! The object-store contract every backend must keep for Airlock: what the publisher,
//! validator and ingester rely on. Run by `tests/contract.rs` against memory, the local
//! filesystem, S3 (moto) and Azure Blob (Azurite).

use crate::{is_not_found, reader, writer};
use futures::TryStreamExt;
use object_store::{path::Path, ObjectStore, PutPayload};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub async fn run_all(store: Arc<dyn ObjectStore>) {
    round_trip_and_overwrite(&store).await;
    missing_objects_are_not_found(&store).await;
    streaming_writer_commits_only_on_shutdown(&store).await;
    multipart_streaming_round_trip(&store).await;
    listing_and_deleting_by_prefix(&store).await;
}

pub async fn round_trip_and_overwrite(store: &Arc<dyn ObjectStore>) {
    let key = Path::from("chan/shard0/manifest");
    store.put(&key, PutPayload::from_static(b"first")).await.expect("put");
    store.put(&key, PutPayload::from_static(b"second, longer")).await.expect("overwrite");
    assert_eq!(store.head(&key).await.expect("head").size, 14);
    let bytes = store.get(&key).await.expect("get").bytes().await.expect("body");
    assert_eq!(&bytes[..], b"second, longer");
}

pub async fn missing_objects_are_not_found(store: &Arc<dyn ObjectStore>) {
    let key = Path::from("chan/shard9/manifest");
    assert!(is_not_found(&store.head(&key).await.unwrap_err()), "head of a missing object");
    assert!(is_not_found(&store.get(&key).await.unwrap_err()), "get of a missing object");
    assert!(reader(store, key.as_ref()).await.is_err());
}

pub async fn streaming_writer_commits_only_on_shutdown(store: &Arc<dyn ObjectStore>) {
    let mut aborted = writer(store.clone(), "chan/aborted");
    aborted.write_all(b"never visible").await.unwrap();
    aborted.abort().await.unwrap();
    assert!(is_not_found(&store.head(&Path::from("chan/aborted")).await.unwrap_err()));

    let mut small = writer(store.clone(), "chan/small");
    small.write_all(b"hello").await.unwrap();
    small.shutdown().await.unwrap();
    let mut text = String::new();
    reader(store, "chan/small").await.unwrap().read_to_string(&mut text).await.unwrap();
    assert_eq!(text, "hello");
}

/// Larger than the writer's buffer, so it goes up in parts (a multipart upload on S3, staged
/// blocks on Azure) and comes back byte for byte.
pub async fn multipart_streaming_round_trip(store: &Arc<dyn ObjectStore>) {
    let len = 23 * 1024 * 1024 + 17;
    let block: Vec<u8> = (0..1024 * 1024).map(|i| (i % 251) as u8).collect();
    let mut w = writer(store.clone(), "chan/objects/big");
    let mut written = 0;
    while written < len {
        let n = block.len().min(len - written);
        w.write_all(&block[..n]).await.unwrap();
        written += n;
    }
    w.shutdown().await.expect("multipart upload completes");
    assert_eq!(store.head(&Path::from("chan/objects/big")).await.unwrap().size as usize, len);
    let mut r = reader(store, "chan/objects/big").await.unwrap();
    let mut buf = vec![0u8; 256 * 1024];
    let mut offset = 0usize;
    loop {
        let n = r.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        for (i, byte) in buf[..n].iter().enumerate() {
            assert_eq!(*byte, (((offset + i) % (1024 * 1024)) % 251) as u8, "byte {} differs", offset + i);
        }
        offset += n;
    }
    assert_eq!(offset, len);
}

pub async fn listing_and_deleting_by_prefix(store: &Arc<dyn ObjectStore>) {
    for key in ["list/a/1", "list/a/2", "list/b/1"] {
        store.put(&Path::from(key), PutPayload::from_static(b"x")).await.unwrap();
    }
    let mut listed: Vec<String> =
        store.list(Some(&Path::from("list/a"))).map_ok(|meta| meta.location.to_string()).try_collect().await.unwrap();
    listed.sort();
    assert_eq!(listed, ["list/a/1", "list/a/2"]);
    store.delete(&Path::from("list/a/1")).await.unwrap();
    assert!(is_not_found(&store.head(&Path::from("list/a/1")).await.unwrap_err()));
}
