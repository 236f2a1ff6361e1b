//! The sealed key set: the plaintext layout inside the bundle and its AES-256-GCM seal.
//!
//! Plaintext (130 bytes): `version(1) = 1 ‖ flags(1) ‖ node(32) ‖ sealer(32) ‖ wallet(32) ‖
//! ptm(32)`; flag bit 0 set = the sealer is a separate key, clear = the node key seals and the
//! sealer field is zero; bit 1 set = an HSM/KMS holds the sealing key, bit 2 set = it holds the
//! wallet key (that field is zero; the header's `remote_keys` must say the same).
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use cachet_kms::DataKey;
use rand::RngCore;
use secp256k1::SecretKey;
use zeroize::Zeroizing;

use crate::KeyRole;
use crate::keys::KeySecrets;
use crate::remote_key::{RemoteKey, RemoteRole};
use crate::{Error, Result};

const PAYLOAD_VERSION: u8 = 1;
const FLAG_SEPARATE_SEALER: u8 = 0x01;
const FLAG_REMOTE_SEALER: u8 = 0x02;
const FLAG_REMOTE_WALLET: u8 = 0x04;
const KNOWN_FLAGS: u8 = FLAG_SEPARATE_SEALER | FLAG_REMOTE_SEALER | FLAG_REMOTE_WALLET;
const PAYLOAD_LEN: usize = 2 + 4 * 32;

/// Seals the key set under the data key with `aad`; returns the nonce and ciphertext ‖ tag.
pub(crate) fn seal(
    secrets: &KeySecrets,
    data_key: &DataKey,
    aad: &[u8],
) -> Result<([u8; 12], Vec<u8>)> {
    let mut plain = Zeroizing::new(Vec::with_capacity(PAYLOAD_LEN));
    plain.push(PAYLOAD_VERSION);
    plain.push(flags_of(secrets));
    plain.extend_from_slice(&secrets.node.secret_bytes());
    plain.extend_from_slice(&secrets.sealer.map_or([0u8; 32], |s| s.secret_bytes()));
    plain.extend_from_slice(&secrets.wallet.map_or([0u8; 32], |s| s.secret_bytes()));
    plain.extend_from_slice(secrets.ptm.as_bytes());
    let mut nonce = [0u8; 12];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let sealed = Aes256Gcm::new(data_key.expose_secret().into())
        .encrypt(Nonce::from_slice(&nonce), Payload { msg: &plain, aad })
        .map_err(|_| Error::Internal("AES-GCM sealing of the key set failed"))?;
    Ok((nonce, sealed))
}

fn flags_of(secrets: &KeySecrets) -> u8 {
    let mut flags = 0;
    if secrets.sealer.is_some() {
        flags |= FLAG_SEPARATE_SEALER;
    }
    if secrets.remote(KeyRole::Sealer).is_some() {
        flags |= FLAG_REMOTE_SEALER;
    }
    if secrets.remote(KeyRole::Wallet).is_some() {
        flags |= FLAG_REMOTE_WALLET;
    }
    flags
}

/// Opens a sealed key set whose header records `remote` (the HSM/KMS keys); any tampering with
/// the ciphertext or the associated data fails.
pub(crate) fn open(
    sealed: &[u8],
    nonce: &[u8; 12],
    data_key: &DataKey,
    aad: &[u8],
    path: &Path,
    remote: &[RemoteKey],
) -> Result<Box<KeySecrets>> {
    let plain = Zeroizing::new(
        Aes256Gcm::new(data_key.expose_secret().into())
            .decrypt(Nonce::from_slice(nonce), Payload { msg: sealed, aad })
            .map_err(|_| Error::TamperedBundle {
                path: path.to_path_buf(),
            })?,
    );
    let corrupt = |reason: &str| Error::CorruptBundle {
        path: path.to_path_buf(),
        field: "sealed_keys",
        reason: reason.to_owned(),
    };
    let (&[version, flags], keys) = plain
        .split_first_chunk::<2>()
        .ok_or_else(|| corrupt("too short"))?;
    if version != PAYLOAD_VERSION || keys.len() != 4 * 32 || flags & !KNOWN_FLAGS != 0 {
        return Err(corrupt("unknown key-set layout"));
    }
    let remote_sealer = remote.iter().any(|r| r.role == RemoteRole::Sealing);
    let remote_wallet = remote.iter().any(|r| r.role == RemoteRole::Wallet);
    if (flags & FLAG_REMOTE_SEALER != 0) != remote_sealer
        || (flags & FLAG_REMOTE_WALLET != 0) != remote_wallet
        || (remote_sealer && flags & FLAG_SEPARATE_SEALER != 0)
    {
        return Err(corrupt(
            "the key set and the header disagree on which keys an HSM or KMS holds",
        ));
    }
    let field = |i: usize| -> Result<Zeroizing<[u8; 32]>> {
        let mut out = Zeroizing::new([0u8; 32]);
        out.copy_from_slice(
            keys.get(i * 32..(i + 1) * 32)
                .ok_or_else(|| corrupt("too short"))?,
        );
        Ok(out)
    };
    let secp = |i: usize, role: &'static str| -> Result<SecretKey> {
        SecretKey::from_byte_array(&*field(i)?).map_err(|_| Error::InvalidKey {
            role,
            curve: "secp256k1",
        })
    };
    Ok(Box::new(KeySecrets {
        node: secp(0, "node key")?,
        sealer: if flags & FLAG_SEPARATE_SEALER != 0 {
            Some(secp(1, "sealing key")?)
        } else {
            None
        },
        wallet: if remote_wallet {
            None
        } else {
            Some(secp(2, "wallet key")?)
        },
        ptm: x25519_dalek::StaticSecret::from(*field(3)?),
        remote: remote.to_vec(),
    }))
}
