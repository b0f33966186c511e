//! Unwrapping what the database stores under the master key: a wrapped shared secret and a
//! wrapped channel key. Even first byte: the input is the stored text itself (a database
//! writer without the master key), which must never unwrap. Odd: the rest is wrapped here
//! with the master key, so the channel-key parser behind the AEAD sees arbitrary plaintext.
#![no_main]

use airlock_protocol::{ChannelKeys, MasterKey};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn master() -> &'static MasterKey {
    static MASTER: OnceLock<MasterKey> = OnceLock::new();
    MASTER.get_or_init(|| MasterKey::new("a master secret for the fuzz target only").expect("long enough"))
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    if mode & 1 == 0 {
        assert!(master().unwrap(text).is_err(), "a forged wrapped secret unwrapped");
        assert!(ChannelKeys::unwrap(master(), text, "wrapped").is_err(), "a forged channel key unwrapped");
        return;
    }
    let wrapped = master().wrap(text);
    let plain = master().unwrap(&wrapped).expect("what was wrapped unwraps");
    assert_eq!(secrecy::ExposeSecret::expose_secret(&plain), text);
    let _ = ChannelKeys::unwrap(master(), &wrapped, text);
});
