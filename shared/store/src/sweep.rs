//! Sweeping what interrupted uploads leave behind in a directory store: the directory
//! backend writes an object to `<key>#<n>` and renames it into place on commit, so a
//! writer killed mid-upload leaves the staging file, hidden from listings, for good.
//! (On S3 the same is an incomplete multipart upload; a bucket lifecycle rule with
//! AbortIncompleteMultipartUpload removes those, see infra/README.md.)

use std::path::Path;
use std::time::{Duration, SystemTime};

/// Whether a file name is a staging file: `<name>#<digits>`.
fn is_staging(name: &str) -> bool {
    name.rsplit_once('#')
        .is_some_and(|(stem, n)| !stem.is_empty() && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Removes staging files under `root` last written more than `max_age` ago (younger ones
/// may belong to an upload still running) and returns how many went.
pub fn sweep_staging_files(root: &Path, max_age: Duration) -> std::io::Result<usize> {
    let cutoff = SystemTime::now().checked_sub(max_age).unwrap_or(SystemTime::UNIX_EPOCH);
    let mut removed = 0;
    let mut dirs = vec![root.to_owned()];
    while let Some(dir) = dirs.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                dirs.push(entry.path());
            } else if kind.is_file()
                && is_staging(&entry.file_name().to_string_lossy())
                && entry.metadata()?.modified()? < cutoff
            {
                match std::fs::remove_file(entry.path()) {
                    Ok(()) => removed += 1,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object_store::local::LocalFileSystem;
    use crate::object_store::ObjectStore;
    use std::sync::Arc;
    use tokio::io::AsyncWriteExt;

    #[test]
    fn recognises_staging_names_only() {
        assert!(is_staging("manifest#1") && is_staging("v1#12"));
        assert!(!is_staging("manifest") && !is_staging("a#b") && !is_staging("#3") && !is_staging("a#"));
    }

    /// A writer killed mid-upload leaves a staging file: swept once old enough, never
    /// while young, and committed objects are left alone.
    #[tokio::test]
    async fn an_interrupted_upload_is_swept_and_committed_objects_stay() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn ObjectStore> = Arc::new(LocalFileSystem::new_with_prefix(dir.path()).unwrap());
        let mut done = crate::writer(store.clone(), "chan/shard0/objects/r/v1");
        done.write_all(b"kept").await.unwrap();
        done.shutdown().await.unwrap();
        // Big enough to go up in parts, so the staging file exists; then forgotten, as a
        // killed process would (no abort, no drop cleanup).
        let mut killed = crate::writer(store.clone(), "chan/shard0/objects/r/v2");
        killed.write_all(&vec![7u8; 12 << 20]).await.unwrap();
        killed.flush().await.unwrap();
        std::mem::forget(killed);
        let staging = dir.path().join("chan/shard0/objects/r/v2#1");
        assert!(staging.exists(), "the interrupted upload left its staging file");

        assert_eq!(sweep_staging_files(dir.path(), Duration::from_secs(3600)).unwrap(), 0, "young: maybe running");
        assert!(staging.exists());
        assert_eq!(sweep_staging_files(dir.path(), Duration::ZERO).unwrap(), 1);
        assert!(!staging.exists());
        assert!(dir.path().join("chan/shard0/objects/r/v1").exists(), "committed objects stay");
        assert_eq!(sweep_staging_files(&dir.path().join("missing"), Duration::ZERO).unwrap(), 0);
    }
}
