//! Decrypting a payload object from a partner's bucket. The first byte picks the mode: even,
//! the input is the object itself (anything a bucket writer could put there), which must never
//! decrypt; odd, the rest is plaintext encrypted here and then cut or flipped where the input
//! says, which must decrypt to exactly the plaintext when untouched and fail otherwise.
#![no_main]

use airlock_protocol::{decrypt_stream, encrypt_stream, ChannelKeys, KdfParams, PayloadKey};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn key() -> &'static PayloadKey {
    static KEY: OnceLock<PayloadKey> = OnceLock::new();
    KEY.get_or_init(|| {
        let params = KdfParams { memory_kib: 64, iterations: 1, lanes: 1 };
        let keys = ChannelKeys::derive_with("fuzz secret that is long enough", "fuzz-shared-id", params)
            .expect("valid parameters");
        keys.payload_key("fuzz-revision")
    })
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| tokio::runtime::Builder::new_current_thread().build().expect("a runtime"))
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    runtime().block_on(async {
        if mode & 1 == 0 {
            let mut out = Vec::new();
            assert!(decrypt_stream(key(), rest, &mut out).await.is_err(), "a forged payload decrypted");
            return;
        }
        // Layout: [chunk size byte][cut: 2 bytes][flip: 2 bytes][plaintext...]
        let [size, c1, c2, f1, f2, plain @ ..] = rest else { return };
        let chunk_size = 1 + usize::from(*size);
        let mut sealed = Vec::new();
        encrypt_stream(key(), plain, &mut sealed, chunk_size).await.expect("encrypting into memory");
        let cut = usize::from(u16::from_be_bytes([*c1, *c2]));
        let flip = usize::from(u16::from_be_bytes([*f1, *f2]));
        let mut touched = false;
        if cut != 0 && cut < sealed.len() {
            sealed.truncate(sealed.len() - cut);
            touched = true;
        }
        if flip != 0 && flip <= sealed.len() {
            sealed[flip - 1] ^= 0x01;
            touched = true;
        }
        let mut out = Vec::new();
        match decrypt_stream(key(), sealed.as_slice(), &mut out).await {
            Ok(_) if touched => panic!("a cut or flipped payload decrypted"),
            Ok(_) => assert_eq!(out, plain, "decrypted to other bytes"),
            Err(e) if !touched => panic!("an untouched payload failed: {e}"),
            Err(_) => {}
        }
    });
});
