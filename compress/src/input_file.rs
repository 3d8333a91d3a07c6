//! Opening the files of an input: only regular files are read (opening a FIFO blocks
//! until a writer comes; a device such as /dev/zero reads without end), and text files
//! are read up to a size limit, so nothing is sized by a file we have not checked.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use crate::CompressError;

/// The largest JSON file of a checkpoint we read: real `tokenizer.json` files are tens of
/// MB; parsing one takes several times its size in memory.
pub const JSON_LIMIT: u64 = 128 << 20;

/// Fails unless `path` (links followed) is a regular file.
pub fn check_regular(path: &Path) -> Result<(), CompressError> {
    let meta = std::fs::metadata(path).map_err(|e| CompressError::io(path, "cannot read", e))?;
    if !meta.is_file() {
        let what = if meta.is_dir() {
            "a directory"
        } else {
            "not a regular file (a device, FIFO or socket)"
        };
        return Err(CompressError::input(path, format!("is {what}")));
    }
    Ok(())
}

/// Opens a regular file for reading.
pub fn open_regular(path: &Path) -> Result<File, CompressError> {
    check_regular(path)?;
    File::open(path).map_err(|e| CompressError::io(path, "cannot open", e))
}

/// The text of a regular file of at most `limit` bytes.
pub fn read_text(path: &Path, limit: u64) -> Result<String, CompressError> {
    let f = open_regular(path)?;
    let mut text = String::new();
    // `take` bounds the read even if the file grows after the check.
    f.take(limit + 1)
        .read_to_string(&mut text)
        .map_err(|e| CompressError::io(path, "cannot read the file", e))?;
    if text.len() as u64 > limit {
        return Err(CompressError::input(
            path,
            format!(
                "is larger than {} MiB; not a checkpoint's file",
                limit >> 20
            ),
        ));
    }
    Ok(text)
}

/// Whether `path` is present at all (a dangling link or a FIFO counts: reading it must
/// fail with a message rather than the file being taken as absent).
pub fn is_present(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok()
}
