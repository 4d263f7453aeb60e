use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use async_trait::async_trait;

use super::{Content, DataStore, Extensions, Upload};
use crate::body::{ContentBody, UploadBody};
use crate::composer::StoreComposer;
use crate::error::StoreError;
use crate::info::FileInfo;

/// Uploads kept in memory: for tests and small deployments.
///
/// Offers every extension. A body that must be verified is staged in
/// memory until it is, then appended in one step.
///
/// ```
/// use tower_tus::{StoreComposer, store::MemoryStore};
///
/// let mut composer = StoreComposer::new();
/// MemoryStore::new().use_in(&mut composer);
/// let caps = composer.capabilities();
/// assert!(caps.core && caps.termination && caps.content && caps.concatenation);
/// ```
#[derive(Clone, Debug, Default)]
pub struct MemoryStore {
    uploads: Arc<Mutex<HashMap<String, Entry>>>,
}

#[derive(Debug)]
struct Entry {
    info: FileInfo,
    data: Vec<u8>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers this store with `composer`.
    pub fn use_in(&self, composer: &mut StoreComposer) {
        composer.use_core(self.clone());
    }

    fn uploads(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        self.uploads.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn with_entry<T>(&self, id: &str, f: impl FnOnce(&mut Entry) -> T) -> Result<T, StoreError> {
        self.uploads()
            .get_mut(id)
            .map(f)
            .ok_or(StoreError::NotFound)
    }
}

#[async_trait]
impl DataStore for MemoryStore {
    async fn new_upload(&self, mut info: FileInfo) -> Result<Box<dyn Upload>, StoreError> {
        info.offset = 0;
        info.finished = false;
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
            Entry {
                info: info.clone(),
                data: Vec::new(),
            },
        );
        Ok(Box::new(MemoryUpload {
            store: self.clone(),
            info,
        }))
    }

    async fn get_upload(&self, id: &str) -> Result<Box<dyn Upload>, StoreError> {
        let info = self.with_entry(id, |e| e.info.clone())?;
        Ok(Box::new(MemoryUpload {
            store: self.clone(),
            info,
        }))
    }

    fn extensions(&self) -> Extensions {
        Extensions::all()
    }

    async fn list_uploads(&self) -> Result<Vec<String>, StoreError> {
        let mut ids: Vec<String> = self.uploads().keys().cloned().collect();
        ids.sort();
        Ok(ids)
    }
}

struct MemoryUpload {
    store: MemoryStore,
    info: FileInfo,
}

impl MemoryUpload {
    /// Appends `bytes` if the stored offset is still the one this handle expects.
    fn append(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        let expected = self.info.offset;
        let info = self.store.with_entry(&self.info.id, |e| {
            if e.data.len() as u64 != expected {
                return Err(StoreError::Conflict(
                    "offset does not match the stored data".into(),
                ));
            }
            e.data.extend_from_slice(bytes);
            e.info.offset = e.data.len() as u64;
            e.info.updated_at = Some(SystemTime::now());
            Ok(e.info.clone())
        })??;
        self.info = info;
        Ok(())
    }
}

#[async_trait]
impl Upload for MemoryUpload {
    fn info(&self) -> &FileInfo {
        &self.info
    }

    async fn write(&mut self, src: &mut UploadBody) -> Result<u64, StoreError> {
        let stored = self
            .store
            .with_entry(&self.info.id, |e| e.data.len() as u64)?;
        if stored != self.info.offset {
            return Err(StoreError::Conflict(
                "offset does not match the stored data".into(),
            ));
        }
        if src.needs_verification() {
            let mut staged = Vec::new();
            while let Some(chunk) = src.next_chunk().await {
                staged.extend_from_slice(&chunk);
            }
            if src.verify().is_ok() {
                self.append(&staged)?;
            }
        } else {
            while let Some(chunk) = src.next_chunk().await {
                self.append(&chunk)?;
            }
        }
        Ok(self.info.offset)
    }

    async fn finish(&mut self) -> Result<(), StoreError> {
        self.store
            .with_entry(&self.info.id, |e| e.info.finished = true)?;
        self.info.finished = true;
        Ok(())
    }

    async fn content(&self, range: Range<u64>) -> Result<Content, StoreError> {
        let bytes = self.store.with_entry(&self.info.id, |e| {
            let end = (range.end as usize).min(e.data.len());
            let start = (range.start as usize).min(end);
            e.data[start..end].to_vec()
        })?;
        Ok(Content::Body(ContentBody::from_bytes(bytes)))
    }

    async fn terminate(&mut self) -> Result<(), StoreError> {
        let mut uploads = self.store.uploads();
        let entry = uploads.get(&self.info.id).ok_or(StoreError::NotFound)?;
        if entry.info.used_by != self.info.used_by {
            return Err(StoreError::PreconditionFailed(
                "a final upload started to use this upload".into(),
            ));
        }
        uploads.remove(&self.info.id);
        Ok(())
    }

    async fn declare_length(&mut self, length: u64) -> Result<(), StoreError> {
        self.store
            .with_entry(&self.info.id, |e| e.info.size = Some(length))?;
        self.info.size = Some(length);
        Ok(())
    }

    async fn concatenate(&mut self, partials: &[FileInfo]) -> Result<(), StoreError> {
        let mut uploads = self.store.uploads();
        let mut data = Vec::new();
        for partial in partials {
            let p = uploads.get(&partial.id).ok_or(StoreError::NotFound)?;
            data.extend_from_slice(&p.data);
        }
        let entry = uploads.get_mut(&self.info.id).ok_or(StoreError::NotFound)?;
        entry.data = data;
        entry.info.offset = entry.data.len() as u64;
        entry.info.updated_at = Some(SystemTime::now());
        self.info = entry.info.clone();
        Ok(())
    }

    async fn add_final(&mut self, final_id: &str) -> Result<(), StoreError> {
        let used_by = self.store.with_entry(&self.info.id, |e| {
            if !e.info.used_by.iter().any(|f| f == final_id) {
                e.info.used_by.push(final_id.to_owned());
            }
            e.info.used_by.clone()
        })?;
        self.info.used_by = used_by;
        Ok(())
    }
}
