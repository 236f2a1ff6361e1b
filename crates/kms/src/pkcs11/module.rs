//! Loaded PKCS#11 modules, token selection, logged-in sessions, and the one classification of
//! a module's answers into cachet's [`Error`]s.
//!
//! A module is loaded and `C_Initialize`d once per process and never finalized: two keys on one
//! module (a master key and a sealing key, or the two keys of a rotation) share it, and
//! finalizing it under one would close the other's sessions. Every operation runs under the
//! module's lock in a fresh session: read the PIN file, `C_Login`, work, `C_Logout`, close. PKCS#11
//! login state is per token and application, so serialising is what makes each operation really
//! present the PIN (a token whose PIN was changed refuses the next operation: revocation).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use cryptoki::context::{CInitializeArgs, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::object::{Attribute, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;

use super::{Pkcs11Uri, pin};
use crate::{Error, KmsConfig, Result};

/// One loaded module.
pub(crate) struct Module {
    pub(crate) ctx: Pkcs11,
    pub(crate) path: PathBuf,
    lock: Mutex<()>,
}

impl std::fmt::Debug for Module {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Module").field("path", &self.path).finish()
    }
}

fn modules() -> &'static Mutex<HashMap<PathBuf, Arc<Module>>> {
    static MODULES: OnceLock<Mutex<HashMap<PathBuf, Arc<Module>>>> = OnceLock::new();
    MODULES.get_or_init(Mutex::default)
}

/// The module a URI names (`module-path`), or else `--pkcs11-module` / `CACHET_PKCS11_MODULE`.
pub(crate) fn module_path(uri: &Pkcs11Uri, config: &KmsConfig, key: &str) -> Result<PathBuf> {
    uri.module_path
        .clone()
        .or_else(|| config.pkcs11_module.clone())
        .ok_or_else(|| Error::Config {
            key: key.to_owned(),
            reason: "no PKCS#11 module: add module-path=/path/to/module.so to the URI, or pass --pkcs11-module (CACHET_PKCS11_MODULE)".into(),
        })
}

/// Loads and initialises `path` once per process.
pub(crate) fn load(path: &Path, key: &str) -> Result<Arc<Module>> {
    // One entry (one lock) per library file, however it is named: Debian's
    // /usr/lib/softhsm/libsofthsm2.so is a symlink to the multiarch path.
    let path = std::fs::canonicalize(path)
        .or_else(|_| std::path::absolute(path))
        .unwrap_or_else(|_| path.to_path_buf());
    let mut loaded = modules().lock().unwrap_or_else(|e| e.into_inner());
    if let Some(module) = loaded.get(&path) {
        return Ok(Arc::clone(module));
    }
    let unavailable = |missing: String, source: Option<CkError>| Error::TokenUnavailable {
        key: key.to_owned(),
        missing,
        source: source.map(|e| Box::new(e) as _),
    };
    if !path.exists() {
        return Err(unavailable(
            format!(
                "the PKCS#11 module {} does not exist (install it, or fix module-path / --pkcs11-module)",
                path.display()
            ),
            None,
        ));
    }
    let ctx = Pkcs11::new(&path).map_err(|e| {
        unavailable(
            format!(
                "the PKCS#11 module {} could not be loaded (is it a PKCS#11 shared library for this machine?)",
                path.display()
            ),
            Some(e),
        )
    })?;
    match ctx.initialize(CInitializeArgs::OsThreads) {
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => {
            return Err(unavailable(
                format!("the PKCS#11 module {} failed to initialise", path.display()),
                Some(e),
            ));
        }
    }
    let module = Arc::new(Module {
        ctx,
        path: path.clone(),
        lock: Mutex::new(()),
    });
    loaded.insert(path, Arc::clone(&module));
    Ok(module)
}

impl Module {
    /// The one slot whose token matches the URI's token attributes.
    pub(crate) fn find_slot(&self, uri: &Pkcs11Uri, key: &str) -> Result<Slot> {
        let slots = self
            .ctx
            .get_slots_with_token()
            .map_err(|e| classify(e, key, "C_GetSlotList", None))?;
        let mut found = Vec::new();
        for slot in slots {
            if uri.slot_id.is_some_and(|id| id != slot.id()) {
                continue;
            }
            let Ok(info) = self.ctx.get_token_info(slot) else {
                continue;
            };
            let matches = |want: &Option<String>, have: &str| {
                want.as_deref()
                    .is_none_or(|w| w.trim_end() == have.trim_end())
            };
            if info.token_initialized()
                && matches(&uri.token, info.label())
                && matches(&uri.manufacturer, info.manufacturer_id())
                && matches(&uri.serial, info.serial_number())
                && matches(&uri.model, info.model())
            {
                found.push(slot);
            }
        }
        match found.as_slice() {
            [slot] => Ok(*slot),
            [] => Err(Error::TokenUnavailable {
                key: key.to_owned(),
                missing: format!(
                    "no initialised token matching the URI in module {} (is the HSM connected, and the token= label right?)",
                    self.path.display()
                ),
                source: None,
            }),
            several => Err(Error::Config {
                key: key.to_owned(),
                reason: format!(
                    "{} tokens match the URI: add token=, serial= or slot-id= to pick one",
                    several.len()
                ),
            }),
        }
    }

    /// Runs `work` in a fresh logged-in session on `slot`, under the module's lock.
    pub(crate) fn with_session<T>(
        &self,
        slot: Slot,
        pin_file: &Path,
        key: &str,
        read_write: bool,
        work: impl FnOnce(&Session) -> Result<T>,
    ) -> Result<T> {
        let _serialised = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let pin = pin::read(pin_file)?;
        let session = if read_write {
            self.ctx.open_rw_session(slot)
        } else {
            self.ctx.open_ro_session(slot)
        }
        .map_err(|e| classify(e, key, "C_OpenSession", None))?;
        match session.login_with_raw(UserType::User, &pin) {
            Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
            Err(e) => return Err(classify(e, key, "C_Login", Some(pin_file))),
        }
        drop(pin);
        let out = work(&session);
        // Best effort: closing the session (on drop) ends the operation either way.
        let _ = session.logout();
        out
    }
}

/// The one object of `class` on the token that the URI's `object` (`CKA_LABEL`) and `id`
/// (`CKA_ID`) name.
pub(crate) fn find_object(
    session: &Session,
    uri: &Pkcs11Uri,
    class: ObjectClass,
    key: &str,
) -> Result<ObjectHandle> {
    let mut template = vec![Attribute::Class(class)];
    if let Some(label) = &uri.object {
        template.push(Attribute::Label(label.as_bytes().to_vec()));
    }
    if let Some(id) = &uri.id {
        template.push(Attribute::Id(id.clone()));
    }
    let found = session
        .find_objects(&template)
        .map_err(|e| classify(e, key, "C_FindObjects", None))?;
    match found.as_slice() {
        [handle] => Ok(*handle),
        [] => Err(Error::KeyObjectMissing {
            key: key.to_owned(),
        }),
        several => Err(Error::Config {
            key: key.to_owned(),
            reason: format!(
                "{} key objects match object=/id=: give a label or id that names one",
                several.len()
            ),
        }),
    }
}

/// Classifies a module's answer: PIN refusals and missing keys revoke (exit 10), a missing
/// token or failing device is unavailable (11), a ciphertext the token rejects is tampered (12).
pub(crate) fn classify(
    error: CkError,
    key: &str,
    operation: &'static str,
    pin_file: Option<&Path>,
) -> Error {
    let rv = match &error {
        CkError::Pkcs11(rv, _) => *rv,
        _ => {
            return Error::TokenRefused {
                key: key.to_owned(),
                operation,
                source: Some(Box::new(error)),
            };
        }
    };
    let source: Option<crate::BoxedSource> = Some(Box::new(error));
    match rv {
        RvError::PinIncorrect
        | RvError::PinInvalid
        | RvError::PinLenRange
        | RvError::PinExpired
        | RvError::PinLocked
        | RvError::UserPinNotInitialized => Error::PinRefused {
            key: key.to_owned(),
            pin_file: pin_file.map(Path::to_path_buf).unwrap_or_default(),
            source,
        },
        RvError::EncryptedDataInvalid
        | RvError::EncryptedDataLenRange
        | RvError::WrappedKeyInvalid
        | RvError::WrappedKeyLenRange => Error::InvalidCiphertext {
            key: key.to_owned(),
            source,
        },
        RvError::KeyHandleInvalid
        | RvError::ObjectHandleInvalid
        | RvError::WrappingKeyHandleInvalid
        | RvError::UnwrappingKeyHandleInvalid => Error::KeyObjectMissing {
            key: key.to_owned(),
        },
        RvError::TokenNotPresent
        | RvError::TokenNotRecognized
        | RvError::DeviceRemoved
        | RvError::DeviceError
        | RvError::DeviceMemory
        | RvError::HostMemory
        | RvError::SlotIdInvalid
        | RvError::SessionCount
        | RvError::SessionClosed
        | RvError::SessionHandleInvalid
        | RvError::CryptokiNotInitialized
        | RvError::GeneralError
        | RvError::FunctionFailed => Error::TokenUnavailable {
            key: key.to_owned(),
            missing: format!("the token failed {operation} ({rv})"),
            source,
        },
        _ => Error::TokenRefused {
            key: key.to_owned(),
            operation,
            source,
        },
    }
}
