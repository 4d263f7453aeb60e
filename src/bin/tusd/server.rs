use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::OwnedSemaphorePermit;
use tower::ServiceExt;
use tower_layer::Layer;
use tower_service::Service;
use tower_tus::body::TusBody;
use tower_tus::cors::{AllowOrigin, Cors};
use tower_tus::hooks::HookName;
use tower_tus::lock::{FileLocker, MemoryLocker};
use tower_tus::store::{FileStore, LimitPolicy, LimitedStore, SyncPolicy};
use tower_tus::{Config, StoreComposer, TusLayer, UploadHandler};

use crate::args::{Args, DataSync, LockerKind, StorePolicy, TlsMode, split_list};
use crate::connection::{
    ClockedBody, ConnectionClock, ConnectionSlots, Expired, ThrottledLog, Timeouts,
    default_max_connections, raise_open_files_limit,
};
use crate::hooks::{CliHooks, HttpHook};

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type AppBody = TusBody<Full<Bytes>>;

/// The store the flags ask for (S3 with `--s3-bucket`, else the folder)
/// and the locker (`--locker`), with the checks `/health` runs on them.
async fn compose(args: &Args) -> Result<(StoreComposer, Health), BoxError> {
    let mut composer = StoreComposer::new();
    let mut health = Health::default();
    #[cfg(not(feature = "s3"))]
    if args.s3_bucket.is_some() {
        return Err("this tusd was built without S3: build it with `--features cli,s3`".into());
    }
    let object_store = args.s3_bucket.is_some();
    #[cfg(feature = "s3")]
    if let Some(bucket) = &args.s3_bucket {
        let store = s3_store(args, bucket).await?;
        store
            .check()
            .await
            .map_err(|e| format!("--s3-bucket {bucket}: {e}"))?;
        limit(args, store.clone(), &mut composer);
        health.check("S3", move || {
            let store = store.clone();
            Box::pin(async move { store.check().await.map_err(|e| e.to_string()) })
        });
    }
    if !object_store {
        let sync = match args.data_sync {
            DataSync::EachWrite => SyncPolicy::EachWrite,
            DataSync::AtFinish => SyncPolicy::AtFinish,
            DataSync::Never => SyncPolicy::Never,
        };
        let files = FileStore::new(&args.upload_dir).sync(sync);
        limit(args, files, &mut composer);
        let dir = args.upload_dir.clone();
        health.check("the upload folder", move || {
            let dir = dir.clone();
            Box::pin(async move {
                match tokio::fs::metadata(&dir).await {
                    Ok(meta) if meta.is_dir() => Ok(()),
                    Ok(_) => Err(format!("{} is not a folder", dir.display())),
                    Err(e) => Err(format!("{}: {e}", dir.display())),
                }
            })
        });
    }
    // tusd's choices: lock files beside the uploads of a folder (processes
    // over one folder never write one upload at once), memory for an
    // object store. Instances over one bucket need a shared locker.
    let locker = args.locker.unwrap_or(if object_store {
        LockerKind::Memory
    } else {
        LockerKind::File
    });
    match locker {
        LockerKind::Memory => MemoryLocker::new().use_in(&mut composer),
        LockerKind::File => FileLocker::new(&args.upload_dir)
            .holder_poll_interval(args.filelock_holder_poll_interval)
            .acquirer_poll_interval(args.filelock_acquirer_poll_interval)
            .use_in(&mut composer),
        LockerKind::Redis => redis_locker(args, &mut composer, &mut health).await?,
        LockerKind::Etcd => etcd_locker(args, &mut composer, &mut health).await?,
    }
    Ok((composer, health))
}

#[cfg(feature = "redis")]
async fn redis_locker(
    args: &Args,
    composer: &mut StoreComposer,
    health: &mut Health,
) -> Result<(), BoxError> {
    let url = args
        .redis_url
        .as_deref()
        .ok_or("--locker redis needs --redis-url")?;
    let mut builder = tower_tus::lock::RedisLocker::builder(url)
        .key_prefix(&args.redis_key_prefix)
        .lease(args.lock_lease);
    if let Some(every) = args.lock_renew_interval {
        builder = builder.renew_interval(every);
    }
    let locker = builder
        .connect()
        .await
        .map_err(|e| format!("--redis-url {}: {e}", without_password(url)))?;
    locker.use_in(composer);
    health.answers("Redis", move || {
        let locker = locker.clone();
        async move { locker.is_reachable().await }
    });
    Ok(())
}

/// `url` with its password (`redis://user:secret@host/`) blanked, for logs.
#[cfg(feature = "redis")]
fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.split_once('@') {
        Some((user, host)) => {
            let user = user.split_once(':').map_or(user, |(name, _)| name);
            format!("{scheme}://{user}:***@{host}")
        }
        None => url.to_owned(),
    }
}

#[cfg(not(feature = "redis"))]
async fn redis_locker(
    _args: &Args,
    _composer: &mut StoreComposer,
    _health: &mut Health,
) -> Result<(), BoxError> {
    Err("this tusd was built without Redis: build it with `--features cli,redis`".into())
}

#[cfg(feature = "etcd")]
async fn etcd_locker(
    args: &Args,
    composer: &mut StoreComposer,
    health: &mut Health,
) -> Result<(), BoxError> {
    let endpoints = args
        .etcd_endpoints
        .as_deref()
        .ok_or("--locker etcd needs --etcd-endpoints")?;
    let mut builder = tower_tus::lock::EtcdLocker::builder(split_list(endpoints))
        .key_prefix(&args.etcd_key_prefix)
        .lease(args.lock_lease);
    if let Some(every) = args.lock_renew_interval {
        builder = builder.renew_interval(every);
    }
    let locker = builder
        .connect()
        .await
        .map_err(|e| format!("--etcd-endpoints {endpoints}: {e}"))?;
    locker.use_in(composer);
    health.answers("etcd", move || {
        let locker = locker.clone();
        async move { locker.is_reachable().await }
    });
    Ok(())
}

#[cfg(not(feature = "etcd"))]
async fn etcd_locker(
    _args: &Args,
    _composer: &mut StoreComposer,
    _health: &mut Health,
) -> Result<(), BoxError> {
    Err("this tusd was built without etcd: build it with `--features cli,etcd`".into())
}

type Check = Arc<
    dyn Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send>>
        + Send
        + Sync,
>;

/// What `/health` looks at: the store and the locker, each by name.
#[derive(Clone, Default)]
struct Health {
    checks: Vec<(&'static str, Check)>,
}

/// How long `/health` waits for one backend.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(3);

impl Health {
    fn check<F>(&mut self, name: &'static str, check: F)
    where
        F: Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send>>
            + Send
            + Sync
            + 'static,
    {
        self.checks.push((name, Arc::new(check)));
    }

    /// Checks `name` by a probe that tells only whether it answered.
    #[cfg(any(feature = "redis", feature = "etcd"))]
    fn answers<F, Fut>(&mut self, name: &'static str, probe: F)
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = bool> + Send + 'static,
    {
        self.check(name, move || {
            let answered = probe();
            Box::pin(async move {
                if answered.await {
                    Ok(())
                } else {
                    Err("no answer".to_owned())
                }
            })
        });
    }

    /// 200 when every backend answers, else 503 naming those that did not
    /// (the reasons go to the log, not to whoever asks). The backends are
    /// asked at once, so the answer comes within one timeout.
    async fn response(self) -> Response<Full<Bytes>> {
        let mut asked = tokio::task::JoinSet::new();
        for (i, (_, check)) in self.checks.iter().enumerate() {
            let check = check.clone();
            asked.spawn(async move { (i, tokio::time::timeout(HEALTH_TIMEOUT, check()).await) });
        }
        let mut unreachable = vec![false; self.checks.len()];
        while let Some(answer) = asked.join_next().await {
            let Ok((i, outcome)) = answer else { continue };
            let name = self.checks[i].0;
            let why = match outcome {
                Ok(Ok(())) => continue,
                Ok(Err(e)) => e,
                Err(_) => "no answer in time".to_owned(),
            };
            tracing::warn!("health: {name} unreachable: {why}");
            unreachable[i] = true;
        }
        let failed: String = self
            .checks
            .iter()
            .zip(unreachable)
            .filter(|(_, down)| *down)
            .map(|((name, _), _)| format!("{name} unreachable\n"))
            .collect();
        let (status, body) = if failed.is_empty() {
            (StatusCode::OK, "ok\n".to_owned())
        } else {
            (StatusCode::SERVICE_UNAVAILABLE, failed)
        };
        let mut res = Response::new(Full::new(Bytes::from(body)));
        *res.status_mut() = status;
        res.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        res.headers_mut().insert(
            http::header::CACHE_CONTROL,
            http::HeaderValue::from_static("no-store"),
        );
        res
    }
}

/// `store` as the core, under `--max-store-size` when it is set.
fn limit<S>(args: &Args, store: S, composer: &mut StoreComposer)
where
    S: tower_tus::DataStore + Clone + 'static,
{
    if args.max_store_size > 0 {
        let policy = match args.max_store_policy {
            StorePolicy::Evict => LimitPolicy::EvictOldest,
            StorePolicy::Refuse => LimitPolicy::Refuse,
        };
        LimitedStore::new(args.max_store_size, store)
            .policy(policy)
            .use_in(composer);
    } else {
        composer.use_core(store);
    }
}

#[cfg(feature = "s3")]
async fn s3_store(args: &Args, bucket: &str) -> Result<tower_tus::store::S3Store, BoxError> {
    let mut endpoint = args.s3_endpoint.clone();
    if let Some(e) = &endpoint
        && !e.contains("://")
    {
        let scheme = if args.s3_disable_ssl { "http" } else { "https" };
        endpoint = Some(format!("{scheme}://{e}"));
    }
    let store = tower_tus::store::S3Store::from_env_with(bucket, |config| {
        let mut config = config.force_path_style(args.s3_path_style);
        if let Some(endpoint) = &endpoint {
            config = config.endpoint_url(endpoint);
        }
        config.accelerate(args.s3_transfer_acceleration)
    })
    .await
    .object_prefix(&args.s3_object_prefix)
    .min_part_size(args.s3_min_part_size)
    .preferred_part_size(args.s3_part_size)
    .equal_part_sizes(args.s3_equal_part_sizes)
    .concurrent_part_uploads(args.s3_concurrent_part_uploads)
    .max_buffered_parts(args.s3_max_buffered_parts)
    .memory_budget(args.s3_memory_budget)
    .disable_content_hashes(args.s3_disable_content_hashes);
    let store = match &args.s3_spill_dir {
        Some(dir) => store.spill_dir(dir),
        None => store,
    };
    let store = if args.s3_presigned_downloads.is_zero() {
        store
    } else {
        store.presigned_downloads(args.s3_presigned_downloads)
    };
    Ok(match &args.s3_metadata_object_prefix {
        Some(prefix) => store.metadata_object_prefix(prefix),
        None => store,
    })
}

async fn config(args: &Args) -> Result<(Config, Health), BoxError> {
    let (composer, health) = compose(args).await?;

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
            .allow_methods(split_list(&args.cors_allow_methods))
            .max_age(Duration::from_secs(args.cors_max_age))
    };
    let mut config = Config::new(composer)
        .base_path(&args.base_path)
        .cors(cors)
        .respect_forwarded_headers(args.behind_proxy)
        .disable_download(args.disable_download)
        .disable_termination(args.disable_termination)
        .disable_concatenation(args.disable_concatenation)
        .lock_timeout(args.acquire_lock_timeout)
        .progress_interval(args.progress_hooks_interval.max(Duration::from_millis(10)));
    if args.max_size > 0 {
        config = config.max_size(args.max_size);
    }
    config = config
        .max_metadata_size(args.max_metadata_size)
        .max_partial_uploads(args.max_partial_uploads)
        .concatenation_wait(args.concatenation_wait);
    if args.max_final_size > 0 {
        config = config.max_final_size(args.max_final_size);
    }
    if !args.expire_after.is_zero() {
        config = config.expire_after(args.expire_after);
    }
    if !args.expire_finished_after.is_zero() {
        config = config.expire_finished_after(args.expire_finished_after);
    }
    if !args.network_timeout.is_zero() {
        config = config.network_timeout(args.network_timeout);
    }
    if args.hooks_dir.is_some() || args.hooks_http.is_some() {
        let mut enabled = Vec::new();
        for name in split_list(&args.hooks_enabled_events) {
            enabled.push(
                HookName::from_name(&name)
                    .ok_or_else(|| format!("--hooks-enabled-events: unknown hook {name}"))?,
            );
        }
        let http = match &args.hooks_http {
            Some(url) => {
                let url = url.parse().map_err(|e| format!("--hooks-http: {e}"))?;
                let forward = split_list(&args.hooks_http_forward_headers)
                    .iter()
                    .map(|h| h.parse())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| format!("--hooks-http-forward-headers: {e}"))?;
                Some(HttpHook::new(
                    url,
                    args.hooks_http_retry,
                    args.hooks_http_backoff,
                    args.hooks_http_timeout.max(Duration::from_millis(1)),
                    forward,
                ))
            }
            None => None,
        };
        config = config.hooks(CliHooks::new(args.hooks_dir.clone(), http, enabled));
    }
    Ok((config, health))
}

/// Everything the binary answers itself: metrics, health at `/health`, the
/// greeting at `/`, and 404 for the rest.
#[derive(Clone)]
struct Fallback {
    handler: UploadHandler,
    metrics_path: Option<Arc<str>>,
    greeting: Option<Bytes>,
    health: Health,
}

/// The page at `/`: what this server is and where its endpoints are.
fn greeting(base_path: &str, metrics_path: Option<&str>) -> Bytes {
    let mut page = format!(
        "tusd, by tower-tus {version}\n\n\
         This server takes resumable uploads over the tus protocol (https://tus.io).\n\n\
         - {base_path}  send your tus uploads here\n\
         - /health  200 while the store and the locker answer, else 503 (for load balancers)\n",
        version = env!("CARGO_PKG_VERSION"),
    );
    if let Some(metrics) = metrics_path {
        page.push_str(&format!(
            "- {metrics}  Prometheus metrics about this server\n"
        ));
    }
    page.push_str(&format!("\nVersion = {}\n", env!("CARGO_PKG_VERSION")));
    Bytes::from(page)
}

impl Service<Request<Incoming>> for Fallback {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Self::Response, Infallible>> + Send>,
    >;

    fn poll_ready(
        &mut self,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Incoming>) -> Self::Future {
        let is_read = matches!(*req.method(), http::Method::GET | http::Method::HEAD);
        if is_read && req.uri().path() == "/health" {
            let health = self.health.clone();
            return Box::pin(async move { Ok(health.response().await) });
        }
        let res = if let Some(page) = self
            .greeting
            .clone()
            .filter(|_| is_read && req.uri().path() == "/")
        {
            let mut res = Response::new(Full::new(page));
            res.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            res
        } else if self.metrics_path.as_deref() == Some(req.uri().path()) {
            let mut res = Response::new(Full::new(Bytes::from(
                self.handler.metrics().render_prometheus(),
            )));
            res.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("text/plain; version=0.0.4"),
            );
            res
        } else {
            let mut res = Response::new(Full::new(Bytes::from_static(b"not found\n")));
            *res.status_mut() = StatusCode::NOT_FOUND;
            res
        };
        Box::pin(std::future::ready(Ok(res)))
    }
}

fn tls_acceptor(args: &Args) -> Result<Option<tokio_rustls::TlsAcceptor>, BoxError> {
    let (Some(cert), Some(key)) = (&args.tls_certificate, &args.tls_key) else {
        return Ok(None);
    };
    let certs = rustls_pemfile::certs(&mut std::io::BufReader::new(
        std::fs::File::open(cert).map_err(|e| format!("cannot read {}: {e}", cert.display()))?,
    ))
    .collect::<Result<Vec<_>, _>>()
    .map_err(|e| format!("{}: {e}", cert.display()))?;
    let key = rustls_pemfile::private_key(&mut std::io::BufReader::new(
        std::fs::File::open(key).map_err(|e| format!("cannot read {}: {e}", key.display()))?,
    ))
    .map_err(|e| format!("{}: {e}", key.display()))?
    .ok_or_else(|| format!("{}: no private key found", key.display()))?;
    if args.enable_h2c {
        return Err("--enable-h2c cannot be used with TLS".into());
    }
    use tokio_rustls::rustls::version::{TLS12, TLS13};
    let versions: &[&tokio_rustls::rustls::SupportedProtocolVersion] = match args.tls_mode {
        TlsMode::Tls13 => &[&TLS13],
        // Every TLS 1.2 suite rustls offers is ECDHE with an AEAD cipher,
        // which is what tusd's tls12-strong narrows TLS 1.2 to.
        TlsMode::Tls12 | TlsMode::Tls12Strong => &[&TLS12, &TLS13],
    };
    let mut config = tokio_rustls::rustls::ServerConfig::builder_with_provider(Arc::new(
        tokio_rustls::rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(versions)
    .map_err(|e| format!("TLS: {e}"))?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .map_err(|e| format!("TLS: {e}"))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Some(tokio_rustls::TlsAcceptor::from(Arc::new(config))))
}

enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener),
}

pub async fn run(args: Args) -> Result<(), BoxError> {
    let open_files = raise_open_files_limit();
    std::fs::create_dir_all(&args.upload_dir)
        .map_err(|e| format!("cannot create {}: {e}", args.upload_dir.display()))?;
    let (config, health) = config(&args).await?;
    let base_path = config.get_base_path().to_owned();
    let handler = UploadHandler::new(config);
    let metrics_path = args.expose_metrics.then_some(args.metrics_path.as_str());
    let fallback = Fallback {
        handler: handler.clone(),
        metrics_path: metrics_path.map(Arc::from),
        // At `-base-path /` the uploads own the root.
        greeting: (args.show_greeting && base_path != "/")
            .then(|| greeting(&base_path, metrics_path)),
        health,
    };
    let app = TusLayer::from_handler(handler.clone()).layer(fallback);
    let sweeper = handler.spawn_sweep(args.cleanup_interval.max(Duration::from_millis(100)));
    let tls = tls_acceptor(&args)?;
    let scheme = if tls.is_some() { "https" } else { "http" };

    let listener = match &args.unix_sock {
        Some(path) => {
            let _ = std::fs::remove_file(path);
            let listener = UnixListener::bind(path)
                .map_err(|e| format!("cannot listen on {}: {e}", path.display()))?;
            startup(
                &args,
                format!(
                    "serving {} at unix:{}{base_path}",
                    args.upload_dir.display(),
                    path.display()
                ),
            );
            Listener::Unix(listener)
        }
        None => {
            let listener = TcpListener::bind((args.host.as_str(), args.port))
                .await
                .map_err(|e| format!("cannot listen on {}:{}: {e}", args.host, args.port))?;
            let local = listener.local_addr()?;
            startup(
                &args,
                format!(
                    "serving {} at {scheme}://{local}{base_path}",
                    args.upload_dir.display()
                ),
            );
            Listener::Tcp(listener)
        }
    };

    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        // Bigger reads mean fewer wakeups per byte on large PATCH bodies.
        .max_buf_size(1 << 20)
        // A client may send a whole request and close its side at once;
        // the request is still served and answered.
        .half_close(true);
    let server = Server {
        builder: Arc::new(builder),
        app,
        handler: handler.clone(),
        log_requests: args.verbose,
        timeouts: Timeouts {
            idle: args.idle_timeout,
            read_header: args.read_header_timeout,
        },
    };
    let max_connections = match args.max_connections {
        0 => default_max_connections(open_files),
        n => n,
    };
    tracing::debug!("serving at most {max_connections} connections at once");
    let slots = ConnectionSlots::new(max_connections);
    let accept_failed = ThrottledLog::default();
    let graceful = GracefulShutdown::new();
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);

    loop {
        let slot = tokio::select! {
            slot = slots.take() => slot,
            _ = &mut shutdown => break,
        };
        tokio::select! {
            accepted = accept(&listener) => {
                let (io, peer) = match accepted {
                    Ok(conn) => conn,
                    Err(err) => {
                        // Out of file descriptors, most often: each retry
                        // fails alike until a connection closes.
                        if let Some(unlogged) = accept_failed.occurred() {
                            tracing::warn!("cannot accept connections: {err} ({unlogged} more failures since the last warning)");
                        }
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let watcher = graceful.watcher();
                match (io, &tls) {
                    (Accepted::Tcp(stream), Some(tls)) => {
                        let (server, tls) = (server.clone(), tls.clone());
                        let handshake_timeout = args.tls_handshake_timeout;
                        tokio::spawn(async move {
                            match tokio::time::timeout(handshake_timeout, tls.accept(stream)).await {
                                Ok(Ok(stream)) => server.serve(stream, peer, watcher, slot),
                                Ok(Err(err)) => tracing::debug!(peer = %peer_text(peer), "TLS handshake failed: {err}"),
                                Err(_) => tracing::debug!(peer = %peer_text(peer), "TLS handshake not done within --tls-handshake-timeout"),
                            }
                        });
                    }
                    (Accepted::Tcp(stream), None) => server.serve(stream, peer, watcher, slot),
                    (Accepted::Unix(stream), _) => server.serve(stream, None, watcher, slot),
                }
            }
            _ = &mut shutdown => break,
        }
    }

    drop(listener);
    if let Some(path) = &args.unix_sock {
        let _ = std::fs::remove_file(path);
    }
    sweeper.abort();
    tracing::info!("shutting down: waiting for running requests");
    let finished = graceful.shutdown();
    tokio::pin!(finished);
    tokio::select! {
        _ = &mut finished => tracing::info!("all requests finished"),
        _ = tokio::time::sleep(args.shutdown_timeout) => {
            tracing::warn!("shutdown timeout reached, ending remaining uploads");
            // Running uploads stop reading, keep what arrived and answer.
            handler.interrupt_all();
            let _ = tokio::time::timeout(Duration::from_secs(2), &mut finished).await;
        }
    }
    Ok(())
}

/// A start-up line: logged unless `-show-startup-logs=false` asks for quiet.
fn startup(args: &Args, line: String) {
    if args.show_startup_logs {
        tracing::info!("{line}");
    } else {
        tracing::debug!("{line}");
    }
}

enum Accepted {
    Tcp(tokio::net::TcpStream),
    Unix(tokio::net::UnixStream),
}

async fn accept(listener: &Listener) -> std::io::Result<(Accepted, Option<SocketAddr>)> {
    match listener {
        Listener::Tcp(l) => {
            let (stream, peer) = l.accept().await?;
            let _ = stream.set_nodelay(true);
            Ok((Accepted::Tcp(stream), Some(peer)))
        }
        Listener::Unix(l) => Ok((Accepted::Unix(l.accept().await?.0), None)),
    }
}

#[derive(Clone)]
struct Server<A> {
    builder: Arc<auto::Builder<TokioExecutor>>,
    app: A,
    handler: UploadHandler,
    log_requests: bool,
    timeouts: Timeouts,
}

impl<A> Server<A>
where
    A: Service<Request<Incoming>, Response = Response<AppBody>, Error = Infallible>
        + Clone
        + Send
        + Sync
        + 'static,
    A::Future: Send + 'static,
{
    /// Serves one connection until it ends, its client stays idle too
    /// long, or sends a head too slowly; `slot` is held until then.
    fn serve<I>(
        &self,
        io: I,
        peer: Option<SocketAddr>,
        watcher: Watcher,
        slot: OwnedSemaphorePermit,
    ) where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (app, log_requests) = (self.app.clone(), self.log_requests);
        let clock = ConnectionClock::new();
        let svc = hyper::service::service_fn({
            let clock = clock.clone();
            move |mut req: Request<Incoming>| {
                if let Some(peer) = peer {
                    req.extensions_mut().insert(peer);
                }
                let request = clock.request();
                let served = logged(app.clone(), req, peer, log_requests);
                async move {
                    let res = served.await?;
                    Ok::<_, Infallible>(res.map(|body| ClockedBody::new(body, request)))
                }
            }
        });
        let conn = self
            .builder
            .serve_connection_with_upgrades(TokioIo::new(clock.wrap(io)), svc)
            .into_owned();
        let conn = watcher.watch(conn);
        let handler = self.handler.clone();
        let timeouts = self.timeouts;
        handler.metrics().connection_opened();
        tokio::spawn(async move {
            tokio::select! {
                ended = conn => if let Err(err) = ended {
                    tracing::debug!(peer = %peer_text(peer), "connection ended: {err}");
                },
                expired = clock.expired(timeouts) => {
                    let why = match expired {
                        Expired::Idle => "idle for longer than --idle-timeout",
                        Expired::ReadHeader => "request head not whole within --read-header-timeout",
                    };
                    tracing::debug!(peer = %peer_text(peer), "connection closed: {why}");
                }
            }
            handler.metrics().connection_closed();
            drop(slot);
        });
    }
}

/// A client's address as logged: `IP:PORT`, or `unix` on a Unix socket.
fn peer_text(peer: Option<SocketAddr>) -> String {
    peer.map_or_else(|| "unix".to_owned(), |p| p.to_string())
}

/// Serves one request once `app` says it is ready, and logs it when `log`.
async fn logged<S, B, ResBody>(
    mut app: S,
    req: Request<B>,
    peer: Option<SocketAddr>,
    log: bool,
) -> Result<Response<ResBody>, Infallible>
where
    S: Service<Request<B>, Response = Response<ResBody>, Error = Infallible>,
{
    let start = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let res = app.ready().await?.call(req).await?;
    if log {
        tracing::info!(
            peer = %peer_text(peer),
            %method,
            path,
            status = res.status().as_u16(),
            ms = start.elapsed().as_millis() as u64,
            "request"
        );
    }
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Context, Poll};

    use super::*;

    /// Ready only from its third poll on; a call before that is a bug.
    #[derive(Clone, Default)]
    struct SlowToReady {
        polls: Arc<AtomicUsize>,
    }

    impl Service<Request<()>> for SlowToReady {
        type Response = Response<()>;
        type Error = Infallible;
        type Future = std::future::Ready<Result<Response<()>, Infallible>>;

        fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            if self.polls.fetch_add(1, Ordering::SeqCst) < 2 {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, _req: Request<()>) -> Self::Future {
            assert!(
                self.polls.load(Ordering::SeqCst) > 2,
                "called before it was ready"
            );
            std::future::ready(Ok(Response::new(())))
        }
    }

    #[tokio::test]
    async fn each_request_waits_until_the_app_is_ready() {
        let app = SlowToReady::default();
        let res = logged(app.clone(), Request::new(()), None, true)
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(app.polls.load(Ordering::SeqCst), 3);
    }
}
