//! Data stores: the core trait, its optional extensions, and the stores
//! that ship with the crate.
//!
//! A store implements [`DataStore`] and any extension it can do, then
//! offers `use_in(&mut composer)` to register all of them with a
//! [`StoreComposer`](crate::StoreComposer).

#[cfg(feature = "file-store")]
mod file;
mod memory;

#[cfg(feature = "file-store")]
pub use file::FileStore;
pub use memory::MemoryStore;

use async_trait::async_trait;
use tokio::io::AsyncRead;

use crate::body::UploadBody;
use crate::error::StoreError;
use crate::info::FileInfo;

/// A reader over an upload's bytes, from the first.
pub type UploadReader = Box<dyn AsyncRead + Send + Unpin>;

/// The core of every store: create uploads, write their data, describe them.
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
#[async_trait]
pub trait Terminater: Send + Sync + 'static {
    /// Deletes upload `id` and its bytes.
    async fn terminate(&self, id: &str) -> Result<(), StoreError>;
}

/// Told when an upload's last byte has arrived.
#[async_trait]
pub trait Finisher: Send + Sync + 'static {
    /// Finishes upload `id` (moving it into place, committing it, …).
    async fn finish_upload(&self, id: &str) -> Result<(), StoreError>;
}

/// Reading an upload's bytes back, for downloads.
#[async_trait]
pub trait GetReader: Send + Sync + 'static {
    /// A reader over the bytes of upload `id` received so far.
    async fn get_reader(&self, id: &str) -> Result<UploadReader, StoreError>;
}

/// The concatenation extension: making a final upload from partial ones.
#[async_trait]
pub trait Concater: Send + Sync + 'static {
    /// Fills the final upload `id` with the bytes of `partials`, in order.
    async fn concat_uploads(&self, id: &str, partials: &[FileInfo]) -> Result<(), StoreError>;
}

/// The creation-defer-length extension: setting a length after creation.
#[async_trait]
pub trait LengthDeferrer: Send + Sync + 'static {
    /// Fixes the length of upload `id`, created without one.
    async fn declare_length(&self, id: &str, length: u64) -> Result<(), StoreError>;
}
