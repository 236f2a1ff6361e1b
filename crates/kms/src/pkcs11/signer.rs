//! secp256k1 ECDSA inside a PKCS#11 token: `CKM_ECDSA` over a 32-byte digest, raw r ‖ s back.
//!
//! For sealing keys that never leave an HSM. The token signs; low-s normalisation and the
//! recovery id (which PKCS#11 does not return) come from [`crate::recoverable`], by trial
//! recovery against the public key read here from the token's public key object
//! (`CKA_EC_POINT`). That also proves the token signed with the key this handle opened.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, ObjectClass};
use cryptoki::slot::Slot;

use super::module::{self, Module, classify, find_object};
use super::{ObjectType, Pkcs11Uri};
use crate::{CallRecord, DigestSigner, Error, KmsConfig, Result, SignerRef, recoverable};

/// DER of the secp256k1 named-curve OID 1.3.132.0.10 (SEC 2 §2.4.1), as `CKA_EC_PARAMS` holds it.
pub const SECP256K1_EC_PARAMS: [u8; 7] = [0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a];

/// An EC private key (secp256k1) in a PKCS#11 token, with its public key.
pub struct Pkcs11Signer {
    given: String,
    uri: Pkcs11Uri,
    module: Arc<Module>,
    slot: Slot,
    pin_file: PathBuf,
    public_key: [u8; 65],
}

impl std::fmt::Debug for Pkcs11Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs11Signer")
            .field("given", &self.given)
            .field("public_key", &hex::encode(self.public_key))
            .finish_non_exhaustive()
    }
}

impl Pkcs11Signer {
    /// Opens the private key `given` names (`type=private` or no type) and reads the public key
    /// of the public key object with the same `object`/`id`.
    ///
    /// # Errors
    /// As [`crate::Pkcs11MasterKey::open`]; [`Error::TokenRefused`] when the key is not on
    /// secp256k1 or its public point is not an uncompressed point.
    pub fn open(given: &str, config: &KmsConfig) -> Result<Self> {
        let invalid = |reason: String| Error::InvalidReference {
            given: given.to_owned(),
            reason,
        };
        let uri = Pkcs11Uri::parse(given).map_err(|e| invalid(e.0))?;
        uri.check_for_key(ObjectType::Private)
            .map_err(|e| invalid(e.0))?;
        let pin_file = uri.pin_file().map_err(|e| invalid(e.0))?;
        let module = module::load(&module::module_path(&uri, config, given)?, given)?;
        let slot = module.find_slot(&uri, given)?;
        let public_key = module.with_session(slot, &pin_file, given, false, |session| {
            find_object(session, &uri, ObjectClass::PRIVATE_KEY, given)?;
            let public = find_object(session, &uri, ObjectClass::PUBLIC_KEY, given)?;
            let attrs = session
                .get_attributes(public, &[AttributeType::EcParams, AttributeType::EcPoint])
                .map_err(|e| classify(e, given, "C_GetAttributeValue", None))?;
            let mut params = None;
            let mut point = None;
            for attr in attrs {
                match attr {
                    Attribute::EcParams(p) => params = Some(p),
                    Attribute::EcPoint(p) => point = Some(p),
                    _ => {}
                }
            }
            let refused = |what: &str| Error::Config {
                key: given.to_owned(),
                reason: format!("the public key object {what}"),
            };
            if params.as_deref() != Some(&SECP256K1_EC_PARAMS[..]) {
                return Err(refused("is not on secp256k1 (CKA_EC_PARAMS)"));
            }
            uncompressed_point(point.as_deref().unwrap_or_default())
                .ok_or_else(|| refused("has no uncompressed CKA_EC_POINT"))
        })?;
        Ok(Self {
            given: given.to_owned(),
            uri,
            module,
            slot,
            pin_file,
            public_key,
        })
    }

    /// Re-opens the key a bundle recorded (`reference.key_id` is its URI) and checks that the
    /// token still holds it with the recorded public key.
    ///
    /// # Errors
    /// As [`Self::open`]; [`Error::BadSignerAnswer`] (class corrupt) when the token holds
    /// another public key under the URI: the key was replaced.
    pub fn open_recorded(
        reference: &SignerRef,
        public_key: &[u8; 65],
        config: &KmsConfig,
    ) -> Result<Self> {
        let signer = Self::open(&reference.key_id, config)?;
        if signer.public_key != *public_key {
            return Err(Error::BadSignerAnswer {
                key: reference.key_id.clone(),
                operation: "C_GetAttributeValue",
                source: Some(
                    "the token holds another public key under this URI than the bundle recorded"
                        .into(),
                ),
            });
        }
        Ok(signer)
    }

    /// Creates a secp256k1 key pair in the token (`CKM_EC_KEY_PAIR_GEN`; the private key
    /// `CKA_TOKEN`, `CKA_PRIVATE`, `CKA_SENSITIVE`, not `CKA_EXTRACTABLE`, allowed to sign only),
    /// labelled and identified as the URI says, and opens it. Refuses when a private key already
    /// matches the URI.
    ///
    /// # Errors
    /// [`Error::Config`] when a key already matches; the errors of [`Self::open`].
    pub fn create(given: &str, config: &KmsConfig) -> Result<Self> {
        let invalid = |reason: String| Error::InvalidReference {
            given: given.to_owned(),
            reason,
        };
        let uri = Pkcs11Uri::parse(given).map_err(|e| invalid(e.0))?;
        uri.check_for_key(ObjectType::Private)
            .map_err(|e| invalid(e.0))?;
        let pin_file = uri.pin_file().map_err(|e| invalid(e.0))?;
        let module = module::load(&module::module_path(&uri, config, given)?, given)?;
        let slot = module.find_slot(&uri, given)?;
        module.with_session(slot, &pin_file, given, true, |session| {
            for class in [ObjectClass::PRIVATE_KEY, ObjectClass::PUBLIC_KEY] {
                match find_object(session, &uri, class, given) {
                    Err(Error::KeyObjectMissing { .. }) => {}
                    Ok(_) | Err(Error::Config { .. }) => {
                        return Err(Error::Config {
                            key: given.to_owned(),
                            reason: "a key matching object=/id= already exists on the token: refusing to create another (the bundle pins one public key)".into(),
                        });
                    }
                    Err(e) => return Err(e),
                }
            }
            let mut named = Vec::new();
            if let Some(label) = &uri.object {
                named.push(Attribute::Label(label.as_bytes().to_vec()));
            }
            if let Some(id) = &uri.id {
                named.push(Attribute::Id(id.clone()));
            }
            let mut public = vec![
                Attribute::Token(true),
                Attribute::EcParams(SECP256K1_EC_PARAMS.to_vec()),
                Attribute::Verify(true),
            ];
            public.extend(named.iter().cloned());
            let mut private = vec![
                Attribute::Token(true),
                Attribute::Private(true),
                Attribute::Sensitive(true),
                Attribute::Extractable(false),
                Attribute::Sign(true),
            ];
            private.extend(named);
            session
                .generate_key_pair(&Mechanism::EccKeyPairGen, &public, &private)
                .map_err(|e| classify(e, given, "C_GenerateKeyPair", None))?;
            Ok(())
        })?;
        Self::open(given, config)
    }

    /// Destroys the key pair objects the URI names, as an administrator revoking the key
    /// would (`C_DestroyObject`); returns how many were destroyed. For tests of revocation.
    ///
    /// # Errors
    /// The session's errors.
    #[doc(hidden)]
    pub fn destroy_for_tests(&self) -> Result<usize> {
        self.module
            .with_session(self.slot, &self.pin_file, &self.given, true, |session| {
                let mut template = Vec::new();
                if let Some(label) = &self.uri.object {
                    template.push(Attribute::Label(label.as_bytes().to_vec()));
                }
                if let Some(id) = &self.uri.id {
                    template.push(Attribute::Id(id.clone()));
                }
                let found = session
                    .find_objects(&template)
                    .map_err(|e| classify(e, &self.given, "C_FindObjects", None))?;
                for object in &found {
                    session
                        .destroy_object(*object)
                        .map_err(|e| classify(e, &self.given, "C_DestroyObject", None))?;
                }
                Ok(found.len())
            })
    }

    /// Signs a 32-byte digest with `CKM_ECDSA` inside the token: `(r, s)` as the token returned
    /// them (s not normalised, no recovery id).
    ///
    /// # Errors
    /// [`Error::KeyObjectMissing`] when the key was deleted, [`Error::PinRefused`],
    /// [`Error::TokenUnavailable`], [`Error::TokenRefused`].
    pub fn sign_digest_raw(&self, digest: &[u8; 32]) -> Result<([u8; 32], [u8; 32])> {
        let signature =
            self.module
                .with_session(self.slot, &self.pin_file, &self.given, false, |session| {
                    let key =
                        find_object(session, &self.uri, ObjectClass::PRIVATE_KEY, &self.given)?;
                    session
                        .sign(&Mechanism::Ecdsa, key, digest)
                        .map_err(|e| classify(e, &self.given, "C_Sign", None))
                })?;
        // PKCS#11 §2.3.1 (ECDSA): the signature is r ‖ s, each as long as the order (32 bytes).
        if signature.len() != 64 {
            return Err(Error::TokenRefused {
                key: self.given.clone(),
                operation: "C_Sign",
                source: Some(format!("a {}-byte ECDSA signature, not 64", signature.len()).into()),
            });
        }
        let mut r = [0u8; 32];
        let mut s = [0u8; 32];
        r.copy_from_slice(&signature[..32]);
        s.copy_from_slice(&signature[32..]);
        Ok((r, s))
    }
}

#[async_trait]
impl DigestSigner for Pkcs11Signer {
    /// `given` and `key_id` are both the URI: the key is pinned by the public key the bundle
    /// records, which every signature must recover to.
    fn reference(&self) -> SignerRef {
        SignerRef {
            given: self.given.clone(),
            key_id: self.given.clone(),
        }
    }

    fn public_key(&self) -> [u8; 65] {
        self.public_key
    }

    async fn sign_digest(&self, digest: &[u8; 32]) -> Result<([u8; 65], CallRecord)> {
        let started = Instant::now();
        let (r, s) = self.sign_digest_raw(digest)?;
        let signature =
            recoverable(&r, &s, digest, &self.public_key).map_err(|e| Error::BadSignerAnswer {
                key: self.given.clone(),
                operation: "C_Sign",
                source: Some(Box::new(e)),
            })?;
        Ok((
            signature,
            CallRecord {
                operation: "Sign",
                key_id: self.given.clone(),
                request_id: None,
                latency: started.elapsed(),
                attempts: 1,
            },
        ))
    }
}

/// `CKA_EC_POINT` is a DER OCTET STRING holding the point (PKCS#11 v2.40 §2.3.3); some modules
/// return the bare point. Either way, the 65-byte uncompressed point.
fn uncompressed_point(bytes: &[u8]) -> Option<[u8; 65]> {
    let point = match bytes {
        [0x04, 0x41, rest @ ..] if rest.len() == 65 => rest,
        _ => bytes,
    };
    if point.len() != 65 || point[0] != 0x04 {
        return None;
    }
    point.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_der_wrapped_and_bare_points() {
        let mut bare = [7u8; 65];
        bare[0] = 4;
        let der = [&[0x04, 0x41][..], &bare].concat();
        assert_eq!(uncompressed_point(&der), Some(bare));
        assert_eq!(uncompressed_point(&bare), Some(bare));
        assert_eq!(uncompressed_point(&der[..66]), None);
        assert_eq!(uncompressed_point(&[2u8; 33]), None);
        assert_eq!(uncompressed_point(&[]), None);
    }
}
