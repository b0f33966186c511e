//! How the process allocates. glibc's malloc gives a thread that finds the arenas busy an
//! arena of its own, up to eight per core, and memory freed in one arena is reused only by
//! threads allocating from it. An Airlock process moves its work between tokio's workers,
//! its blocking pool and the database's threads, so each arena comes to hold its own copy
//! of the peak: both platforms in one process peaked at 148 MiB resident moving 10,000
//! files, against 93 MiB with two arenas, at the same speed (`local/bench.sh --files`).

/// The arenas a process uses at most.
pub const MALLOC_ARENAS: i32 = 2;

/// Caps glibc's malloc at `MALLOC_ARENAS` arenas. Call it first thing in `main`: glibc
/// fixes the cap when the threads first contend. Elsewhere (musl, other systems) it does
/// nothing; `MALLOC_ARENA_MAX` in the environment wins.
pub fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only sets a malloc parameter; it is safe to call at any time.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, MALLOC_ARENAS);
        }
    }
}

/// Gives the pages malloc holds free back to the system. A step that held a large
/// connection's files for a moment (a publish plan or finish) leaves them resident
/// otherwise, and its next large step adds its own peak on top of what it could not reuse.
/// It is not free: trimming after every publish plan made an idle sync about 25 ms slower
/// in the bench, so call it after such a step only.
/// Elsewhere than glibc it does nothing.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free memory to the system; it is safe at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}
