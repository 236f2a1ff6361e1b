//! Test helpers: a plain-memory key as a QBFT [`Signer`] and hex/JSON helpers.
#![allow(dead_code, unreachable_pub)]

pub mod sim;

use alloy_primitives::{Address, B256, keccak256};
use cachet_consensus::qbft::{SignError, Signer};
use secp256k1::{Message, PublicKey, SECP256K1, SecretKey};

/// A test key (never a production key: plain memory).
#[derive(Clone)]
pub struct TestKey {
    secret: SecretKey,
    address: Address,
}

impl std::fmt::Debug for TestKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TestKey({})", self.address)
    }
}

impl TestKey {
    pub fn from_hex(hex_key: &str) -> Self {
        let bytes = hex::decode(hex_key.trim_start_matches("0x")).unwrap();
        Self::from_bytes(&bytes)
    }

    pub fn from_bytes(bytes: &[u8]) -> Self {
        let secret = SecretKey::from_slice(bytes).unwrap();
        let public = PublicKey::from_secret_key(SECP256K1, &secret);
        let uncompressed = public.serialize_uncompressed();
        let address = Address::from_word(keccak256(&uncompressed[1..]));
        Self { secret, address }
    }

    /// Deterministic key number `i` (1-based) for simulations.
    pub fn numbered(i: u64) -> Self {
        let mut b = [0u8; 32];
        b[24..].copy_from_slice(&(i + 0x1000).to_be_bytes());
        b[0] = 0x42;
        Self::from_bytes(&b)
    }
}

impl Signer for TestKey {
    fn address(&self) -> Address {
        self.address
    }

    fn sign(&self, digest: &B256) -> Result<[u8; 65], SignError> {
        let sig = SECP256K1.sign_ecdsa_recoverable(&Message::from_digest(digest.0), &self.secret);
        let (id, rs) = sig.serialize_compact();
        let mut out = [0u8; 65];
        out[..64].copy_from_slice(&rs);
        out[64] = i32::from(id) as u8;
        Ok(out)
    }
}

pub fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s.trim_start_matches("0x")).unwrap()
}

pub fn b256(s: &str) -> B256 {
    B256::from_slice(&unhex(s))
}

pub fn addr(s: &str) -> Address {
    s.parse().unwrap()
}

pub fn load(name: &str) -> Vec<serde_json::Value> {
    let path = format!("{}/../../testdata/bft/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}
