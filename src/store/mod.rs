//! Data stores: the core trait, its optional extensions, and the stores
//! that ship with the crate.
//!
//! A store implements [`DataStore`] and any extension it can do, then
//! offers `use_in(&mut composer)` to register all of them with a
//! [`StoreComposer`](crate::StoreComposer).

#[cfg(feature = "file-store")]
mod file;
mod limited;
mod memory;

#[cfg(feature = "file-store")]
pub use file::FileStore;
pub use limited::{LimitPolicy, LimitedStore};
pub use memory::MemoryStore;

use async_trait::async_trait;
use tokio::io::AsyncRead;

use crate::body::UploadBody;
use crate::error::StoreError;
use crate::info::FileInfo;

/// A reader over an upload's bytes, from the first.
pub type UploadReader = Box<dyn AsyncRead + Send + Unpin>;

/// The core of every store: create uploads, write their data, describe them.
///
/// A store wrapping another one, here to log each write:
///
/// ```
/// use async_trait::async_trait;
/// use tower_tus::{DataStore, FileInfo, StoreComposer, StoreError, body::UploadBody, store::MemoryStore};
///
/// struct Logged(MemoryStore);
///
/// #[async_trait]
/// impl DataStore for Logged {
///     async fn new_upload(&self, info: FileInfo) -> Result<FileInfo, StoreError> {
///         self.0.new_upload(info).await
///     }
///     async fn write_chunk(&self, id: &str, offset: u64, src: &mut UploadBody) -> Result<u64, StoreError> {
///         let written = self.0.write_chunk(id, offset, src).await?;
///         println!("{id}: {written} bytes at {offset}");
///         Ok(written)
///     }
///     async fn get_info(&self, id: &str) -> Result<FileInfo, StoreError> {
///         self.0.get_info(id).await
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
    /// valid) and returns what was stored, `storage` filled in.
    async fn new_upload(&self, info: FileInfo) -> Result<FileInfo, StoreError>;

    /// Appends the bytes of `src` to upload `id`, whose current offset is
    /// `offset`, and returns how many were written.
    ///
    /// Implementations stream: they write chunks as they arrive and never
    /// gather the whole body. When `src` ends early (the client went away,
    /// or another request took the lock), every byte it yielded is kept and
    /// counted.
    async fn write_chunk(
        &self,
        id: &str,
        offset: u64,
        src: &mut UploadBody,
    ) -> Result<u64, StoreError>;

    /// Describes upload `id`, with its current offset.
    async fn get_info(&self, id: &str) -> Result<FileInfo, StoreError>;
}

/// The termination extension: deleting uploads.
///
/// ```
/// use tower_tus::{StoreComposer, store::MemoryStore};
///
/// let mut composer = StoreComposer::new();
/// let store = MemoryStore::new();
/// composer.use_core(store.clone());
/// composer.use_terminater(store); // DELETE is served and `termination` advertised
/// assert!(composer.capabilities().terminater);
/// ```
#[async_trait]
pub trait Terminater: Send + Sync + 'static {
    /// Deletes upload `id` and its bytes.
    async fn terminate(&self, id: &str) -> Result<(), StoreError>;
}

/// Told when an upload's last byte has arrived.
///
/// ```
/// use async_trait::async_trait;
/// use tower_tus::{Finisher, StoreComposer, StoreError};
///
/// struct Announce;
///
/// #[async_trait]
/// impl Finisher for Announce {
///     async fn finish_upload(&self, id: &str) -> Result<(), StoreError> {
///         println!("{id} is complete");
///         Ok(())
///     }
/// }
///
/// let mut composer = StoreComposer::new();
/// composer.use_finisher(Announce);
/// assert!(composer.capabilities().finisher);
/// ```
#[async_trait]
pub trait Finisher: Send + Sync + 'static {
    /// Finishes upload `id` (moving it into place, committing it, …).
    async fn finish_upload(&self, id: &str) -> Result<(), StoreError>;
}

/// Reading an upload's bytes back, for downloads.
///
/// Both `FileStore` and `MemoryStore` read an unfinished upload as far as it
/// has arrived.
///
/// ```
/// use tokio::io::AsyncReadExt;
/// use tower_tus::{DataStore, FileInfo, GetReader, store::MemoryStore};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let store = MemoryStore::new();
/// store.new_upload(FileInfo::new("a").with_size(Some(0))).await.unwrap();
/// let mut bytes = Vec::new();
/// store.get_reader("a", 0).await.unwrap().read_to_end(&mut bytes).await.unwrap();
/// assert!(bytes.is_empty());
/// # }
/// ```
#[async_trait]
pub trait GetReader: Send + Sync + 'static {
    /// A reader over the bytes of upload `id` received so far, from byte `start` on.
    async fn get_reader(&self, id: &str, start: u64) -> Result<UploadReader, StoreError>;
}

/// The concatenation extension: making a final upload from partial ones.
///
/// Registered with [`StoreComposer::use_concater`](crate::StoreComposer::use_concater).
///
/// ```
/// use async_trait::async_trait;
/// use tower_tus::{Concater, FileInfo, StoreError};
///
/// struct NoConcat;
///
/// #[async_trait]
/// impl Concater for NoConcat {
///     async fn concat_uploads(&self, _id: &str, _partials: &[FileInfo]) -> Result<(), StoreError> {
///         Err(StoreError::Conflict("not here".into()))
///     }
///     async fn add_final(&self, _partial_id: &str, _final_id: &str) -> Result<(), StoreError> {
///         Ok(())
///     }
/// }
/// ```
#[async_trait]
pub trait Concater: Send + Sync + 'static {
    /// Fills the final upload `id` with the bytes of `partials`, in order.
    async fn concat_uploads(&self, id: &str, partials: &[FileInfo]) -> Result<(), StoreError>;

    /// Records that the final upload `final_id` is made from the partial
    /// upload `partial_id` (kept in the partial's [`FileInfo::used_by`]), so
    /// the final can complete when the partial does.
    async fn add_final(&self, partial_id: &str, final_id: &str) -> Result<(), StoreError>;
}

/// The creation-defer-length extension: setting a length after creation.
///
/// Registered with [`StoreComposer::use_length_deferrer`](crate::StoreComposer::use_length_deferrer).
///
/// ```
/// use async_trait::async_trait;
/// use tower_tus::{LengthDeferrer, StoreError};
///
/// struct Fixed;
///
/// #[async_trait]
/// impl LengthDeferrer for Fixed {
///     async fn declare_length(&self, _id: &str, _length: u64) -> Result<(), StoreError> {
///         Ok(())
///     }
/// }
/// ```
#[async_trait]
pub trait LengthDeferrer: Send + Sync + 'static {
    /// Fixes the length of upload `id`, created without one.
    async fn declare_length(&self, id: &str, length: u64) -> Result<(), StoreError>;
}

/// Cutting an upload back to an earlier offset: how a chunk that failed its
/// checksum vanishes (the checksum extension).
///
/// ```
/// use tower_tus::{StoreComposer, store::MemoryStore};
///
/// let mut composer = StoreComposer::new();
/// MemoryStore::new().use_in(&mut composer);
/// assert!(composer.capabilities().truncater);
/// ```
#[async_trait]
pub trait Truncater: Send + Sync + 'static {
    /// Drops every byte of upload `id` from `offset` on.
    async fn truncate(&self, id: &str, offset: u64) -> Result<(), StoreError>;
}

/// Listing uploads: how expired ones are found and cleaned up.
///
/// ```
/// use tower_tus::{DataStore, FileInfo, Lister, store::MemoryStore};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let store = MemoryStore::new();
/// store.new_upload(FileInfo::new("a").with_size(Some(1))).await.unwrap();
/// assert_eq!(store.list_uploads().await.unwrap(), vec!["a".to_owned()]);
/// # }
/// ```
#[async_trait]
pub trait Lister: Send + Sync + 'static {
    /// The ids of every upload in the store.
    async fn list_uploads(&self) -> Result<Vec<String>, StoreError>;
}
