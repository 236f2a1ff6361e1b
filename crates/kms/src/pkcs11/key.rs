//! `pkcs11:` master keys: an AES-256 key that never leaves the token wraps the bundle's data key.
//!
//! Wrapped data key layouts (`b"CKP1"`, then a mode byte, then the key check value):
//!
//! | mode | bytes after the 13-byte head | associated data / binding |
//! |---|---|---|
//! | `0x01` `CKM_AES_GCM` | IV(12) ‖ ciphertext(32) ‖ tag(16): 73 bytes in all | AAD = `b"cachet-pkcs11-wrap-v1"` ‖ the context's canonical bytes |
//! | `0x02` `CKM_AES_KEY_WRAP_PAD` | RFC 5649 wrap of data key ‖ SHA-256(`b"cachet-pkcs11-kwp-context-v1"` ‖ canonical bytes): 85 bytes | the digest inside the wrap, compared after unwrap |
//!
//! GCM is used when the token offers it for encrypt and decrypt; key wrap with padding when it
//! offers only that (key wrap has no associated data, so the context's digest is wrapped with the
//! key: changing the context fails the comparison, changing the ciphertext fails RFC 5649's
//! integrity check).
//!
//! The key check value (8 bytes, in the bundle's `key_id` and in every wrapped key) pins the key
//! material: SHA-256 over the token's encryption of a fixed block (GCM with the all-zero IV, which
//! no wrap uses; or RFC 5649 wrap of a fixed 32-byte value). A key deleted and re-created under
//! the same label fails as [`Error::WrongMasterKey`], not as a corrupt bundle.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use cryptoki::slot::Slot;
use rand::RngCore;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::module::{self, Module, classify, find_object};
use super::{ObjectType, Pkcs11Uri};
use crate::{
    CallRecord, DataKey, EncryptionContext, Error, GeneratedDataKey, KmsConfig, MasterKey,
    MasterKeyRef, Result, Unwrapped, WrappedDataKey,
};

const MAGIC: &[u8; 4] = b"CKP1";
const GCM_AAD_LABEL: &[u8] = b"cachet-pkcs11-wrap-v1";
const KWP_CONTEXT_LABEL: &[u8] = b"cachet-pkcs11-kwp-context-v1";
const CHECK_LABEL: &[u8] = b"cachet-pkcs11-key-check-v1";
const HEAD_LEN: usize = 4 + 1 + 8;
const GCM_LEN: usize = HEAD_LEN + 12 + 32 + 16;
const KWP_LEN: usize = HEAD_LEN + 64 + 8;

/// How the token wraps data keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WrapMode {
    /// `CKM_AES_GCM`, 12-byte IV, 128-bit tag, the context as associated data.
    Gcm,
    /// `CKM_AES_KEY_WRAP_PAD` (RFC 5649), the context's digest wrapped with the key.
    KeyWrapPad,
}

impl WrapMode {
    const fn byte(self) -> u8 {
        match self {
            Self::Gcm => 1,
            Self::KeyWrapPad => 2,
        }
    }

    const fn key_id_prefix(self) -> &'static str {
        match self {
            Self::Gcm => "pkcs11-aes-gcm-kcv:",
            Self::KeyWrapPad => "pkcs11-aes-kwp-kcv:",
        }
    }

    /// The mode a recorded `key_id` was made with.
    fn of_key_id(key_id: &str) -> Option<Self> {
        [Self::Gcm, Self::KeyWrapPad]
            .into_iter()
            .find(|m| key_id.starts_with(m.key_id_prefix()))
    }
}

/// A master key in a PKCS#11 token (`pkcs11:` URI, RFC 7512).
pub struct Pkcs11MasterKey {
    given: String,
    uri: Pkcs11Uri,
    module: Arc<Module>,
    slot: Slot,
    pin_file: PathBuf,
    mode: WrapMode,
    check: [u8; 8],
}

impl std::fmt::Debug for Pkcs11MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs11MasterKey")
            .field("given", &self.given)
            .field("module", &self.module.path)
            .field("mode", &self.mode)
            .field("key_id", &self.key_id())
            .finish_non_exhaustive()
    }
}

impl Pkcs11MasterKey {
    /// Opens the AES key `given` names, choosing GCM when the token has it.
    ///
    /// # Errors
    /// [`Error::InvalidReference`] for a malformed URI, [`Error::TokenUnavailable`] when the
    /// module or token is missing, [`Error::KeyObjectMissing`], [`Error::PinRefused`], and the
    /// PIN file errors.
    pub fn open(given: &str, config: &KmsConfig) -> Result<Self> {
        Self::open_with(given, config, None)
    }

    /// As [`Self::open`], with the wrap mode forced (the mode a bundle recorded, or a test's).
    ///
    /// # Errors
    /// As [`Self::open`]; [`Error::TokenRefused`] when the token lacks the mode's mechanism.
    pub fn open_with(given: &str, config: &KmsConfig, mode: Option<WrapMode>) -> Result<Self> {
        let (uri, module, slot, pin_file) = locate(given, config)?;
        let mode = match mode {
            Some(mode) => mode,
            None => best_mode(&module, slot, given)?,
        };
        let mut key = Self {
            given: given.to_owned(),
            uri,
            module,
            slot,
            pin_file,
            mode,
            check: [0; 8],
        };
        key.check = key.session(false, |session, handle| key.check_value(session, handle))?;
        Ok(key)
    }

    /// Creates a new AES-256 key in the token (`CKA_TOKEN`, `CKA_PRIVATE`, `CKA_SENSITIVE`, not
    /// `CKA_EXTRACTABLE`), labelled and identified as the URI says, and opens it. Refuses when
    /// a secret key already matches the URI.
    ///
    /// # Errors
    /// [`Error::Config`] when a key already matches; the errors of [`Self::open`].
    pub fn create(given: &str, config: &KmsConfig) -> Result<Self> {
        let (uri, module, slot, pin_file) = locate(given, config)?;
        module.with_session(slot, &pin_file, given, true, |session| {
            match find_object(session, &uri, ObjectClass::SECRET_KEY, given) {
                Err(Error::KeyObjectMissing { .. }) => {}
                Ok(_) | Err(Error::Config { .. }) => {
                    return Err(Error::Config {
                        key: given.to_owned(),
                        reason: "a secret key matching object=/id= already exists on the token: refusing to create another (a lost master key makes every bundle under it undecryptable)".into(),
                    });
                }
                Err(e) => return Err(e),
            }
            let mut template = vec![
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::KeyType(KeyType::AES),
                Attribute::ValueLen(32.into()),
                Attribute::Token(true),
                Attribute::Private(true),
                Attribute::Sensitive(true),
                Attribute::Extractable(false),
                Attribute::Encrypt(true),
                Attribute::Decrypt(true),
                Attribute::Wrap(true),
                Attribute::Unwrap(true),
            ];
            if let Some(label) = &uri.object {
                template.push(Attribute::Label(label.as_bytes().to_vec()));
            }
            if let Some(id) = &uri.id {
                template.push(Attribute::Id(id.clone()));
            }
            session
                .generate_key(&Mechanism::AesKeyGen, &template)
                .map_err(|e| classify(e, given, "C_GenerateKey", None))?;
            Ok(())
        })?;
        Self::open(given, config)
    }

    /// The wrap mode in use.
    pub fn wrap_mode(&self) -> WrapMode {
        self.mode
    }

    fn key_id(&self) -> String {
        format!("{}{}", self.mode.key_id_prefix(), hex::encode(self.check))
    }

    fn record(&self, operation: &'static str, started: Instant) -> CallRecord {
        let call = CallRecord {
            operation,
            key_id: self.key_id(),
            request_id: None,
            latency: started.elapsed(),
            attempts: 1,
        };
        // The key and the timing; never the PIN, plaintexts or ciphertexts.
        tracing::info!(target: "cachet::kms", operation, key = %self.given, key_id = %call.key_id,
            latency_ms = call.latency.as_millis() as u64, "pkcs11 call");
        call
    }

    /// A logged-in session with the key object found; every operation starts here, so a deleted
    /// key or a changed PIN fails the next one.
    fn session<T>(
        &self,
        read_write: bool,
        work: impl FnOnce(&Session, ObjectHandle) -> Result<T>,
    ) -> Result<T> {
        self.module
            .with_session(self.slot, &self.pin_file, &self.given, read_write, |s| {
                let handle = find_object(s, &self.uri, ObjectClass::SECRET_KEY, &self.given)?;
                work(s, handle)
            })
    }

    /// The key check value of the key in the token.
    fn check_value(&self, session: &Session, key: ObjectHandle) -> Result<[u8; 8]> {
        let block = match self.mode {
            WrapMode::Gcm => {
                // IV 0 is reserved for this check: `wrap_gcm` never draws it.
                let mut iv = [0u8; 12];
                let params = GcmParams::new(&mut iv, CHECK_LABEL, 128.into())
                    .map_err(|_| Error::Internal("GCM parameters"))?;
                session
                    .encrypt(&Mechanism::AesGcm(params), key, &[0u8; 16])
                    .map_err(|e| classify(e, &self.given, "C_Encrypt", None))?
            }
            WrapMode::KeyWrapPad => {
                let fixed = Sha256::digest(CHECK_LABEL).to_vec();
                self.wrap_value(session, key, &fixed)?
            }
        };
        let digest = Sha256::new()
            .chain_update(CHECK_LABEL)
            .chain_update(&block)
            .finalize();
        let mut check = [0u8; 8];
        check.copy_from_slice(&digest[..8]);
        Ok(check)
    }

    /// Fails with [`Error::WrongMasterKey`] unless the token's key is the one this handle opened.
    fn same_key(&self, session: &Session, key: ObjectHandle) -> Result<()> {
        if self.check_value(session, key)? != self.check {
            return Err(Error::WrongMasterKey {
                key: self.given.clone(),
            });
        }
        Ok(())
    }

    fn wrap(&self, plaintext: &DataKey, context: &EncryptionContext) -> Result<WrappedDataKey> {
        self.session(false, |session, key| {
            self.same_key(session, key)?;
            let mut out = Vec::with_capacity(KWP_LEN);
            out.extend_from_slice(MAGIC);
            out.push(self.mode.byte());
            out.extend_from_slice(&self.check);
            match self.mode {
                WrapMode::Gcm => {
                    let mut iv = [0u8; 12];
                    while iv == [0u8; 12] {
                        rand::rngs::OsRng.fill_bytes(&mut iv);
                    }
                    out.extend_from_slice(&iv);
                    let aad = [GCM_AAD_LABEL, &context.canonical_bytes()].concat();
                    let params = GcmParams::new(&mut iv, &aad, 128.into())
                        .map_err(|_| Error::Internal("GCM parameters"))?;
                    let sealed = session
                        .encrypt(&Mechanism::AesGcm(params), key, plaintext.expose_secret())
                        .map_err(|e| classify(e, &self.given, "C_Encrypt", None))?;
                    if sealed.len() != 48 {
                        return Err(Error::Internal(
                            "the token's AES-GCM output of a 32-byte key is not 48 bytes",
                        ));
                    }
                    out.extend_from_slice(&sealed);
                }
                WrapMode::KeyWrapPad => {
                    let mut value = Zeroizing::new(Vec::with_capacity(64));
                    value.extend_from_slice(plaintext.expose_secret());
                    value.extend_from_slice(&kwp_context_digest(context));
                    let wrapped = self.wrap_value(session, key, &value)?;
                    if wrapped.len() != 72 {
                        return Err(Error::Internal(
                            "the token's AES key wrap of 64 bytes is not 72 bytes",
                        ));
                    }
                    out.extend_from_slice(&wrapped);
                }
            }
            Ok(WrappedDataKey::from_bytes(out))
        })
    }

    /// RFC 5649-wraps `value` under the master key, through a short-lived session object (the
    /// only way PKCS#11 wraps: `C_WrapKey` takes a key object).
    fn wrap_value(&self, session: &Session, key: ObjectHandle, value: &[u8]) -> Result<Vec<u8>> {
        let object = session
            .create_object(&[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::KeyType(KeyType::GENERIC_SECRET),
                Attribute::Token(false),
                Attribute::Sensitive(false),
                Attribute::Extractable(true),
                Attribute::Value(value.to_vec()),
            ])
            .map_err(|e| classify(e, &self.given, "C_CreateObject", None))?;
        let wrapped = session.wrap_key(&Mechanism::AesKeyWrapPad, key, object);
        let _ = session.destroy_object(object);
        wrapped.map_err(|e| classify(e, &self.given, "C_WrapKey", None))
    }

    fn unwrap(&self, wrapped: &WrappedDataKey, context: &EncryptionContext) -> Result<DataKey> {
        let invalid = || Error::InvalidCiphertext {
            key: self.given.clone(),
            source: None,
        };
        let bytes = wrapped.as_bytes();
        let expected_len = match self.mode {
            WrapMode::Gcm => GCM_LEN,
            WrapMode::KeyWrapPad => KWP_LEN,
        };
        if bytes.len() < HEAD_LEN || !bytes.starts_with(MAGIC) {
            return Err(invalid());
        }
        if bytes[4] != self.mode.byte() || bytes[5..HEAD_LEN] != self.check {
            return Err(Error::WrongMasterKey {
                key: self.given.clone(),
            });
        }
        if bytes.len() != expected_len {
            return Err(invalid());
        }
        let body = &bytes[HEAD_LEN..];
        self.session(false, |session, key| {
            self.same_key(session, key)?;
            let plain = match self.mode {
                WrapMode::Gcm => {
                    let (iv, sealed) = body.split_at(12);
                    let mut iv: [u8; 12] = iv.try_into().map_err(|_| invalid())?;
                    if iv == [0u8; 12] {
                        return Err(invalid());
                    }
                    let aad = [GCM_AAD_LABEL, &context.canonical_bytes()].concat();
                    let params = GcmParams::new(&mut iv, &aad, 128.into())
                        .map_err(|_| Error::Internal("GCM parameters"))?;
                    let plain = Zeroizing::new(
                        session
                            .decrypt(&Mechanism::AesGcm(params), key, sealed)
                            .map_err(|e| self.decrypt_error(e))?,
                    );
                    if plain.len() != 32 {
                        return Err(invalid());
                    }
                    plain
                }
                WrapMode::KeyWrapPad => {
                    let value = self.unwrap_value(session, key, body)?;
                    if value.len() != 64 || value[32..] != kwp_context_digest(context) {
                        return Err(invalid());
                    }
                    value
                }
            };
            let mut out = Zeroizing::new([0u8; 32]);
            out.copy_from_slice(&plain[..32]);
            Ok(DataKey::from_bytes(out))
        })
    }

    fn unwrap_value(
        &self,
        session: &Session,
        key: ObjectHandle,
        wrapped: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>> {
        let object = session
            .unwrap_key(
                &Mechanism::AesKeyWrapPad,
                key,
                wrapped,
                &[
                    Attribute::Class(ObjectClass::SECRET_KEY),
                    Attribute::KeyType(KeyType::GENERIC_SECRET),
                    Attribute::Token(false),
                    Attribute::Sensitive(false),
                    Attribute::Extractable(true),
                ],
            )
            .map_err(|e| self.decrypt_error(e))?;
        let value = session.get_attributes(object, &[AttributeType::Value]);
        let _ = session.destroy_object(object);
        let value = value.map_err(|e| classify(e, &self.given, "C_GetAttributeValue", None))?;
        match value.into_iter().next() {
            Some(Attribute::Value(mut bytes)) => {
                let out = Zeroizing::new(bytes.clone());
                zeroize::Zeroize::zeroize(&mut bytes);
                Ok(out)
            }
            _ => Err(Error::Internal("an unwrapped key without CKA_VALUE")),
        }
    }

    /// SoftHSM 2.6 answers a failed GCM tag check or RFC 5649 unwrap with `CKR_GENERAL_ERROR`
    /// rather than `CKR_ENCRYPTED_DATA_INVALID`. The key check value was just
    /// computed by the same token in the same session, so the token works: a decryption failure
    /// here is the ciphertext's (or the context's), not the device's.
    fn decrypt_error(&self, e: cryptoki::error::Error) -> Error {
        match classify(e, &self.given, "C_Decrypt", None) {
            Error::TokenUnavailable { source, .. } => Error::InvalidCiphertext {
                key: self.given.clone(),
                source,
            },
            other => other,
        }
    }
}

fn kwp_context_digest(context: &EncryptionContext) -> [u8; 32] {
    Sha256::new()
        .chain_update(KWP_CONTEXT_LABEL)
        .chain_update(context.canonical_bytes())
        .finalize()
        .into()
}

/// Parses the URI, loads its module, finds its token.
fn locate(given: &str, config: &KmsConfig) -> Result<(Pkcs11Uri, Arc<Module>, Slot, PathBuf)> {
    let invalid = |reason: String| Error::InvalidReference {
        given: given.to_owned(),
        reason,
    };
    let uri = Pkcs11Uri::parse(given).map_err(|e| invalid(e.0))?;
    uri.check_for_key(ObjectType::SecretKey)
        .map_err(|e| invalid(e.0))?;
    let pin_file = uri.pin_file().map_err(|e| invalid(e.0))?;
    let module = module::load(&module::module_path(&uri, config, given)?, given)?;
    let slot = module.find_slot(&uri, given)?;
    Ok((uri, module, slot, pin_file))
}

/// GCM when the token offers it for encrypt and decrypt, else key wrap with padding.
fn best_mode(module: &Module, slot: Slot, given: &str) -> Result<WrapMode> {
    let has = |mechanism: MechanismType, both: fn(&cryptoki::mechanism::MechanismInfo) -> bool| {
        module
            .ctx
            .get_mechanism_info(slot, mechanism)
            .is_ok_and(|info| both(&info))
    };
    if has(MechanismType::AES_GCM, |i| i.encrypt() && i.decrypt()) {
        Ok(WrapMode::Gcm)
    } else if has(MechanismType::AES_KEY_WRAP_PAD, |i| i.wrap() && i.unwrap()) {
        Ok(WrapMode::KeyWrapPad)
    } else {
        Err(Error::Config {
            key: given.to_owned(),
            reason: "the token offers neither CKM_AES_GCM (encrypt/decrypt) nor CKM_AES_KEY_WRAP_PAD (wrap/unwrap)".into(),
        })
    }
}

/// Opens the key a bundle recorded, in the mode it recorded, and checks it is the same key.
pub(crate) fn open_recorded(
    reference: &MasterKeyRef,
    config: &KmsConfig,
) -> Result<Pkcs11MasterKey> {
    let mode = WrapMode::of_key_id(&reference.key_id).ok_or_else(|| Error::WrongMasterKey {
        key: reference.given.clone(),
    })?;
    let key = Pkcs11MasterKey::open_with(&reference.given, config, Some(mode))?;
    if key.key_id() != reference.key_id {
        return Err(Error::WrongMasterKey {
            key: reference.given.clone(),
        });
    }
    Ok(key)
}

#[async_trait]
impl MasterKey for Pkcs11MasterKey {
    fn reference(&self) -> MasterKeyRef {
        MasterKeyRef {
            given: self.given.clone(),
            key_id: self.key_id(),
        }
    }

    async fn generate_data_key(&self, context: &EncryptionContext) -> Result<GeneratedDataKey> {
        let started = Instant::now();
        let plaintext = DataKey::generate();
        let wrapped = self.wrap(&plaintext, context)?;
        Ok(GeneratedDataKey {
            plaintext,
            wrapped,
            call: self.record("GenerateDataKey", started),
        })
    }

    async fn decrypt_data_key(
        &self,
        wrapped: &WrappedDataKey,
        context: &EncryptionContext,
    ) -> Result<Unwrapped> {
        let started = Instant::now();
        let plaintext = self.unwrap(wrapped, context)?;
        Ok(Unwrapped {
            plaintext,
            call: self.record("Decrypt", started),
        })
    }

    async fn wrap_data_key(
        &self,
        plaintext: &DataKey,
        context: &EncryptionContext,
    ) -> Result<(WrappedDataKey, CallRecord)> {
        let started = Instant::now();
        let wrapped = self.wrap(plaintext, context)?;
        Ok((wrapped, self.record("Encrypt", started)))
    }
}
