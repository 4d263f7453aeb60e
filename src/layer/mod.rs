//! The tower middleware: tus under a base path, everything else passed through.
//!
//! ```
//! use bytes::Bytes;
//! use http::{Request, Response, StatusCode};
//! use http_body_util::Full;
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//! use tower_tus::{Config, StoreComposer, TusLayer, store::MemoryStore};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let mut composer = StoreComposer::new();
//! MemoryStore::new().use_in(&mut composer);
//!
//! let app = service_fn(|_req: Request<Full<Bytes>>| async {
//!     Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from_static(b"hello"))))
//! });
//! let svc = ServiceBuilder::new().layer(TusLayer::new(Config::new(composer))).service(app);
//!
//! // Not under /files/: the app answers.
//! let res = svc.clone().oneshot(Request::get("/").body(Full::default()).unwrap()).await.unwrap();
//! assert_eq!(res.status(), StatusCode::OK);
//!
//! // Under /files/: tus answers.
//! let req = Request::options("/files/").body(Full::default()).unwrap();
//! let res = svc.oneshot(req).await.unwrap();
//! assert_eq!(res.headers()["tus-version"], "1.0.0");
//! # }
//! ```

mod future;
#[allow(clippy::module_inception)]
mod layer;
mod service;

pub use future::ResponseFuture;
pub use layer::TusLayer;
pub use service::TusService;
