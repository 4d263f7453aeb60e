//! Notifications: what happened to uploads, on a channel apps subscribe to.
//!
//! Each kind is opt-in ([`Config::events`](crate::Config::events)), and an
//! event is only built while someone listens. A subscriber that falls behind
//! misses the oldest events rather than slowing any upload; how many it
//! missed is counted in [`Metrics::events_dropped`](crate::metrics::Metrics::events_dropped).
//!
//! ```
//! use bytes::Bytes;
//! use http::Request;
//! use http_body_util::Empty;
//! use tower::ServiceExt;
//! use tower_tus::events::EventKind;
//! use tower_tus::{Config, StoreComposer, UploadHandler, store::MemoryStore};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let mut composer = StoreComposer::new();
//! MemoryStore::new().use_in(&mut composer);
//! let handler = UploadHandler::new(Config::new(composer).events([EventKind::Created]));
//! let mut events = handler.subscribe();
//!
//! let req = Request::post("/files/").header("tus-resumable", "1.0.0").header("upload-length", "3")
//!     .body(Empty::<Bytes>::new()).unwrap();
//! handler.clone().oneshot(req).await.unwrap();
//! let event = events.recv().await.unwrap();
//! assert_eq!(event.kind, EventKind::Created);
//! assert_eq!(event.info.size, Some(3));
//! # }
//! ```

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, Method, Uri};
use tokio::sync::broadcast;

use crate::info::FileInfo;
use crate::metrics::Metrics;

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EventKind {
    /// An upload was created.
    Created,
    /// Bytes arrived (at most one per upload per progress interval).
    Progress,
    /// An upload received its last byte (concatenated finals too).
    Completed,
    /// An upload was terminated.
    Terminated,
    /// A PATCH ended before its body did.
    Interrupted,
}

impl EventKind {
    const ALL: [EventKind; 5] = [
        EventKind::Created,
        EventKind::Progress,
        EventKind::Completed,
        EventKind::Terminated,
        EventKind::Interrupted,
    ];

    fn index(self) -> usize {
        EventKind::ALL.iter().position(|k| *k == self).unwrap_or(0)
    }
}

/// The request behind an event or a hook.
///
/// ```
/// use http::{HeaderMap, Method};
/// use tower_tus::events::RequestDetails;
///
/// let details = RequestDetails::new(Method::PATCH, "/files/abc".parse().unwrap(), HeaderMap::new(), None);
/// assert_eq!(details.uri.path(), "/files/abc");
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RequestDetails {
    /// The method (after `X-HTTP-Method-Override`).
    pub method: Method,
    /// The URI.
    pub uri: Uri,
    /// The headers.
    pub headers: HeaderMap,
    /// The client's address, when the server put a `SocketAddr` in the
    /// request's extensions (the `tusd` binary does), or axum's
    /// `ConnectInfo<SocketAddr>` (with the `axum` feature).
    pub remote_addr: Option<SocketAddr>,
    /// Where this request's upload URLs start: the prefix a router stripped
    /// before the handler saw the request (axum's `nest_service`, read from
    /// its `OriginalUri` with the `axum` feature), then the base path. For
    /// an upload at `/api/files/abc`, `/api/files/`. `None` for requests
    /// the handler did not serve itself (the sweep's).
    pub upload_base: Option<String>,
}

impl RequestDetails {
    /// Details of a request.
    pub fn new(
        method: Method,
        uri: Uri,
        headers: HeaderMap,
        remote_addr: Option<SocketAddr>,
    ) -> Self {
        RequestDetails {
            method,
            uri,
            headers,
            remote_addr,
            upload_base: None,
        }
    }
}

/// One event.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct UploadEvent {
    /// What happened.
    pub kind: EventKind,
    /// The upload, as it was then.
    pub info: FileInfo,
    /// The request that made it happen.
    pub request: Arc<RequestDetails>,
}

/// A subscription to the handler's events.
#[derive(Debug)]
pub struct EventReceiver {
    rx: broadcast::Receiver<Arc<UploadEvent>>,
    metrics: Arc<Metrics>,
}

impl EventReceiver {
    /// The next event; `None` once the handler is gone. Events missed by
    /// falling behind are skipped and counted.
    pub async fn recv(&mut self) -> Option<Arc<UploadEvent>> {
        loop {
            match self.rx.recv().await {
                Ok(event) => return Some(event),
                Err(broadcast::error::RecvError::Lagged(n)) => self.metrics.events_dropped_add(n),
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}

/// The handler's side of the channel.
#[derive(Debug)]
pub(crate) struct Events {
    tx: broadcast::Sender<Arc<UploadEvent>>,
    enabled: [bool; 5],
    pub(crate) progress_interval: Duration,
}

impl Events {
    pub(crate) fn new(kinds: &[EventKind], progress_interval: Duration) -> Self {
        let mut enabled = [false; 5];
        for k in kinds {
            enabled[k.index()] = true;
        }
        Events {
            tx: broadcast::channel(1024).0,
            enabled,
            progress_interval,
        }
    }

    /// Whether an event of `kind` would reach anyone.
    pub(crate) fn wanted(&self, kind: EventKind) -> bool {
        self.enabled[kind.index()] && self.tx.receiver_count() > 0
    }

    /// Sends to the subscribers; callers check [`Events::wanted`] first so
    /// that nothing is built for nobody.
    pub(crate) fn send(&self, kind: EventKind, info: FileInfo, request: Arc<RequestDetails>) {
        let _ = self.tx.send(Arc::new(UploadEvent {
            kind,
            info,
            request,
        }));
    }

    pub(crate) fn subscribe(&self, metrics: Arc<Metrics>) -> EventReceiver {
        EventReceiver {
            rx: self.tx.subscribe(),
            metrics,
        }
    }
}
