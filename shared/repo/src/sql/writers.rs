//! Whose turn it is to write an SQLite database. SQLite lets one connection write at a
//! time, and a connection that finds the write lock taken polls for it, sleeping 1, 2, 5 ms
//! and more between tries: longer than most transactions here take, so under load writers
//! spent more time asleep than writing. Writers queue instead, those of one process on an
//! async lock, then processes on an advisory lock of a file beside the database
//! (`<database>-writers`), which the kernel hands to the next waiter as soon as it is let
//! go. Anything else writing the file (an `sqlite3` shell) is still waited for by polling.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::{Mutex, OwnedMutexGuard};

/// The writers of one database.
#[derive(Debug, Default)]
pub(super) struct Writers {
    local: Arc<Mutex<()>>,
    /// `None` for a database of this process alone (in memory), for PostgreSQL, or where
    /// the lock file cannot be made: then only this process's writers queue.
    file: Option<Arc<File>>,
}

/// A writer's turn, given back when dropped.
pub(super) struct Turn {
    /// Declared first, so other processes get their turn before this process's next writer
    /// would ask for it.
    _file: Option<FileTurn>,
    _local: OwnedMutexGuard<()>,
}

/// The lock of the writers' file, let go when dropped.
struct FileTurn(Arc<File>);

impl Drop for FileTurn {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

impl Writers {
    /// The writers of the database at `url`.
    pub fn of(url: &str) -> Self {
        let file = lock_path(url).and_then(|path| match OpenOptions::new().create(true).append(true).open(&path) {
            Ok(file) => Some(Arc::new(file)),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "no writers' lock file: other processes' writers poll");
                None
            }
        });
        Self { local: Arc::default(), file }
    }

    /// Waits for this writer's turn; fails only if the runtime stops meanwhile.
    pub async fn turn(&self) -> std::io::Result<Turn> {
        let local = self.local.clone().lock_owned().await;
        let Some(file) = &self.file else {
            return Ok(Turn { _file: None, _local: local });
        };
        match file.try_lock() {
            Ok(()) => Ok(Turn { _file: Some(FileTurn(file.clone())), _local: local }),
            Err(TryLockError::WouldBlock) => {
                // Waited for on a thread of its own, which holds this process's turn too.
                // Should this task be dropped meanwhile, the turn the thread gets is dropped
                // with its result: let go, and only then this process's.
                let file = file.clone();
                let waited = tokio::task::spawn_blocking(move || match file.lock() {
                    Ok(()) => Turn { _file: Some(FileTurn(file)), _local: local },
                    Err(e) => Turn { _file: unlocked(e), _local: local },
                });
                waited.await.map_err(std::io::Error::other)
            }
            Err(TryLockError::Error(e)) => Ok(Turn { _file: unlocked(e), _local: local }),
        }
    }
}

/// A lock that failed leaves the writer to SQLite's own polling, as without the file.
fn unlocked(e: std::io::Error) -> Option<FileTurn> {
    tracing::warn!(error = %e, "the writers' lock failed: waiting for SQLite's own lock instead");
    None
}

/// The lock file of a database file's URL (`sqlite://path?options` or `sqlite:path`); none
/// for a database in memory, which no other process can write.
fn lock_path(url: &str) -> Option<PathBuf> {
    if super::sqlite_in_memory(url) {
        return None;
    }
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().filter(|p| !p.is_empty())?;
    Some(PathBuf::from(format!("{path}-writers")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_lock_file_sits_beside_the_database() {
        assert_eq!(lock_path("sqlite://data/a.db?mode=rwc"), Some(PathBuf::from("data/a.db-writers")));
        assert_eq!(lock_path("sqlite:a.db"), Some(PathBuf::from("a.db-writers")));
        assert_eq!(lock_path("sqlite::memory:"), None);
        assert_eq!(lock_path("sqlite://shared?mode=memory&cache=shared"), None);
        assert_eq!(lock_path("postgres://x/y"), None);
    }

    /// Two holders of the same file, as two processes are: the second waits until the first
    /// lets go, and a waiter given up does not keep the turn it was waiting for.
    #[tokio::test]
    async fn writers_of_one_file_take_turns() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let (first, second) = (Writers::of(&url), Writers::of(&url));
        let held = first.turn().await.unwrap();
        let waiting = tokio::time::timeout(Duration::from_millis(200), second.turn()).await;
        assert!(waiting.is_err(), "the second writer got a turn while the first held it");
        drop(held);
        let again = tokio::time::timeout(Duration::from_secs(5), second.turn()).await;
        assert!(again.is_ok(), "the turn was not handed on");
        drop(again);
        let back = tokio::time::timeout(Duration::from_secs(5), first.turn()).await;
        assert!(back.is_ok(), "the first writer did not get its turn back");
    }
}
