//! Reading a token's user PIN from `pin-source=file:PATH`.
//!
//! The file is read on every operation (as the local backend re-reads its key file), so
//! removing it revokes a running node like changing the token's PIN does. The PIN is read into
//! a buffer allocated once and zeroized on drop, and handed to the module as cryptoki's
//! `RawAuthPin` (zeroized on drop too); it is never logged or shown by `Debug`.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use cryptoki::types::RawAuthPin;
use zeroize::Zeroizing;

use crate::{Error, Result};

/// PKCS#11 PINs are short; a longer file is not a PIN file.
const MAX_PIN: usize = 256;

pub(crate) fn read(path: &Path) -> Result<RawAuthPin> {
    let unreadable = |reason: String| Error::PinFileUnreadable {
        path: path.to_path_buf(),
        reason,
    };
    let mut file = File::open(path).map_err(|e| unreadable(e.to_string()))?;
    // The mode of the file opened, not of whatever the path names a moment later.
    let meta = file.metadata().map_err(|e| unreadable(e.to_string()))?;
    if !meta.is_file() {
        return Err(unreadable("not a regular file".into()));
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(Error::InsecurePinFile {
            path: path.to_path_buf(),
            mode,
        });
    }
    // Capacity reserved up front: read_to_end never reallocates (and leaves no copy behind).
    let mut buf = Zeroizing::new(Vec::with_capacity(MAX_PIN + 1));
    (&mut file)
        .take(MAX_PIN as u64 + 1)
        .read_to_end(&mut buf)
        .map_err(|e| unreadable(e.to_string()))?;
    if buf.len() > MAX_PIN {
        return Err(unreadable(format!("longer than {MAX_PIN} bytes")));
    }
    // One trailing newline is the editor's, not the PIN's.
    if buf.ends_with(b"\n") {
        buf.pop();
        if buf.ends_with(b"\r") {
            buf.pop();
        }
    }
    if buf.is_empty() {
        return Err(unreadable("empty".into()));
    }
    Ok(RawAuthPin::new(buf.to_vec()))
}

#[cfg(test)]
mod tests {
    use std::fs;

    use secrecy::ExposeSecret as _;

    use super::*;

    fn pin_file(dir: &Path, content: &[u8], mode: u32) -> std::path::PathBuf {
        let path = dir.join("pin");
        fs::write(&path, content).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    #[test]
    fn reads_one_line_and_strips_the_newline() {
        let dir = tempfile::tempdir().unwrap();
        for (content, want) in [
            (&b"1234\n"[..], &b"1234"[..]),
            (b"1234\r\n", b"1234"),
            (b"12 34", b"12 34"),
            (b"1234\n\n", b"1234\n"),
        ] {
            let path = pin_file(dir.path(), content, 0o600);
            assert_eq!(read(&path).unwrap().expose_secret().as_slice(), want);
        }
        let path = pin_file(dir.path(), b"1234", 0o400);
        assert_eq!(read(&path).unwrap().expose_secret().as_slice(), b"1234");
    }

    #[test]
    fn refuses_group_or_other_access_missing_empty_and_long_files() {
        let dir = tempfile::tempdir().unwrap();
        for mode in [0o640, 0o604, 0o620, 0o644] {
            let path = pin_file(dir.path(), b"1234", mode);
            match read(&path) {
                Err(Error::InsecurePinFile { mode: m, .. }) => assert_eq!(m, mode),
                other => panic!("{mode:o}: {:?}", other.err()),
            }
        }
        let empty = pin_file(dir.path(), b"\n", 0o600);
        assert!(matches!(read(&empty), Err(Error::PinFileUnreadable { .. })));
        let long = pin_file(dir.path(), &[b'1'; MAX_PIN + 1], 0o600);
        assert!(matches!(read(&long), Err(Error::PinFileUnreadable { .. })));
        let missing = read(&dir.path().join("nope")).err().unwrap();
        assert!(matches!(missing, Error::PinFileUnreadable { .. }));
        assert_eq!(missing.class(), crate::ErrorClass::Denied);
        assert!(matches!(
            read(dir.path()),
            Err(Error::PinFileUnreadable { .. })
        ));
    }
}
