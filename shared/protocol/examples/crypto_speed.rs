//! Payload crypto speed on this machine: the payload stream (ring's AES-256-GCM and SHA-256)
//! beside RustCrypto's aes-gcm and sha2 on the same bytes, one core, in memory.
//!
//!     cargo run --release -p airlock-protocol --example crypto_speed [MiB]
//!
//! Compare with `openssl speed -evp aes-256-gcm` and `openssl speed sha256` in the same run.

use aes_gcm::aead::{AeadInPlace, KeyInit};
use airlock_protocol::{decrypt_stream, encrypt_stream, ChannelKeys, KdfParams, DEFAULT_CHUNK_SIZE};
use sha2::Digest;
use std::time::Instant;

fn rate(bytes: usize, start: Instant) -> String {
    format!("{:7.0} MB/s", bytes as f64 / start.elapsed().as_secs_f64() / 1e6)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mib: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(1024);
    let total = mib << 20;
    let plain = vec![0x5au8; total];
    let params = KdfParams { memory_kib: 64, iterations: 1, lanes: 1 };
    let keys = ChannelKeys::derive_with("speed test secret", "speed-test", params).expect("valid parameters");
    let key = keys.payload_key("revision");

    let mut sealed = Vec::with_capacity(total + total / DEFAULT_CHUNK_SIZE * 16 + 64);
    let start = Instant::now();
    encrypt_stream(&key, plain.as_slice(), &mut sealed, DEFAULT_CHUNK_SIZE).await.expect("encrypts");
    let encrypt = rate(total, start);
    let start = Instant::now();
    decrypt_stream(&key, sealed.as_slice(), tokio::io::sink()).await.expect("decrypts");
    let decrypt = rate(total, start);
    drop(sealed);

    let cipher = aes_gcm::Aes256Gcm::new(aes_gcm::Key::<aes_gcm::Aes256Gcm>::from_slice(&[7u8; 32]));
    let mut chunk = vec![0x5au8; DEFAULT_CHUNK_SIZE];
    let start = Instant::now();
    for index in 0..total / DEFAULT_CHUNK_SIZE {
        let mut nonce = [0u8; 12];
        nonce[..8].copy_from_slice(&(index as u64).to_be_bytes());
        cipher.encrypt_in_place_detached(aes_gcm::Nonce::from_slice(&nonce), b"header", &mut chunk).expect("seals");
    }
    let rustcrypto_gcm = rate(total, start);
    let ring_key = ring::aead::LessSafeKey::new(
        ring::aead::UnboundKey::new(&ring::aead::AES_256_GCM, &[7u8; 32]).expect("a 32-byte key"),
    );
    let start = Instant::now();
    for index in 0..total / DEFAULT_CHUNK_SIZE {
        let mut nonce = [0u8; 12];
        nonce[..8].copy_from_slice(&(index as u64).to_be_bytes());
        let nonce = ring::aead::Nonce::assume_unique_for_key(nonce);
        let _tag =
            ring_key.seal_in_place_separate_tag(nonce, ring::aead::Aad::from(b"header"), &mut chunk).expect("seals");
    }
    let ring_gcm = rate(total, start);
    let start = Instant::now();
    let mut hasher = sha2::Sha256::new();
    hasher.update(&plain);
    let _ = hasher.finalize();
    let rustcrypto_sha = rate(total, start);
    let start = Instant::now();
    let _ = ring::digest::digest(&ring::digest::SHA256, &plain);
    let ring_sha = rate(total, start);

    println!("{mib} MiB in {} KiB chunks, one core:", DEFAULT_CHUNK_SIZE >> 10);
    println!("  payload stream (ring AES-256-GCM + SHA-256)  encrypt {encrypt}  decrypt {decrypt}");
    println!("  AES-256-GCM alone                            ring {ring_gcm}  RustCrypto aes-gcm {rustcrypto_gcm}");
    println!("  SHA-256 alone                                ring {ring_sha}  RustCrypto sha2 {rustcrypto_sha}");
}
