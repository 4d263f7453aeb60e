use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tower_layer::Layer;
use tower_service::Service;
use tower_tus::cors::{AllowOrigin, Cors};
use tower_tus::lock::MemoryLocker;
use tower_tus::store::{FileStore, LimitPolicy, LimitedStore};
use tower_tus::{Config, StoreComposer, TusLayer, UploadHandler};

use crate::args::{Args, StorePolicy, split_list};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn config(args: &Args) -> Result<Config, BoxError> {
    let mut composer = StoreComposer::new();
    let files = FileStore::new(&args.upload_dir);
    files.use_in(&mut composer);
    if args.max_store_size > 0 {
        let policy = match args.max_store_policy {
            StorePolicy::Evict => LimitPolicy::EvictOldest,
            StorePolicy::Refuse => LimitPolicy::Refuse,
        };
        LimitedStore::new(args.max_store_size, files.clone(), files.clone())
            .with_length_deferrer(files.clone())
            .with_lister(files)
            .policy(policy)
            .use_in(&mut composer);
    }
    MemoryLocker::new().use_in(&mut composer);

    let cors = if args.disable_cors {
        Cors::disabled()
    } else {
        let origin = regex::Regex::new(&format!("^(?:{})$", args.cors_allow_origin))
            .map_err(|e| format!("--cors-allow-origin is not a valid regular expression: {e}"))?;
        Cors::new()
            .allow_origin(AllowOrigin::predicate(move |o| {
                o.to_str().is_ok_and(|o| origin.is_match(o))
            }))
            .allow_credentials(args.cors_allow_credentials)
            .allow_headers(split_list(&args.cors_allow_headers))
            .expose_headers(split_list(&args.cors_expose_headers))
            .max_age(Duration::from_secs(args.cors_max_age))
    };
    let mut config = Config::new(composer)
        .base_path(&args.base_path)
        .cors(cors)
        .respect_forwarded_headers(args.behind_proxy)
        .disable_download(args.disable_download)
        .disable_termination(args.disable_termination)
        .lock_timeout(Duration::from_secs(args.acquire_lock_timeout));
    if args.max_size > 0 {
        config = config.max_size(args.max_size);
    }
    if args.expire_after > 0 {
        config = config.expire_after(Duration::from_secs(args.expire_after));
    }
    if args.expire_finished_after > 0 {
        config = config.expire_finished_after(Duration::from_secs(args.expire_finished_after));
    }
    Ok(config)
}

async fn not_found(_req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut res = Response::new(Full::new(Bytes::from_static(b"not found\n")));
    *res.status_mut() = StatusCode::NOT_FOUND;
    Ok(res)
}

pub async fn run(args: Args) -> Result<(), BoxError> {
    std::fs::create_dir_all(&args.upload_dir)
        .map_err(|e| format!("cannot create {}: {e}", args.upload_dir.display()))?;
    let config = config(&args)?;
    let base_path = config.get_base_path().to_owned();
    let handler = UploadHandler::new(config);
    let app = TusLayer::from_handler(handler.clone()).layer(tower::service_fn(not_found));
    let cleanup = (args.expire_after > 0 || args.expire_finished_after > 0)
        .then(|| handler.spawn_cleanup(Duration::from_secs(args.cleanup_interval.max(1))));

    let listener = TcpListener::bind((args.host.as_str(), args.port))
        .await
        .map_err(|e| format!("cannot listen on {}:{}: {e}", args.host, args.port))?;
    let local = listener.local_addr()?;
    tracing::info!(
        "serving {} at http://{local}{base_path}",
        args.upload_dir.display()
    );

    let mut builder = auto::Builder::new(TokioExecutor::new());
    // Bigger reads mean fewer wakeups per byte on large PATCH bodies.
    builder.http1().max_buf_size(1 << 20);
    let graceful = GracefulShutdown::new();
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);

    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(conn) => conn,
                    Err(err) => {
                        tracing::warn!("accept failed: {err}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let app = app.clone();
                let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                    logged(app.clone(), req, peer)
                });
                let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), svc).into_owned();
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    if let Err(err) = conn.await {
                        tracing::debug!(%peer, "connection ended: {err}");
                    }
                });
            }
            _ = &mut shutdown => break,
        }
    }

    drop(listener);
    if let Some(cleanup) = cleanup {
        cleanup.abort();
    }
    tracing::info!("shutting down: waiting for running requests");
    tokio::select! {
        _ = graceful.shutdown() => tracing::info!("all requests finished"),
        _ = tokio::time::sleep(Duration::from_secs(args.shutdown_timeout)) => {
            tracing::warn!("shutdown timeout reached, ending remaining requests");
        }
    }
    Ok(())
}

async fn logged<S, B>(
    mut app: S,
    req: Request<Incoming>,
    peer: SocketAddr,
) -> Result<Response<B>, Infallible>
where
    S: Service<Request<Incoming>, Response = Response<B>, Error = Infallible>,
{
    let start = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let res = app.call(req).await?;
    tracing::info!(
        %peer,
        %method,
        path,
        status = res.status().as_u16(),
        ms = start.elapsed().as_millis() as u64,
        "request"
    );
    Ok(res)
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
