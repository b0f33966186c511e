//! Payload encryption as a STREAM of AES-256-GCM chunks.
//!
//! Each chunk's nonce binds its position (counter) and whether it ends the stream (last flag),
//! and every chunk authenticates the header, so reordering, truncation and splicing from
//! another stream all surface as authentication failures. Only one chunk is held in memory,
//! which is what lets payloads of any size through.
//!
//! AES-256-GCM and SHA-256 come from ring: on this code's x86-64 machines its AES-NI/CLMUL
//! GCM runs several times faster than the portable crates (see `examples/crypto_speed.rs`).

use crate::keys::PayloadKey;
use rand::RngCore;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use ring::digest::{Context as Sha256, SHA256};
use std::io;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use zeroize::Zeroizing;

pub const DEFAULT_CHUNK_SIZE: usize = 1 << 20;
pub const MAX_CHUNK_SIZE: usize = 16 << 20;

const MAGIC: &[u8; 4] = b"ALK1";
const PREFIX_LEN: usize = 7;
const HEADER_LEN: usize = MAGIC.len() + 4 + PREFIX_LEN;
const TAG_LEN: usize = 16;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamSummary {
    pub plain_size: u64,
    /// SHA-256 of the plaintext, lowercase hex.
    pub sha256: String,
    pub chunks: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    #[error("payload i/o failed: {0}")]
    Io(#[from] io::Error),
    #[error("payload rejected: bad header: {0}")]
    BadHeader(String),
    #[error("payload rejected: stream ended after {chunks} chunk(s) without its final chunk (truncated)")]
    Truncated { chunks: u64 },
    #[error("payload rejected: chunk {chunk} failed authentication (tampered, reordered or spliced)")]
    ChunkAuth { chunk: u64 },
    #[error("payload rejected: data after the final chunk")]
    TrailingData,
    #[error("payload rejected: more chunks than the nonce counter allows")]
    TooManyChunks,
}

fn check_chunk_size(chunk_size: usize) -> Result<(), PayloadError> {
    if chunk_size == 0 || chunk_size > MAX_CHUNK_SIZE {
        return Err(PayloadError::BadHeader(format!("chunk size {chunk_size} is outside 1..={MAX_CHUNK_SIZE}")));
    }
    Ok(())
}

fn cipher(key: &PayloadKey) -> LessSafeKey {
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key.bytes()).expect("a 32-byte key is an AES-256 key"))
}

fn nonce(header: &[u8; HEADER_LEN], index: u64, last: bool) -> Result<[u8; 12], PayloadError> {
    let counter = u32::try_from(index).map_err(|_| PayloadError::TooManyChunks)?;
    let mut nonce = [0u8; 12];
    nonce[..PREFIX_LEN].copy_from_slice(&header[HEADER_LEN - PREFIX_LEN..]);
    nonce[PREFIX_LEN..11].copy_from_slice(&counter.to_be_bytes());
    nonce[11] = u8::from(last);
    Ok(nonce)
}

/// Reads until `buf` is full or the input ends; readers may hand out any amount per call.
async fn read_full<R: AsyncRead + Unpin>(reader: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]).await {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Bytes of a chunk buffer at first: it grows to the chunk size only while a stream has
/// more, so a small file costs a small buffer (not a 1 MiB one zeroed twice).
const FIRST_BUFFER: usize = 64 << 10;

/// A buffer for `room` bytes of chunk and `tail` bytes after them, of the size the stream
/// needs: `read_chunk` grows it.
fn chunk_buffer(room: usize, tail: usize) -> Zeroizing<Vec<u8>> {
    Zeroizing::new(vec![0u8; room.min(FIRST_BUFFER) + tail])
}

/// Reads up to `room` bytes into the front of `buf` (keeping `tail` bytes free after them),
/// growing it while the reader fills it; each buffer given up is wiped.
async fn read_chunk<R: AsyncRead + Unpin>(
    reader: &mut R,
    buf: &mut Zeroizing<Vec<u8>>,
    room: usize,
    tail: usize,
) -> io::Result<usize> {
    let mut filled = 0;
    loop {
        let have = buf.len() - tail;
        filled += read_full(reader, &mut buf[filled..have]).await?;
        if filled < have || have >= room {
            return Ok(filled);
        }
        let mut bigger = Zeroizing::new(vec![0u8; (have * 4).min(room) + tail]);
        bigger[..filled].copy_from_slice(&buf[..filled]);
        *buf = bigger;
    }
}

/// Encrypts `reader` into `writer`. A chunk shorter than `chunk_size` (possibly empty) always
/// ends the stream, so the decryptor can tell the final chunk by its length alone.
///
/// The writer is flushed but not shut down: shutting it down is what commits an upload, and
/// that decision belongs to the caller.
pub async fn encrypt_stream<R, W>(
    key: &PayloadKey,
    mut reader: R,
    mut writer: W,
    chunk_size: usize,
) -> Result<StreamSummary, PayloadError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let header = new_header(chunk_size)?;
    writer.write_all(&header).await?;

    let cipher = cipher(key);
    let mut hasher = Sha256::new(&SHA256);
    let mut plain_size = 0u64;
    let mut buf = chunk_buffer(chunk_size, TAG_LEN);
    let mut index = 0u64;
    loop {
        let n = read_chunk(&mut reader, &mut buf, chunk_size, TAG_LEN).await?;
        let last = n < chunk_size;
        let nonce = nonce(&header, index, last)?;
        hasher.update(&buf[..n]);
        plain_size += n as u64;
        let tag = cipher
            .seal_in_place_separate_tag(Nonce::assume_unique_for_key(nonce), Aad::from(&header), &mut buf[..n])
            .expect("chunk sizes are far below the AES-GCM message limit");
        buf[n..n + TAG_LEN].copy_from_slice(tag.as_ref());
        writer.write_all(&buf[..n + TAG_LEN]).await?;
        index += 1;
        if last {
            break;
        }
    }
    writer.flush().await?;
    Ok(StreamSummary { plain_size, sha256: hex::encode(hasher.finish()), chunks: index })
}

/// Decrypts a stream written by [`encrypt_stream`]. Only authenticated plaintext reaches
/// `writer`, but on error the chunks before the failure have been written: the caller must
/// discard the output (abort the upload) rather than shut the writer down.
pub async fn decrypt_stream<R, W>(key: &PayloadKey, mut reader: R, mut writer: W) -> Result<StreamSummary, PayloadError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut header = [0u8; HEADER_LEN];
    if read_full(&mut reader, &mut header).await? < HEADER_LEN {
        return Err(PayloadError::BadHeader(format!("stream is shorter than the {HEADER_LEN}-byte header")));
    }
    let chunk_size = read_header(&header)?;

    let cipher = cipher(key);
    let mut hasher = Sha256::new(&SHA256);
    let mut plain_size = 0u64;
    let frame_len = chunk_size + TAG_LEN;
    let mut frame = chunk_buffer(frame_len, 0);
    let mut index = 0u64;
    loop {
        let n = read_chunk(&mut reader, &mut frame, frame_len, 0).await?;
        if n < TAG_LEN {
            return Err(PayloadError::Truncated { chunks: index });
        }
        // A full frame is never final; a cut one is tried as final and then fails to authenticate.
        let last = n < frame_len;
        let nonce = nonce(&header, index, last)?;
        let body = cipher
            .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(&header), &mut frame[..n])
            .map_err(|_| PayloadError::ChunkAuth { chunk: index })?;
        hasher.update(body);
        plain_size += body.len() as u64;
        writer.write_all(body).await?;
        index += 1;
        if last {
            break;
        }
    }
    let mut probe = [0u8; 1];
    if read_full(&mut reader, &mut probe).await? != 0 {
        return Err(PayloadError::TrailingData);
    }
    writer.flush().await?;
    Ok(StreamSummary { plain_size, sha256: hex::encode(hasher.finish()), chunks: index })
}

/// A new stream header: magic, chunk size and a random nonce prefix.
fn new_header(chunk_size: usize) -> Result<[u8; HEADER_LEN], PayloadError> {
    check_chunk_size(chunk_size)?;
    let mut header = [0u8; HEADER_LEN];
    header[..4].copy_from_slice(MAGIC);
    header[4..8].copy_from_slice(&(chunk_size as u32).to_be_bytes());
    rand::rngs::OsRng.fill_bytes(&mut header[8..]);
    Ok(header)
}

/// The chunk size a header announces, once magic and size are checked.
fn read_header(header: &[u8; HEADER_LEN]) -> Result<usize, PayloadError> {
    if &header[..4] != MAGIC {
        return Err(PayloadError::BadHeader("not an Airlock payload (wrong magic)".into()));
    }
    let chunk_size = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
    check_chunk_size(chunk_size)?;
    Ok(chunk_size)
}

/// [`encrypt_stream`] over bytes held in memory, for callers that hold a whole small file:
/// the same format, sealed in place in the output, with no chunk buffer besides.
pub fn encrypt_bytes(
    key: &PayloadKey,
    plain: &[u8],
    chunk_size: usize,
) -> Result<(Vec<u8>, StreamSummary), PayloadError> {
    let header = new_header(chunk_size)?;
    let chunks = plain.len() / chunk_size + 1;
    let mut sealed = Vec::with_capacity(HEADER_LEN + plain.len() + chunks * TAG_LEN);
    sealed.extend_from_slice(&header);
    let cipher = cipher(key);
    // The last chunk is shorter than `chunk_size`: empty when the input fills its chunks.
    let pieces = plain.chunks(chunk_size).chain(plain.len().is_multiple_of(chunk_size).then_some(&[][..]));
    for (index, piece) in pieces.enumerate() {
        let nonce = nonce(&header, index as u64, piece.len() < chunk_size)?;
        let start = sealed.len();
        sealed.extend_from_slice(piece);
        let tag = cipher
            .seal_in_place_separate_tag(Nonce::assume_unique_for_key(nonce), Aad::from(&header), &mut sealed[start..])
            .expect("chunk sizes are far below the AES-GCM message limit");
        sealed.extend_from_slice(tag.as_ref());
    }
    let sha256 = hex::encode(ring::digest::digest(&SHA256, plain));
    Ok((sealed, StreamSummary { plain_size: plain.len() as u64, sha256, chunks: chunks as u64 }))
}

/// [`decrypt_stream`] over bytes held in memory, each chunk opened in place in the output.
/// On error nothing is returned, so no unauthenticated byte can be used.
pub fn decrypt_bytes(key: &PayloadKey, sealed: &[u8]) -> Result<(Zeroizing<Vec<u8>>, StreamSummary), PayloadError> {
    let Some((header, mut rest)) = sealed.split_first_chunk::<HEADER_LEN>() else {
        return Err(PayloadError::BadHeader(format!("stream is shorter than the {HEADER_LEN}-byte header")));
    };
    let frame_len = read_header(header)? + TAG_LEN;
    let cipher = cipher(key);
    let mut plain = Zeroizing::new(Vec::with_capacity(rest.len()));
    let mut index = 0u64;
    loop {
        let (frame, after) = rest.split_at(rest.len().min(frame_len));
        if frame.len() < TAG_LEN {
            return Err(PayloadError::Truncated { chunks: index });
        }
        // As in the stream: a full frame is never final, a cut one is tried as final.
        let last = frame.len() < frame_len;
        let nonce = nonce(header, index, last)?;
        let start = plain.len();
        plain.extend_from_slice(frame);
        let opened = cipher
            .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(header), &mut plain[start..])
            .map_err(|_| PayloadError::ChunkAuth { chunk: index })?
            .len();
        plain.truncate(start + opened);
        index += 1;
        rest = after;
        if last {
            break;
        }
    }
    if !rest.is_empty() {
        return Err(PayloadError::TrailingData);
    }
    let summary = StreamSummary {
        plain_size: plain.len() as u64,
        sha256: hex::encode(ring::digest::digest(&SHA256, &plain)),
        chunks: index,
    };
    Ok((plain, summary))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The payload key of revision `rev-1` under `secret`, derived cheaply.
    fn test_key_of(secret: &str) -> PayloadKey {
        crate::ChannelKeys::derive_with(
            secret,
            "shared-1",
            crate::KdfParams { memory_kib: 64, iterations: 1, lanes: 1 },
        )
        .unwrap()
        .payload_key("rev-1")
    }

    fn test_key() -> PayloadKey {
        test_key_of("a shared secret")
    }

    #[tokio::test]
    async fn bytes_and_streams_read_each_other() {
        let key = test_key();
        for plain in [Vec::new(), b"short".to_vec(), vec![7u8; 40], vec![9u8; 64]] {
            let (sealed, summary) = encrypt_bytes(&key, &plain, 16).unwrap();
            assert_eq!(summary.plain_size, plain.len() as u64);
            let mut streamed = Vec::new();
            assert_eq!(decrypt_stream(&key, sealed.as_slice(), &mut streamed).await.unwrap(), summary);
            assert_eq!(streamed, plain);

            let mut from_stream = Vec::new();
            let stream_summary = encrypt_stream(&key, plain.as_slice(), &mut from_stream, 16).await.unwrap();
            let (opened, opened_summary) = decrypt_bytes(&key, &from_stream).unwrap();
            assert_eq!(*opened, plain);
            assert_eq!(opened_summary, stream_summary);
            assert_eq!(stream_summary.sha256, summary.sha256);
        }
    }

    #[test]
    fn decrypt_bytes_refuses_tampered_truncated_and_extended_payloads() {
        let key = test_key();
        let (sealed, _) = encrypt_bytes(&key, b"plain bytes over several chunks", 8).unwrap();
        let mut flipped = sealed.clone();
        flipped[HEADER_LEN + 3] ^= 1;
        assert!(matches!(decrypt_bytes(&key, &flipped), Err(PayloadError::ChunkAuth { chunk: 0 })));
        let cut = &sealed[..HEADER_LEN + 8 + TAG_LEN];
        assert!(matches!(
            decrypt_bytes(&key, cut),
            Err(PayloadError::ChunkAuth { .. } | PayloadError::Truncated { .. })
        ));
        let mut longer = sealed.clone();
        longer.push(0);
        assert!(decrypt_bytes(&key, &longer).is_err());
        assert!(matches!(decrypt_bytes(&key, &sealed[..5]), Err(PayloadError::BadHeader(_))));
        let other = test_key_of("another secret");
        assert!(matches!(decrypt_bytes(&other, &sealed), Err(PayloadError::ChunkAuth { chunk: 0 })));
    }

    #[test]
    fn nonce_lays_out_prefix_counter_and_flag() {
        let mut header = [0u8; HEADER_LEN];
        header[8..].copy_from_slice(&[1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(nonce(&header, 0x0102_0304, true).unwrap(), [1, 2, 3, 4, 5, 6, 7, 1, 2, 3, 4, 1]);
        assert_eq!(nonce(&header, 0, false).unwrap()[7..], [0, 0, 0, 0, 0]);
        assert!(nonce(&header, u64::from(u32::MAX), true).is_ok());
        assert!(matches!(nonce(&header, u64::from(u32::MAX) + 1, false), Err(PayloadError::TooManyChunks)));
    }

    /// Payloads written before the move to ring (RustCrypto's aes-gcm) must still open, and
    /// the other way round: the same AES-256-GCM over the same nonces and header.
    #[tokio::test]
    async fn chunks_are_plain_aes_256_gcm_as_other_implementations_read_them() {
        use aes_gcm::aead::{AeadInPlace, KeyInit};
        let key = test_key();
        let plain = b"plain bytes, three chunks".to_vec();
        let mut sealed = Vec::new();
        encrypt_stream(&key, plain.as_slice(), &mut sealed, 8).await.unwrap();

        let other = aes_gcm::Aes256Gcm::new(aes_gcm::Key::<aes_gcm::Aes256Gcm>::from_slice(key.bytes()));
        let header: [u8; HEADER_LEN] = sealed[..HEADER_LEN].try_into().unwrap();
        let mut opened = Vec::new();
        for (index, frame) in sealed[HEADER_LEN..].chunks(8 + TAG_LEN).enumerate() {
            let last = frame.len() < 8 + TAG_LEN;
            let nonce = nonce(&header, index as u64, last).unwrap();
            let (body, tag) = frame.split_at(frame.len() - TAG_LEN);
            let mut body = body.to_vec();
            other
                .decrypt_in_place_detached(
                    aes_gcm::Nonce::from_slice(&nonce),
                    &header,
                    &mut body,
                    aes_gcm::Tag::from_slice(tag),
                )
                .expect("RustCrypto opens a chunk ring sealed");
            opened.extend_from_slice(&body);
        }
        assert_eq!(opened, plain);

        // And a stream sealed by RustCrypto decrypts here.
        let mut theirs = header.to_vec();
        for (index, piece) in plain.chunks(8).chain(std::iter::once(&[][..])).enumerate().take(plain.len() / 8 + 1) {
            let last = piece.len() < 8;
            let nonce = nonce(&header, index as u64, last).unwrap();
            let mut body = piece.to_vec();
            let tag = other.encrypt_in_place_detached(aes_gcm::Nonce::from_slice(&nonce), &header, &mut body).unwrap();
            theirs.extend_from_slice(&body);
            theirs.extend_from_slice(&tag);
        }
        let mut out = Vec::new();
        let summary = decrypt_stream(&key, theirs.as_slice(), &mut out).await.unwrap();
        assert_eq!(out, plain);
        assert_eq!(summary.sha256, hex::encode(ring::digest::digest(&SHA256, &plain)));
    }
}
