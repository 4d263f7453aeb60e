//! What a store knows about one upload.

use std::collections::BTreeMap;
use std::time::SystemTime;

use crate::metadata::Metadata;

/// The state of one upload, as stores keep it.
///
/// ```
/// use tower_tus::FileInfo;
///
/// let info = FileInfo::new("abc").with_size(Some(10));
/// assert_eq!(info.id, "abc");
/// assert!(!info.is_complete());
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct FileInfo {
    /// The upload's id, the last segment of its URL.
    pub id: String,
    /// The total length in bytes; `None` while deferred.
    pub size: Option<u64>,
    /// How many bytes have been received.
    pub offset: u64,
    /// The metadata the client sent at creation.
    pub metadata: Metadata,
    /// A partial upload, to be concatenated (`Upload-Concat: partial`).
    pub is_partial: bool,
    /// A final upload made of partial ones (`Upload-Concat: final;…`).
    pub is_final: bool,
    /// The ids of the partial uploads a final upload is made of, in order.
    pub partial_uploads: Vec<String>,
    /// When the upload was created.
    pub created_at: Option<SystemTime>,
    /// When bytes last arrived (or the upload was created).
    pub updated_at: Option<SystemTime>,
    /// For a partial upload: the final uploads made from it.
    pub used_by: Vec<String>,
    /// Every byte arrived and the upload was finished (pre-finish allowed
    /// it, the store completed it). Persisted: set once, never unset.
    pub finished: bool,
    /// Where the bytes live: store-specific keys such as `Type` and `Path`.
    pub storage: BTreeMap<String, String>,
}

impl FileInfo {
    /// A new, empty upload with the given id.
    pub fn new(id: impl Into<String>) -> Self {
        FileInfo {
            id: id.into(),
            size: None,
            offset: 0,
            metadata: Metadata::new(),
            is_partial: false,
            is_final: false,
            partial_uploads: Vec::new(),
            created_at: None,
            updated_at: None,
            used_by: Vec::new(),
            finished: false,
            storage: BTreeMap::new(),
        }
    }

    /// Sets the total length (`None` defers it).
    #[must_use]
    pub fn with_size(mut self, size: Option<u64>) -> Self {
        self.size = size;
        self
    }

    /// Sets the metadata.
    #[must_use]
    pub fn with_metadata(mut self, metadata: Metadata) -> Self {
        self.metadata = metadata;
        self
    }

    /// Whether every byte has arrived.
    pub fn is_complete(&self) -> bool {
        self.size == Some(self.offset)
    }
}
