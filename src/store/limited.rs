use std::sync::Arc;

use async_trait::async_trait;

use super::{DataStore, LengthDeferrer, Lister, Terminater};
use crate::body::UploadBody;
use crate::composer::StoreComposer;
use crate::error::StoreError;
use crate::info::FileInfo;

/// What a [`LimitedStore`] does when a new upload does not fit.
///
/// ```
/// use tower_tus::store::LimitPolicy;
///
/// assert_eq!(LimitPolicy::default(), LimitPolicy::EvictOldest);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum LimitPolicy {
    /// Terminate the oldest uploads until it fits (tusd's limitedstore).
    #[default]
    EvictOldest,
    /// Refuse the new upload with 507 Insufficient Storage.
    Refuse,
}

/// Keeps the total reserved size of all uploads under a limit.
///
/// Every upload reserves its length when created (a deferred one when its
/// length is declared). When a new reservation does not fit, the oldest
/// uploads are terminated until it does, or, with [`LimitPolicy::Refuse`],
/// the upload is refused with 507. An upload bigger than the whole limit
/// gets 413. Creations go through the limit one at a time, so concurrent
/// ones never overshoot it.
///
/// ```
/// use tower_tus::{StoreComposer, store::{FileStore, LimitPolicy, LimitedStore}};
///
/// let dir = tempfile::tempdir().unwrap();
/// let files = FileStore::new(dir.path());
/// let mut composer = StoreComposer::new();
/// files.use_in(&mut composer); // downloads, concatenation, … from the file store
/// LimitedStore::new(1 << 30, files.clone(), files.clone())
///     .with_length_deferrer(files.clone())
///     .with_lister(files) // counts the uploads already in the folder
///     .policy(LimitPolicy::Refuse)
///     .use_in(&mut composer); // creation, termination and lengths through the limit
/// ```
#[derive(Clone)]
pub struct LimitedStore {
    limit: u64,
    policy: LimitPolicy,
    core: Arc<dyn DataStore>,
    terminater: Arc<dyn Terminater>,
    length_deferrer: Option<Arc<dyn LengthDeferrer>>,
    lister: Option<Arc<dyn Lister>>,
    state: Arc<tokio::sync::Mutex<Reservations>>,
}

#[derive(Default)]
struct Reservations {
    loaded: bool,
    total: u64,
    /// Oldest first.
    uploads: Vec<(String, u64)>,
}

impl Reservations {
    fn remove(&mut self, id: &str) -> Option<u64> {
        let pos = self.uploads.iter().position(|(i, _)| i == id)?;
        let (_, size) = self.uploads.remove(pos);
        self.total -= size;
        Some(size)
    }
}

impl std::fmt::Debug for LimitedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LimitedStore")
            .field("limit", &self.limit)
            .field("policy", &self.policy)
            .finish()
    }
}

impl LimitedStore {
    /// Limits uploads in `core` to `limit` bytes in all, terminating through `terminater`.
    pub fn new(limit: u64, core: impl DataStore, terminater: impl Terminater) -> Self {
        LimitedStore {
            limit,
            policy: LimitPolicy::default(),
            core: Arc::new(core),
            terminater: Arc::new(terminater),
            length_deferrer: None,
            lister: None,
            state: Arc::default(),
        }
    }

    /// What to do when a new upload does not fit.
    #[must_use]
    pub fn policy(mut self, policy: LimitPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Offers deferred lengths, reserving each when declared.
    #[must_use]
    pub fn with_length_deferrer(mut self, deferrer: impl LengthDeferrer) -> Self {
        self.length_deferrer = Some(Arc::new(deferrer));
        self
    }

    /// Counts the uploads the store already holds, on first use.
    #[must_use]
    pub fn with_lister(mut self, lister: impl Lister) -> Self {
        self.lister = Some(Arc::new(lister));
        self
    }

    /// Registers this store as core, terminater and (when given) length
    /// deferrer, in place of those of the store it wraps.
    pub fn use_in(&self, composer: &mut StoreComposer) {
        composer.use_core(self.clone());
        composer.use_terminater(self.clone());
        if self.length_deferrer.is_some() {
            composer.use_length_deferrer(self.clone());
        }
    }

    /// Bytes reserved now.
    pub async fn reserved(&self) -> u64 {
        let mut state = self.state.lock().await;
        self.load(&mut state).await;
        state.total
    }

    async fn load(&self, state: &mut Reservations) {
        if state.loaded {
            return;
        }
        state.loaded = true;
        let Some(lister) = &self.lister else { return };
        let ids = match lister.list_uploads().await {
            Ok(ids) => ids,
            Err(err) => {
                tracing::warn!(error = %err, "existing uploads could not be counted");
                return;
            }
        };
        let mut found = Vec::new();
        for id in ids {
            if let Ok(info) = self.core.get_info(&id).await {
                found.push((info.created_at, id, info.size.unwrap_or(info.offset)));
            }
        }
        found.sort();
        for (_, id, size) in found {
            state.total += size;
            state.uploads.push((id, size));
        }
    }

    /// Makes room for `size` more bytes, never evicting `keep`.
    async fn make_room(
        &self,
        state: &mut Reservations,
        size: u64,
        keep: Option<&str>,
    ) -> Result<(), StoreError> {
        if size > self.limit {
            return Err(StoreError::TooLarge {
                size,
                limit: self.limit,
            });
        }
        while state.total + size > self.limit {
            if self.policy == LimitPolicy::Refuse {
                return Err(StoreError::InsufficientStorage);
            }
            let Some(pos) = state
                .uploads
                .iter()
                .position(|(id, _)| Some(id.as_str()) != keep)
            else {
                return Err(StoreError::InsufficientStorage);
            };
            let (victim, victim_size) = state.uploads.remove(pos);
            state.total -= victim_size;
            match self.terminater.terminate(&victim).await {
                Ok(()) | Err(StoreError::NotFound) => {
                    tracing::info!(id = %victim, bytes = victim_size, "upload evicted to make room")
                }
                Err(err) => return Err(err),
            }
        }
        Ok(())
    }
}

#[async_trait]
impl DataStore for LimitedStore {
    async fn new_upload(&self, info: FileInfo) -> Result<FileInfo, StoreError> {
        let size = info.size.unwrap_or(0);
        // Held until the upload exists: a reservation whose upload is still
        // being created must not be chosen for eviction.
        let mut state = self.state.lock().await;
        self.load(&mut state).await;
        self.make_room(&mut state, size, None).await?;
        let info = self.core.new_upload(info).await?;
        state.total += size;
        state.uploads.push((info.id.clone(), size));
        Ok(info)
    }

    async fn write_chunk(
        &self,
        id: &str,
        offset: u64,
        src: &mut UploadBody,
    ) -> Result<u64, StoreError> {
        self.core.write_chunk(id, offset, src).await
    }

    async fn get_info(&self, id: &str) -> Result<FileInfo, StoreError> {
        self.core.get_info(id).await
    }
}

#[async_trait]
impl Terminater for LimitedStore {
    async fn terminate(&self, id: &str) -> Result<(), StoreError> {
        let result = self.terminater.terminate(id).await;
        self.state.lock().await.remove(id);
        result
    }
}

#[async_trait]
impl LengthDeferrer for LimitedStore {
    async fn declare_length(&self, id: &str, length: u64) -> Result<(), StoreError> {
        let deferrer = self
            .length_deferrer
            .as_ref()
            .ok_or_else(|| StoreError::Conflict("deferred lengths are not supported".into()))?;
        let mut state = self.state.lock().await;
        self.load(&mut state).await;
        let previous = state.remove(id).unwrap_or(0);
        if let Err(err) = self.make_room(&mut state, length, Some(id)).await {
            state.total += previous;
            state.uploads.push((id.to_owned(), previous));
            return Err(err);
        }
        state.total += length;
        state.uploads.push((id.to_owned(), length));
        deferrer.declare_length(id, length).await
    }
}
