//! S3 servers on 127.0.0.1, each started once per test binary from the
//! venv `interop/install.sh python` makes: moto (in memory, with a tiny
//! minimum part size) and SeaweedFS (a real object store: SigV4 checked,
//! 5 MiB parts). A bucket of its own per test.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use tower_tus::store::S3Store;

use super::tools;

/// The smallest part moto accepts here: small, so that part logic runs on
/// KiB-sized uploads.
pub const MIN_PART: u64 = 1024;

/// moto's endpoint. moto goes when the test binary does: it runs under a
/// shell that kills it once the binary's end of a pipe closes.
fn moto() -> &'static str {
    static ENDPOINT: OnceLock<String> = OnceLock::new();
    ENDPOINT.get_or_init(|| {
        tools::install(tools::Clients::Python);
        let moto = tools::interop_dir().join(".venv/bin/moto_server");
        let mut child = Command::new("sh")
            .arg("-c")
            .arg("\"$0\" -H 127.0.0.1 -p 0 2>&1 & pid=$!; cat >/dev/null; kill $pid")
            .arg(moto)
            .env("S3_UPLOAD_PART_MIN_SIZE", MIN_PART.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto starts");
        // Kept open for the binary's life: closing it stops moto.
        std::mem::forget(child.stdin.take());
        let out = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if let Some(at) = line.find("http://127.0.0.1:")
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(line[at..].trim().to_owned());
                }
            }
        });
        let endpoint = rx
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("moto said where it listens");
        std::mem::forget(child);
        endpoint
    })
}

/// Keys SeaweedFS is started with, and checks every request's signature against.
const SEAWEED_KEY: (&str, &str) = ("tus-test-key", "tus-test-secret");

/// SeaweedFS's S3 endpoint (`weed mini`: master, volume server, filer and
/// S3 gateway in one process), every component on a port of its own. Each
/// test's bucket takes volumes of its own: their number is not left to the
/// free disk space, which would cap the buckets at a few dozen.
fn seaweedfs() -> &'static str {
    static ENDPOINT: OnceLock<String> = OnceLock::new();
    ENDPOINT.get_or_init(|| {
        tools::install(tools::Clients::Python);
        let weed = tools::interop_dir().join(".venv/bin/weed");
        let dir = Box::leak(Box::new(tempfile::tempdir().unwrap()));
        // Ten ports the system picked, released for weed to take.
        let ports: Vec<u16> = (0..10)
            .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
            .collect::<Vec<_>>()
            .iter()
            .map(|l| l.local_addr().unwrap().port())
            .collect();
        let [s3, s3g, mp, mg, vp, vg, fp, fg, ap, ag] = ports[..] else {
            unreachable!()
        };
        let d = dir.path().display();
        let args = format!(
            "-logtostderr=false mini -dir={d} -ip=127.0.0.1 -ip.bind=127.0.0.1 \
             -master.telemetry=false -admin.ui=false -webdav=false \
             -volume.max=500 -master.volumeSizeLimitMB=64 \
             -s3.port={s3} -s3.port.grpc={s3g} -s3.port.iceberg=0 -s3.port.lance=0 \
             -master.port={mp} -master.port.grpc={mg} -volume.port={vp} -volume.port.grpc={vg} \
             -filer.port={fp} -filer.port.grpc={fg} -admin.port={ap} -admin.port.grpc={ag} \
             -s3.localSocket={d}/s3.sock -filer.localSocket={d}/filer.sock"
        );
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "\"$0\" {args} >{d}/weed.log 2>&1 & pid=$!; cat >/dev/null; kill $pid"
            ))
            .arg(weed)
            // Fifty uploads of many parts at once grow its heap past the
            // machine's memory otherwise.
            .env("GOMEMLIMIT", "4GiB")
            .env("AWS_ACCESS_KEY_ID", SEAWEED_KEY.0)
            .env("AWS_SECRET_ACCESS_KEY", SEAWEED_KEY.1)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("SeaweedFS starts");
        std::mem::forget(child.stdin.take());
        std::mem::forget(child);
        format!("http://127.0.0.1:{s3}")
    })
}

/// A client for moto.
pub fn client() -> aws_sdk_s3::Client {
    client_for(moto(), ("test", "test"), true)
}

/// A client for SeaweedFS.
pub fn seaweedfs_client() -> aws_sdk_s3::Client {
    client_for(seaweedfs(), SEAWEED_KEY, false)
}

fn client_for(endpoint: &str, key: (&str, &str), moto: bool) -> aws_sdk_s3::Client {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    let mut config = aws_sdk_s3::config::Builder::new()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .http_client(http)
        .endpoint_url(endpoint)
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            key.0, key.1, None, None, "tests",
        ))
        .force_path_style(true)
        .request_checksum_calculation(aws_sdk_s3::config::RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(aws_sdk_s3::config::ResponseChecksumValidation::WhenRequired);
    if moto {
        config = config.interceptor(MotoListParts);
    }
    aws_sdk_s3::Client::from_conf(config.build())
}

fn bucket_name() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "tus-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    )
}

/// A fresh bucket on moto.
pub async fn bucket() -> String {
    let name = bucket_name();
    client()
        .create_bucket()
        .bucket(&name)
        .send()
        .await
        .expect("create bucket");
    name
}

/// A store over a fresh SeaweedFS bucket with S3's own 5 MiB parts, or
/// `None` (said loudly) when tests needing outside tools were not asked for.
pub async fn seaweedfs_store(test: &str) -> Option<S3Store> {
    if !tools::wanted(test, "Python and SeaweedFS (an S3 server)") {
        return None;
    }
    let name = seaweedfs_bucket().await;
    Some(S3Store::new(seaweedfs_client(), name))
}

/// SeaweedFS's endpoint and the keys it checks signatures with.
pub fn seaweedfs_access() -> (&'static str, (&'static str, &'static str)) {
    (seaweedfs(), SEAWEED_KEY)
}

/// A fresh SeaweedFS bucket.
pub async fn seaweedfs_bucket() -> String {
    let client = seaweedfs_client();
    let name = bucket_name();
    // The gateway answers before its filer is ready: try for a while.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        match client.create_bucket().bucket(&name).send().await {
            Ok(_) => break,
            Err(e) => {
                assert!(
                    std::time::Instant::now() < deadline,
                    "SeaweedFS never made a bucket: {e:?}"
                );
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        }
    }
    name
}

/// A store over a fresh bucket with 1 KiB parts, or `None` (said loudly)
/// when tests needing outside tools were not asked for.
pub async fn store(test: &str) -> Option<S3Store> {
    if !tools::wanted(test, "Python and moto (an S3 server)") {
        return None;
    }
    Some(over(&bucket().await))
}

/// A store over moto's `bucket` (again: as after a restart).
pub fn over(bucket: &str) -> S3Store {
    Server::Moto.over(bucket)
}

/// moto answers ListParts under a `<ListPartsResponse>` root where S3 says
/// `<ListPartsResult>`; Python's SDK reads either, Rust's only S3's. This
/// renames the root of moto's answers before the SDK reads them.
#[derive(Debug)]
struct MotoListParts;

impl aws_sdk_s3::config::Intercept for MotoListParts {
    fn name(&self) -> &'static str {
        "MotoListParts"
    }

    fn modify_before_deserialization(
        &self,
        context: &mut aws_sdk_s3::config::interceptors::BeforeDeserializationInterceptorContextMut<
            '_,
        >,
        _: &aws_sdk_s3::config::RuntimeComponents,
        _: &mut aws_sdk_s3::config::ConfigBag,
    ) -> Result<(), aws_sdk_s3::error::BoxError> {
        let body = context.response_mut().body_mut();
        let taken = std::mem::replace(body, aws_sdk_s3::primitives::SdkBody::taken());
        *body = aws_sdk_s3::primitives::SdkBody::from_body_1_x(Renamed {
            inner: taken,
            seen: Vec::new(),
            done: false,
        });
        Ok(())
    }
}

/// A body read whole, its root element renamed.
struct Renamed {
    inner: aws_sdk_s3::primitives::SdkBody,
    seen: Vec<u8>,
    done: bool,
}

impl http_body::Body for Renamed {
    type Data = bytes::Bytes;
    type Error = aws_sdk_s3::error::BoxError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<bytes::Bytes>, Self::Error>>> {
        use std::task::Poll;
        if self.done {
            return Poll::Ready(None);
        }
        loop {
            match std::pin::Pin::new(&mut self.inner).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data() {
                        self.seen.extend_from_slice(&data);
                    }
                }
                Poll::Ready(None) => {
                    self.done = true;
                    let seen = std::mem::take(&mut self.seen);
                    // Object bodies pass untouched: only moto's XML is renamed.
                    let body = match String::from_utf8(seen) {
                        Ok(text) if text.contains("<ListPartsResponse") => text
                            .replace("<ListPartsResponse", "<ListPartsResult")
                            .replace("</ListPartsResponse>", "</ListPartsResult>")
                            .into_bytes(),
                        Ok(text) => text.into_bytes(),
                        Err(e) => e.into_bytes(),
                    };
                    return Poll::Ready(Some(Ok(http_body::Frame::data(body.into()))));
                }
            }
        }
    }
}

/// What the faulty proxy does to the requests a rule matches.
#[derive(Clone, Copy, Debug)]
pub enum Fault {
    /// Answer 500 without passing the request on.
    Refuse,
    /// Pass the request on, then answer 500 as if the answer were lost.
    LoseAnswer,
    /// Answer 404 `NoSuchUpload`, as AWS does to a completion retried after
    /// the first one went through.
    NoSuchUpload,
    /// Pass the request on after this many milliseconds: a slow backend.
    Delay(u64),
    /// Answer 503 `SlowDown` without passing the request on: throttling.
    SlowDown,
}

/// What went through the faulty proxy.
#[derive(Debug, Default)]
pub struct Traffic {
    /// `METHOD path?query -> status`, in the order answered.
    log: std::sync::Mutex<Vec<String>>,
    parts_now: AtomicUsize,
    parts_most: AtomicUsize,
}

impl Traffic {
    /// The most part uploads that were in the proxy at once.
    pub fn most_parts_at_once(&self) -> usize {
        self.parts_most.load(Ordering::SeqCst)
    }

    /// How many requests with this method and `needle` in their path and
    /// query were answered.
    pub fn count(&self, method: &str, needle: &str) -> usize {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|line| line.starts_with(&format!("{method} ")) && line.contains(needle))
            .count()
    }

    /// The part numbers S3 accepted, once per acceptance, in order.
    pub fn parts_accepted(&self) -> Vec<i32> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|line| line.starts_with("PUT ") && line.ends_with("-> 200"))
            .filter_map(|line| {
                let (_, rest) = line.split_once("partNumber=")?;
                rest.split(['&', ' ']).next()?.parse().ok()
            })
            .collect()
    }
}

/// A rule: requests with this method whose path and query contain `needle`.
#[derive(Clone, Debug)]
pub struct Rule {
    pub method: &'static str,
    pub needle: String,
    pub fault: Fault,
    /// How many requests it applies to.
    pub times: usize,
}

/// A proxy in front of `upstream` that breaks the requests `rules` name:
/// the failures S3 has in the field, on demand. It passes the `Host`
/// header on untouched, so signatures still hold.
async fn faulty_proxy(upstream: &str, rules: Vec<Rule>) -> (String, std::sync::Arc<Traffic>) {
    use http_body_util::{BodyExt, Full};
    let traffic = std::sync::Arc::new(Traffic::default());
    let seen = traffic.clone();
    let rules = std::sync::Arc::new(std::sync::Mutex::new(rules));
    let upstream: http::Uri = upstream.parse().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<bytes::Bytes>>();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let (rules, client, upstream, seen) = (
                rules.clone(),
                client.clone(),
                upstream.clone(),
                seen.clone(),
            );
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(
                    move |req: http::Request<hyper::body::Incoming>| {
                        let (rules, client, upstream, seen) = (
                            rules.clone(),
                            client.clone(),
                            upstream.clone(),
                            seen.clone(),
                        );
                        let method = req.method().to_string();
                        let target = req
                            .uri()
                            .path_and_query()
                            .map(|p| p.as_str().to_owned())
                            .unwrap_or_default();
                        let is_part = method == "PUT" && target.contains("partNumber=");
                        if is_part {
                            let now = seen.parts_now.fetch_add(1, Ordering::SeqCst) + 1;
                            seen.parts_most.fetch_max(now, Ordering::SeqCst);
                        }
                        let target_logged = target.clone();
                        let answered = async move {
                            let fault = {
                                let mut rules = rules.lock().unwrap();
                                rules
                                    .iter_mut()
                                    .find(|r| {
                                        r.times > 0
                                            && r.method == req.method().as_str()
                                            && target.contains(&r.needle)
                                    })
                                    .map(|r| {
                                        r.times -= 1;
                                        r.fault
                                    })
                            };
                            let failed = || {
                                let mut res = http::Response::new(Full::new(bytes::Bytes::from_static(
                                b"<Error><Code>InternalError</Code><Message>injected</Message></Error>",
                            )));
                                *res.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
                                Ok::<_, std::convert::Infallible>(res)
                            };
                            if let Some(Fault::Refuse) = fault {
                                return failed();
                            }
                            if let Some(Fault::SlowDown) = fault {
                                let mut res = http::Response::new(Full::new(bytes::Bytes::from_static(
                                    b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>",
                                )));
                                *res.status_mut() = http::StatusCode::SERVICE_UNAVAILABLE;
                                return Ok(res);
                            }
                            if let Some(Fault::Delay(ms)) = fault {
                                tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
                            }
                            let (mut parts, body) = req.into_parts();
                            let body = body
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            parts.uri = format!("http://{}{target}", upstream.authority().unwrap())
                                .parse()
                                .unwrap();
                            let res = client
                                .request(http::Request::from_parts(parts, Full::new(body)))
                                .await
                                .unwrap();
                            if let Some(Fault::LoseAnswer) = fault {
                                return failed();
                            }
                            let (parts, body) = res.into_parts();
                            let body = body
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            Ok(http::Response::from_parts(parts, Full::new(body)))
                        };
                        async move {
                            let res = answered.await;
                            if is_part {
                                seen.parts_now.fetch_sub(1, Ordering::SeqCst);
                            }
                            if let Ok(res) = &res {
                                seen.log.lock().unwrap().push(format!(
                                    "{method} {target_logged} -> {}",
                                    res.status().as_u16()
                                ));
                            }
                            res
                        }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (format!("http://{addr}"), traffic)
}

/// An S3 server the tests run on, with the part size its stores use.
#[derive(Clone, Copy, Debug)]
pub enum Server {
    /// moto, with 1 KiB parts.
    Moto,
    /// SeaweedFS, with real 5 MiB parts and every signature checked.
    SeaweedFs,
}

impl Server {
    /// The minimum part size this server's stores are configured with.
    pub fn part(self) -> usize {
        match self {
            Server::Moto => MIN_PART as usize,
            Server::SeaweedFs => 5 << 20,
        }
    }

    /// A client for this server.
    pub fn client(self) -> aws_sdk_s3::Client {
        match self {
            Server::Moto => client(),
            Server::SeaweedFs => seaweedfs_client(),
        }
    }

    /// A store over `bucket` (again: as after a restart).
    pub fn over(self, bucket: &str) -> S3Store {
        self.sized(S3Store::new(self.client(), bucket))
    }

    /// `store` with this server's part size.
    fn sized(self, store: S3Store) -> S3Store {
        match self {
            Server::Moto => store.min_part_size(MIN_PART).preferred_part_size(MIN_PART),
            Server::SeaweedFs => store,
        }
    }

    /// A proxy in front of this server that applies `rules`; its endpoint.
    pub async fn proxy(self, rules: Vec<Rule>) -> (String, std::sync::Arc<Traffic>) {
        let upstream = match self {
            Server::Moto => moto(),
            Server::SeaweedFs => seaweedfs(),
        };
        faulty_proxy(upstream, rules).await
    }

    /// A store over `bucket` through the proxy at `proxy`.
    pub fn through(self, proxy: &str, bucket: &str) -> S3Store {
        let client = match self {
            Server::Moto => client_for(proxy, ("test", "test"), true),
            Server::SeaweedFs => client_for(proxy, SEAWEED_KEY, false),
        };
        self.sized(S3Store::new(client, bucket))
    }

    /// A store over `bucket` through a new proxy that applies `rules`, and
    /// what went through it.
    pub async fn watched(
        self,
        bucket: &str,
        rules: Vec<Rule>,
    ) -> (S3Store, std::sync::Arc<Traffic>) {
        let (proxy, traffic) = self.proxy(rules).await;
        (self.through(&proxy, bucket), traffic)
    }
}
