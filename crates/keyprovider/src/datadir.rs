//! The data directory: permissions, private reads and shredding (atomic writes are
//! [`cachet_primitives::fs::write_atomic`]).

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;

use crate::{Error, Result};

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.to_path_buf();
    move |source| Error::Io {
        action,
        path,
        source,
    }
}

/// Creates the datadir with mode 0700 if it does not exist (existing ones are left as they are,
/// but a group/world-writable one is refused).
pub(crate) fn ensure_datadir(datadir: &Path) -> Result<()> {
    if !datadir.exists() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(datadir)
            .map_err(io("create datadir", datadir))?;
    }
    let mode = fs::metadata(datadir)
        .map_err(io("stat", datadir))?
        .permissions()
        .mode()
        & 0o777;
    if mode & 0o022 != 0 {
        return Err(Error::InsecurePermissions {
            path: datadir.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

/// Reads a file that holds secrets or their ciphertext, refusing it when group or others can
/// read it (as ssh does with private keys) or when it is larger than `max`.
pub(crate) fn read_private(path: &Path, max: u64) -> Result<Vec<u8>> {
    let meta = fs::metadata(path).map_err(io("stat", path))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(Error::InsecurePermissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    if meta.len() > max {
        return Err(Error::CorruptBundle {
            path: path.to_path_buf(),
            field: "file",
            reason: format!("{} bytes is larger than any key bundle ({max})", meta.len()),
        });
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    File::open(path)
        .and_then(|f| f.take(max + 1).read_to_end(&mut bytes))
        .map_err(io("read", path))?;
    Ok(bytes)
}

/// fsyncs a directory so a rename or unlink in it is durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io("fsync", dir))
}

/// Overwrites a file in place with random bytes, fsyncs, then unlinks it and fsyncs its
/// directory.
///
/// On copy-on-write file systems and SSDs the old blocks may survive; `docs/threat-model.md`
/// says so.
pub(crate) fn shred(path: &Path) -> Result<()> {
    let len = fs::metadata(path).map_err(io("stat", path))?.len();
    let mut file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(io("open", path))?;
    let mut noise = [0u8; 4096];
    let mut left = len;
    while left > 0 {
        let n = left.min(noise.len() as u64) as usize;
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut noise[..n]);
        file.write_all(&noise[..n]).map_err(io("overwrite", path))?;
        left -= n as u64;
    }
    file.sync_all().map_err(io("fsync", path))?;
    drop(file);
    fs::remove_file(path).map_err(io("remove", path))?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}
