//! How the `.info` file is written, so that a crash never leaves it torn.

use std::io::Write;
use std::path::Path;

use crate::error::StoreError;

/// Replaces `path` with `json` atomically: a unique temporary file, synced,
/// renamed over it, and the folder synced, so a crash leaves the old
/// content or the new, never a mix, and two writers never share a
/// temporary file.
pub(super) fn replace(path: &Path, json: &[u8], sync: bool) -> std::io::Result<()> {
    let mut suffix = [0u8; 8];
    getrandom::fill(&mut suffix).map_err(|e| std::io::Error::other(e.to_string()))?;
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{:016x}.tmp", u64::from_le_bytes(suffix)));
    let tmp = std::path::PathBuf::from(name);
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(json)?;
        if sync {
            file.sync_all()?;
        }
        std::fs::rename(&tmp, path)?;
        if sync {
            sync_dir(path)?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// How a `.info` that this store wrote ends while its upload is not finished.
const UNFINISHED_TAIL: &[u8] = b"\"Finished\":false}";
/// What finishing turns its last six bytes into: still valid JSON, and one
/// small write within one sector, so a crash leaves the old bytes or the new.
const FINISHED_TAIL: &[u8] = b"true }";

/// Marks the upload of the `.info` at `path` finished in place, sparing a
/// temporary file and a rename per upload. `false` when the file does not
/// end the way this store writes it (tusd wrote it), so the caller rewrites
/// it whole; `true` too when it is finished already.
pub(super) fn mark_finished(path: &Path, sync: bool) -> Result<bool, StoreError> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(super::not_found_or)?;
    let len = file.metadata()?.len();
    let tail_len = UNFINISHED_TAIL.len() as u64;
    if len < tail_len {
        return Ok(false);
    }
    let mut tail = vec![0u8; UNFINISHED_TAIL.len()];
    file.seek(SeekFrom::Start(len - tail_len))?;
    file.read_exact(&mut tail)?;
    if tail.ends_with(b"\"Finished\":true }") || tail.ends_with(b"\"Finished\":true}") {
        return Ok(true);
    }
    // The six bytes must lie in one sector for the write to be all or
    // nothing; otherwise the caller rewrites the file whole.
    let at = len - FINISHED_TAIL.len() as u64;
    if tail != UNFINISHED_TAIL || at / 512 != (len - 1) / 512 {
        return Ok(false);
    }
    file.seek(SeekFrom::Start(at))?;
    file.write_all(FINISHED_TAIL)?;
    if sync {
        file.sync_data()?;
    }
    Ok(true)
}

/// Writes the `.info` of a new upload in place: nobody knows its id until
/// the client is answered, so there is no older content to keep.
pub(super) fn create(path: &Path, json: &[u8], sync: bool) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    file.write_all(json)?;
    if sync {
        file.sync_all()?;
        sync_dir(path)?;
    }
    Ok(())
}

/// Syncs the folder holding `path`, so that a creation, rename or removal
/// in it survives a crash.
pub(super) fn sync_dir(path: &Path) -> std::io::Result<()> {
    match path.parent() {
        Some(dir) => std::fs::File::open(dir)?.sync_all(),
        None => Ok(()),
    }
}
