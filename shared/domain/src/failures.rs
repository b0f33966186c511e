//! The failure texts operators search for (the debugging guide's table) and the new ones
//! in the same style: what failed, then why, then the value. Kept in one place so the
//! guide stays true.

use crate::classification::{join_tags, InfosecLevel, TagSet};

pub const SECRET_UNAVAILABLE: &str = "shared secret unavailable: InvalidToken";
pub const NO_MANIFEST_RECEIVED: &str = "connection failed (no manifest received)";
pub const ARCHIVED_DURING_PUBLISH: &str =
    "publish stopped: the connection was archived while it ran; no manifest written";

pub fn bucket_not_configured(label: &str) -> String {
    format!("connection failed (no manifest produced): bucket not configured: No RSS object-store configuration for label '{label}'")
}

pub fn outbox_write_failed(detail: impl std::fmt::Display) -> String {
    format!("outbox write failed: {detail}")
}

pub fn properties_read_failed(detail: impl std::fmt::Display) -> String {
    format!("properties read failed: {detail}")
}

pub fn no_manifest_received(key: &str, store: &str) -> String {
    format!("{NO_MANIFEST_RECEIVED}: no object at '{key}' in store '{store}'")
}

pub fn uncovered_tags(tags: &TagSet) -> String {
    format!("manifest control tag(s) uncovered by any transformation predicate: {}", join_tags(tags))
}

pub fn max_level_exceeds_local(incoming: &InfosecLevel, local_max: &InfosecLevel) -> String {
    format!(
        "manifest max infosec level '{}' (order={}) exceeds local platform max '{}' (order={})",
        incoming.name, incoming.order, local_max.name, local_max.order
    )
}

/// A file name refused at upload, and the same refusal for a name a partner sends.
pub fn bad_file_name(name: &str) -> String {
    format!(
        "file name '{}' is empty, longer than {} bytes, or has control characters or path separators",
        name.escape_debug(),
        crate::entities::MAX_FILE_NAME_BYTES
    )
}

/// A partner's manifest entry whose name or tag a local upload could not carry.
pub fn partner_entry_invalid(resource_id: &str, why: &str) -> String {
    format!("manifest rejected: resource {resource_id}: {why}")
}

pub fn shard_count_out_of_range(count: u32, max: u32) -> String {
    format!("manifest rejected: shard count {count} is outside 1..={max}, this platform's maximum (AIRLOCK_MAX_SHARDS)")
}

pub fn expires_too_late(expires_at: impl std::fmt::Display, latest: impl std::fmt::Display, max_secs: u64) -> String {
    format!(
        "manifest rejected: expires at {expires_at}, after {latest}: a manifest may live at most {max_secs} s \
         (AIRLOCK_MAX_MANIFEST_TTL_SECS) plus the allowed clock skew"
    )
}

pub fn generated_in_the_future(
    generated_at: impl std::fmt::Display,
    now: impl std::fmt::Display,
    skew_secs: u64,
) -> String {
    format!(
        "manifest rejected: generated at {generated_at}, more than the allowed clock skew of {skew_secs} s \
         (AIRLOCK_CLOCK_SKEW_SECS) after now ({now})"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_prefixes_are_verbatim() {
        assert_eq!(SECRET_UNAVAILABLE, "shared secret unavailable: InvalidToken");
        assert!(bucket_not_configured("OUTBOX").starts_with(
            "connection failed (no manifest produced): bucket not configured: No RSS object-store configuration for label"
        ));
        assert!(outbox_write_failed("x").starts_with("outbox write failed: "));
        assert!(properties_read_failed("NoSuchKey").starts_with("properties read failed: "));
        assert!(
            no_manifest_received("s/shard0/manifest", "INBOX").starts_with("connection failed (no manifest received)")
        );
        let tags: TagSet = ["ITAR".to_string()].into();
        assert_eq!(uncovered_tags(&tags), "manifest control tag(s) uncovered by any transformation predicate: ITAR");
        assert!(max_level_exceeds_local(&InfosecLevel::new("S", 3), &InfosecLevel::new("C", 2))
            .starts_with("manifest max infosec level 'S' (order=3) exceeds local platform max"));
    }
}
