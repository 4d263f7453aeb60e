//! Upload ids: making them, and checking the ones that come from URLs.

use std::fmt;
use std::sync::Arc;

/// The longest id accepted from a URL: an object store's ids carry its
/// own multipart upload id (`<object>+<multipart upload>`), which S3 may
/// make long.
pub const MAX_ID_LEN: usize = 256;

/// Whether `id` is safe to hand to a store: 1 to 256 characters of ASCII
/// letters, digits, `-`, `_`, `+`, `.` and `~`, not starting with `.`.
///
/// No valid id can name a path outside a folder (there is no `/`, and no
/// `.` or `..` alone). Stores that keep files named after ids check more
/// ([`is_plain_id`]).
///
/// ```
/// use tower_tus::id::is_valid_id;
///
/// assert!(is_valid_id("0f3c1a2b"));
/// assert!(is_valid_id("0f3c1a2b+2~Ud.Xq_x-9"));
/// assert!(!is_valid_id(".."));
/// assert!(!is_valid_id(".hidden"));
/// assert!(!is_valid_id("a%2Fb"));
/// assert!(!is_valid_id("a/b"));
/// ```
pub fn is_valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && !id.starts_with('.')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_+.~".contains(&b))
}

/// Whether `id` is a valid id of ASCII letters, digits, `-` and `_` alone,
/// at most 128 of them: what the file store accepts, so that no id can
/// collide with another upload's `<id>.info`.
///
/// ```
/// use tower_tus::id::is_plain_id;
///
/// assert!(is_plain_id("0f3c1a2b"));
/// assert!(!is_plain_id("a.info"));
/// assert!(!is_plain_id("a+b"));
/// ```
pub fn is_plain_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A fresh id of 128 random bits, as 32 lowercase hex digits.
///
/// ```
/// let id = tower_tus::id::random_id();
/// assert_eq!(id.len(), 32);
/// assert!(tower_tus::id::is_valid_id(&id));
/// ```
pub fn random_id() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the operating system's random source failed");
    let mut out = String::with_capacity(32);
    for b in bytes {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// Makes the id of each new upload.
///
/// The ids it makes must pass [`is_valid_id`]; a request that gets an
/// invalid one is answered with 500.
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use tower_tus::id::MakeUploadId;
///
/// let counter = AtomicU64::new(0);
/// let make = MakeUploadId::new(move || format!("upload-{}", counter.fetch_add(1, Ordering::Relaxed)));
/// assert_eq!(make.make(), "upload-0");
/// ```
#[derive(Clone)]
pub struct MakeUploadId(Arc<dyn Fn() -> String + Send + Sync>);

impl MakeUploadId {
    /// Wraps a function.
    pub fn new(f: impl Fn() -> String + Send + Sync + 'static) -> Self {
        MakeUploadId(Arc::new(f))
    }

    /// Makes one id.
    pub fn make(&self) -> String {
        (self.0)()
    }
}

impl Default for MakeUploadId {
    fn default() -> Self {
        MakeUploadId::new(random_id)
    }
}

impl fmt::Debug for MakeUploadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MakeUploadId(..)")
    }
}
