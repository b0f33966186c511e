//! Every check that guards the exchange, shown refusing: the manifest's MAC, secret,
//! sequence, expiry and size; the payload's chunks; the receiving policy; the sending
//! policy; and the configuration failures operators meet first.

use airlock_domain::pipeline::ResourceOutcome;
use airlock_domain::{Health, InfosecLevel, PlatformSettings};
use airlock_local::pair::{Pair, PairSetup, BOB};
use airlock_repo::SyncEvent;
use airlock_tests::{cad_bytes, finished};
use std::path::PathBuf;
use std::time::Duration;

const CHUNK: usize = 64 * 1024;
const FRAME: usize = CHUNK + 16;
const HEADER: usize = 15;

async fn pair_with(dir: &tempfile::TempDir, adjust: impl FnOnce(&mut PairSetup)) -> Pair {
    let mut setup = PairSetup::embedded(dir.path());
    adjust(&mut setup);
    Pair::start(setup).await.unwrap()
}

/// A shares one multi-chunk ITAR file and publishes it; B has not polled yet.
async fn published(pair: &Pair) -> anyhow::Result<()> {
    let file = pair.upload("wing-spar.step", "INTERNAL", &["ITAR"], &cad_bytes(3 * CHUNK + 100)).await?;
    pair.share(&file.id).await?;
    let sent = pair.a.sync(Duration::from_secs(30)).await?;
    assert_eq!(finished(&sent[0]), Health::Success, "{sent:?}");
    Ok(())
}

async fn poll_b(pair: &Pair) -> SyncEvent {
    pair.b.sync(Duration::from_secs(30)).await.unwrap().pop().expect("one receiving sync")
}

/// A refused sync: failed with the message, and nothing arrived.
async fn assert_refused(pair: &Pair, event: &SyncEvent, text: &str) {
    assert_eq!(finished(event), Health::Failure, "{event:?}");
    assert!(event.message.contains(text), "message {:?} should contain {text:?}", event.message);
    assert!(pair.files_at_b(BOB).await.unwrap().is_empty(), "nothing may be ingested from a refused manifest");
    assert!(pair.b.ctx.repo.applied(&pair.receiving.id).await.unwrap().is_empty());
}

fn manifest_path(pair: &Pair) -> PathBuf {
    pair.exchange_dir.join(airlock_domain::manifest::manifest_key(&pair.sending.shared_id))
}

fn payload_objects(pair: &Pair) -> Vec<PathBuf> {
    fn walk(dir: &std::path::Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.components().any(|c| c.as_os_str() == "objects") {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(&pair.exchange_dir, &mut out);
    out
}

/// The signed manifest and every shard entries object in the exchange, with their bytes.
fn all_manifests(pair: &Pair) -> Vec<(PathBuf, Vec<u8>)> {
    let root = pair.exchange_dir.join(&pair.sending.shared_id);
    let mut out = vec![(manifest_path(pair), std::fs::read(manifest_path(pair)).unwrap())];
    for shard in std::fs::read_dir(&root).unwrap().flatten().filter(|d| d.file_name() != "objects") {
        for file in std::fs::read_dir(shard.path()).unwrap().flatten() {
            if file.file_name().to_string_lossy().starts_with("entries-") {
                out.push((file.path(), std::fs::read(file.path()).unwrap()));
            }
        }
    }
    out
}

#[tokio::test]
async fn tampered_manifest_is_refused() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let pair = pair_with(&dir, |_| {}).await;
    published(&pair).await?;
    // The manifest claims a lower platform maximum and a shard without its tags.
    let text = String::from_utf8(std::fs::read(manifest_path(&pair))?)?;
    let forged = text.replacen("\"ITAR\"", "\"ITAX\"", 1).replacen("\"order\":", "\"order\":1", 1);
    assert_ne!(forged, text);
    std::fs::write(manifest_path(&pair), forged)?;
    let event = poll_b(&pair).await;
    assert_refused(&pair, &event, "MAC verification failed").await;
    Ok(())
}

#[tokio::test]
async fn tampered_shard_entries_are_refused() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let pair = pair_with(&dir, |_| {}).await;
    published(&pair).await?;
    let mut changed = 0;
    for (path, bytes) in all_manifests(&pair).into_iter().skip(1) {
        let text = String::from_utf8(bytes)?;
        if text.contains("\"INTERNAL\"") {
            std::fs::write(&path, text.replace("\"INTERNAL\"", "\"PUBLIC\"").replace("\"order\":1", "\"order\":0"))?;
            changed += 1;
        }
    }
    assert_eq!(changed, 1, "one shard holds the file");
    let event = poll_b(&pair).await;
    assert_refused(&pair, &event, "do not match the digest the signed manifest gives them").await;
    Ok(())
}

#[tokio::test]
async fn a_shard_the_manifest_names_but_the_exchange_lacks_is_refused() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let pair = pair_with(&dir, |_| {}).await;
    published(&pair).await?;
    let (path, _) = all_manifests(&pair).into_iter().nth(1).expect("a shard object");
    std::fs::remove_file(&path)?;
    let event = poll_b(&pair).await;
    assert_refused(&pair, &event, "named by the signed manifest do not exist").await;
    Ok(())
}

#[tokio::test]
async fn wrong_shared_secret_is_refused() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let pair = pair_with(&dir, |_| {}).await;
    published(&pair).await?;
    let mut receiving = pair.receiving.clone();
    receiving.wrapped_secret = pair.b.ctx.master.wrap("not-the-secret-the-partner-used");
    pair.b.ctx.repo.update_connection(&receiving).await?;
    let event = poll_b(&pair).await;
    assert_refused(
        &pair,
        &event,
        "manifest rejected: MAC verification failed (wrong shared secret or tampered manifest)",
    )
    .await;
    Ok(())
}

#[tokio::test]
async fn replayed_older_manifest_is_refused() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let pair = pair_with(&dir, |_| {}).await;
    published(&pair).await?;
    let old = all_manifests(&pair);
    assert_eq!(finished(&poll_b(&pair).await), Health::Success);
    let extra = pair.upload("second.txt", "PUBLIC", &[], b"two").await?;
    pair.share(&extra.id).await?;
    let (_, received) = pair.sync().await?;
    assert_eq!((finished(&received), received.updated), (Health::Success, 1));

    // An attacker (or a misbehaving replication) puts the older, validly signed manifests back.
    for (path, bytes) in old {
        std::fs::write(path, bytes)?;
    }
    let event = poll_b(&pair).await;
    assert_eq!(finished(&event), Health::Failure);
    assert!(event.message.contains("is not newer than the last applied"), "{}", event.message);
    assert!(event.message.contains("(replay or rollback)"));
    assert_eq!(pair.files_at_b(BOB).await?.len(), 2, "the rollback withdrew nothing");
    Ok(())
}

#[tokio::test]
async fn expired_manifest_is_refused() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let pair = pair_with(&dir, |s| s.settings.manifest_ttl = Duration::from_millis(1)).await;
    published(&pair).await?;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let event = poll_b(&pair).await;
    assert_refused(&pair, &event, "manifest rejected: expired at").await;
    Ok(())
}

#[tokio::test]
async fn oversized_manifest_is_refused() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let pair = pair_with(&dir, |s| s.settings.max_manifest_bytes = 300).await;
    published(&pair).await?;
    let event = poll_b(&pair).await;
    assert_refused(&pair, &event, "-byte bound").await;
    assert!(event.message.contains("exceeds the 300-byte bound"), "{}", event.message);
    Ok(())
}

/// Rewrites the one payload object and expects B to refuse that file (degraded sync).
async fn corrupt_payload_refused(rewrite: impl FnOnce(Vec<u8>) -> Vec<u8>, text: &str) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let pair = pair_with(&dir, |s| s.settings.chunk_size = CHUNK).await;
    published(&pair).await?;
    let objects = payload_objects(&pair);
    assert_eq!(objects.len(), 1);
    let bytes = std::fs::read(&objects[0])?;
    std::fs::write(&objects[0], rewrite(bytes))?;
    let event = poll_b(&pair).await;
    assert_eq!(finished(&event), Health::Degraded, "{event:?}");
    let row = &event.resources[0];
    assert_eq!(row.outcome, ResourceOutcome::Failed);
    assert!(row.message.contains(text), "{:?} should contain {text:?}", row.message);
    assert!(pair.files_at_b(BOB).await?.is_empty(), "a corrupt payload must not reach the registry");
    Ok(())
}

#[tokio::test]
async fn truncated_payload_is_refused() -> anyhow::Result<()> {
    corrupt_payload_refused(
        |mut b| {
            b.truncate(HEADER + 2 * FRAME);
            b
        },
        "truncated",
    )
    .await
}

#[tokio::test]
async fn reordered_payload_chunks_are_refused() -> anyhow::Result<()> {
    corrupt_payload_refused(
        |b| {
            let (first, second) = (HEADER..HEADER + FRAME, HEADER + FRAME..HEADER + 2 * FRAME);
            [&b[..HEADER], &b[second], &b[first], &b[HEADER + 2 * FRAME..]].concat()
        },
        "failed authentication",
    )
    .await
}

#[tokio::test]
async fn flipped_payload_bit_is_refused() -> anyhow::Result<()> {
    corrupt_payload_refused(
        |mut b| {
            b[HEADER + FRAME + 10] ^= 1;
            b
        },
        "chunk 1 failed authentication",
    )
    .await
}

#[tokio::test]
async fn object_missing_from_inbox_gives_properties_read_failed() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let pair = pair_with(&dir, |_| {}).await;
    published(&pair).await?;
    std::fs::remove_file(&payload_objects(&pair)[0])?;
    let event = poll_b(&pair).await;
    assert_eq!(finished(&event), Health::Degraded);
    assert!(event.resources[0].message.starts_with("properties read failed: NoSuchKey"), "{:?}", event.resources[0]);
    Ok(())
}

#[tokio::test]
async fn uncovered_incoming_tag_fails_the_sync() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let pair = pair_with(&dir, |s| s.receiving_rules = false).await;
    published(&pair).await?;
    let event = poll_b(&pair).await;
    assert_refused(&pair, &event, "manifest control tag(s) uncovered by any transformation predicate: ITAR").await;
    let uncovered = airlock_services::connections::uncovered_incoming_tags(&pair.b.ctx, &pair.receiving.id).await?;
    assert_eq!(uncovered.into_iter().collect::<Vec<_>>(), ["ITAR"], "the transform editor's warning lists it");
    Ok(())
}

#[tokio::test]
async fn partner_max_level_above_local_max_fails_the_sync() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let pair = pair_with(&dir, |_| {}).await;
    let levels = vec![InfosecLevel::new("UNCLASSIFIED", 0), InfosecLevel::new("RESTRICTED", 1)];
    let lowered = PlatformSettings { infosec_enabled: true, max_level: levels[1].clone(), levels };
    pair.b.ctx.repo.save_platform(&lowered).await?;
    published(&pair).await?;
    let event = poll_b(&pair).await;
    assert_refused(&pair, &event, "manifest max infosec level 'SECRET' (order=2) exceeds local platform max").await;
    Ok(())
}

#[tokio::test]
async fn rotated_master_key_makes_the_secret_unavailable() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let pair = pair_with(&dir, |_| {}).await;
    published(&pair).await?;
    let other_master = airlock_protocol::MasterKey::new("another master key of sufficient length")?;
    let mut receiving = pair.receiving.clone();
    receiving.wrapped_secret = other_master.wrap(&pair.shared_secret);
    pair.b.ctx.repo.update_connection(&receiving).await?;
    let event = poll_b(&pair).await;
    assert_refused(&pair, &event, "shared secret unavailable: InvalidToken").await;
    Ok(())
}

#[tokio::test]
async fn unconfigured_outbox_fails_with_the_documented_message() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let pair = pair_with(&dir, |_| {}).await;
    let mut sending = pair.sending.clone();
    sending.store_label = "NOWHERE".into();
    pair.a.ctx.repo.update_connection(&sending).await?;
    let sent = pair.a.sync(Duration::from_secs(30)).await?.pop().unwrap();
    assert_eq!(finished(&sent), Health::Failure);
    assert_eq!(
        sent.message,
        "connection failed (no manifest produced): bucket not configured: No RSS object-store configuration for label 'NOWHERE'"
    );
    Ok(())
}

#[tokio::test]
async fn missing_manifest_gives_no_manifest_received() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let pair = pair_with(&dir, |_| {}).await;
    let event = poll_b(&pair).await;
    assert_refused(&pair, &event, "connection failed (no manifest received)").await;
    assert!(event.message.contains("shard0/manifest"), "{}", event.message);
    Ok(())
}

#[tokio::test]
async fn file_whose_tag_stops_being_permitted_is_removed_automatically() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let pair = pair_with(&dir, |_| {}).await;
    published(&pair).await?;
    let mut sending = pair.sending.clone();
    sending.permitted_tags.remove("ITAR");
    pair.a.ctx.repo.update_connection(&sending).await?;
    let sent = pair.a.sync(Duration::from_secs(30)).await?.pop().unwrap();
    let row = &sent.resources[0];
    assert_eq!(row.outcome, ResourceOutcome::Removed);
    assert_eq!(row.message, "removed from the connection: control tag(s) not permitted on this connection: ITAR");
    assert!(pair.a.ctx.repo.active_shares(&pair.sending.id).await?.is_empty());
    let (_, shards) = pair.published().await?;
    assert!(
        shards.iter().all(|s| s.resources.iter().all(|e| e.resource_id != row.resource_id)),
        "the next manifest no longer lists it"
    );
    Ok(())
}

#[tokio::test]
async fn sharing_is_refused_without_certification_or_eligibility() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let pair = pair_with(&dir, |_| {}).await;
    let file = pair.upload("plan.pdf", "SECRET", &[], b"x").await?;
    let err =
        airlock_services::registry::share_with_connection(&pair.a.ctx, "alice", &file.id, &pair.sending.id, false)
            .await
            .unwrap_err();
    assert!(err.to_string().contains("certification"), "{err}");
    let err = pair.share(&file.id).await.unwrap_err();
    assert!(err.to_string().contains("exceeds the connection's permitted level"), "{err}");
    Ok(())
}

/// The partner (who holds the secret) changes every published entry with `edit`, keeping
/// the manifest's summary of each shard true, and signs it all again.
async fn resign_entries(pair: &Pair, edit: impl Fn(&mut airlock_domain::ManifestEntry)) -> anyhow::Result<()> {
    pair.resign_published(|_, shards| shards.iter_mut().flat_map(|s| s.resources.iter_mut()).for_each(edit)).await?;
    Ok(())
}

#[tokio::test]
async fn signed_manifest_naming_objects_outside_its_channel_is_refused() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let pair = pair_with(&dir, |_| {}).await;
    published(&pair).await?;
    // The partner signs a manifest that points at another channel's objects.
    resign_entries(&pair, |entry| {
        entry.object_key = format!("someone-else/objects/{}.{}", entry.resource_id, entry.revision_id);
    })
    .await?;
    let event = poll_b(&pair).await;
    assert_refused(&pair, &event, "is outside this channel's").await;
    Ok(())
}

#[tokio::test]
async fn partner_file_name_with_a_path_separator_is_refused() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let pair = pair_with(&dir, |_| {}).await;
    published(&pair).await?;
    resign_entries(&pair, |entry| entry.name = "../../.ssh/authorized_keys".into()).await?;
    let event = poll_b(&pair).await;
    assert_refused(
        &pair,
        &event,
        ": file name '../../.ssh/authorized_keys' is empty, longer than 255 bytes, or has control characters or path \
         separators",
    )
    .await;
    Ok(())
}

#[tokio::test]
async fn partner_tag_with_a_control_character_is_refused() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let pair = pair_with(&dir, |_| {}).await;
    published(&pair).await?;
    resign_entries(&pair, |entry| {
        entry.tags.insert("ITAR\u{7}".into());
    })
    .await?;
    let event = poll_b(&pair).await;
    assert_refused(&pair, &event, "control tag 'ITAR\u{7}' contains a comma or a control character").await;
    Ok(())
}

#[tokio::test]
async fn manifest_with_more_shards_than_the_local_maximum_is_refused() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let pair = pair_with(&dir, |s| s.settings.max_shards = 2).await;
    published(&pair).await?;
    assert!(pair.sending.shard_count > 2, "A publishes over {} shards", pair.sending.shard_count);
    let event = poll_b(&pair).await;
    let text = format!(
        "manifest rejected: shard count {} is outside 1..=2, this platform's maximum (AIRLOCK_MAX_SHARDS)",
        pair.sending.shard_count
    );
    assert_refused(&pair, &event, &text).await;
    Ok(())
}

#[tokio::test]
async fn manifest_living_longer_than_the_local_maximum_is_refused() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let pair = pair_with(&dir, |s| {
        s.settings.manifest_ttl = Duration::from_secs(7200);
        s.settings.max_manifest_ttl = Duration::from_secs(3600);
    })
    .await;
    published(&pair).await?;
    let event = poll_b(&pair).await;
    assert_refused(&pair, &event, "a manifest may live at most 3600 s (AIRLOCK_MAX_MANIFEST_TTL_SECS)").await;
    Ok(())
}

#[tokio::test]
async fn manifest_generated_in_the_future_is_refused() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let pair = pair_with(&dir, |_| {}).await;
    published(&pair).await?;
    pair.resign_published(|manifest, _| manifest.generated_at += 3_600_000).await?;
    let event = poll_b(&pair).await;
    assert_refused(&pair, &event, "more than the allowed clock skew of 300 s (AIRLOCK_CLOCK_SKEW_SECS) after now")
        .await;
    Ok(())
}
