//! PKCS#11 (HSM) keys through the `cryptoki` crate: the `pkcs11:` URI (always built, so that a
//! bundle naming one can be read and refused clearly without the feature), and behind the
//! `pkcs11` feature the master key and the ECDSA signer.

mod uri;

pub use uri::{ObjectType, Pkcs11Uri, UriError};

#[cfg(feature = "pkcs11")]
mod key;
#[cfg(feature = "pkcs11")]
mod module;
#[cfg(feature = "pkcs11")]
mod pin;
#[cfg(feature = "pkcs11")]
mod signer;
#[cfg(all(test, feature = "pkcs11"))]
mod softhsm_tests;

#[cfg(feature = "pkcs11")]
pub(crate) use key::open_recorded;
#[cfg(feature = "pkcs11")]
pub use key::{Pkcs11MasterKey, WrapMode};
#[cfg(feature = "pkcs11")]
pub use signer::{Pkcs11Signer, SECP256K1_EC_PARAMS};
