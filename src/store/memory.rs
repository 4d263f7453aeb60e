use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use async_trait::async_trait;

use super::{DataStore, GetReader, Terminater, UploadReader};
use crate::body::UploadBody;
use crate::composer::StoreComposer;
use crate::error::StoreError;
use crate::info::FileInfo;

/// Uploads kept in memory: for tests and small deployments.
///
/// Offers termination and downloads besides the core.
///
/// ```
/// use tower_tus::{StoreComposer, store::MemoryStore};
///
/// let mut composer = StoreComposer::new();
/// MemoryStore::new().use_in(&mut composer);
/// let caps = composer.capabilities();
/// assert!(caps.core && caps.terminater && caps.get_reader);
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
    }

    fn uploads(&self) -> MutexGuard<'_, HashMap<String, Upload>> {
        self.uploads.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl DataStore for MemoryStore {
    async fn new_upload(&self, mut info: FileInfo) -> Result<FileInfo, StoreError> {
        info.offset = 0;
        info.created_at.get_or_insert_with(SystemTime::now);
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
        {
            let uploads = self.uploads();
            let upload = uploads.get(id).ok_or(StoreError::NotFound)?;
            if upload.data.len() as u64 != offset {
                return Err(StoreError::Conflict(
                    "offset does not match the stored data".into(),
                ));
            }
        }
        let mut written = 0u64;
        while let Some(chunk) = src.next_chunk().await {
            let mut uploads = self.uploads();
            let upload = uploads.get_mut(id).ok_or(StoreError::NotFound)?;
            upload.data.extend_from_slice(&chunk);
            upload.info.offset = upload.data.len() as u64;
            written += chunk.len() as u64;
        }
        Ok(written)
    }

    async fn get_info(&self, id: &str) -> Result<FileInfo, StoreError> {
        self.uploads()
            .get(id)
            .map(|u| u.info.clone())
            .ok_or(StoreError::NotFound)
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
    async fn get_reader(&self, id: &str) -> Result<UploadReader, StoreError> {
        let data = self
            .uploads()
            .get(id)
            .map(|u| u.data.clone())
            .ok_or(StoreError::NotFound)?;
        Ok(Box::new(std::io::Cursor::new(data)))
    }
}
