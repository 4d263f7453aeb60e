//! Joining a core store with a locker.

use std::fmt;
use std::sync::Arc;

use crate::lock::Locker;
use crate::store::{DataStore, Extension};

/// A core [`DataStore`] and the [`Locker`] that goes with it (tusd's composer).
///
/// What the handler offers follows from what is composed: the
/// `Tus-Extension` header lists only what the core store's uploads can do
/// ([`DataStore::extensions`]). Stores and lockers register themselves
/// with their `use_in`.
///
/// ```
/// use tower_tus::{StoreComposer, lock::MemoryLocker, store::MemoryStore};
///
/// let mut composer = StoreComposer::new();
/// MemoryStore::new().use_in(&mut composer);
/// MemoryLocker::new().use_in(&mut composer);
/// assert_eq!(
///     composer.capabilities().to_string(),
///     "Core: ✓ Locker: ✓ Termination: ✓ Concatenation: ✓ LengthDeferral: ✓ Content: ✓ Listing: ✓ VerifiedWrites: ✓"
/// );
/// ```
#[derive(Clone, Default)]
pub struct StoreComposer {
    pub(crate) core: Option<Arc<dyn DataStore>>,
    pub(crate) locker: Option<Arc<dyn Locker>>,
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

    /// Sets the locker. Without one, the handler locks in memory, which
    /// holds within one process only.
    pub fn use_locker(&mut self, locker: impl Locker) {
        self.locker = Some(Arc::new(locker));
    }

    /// What this composer holds.
    pub fn capabilities(&self) -> Capabilities {
        let ext = self
            .core
            .as_ref()
            .map(|c| c.extensions())
            .unwrap_or_default();
        Capabilities {
            core: self.core.is_some(),
            locker: self.locker.is_some(),
            termination: ext.contains(Extension::Termination),
            concatenation: ext.contains(Extension::Concatenation),
            length_deferral: ext.contains(Extension::LengthDeferral),
            content: ext.contains(Extension::Content),
            listing: ext.contains(Extension::Listing),
            verified_writes: ext.contains(Extension::VerifiedWrites),
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

/// Which parts a [`StoreComposer`] holds, and what its core store can do.
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
    /// A locker.
    pub locker: bool,
    /// Termination.
    pub termination: bool,
    /// Concatenation.
    pub concatenation: bool,
    /// Deferred lengths.
    pub length_deferral: bool,
    /// Downloads.
    pub content: bool,
    /// Listing (for expiration and eviction).
    pub listing: bool,
    /// Verified writes (for checksums).
    pub verified_writes: bool,
}

impl fmt::Display for Capabilities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mark = |b: bool| if b { "✓" } else { "✗" };
        write!(
            f,
            "Core: {} Locker: {} Termination: {} Concatenation: {} LengthDeferral: {} Content: {} Listing: {} VerifiedWrites: {}",
            mark(self.core),
            mark(self.locker),
            mark(self.termination),
            mark(self.concatenation),
            mark(self.length_deferral),
            mark(self.content),
            mark(self.listing),
            mark(self.verified_writes),
        )
    }
}
