//! What A shares, changed through the registry services between and during the faults,
//! and what B must end up holding: each shared file at its newest content.

use airlock_local::pair::{Pair, ALICE};
use airlock_services::registry;
use rand::{Rng, RngCore, SeedableRng};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

pub struct Shared {
    pub resource_id: String,
    pub sha256: String,
}

/// The files A shares now, by name, with the SHA-256 of their newest content.
#[derive(Default)]
pub struct Workload {
    pub shared: BTreeMap<String, Shared>,
    /// Unshared files, which B must no longer hold: (name, resource id).
    pub unshared: Vec<(String, String)>,
    next_name: usize,
    seed: u64,
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Mostly small files, a few of a few MiB, so some uploads go up in parts.
fn random_size(rng: &mut impl Rng) -> usize {
    if rng.gen_ratio(1, 30) {
        rng.gen_range(1 << 20..4 << 20)
    } else {
        rng.gen_range(1 << 10..192 << 10)
    }
}

impl Workload {
    fn content(&mut self, size: usize) -> Vec<u8> {
        self.seed += 1;
        let mut bytes = vec![0u8; size];
        rand::rngs::StdRng::seed_from_u64(self.seed).fill_bytes(&mut bytes);
        bytes
    }

    /// Uploads and shares `count` new files.
    pub async fn add(&mut self, pair: &Pair, count: usize) -> anyhow::Result<()> {
        for _ in 0..count {
            self.next_name += 1;
            let name = format!("drawing-{:05}.step", self.next_name);
            let size = random_size(&mut rand::thread_rng());
            let bytes = self.content(size);
            let resource = pair.upload(&name, "PUBLIC", &[], &bytes).await?;
            pair.share(&resource.id).await?;
            self.shared.insert(name, Shared { resource_id: resource.id, sha256: sha256_hex(&bytes) });
        }
        Ok(())
    }

    /// A new revision of `count` random shared files.
    pub async fn revise(&mut self, pair: &Pair, count: usize) -> anyhow::Result<()> {
        let names: Vec<String> = self.pick(count);
        for name in names {
            let size = random_size(&mut rand::thread_rng());
            self.revise_one(pair, &name, size).await?;
        }
        Ok(())
    }

    pub async fn revise_one(&mut self, pair: &Pair, name: &str, size: usize) -> anyhow::Result<()> {
        let bytes = self.content(size);
        let file = self.shared.get_mut(name).expect("a shared file");
        registry::upload_revision(&pair.a.ctx, ALICE, &file.resource_id, &bytes[..]).await?;
        file.sha256 = sha256_hex(&bytes);
        Ok(())
    }

    /// Withdraws `count` random files from the connection.
    pub async fn unshare(&mut self, pair: &Pair, count: usize) -> anyhow::Result<()> {
        for name in self.pick(count) {
            let file = self.shared.remove(&name).expect("a shared file");
            registry::unshare(&pair.a.ctx, ALICE, &file.resource_id, &pair.sending.id).await?;
            self.unshared.push((name, file.resource_id));
        }
        Ok(())
    }

    pub fn pick(&self, count: usize) -> Vec<String> {
        use rand::seq::IteratorRandom;
        self.shared.keys().cloned().choose_multiple(&mut rand::thread_rng(), count)
    }

    /// Churn while a fault runs: a few new revisions, a new file, now and then an unshare.
    pub async fn churn(&mut self, pair: &Pair) -> anyhow::Result<()> {
        let revisions = (self.shared.len() / 40).max(2);
        self.revise(pair, revisions).await?;
        self.add(pair, 1).await?;
        if rand::thread_rng().gen_ratio(1, 3) {
            self.unshare(pair, 1).await?;
        }
        Ok(())
    }
}
