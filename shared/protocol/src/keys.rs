//! Keys derived from a connection's shared secret. The shared ID salts the derivation so that
//! two connections that happen to share a secret still get unrelated keys.

use hkdf::Hkdf;
use sha2::Sha256;
use std::fmt;
use zeroize::Zeroize;

const MANIFEST_MAC_INFO: &[u8] = b"airlock manifest mac v1";
const PAYLOAD_INFO: &[u8] = b"airlock payload v1";
const PAYLOAD_KEY_INFO: &[u8] = b"airlock payload key v1:";

pub struct ChannelKeys {
    mac_key: [u8; 32],
    payload_master: [u8; 32],
}

impl ChannelKeys {
    pub fn derive(shared_secret: &str, shared_id: &str) -> ChannelKeys {
        let hkdf = Hkdf::<Sha256>::new(Some(shared_id.as_bytes()), shared_secret.as_bytes());
        let mut keys = ChannelKeys { mac_key: [0; 32], payload_master: [0; 32] };
        hkdf.expand(MANIFEST_MAC_INFO, &mut keys.mac_key).expect("32-byte HKDF output");
        hkdf.expand(PAYLOAD_INFO, &mut keys.payload_master).expect("32-byte HKDF output");
        keys
    }

    /// One key per revision, so a chunk can never be moved from one revision's payload into
    /// another's even if both happened to pick the same nonce prefix.
    pub fn payload_key(&self, revision_id: &str) -> PayloadKey {
        let mut key = PayloadKey { key: [0; 32] };
        Hkdf::<Sha256>::new(None, &self.payload_master)
            .expand_multi_info(&[PAYLOAD_KEY_INFO, revision_id.as_bytes()], &mut key.key)
            .expect("32-byte HKDF output");
        key
    }

    pub(crate) fn mac_key(&self) -> &[u8; 32] {
        &self.mac_key
    }
}

impl Drop for ChannelKeys {
    fn drop(&mut self) {
        self.mac_key.zeroize();
        self.payload_master.zeroize();
    }
}

impl fmt::Debug for ChannelKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChannelKeys").finish_non_exhaustive()
    }
}

/// The AES-256-GCM key of one revision's payload stream.
pub struct PayloadKey {
    key: [u8; 32],
}

impl PayloadKey {
    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.key
    }
}

impl Drop for PayloadKey {
    fn drop(&mut self) {
        self.key.zeroize();
    }
}

impl fmt::Debug for PayloadKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PayloadKey").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derivation_depends_on_secret_shared_id_and_revision() {
        let keys = ChannelKeys::derive("secret", "acme-1x");
        let same = ChannelKeys::derive("secret", "acme-1x");
        assert_eq!(keys.mac_key, same.mac_key);
        assert_ne!(keys.mac_key, keys.payload_master);
        assert_ne!(keys.mac_key, ChannelKeys::derive("secret", "acme-2x").mac_key);
        assert_ne!(keys.mac_key, ChannelKeys::derive("secret2", "acme-1x").mac_key);
        assert_eq!(keys.payload_key("r1").key, same.payload_key("r1").key);
        assert_ne!(keys.payload_key("r1").key, keys.payload_key("r2").key);
    }

    /// Pins the documented derivation (values computed independently with Python's hmac), so
    /// both platforms derive the same keys whichever build they run.
    #[test]
    fn derivation_matches_known_answers() {
        let keys = ChannelKeys::derive("secret", "acme-1x");
        assert_eq!(hex::encode(keys.mac_key), "d53395b687d20fb21bed9a680e09d46de61b6dc8cf08ef47f5d21bd8988bae34");
        assert_eq!(
            hex::encode(keys.payload_master),
            "afa1eed41905c854c599e60d78035f03df363c9b929cf7402dd0b7ada4c27e8b"
        );
        assert_eq!(
            hex::encode(keys.payload_key("rev-1").key),
            "54666177876292ffec2f6e5ab2186fb6e211a08113a1a538e2a5bdc9e39b1d51"
        );
    }

    #[test]
    fn debug_does_not_show_key_material() {
        let keys = ChannelKeys::derive("secret", "acme-1x");
        assert_eq!(format!("{keys:?}"), "ChannelKeys { .. }");
        assert_eq!(format!("{:?}", keys.payload_key("r")), "PayloadKey { .. }");
    }
}
