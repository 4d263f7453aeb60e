//! Errors, and the one place where they become tus status codes.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};

use crate::body::HandlerBody;
use crate::hooks::HookResponse;
use crate::metadata::MetadataError;

/// A boxed error, as bodies and stores report them.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What a data store, locker or extension can fail with.
///
/// ```
/// use http::StatusCode;
/// use tower_tus::{StoreError, TusError};
///
/// assert_eq!(TusError::from(StoreError::NotFound).status(), StatusCode::NOT_FOUND);
/// assert_eq!(TusError::from(StoreError::InsufficientStorage).status(), StatusCode::INSUFFICIENT_STORAGE);
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// No upload with that id exists (or it was terminated).
    #[error("upload not found")]
    NotFound,
    /// The upload exists but its stored state cannot be used.
    #[error("upload state is corrupt: {0}")]
    Corrupt(String),
    /// The operation is not possible for this upload in its current state.
    #[error("{0}")]
    Conflict(String),
    /// The upload is bigger than the store can ever hold.
    #[error("upload of {size} bytes exceeds the storage limit of {limit} bytes")]
    TooLarge {
        /// The upload's size.
        size: u64,
        /// The store's limit.
        limit: u64,
    },
    /// The store is full and will not make room.
    #[error("not enough storage left for this upload")]
    InsufficientStorage,
    /// An I/O failure of the backing storage.
    #[error("storage i/o failed: {0}")]
    Io(#[from] std::io::Error),
    /// The backend cannot be reached or is throttling: try again later
    /// (answered 503, with `Retry-After` when known).
    #[error("storage unavailable: {message}")]
    Unavailable {
        /// Why.
        message: String,
        /// When to try again.
        retry_after: Option<std::time::Duration>,
    },
    /// The upload's lock was lost while working under it.
    #[error("the upload's lock was lost")]
    LockLost,
    /// The upload changed since it was opened in a way that forbids the
    /// operation; open it again and re-check.
    #[error("upload changed meanwhile: {0}")]
    PreconditionFailed(String),
    /// The store does not offer this operation.
    #[error("the store does not support {0}")]
    Unsupported(&'static str),
    /// Any other failure of the backend.
    #[error("storage failed: {0}")]
    Other(BoxError),
}

/// Everything a tus request can fail with.
///
/// Each variant maps to one status code in [`TusError::status`]; the
/// response body is the variant's message as plain text.
///
/// ```
/// use tower_tus::TusError;
/// use http::StatusCode;
///
/// assert_eq!(TusError::UnsupportedVersion.status(), StatusCode::PRECONDITION_FAILED);
/// assert_eq!(TusError::OffsetMismatch { client: 1, server: 0 }.status(), StatusCode::CONFLICT);
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TusError {
    /// `Tus-Resumable` is missing or names another protocol version.
    #[error("unsupported tus version: this server speaks 1.0.0")]
    UnsupportedVersion,
    /// The request's `Origin` is not allowed by the CORS configuration.
    #[error("origin not allowed")]
    OriginNotAllowed,
    /// No upload at this URL.
    #[error("upload not found")]
    NotFound,
    /// The store serves downloads of finished uploads only, and this one
    /// is not finished yet.
    #[error("the upload is not finished: its bytes can be downloaded once it is")]
    NotFinished,
    /// The method is not served at this URL.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// `Upload-Length` is missing or not a non-negative integer.
    #[error("missing or invalid Upload-Length header")]
    InvalidUploadLength,
    /// `Upload-Metadata` is longer than the server accepts.
    #[error("Upload-Metadata is longer than {max} bytes")]
    MetadataTooLarge {
        /// The longest accepted, in bytes.
        max: usize,
    },
    /// A header the protocol reads once came more than once (RFC 9110:
    /// its combined value is not a valid one).
    #[error("the {0} header may appear only once")]
    DuplicateHeader(&'static str),
    /// `Upload-Offset` is missing or not a non-negative integer.
    #[error("missing or invalid Upload-Offset header")]
    InvalidUploadOffset,
    /// `Upload-Defer-Length` has a value other than `1`, or comes with `Upload-Length`.
    #[error("invalid Upload-Defer-Length header")]
    InvalidDeferLength,
    /// `Upload-Metadata` does not follow the spec's grammar.
    #[error("invalid Upload-Metadata header: {0}")]
    InvalidMetadata(#[from] MetadataError),
    /// `Upload-Offset` does not match the upload's current offset.
    #[error("Upload-Offset {client} does not match the upload's offset {server}")]
    OffsetMismatch {
        /// The offset the client sent.
        client: u64,
        /// The offset the server holds.
        server: u64,
    },
    /// A PATCH (or a POST with data) with the wrong `Content-Type`.
    #[error("Content-Type must be application/offset+octet-stream")]
    InvalidContentType,
    /// The declared upload length is over the configured maximum.
    #[error("upload length exceeds the maximum size of {max} bytes")]
    MaxSizeExceeded {
        /// The configured maximum.
        max: u64,
    },
    /// The request body carries more bytes than the upload still accepts.
    #[error("request body exceeds the upload's remaining length")]
    BodyTooLarge,
    /// The request asks for a tus extension this server does not offer.
    #[error("the {0} extension is not supported")]
    ExtensionNotSupported(&'static str),
    /// The upload cannot be modified (a final concatenation, for example).
    #[error("upload cannot be modified")]
    Forbidden,
    /// The request was stopped because a newer request took over the upload.
    #[error("upload interrupted by another request for this upload")]
    Interrupted,
    /// The request body could not be read to its end (the client went away).
    #[error("request body could not be read: {0}")]
    BodyRead(String),
    /// The upload has expired.
    #[error("upload has expired")]
    Gone,
    /// `Upload-Checksum` is malformed or names an unsupported algorithm.
    #[error("invalid Upload-Checksum: {0}")]
    InvalidChecksum(&'static str),
    /// The chunk's checksum did not match; the chunk was discarded.
    #[error("checksum mismatch: the chunk was discarded")]
    ChecksumMismatch,
    /// `Upload-Concat` is malformed or names uploads that cannot be concatenated.
    #[error("invalid Upload-Concat: {0}")]
    InvalidConcat(String),
    /// `Upload-Length` on a PATCH differs from the length already set.
    #[error("Upload-Length cannot change once set")]
    LengthChange,
    /// The request body sent nothing for longer than the network timeout.
    #[error("no data received within the network timeout")]
    Stalled,
    /// A hook refused the request with this response.
    #[error("refused by the {hook} hook")]
    HookRejected {
        /// The hook.
        hook: &'static str,
        /// What it answers.
        response: Box<HookResponse>,
    },
    /// A post-receive hook stopped the upload, which was terminated.
    #[error("upload stopped by the server")]
    UploadStopped(Box<HookResponse>),
    /// A hook failed to run or to answer.
    #[error("the {hook} hook failed: {message}")]
    HookFailed {
        /// The hook.
        hook: &'static str,
        /// Why.
        message: String,
    },
    /// The upload's lock could not be acquired in time (423, which clients retry).
    #[error("timed out waiting for the upload's lock")]
    LockTimeout,
    /// The upload is locked by another request right now.
    #[error("the upload is locked by another request")]
    Locked,
    /// The upload's lock was lost midway; nothing more was written under it.
    #[error("the upload's lock was lost; try again")]
    LockLost,
    /// The configured upload-id maker produced an id that is not safe to use.
    #[error("the upload id maker produced an invalid id")]
    InvalidGeneratedId,
    /// The data store failed.
    #[error("data store failed: {0}")]
    Store(StoreError),
}

impl From<StoreError> for TusError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => TusError::NotFound,
            other => TusError::Store(other),
        }
    }
}

impl TusError {
    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            TusError::UnsupportedVersion => StatusCode::PRECONDITION_FAILED,
            TusError::OriginNotAllowed | TusError::Forbidden => StatusCode::FORBIDDEN,
            TusError::NotFound => StatusCode::NOT_FOUND,
            TusError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            TusError::NotFinished => StatusCode::BAD_REQUEST,
            TusError::InvalidUploadLength
            | TusError::InvalidUploadOffset
            | TusError::InvalidDeferLength
            | TusError::InvalidMetadata(_)
            | TusError::ExtensionNotSupported(_)
            | TusError::Interrupted
            | TusError::BodyRead(_)
            | TusError::InvalidChecksum(_)
            | TusError::InvalidConcat(_)
            | TusError::DuplicateHeader(_)
            | TusError::MetadataTooLarge { .. }
            | TusError::LengthChange => StatusCode::BAD_REQUEST,
            TusError::Gone => StatusCode::GONE,
            // 5xx: clients retry those, and a stalled client resumes.
            TusError::Stalled => StatusCode::INTERNAL_SERVER_ERROR,
            TusError::LockTimeout | TusError::Locked => StatusCode::LOCKED,
            TusError::LockLost
            | TusError::Store(StoreError::LockLost)
            | TusError::Store(StoreError::Unavailable { .. }) => StatusCode::SERVICE_UNAVAILABLE,
            TusError::Store(StoreError::PreconditionFailed(_)) => StatusCode::CONFLICT,
            TusError::Store(StoreError::Unsupported(_)) => StatusCode::NOT_IMPLEMENTED,
            TusError::HookRejected { hook, response } => {
                response.status.unwrap_or(if *hook == "pre-create" {
                    StatusCode::BAD_REQUEST
                } else {
                    StatusCode::FORBIDDEN
                })
            }
            TusError::UploadStopped(response) => response.status.unwrap_or(StatusCode::BAD_REQUEST),
            TusError::HookFailed { .. } => StatusCode::INTERNAL_SERVER_ERROR,
            TusError::ChecksumMismatch => {
                StatusCode::from_u16(460).expect("460 is a valid status code")
            }
            TusError::Store(StoreError::TooLarge { .. }) => StatusCode::PAYLOAD_TOO_LARGE,
            TusError::Store(StoreError::InsufficientStorage) => StatusCode::INSUFFICIENT_STORAGE,
            TusError::OffsetMismatch { .. } => StatusCode::CONFLICT,
            TusError::InvalidContentType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            TusError::MaxSizeExceeded { .. } | TusError::BodyTooLarge => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            TusError::Store(StoreError::Conflict(_)) => StatusCode::CONFLICT,
            TusError::InvalidGeneratedId | TusError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A short, stable name for the error, as tusd's metrics label it.
    pub fn code(&self) -> &'static str {
        match self {
            TusError::UnsupportedVersion => "ERR_UNSUPPORTED_VERSION",
            TusError::OriginNotAllowed => "ERR_ORIGIN_NOT_ALLOWED",
            TusError::NotFound => "ERR_UPLOAD_NOT_FOUND",
            TusError::MethodNotAllowed => "ERR_METHOD_NOT_ALLOWED",
            TusError::NotFinished => "ERR_INCOMPLETE_UPLOAD",
            TusError::InvalidUploadLength => "ERR_INVALID_UPLOAD_LENGTH",
            TusError::InvalidUploadOffset => "ERR_INVALID_OFFSET",
            TusError::InvalidDeferLength => "ERR_INVALID_UPLOAD_LENGTH_DEFER",
            TusError::InvalidMetadata(_) => "ERR_INVALID_METADATA",
            TusError::OffsetMismatch { .. } => "ERR_MISMATCHED_OFFSET",
            TusError::InvalidContentType => "ERR_INVALID_CONTENT_TYPE",
            TusError::DuplicateHeader(_) => "ERR_DUPLICATE_HEADER",
            TusError::MetadataTooLarge { .. } => "ERR_METADATA_TOO_LARGE",
            TusError::MaxSizeExceeded { .. } => "ERR_MAX_SIZE_EXCEEDED",
            TusError::BodyTooLarge => "ERR_UPLOAD_SIZE_EXCEEDED",
            TusError::ExtensionNotSupported(_) => "ERR_NOT_IMPLEMENTED",
            TusError::Forbidden => "ERR_MODIFY_FINAL",
            TusError::Interrupted => "ERR_UPLOAD_INTERRUPTED",
            TusError::BodyRead(_) => "ERR_READ_BODY",
            TusError::Gone => "ERR_UPLOAD_EXPIRED",
            TusError::InvalidChecksum(_) => "ERR_INVALID_CHECKSUM",
            TusError::ChecksumMismatch => "ERR_CHECKSUM_MISMATCH",
            TusError::InvalidConcat(_) => "ERR_INVALID_CONCAT",
            TusError::LengthChange => "ERR_INVALID_UPLOAD_LENGTH_CHANGE",
            TusError::Stalled => "ERR_READ_TIMEOUT",
            TusError::HookRejected { .. } => "ERR_HOOK_REJECTED",
            TusError::UploadStopped(_) => "ERR_UPLOAD_STOPPED",
            TusError::HookFailed { .. } => "ERR_HOOK_FAILED",
            TusError::LockTimeout => "ERR_LOCK_TIMEOUT",
            TusError::Locked => "ERR_UPLOAD_LOCKED",
            TusError::LockLost | TusError::Store(StoreError::LockLost) => "ERR_LOCK_LOST",
            TusError::Store(StoreError::Unavailable { .. }) => "ERR_STORE_UNAVAILABLE",
            TusError::Store(StoreError::PreconditionFailed(_)) => "ERR_UPLOAD_CHANGED",
            TusError::Store(StoreError::Unsupported(_)) => "ERR_NOT_IMPLEMENTED",
            TusError::InvalidGeneratedId => "ERR_INVALID_ID",
            TusError::Store(StoreError::TooLarge { .. }) => "ERR_STORE_LIMIT",
            TusError::Store(StoreError::InsufficientStorage) => "ERR_INSUFFICIENT_STORAGE",
            TusError::Store(_) => "ERR_STORE",
        }
    }

    /// The plain-text response for this error, with `Tus-Resumable` set.
    pub fn into_response(self) -> Response<HandlerBody> {
        let status = self.status();
        let hook = match &self {
            TusError::HookRejected { response, .. } | TusError::UploadStopped(response) => {
                Some((**response).clone())
            }
            _ => None,
        };
        let body = match hook.as_ref().and_then(|h| h.body.clone()) {
            Some(body) => body,
            None => Bytes::from(format!("{self}\n")),
        };
        let mut res = Response::new(HandlerBody::full(body));
        *res.status_mut() = status;
        if let Some(hook) = hook {
            res.headers_mut().extend(hook.headers);
        }
        let headers = res.headers_mut();
        headers
            .entry(header::CONTENT_TYPE)
            .or_insert(HeaderValue::from_static("text/plain; charset=utf-8"));
        headers.insert(
            crate::headers::TUS_RESUMABLE,
            crate::headers::TUS_VERSION_VALUE,
        );
        if let TusError::Store(StoreError::Unavailable {
            retry_after: Some(after),
            ..
        }) = &self
        {
            headers.insert(
                header::RETRY_AFTER,
                HeaderValue::from(after.as_secs().max(1)),
            );
        }
        if status == StatusCode::PRECONDITION_FAILED {
            headers.insert(
                crate::headers::TUS_VERSION,
                crate::headers::TUS_VERSION_VALUE,
            );
        }
        res
    }
}
