//! Hooks: let the app allow, change or refuse what happens to uploads.
//!
//! Every method defaults to allowing. A hook that fails makes the request
//! fail with 500 and a clear message (pre-hooks), or is logged and counted
//! (post-hooks, which run after the response and never delay it).
//!
//! Per-upload authorization, which a tower auth layer cannot do because it
//! does not know whose upload a URL names, is a `pre_access` hook:
//!
//! ```
//! use async_trait::async_trait;
//! use http::StatusCode;
//! use tower_tus::hooks::{Decision, HookError, HookEvent, HookResponse, Hooks};
//!
//! struct OwnerOnly;
//!
//! #[async_trait]
//! impl Hooks for OwnerOnly {
//!     async fn pre_access(&self, event: &HookEvent) -> Result<Decision, HookError> {
//!         let owner = event.upload.metadata.get("owner");
//!         let user = event.request.headers.get("x-user").map(|v| v.as_bytes());
//!         if owner.is_some() && owner == user {
//!             Ok(Decision::Allow)
//!         } else {
//!             Ok(Decision::Reject(HookResponse::status(StatusCode::FORBIDDEN).with_body("not your upload\n")))
//!         }
//!     }
//! }
//! ```

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};

use crate::events::RequestDetails;
use crate::info::FileInfo;
use crate::metadata::Metadata;

/// The hooks, by name (as tusd names them).
///
/// ```
/// use tower_tus::hooks::HookName;
///
/// assert_eq!(HookName::from_name("pre-create"), Some(HookName::PreCreate));
/// assert_eq!(HookName::PostReceive.as_str(), "post-receive");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum HookName {
    /// Before an upload is created.
    PreCreate,
    /// After an upload was created.
    PostCreate,
    /// While bytes arrive (at most once per progress interval), and at the end of each PATCH.
    PostReceive,
    /// Before the response to the request that completed an upload.
    PreFinish,
    /// After an upload was completed.
    PostFinish,
    /// Before an upload is terminated.
    PreTerminate,
    /// After an upload was terminated.
    PostTerminate,
    /// Before any HEAD, PATCH, GET or DELETE on an existing upload.
    PreAccess,
}

impl HookName {
    /// Every hook.
    pub const ALL: [HookName; 8] = [
        HookName::PreCreate,
        HookName::PostCreate,
        HookName::PostReceive,
        HookName::PreFinish,
        HookName::PostFinish,
        HookName::PreTerminate,
        HookName::PostTerminate,
        HookName::PreAccess,
    ];

    /// `pre-create`, `post-receive`, …
    pub fn as_str(self) -> &'static str {
        match self {
            HookName::PreCreate => "pre-create",
            HookName::PostCreate => "post-create",
            HookName::PostReceive => "post-receive",
            HookName::PreFinish => "pre-finish",
            HookName::PostFinish => "post-finish",
            HookName::PreTerminate => "pre-terminate",
            HookName::PostTerminate => "post-terminate",
            HookName::PreAccess => "pre-access",
        }
    }

    /// The hook called `name`.
    pub fn from_name(name: &str) -> Option<HookName> {
        HookName::ALL.into_iter().find(|h| h.as_str() == name)
    }
}

/// What a hook is told.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct HookEvent {
    /// The hook being called.
    pub hook: HookName,
    /// The upload (for pre-create: what will be created, its id not yet chosen).
    pub upload: FileInfo,
    /// The request.
    pub request: Arc<RequestDetails>,
}

impl HookEvent {
    /// An event for `hook` about `upload`.
    pub fn new(hook: HookName, upload: FileInfo, request: Arc<RequestDetails>) -> Self {
        HookEvent {
            hook,
            upload,
            request,
        }
    }
}

/// A response, or parts of one, that a hook wants sent.
///
/// ```
/// use http::StatusCode;
/// use tower_tus::hooks::HookResponse;
///
/// let r = HookResponse::status(StatusCode::FORBIDDEN).with_header("x-reason", "quota").with_body("no\n");
/// assert_eq!(r.headers["x-reason"], "quota");
/// assert!(!r.is_empty());
/// ```
#[derive(Clone, Debug, Default)]
pub struct HookResponse {
    /// The status; the handler's own when `None`.
    pub status: Option<StatusCode>,
    /// Headers to add.
    pub headers: HeaderMap,
    /// The body; the handler's own when `None`.
    pub body: Option<Bytes>,
}

impl HookResponse {
    /// A response with `status`.
    pub fn status(status: StatusCode) -> Self {
        HookResponse {
            status: Some(status),
            ..Default::default()
        }
    }

    /// Sets the body.
    #[must_use]
    pub fn with_body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// Adds a header; names or values that are not valid are skipped.
    #[must_use]
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        if let (Ok(n), Ok(v)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            self.headers.append(n, v);
        }
        self
    }

    /// Whether it changes nothing.
    pub fn is_empty(&self) -> bool {
        self.status.is_none() && self.headers.is_empty() && self.body.is_none()
    }
}

/// Allow, or refuse with a response.
#[derive(Clone, Debug, Default)]
pub enum Decision {
    /// Go ahead.
    #[default]
    Allow,
    /// Refuse with this response (403 when it sets no status).
    Reject(HookResponse),
}

/// What pre-create decides.
#[derive(Clone, Debug)]
pub enum PreCreate {
    /// Create the upload, optionally with another id or metadata.
    Allow {
        /// The id to use instead of a generated one (must be a valid id).
        id: Option<String>,
        /// The metadata to store instead of the client's.
        metadata: Option<Metadata>,
    },
    /// Refuse with this response (400 when it sets no status).
    Reject(HookResponse),
}

impl Default for PreCreate {
    fn default() -> Self {
        PreCreate::Allow {
            id: None,
            metadata: None,
        }
    }
}

/// What post-receive decides.
#[derive(Clone, Debug, Default)]
pub enum PostReceive {
    /// Keep receiving.
    #[default]
    Continue,
    /// Stop the upload: the running PATCH stops reading, keeps what
    /// arrived, answers with this response (400 when it sets no status),
    /// and the upload is terminated.
    Stop(HookResponse),
}

/// A hook that could not run or answer.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HookError(pub String);

impl HookError {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        HookError(message.into())
    }
}

/// The hooks of an app. Every method allows by default.
#[async_trait]
pub trait Hooks: Send + Sync + 'static {
    /// Whether `hook` does anything; the handler skips building events for
    /// hooks that do not.
    fn enabled(&self, hook: HookName) -> bool {
        let _ = hook;
        true
    }

    /// Before an upload is created: allow (maybe changing id and metadata) or refuse.
    async fn pre_create(&self, event: &HookEvent) -> Result<PreCreate, HookError> {
        let _ = event;
        Ok(PreCreate::default())
    }

    /// After an upload was created.
    async fn post_create(&self, event: &HookEvent) -> Result<(), HookError> {
        let _ = event;
        Ok(())
    }

    /// While bytes arrive: continue or stop the upload.
    async fn post_receive(&self, event: &HookEvent) -> Result<PostReceive, HookError> {
        let _ = event;
        Ok(PostReceive::Continue)
    }

    /// Before answering the request that completed an upload: headers or a
    /// body to add to that response.
    async fn pre_finish(&self, event: &HookEvent) -> Result<HookResponse, HookError> {
        let _ = event;
        Ok(HookResponse::default())
    }

    /// After an upload was completed.
    async fn post_finish(&self, event: &HookEvent) -> Result<(), HookError> {
        let _ = event;
        Ok(())
    }

    /// Before an upload is terminated: allow or refuse.
    async fn pre_terminate(&self, event: &HookEvent) -> Result<Decision, HookError> {
        let _ = event;
        Ok(Decision::Allow)
    }

    /// After an upload was terminated.
    async fn post_terminate(&self, event: &HookEvent) -> Result<(), HookError> {
        let _ = event;
        Ok(())
    }

    /// Before any HEAD, PATCH, GET or DELETE on an existing upload: allow or refuse.
    async fn pre_access(&self, event: &HookEvent) -> Result<Decision, HookError> {
        let _ = event;
        Ok(Decision::Allow)
    }
}
