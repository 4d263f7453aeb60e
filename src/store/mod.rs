//! Data stores: the [`DataStore`] and [`Upload`] traits, and the stores that
//! ship with the crate.
//!
//! A store opens an upload once per request ([`DataStore::new_upload`],
//! [`DataStore::get_upload`]) and hands out an [`Upload`]: the upload's state
//! as loaded, and every operation on it. A remote store pays one round trip
//! for an upload's state, not one per step. What a store's uploads can do
//! beyond the core is said by [`DataStore::extensions`]; the handler offers
//! exactly that.
//!
//! The contracts every store keeps, checked by the conformance suite
//! (`tower_tus::testing`, feature `testing`):
//! - [`Upload::write`] streams and returns the *durable* offset: what the
//!   store reports after a crash (under its sync policy) and on the next open.
//!   A body that ends early keeps every byte it yielded.
//! - A body that must be verified ([`UploadBody::needs_verification`]) is
//!   staged: its bytes become part of the upload only once
//!   [`UploadBody::verify`] succeeds after the body ended whole. No read,
//!   concatenation or crash ever sees them before; a store error mid-chunk
//!   leaves the offset where it was.
//! - [`Upload::finish`] persists the finished state and is idempotent.
//! - [`Upload::concatenate`] is all or nothing: a final upload holds no
//!   bytes or all of them, and a retry after a crash starts over.

#[cfg(feature = "file-store")]
mod file;
mod limited;
mod memory;
#[cfg(feature = "s3")]
mod s3;
#[cfg(any(feature = "file-store", feature = "s3"))]
mod tusd_info;
mod upload;

#[cfg(feature = "file-store")]
pub use file::{FileStore, SyncPolicy};
pub use limited::{Evictor, LimitPolicy, LimitedStore};
pub use memory::MemoryStore;
#[cfg(feature = "s3")]
pub use s3::S3Store;
pub use upload::{Content, Extension, Extensions, Upload};

use std::sync::Arc;

use async_trait::async_trait;

use crate::error::StoreError;
use crate::info::FileInfo;

#[doc(no_inline)]
pub use crate::body::UploadBody;

/// The core of every store: create and open uploads.
///
/// A store wrapping another one, here to log each creation:
///
/// ```
/// use async_trait::async_trait;
/// use tower_tus::store::{DataStore, Extensions, MemoryStore, Upload};
/// use tower_tus::{FileInfo, StoreComposer, StoreError};
///
/// struct Logged(MemoryStore);
///
/// #[async_trait]
/// impl DataStore for Logged {
///     async fn new_upload(&self, info: FileInfo) -> Result<Box<dyn Upload>, StoreError> {
///         println!("creating {}", info.id);
///         self.0.new_upload(info).await
///     }
///     async fn get_upload(&self, id: &str) -> Result<Box<dyn Upload>, StoreError> {
///         self.0.get_upload(id).await
///     }
///     fn extensions(&self) -> Extensions {
///         self.0.extensions()
///     }
/// }
///
/// let mut composer = StoreComposer::new();
/// composer.use_core(Logged(MemoryStore::new()));
/// assert!(composer.capabilities().core);
/// ```
#[async_trait]
pub trait DataStore: Send + Sync + 'static {
    /// Creates the upload described by `info` (its id is already chosen and
    /// valid) and opens it, `storage` filled in.
    async fn new_upload(&self, info: FileInfo) -> Result<Box<dyn Upload>, StoreError>;

    /// Opens upload `id`, loading its state once.
    async fn get_upload(&self, id: &str) -> Result<Box<dyn Upload>, StoreError>;

    /// What this store's uploads can do beyond the core.
    fn extensions(&self) -> Extensions;

    /// The ids of every upload in the store (needs [`Extension::Listing`]).
    async fn list_uploads(&self) -> Result<Vec<String>, StoreError> {
        Err(StoreError::Unsupported("listing"))
    }

    /// Whether this store can join `partials`, in this order, into a final
    /// upload: asked before the final is created. A refusal,
    /// [`StoreError::Conflict`] with the reason, is answered 400 with it
    /// ([`S3Store`](crate::store::S3Store) needs every partial but the last
    /// at its minimum part size). Default: any partials.
    async fn check_concatenation(&self, partials: &[FileInfo]) -> Result<(), StoreError> {
        let _ = partials;
        Ok(())
    }

    /// Given the handler's way of evicting uploads, for stores that make
    /// room by evicting (a [`LimitedStore`]). Most stores ignore it.
    fn set_evictor(&self, evictor: Arc<dyn Evictor>) {
        let _ = evictor;
    }
}

#[async_trait]
impl<T: DataStore + ?Sized> DataStore for Arc<T> {
    async fn new_upload(&self, info: FileInfo) -> Result<Box<dyn Upload>, StoreError> {
        (**self).new_upload(info).await
    }
    async fn get_upload(&self, id: &str) -> Result<Box<dyn Upload>, StoreError> {
        (**self).get_upload(id).await
    }
    fn extensions(&self) -> Extensions {
        (**self).extensions()
    }
    async fn list_uploads(&self) -> Result<Vec<String>, StoreError> {
        (**self).list_uploads().await
    }
    async fn check_concatenation(&self, partials: &[FileInfo]) -> Result<(), StoreError> {
        (**self).check_concatenation(partials).await
    }
    fn set_evictor(&self, evictor: Arc<dyn Evictor>) {
        (**self).set_evictor(evictor)
    }
}
