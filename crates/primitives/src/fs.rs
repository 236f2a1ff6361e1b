//! The one atomic file write: a file is either its old content or its new content, never a mix,
//! and the new content is durable when the call returns.
//!
//! The steps: create a temporary file in the target's directory (so the final step stays on one
//! file system) with the given mode and `O_EXCL`, write, fsync it, move it into place (`rename`,
//! or `link` when an existing file must not be replaced), remove the temporary name, and fsync
//! the directory so the new name survives a crash. On any failure the temporary file is
//! removed and the target is left as it was.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Mode of a file holding secrets or their ciphertext: owner read/write only.
pub const SECRET_MODE: u32 = 0o600;

/// What to do when the target already exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Existing {
    /// Replace it atomically (`rename`).
    Replace,
    /// Leave it and fail with [`WriteError::already_exists`] true (`link`, which the OS refuses
    /// when the name is taken, so two writers cannot both succeed).
    Refuse,
}

/// A failed step of [`write_atomic`]: which step, on which path, and the OS error.
///
/// Display names the step and the path; the OS error is the [`source`](std::error::Error::source).
#[derive(Debug)]
pub struct WriteError {
    operation: &'static str,
    path: PathBuf,
    source: io::Error,
}

impl WriteError {
    /// The step that failed: `create`, `write`, `fsync`, `rename` or `link`.
    pub const fn operation(&self) -> &'static str {
        self.operation
    }

    /// The path the step worked on (the temporary file, the target or its directory).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// True when [`Existing::Refuse`] found the target already there.
    pub fn already_exists(&self) -> bool {
        self.operation == "link" && self.source.kind() == io::ErrorKind::AlreadyExists
    }

    /// The parts, for a caller that wraps them in its own error type.
    pub fn into_parts(self) -> (&'static str, PathBuf, io::Error) {
        (self.operation, self.path, self.source)
    }
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} failed", self.operation, self.path.display())
    }
}

impl std::error::Error for WriteError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// Writes `bytes` to `path` atomically and durably, creating it with `mode` (subject to the
/// umask, which can only narrow it).
///
/// With [`Existing::Replace`] an existing file is replaced; with [`Existing::Refuse`] it is
/// left untouched and the call fails. A replaced file takes `mode`, not the old file's mode.
///
/// # Errors
/// [`WriteError`] naming the step and path that failed; the target is unchanged then.
pub fn write_atomic(
    path: &Path,
    bytes: &[u8],
    mode: u32,
    existing: Existing,
) -> Result<(), WriteError> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let tmp = temp_path(path);
    let placed = write_temp(&tmp, bytes, mode).and_then(|()| match existing {
        Existing::Replace => fs::rename(&tmp, path).map_err(step("rename", path)),
        Existing::Refuse => fs::hard_link(&tmp, path).map_err(step("link", path)),
    });
    // After a rename the temporary name is gone; after a link (or a failure) remove it. A
    // failure to remove it leaves only a stray copy of the new content, never a torn target.
    if existing == Existing::Refuse || placed.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    placed?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(step("fsync", dir))
}

/// Creates `tmp` exclusively with `mode`, writes `bytes` and fsyncs it.
fn write_temp(tmp: &Path, bytes: &[u8], mode: u32) -> Result<(), WriteError> {
    let open = || {
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(tmp)
    };
    // The name holds our pid and a per-process counter, so an existing file is a leftover of a
    // crashed process that had our pid: remove it and try once more.
    let mut file = match open() {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            fs::remove_file(tmp).map_err(step("create", tmp))?;
            open()
        }
        other => other,
    }
    .map_err(step("create", tmp))?;
    file.write_all(bytes).map_err(step("write", tmp))?;
    file.sync_all().map_err(step("fsync", tmp))
}

/// `.<name>.tmp-<pid>-<n>` next to `path`: hidden, and unique among this process's writes.
fn temp_path(path: &Path) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let name = path
        .file_name()
        .map_or_else(|| "file".into(), |n| n.to_string_lossy());
    path.with_file_name(format!(".{name}.tmp-{}-{n}", std::process::id()))
}

fn step(operation: &'static str, path: &Path) -> impl FnOnce(io::Error) -> WriteError {
    let path = path.to_path_buf();
    move |source| WriteError {
        operation,
        path,
        source,
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;

    use super::*;

    fn leftovers(dir: &Path) -> Vec<String> {
        fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".tmp-"))
            .collect()
    }

    #[test]
    fn writes_a_new_file_with_the_mode_and_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.cachet");
        for existing in [Existing::Replace, Existing::Refuse] {
            let _ = fs::remove_file(&path);
            write_atomic(&path, b"sealed", SECRET_MODE, existing).unwrap();
            assert_eq!(fs::read(&path).unwrap(), b"sealed");
            let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{existing:?}");
            assert_eq!(leftovers(dir.path()), Vec::<String>::new(), "{existing:?}");
        }
    }

    #[test]
    fn replaces_an_existing_file_and_takes_the_new_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sealing.rlp");
        fs::write(&path, b"old content, longer than the new").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        write_atomic(&path, b"new", SECRET_MODE, Existing::Replace).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new");
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn refuses_to_overwrite_when_asked_to_create_new() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        fs::write(&path, b"old").unwrap();
        let err = write_atomic(&path, b"new", SECRET_MODE, Existing::Refuse).unwrap_err();
        assert!(err.already_exists(), "{err}");
        assert_eq!(err.operation(), "link");
        assert_eq!(err.path(), path);
        assert_eq!(fs::read(&path).unwrap(), b"old");
        assert_eq!(leftovers(dir.path()), Vec::<String>::new());
    }

    /// A reader racing the writer sees the whole old or the whole new content, never an empty,
    /// short or mixed file (what a truncate-and-write would show it).
    #[test]
    fn never_shows_a_half_replaced_file() {
        const LEN: usize = 256 * 1024;
        let dir = tempfile::tempdir().unwrap();
        let path = Arc::new(dir.path().join("state"));
        write_atomic(&path, &[b'a'; LEN], SECRET_MODE, Existing::Replace).unwrap();
        let done = Arc::new(AtomicBool::new(false));
        let reader = {
            let (path, done) = (Arc::clone(&path), Arc::clone(&done));
            std::thread::spawn(move || {
                let mut reads = 0u32;
                while !done.load(Ordering::Relaxed) {
                    let bytes = fs::read(path.as_path()).unwrap();
                    assert_eq!(bytes.len(), LEN, "a short read after {reads} reads");
                    let first = bytes[0];
                    assert!(
                        bytes.iter().all(|b| *b == first),
                        "mixed content after {reads} reads"
                    );
                    reads += 1;
                }
                reads
            })
        };
        for i in 0..40 {
            let fill = if i % 2 == 0 { b'b' } else { b'a' };
            write_atomic(&path, &[fill; LEN], SECRET_MODE, Existing::Replace).unwrap();
        }
        done.store(true, Ordering::Relaxed);
        assert!(reader.join().unwrap() > 0);
    }

    /// A failed final step leaves the target as it was and removes the temporary file.
    #[test]
    fn a_failed_rename_leaves_the_target_and_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        // A non-empty directory cannot be replaced by a file.
        let path = dir.path().join("occupied");
        fs::create_dir(&path).unwrap();
        fs::write(path.join("inside"), b"old").unwrap();
        let err = write_atomic(&path, b"new", SECRET_MODE, Existing::Replace).unwrap_err();
        assert_eq!(err.operation(), "rename", "{err}");
        assert!(!err.already_exists());
        assert_eq!(fs::read(path.join("inside")).unwrap(), b"old");
        assert_eq!(leftovers(dir.path()), Vec::<String>::new());
    }

    #[test]
    fn reports_the_step_and_path_and_keeps_the_os_error_as_source() {
        let path = Path::new("/nonexistent-cachet-dir/keys.cachet");
        let err = write_atomic(path, b"x", SECRET_MODE, Existing::Replace).unwrap_err();
        assert_eq!(err.operation(), "create");
        let tmp = err.path().to_string_lossy().into_owned();
        assert!(
            tmp.starts_with("/nonexistent-cachet-dir/.keys.cachet.tmp-"),
            "{tmp}"
        );
        assert!(
            err.to_string()
                .starts_with("create /nonexistent-cachet-dir/.keys.cachet.tmp-")
        );
        assert!(err.to_string().ends_with(" failed"), "{err}");
        let source = std::error::Error::source(&err).unwrap();
        assert_eq!(
            source.downcast_ref::<io::Error>().unwrap().kind(),
            io::ErrorKind::NotFound
        );
    }

    #[test]
    fn clears_a_leftover_temp_file_of_a_crashed_process() {
        let dir = tempfile::tempdir().unwrap();
        let tmp = temp_path(&dir.path().join("state"));
        fs::write(&tmp, b"torn leftover").unwrap();
        write_temp(&tmp, b"new", SECRET_MODE).unwrap();
        assert_eq!(fs::read(&tmp).unwrap(), b"new");
        let mode = fs::metadata(&tmp).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}
