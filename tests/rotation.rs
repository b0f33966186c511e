//! Rotating a channel's shared secret: the sender republishes everything under the new key
//! (new object names; the old objects go after the grace period, once no manifest names
//! them), the receiver forgets its replay state, and whatever the old secret signs or
//! encrypts is refused from then on, even a forged manifest at the highest sequence.

use airlock_domain::{now_millis, Connection, Health, Manifest, ManifestEntry, ShardEntries};
use airlock_local::audit::{read_published, rewrite_published};
use airlock_local::pair::{Pair, PairSetup, BOB};
use airlock_protocol::{generate_shared_secret, open_manifest, ChannelKeys, ManifestExpectations};
use airlock_runtime::Context;
use airlock_services::connections;
use airlock_tests::{cad_bytes, finished};
use std::path::PathBuf;

fn manifest_path(pair: &Pair) -> PathBuf {
    pair.exchange_dir.join(airlock_domain::manifest::manifest_key(&pair.sending.shared_id))
}

/// Every entry the exchange's manifest names, opened with `keys`.
async fn open_all(pair: &Pair, keys: &ChannelKeys) -> anyhow::Result<Vec<ManifestEntry>> {
    let (_, shards) = read_published(&pair.exchange, keys, &pair.sending.shared_id, 1 << 20)
        .await
        .map_err(anyhow::Error::msg)?
        .ok_or_else(|| anyhow::anyhow!("no manifest"))?;
    Ok(shards.into_iter().flat_map(|s| s.resources).collect())
}

/// Someone holding `keys` signs what the exchange holds again after `edit`.
async fn forge(
    pair: &Pair,
    keys: &ChannelKeys,
    edit: impl FnOnce(&mut Manifest, &mut Vec<ShardEntries>),
) -> anyhow::Result<()> {
    rewrite_published(&pair.exchange, keys, &pair.sending.shared_id, edit).await.map_err(anyhow::Error::msg)
}

fn expect(pair: &Pair) -> ManifestExpectations<'_> {
    ManifestExpectations {
        shared_id: &pair.sending.shared_id,
        last_applied_sequence: None,
        now: now_millis(),
        max_bytes: 1 << 20,
    }
}

/// Every payload object in the exchange, by its key.
fn payload_objects(pair: &Pair) -> Vec<String> {
    fn walk(root: &std::path::Path, dir: &std::path::Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(root, &path, out);
            } else if path.components().any(|c| c.as_os_str() == "objects") {
                out.push(path.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/"));
            }
        }
    }
    let mut out = Vec::new();
    walk(&pair.exchange_dir, &pair.exchange_dir, &mut out);
    out.sort();
    out
}

/// What the connection's PATCH does with a new secret: store it wrapped, then what follows.
async fn replace_secret(ctx: &Context, connection_id: &str, secret: &str) -> anyhow::Result<Connection> {
    let mut connection = ctx.repo.connection(connection_id).await?.expect("the connection exists");
    let previous = std::mem::replace(&mut connection.wrapped_secret, ctx.master.wrap(secret));
    ctx.repo.update_connection(&connection).await?;
    connections::secret_replaced(ctx, &connection, &previous).await?;
    Ok(connection)
}

async fn rotate_both(pair: &Pair) -> anyhow::Result<String> {
    let secret = generate_shared_secret();
    replace_secret(&pair.a.ctx, &pair.sending.id, &secret).await?;
    replace_secret(&pair.b.ctx, &pair.receiving.id, &secret).await?;
    Ok(secret)
}

/// Two files, shared and received at B.
async fn two_files_delivered(pair: &Pair) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    let files: [(&str, &str, &[&str], Vec<u8>); 2] = [
        ("wing-spar.step", "INTERNAL", &["ITAR"], cad_bytes(200_000)),
        ("notes.txt", "PUBLIC", &[], b"notes".to_vec()),
    ];
    for (name, level, tags, bytes) in &files {
        let file = pair.upload(name, level, tags, bytes).await?;
        pair.share(&file.id).await?;
    }
    let (sent, received) = pair.sync().await?;
    assert_eq!((finished(&sent), finished(&received)), (Health::Success, Health::Success), "{received:?}");
    let at_b = contents_at_b(pair).await?;
    assert_eq!(at_b.len(), 2);
    Ok(at_b)
}

async fn contents_at_b(pair: &Pair) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    Ok(pair.files_at_b(BOB).await?.into_iter().map(|(r, bytes)| (r.name, bytes)).collect())
}

#[tokio::test]
async fn after_a_reset_on_both_sides_everything_is_republished_under_the_new_key() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let pair = Pair::start(PairSetup::embedded(dir.path())).await?;
    let delivered = two_files_delivered(&pair).await?;
    let old_keys = ChannelKeys::derive(&pair.shared_secret, &pair.sending.shared_id);
    let old_objects = payload_objects(&pair);
    assert_eq!(old_objects.len(), 2);
    assert!(old_objects.iter().all(|k| k.ends_with(&format!(".{}", old_keys.key_id()))), "{old_objects:?}");

    let secret = rotate_both(&pair).await?;
    let new_keys = ChannelKeys::derive(&secret, &pair.sending.shared_id);
    let (sent, received) = pair.sync().await?;
    assert_eq!(finished(&sent), Health::Success, "{sent:?}");
    assert_eq!((finished(&received), received.updated), (Health::Success, 2), "{received:?}");
    assert_eq!(contents_at_b(&pair).await?, delivered, "every file is there, with the same content");

    // The new manifests name only objects under the new key; they open only with it.
    let named: Vec<String> = open_all(&pair, &new_keys).await?.into_iter().map(|e| e.object_key).collect();
    assert_eq!(named.len(), 2);
    assert!(named.iter().all(|k| k.ends_with(&format!(".{}", new_keys.key_id()))), "{named:?}");
    let err = open_manifest(&old_keys, &std::fs::read(manifest_path(&pair))?, &expect(&pair)).unwrap_err();
    assert_eq!(err, airlock_protocol::ManifestError::BadMac, "the old secret opens no new manifest");
    let entries = open_all(&pair, &new_keys).await?;
    for entry in &entries {
        let sealed = std::fs::read(pair.exchange_dir.join(&entry.object_key))?;
        let mut plain = Vec::new();
        let old_key = old_keys.payload_key(&entry.revision_id);
        let opened = airlock_protocol::decrypt_stream(&old_key, &sealed[..], &mut plain).await;
        assert!(opened.is_err(), "the old secret opens no new payload ({})", entry.name);
    }

    // The old objects stay for the grace period (a receiver may still be reading them) and
    // are then removed by the grace-period machinery, never while a manifest names them.
    let now_present = payload_objects(&pair);
    assert!(old_objects.iter().all(|k| now_present.contains(k)), "kept during the grace period");
    let after_grace = now_millis() + pair.a.ctx.settings.object_grace.as_millis() as i64 + 1;
    let mut due = pair.a.ctx.repo.due_deletions(&pair.sending.id, after_grace, 100).await?;
    // (The replaced shard entries objects go the same way.)
    due.retain(|key| key.contains("/objects/"));
    due.sort();
    assert_eq!(due, old_objects, "the old objects are scheduled for removal");
    Ok(())
}

#[tokio::test]
async fn a_manifest_made_with_the_old_secret_is_refused_after_rotation() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let pair = Pair::start(PairSetup::embedded(dir.path())).await?;
    let delivered = two_files_delivered(&pair).await?;
    let signed_with_old = std::fs::read(manifest_path(&pair))?;
    rotate_both(&pair).await?;
    let (_, received) = pair.sync().await?;
    assert_eq!(finished(&received), Health::Success, "{received:?}");

    // Someone who kept the old secret writes a manifest with it, newer than any seen.
    let old_keys = ChannelKeys::derive(&pair.shared_secret, &pair.sending.shared_id);
    std::fs::write(manifest_path(&pair), signed_with_old)?;
    forge(&pair, &old_keys, |manifest, shards| {
        manifest.sequence += 1_000;
        shards.iter_mut().for_each(|s| s.resources.clear());
    })
    .await?;
    let refused = pair.b.sync(std::time::Duration::from_secs(30)).await?.pop().expect("one receiving sync");
    assert_eq!(finished(&refused), Health::Failure, "{refused:?}");
    assert!(refused.message.contains("manifest rejected: MAC verification failed"), "{}", refused.message);
    assert_eq!(contents_at_b(&pair).await?, delivered, "nothing withdrawn");
    Ok(())
}

#[tokio::test]
async fn a_forged_manifest_at_the_top_sequence_is_recovered_from_by_rotating() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let pair = Pair::start(PairSetup::embedded(dir.path())).await?;
    let delivered = two_files_delivered(&pair).await?;

    // The old secret leaked: a forged manifest at sequence i64::MAX withdraws one file and
    // renames the other, and B, which cannot tell it from the partner's, applies it.
    let old_keys = ChannelKeys::derive(&pair.shared_secret, &pair.sending.shared_id);
    forge(&pair, &old_keys, |manifest, shards| {
        manifest.sequence = i64::MAX as u64;
        for shard in shards.iter_mut() {
            shard.resources.retain(|e| e.name != "notes.txt");
            shard.resources.iter_mut().for_each(|e| e.name = "forged.step".into());
        }
    })
    .await?;
    let forged = pair.b.sync(std::time::Duration::from_secs(30)).await?.pop().expect("one receiving sync");
    assert_eq!(finished(&forged), Health::Success, "{forged:?}");
    let names: Vec<String> = contents_at_b(&pair).await?.into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["forged.step"]);

    // The partner's own manifests can't follow any more: nothing is newer than i64::MAX.
    let (_, stuck) = pair.sync().await?;
    assert_eq!(finished(&stuck), Health::Failure);
    assert!(stuck.message.contains("is not newer than the last applied 9223372036854775807"), "{}", stuck.message);

    // Both sides rotate; the next sync puts everything back as the partner publishes it.
    rotate_both(&pair).await?;
    let (sent, received) = pair.sync().await?;
    assert_eq!((finished(&sent), finished(&received)), (Health::Success, Health::Success), "{received:?}");
    assert_eq!(contents_at_b(&pair).await?, delivered, "the withdrawn file is back and the renamed one restored");
    Ok(())
}
