use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use async_trait::async_trait;

use super::{
    Concater, DataStore, GetReader, LengthDeferrer, Lister, Terminater, Truncater, UploadReader,
};
use crate::body::UploadBody;
use crate::composer::StoreComposer;
use crate::error::StoreError;
use crate::info::FileInfo;

/// Uploads kept in memory: for tests and small deployments.
///
/// Offers every extension: termination, downloads, concatenation, deferred
/// lengths, truncation (checksums) and listing (expiration).
///
/// ```
/// use tower_tus::{StoreComposer, store::MemoryStore};
///
/// let mut composer = StoreComposer::new();
/// MemoryStore::new().use_in(&mut composer);
/// let caps = composer.capabilities();
/// assert!(caps.core && caps.terminater && caps.get_reader && caps.concater);
/// ```
#[derive(Clone, Debug, Default)]
pub struct MemoryStore {
    uploads: Arc<Mutex<HashMap<String, Upload>>>,
}

#[derive(Debug)]
struct Upload {
    info: FileInfo,
    data: Vec<u8>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers this store and its extensions with `composer`.
    pub fn use_in(&self, composer: &mut StoreComposer) {
        composer.use_core(self.clone());
        composer.use_terminater(self.clone());
        composer.use_get_reader(self.clone());
        composer.use_concater(self.clone());
        composer.use_length_deferrer(self.clone());
        composer.use_truncater(self.clone());
        composer.use_lister(self.clone());
    }

    fn uploads(&self) -> MutexGuard<'_, HashMap<String, Upload>> {
        self.uploads.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn with_upload<T>(&self, id: &str, f: impl FnOnce(&mut Upload) -> T) -> Result<T, StoreError> {
        self.uploads()
            .get_mut(id)
            .map(f)
            .ok_or(StoreError::NotFound)
    }
}

#[async_trait]
impl DataStore for MemoryStore {
    async fn new_upload(&self, mut info: FileInfo) -> Result<FileInfo, StoreError> {
        info.offset = 0;
        let now = SystemTime::now();
        info.created_at.get_or_insert(now);
        info.updated_at = Some(now);
        info.storage.insert("Type".into(), "memorystore".into());
        let mut uploads = self.uploads();
        if uploads.contains_key(&info.id) {
            return Err(StoreError::Conflict(format!(
                "upload {} already exists",
                info.id
            )));
        }
        uploads.insert(
            info.id.clone(),
            Upload {
                info: info.clone(),
                data: Vec::new(),
            },
        );
        Ok(info)
    }

    async fn write_chunk(
        &self,
        id: &str,
        offset: u64,
        src: &mut UploadBody,
    ) -> Result<u64, StoreError> {
        if self.with_upload(id, |u| u.data.len() as u64)? != offset {
            return Err(StoreError::Conflict(
                "offset does not match the stored data".into(),
            ));
        }
        let mut written = 0u64;
        while let Some(chunk) = src.next_chunk().await {
            self.with_upload(id, |u| {
                u.data.extend_from_slice(&chunk);
                u.info.offset = u.data.len() as u64;
                u.info.updated_at = Some(SystemTime::now());
            })?;
            written += chunk.len() as u64;
        }
        Ok(written)
    }

    async fn get_info(&self, id: &str) -> Result<FileInfo, StoreError> {
        self.with_upload(id, |u| u.info.clone())
    }
}

#[async_trait]
impl Terminater for MemoryStore {
    async fn terminate(&self, id: &str) -> Result<(), StoreError> {
        self.uploads()
            .remove(id)
            .map(drop)
            .ok_or(StoreError::NotFound)
    }
}

#[async_trait]
impl GetReader for MemoryStore {
    async fn get_reader(&self, id: &str, start: u64) -> Result<UploadReader, StoreError> {
        let data = self.with_upload(id, |u| {
            let start = (start as usize).min(u.data.len());
            u.data[start..].to_vec()
        })?;
        Ok(Box::new(std::io::Cursor::new(data)))
    }
}

#[async_trait]
impl Concater for MemoryStore {
    async fn concat_uploads(&self, id: &str, partials: &[FileInfo]) -> Result<(), StoreError> {
        let mut uploads = self.uploads();
        let mut data = Vec::new();
        for partial in partials {
            let p = uploads.get(&partial.id).ok_or(StoreError::NotFound)?;
            data.extend_from_slice(&p.data);
        }
        let upload = uploads.get_mut(id).ok_or(StoreError::NotFound)?;
        upload.info.offset = data.len() as u64;
        upload.info.updated_at = Some(SystemTime::now());
        upload.data = data;
        Ok(())
    }

    async fn add_final(&self, partial_id: &str, final_id: &str) -> Result<(), StoreError> {
        self.with_upload(partial_id, |u| {
            if !u.info.used_by.iter().any(|f| f == final_id) {
                u.info.used_by.push(final_id.to_owned());
            }
        })
    }
}

#[async_trait]
impl LengthDeferrer for MemoryStore {
    async fn declare_length(&self, id: &str, length: u64) -> Result<(), StoreError> {
        self.with_upload(id, |u| u.info.size = Some(length))
    }
}

#[async_trait]
impl Truncater for MemoryStore {
    async fn truncate(&self, id: &str, offset: u64) -> Result<(), StoreError> {
        self.with_upload(id, |u| {
            u.data.truncate(offset as usize);
            u.info.offset = u.data.len() as u64;
        })
    }
}

#[async_trait]
impl Lister for MemoryStore {
    async fn list_uploads(&self) -> Result<Vec<String>, StoreError> {
        let mut ids: Vec<String> = self.uploads().keys().cloned().collect();
        ids.sort();
        Ok(ids)
    }
}
