use tower_layer::Layer;

use super::TusService;
use crate::config::Config;
use crate::handler::UploadHandler;

/// A [`Layer`] that serves tus uploads under the configured base path and
/// passes every other request to the inner service untouched.
///
/// `X-HTTP-Method-Override`, CORS and the `Tus-Resumable` check apply to
/// requests under the base path only; the inner service sees its requests
/// exactly as they arrived.
///
/// ```
/// use tower_tus::{Config, StoreComposer, TusLayer, store::MemoryStore};
///
/// let mut composer = StoreComposer::new();
/// MemoryStore::new().use_in(&mut composer);
/// let layer = TusLayer::new(Config::new(composer).base_path("/uploads/"));
/// # let _ = layer;
/// ```
#[derive(Clone, Debug)]
pub struct TusLayer {
    handler: UploadHandler,
}

impl TusLayer {
    /// A layer serving `config`.
    ///
    /// # Panics
    ///
    /// When the config's composer has no core store.
    pub fn new(config: Config) -> Self {
        TusLayer {
            handler: UploadHandler::new(config),
        }
    }

    /// A layer around an existing handler.
    pub fn from_handler(handler: UploadHandler) -> Self {
        TusLayer { handler }
    }

    /// The handler this layer serves with.
    pub fn handler(&self) -> &UploadHandler {
        &self.handler
    }
}

impl<S> Layer<S> for TusLayer {
    type Service = TusService<S>;

    fn layer(&self, inner: S) -> TusService<S> {
        TusService::new(inner, self.handler.clone())
    }
}
