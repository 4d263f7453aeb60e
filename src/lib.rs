//! Resumable uploads for any tower stack: the [tus 1.0.0] protocol as
//! middleware, modelled on tusd.
//!
//! [`TusLayer`] wraps a service (an axum `Router`, a tonic or warp stack,
//! anything tower). Requests under its base path (`/files/` by default) are
//! tus requests: it applies `X-HTTP-Method-Override`, answers CORS, checks
//! `Tus-Resumable` and hands them to the [`UploadHandler`]. Every other
//! request goes to the inner service untouched.
//!
//! The handler only checks requests against the spec; the bytes go to the
//! [`DataStore`] held by a [`StoreComposer`], which opens each upload once
//! per request as an [`Upload`](store::Upload) handle, and one writer per
//! upload is ensured by its [`Locker`].
//!
//! ```
//! use axum::{Router, routing::get};
//! use tower_layer::Layer;
//! use tower_tus::{Config, StoreComposer, TusLayer, lock::MemoryLocker, store::FileStore};
//!
//! let mut composer = StoreComposer::new();
//! FileStore::new("./uploads").use_in(&mut composer);
//! MemoryLocker::new().use_in(&mut composer);
//!
//! let router = Router::new().route("/", get(|| async { "hello" }));
//! // Wrap the whole router: axum routes before `Router::layer` middleware runs.
//! let app: Router = Router::new().fallback_service(TusLayer::new(Config::new(composer)).layer(router));
//! # let _ = app;
//! // axum::serve(listener, app).await
//! ```
//!
//! Behind your own auth middleware: put the auth middleware outside the
//! `TusLayer` and let it pass `OPTIONS`, so unauthenticated requests create
//! and write nothing while browser preflights (which never carry
//! credentials) still get their CORS answer; see the `auth` example.
//!
//! A `tower_http::cors::CorsLayer` around the whole app answers every
//! `OPTIONS` itself; place it inside the `TusLayer`, or use the tus CORS
//! configuration ([`cors::Cors`]) for the upload endpoints.
//!
//! [tus 1.0.0]: https://tus.io/protocols/resumable-upload

#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod body;
pub mod checksum;
mod composer;
mod config;
pub mod cors;
mod error;
pub mod events;
pub mod handler;
pub mod headers;
pub mod hooks;
pub mod id;
mod info;
mod layer;
pub mod lock;
pub mod metadata;
pub mod metrics;
pub mod store;
#[cfg(feature = "testing")]
pub mod testing;

pub use composer::{Capabilities, StoreComposer};
pub use config::Config;
pub use error::{BoxError, StoreError, TusError};
pub use handler::UploadHandler;
pub use info::FileInfo;
pub use layer::{ResponseFuture, TusLayer, TusService};
pub use lock::Locker;
pub use store::{DataStore, Upload};

/// The README's examples, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
