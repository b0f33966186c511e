//! Payload stream tests through the public API: round trips with awkward readers, and each
//! way a stream can be damaged on the way being refused.

use airlock_protocol::{
    decrypt_stream, encrypt_stream, ChannelKeys, KdfParams, PayloadError, PayloadKey, StreamSummary, MAX_CHUNK_SIZE,
};
use sha2::{Digest, Sha256};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncReadExt, ReadBuf};

const CHUNK: usize = 1024;
const HEADER: usize = 15;
const FRAME: usize = CHUNK + 16;

/// Argon2id at its cheapest: these tests are about the stream, not the derivation's cost.
fn derive(secret: &str) -> ChannelKeys {
    ChannelKeys::derive_with(secret, "acme-1x", KdfParams { memory_kib: 64, iterations: 1, lanes: 1 }).unwrap()
}

fn key(revision: &str) -> PayloadKey {
    derive("shared secret").payload_key(revision)
}

fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 + i / 7) as u8).collect()
}

/// Hands out at most `step` bytes per read, cycling through odd sizes, so that every chunk
/// has to be assembled from several reads.
struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
}

impl AsyncRead for Trickle<'_> {
    fn poll_read(mut self: Pin<&mut Self>, _: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let n = self.step.min(self.data.len()).min(buf.remaining());
        buf.put_slice(&self.data[..n]);
        self.data = &self.data[n..];
        self.step = self.step % 97 + 13;
        Poll::Ready(Ok(()))
    }
}

async fn encrypt(key: &PayloadKey, plain: &[u8]) -> (Vec<u8>, StreamSummary) {
    let mut out = Vec::new();
    let summary = encrypt_stream(key, Trickle { data: plain, step: 1 }, &mut out, CHUNK).await.unwrap();
    (out, summary)
}

async fn decrypt(key: &PayloadKey, sealed: &[u8]) -> (Result<StreamSummary, PayloadError>, Vec<u8>) {
    let mut out = Vec::new();
    let result = decrypt_stream(key, Trickle { data: sealed, step: 5 }, &mut out).await;
    (result, out)
}

#[tokio::test]
async fn round_trips_every_boundary_size() {
    let key = key("rev-1");
    for len in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 5] {
        let plain = data(len);
        let (sealed, summary) = encrypt(&key, &plain).await;
        let expected_chunks = (len / CHUNK + 1) as u64;
        assert_eq!(summary.plain_size, len as u64, "len {len}");
        assert_eq!(summary.chunks, expected_chunks, "len {len}");
        assert_eq!(summary.sha256, hex::encode(Sha256::digest(&plain)), "len {len}");
        assert_eq!(sealed.len(), HEADER + len + 16 * expected_chunks as usize, "len {len}");
        assert_eq!(&sealed[..4], b"ALK1");
        assert_eq!(sealed[4..8], (CHUNK as u32).to_be_bytes());

        let (result, out) = decrypt(&key, &sealed).await;
        assert_eq!(result.unwrap(), summary, "len {len}");
        assert_eq!(out, plain, "len {len}");
    }
}

#[tokio::test]
async fn same_plaintext_encrypts_differently_each_time() {
    let key = key("rev-1");
    let plain = data(100);
    let (a, _) = encrypt(&key, &plain).await;
    let (b, _) = encrypt(&key, &plain).await;
    assert_ne!(a[8..HEADER], b[8..HEADER], "nonce prefixes must be random");
    assert_ne!(a, b);
}

#[tokio::test]
async fn truncation_at_a_chunk_boundary_is_detected() {
    let key = key("rev-1");
    let plain = data(3 * CHUNK + 5);
    let (sealed, _) = encrypt(&key, &plain).await;
    // Dropping the final chunk leaves a stream of whole, individually valid chunks.
    let (result, out) = decrypt(&key, &sealed[..HEADER + 3 * FRAME]).await;
    let err = result.unwrap_err();
    assert!(matches!(err, PayloadError::Truncated { chunks: 3 }), "{err}");
    assert_eq!(err.to_string(), "payload rejected: stream ended after 3 chunk(s) without its final chunk (truncated)");
    assert_eq!(out, plain[..3 * CHUNK]);

    let (result, _) = decrypt(&key, &sealed[..HEADER + FRAME]).await;
    assert!(matches!(result, Err(PayloadError::Truncated { chunks: 1 })));
    let (result, _) = decrypt(&key, &sealed[..HEADER]).await;
    assert!(matches!(result, Err(PayloadError::Truncated { chunks: 0 })));
}

#[tokio::test]
async fn a_cut_last_chunk_is_detected() {
    let key = key("rev-1");
    let (sealed, _) = encrypt(&key, &data(3 * CHUNK + 5)).await;
    let (result, _) = decrypt(&key, &sealed[..sealed.len() - 1]).await;
    assert!(matches!(result, Err(PayloadError::ChunkAuth { chunk: 3 })), "{result:?}");
    // Too little left of the final chunk to even hold a tag.
    let (result, _) = decrypt(&key, &sealed[..HEADER + 3 * FRAME + 10]).await;
    assert!(matches!(result, Err(PayloadError::Truncated { chunks: 3 })), "{result:?}");
    // Cutting inside a full chunk makes it look final, which its nonce refuses.
    let (result, out) = decrypt(&key, &sealed[..HEADER + FRAME + 100]).await;
    assert!(matches!(result, Err(PayloadError::ChunkAuth { chunk: 1 })), "{result:?}");
    assert_eq!(out.len(), CHUNK, "only the authenticated first chunk is written");
}

#[tokio::test]
async fn swapped_chunks_are_detected() {
    let key = key("rev-1");
    let (mut sealed, _) = encrypt(&key, &data(3 * CHUNK + 5)).await;
    let (first, rest) = sealed[HEADER..].split_at_mut(FRAME);
    first.swap_with_slice(&mut rest[..FRAME]);
    let (result, out) = decrypt(&key, &sealed).await;
    let err = result.unwrap_err();
    assert!(matches!(err, PayloadError::ChunkAuth { chunk: 0 }), "{err}");
    assert_eq!(err.to_string(), "payload rejected: chunk 0 failed authentication (tampered, reordered or spliced)");
    assert!(out.is_empty());
}

#[tokio::test]
async fn a_chunk_spliced_from_another_stream_is_detected() {
    let key = key("rev-1");
    let plain = data(3 * CHUNK + 5);
    let (mut sealed, _) = encrypt(&key, &plain).await;
    let (other, _) = encrypt(&key, &plain).await;
    // Same key, same position, same plaintext: only the nonce prefix tells them apart.
    let at = HEADER + FRAME;
    sealed[at..at + FRAME].copy_from_slice(&other[at..at + FRAME]);
    let (result, _) = decrypt(&key, &sealed).await;
    assert!(matches!(result, Err(PayloadError::ChunkAuth { chunk: 1 })), "{result:?}");
}

#[tokio::test]
async fn a_flipped_ciphertext_bit_is_detected() {
    let key = key("rev-1");
    let plain = data(3 * CHUNK + 5);
    let (mut sealed, _) = encrypt(&key, &plain).await;
    sealed[HEADER + 2 * FRAME + 17] ^= 0x04;
    let (result, out) = decrypt(&key, &sealed).await;
    assert!(matches!(result, Err(PayloadError::ChunkAuth { chunk: 2 })), "{result:?}");
    assert_eq!(out, plain[..2 * CHUNK], "nothing from the damaged chunk is written");
}

#[tokio::test]
async fn a_modified_header_fails_every_chunk() {
    let key = key("rev-1");
    let (mut sealed, _) = encrypt(&key, &data(CHUNK + 1)).await;
    sealed[HEADER - 1] ^= 1;
    let (result, _) = decrypt(&key, &sealed).await;
    assert!(matches!(result, Err(PayloadError::ChunkAuth { chunk: 0 })), "{result:?}");
}

/// The final chunk is delimited only by the end of input, so bytes appended to a stream join
/// its final frame (or, with enough of them, turn it into a full one) and the chunk in that
/// position fails authentication.
#[tokio::test]
async fn appended_garbage_is_refused() {
    let key = key("rev-1");
    for (len, garbage) in [(0, 7), (CHUNK, 7), (3 * CHUNK + 5, 7), (3 * CHUNK + 5, CHUNK)] {
        let (mut sealed, _) = encrypt(&key, &data(len)).await;
        sealed.extend(std::iter::repeat_n(0x5A, garbage));
        let (result, out) = decrypt(&key, &sealed).await;
        let final_chunk = (len / CHUNK) as u64;
        assert!(
            matches!(result, Err(PayloadError::ChunkAuth { chunk }) if chunk == final_chunk),
            "len {len} + {garbage}: {result:?}"
        );
        assert_eq!(out.len(), len / CHUNK * CHUNK);
    }
}

/// Trailing data is named as such when the final chunk authenticates on its own and more
/// bytes follow, as with a source that reports an end and then carries on.
#[tokio::test]
async fn data_after_an_authenticated_final_chunk_is_trailing() {
    struct EndThenMore {
        parts: Vec<Vec<u8>>,
    }
    impl AsyncRead for EndThenMore {
        fn poll_read(mut self: Pin<&mut Self>, _: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
            // Each part ends with one reported end of input (a read of nothing).
            match self.parts.first_mut() {
                Some(part) if part.is_empty() => drop(self.parts.remove(0)),
                Some(part) => {
                    let n = part.len().min(buf.remaining());
                    buf.put_slice(&part[..n]);
                    part.drain(..n);
                }
                None => {}
            }
            Poll::Ready(Ok(()))
        }
    }
    let key = key("rev-1");
    let plain = data(CHUNK + 5);
    let (sealed, _) = encrypt(&key, &plain).await;
    let reader = EndThenMore { parts: vec![sealed, b"garbage".to_vec()] };
    let mut out = Vec::new();
    let err = decrypt_stream(&key, reader, &mut out).await.unwrap_err();
    assert!(matches!(err, PayloadError::TrailingData), "{err}");
    assert_eq!(err.to_string(), "payload rejected: data after the final chunk");
    assert_eq!(out, plain);
}

#[tokio::test]
async fn another_key_fails_the_first_chunk() {
    let (sealed, _) = encrypt(&key("rev-1"), &data(3 * CHUNK + 5)).await;
    let (result, out) = decrypt(&key("rev-2"), &sealed).await;
    assert!(matches!(result, Err(PayloadError::ChunkAuth { chunk: 0 })), "{result:?}");
    assert!(out.is_empty());
    let other_secret = derive("other secret").payload_key("rev-1");
    let (result, _) = decrypt(&other_secret, &sealed).await;
    assert!(matches!(result, Err(PayloadError::ChunkAuth { chunk: 0 })), "{result:?}");
}

#[tokio::test]
async fn bad_headers_are_refused() {
    let key = key("rev-1");
    let (sealed, _) = encrypt(&key, &data(10)).await;

    let mut too_large = sealed.clone();
    too_large[4..8].copy_from_slice(&(MAX_CHUNK_SIZE as u32 + 1).to_be_bytes());
    let mut zero = sealed.clone();
    zero[4..8].copy_from_slice(&0u32.to_be_bytes());
    let mut magic = sealed.clone();
    magic[3] = b'2';
    for (what, bad) in [("too large", &too_large[..]), ("zero", &zero), ("magic", &magic), ("short", &sealed[..14])] {
        let (result, out) = decrypt(&key, bad).await;
        let err = result.unwrap_err();
        assert!(matches!(err, PayloadError::BadHeader(_)), "{what}: {err}");
        assert!(err.to_string().starts_with("payload rejected: bad header: "), "{what}: {err}");
        assert!(out.is_empty());
    }
}

#[tokio::test]
async fn encrypting_refuses_unusable_chunk_sizes() {
    let key = key("rev-1");
    for size in [0, MAX_CHUNK_SIZE + 1] {
        let result = encrypt_stream(&key, &b"x"[..], tokio::io::sink(), size).await;
        assert!(matches!(result, Err(PayloadError::BadHeader(_))), "{size}");
    }
}

#[tokio::test]
async fn read_errors_are_reported_as_io() {
    struct Failing;
    impl AsyncRead for Failing {
        fn poll_read(self: Pin<&mut Self>, _: &mut Context<'_>, _: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Err(io::Error::other("disk on fire")))
        }
    }
    let err = encrypt_stream(&key("rev-1"), Failing, tokio::io::sink(), CHUNK).await.unwrap_err();
    assert_eq!(err.to_string(), "payload i/o failed: disk on fire");
}

/// 64 MiB through a generated reader into a sink: nothing ever holds the whole payload, so
/// this runs in the memory of one chunk.
#[tokio::test]
async fn large_streams_need_no_whole_payload_buffer() {
    const LEN: u64 = 64 << 20;
    let key = key("rev-big");
    let reader = tokio::io::repeat(0xA5).take(LEN);
    let summary = encrypt_stream(&key, reader, tokio::io::sink(), airlock_protocol::DEFAULT_CHUNK_SIZE).await.unwrap();
    assert_eq!(summary.plain_size, LEN);
    assert_eq!(summary.chunks, 65);
}
