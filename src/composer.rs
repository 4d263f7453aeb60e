//! Joining a core store with optional extensions.

use std::fmt;
use std::sync::Arc;

use crate::lock::Locker;
use crate::store::{
    Concater, DataStore, Finisher, GetReader, LengthDeferrer, Lister, Terminater, Truncater,
};

/// A core [`DataStore`] and the extensions that go with it, possibly from
/// different stores (tusd's composer).
///
/// What the handler offers follows from what is composed: the
/// `Tus-Extension` header lists only what the composed stores can do.
///
/// ```
/// use tower_tus::{StoreComposer, lock::MemoryLocker, store::MemoryStore};
///
/// let mut composer = StoreComposer::new();
/// MemoryStore::new().use_in(&mut composer);
/// MemoryLocker::new().use_in(&mut composer);
/// assert_eq!(
///     composer.capabilities().to_string(),
///     "Core: ✓ Terminater: ✓ Finisher: ✗ Locker: ✓ GetReader: ✓ Concater: ✓ LengthDeferrer: ✓ Truncater: ✓ Lister: ✓"
/// );
/// ```
#[derive(Clone, Default)]
pub struct StoreComposer {
    pub(crate) core: Option<Arc<dyn DataStore>>,
    pub(crate) terminater: Option<Arc<dyn Terminater>>,
    pub(crate) finisher: Option<Arc<dyn Finisher>>,
    pub(crate) locker: Option<Arc<dyn Locker>>,
    pub(crate) get_reader: Option<Arc<dyn GetReader>>,
    pub(crate) concater: Option<Arc<dyn Concater>>,
    pub(crate) length_deferrer: Option<Arc<dyn LengthDeferrer>>,
    pub(crate) truncater: Option<Arc<dyn Truncater>>,
    pub(crate) lister: Option<Arc<dyn Lister>>,
}

impl StoreComposer {
    /// A composer holding nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the core store.
    pub fn use_core(&mut self, store: impl DataStore) {
        self.core = Some(Arc::new(store));
    }

    /// Sets the termination extension.
    pub fn use_terminater(&mut self, store: impl Terminater) {
        self.terminater = Some(Arc::new(store));
    }

    /// Sets the finisher, told when an upload completes.
    pub fn use_finisher(&mut self, store: impl Finisher) {
        self.finisher = Some(Arc::new(store));
    }

    /// Sets the locker.
    pub fn use_locker(&mut self, locker: impl Locker) {
        self.locker = Some(Arc::new(locker));
    }

    /// Sets the download reader.
    pub fn use_get_reader(&mut self, store: impl GetReader) {
        self.get_reader = Some(Arc::new(store));
    }

    /// Sets the concatenation extension.
    pub fn use_concater(&mut self, store: impl Concater) {
        self.concater = Some(Arc::new(store));
    }

    /// Sets the creation-defer-length extension.
    pub fn use_length_deferrer(&mut self, store: impl LengthDeferrer) {
        self.length_deferrer = Some(Arc::new(store));
    }

    /// Sets the truncater, which lets chunks failing their checksum vanish.
    pub fn use_truncater(&mut self, store: impl Truncater) {
        self.truncater = Some(Arc::new(store));
    }

    /// Sets the lister, which lets expired uploads be found and cleaned up.
    pub fn use_lister(&mut self, store: impl Lister) {
        self.lister = Some(Arc::new(store));
    }

    /// What this composer holds.
    pub fn capabilities(&self) -> Capabilities {
        Capabilities {
            core: self.core.is_some(),
            terminater: self.terminater.is_some(),
            finisher: self.finisher.is_some(),
            locker: self.locker.is_some(),
            get_reader: self.get_reader.is_some(),
            concater: self.concater.is_some(),
            length_deferrer: self.length_deferrer.is_some(),
            truncater: self.truncater.is_some(),
            lister: self.lister.is_some(),
        }
    }
}

impl fmt::Debug for StoreComposer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("StoreComposer")
            .field(&self.capabilities())
            .finish()
    }
}

/// Which parts a [`StoreComposer`] holds.
///
/// ```
/// use tower_tus::StoreComposer;
///
/// assert!(!StoreComposer::new().capabilities().core);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Capabilities {
    /// A core store.
    pub core: bool,
    /// Termination.
    pub terminater: bool,
    /// A finisher.
    pub finisher: bool,
    /// A locker.
    pub locker: bool,
    /// Downloads.
    pub get_reader: bool,
    /// Concatenation.
    pub concater: bool,
    /// Deferred lengths.
    pub length_deferrer: bool,
    /// Truncation (for checksums).
    pub truncater: bool,
    /// Listing (for expiration).
    pub lister: bool,
}

impl fmt::Display for Capabilities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mark = |b: bool| if b { "✓" } else { "✗" };
        write!(
            f,
            "Core: {} Terminater: {} Finisher: {} Locker: {} GetReader: {} Concater: {} LengthDeferrer: {} Truncater: {} Lister: {}",
            mark(self.core),
            mark(self.terminater),
            mark(self.finisher),
            mark(self.locker),
            mark(self.get_reader),
            mark(self.concater),
            mark(self.length_deferrer),
            mark(self.truncater),
            mark(self.lister)
        )
    }
}
