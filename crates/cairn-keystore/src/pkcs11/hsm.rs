//! One PKCS#11 context per process: the module loaded and initialized once, the user logged
//! in once, and a pool of sessions, because a session runs one operation at a time while
//! requests sign concurrently.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::sync::Mutex;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::object::{Attribute, AttributeType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use zeroize::Zeroizing;

use crate::KeyStoreError;
use crate::spec::Pkcs11Config;

pub(crate) struct Hsm {
    context: Pkcs11,
    slot: Slot,
    /// Where the token is named in errors.
    pub(crate) name: String,
    idle: Mutex<Vec<Session>>,
    /// Kept open for the life of the process: a login belongs to the application, and lasts
    /// while any of its sessions does. Read-write, for creating keys at init.
    login: Mutex<Session>,
}

impl Hsm {
    pub(crate) fn open(config: &Pkcs11Config) -> Result<Self, KeyStoreError> {
        let name = format!("PKCS#11 token {:?}", config.token);
        let fail = |what: &str, e: CkError| KeyStoreError::Hsm(format!("{name}: {what}: {e}"));
        let pin = read_pin(config)?;
        let context = Pkcs11::new(&config.module).map_err(|e| {
            KeyStoreError::Hsm(format!(
                "cannot load PKCS#11 module {}: {e}",
                config.module.display()
            ))
        })?;
        match context.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
            Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
            Err(e) => return Err(fail("C_Initialize", e)),
        }
        let slot = context
            .get_slots_with_token()
            .map_err(|e| fail("listing slots", e))?
            .into_iter()
            .find(|slot| {
                context
                    .get_token_info(*slot)
                    .is_ok_and(|info| info.label().trim_end() == config.token)
            })
            .ok_or_else(|| {
                KeyStoreError::Hsm(format!("{name} not found in {}", config.module.display()))
            })?;
        let login = context
            .open_rw_session(slot)
            .map_err(|e| fail("opening a session", e))?;
        match login.login(UserType::User, Some(&AuthPin::from(pin.as_str()))) {
            Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
            Err(e) => return Err(fail("login (check the PIN file)", e)),
        }
        Ok(Hsm {
            context,
            slot,
            name,
            idle: Mutex::new(Vec::new()),
            login: Mutex::new(login),
        })
    }

    /// Runs one operation on an idle session (opening one if every session is busy).
    pub(crate) fn run<R>(
        &self,
        op: impl FnOnce(&Session) -> Result<R, CkError>,
    ) -> Result<R, CkError> {
        let idle = self.idle.lock().expect("session pool").pop();
        let session = match idle {
            Some(session) => session,
            None => self.context.open_ro_session(self.slot)?,
        };
        let result = op(&session);
        self.idle.lock().expect("session pool").push(session);
        result
    }

    /// Runs `op` on the read-write session, for creating keys at `cairn server init`.
    pub(crate) fn admin<R>(
        &self,
        op: impl FnOnce(&Session) -> Result<R, CkError>,
    ) -> Result<R, CkError> {
        op(&self.login.lock().expect("login session"))
    }

    /// The one object of `class` labelled `label`, if the token holds it.
    pub(crate) fn find(
        &self,
        class: ObjectClass,
        label: &str,
    ) -> Result<Option<ObjectHandle>, KeyStoreError> {
        let found = self
            .run(|s| {
                s.find_objects(&[
                    Attribute::Class(class),
                    Attribute::Label(label.as_bytes().to_vec()),
                ])
            })
            .map_err(|e| self.error(&format!("looking up {label}"), e))?;
        match found.as_slice() {
            [] => Ok(None),
            [one] => Ok(Some(*one)),
            _ => Err(KeyStoreError::Hsm(format!(
                "{}: more than one object is labelled {label:?}; remove the extra ones",
                self.name
            ))),
        }
    }

    /// Like [`Hsm::find`], for a key that `cairn server init` must have created.
    pub(crate) fn require(
        &self,
        class: ObjectClass,
        label: &str,
    ) -> Result<ObjectHandle, KeyStoreError> {
        self.find(class, label)?.ok_or_else(|| {
            KeyStoreError::NotInitialized(format!("{} (no key {label:?})", self.name))
        })
    }

    pub(crate) fn attribute(
        &self,
        key: ObjectHandle,
        kind: AttributeType,
    ) -> Result<Attribute, KeyStoreError> {
        self.run(|s| s.get_attributes(key, &[kind]))
            .map_err(|e| self.error("reading a key attribute", e))?
            .into_iter()
            .next()
            .ok_or_else(|| KeyStoreError::Hsm(format!("{}: a key lacks {kind:?}", self.name)))
    }

    pub(crate) fn error(&self, what: &str, e: CkError) -> KeyStoreError {
        KeyStoreError::Hsm(format!("{}: {what}: {e}", self.name))
    }
}

/// The user PIN, from a file only its owner can read; one trailing newline is not part of it.
fn read_pin(config: &Pkcs11Config) -> Result<Zeroizing<String>, KeyStoreError> {
    let path = &config.pin_file;
    let io = |source| KeyStoreError::Io {
        path: path.display().to_string(),
        source,
    };
    let mode = fs::metadata(path).map_err(io)?.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(KeyStoreError::BadKey {
            path: path.display().to_string(),
            reason: format!("mode {:o} lets others read it; chmod 600 it", mode & 0o777),
        });
    }
    let mut pin = Zeroizing::new(fs::read_to_string(path).map_err(io)?);
    if pin.ends_with('\n') {
        pin.pop();
    }
    Ok(pin)
}
