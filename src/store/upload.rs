use std::fmt;
use std::ops::Range;

use async_trait::async_trait;
use http::Uri;

use crate::body::{ContentBody, UploadBody};
use crate::error::StoreError;
use crate::info::FileInfo;

/// One optional ability of a store's uploads.
///
/// ```
/// use tower_tus::store::{DataStore, Extension, MemoryStore};
///
/// assert!(MemoryStore::new().extensions().contains(Extension::VerifiedWrites));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Extension {
    /// [`Upload::terminate`]: DELETE, expiry and eviction.
    Termination,
    /// [`Upload::concatenate`] and [`Upload::add_final`].
    Concatenation,
    /// [`Upload::declare_length`]: creation-defer-length.
    LengthDeferral,
    /// [`Upload::content`]: GET downloads.
    Content,
    /// [`Upload::content`] of finished uploads only (object stores, whose
    /// unfinished bytes cannot be read back): GET of an unfinished upload
    /// is refused.
    FinishedContent,
    /// [`DataStore::list_uploads`](super::DataStore::list_uploads): expiry and eviction.
    Listing,
    /// Staged writes for bodies that must be verified: the checksum extension.
    VerifiedWrites,
}

impl Extension {
    /// Every extension.
    pub const ALL: [Extension; 7] = [
        Extension::Termination,
        Extension::Concatenation,
        Extension::LengthDeferral,
        Extension::Content,
        Extension::FinishedContent,
        Extension::Listing,
        Extension::VerifiedWrites,
    ];

    fn bit(self) -> u8 {
        1 << Extension::ALL.iter().position(|e| *e == self).unwrap_or(0)
    }
}

/// A set of [`Extension`]s.
///
/// ```
/// use tower_tus::store::{Extension, Extensions};
///
/// let ext = Extensions::from([Extension::Termination, Extension::Content]);
/// assert!(ext.contains(Extension::Content));
/// assert!(!ext.contains(Extension::Listing));
/// assert!(Extensions::all().without(Extension::Listing).contains(Extension::Termination));
/// ```
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct Extensions(u8);

impl Extensions {
    /// No extension: the core only.
    pub fn none() -> Self {
        Extensions(0)
    }

    /// Every extension.
    pub fn all() -> Self {
        Extension::ALL.into()
    }

    /// Whether `ext` is in the set.
    pub fn contains(self, ext: Extension) -> bool {
        self.0 & ext.bit() != 0
    }

    /// The set with `ext`.
    #[must_use]
    pub fn with(self, ext: Extension) -> Self {
        Extensions(self.0 | ext.bit())
    }

    /// The set without `ext`.
    #[must_use]
    pub fn without(self, ext: Extension) -> Self {
        Extensions(self.0 & !ext.bit())
    }
}

impl<const N: usize> From<[Extension; N]> for Extensions {
    fn from(exts: [Extension; N]) -> Self {
        exts.into_iter().fold(Extensions::none(), Extensions::with)
    }
}

impl fmt::Debug for Extensions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set()
            .entries(Extension::ALL.iter().filter(|e| self.contains(**e)))
            .finish()
    }
}

/// How a store answers a download of a byte range.
///
/// ```
/// use tower_tus::body::ContentBody;
/// use tower_tus::store::Content;
///
/// let bytes = Content::Body(ContentBody::from_bytes("hello"));
/// let elsewhere = Content::Redirect("https://bucket.example/presigned".parse().unwrap());
/// # let _ = (bytes, elsewhere);
/// ```
#[non_exhaustive]
pub enum Content {
    /// The bytes, streamed.
    Body(ContentBody),
    /// Somewhere else to fetch them from (a presigned object-store URL).
    Redirect(Uri),
}

impl fmt::Debug for Content {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Content::Body(_) => f.write_str("Content::Body"),
            Content::Redirect(uri) => write!(f, "Content::Redirect({uri})"),
        }
    }
}

/// One upload, opened by a [`DataStore`](super::DataStore) for one request.
///
/// [`info`](Self::info) is the state loaded when the upload was opened,
/// kept current by this handle's own operations. A handle is used under
/// the upload's lock for anything that changes it.
///
/// Only [`info`](Self::info), [`write`](Self::write) and
/// [`finish`](Self::finish) are required; the rest answer
/// [`StoreError::Unsupported`] unless the store offers the matching
/// [`Extension`].
///
/// ```
/// use bytes::Bytes;
/// use http_body_util::Full;
/// use tower_tus::body::UploadBody;
/// use tower_tus::store::{DataStore, MemoryStore};
/// use tower_tus::FileInfo;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let store = MemoryStore::new();
/// let mut upload = store.new_upload(FileInfo::new("a").with_size(Some(5))).await.unwrap();
/// let mut body = UploadBody::new(Full::new(Bytes::from_static(b"hello")), 5);
/// assert_eq!(upload.write(&mut body).await.unwrap(), 5); // the durable offset
/// upload.finish().await.unwrap();
/// assert!(store.get_upload("a").await.unwrap().info().finished);
/// # }
/// ```
#[async_trait]
pub trait Upload: Send + Sync {
    /// The upload's state.
    fn info(&self) -> &FileInfo;

    /// Appends the bytes of `src` at `info().offset` and returns the
    /// durable offset: what the store will report after a crash and on the
    /// next open.
    ///
    /// Implementations stream: they write chunks as they arrive and never
    /// gather the whole body. When `src` ends early (the client went away,
    /// another request took the lock), every byte it yielded is kept.
    ///
    /// When [`src.needs_verification()`](UploadBody::needs_verification),
    /// the bytes are staged and become part of the upload only if
    /// [`src.verify()`](UploadBody::verify) succeeds once the body has ended;
    /// otherwise, and on any error, they vanish and the offset stays.
    async fn write(&mut self, src: &mut UploadBody) -> Result<u64, StoreError>;

    /// Persists that the upload is finished: every byte arrived and the
    /// handler's pre-finish checks passed. Idempotent.
    async fn finish(&mut self) -> Result<(), StoreError>;

    /// The bytes in `range` (within what arrived).
    async fn content(&self, range: Range<u64>) -> Result<Content, StoreError> {
        let _ = range;
        Err(StoreError::Unsupported("downloads"))
    }

    /// Deletes the upload and its bytes.
    ///
    /// Fails with [`StoreError::PreconditionFailed`] when the upload's
    /// [`used_by`](FileInfo::used_by) changed since it was opened: a final
    /// upload started to depend on it.
    async fn terminate(&mut self) -> Result<(), StoreError> {
        Err(StoreError::Unsupported("termination"))
    }

    /// Fixes the length of an upload created without one.
    async fn declare_length(&mut self, length: u64) -> Result<(), StoreError> {
        let _ = length;
        Err(StoreError::Unsupported("creation-defer-length"))
    }

    /// Fills this final upload with the bytes of `partials`, in order: all
    /// of them or none.
    async fn concatenate(&mut self, partials: &[FileInfo]) -> Result<(), StoreError> {
        let _ = partials;
        Err(StoreError::Unsupported("concatenation"))
    }

    /// Records in this partial upload's [`used_by`](FileInfo::used_by) that
    /// final upload `final_id` is made from it. Safe against concurrent
    /// callers on the same upload.
    async fn add_final(&mut self, final_id: &str) -> Result<(), StoreError> {
        let _ = final_id;
        Err(StoreError::Unsupported("concatenation"))
    }
}

impl fmt::Debug for dyn Upload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Upload").field(&self.info().id).finish()
    }
}
