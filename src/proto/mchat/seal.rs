//! The envelope of a multicast datagram: the group's key, stretched from its passphrase with
//! Argon2id and used with ChaCha20-Poly1305, and each participant's own Ed25519 key.
//! Computation only; where keys are kept is the caller's business.

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305};
use ring::signature::{Ed25519KeyPair, KeyPair, UnparsedPublicKey, ED25519};
use std::fmt;
use std::net::SocketAddrV4;

pub const PUBLIC_KEY_LEN: usize = 32;
pub const SIGNATURE_LEN: usize = 64;
pub const TAG_LEN: usize = 16;
pub const SEED_LEN: usize = 32;

/// Argon2id cost: 19 MiB, two passes, one lane (the OWASP recommendation for Argon2id).
const ARGON2_MEMORY_KIB: u32 = 19 * 1024;
const ARGON2_PASSES: u32 = 2;

/// Stretch a passphrase into 32 bytes of key, with a salt naming what the key is for (the
/// group and port, and a purpose), so one passphrase keys each group and each use apart.
pub fn stretch(passphrase: &str, purpose: &str, group: SocketAddrV4, out: &mut [u8]) {
    let salt = format!("lanmeet {purpose} {group}");
    let params = argon2::Params::new(ARGON2_MEMORY_KIB, ARGON2_PASSES, 1, Some(out.len())).expect("valid Argon2 parameters");
    argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
        .hash_password_into(passphrase.as_bytes(), salt.as_bytes(), out)
        .expect("Argon2 accepts these lengths");
}

/// The key every member of a group derives from its passphrase.
pub struct GroupKey {
    key: LessSafeKey,
    /// Which key it is, to show and compare (not secret: a hash of the key).
    id: String,
}

impl GroupKey {
    /// The chat key of `group` from its passphrase (takes a noticeable fraction of a second,
    /// by design).
    pub fn from_passphrase(passphrase: &str, group: SocketAddrV4) -> GroupKey {
        let mut bytes = [0u8; 32];
        stretch(passphrase, "chat", group, &mut bytes);
        GroupKey::from_bytes(&bytes)
    }

    pub fn from_bytes(bytes: &[u8; 32]) -> GroupKey {
        let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
        let id = digest.as_ref()[..4].iter().map(|b| format!("{b:02x}")).collect();
        GroupKey { key: LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, bytes).expect("32-byte key")), id }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    fn nonce(sender: u64, counter: u32) -> Nonce {
        let mut nonce = [0u8; 12];
        nonce[..8].copy_from_slice(&sender.to_be_bytes());
        nonce[8..].copy_from_slice(&counter.to_be_bytes());
        Nonce::assume_unique_for_key(nonce)
    }

    /// Seal `data` in place (the tag is appended). The caller never uses one (sender,
    /// counter) twice.
    pub fn seal(&self, sender: u64, counter: u32, aad: &[u8], data: &mut Vec<u8>) {
        self.key.seal_in_place_append_tag(GroupKey::nonce(sender, counter), Aad::from(aad), data).expect("sealing cannot fail for these sizes");
    }

    /// The plaintext, or None when the bytes were not sealed with this key as they are.
    pub fn open(&self, sender: u64, counter: u32, aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
        let mut data = sealed.to_vec();
        let len = self.key.open_in_place(GroupKey::nonce(sender, counter), Aad::from(aad), &mut data).ok()?.len();
        data.truncate(len);
        Some(data)
    }
}

impl fmt::Debug for GroupKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GroupKey({})", self.id)
    }
}

/// A participant's signing key.
pub struct Signer {
    pair: Ed25519KeyPair,
    seed: [u8; SEED_LEN],
}

impl Signer {
    pub fn from_seed(seed: &[u8; SEED_LEN]) -> Signer {
        Signer { pair: Ed25519KeyPair::from_seed_unchecked(seed).expect("32-byte seed"), seed: *seed }
    }

    /// A new key from the system's random source.
    pub fn generate() -> Signer {
        let mut seed = [0u8; SEED_LEN];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut seed).expect("system random source");
        Signer::from_seed(&seed)
    }

    pub fn seed(&self) -> &[u8; SEED_LEN] {
        &self.seed
    }

    pub fn public(&self) -> [u8; PUBLIC_KEY_LEN] {
        self.pair.public_key().as_ref().try_into().expect("Ed25519 public keys are 32 bytes")
    }

    /// Sign the concatenation of `parts`.
    pub fn sign(&self, parts: &[&[u8]]) -> [u8; SIGNATURE_LEN] {
        let message = parts.concat();
        self.pair.sign(&message).as_ref().try_into().expect("Ed25519 signatures are 64 bytes")
    }
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signer({})", fingerprint(&self.public()))
    }
}

pub fn verify(public: &[u8; PUBLIC_KEY_LEN], parts: &[&[u8]], signature: &[u8]) -> bool {
    UnparsedPublicKey::new(&ED25519, public).verify(&parts.concat(), signature).is_ok()
}

/// A public key as people compare it: the first 8 bytes of its SHA-256, in four groups.
pub fn fingerprint(public: &[u8; PUBLIC_KEY_LEN]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, public);
    let hex: Vec<String> = digest.as_ref()[..8].chunks(2).map(|c| format!("{:02x}{:02x}", c[0], c[1])).collect();
    hex.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_passphrase_keys_each_group_apart_and_opens_only_its_own() {
        let a: SocketAddrV4 = "239.0.0.222:23333".parse().unwrap();
        let b: SocketAddrV4 = "239.0.0.222:23334".parse().unwrap();
        let key = GroupKey::from_passphrase("口令 one", a);
        assert_eq!(key.id(), GroupKey::from_passphrase("口令 one", a).id());
        assert_ne!(key.id(), GroupKey::from_passphrase("口令 one", b).id());
        assert_ne!(key.id(), GroupKey::from_passphrase("口令 two", a).id());
        let mut data = b"hello".to_vec();
        key.seal(7, 1, b"head", &mut data);
        assert_eq!(data.len(), 5 + TAG_LEN);
        assert_eq!(key.open(7, 1, b"head", &data).as_deref(), Some(&b"hello"[..]));
        assert_eq!(key.open(7, 2, b"head", &data), None, "another nonce");
        assert_eq!(key.open(7, 1, b"hexd", &data), None, "another header");
        assert_eq!(GroupKey::from_passphrase("口令 two", a).open(7, 1, b"head", &data), None, "another passphrase");
        let mut flipped = data.clone();
        flipped[0] ^= 1;
        assert_eq!(key.open(7, 1, b"head", &flipped), None, "altered");
    }

    #[test]
    fn signatures_check_out_only_for_their_key_and_bytes() {
        let signer = Signer::generate();
        let again = Signer::from_seed(signer.seed());
        assert_eq!(signer.public(), again.public());
        let signature = signer.sign(&[b"ab", b"c"]);
        assert!(verify(&signer.public(), &[b"a", b"bc"], &signature));
        assert!(!verify(&signer.public(), &[b"abd"], &signature));
        assert!(!verify(&Signer::generate().public(), &[b"abc"], &signature));
        assert_eq!(fingerprint(&signer.public()).len(), 19);
    }
}
