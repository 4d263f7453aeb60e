//! The handler's configuration.

use std::time::Duration;

use std::fmt;
use std::sync::Arc;

use crate::composer::StoreComposer;
use crate::cors::Cors;
use crate::events::EventKind;
use crate::hooks::Hooks;
use crate::id::MakeUploadId;

/// The app's hooks, shared.
#[derive(Clone)]
pub(crate) struct HooksHandle(pub(crate) Arc<dyn Hooks>);

impl fmt::Debug for HooksHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Hooks(..)")
    }
}

/// Everything the upload handler needs: the stores, and how to serve them.
///
/// ```
/// use std::time::Duration;
/// use tower_tus::{Config, StoreComposer, cors::Cors, store::MemoryStore};
///
/// let mut composer = StoreComposer::new();
/// MemoryStore::new().use_in(&mut composer);
/// let config = Config::new(composer)
///     .base_path("/uploads/")
///     .max_size(1 << 30)
///     .cors(Cors::disabled())
///     .respect_forwarded_headers(true)
///     .lock_timeout(Duration::from_secs(5));
/// assert_eq!(config.get_base_path(), "/uploads/");
/// ```
#[derive(Clone, Debug)]
pub struct Config {
    pub(crate) composer: StoreComposer,
    pub(crate) base_path: String,
    pub(crate) max_size: Option<u64>,
    pub(crate) max_metadata_size: usize,
    pub(crate) max_partial_uploads: usize,
    pub(crate) max_final_size: Option<u64>,
    pub(crate) concatenation_wait: Duration,
    pub(crate) cors: Cors,
    pub(crate) respect_forwarded_headers: bool,
    pub(crate) make_upload_id: MakeUploadId,
    pub(crate) disable_download: bool,
    pub(crate) disable_termination: bool,
    pub(crate) disable_concatenation: bool,
    pub(crate) lock_timeout: Duration,
    pub(crate) expire_after: Option<Duration>,
    pub(crate) expire_finished_after: Option<Duration>,
    pub(crate) hooks: Option<HooksHandle>,
    pub(crate) event_kinds: Vec<EventKind>,
    pub(crate) progress_interval: Duration,
    pub(crate) network_timeout: Option<Duration>,
    pub(crate) hook_timeout: Duration,
}

impl Config {
    /// Serves the stores in `composer` at `/files/`, with no size limit,
    /// CORS for any origin, random 128-bit ids, a lock wait of 20 s and a
    /// hook timeout of 30 s.
    pub fn new(composer: StoreComposer) -> Self {
        Config {
            composer,
            base_path: "/files/".to_owned(),
            max_size: None,
            max_metadata_size: 64 << 10,
            max_partial_uploads: 100,
            max_final_size: None,
            concatenation_wait: Duration::from_secs(5),
            cors: Cors::new(),
            respect_forwarded_headers: false,
            make_upload_id: MakeUploadId::default(),
            disable_download: false,
            disable_termination: false,
            disable_concatenation: false,
            lock_timeout: Duration::from_secs(20),
            expire_after: None,
            expire_finished_after: None,
            hooks: None,
            event_kinds: Vec::new(),
            progress_interval: Duration::from_secs(1),
            network_timeout: None,
            hook_timeout: Duration::from_secs(30),
        }
    }

    /// The path under which uploads live; slashes are added as needed
    /// (`"files"` becomes `"/files/"`).
    #[must_use]
    pub fn base_path(mut self, path: impl AsRef<str>) -> Self {
        let trimmed = path.as_ref().trim_matches('/');
        self.base_path = if trimmed.is_empty() {
            "/".to_owned()
        } else {
            format!("/{trimmed}/")
        };
        self
    }

    /// The base path in use.
    pub fn get_base_path(&self) -> &str {
        &self.base_path
    }

    /// The largest upload accepted, in bytes (`Tus-Max-Size`).
    #[must_use]
    pub fn max_size(mut self, bytes: u64) -> Self {
        self.max_size = Some(bytes);
        self
    }

    /// The longest `Upload-Metadata` accepted, in bytes (default 64 KiB, far
    /// more than real clients send); a longer one is refused with 400, so
    /// that no client makes every `.info` and every HEAD carry a megabyte.
    ///
    /// ```
    /// use tower_tus::{Config, StoreComposer};
    ///
    /// let config = Config::new(StoreComposer::new()).max_metadata_size(4096);
    /// # let _ = config;
    /// ```
    #[must_use]
    pub fn max_metadata_size(mut self, bytes: usize) -> Self {
        self.max_metadata_size = bytes;
        self
    }

    /// The most partial uploads one final upload may name in
    /// `Upload-Concat` (default 100); a final naming more is refused with
    /// 400. A partial named twice counts twice: each time its bytes are
    /// copied again, and each name is echoed on every HEAD.
    ///
    /// ```
    /// use tower_tus::{Config, StoreComposer};
    ///
    /// let config = Config::new(StoreComposer::new()).max_partial_uploads(16);
    /// # let _ = config;
    /// ```
    #[must_use]
    pub fn max_partial_uploads(mut self, count: usize) -> Self {
        self.max_partial_uploads = count;
        self
    }

    /// The largest final upload accepted, in bytes, refused with 413 when
    /// its partials add up to more. Without it a final is bounded by
    /// [`max_size`](Self::max_size) alone, like any upload, and so by
    /// [`max_partial_uploads`](Self::max_partial_uploads) times its
    /// largest partial when no size limit is set.
    ///
    /// ```
    /// use tower_tus::{Config, StoreComposer};
    ///
    /// let config = Config::new(StoreComposer::new()).max_final_size(10 << 30);
    /// # let _ = config;
    /// ```
    #[must_use]
    pub fn max_final_size(mut self, bytes: u64) -> Self {
        self.max_final_size = Some(bytes);
        self
    }

    /// How long the POST creating a final upload waits for its
    /// concatenation (default 5 s). A concatenation that takes longer
    /// goes on without the client waiting: the POST answers 201, and HEAD
    /// tells no `Upload-Offset` until the final is complete, as the tus
    /// specification asks for a final still being joined. Zero answers at
    /// once.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_tus::{Config, StoreComposer};
    ///
    /// let config =
    ///     Config::new(StoreComposer::new()).concatenation_wait(Duration::from_secs(1));
    /// # let _ = config;
    /// ```
    #[must_use]
    pub fn concatenation_wait(mut self, wait: Duration) -> Self {
        self.concatenation_wait = wait;
        self
    }

    /// The CORS configuration.
    #[must_use]
    pub fn cors(mut self, cors: Cors) -> Self {
        self.cors = cors;
        self
    }

    /// Builds absolute `Location` URLs from `Forwarded`, `X-Forwarded-Host`,
    /// `X-Forwarded-Proto` and `Host`; only behind a proxy that sets them.
    #[must_use]
    pub fn respect_forwarded_headers(mut self, respect: bool) -> Self {
        self.respect_forwarded_headers = respect;
        self
    }

    /// How new upload ids are made.
    #[must_use]
    pub fn upload_id_maker(mut self, make: MakeUploadId) -> Self {
        self.make_upload_id = make;
        self
    }

    /// Turns off GET downloads.
    #[must_use]
    pub fn disable_download(mut self, disable: bool) -> Self {
        self.disable_download = disable;
        self
    }

    /// Turns off DELETE (and stops advertising termination).
    #[must_use]
    pub fn disable_termination(mut self, disable: bool) -> Self {
        self.disable_termination = disable;
        self
    }

    /// Turns off concatenation: `Upload-Concat` is refused and the
    /// extension is not advertised, whatever the store offers.
    ///
    /// ```
    /// use tower_tus::{Config, StoreComposer, store::MemoryStore};
    ///
    /// let mut composer = StoreComposer::new();
    /// MemoryStore::new().use_in(&mut composer);
    /// let config = Config::new(composer).disable_concatenation(true);
    /// # let _ = config;
    /// ```
    #[must_use]
    pub fn disable_concatenation(mut self, disable: bool) -> Self {
        self.disable_concatenation = disable;
        self
    }

    /// Unfinished uploads expire this long after their last byte arrived
    /// (or their creation): the expiration extension. Each PATCH moves the
    /// deadline forward. Expired uploads answer 410 Gone; their bytes are
    /// freed by [`UploadHandler::sweep`](crate::UploadHandler::sweep)
    /// or the task of [`UploadHandler::spawn_sweep`](crate::UploadHandler::spawn_sweep).
    #[must_use]
    pub fn expire_after(mut self, lifetime: Duration) -> Self {
        self.expire_after = Some(lifetime);
        self
    }

    /// Finished uploads expire this long after their last byte arrived.
    /// Without it they never expire.
    #[must_use]
    pub fn expire_finished_after(mut self, lifetime: Duration) -> Self {
        self.expire_finished_after = Some(lifetime);
        self
    }

    /// The app's hooks (see [`hooks`](crate::hooks)).
    #[must_use]
    pub fn hooks(mut self, hooks: impl Hooks) -> Self {
        self.hooks = Some(HooksHandle(Arc::new(hooks)));
        self
    }

    /// Which events [`UploadHandler::subscribe`](crate::UploadHandler::subscribe) delivers.
    #[must_use]
    pub fn events(mut self, kinds: impl IntoIterator<Item = EventKind>) -> Self {
        self.event_kinds = kinds.into_iter().collect();
        self
    }

    /// How often, at most, progress events and post-receive hooks fire per
    /// upload (default 1 s).
    #[must_use]
    pub fn progress_interval(mut self, interval: Duration) -> Self {
        self.progress_interval = interval;
        self
    }

    /// Ends a PATCH whose body sends nothing for this long, keeping what
    /// arrived: protection against clients that stall on purpose.
    #[must_use]
    pub fn network_timeout(mut self, timeout: Duration) -> Self {
        self.network_timeout = Some(timeout);
        self
    }

    /// How long a hook may take to answer (default 30 s); a pre-hook that
    /// takes longer fails its request with 500, a post-hook is logged.
    #[must_use]
    pub fn hook_timeout(mut self, timeout: Duration) -> Self {
        self.hook_timeout = timeout;
        self
    }

    /// How long a request waits for an upload's lock before 423 Locked.
    #[must_use]
    pub fn lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout;
        self
    }
}
