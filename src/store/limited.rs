use std::sync::{Arc, Mutex, OnceLock};

use async_trait::async_trait;

use super::{Content, DataStore, Extension, Extensions, Upload};
use crate::body::{Quota, UploadBody};
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

/// How a store that makes room terminates an upload: the handler's way,
/// under the upload's lock, with the events and hooks of a DELETE.
///
/// The handler gives its own to the core store
/// ([`DataStore::set_evictor`]); a store used without a handler may be
/// given another:
///
/// ```
/// use async_trait::async_trait;
/// use tower_tus::StoreError;
/// use tower_tus::store::Evictor;
///
/// /// Never evicts: a full store refuses new uploads.
/// struct KeepAll;
///
/// #[async_trait]
/// impl Evictor for KeepAll {
///     async fn evict(&self, _id: &str) -> Result<bool, StoreError> {
///         Ok(false)
///     }
/// }
/// ```
#[async_trait]
pub trait Evictor: Send + Sync + 'static {
    /// Terminates upload `id` if it can be now: `Ok(false)` when it is busy
    /// (locked by a request) or still needed (a partial upload of an
    /// unfinished final one).
    async fn evict(&self, id: &str) -> Result<bool, StoreError>;
}

/// Keeps the total reserved size of all uploads under a limit.
///
/// Every upload reserves its length when created, a final upload on top of
/// its partials. An upload with a deferred length reserves what it
/// receives, and may receive only what fits; its declared length is
/// reserved when declared. When a new reservation does not fit, the
/// oldest uploads are evicted until it does (uploads being written and
/// partial uploads an unfinished final still needs are skipped, and each
/// eviction goes through the handler like a DELETE), or, with
/// [`LimitPolicy::Refuse`], the upload is refused with 507. An upload
/// bigger than the whole limit gets 413. Creations go through the limit
/// one at a time, so concurrent ones never overshoot it.
///
/// The reservations are this process's view, counted from the store's
/// listing at first use: over a store shared by several processes each
/// keeps its own count, so the limit holds per process, not in total.
/// Evictions take try-locks, so with a locker shared by the processes (in
/// Redis or etcd) none evicts an upload being written by another, and two
/// never evict the same one.
///
/// ```
/// use tower_tus::{StoreComposer, store::{FileStore, LimitPolicy, LimitedStore}};
///
/// let dir = tempfile::tempdir().unwrap();
/// let mut composer = StoreComposer::new();
/// LimitedStore::new(1 << 30, FileStore::new(dir.path()))
///     .policy(LimitPolicy::Refuse)
///     .use_in(&mut composer);
/// assert!(composer.capabilities().termination);
/// ```
#[derive(Clone)]
pub struct LimitedStore {
    shared: Arc<Shared>,
}

struct Shared {
    limit: u64,
    policy: LimitPolicy,
    core: Arc<dyn DataStore>,
    evictor: OnceLock<Arc<dyn Evictor>>,
    /// Held while a creation or a declared length reserves: one at a time.
    admission: tokio::sync::Mutex<bool>,
    reservations: Mutex<Reservations>,
}

#[derive(Default)]
struct Reservations {
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

    fn add(&mut self, id: &str, bytes: u64) {
        self.total += bytes;
        match self.uploads.iter_mut().find(|(i, _)| i == id) {
            Some((_, size)) => *size += bytes,
            None => self.uploads.push((id.to_owned(), bytes)),
        }
    }

    /// Gives back up to `bytes` of upload `id`'s reservation.
    fn rename(&mut self, from: &str, to: &str) {
        if let Some((id, _)) = self.uploads.iter_mut().find(|(i, _)| i == from) {
            to.clone_into(id);
        }
    }

    fn sub(&mut self, id: &str, bytes: u64) {
        if let Some((_, size)) = self.uploads.iter_mut().find(|(i, _)| i == id) {
            let back = bytes.min(*size);
            *size -= back;
            self.total -= back;
        }
    }

    fn of(&self, id: &str) -> u64 {
        self.uploads
            .iter()
            .find(|(i, _)| i == id)
            .map_or(0, |(_, s)| *s)
    }
}

impl std::fmt::Debug for LimitedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LimitedStore")
            .field("limit", &self.shared.limit)
            .field("policy", &self.shared.policy)
            .finish()
    }
}

impl LimitedStore {
    /// Limits the uploads of `core` to `limit` bytes in all.
    pub fn new(limit: u64, core: impl DataStore) -> Self {
        LimitedStore {
            shared: Arc::new(Shared {
                limit,
                policy: LimitPolicy::default(),
                core: Arc::new(core),
                evictor: OnceLock::new(),
                admission: tokio::sync::Mutex::new(false),
                reservations: Mutex::default(),
            }),
        }
    }

    /// What to do when a new upload does not fit.
    ///
    /// # Panics
    ///
    /// When called on a clone of a store already in use.
    #[must_use]
    pub fn policy(mut self, policy: LimitPolicy) -> Self {
        Arc::get_mut(&mut self.shared)
            .expect("set the policy before sharing the store")
            .policy = policy;
        self
    }

    /// Registers this store with `composer`, in place of the store it wraps.
    pub fn use_in(&self, composer: &mut StoreComposer) {
        composer.use_core(self.clone());
    }

    /// Bytes reserved now.
    pub async fn reserved(&self) -> u64 {
        let mut loaded = self.shared.admission.lock().await;
        self.load(&mut loaded).await;
        self.reservations().total
    }

    fn reservations(&self) -> std::sync::MutexGuard<'_, Reservations> {
        self.shared
            .reservations
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Counts the uploads already in the store, once.
    async fn load(&self, loaded: &mut bool) {
        if *loaded {
            return;
        }
        *loaded = true;
        if !self.shared.core.extensions().contains(Extension::Listing) {
            return;
        }
        let ids = match self.shared.core.list_uploads().await {
            Ok(ids) => ids,
            Err(err) => {
                tracing::warn!(error = %err, "existing uploads could not be counted");
                return;
            }
        };
        let mut found = Vec::new();
        for id in ids {
            if let Ok(upload) = self.shared.core.get_upload(&id).await {
                let info = upload.info();
                found.push((info.created_at, id, info.size.unwrap_or(info.offset)));
            }
        }
        found.sort();
        let mut reservations = self.reservations();
        for (_, id, size) in found {
            reservations.add(&id, size);
        }
    }

    /// Makes room for `size` more bytes, never evicting `keep`, and reserves
    /// them for upload `id` in the same step, so nothing takes them between.
    async fn make_room(&self, id: &str, size: u64, keep: &[&str]) -> Result<(), StoreError> {
        let limit = self.shared.limit;
        if size > limit {
            return Err(StoreError::TooLarge { size, limit });
        }
        let mut tried: Vec<String> = Vec::new();
        loop {
            let victim = {
                let mut reservations = self.reservations();
                if reservations.total + size <= limit {
                    reservations.add(id, size);
                    return Ok(());
                }
                if self.shared.policy == LimitPolicy::Refuse {
                    return Err(StoreError::InsufficientStorage);
                }
                reservations
                    .uploads
                    .iter()
                    .map(|(id, _)| id)
                    .find(|id| !keep.contains(&id.as_str()) && !tried.contains(id))
                    .cloned()
            };
            let Some(victim) = victim else {
                return Err(StoreError::InsufficientStorage);
            };
            let evicted = match self.shared.evictor.get() {
                Some(evictor) => evictor.evict(&victim).await,
                // Used without a handler: nobody else can be writing.
                None => match self.get_upload(&victim).await {
                    Ok(mut upload) => upload.terminate().await.map(|()| true),
                    Err(StoreError::NotFound) => Ok(true),
                    Err(err) => Err(err),
                },
            };
            match evicted {
                Ok(true) | Err(StoreError::NotFound) => {
                    self.reservations().remove(&victim);
                    tracing::info!(id = %victim, "upload evicted to make room");
                }
                Ok(false) => {}
                Err(err) => {
                    tracing::warn!(id = %victim, error = %err, "upload could not be evicted");
                }
            }
            tried.push(victim);
        }
    }

    fn wrap(&self, inner: Box<dyn Upload>) -> Box<dyn Upload> {
        Box::new(LimitedUpload {
            store: self.clone(),
            inner,
        })
    }
}

#[async_trait]
impl DataStore for LimitedStore {
    async fn new_upload(&self, info: FileInfo) -> Result<Box<dyn Upload>, StoreError> {
        let size = info.size.unwrap_or(0);
        // Held until the upload exists: a reservation whose upload is still
        // being created must not be chosen for eviction.
        let mut loaded = self.shared.admission.lock().await;
        self.load(&mut loaded).await;
        let keep: Vec<&str> = info.partial_uploads.iter().map(String::as_str).collect();
        let id = info.id.clone();
        self.make_room(&id, size, &keep).await?;
        match self.shared.core.new_upload(info).await {
            Ok(upload) => {
                // Under the name the store gave it (an S3 store appends its
                // multipart upload), which is the name its lock is taken
                // under when it is evicted.
                self.reservations().rename(&id, &upload.info().id);
                Ok(self.wrap(upload))
            }
            Err(err) => {
                self.reservations().sub(&id, size);
                Err(err)
            }
        }
    }

    async fn get_upload(&self, id: &str) -> Result<Box<dyn Upload>, StoreError> {
        Ok(self.wrap(self.shared.core.get_upload(id).await?))
    }

    fn extensions(&self) -> Extensions {
        self.shared.core.extensions()
    }

    async fn list_uploads(&self) -> Result<Vec<String>, StoreError> {
        self.shared.core.list_uploads().await
    }

    async fn check_concatenation(&self, partials: &[FileInfo]) -> Result<(), StoreError> {
        self.shared.core.check_concatenation(partials).await
    }

    fn set_evictor(&self, evictor: Arc<dyn Evictor>) {
        let _ = self.shared.evictor.set(evictor.clone());
        self.shared.core.set_evictor(evictor);
    }
}

/// Reserves a deferred-length upload's bytes as they arrive.
struct Reserving {
    store: LimitedStore,
    id: String,
    taken: std::sync::atomic::AtomicU64,
}

impl Quota for Reserving {
    fn take(&self, wanted: u64) -> u64 {
        let mut reservations = self.store.reservations();
        let granted = self
            .store
            .shared
            .limit
            .saturating_sub(reservations.total)
            .min(wanted);
        reservations.add(&self.id, granted);
        self.taken
            .fetch_add(granted, std::sync::atomic::Ordering::SeqCst);
        granted
    }
}

struct LimitedUpload {
    store: LimitedStore,
    inner: Box<dyn Upload>,
}

#[async_trait]
impl Upload for LimitedUpload {
    fn info(&self) -> &FileInfo {
        self.inner.info()
    }

    async fn write(&mut self, src: &mut UploadBody) -> Result<u64, StoreError> {
        if self.inner.info().size.is_some() {
            return self.inner.write(src).await;
        }
        // A deferred length has reserved only what arrived: each chunk
        // reserves its bytes as it arrives, while others reserve too, and
        // what did not become part of the upload is given back.
        let before = self.inner.info().offset;
        let quota = Arc::new(Reserving {
            store: self.store.clone(),
            id: self.inner.info().id.clone(),
            taken: std::sync::atomic::AtomicU64::new(0),
        });
        src.set_quota(quota.clone());
        let written = self.inner.write(src).await;
        let id = self.inner.info().id.clone();
        let durable = match &written {
            Ok(offset) => Some(*offset),
            // What a failed write kept is what the store reports now.
            Err(_) => match self.store.shared.core.get_upload(&id).await {
                Ok(upload) => Some(upload.info().offset),
                Err(_) => None,
            },
        };
        let taken = quota.taken.load(std::sync::atomic::Ordering::SeqCst);
        // Unknown: keep it all reserved rather than undercount.
        if let Some(kept) = durable.map(|d| d.saturating_sub(before)) {
            self.store
                .reservations()
                .sub(&id, taken.saturating_sub(kept));
        }
        let offset = written?;
        if src.quota_exhausted() {
            return Err(StoreError::InsufficientStorage);
        }
        Ok(offset)
    }

    async fn finish(&mut self) -> Result<(), StoreError> {
        self.inner.finish().await
    }

    async fn content(&self, range: std::ops::Range<u64>) -> Result<Content, StoreError> {
        self.inner.content(range).await
    }

    async fn terminate(&mut self) -> Result<(), StoreError> {
        self.inner.terminate().await?;
        self.store.reservations().remove(&self.inner.info().id);
        Ok(())
    }

    async fn declare_length(&mut self, length: u64) -> Result<(), StoreError> {
        let mut loaded = self.store.shared.admission.lock().await;
        self.store.load(&mut loaded).await;
        let id = self.inner.info().id.clone();
        let more = length.saturating_sub(self.store.reservations().of(&id));
        self.store.make_room(&id, more, &[id.as_str()]).await?;
        let declared = self.inner.declare_length(length).await;
        if declared.is_err() {
            self.store.reservations().sub(&id, more);
        }
        declared
    }

    async fn concatenate(&mut self, partials: &[FileInfo]) -> Result<(), StoreError> {
        self.inner.concatenate(partials).await
    }

    async fn add_final(&mut self, final_id: &str) -> Result<(), StoreError> {
        self.inner.add_final(final_id).await
    }
}
