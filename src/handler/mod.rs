//! The upload handler: the tus protocol over a [`StoreComposer`](crate::StoreComposer).
//!
//! [`UploadHandler`] serves tus requests on its own (a [`Service`](tower_service::Service)
//! answering 404 for paths that are not its own), for `Router::nest_service`
//! and plain hyper servers. For apps that route themselves it also offers
//! one async entry point per method, which take the upload id from the last
//! segment of the request path.
//!
//! ```
//! use http::{Request, StatusCode};
//! use http_body_util::Empty;
//! use bytes::Bytes;
//! use tower::ServiceExt;
//! use tower_tus::{Config, StoreComposer, UploadHandler, store::MemoryStore};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let mut composer = StoreComposer::new();
//! MemoryStore::new().use_in(&mut composer);
//! let handler = UploadHandler::new(Config::new(composer));
//!
//! let req = Request::post("/files/")
//!     .header("tus-resumable", "1.0.0")
//!     .header("upload-length", "5")
//!     .body(Empty::<Bytes>::new())
//!     .unwrap();
//! let res = handler.clone().oneshot(req).await.unwrap();
//! assert_eq!(res.status(), StatusCode::CREATED);
//! let location = res.headers()["location"].to_str().unwrap().to_owned();
//!
//! // The per-method entry points, for apps that route themselves.
//! let head = Request::head(&location).header("tus-resumable", "1.0.0").body(Empty::<Bytes>::new()).unwrap();
//! let res = handler.head(head).await;
//! assert_eq!(res.headers()["upload-offset"], "0");
//! # }
//! ```

mod checksum;
mod concat;
mod delete;
mod download;
mod evict;
mod expiry;
mod finish;
mod get;
mod head;
mod location;
mod observe;
mod open;
mod options;
mod patch;
mod post;
mod progress;
mod route;
mod service;
mod sweep;
mod terminate;
mod write;

pub use sweep::SweepReport;

pub use service::HandlerFuture;

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, header};
use http_body::Body;

use self::route::Target;
use crate::body::HandlerBody;
use crate::config::Config;
use crate::error::{BoxError, TusError};
use crate::events::{EventReceiver, Events};
use crate::headers::{TUS_RESUMABLE, TUS_VERSION_VALUE, X_HTTP_METHOD_OVERRIDE};
use crate::lock::{Locker, MemoryLocker};
use crate::metrics::Metrics;
use crate::store::{DataStore, Extension, Extensions};
use tracing::Instrument;

/// The tus protocol handler. Cheap to clone.
#[derive(Clone, Debug)]
pub struct UploadHandler {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    core: Arc<dyn DataStore>,
    locker: Arc<dyn Locker>,
    store_extensions: Extensions,
    extensions: HeaderValue,
    metrics: Arc<Metrics>,
    events: Events,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UploadHandler")
            .field("config", &self.config)
            .field("extensions", &self.extensions)
            .finish()
    }
}

impl UploadHandler {
    /// A handler serving `config`.
    ///
    /// # Panics
    ///
    /// When the config's composer has no core store.
    pub fn new(config: Config) -> Self {
        #[cfg(feature = "metrics")]
        crate::metrics::describe();
        let core = config
            .composer
            .core
            .clone()
            .expect("the StoreComposer needs a core store: call use_core or a store's use_in");
        let locker = config.composer.locker.clone().unwrap_or_else(|| {
            tracing::info!(
                "no locker composed: uploads are locked in memory, for this process only"
            );
            Arc::new(MemoryLocker::new())
        });
        let mut store_extensions = core.extensions();
        if config.disable_concatenation {
            store_extensions = store_extensions.without(Extension::Concatenation);
        }
        let extensions =
            HeaderValue::from_str(&Self::extensions_of(&config, store_extensions).join(","))
                .expect("extension names are valid header values");
        let events = Events::new(&config.event_kinds, config.progress_interval);
        let handler = UploadHandler {
            inner: Arc::new(Inner {
                config,
                core,
                locker,
                store_extensions,
                extensions,
                metrics: Arc::default(),
                events,
            }),
        };
        handler
            .inner
            .core
            .set_evictor(Arc::new(evict::HandlerEvictor::new(&handler)));
        handler
    }

    /// Whether the core store's uploads offer `ext`.
    fn offers(&self, ext: Extension) -> bool {
        self.inner.store_extensions.contains(ext)
    }

    /// Asks every running upload to stop reading, keep what arrived and
    /// answer: at shutdown.
    pub fn interrupt_all(&self) {
        self.inner.locker.release_all();
    }

    /// The handler's counters.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// The metrics, shared: for collectors that outlive a borrow.
    #[cfg(feature = "prometheus")]
    pub(crate) fn shared_metrics(&self) -> Arc<Metrics> {
        self.inner.metrics.clone()
    }

    /// A subscription to the events enabled with [`Config::events`].
    pub fn subscribe(&self) -> EventReceiver {
        self.inner.events.subscribe(self.inner.metrics.clone())
    }

    /// The extensions the handler offers with the composed stores.
    fn extensions_of(config: &Config, ext: Extensions) -> Vec<&'static str> {
        let mut out = vec!["creation", "creation-with-upload"];
        if ext.contains(Extension::LengthDeferral) {
            out.push("creation-defer-length");
        }
        if ext.contains(Extension::Termination) && !config.disable_termination {
            out.push("termination");
        }
        if ext.contains(Extension::Concatenation) {
            out.extend(["concatenation", "concatenation-unfinished"]);
        }
        if ext.contains(Extension::VerifiedWrites) {
            out.extend(["checksum", "checksum-trailer"]);
        }
        let expires = config.expire_after.is_some() || config.expire_finished_after.is_some();
        if expires && ext.contains(Extension::Termination) && ext.contains(Extension::Listing) {
            out.push("expiration");
        }
        out
    }

    /// The handler's configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Answers an OPTIONS request: discovery and CORS preflight.
    pub async fn options<B>(&self, req: Request<B>) -> Response<HandlerBody>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        self.clone()
            .serve(Method::OPTIONS, Target::Collection, req)
            .await
    }

    /// Answers a POST request: creates an upload.
    pub async fn post<B>(&self, req: Request<B>) -> Response<HandlerBody>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        self.clone()
            .serve(Method::POST, Target::Collection, req)
            .await
    }

    /// Answers a HEAD request for the upload named by the path's last segment.
    pub async fn head<B>(&self, req: Request<B>) -> Response<HandlerBody>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let target = Target::last_segment(req.uri().path());
        self.clone().serve(Method::HEAD, target, req).await
    }

    /// Answers a PATCH request for the upload named by the path's last segment.
    pub async fn patch<B>(&self, req: Request<B>) -> Response<HandlerBody>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let target = Target::last_segment(req.uri().path());
        self.clone().serve(Method::PATCH, target, req).await
    }

    /// Answers a DELETE request for the upload named by the path's last segment.
    pub async fn delete<B>(&self, req: Request<B>) -> Response<HandlerBody>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let target = Target::last_segment(req.uri().path());
        self.clone().serve(Method::DELETE, target, req).await
    }

    /// Answers a GET request (download) for the upload named by the path's last segment.
    pub async fn get<B>(&self, req: Request<B>) -> Response<HandlerBody>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let target = Target::last_segment(req.uri().path());
        self.clone().serve(Method::GET, target, req).await
    }

    /// Serves a request already known to be under the base path, applying
    /// the method override first.
    pub(crate) async fn handle<B>(self, req: Request<B>, target: Target) -> Response<HandlerBody>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let method = effective_method(&req);
        self.serve(method, target, req).await
    }

    async fn serve<B>(
        self,
        method: Method,
        target: Target,
        req: Request<B>,
    ) -> Response<HandlerBody>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let cors = match self
            .inner
            .config
            .cors
            .response_headers(&method, req.headers())
        {
            Ok(cors) => cors,
            Err(err) => return finish(err.into_response(), HeaderMap::new()),
        };
        self.inner.metrics.request(&method);
        let id = match &target {
            Target::Upload(id) => id.clone(),
            _ => String::new(),
        };
        let span = tracing::info_span!("tus", method = %method, id);
        let res = match self
            .clone()
            .dispatch(method, target, req)
            .instrument(span)
            .await
        {
            Ok(res) => res,
            Err(err) => self.error_response(err),
        };
        finish(res, cors)
    }

    /// The response for a failed request, logged and counted.
    fn error_response(&self, err: TusError) -> Response<HandlerBody> {
        if err.status().is_server_error() {
            tracing::error!(error = %err, "tus request failed");
        }
        self.inner.metrics.error(err.status().as_u16(), err.code());
        err.into_response()
    }

    async fn dispatch<B>(
        self,
        method: Method,
        target: Target,
        req: Request<B>,
    ) -> Result<Response<HandlerBody>, TusError>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        if method == Method::OPTIONS {
            return Ok(self.options_response());
        }
        check_version(&method, req.headers())?;
        check_single(req.headers())?;
        let details = self.request_details(&method, req.uri(), req.headers(), req.extensions());
        // Every request that may change state runs to its end on its own
        // task: if the connection's future is dropped midway, the bytes that
        // arrived are still written, a deletion completes, and the lock is
        // released in order.
        match (target, method) {
            (Target::Collection, Method::POST) => {
                self.spawn_to_end(move |h| h.post_upload(req, details))
                    .await
            }
            (Target::Upload(id), Method::HEAD) => {
                self.spawn_to_end(move |h| async move { h.head_upload(&id, &details).await })
                    .await
            }
            (Target::Upload(id), Method::PATCH) => {
                self.spawn_to_end(move |h| h.patch_upload(id, req, details))
                    .await
            }
            (Target::Upload(id), Method::DELETE) => {
                self.spawn_to_end(move |h| async move { h.delete_upload(&id, &details).await })
                    .await
            }
            (Target::Upload(id), Method::GET) => {
                let headers = req.headers().clone();
                self.spawn_to_end(
                    move |h| async move { h.get_upload(&id, &headers, &details).await },
                )
                .await
            }
            (Target::Invalid, _) => Err(TusError::NotFound),
            _ => Err(TusError::MethodNotAllowed),
        }
    }

    async fn spawn_to_end<F, Fut>(self, f: F) -> Result<Response<HandlerBody>, TusError>
    where
        F: FnOnce(UploadHandler) -> Fut,
        Fut: Future<Output = Result<Response<HandlerBody>, TusError>> + Send + 'static,
    {
        tokio::spawn(f(self))
            .await
            .map_err(|e| TusError::Store(crate::error::StoreError::Other(e.into())))?
    }
}

/// `X-HTTP-Method-Override` on a POST names the real method.
fn effective_method<B>(req: &Request<B>) -> Method {
    if req.method() == Method::POST
        && let Some(m) = req
            .headers()
            .get(X_HTTP_METHOD_OVERRIDE)
            .and_then(|v| Method::from_bytes(v.as_bytes()).ok())
    {
        return m;
    }
    req.method().clone()
}

/// Every request but OPTIONS must speak 1.0.0. Downloads may come from a
/// plain browser link, so a GET without the header is let through.
fn check_version(method: &Method, headers: &HeaderMap) -> Result<(), TusError> {
    match headers.get(TUS_RESUMABLE) {
        Some(v) if v == TUS_VERSION_VALUE => Ok(()),
        None if method == Method::GET => Ok(()),
        _ => Err(TusError::UnsupportedVersion),
    }
}

/// The headers the protocol reads one value of: given twice, the first
/// would win silently (`Upload-Length: 5` and `Upload-Length: 7`), so the
/// request is refused instead.
const READ_ONCE: [&str; 10] = [
    "Tus-Resumable",
    "Upload-Length",
    "Upload-Offset",
    "Upload-Defer-Length",
    "Upload-Metadata",
    "Upload-Concat",
    "Upload-Checksum",
    "Content-Type",
    "Content-Length",
    "X-HTTP-Method-Override",
];

fn check_single(headers: &HeaderMap) -> Result<(), TusError> {
    match READ_ONCE
        .iter()
        .find(|name| headers.get_all(**name).iter().nth(1).is_some())
    {
        Some(name) => Err(TusError::DuplicateHeader(name)),
        None => Ok(()),
    }
}

fn finish(mut res: Response<HandlerBody>, cors: HeaderMap) -> Response<HandlerBody> {
    let headers = res.headers_mut();
    headers.insert(TUS_RESUMABLE, TUS_VERSION_VALUE);
    for (name, value) in cors {
        if let Some(name) = name {
            headers.insert(name, value);
        }
    }
    res
}

/// Adds what a pre-finish hook asked for to a response.
fn with_hook_response(
    mut res: Response<HandlerBody>,
    hook: Option<crate::hooks::HookResponse>,
) -> Response<HandlerBody> {
    if let Some(hook) = hook {
        if let Some(status) = hook.status {
            *res.status_mut() = status;
        }
        res.headers_mut().extend(hook.headers);
        if let Some(body) = hook.body {
            res.headers_mut().remove(header::CONTENT_LENGTH);
            *res.body_mut() = HandlerBody::full(body);
        }
    }
    res
}

fn is_offset_octet_stream(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim())
        .is_some_and(|v| v.eq_ignore_ascii_case(crate::headers::OFFSET_OCTET_STREAM))
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(crate::headers::parse_u64)
}
