//! Cross-origin requests, with tusd's semantics.
//!
//! When a tus request carries an `Origin`, the origin is checked: a
//! disallowed one gets 403; an allowed one is echoed in
//! `Access-Control-Allow-Origin` with `Vary: Origin`. Preflights get the
//! allowed methods and headers and the max age; other requests get the tus
//! response headers exposed.
//!
//! ```
//! use std::time::Duration;
//! use tower_tus::cors::{AllowOrigin, Cors};
//!
//! let cors = Cors::new()
//!     .allow_origin(AllowOrigin::list(["https://app.example"]))
//!     .allow_credentials(true)
//!     .allow_headers(["x-api-key"])
//!     .max_age(Duration::from_secs(600));
//! # let _ = cors;
//! ```

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, HeaderValue, Method, header};

use crate::error::TusError;

const ALLOW_METHODS: &str = "POST, HEAD, PATCH, OPTIONS, GET, DELETE";
const ALLOW_HEADERS: &str = "Authorization, Origin, X-Requested-With, X-Request-ID, X-HTTP-Method-Override, Content-Type, Upload-Length, Upload-Offset, Tus-Resumable, Upload-Metadata, Upload-Defer-Length, Upload-Concat, Upload-Checksum";
const EXPOSE_HEADERS: &str = "Upload-Offset, Location, Upload-Length, Tus-Version, Tus-Resumable, Tus-Max-Size, Tus-Extension, Upload-Metadata, Upload-Defer-Length, Upload-Concat, Upload-Expires, Upload-Checksum";

/// Which origins may make cross-origin tus requests.
#[derive(Clone, Default)]
pub enum AllowOrigin {
    /// Every origin.
    #[default]
    Any,
    /// Exactly these origins.
    List(Vec<HeaderValue>),
    /// The origins the function accepts.
    Predicate(Arc<dyn Fn(&HeaderValue) -> bool + Send + Sync>),
}

impl AllowOrigin {
    /// Every origin.
    ///
    /// ```
    /// let _ = tower_tus::cors::AllowOrigin::any();
    /// ```
    pub fn any() -> Self {
        AllowOrigin::Any
    }

    /// Exactly these origins. Strings that are not valid header values are skipped.
    ///
    /// ```
    /// let _ = tower_tus::cors::AllowOrigin::list(["https://a.example", "https://b.example"]);
    /// ```
    pub fn list<I, S>(origins: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        AllowOrigin::List(
            origins
                .into_iter()
                .filter_map(|o| HeaderValue::from_str(o.as_ref()).ok())
                .collect(),
        )
    }

    /// The origins `f` accepts.
    ///
    /// ```
    /// let _ = tower_tus::cors::AllowOrigin::predicate(|o| o.as_bytes().ends_with(b".example"));
    /// ```
    pub fn predicate(f: impl Fn(&HeaderValue) -> bool + Send + Sync + 'static) -> Self {
        AllowOrigin::Predicate(Arc::new(f))
    }

    fn allows(&self, origin: &HeaderValue) -> bool {
        match self {
            AllowOrigin::Any => true,
            AllowOrigin::List(list) => list.iter().any(|o| o == origin),
            AllowOrigin::Predicate(f) => f(origin),
        }
    }
}

impl fmt::Debug for AllowOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AllowOrigin::Any => f.write_str("Any"),
            AllowOrigin::List(list) => f.debug_tuple("List").field(list).finish(),
            AllowOrigin::Predicate(_) => f.write_str("Predicate(..)"),
        }
    }
}

/// The CORS configuration of the tus endpoints.
#[derive(Clone, Debug)]
pub struct Cors {
    enabled: bool,
    allow_origin: AllowOrigin,
    allow_credentials: bool,
    allow_methods: HeaderValue,
    allow_headers: String,
    expose_headers: String,
    max_age: Duration,
}

impl Default for Cors {
    fn default() -> Self {
        Self::new()
    }
}

impl Cors {
    /// Any origin, no credentials, the tus headers allowed and exposed, a
    /// max age of one day.
    pub fn new() -> Self {
        Cors {
            enabled: true,
            allow_origin: AllowOrigin::Any,
            allow_credentials: false,
            allow_methods: HeaderValue::from_static(ALLOW_METHODS),
            allow_headers: ALLOW_HEADERS.to_owned(),
            expose_headers: EXPOSE_HEADERS.to_owned(),
            max_age: Duration::from_secs(86400),
        }
    }

    /// No CORS handling at all: `Origin` is ignored and no `Access-Control-*`
    /// header is sent (for apps that do CORS themselves).
    ///
    /// ```
    /// let _ = tower_tus::cors::Cors::disabled();
    /// ```
    pub fn disabled() -> Self {
        Cors {
            enabled: false,
            ..Cors::new()
        }
    }

    /// Sets which origins are allowed.
    #[must_use]
    pub fn allow_origin(mut self, allow_origin: AllowOrigin) -> Self {
        self.allow_origin = allow_origin;
        self
    }

    /// Sends `Access-Control-Allow-Credentials: true`.
    #[must_use]
    pub fn allow_credentials(mut self, allow: bool) -> Self {
        self.allow_credentials = allow;
        self
    }

    /// Allows these request headers besides the tus ones.
    #[must_use]
    pub fn allow_headers<I, S>(mut self, headers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        for h in headers {
            self.allow_headers.push_str(", ");
            self.allow_headers.push_str(h.as_ref());
        }
        self
    }

    /// Allows these request methods besides the ones tus needs
    /// (tusd's `-cors-allow-methods`). Names that are not valid HTTP
    /// methods are left out.
    ///
    /// ```
    /// let cors = tower_tus::cors::Cors::new().allow_methods(["PUT"]);
    /// # let _ = cors;
    /// ```
    #[must_use]
    pub fn allow_methods<I, S>(mut self, methods: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut all = self
            .allow_methods
            .to_str()
            .unwrap_or(ALLOW_METHODS)
            .to_owned();
        for m in methods {
            if http::Method::from_bytes(m.as_ref().as_bytes()).is_ok() {
                all.push_str(", ");
                all.push_str(m.as_ref());
            }
        }
        if let Ok(value) = HeaderValue::from_str(&all) {
            self.allow_methods = value;
        }
        self
    }

    /// Exposes these response headers besides the tus ones.
    #[must_use]
    pub fn expose_headers<I, S>(mut self, headers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        for h in headers {
            self.expose_headers.push_str(", ");
            self.expose_headers.push_str(h.as_ref());
        }
        self
    }

    /// How long browsers may cache a preflight's answer.
    #[must_use]
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// Whether CORS is handled at all.
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// The `Access-Control-*` headers for a request, or 403 for a
    /// disallowed origin. Requests without `Origin` get none.
    pub(crate) fn response_headers(
        &self,
        method: &Method,
        request: &HeaderMap,
    ) -> Result<HeaderMap, TusError> {
        let mut out = HeaderMap::new();
        if !self.enabled {
            return Ok(out);
        }
        let Some(origin) = request.get(header::ORIGIN) else {
            return Ok(out);
        };
        if !self.allow_origin.allows(origin) {
            return Err(TusError::OriginNotAllowed);
        }
        out.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        out.insert(header::VARY, HeaderValue::from_static("Origin"));
        if self.allow_credentials {
            out.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
        if method == Method::OPTIONS {
            out.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                self.allow_methods.clone(),
            );
            if let Ok(v) = HeaderValue::from_str(&self.allow_headers) {
                out.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, v);
            }
            out.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from(self.max_age.as_secs()),
            );
        } else if let Ok(v) = HeaderValue::from_str(&self.expose_headers) {
            out.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, v);
        }
        Ok(out)
    }
}
