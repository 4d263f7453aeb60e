use std::io;
use std::ops::Range;

use async_trait::async_trait;

use super::appender::Appender;
use super::info_file;
use super::{FileStore, SyncPolicy, not_found_or, on_disk};
use crate::body::{ContentBody, UploadBody};
use crate::error::StoreError;
use crate::info::FileInfo;
use crate::store::tusd_info::InfoFile;
use crate::store::{Content, Upload};

/// A write at most this big, with no sync, is done in place.
pub(super) const SMALL_WRITE: u64 = 64 * 1024;

/// One upload of a [`FileStore`], opened for one request.
pub(super) struct FileUpload {
    store: FileStore,
    info: FileInfo,
}

/// A fresh staging file at `path`, never one another writer still uses:
/// an existing one is unlinked first (its writer keeps its own open file).
fn create_staging(path: &std::path::Path) -> Result<std::fs::File, StoreError> {
    for _ in 0..3 {
        match std::fs::remove_file(path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e.into()),
            _ => {}
        }
        match std::fs::File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)
        {
            Ok(file) => return Ok(file),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(StoreError::Conflict(
        "the upload is being written by another request".into(),
    ))
}

impl FileUpload {
    pub(super) fn new(store: FileStore, info: FileInfo) -> Self {
        FileUpload { store, info }
    }

    /// Rewrites the `.info` under a lock on the data file, so concurrent
    /// rewrites, from this process or another, never lose each other's
    /// changes; `change` sees the stored state and may refuse. The handle's
    /// state follows what was stored.
    async fn update_info(
        &mut self,
        change: impl FnOnce(&mut FileInfo) -> Result<(), StoreError> + Send + 'static,
    ) -> Result<(), StoreError> {
        let store = self.store.clone();
        let id = self.info.id.clone();
        let sync = store.sync_meta();
        let stored = on_disk(true, move || {
            let data = std::fs::File::open(store.path(&id, "")?).map_err(not_found_or)?;
            data.lock()?;
            let mut info = store.load(&id)?;
            change(&mut info)?;
            info_file::replace(&store.path(&id, "info")?, &InfoFile::to_json(&info)?, sync)?;
            Ok(info)
        })
        .await?;
        self.info = stored;
        Ok(())
    }

    fn sync_data(&self) -> bool {
        self.store.sync == SyncPolicy::EachWrite
    }
}

#[async_trait]
impl Upload for FileUpload {
    fn info(&self) -> &FileInfo {
        &self.info
    }

    async fn write(&mut self, src: &mut UploadBody) -> Result<u64, StoreError> {
        let data_path = self.store.path(&self.info.id, "")?;
        let data = std::fs::OpenOptions::new()
            .append(true)
            .open(&data_path)
            .map_err(not_found_or)?;
        if data.metadata()?.len() != self.info.offset {
            return Err(StoreError::Conflict(
                "offset does not match the stored data".into(),
            ));
        }
        let sync = self.sync_data();
        let offset = if src.needs_verification() {
            let chunk_path = self.store.path(&self.info.id, "chunk")?;
            let staged = {
                let path = chunk_path.clone();
                on_disk(true, move || create_staging(&path)).await?
            };
            let poured = Appender::new(staged)
                .pour(src, false)
                .await
                .map(|(file, _)| file);
            let verified = src.verify().is_ok();
            // Removes the staging file: to the blocking pool.
            on_disk(true, move || {
                let result = (|| -> Result<u64, StoreError> {
                    let mut staged = poured?;
                    let mut data = data;
                    if verified {
                        use std::io::Seek;
                        staged.seek(io::SeekFrom::Start(0))?;
                        let before = data.metadata()?.len();
                        // A crash midway leaves a shorter prefix of verified
                        // bytes, never an unverified one; a failure is undone.
                        let appended = io::copy(&mut staged, &mut data)
                            .and_then(|_| if sync { data.sync_data() } else { Ok(()) });
                        if let Err(err) = appended {
                            let _ = data.set_len(before);
                            return Err(err.into());
                        }
                    }
                    Ok(data.metadata()?.len())
                })();
                // Only the name: another writer may have staged under it
                // since, and works from its own open file.
                let _ = std::fs::remove_file(&chunk_path);
                result
            })
            .await?
        } else {
            Appender::new(data).pour(src, sync).await?.1
        };
        self.info.offset = offset;
        self.info.updated_at = Some(std::time::SystemTime::now());
        Ok(offset)
    }

    async fn finish(&mut self) -> Result<(), StoreError> {
        let store = self.store.clone();
        let id = self.info.id.clone();
        let is_partial = self.info.is_partial;
        let sync_data = store.sync == SyncPolicy::AtFinish;
        let sync_meta = store.sync_meta();
        // A partial waits for the lock on its data file: on the pool.
        let flipped = on_disk(sync_data || sync_meta || is_partial, move || {
            // Only a partial upload's `.info` is rewritten by others (the
            // finals it records), under a lock on its data file.
            let data = if sync_data || is_partial {
                Some(std::fs::File::open(store.path(&id, "")?).map_err(not_found_or)?)
            } else {
                None
            };
            if let Some(data) = &data {
                if sync_data {
                    data.sync_data()?;
                }
                if is_partial {
                    data.lock()?;
                }
            }
            info_file::mark_finished(&store.path(&id, "info")?, sync_meta)
        })
        .await?;
        if !flipped {
            // Not in the shape this store writes (tusd wrote it), or its tail
            // straddles a sector: rewrite it whole.
            self.update_info(|info| {
                info.finished = true;
                Ok(())
            })
            .await?;
        }
        self.info.finished = true;
        Ok(())
    }

    async fn content(&self, range: Range<u64>) -> Result<Content, StoreError> {
        let path = self.store.path(&self.info.id, "")?;
        let body = on_disk(false, move || {
            let file = std::fs::File::open(path).map_err(not_found_or)?;
            Ok(ContentBody::from_file(
                file,
                range.start,
                range.end.saturating_sub(range.start),
            )?)
        })
        .await?;
        Ok(Content::Body(body))
    }

    async fn terminate(&mut self) -> Result<(), StoreError> {
        let store = self.store.clone();
        let id = self.info.id.clone();
        let expected = self.info.used_by.clone();
        let sync = store.sync_meta();
        on_disk(true, move || {
            let info_path = store.path(&id, "info")?;
            let data_path = store.path(&id, "")?;
            {
                let data = std::fs::File::open(&data_path).map_err(not_found_or)?;
                data.lock()?;
                if store.load(&id)?.used_by != expected {
                    return Err(StoreError::PreconditionFailed(
                        "a final upload started to use this upload".into(),
                    ));
                }
                // The bytes first: a crash midway leaves a small `.info`
                // whose upload reads as gone, not a big file nobody lists.
                std::fs::remove_file(&data_path).map_err(not_found_or)?;
            }
            for path in [
                info_path.clone(),
                store.path(&id, "chunk")?,
                store.path(&id, "concat")?,
            ] {
                match std::fs::remove_file(path) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e.into()),
                    _ => {}
                }
            }
            if sync {
                info_file::sync_dir(&data_path)?;
            }
            Ok(())
        })
        .await
    }

    async fn declare_length(&mut self, length: u64) -> Result<(), StoreError> {
        self.update_info(move |info| {
            if info.size.is_some_and(|s| s != length) {
                return Err(StoreError::Conflict("the length is already set".into()));
            }
            info.size = Some(length);
            Ok(())
        })
        .await
    }

    async fn concatenate(&mut self, partials: &[FileInfo]) -> Result<(), StoreError> {
        let target = self.store.path(&self.info.id, "")?;
        let staging = self.store.path(&self.info.id, "concat")?;
        let sources = partials
            .iter()
            .map(|p| Ok((self.store.path(&p.id, "")?, p.size.unwrap_or(p.offset))))
            .collect::<Result<Vec<_>, StoreError>>()?;
        let sync = self.store.sync_meta();
        let offset = on_disk(true, move || {
            let result = (|| -> Result<u64, StoreError> {
                let mut out = std::fs::File::create(&staging)?;
                for (source, len) in sources {
                    let input = std::fs::File::open(source).map_err(not_found_or)?;
                    let copied = io::copy(&mut io::Read::take(input, len), &mut out)?;
                    if copied != len {
                        return Err(StoreError::Corrupt(format!(
                            "a partial upload holds {copied} of its {len} bytes"
                        )));
                    }
                }
                if sync {
                    out.sync_data()?;
                }
                let len = out.metadata()?.len();
                std::fs::rename(&staging, &target)?;
                if sync {
                    info_file::sync_dir(&target)?;
                }
                Ok(len)
            })();
            if result.is_err() {
                let _ = std::fs::remove_file(&staging);
            }
            result
        })
        .await?;
        self.info.offset = offset;
        self.info.updated_at = Some(std::time::SystemTime::now());
        Ok(())
    }

    async fn add_final(&mut self, final_id: &str) -> Result<(), StoreError> {
        let final_id = final_id.to_owned();
        self.update_info(move |info| {
            if !info.used_by.contains(&final_id) {
                info.used_by.push(final_id);
            }
            Ok(())
        })
        .await
    }
}
