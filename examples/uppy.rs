//! Uppy in the browser: a page with Uppy's Dashboard and its Tus plugin,
//! uploading to the same server at `/files/`.
//!
//! Uppy's prebuilt bundle comes from the `uppy` npm package pinned in
//! `interop/` (`bash interop/install.sh` installs it). Then
//! `cargo run --example uppy` and open `http://127.0.0.1:3000/`.

use std::path::{Path, PathBuf};

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use tower_layer::Layer;
use tower_tus::store::FileStore;
use tower_tus::{Config, StoreComposer, TusLayer, UploadHandler};

/// The page: the Dashboard inline, files sent in 512 KiB PATCHes, retried
/// after a cut. `window.uppy`, `window.results` and `window.retries` are
/// there for scripts.
const PAGE: &str = r#"<!doctype html>
<html>
<head>
  <meta charset="utf-8">
  <title>Uploads</title>
  <link rel="stylesheet" href="/uppy/uppy.min.css">
</head>
<body>
  <div id="dashboard"></div>
  <script type="module">
    import { Uppy, Dashboard, Tus } from '/uppy/uppy.min.mjs';
    const uppy = new Uppy({ autoProceed: false })
      .use(Dashboard, { inline: true, target: '#dashboard' })
      .use(Tus, {
        endpoint: '/files/',
        chunkSize: 512 * 1024,
        retryDelays: [0, 250, 500, 1000, 2000, 3000, 5000],
        removeFingerprintOnSuccess: true,
        // Counted so that scripts can tell a failed request was retried.
        onShouldRetry(err, retryAttempt, options, next) {
          window.retries = (window.retries ?? 0) + 1;
          return next(err);
        },
      });
    uppy.on('complete', (result) => {
      window.results = {
        successful: result.successful.map((f) => ({ name: f.name, url: f.uploadURL })),
        failed: result.failed.map((f) => f.name),
        retries: window.retries ?? 0,
      };
    });
    window.uppy = uppy;
  </script>
</body>
</html>
"#;

/// The files of Uppy's bundle that the page loads.
const BUNDLE: [(&str, &str); 2] = [
    ("uppy.min.mjs", "text/javascript; charset=utf-8"),
    ("uppy.min.css", "text/css; charset=utf-8"),
];

async fn bundle(State(dist): State<PathBuf>, UrlPath(name): UrlPath<String>) -> Response {
    let Some((file, content_type)) = BUNDLE.iter().find(|(file, _)| *file == name) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match tokio::fs::read(dist.join(file)).await {
        Ok(bytes) => ([(header::CONTENT_TYPE, *content_type)], bytes).into_response(),
        Err(_) => (
            StatusCode::NOT_FOUND,
            "run `bash interop/install.sh` first\n",
        )
            .into_response(),
    }
}

/// Where the pinned Uppy bundle is installed.
pub fn uppy_dist() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("interop/node_modules/uppy/dist")
}

/// The page, Uppy's bundle from `dist`, and uploads through `handler`.
pub fn app(handler: UploadHandler, dist: PathBuf) -> Router {
    let site = Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route("/uppy/{file}", get(bundle))
        .with_state(dist);
    Router::new().fallback_service(TusLayer::from_handler(handler).layer(site))
}

#[allow(dead_code)]
#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut composer = StoreComposer::new();
    FileStore::new("./uploads").use_in(&mut composer);
    let handler = UploadHandler::new(Config::new(composer));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!("open http://{}/", listener.local_addr()?);
    axum::serve(listener, app(handler, uppy_dist())).await
}
