//! tusd's file and HTTP hooks: the hook's JSON in, tusd's JSON answer out.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use http::{HeaderName, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;
use tower_tus::hooks::{
    Decision, HookError, HookEvent, HookName, HookResponse, Hooks, PostReceive, PreCreate,
};
use tower_tus::metadata::Metadata;

/// Where hooks go.
pub struct CliHooks {
    dir: Option<PathBuf>,
    http: Option<HttpHook>,
    enabled: Vec<HookName>,
}

pub struct HttpHook {
    pub url: Uri,
    pub retry: u32,
    pub backoff: Duration,
    pub timeout: Duration,
    pub forward_headers: Vec<HeaderName>,
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl HttpHook {
    pub fn new(
        url: Uri,
        retry: u32,
        backoff: Duration,
        timeout: Duration,
        forward_headers: Vec<HeaderName>,
    ) -> Self {
        HttpHook {
            url,
            retry,
            backoff,
            timeout,
            forward_headers,
            client: Client::builder(TokioExecutor::new()).build(https_connector()),
        }
    }
}

/// `http://` and `https://` hook URLs; servers are verified against the
/// system's roots (`SSL_CERT_FILE` and `SSL_CERT_DIR` are honoured).
fn https_connector() -> HttpsConnector<HttpConnector> {
    let provider = std::sync::Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let builder = hyper_rustls::HttpsConnectorBuilder::new();
    let builder = match builder.with_provider_and_native_roots(provider.clone()) {
        Ok(builder) => builder,
        Err(err) => {
            tracing::warn!("no CA certificates for https hook URLs: {err}");
            let config = tokio_rustls::rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .expect("ring supports the default protocol versions")
                .with_root_certificates(tokio_rustls::rustls::RootCertStore::empty())
                .with_no_client_auth();
            hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(config)
        }
    };
    builder.https_or_http().enable_http1().build()
}

/// What a hook failed with.
enum Failure {
    /// A file hook exited with a non-zero status: for a pre-hook, a refusal.
    Exit(String),
    /// It could not run or answer.
    Broken(String),
}

impl From<Failure> for HookError {
    fn from(f: Failure) -> Self {
        match f {
            Failure::Exit(m) | Failure::Broken(m) => HookError::new(m),
        }
    }
}

#[derive(Serialize)]
struct HookRequest<'a> {
    #[serde(rename = "Type")]
    kind: &'static str,
    #[serde(rename = "Event")]
    event: EventJson<'a>,
}

#[derive(Serialize)]
struct EventJson<'a> {
    #[serde(rename = "Upload")]
    upload: UploadJson<'a>,
    #[serde(rename = "HTTPRequest")]
    request: RequestJson,
}

#[derive(Serialize)]
struct UploadJson<'a> {
    #[serde(rename = "ID")]
    id: &'a str,
    #[serde(rename = "Size")]
    size: u64,
    #[serde(rename = "SizeIsDeferred")]
    size_is_deferred: bool,
    #[serde(rename = "Offset")]
    offset: u64,
    #[serde(rename = "MetaData")]
    metadata: BTreeMap<String, String>,
    #[serde(rename = "IsPartial")]
    is_partial: bool,
    #[serde(rename = "IsFinal")]
    is_final: bool,
    #[serde(rename = "PartialUploads")]
    partial_uploads: &'a [String],
    #[serde(rename = "Storage")]
    storage: &'a BTreeMap<String, String>,
}

#[derive(Serialize)]
struct RequestJson {
    #[serde(rename = "Method")]
    method: String,
    #[serde(rename = "URI")]
    uri: String,
    #[serde(rename = "RemoteAddr")]
    remote_addr: String,
    #[serde(rename = "Header")]
    header: BTreeMap<String, Vec<String>>,
}

#[derive(Deserialize, Default)]
struct Answer {
    #[serde(rename = "HTTPResponse", default)]
    http_response: Option<ResponseJson>,
    #[serde(rename = "RejectUpload", default)]
    reject_upload: bool,
    #[serde(rename = "RejectTermination", default)]
    reject_termination: bool,
    #[serde(rename = "StopUpload", default)]
    stop_upload: bool,
    #[serde(rename = "ChangeFileInfo", default)]
    change: Option<ChangeJson>,
}

#[derive(Deserialize, Default)]
struct ResponseJson {
    #[serde(rename = "StatusCode", default)]
    status: Option<u16>,
    #[serde(rename = "Body", default)]
    body: Option<String>,
    #[serde(rename = "Header", default)]
    header: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize, Default)]
struct ChangeJson {
    #[serde(rename = "ID", default)]
    id: Option<String>,
    #[serde(rename = "MetaData", default)]
    metadata: Option<BTreeMap<String, String>>,
}

impl Answer {
    fn response(&self) -> HookResponse {
        let mut out = HookResponse::default();
        if let Some(r) = &self.http_response {
            out.status = r.status.and_then(|s| StatusCode::from_u16(s).ok());
            out.body = r.body.clone().map(Bytes::from);
            for (k, v) in r.header.iter().flatten() {
                out = out.with_header(k, v);
            }
        }
        out
    }
}

/// `upload-length` → `Upload-Length`, as Go's net/http writes header names.
fn canonical(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

fn request_json(event: &HookEvent) -> Vec<u8> {
    let upload = &event.upload;
    let mut header: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in &event.request.headers {
        header
            .entry(canonical(name.as_str()))
            .or_default()
            .push(String::from_utf8_lossy(value.as_bytes()).into_owned());
    }
    let request = HookRequest {
        kind: event.hook.as_str(),
        event: EventJson {
            upload: UploadJson {
                id: &upload.id,
                size: upload.size.unwrap_or(0),
                size_is_deferred: upload.size.is_none(),
                offset: upload.offset,
                metadata: upload
                    .metadata
                    .iter()
                    .map(|(k, v)| (k.to_owned(), String::from_utf8_lossy(v).into_owned()))
                    .collect(),
                is_partial: upload.is_partial,
                is_final: upload.is_final,
                partial_uploads: &upload.partial_uploads,
                storage: &upload.storage,
            },
            request: RequestJson {
                method: event.request.method.to_string(),
                uri: event.request.uri.to_string(),
                remote_addr: event
                    .request
                    .remote_addr
                    .map(|a| a.to_string())
                    .unwrap_or_default(),
                header,
            },
        },
    };
    serde_json::to_vec(&request).unwrap_or_default()
}

fn parse_answer(bytes: &[u8]) -> Result<Answer, Failure> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Answer::default());
    }
    serde_json::from_slice(bytes)
        .map_err(|e| Failure::Broken(format!("answer is not tusd's hook JSON: {e}")))
}

impl CliHooks {
    /// A pre-hook's allow-or-refuse: a non-zero exit or the `refuses` flag
    /// of tusd's answer refuses with 403 (or the answer's response).
    async fn decide(
        &self,
        event: &HookEvent,
        refuses: fn(&Answer) -> bool,
    ) -> Result<Decision, HookError> {
        match self.invoke(event).await {
            Err(Failure::Exit(why)) => Ok(Decision::Reject(refusal(
                event.hook,
                StatusCode::FORBIDDEN,
                None,
                Some(why),
            ))),
            Err(f) => Err(f.into()),
            Ok(answer) if refuses(&answer) => Ok(Decision::Reject(refusal(
                event.hook,
                StatusCode::FORBIDDEN,
                Some(&answer),
                None,
            ))),
            Ok(_) => Ok(Decision::Allow),
        }
    }

    pub fn new(dir: Option<PathBuf>, http: Option<HttpHook>, enabled: Vec<HookName>) -> Self {
        CliHooks { dir, http, enabled }
    }

    async fn invoke(&self, event: &HookEvent) -> Result<Answer, Failure> {
        let json = request_json(event);
        if let Some(dir) = &self.dir {
            let path = dir.join(event.hook.as_str());
            if path.is_file() {
                return run_file(path, json).await;
            }
        }
        if let Some(http) = &self.http {
            return post_http(http, event, json).await;
        }
        Ok(Answer::default())
    }
}

async fn run_file(path: PathBuf, json: Vec<u8>) -> Result<Answer, Failure> {
    let mut child = tokio::process::Command::new(&path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| Failure::Broken(format!("cannot run {}: {e}", path.display())))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its input is fine.
        let _ = stdin.write_all(&json).await;
    }
    let out = child
        .wait_with_output()
        .await
        .map_err(|e| Failure::Broken(format!("{} did not finish: {e}", path.display())))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(Failure::Exit(format!(
            "{} exited with {}: {}",
            path.display(),
            out.status,
            stderr.trim()
        )));
    }
    parse_answer(&out.stdout)
}

async fn post_http(hook: &HttpHook, event: &HookEvent, json: Vec<u8>) -> Result<Answer, Failure> {
    let mut last = String::new();
    for attempt in 0..=hook.retry {
        if attempt > 0 {
            tokio::time::sleep(hook.backoff).await;
        }
        let mut req = Request::post(hook.url.clone())
            .header("content-type", "application/json")
            .header("hook-name", event.hook.as_str());
        for name in &hook.forward_headers {
            for value in event.request.headers.get_all(name) {
                req = req.header(name, value);
            }
        }
        let req = req
            .body(Full::new(Bytes::from(json.clone())))
            .map_err(|e| Failure::Broken(e.to_string()))?;
        let result = tokio::time::timeout(hook.timeout, async {
            let res = hook
                .client
                .request(req)
                .await
                .map_err(|e| error_chain(&e))?;
            let status = res.status();
            let body = res
                .into_body()
                .collect()
                .await
                .map_err(|e| e.to_string())?
                .to_bytes();
            Ok::<_, String>((status, body))
        })
        .await;
        match result {
            Ok(Ok((status, body))) if status.is_success() => return parse_answer(&body),
            Ok(Ok((status, _))) => last = format!("{} answered {status}", hook.url),
            Ok(Err(e)) => last = format!("{} failed: {e}", hook.url),
            Err(_) => last = format!("{} did not answer within {:?}", hook.url, hook.timeout),
        }
        tracing::warn!(hook = event.hook.as_str(), attempt, "{last}");
    }
    Err(Failure::Broken(last))
}

/// An error with its causes: "client error (Connect): invalid peer certificate: …".
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

fn refusal(
    hook: HookName,
    default: StatusCode,
    answer: Option<&Answer>,
    why: Option<String>,
) -> HookResponse {
    let mut response = answer.map(Answer::response).unwrap_or_default();
    response.status.get_or_insert(default);
    if response.body.is_none() {
        let why = why.map(|w| format!(": {w}")).unwrap_or_default();
        response.body = Some(Bytes::from(format!(
            "rejected by the {} hook{why}\n",
            hook.as_str()
        )));
    }
    response
}

#[async_trait]
impl Hooks for CliHooks {
    fn enabled(&self, hook: HookName) -> bool {
        self.enabled.contains(&hook)
            && (self.http.is_some()
                || self
                    .dir
                    .as_ref()
                    .is_some_and(|d| d.join(hook.as_str()).is_file()))
    }

    async fn pre_create(&self, event: &HookEvent) -> Result<PreCreate, HookError> {
        match self.invoke(event).await {
            Err(Failure::Exit(why)) => Ok(PreCreate::Reject(refusal(
                event.hook,
                StatusCode::BAD_REQUEST,
                None,
                Some(why),
            ))),
            Err(f) => Err(f.into()),
            Ok(answer) if answer.reject_upload => Ok(PreCreate::Reject(refusal(
                event.hook,
                StatusCode::BAD_REQUEST,
                Some(&answer),
                None,
            ))),
            Ok(answer) => {
                let change = answer.change.unwrap_or_default();
                Ok(PreCreate::Allow {
                    id: change.id.filter(|id| !id.is_empty()),
                    metadata: change.metadata.map(|m| {
                        m.into_iter()
                            .map(|(k, v)| (k, v.into_bytes()))
                            .collect::<Metadata>()
                    }),
                })
            }
        }
    }

    async fn post_create(&self, event: &HookEvent) -> Result<(), HookError> {
        self.invoke(event).await.map(drop).map_err(Into::into)
    }

    async fn post_receive(&self, event: &HookEvent) -> Result<PostReceive, HookError> {
        let answer = self.invoke(event).await?;
        if answer.stop_upload {
            let mut response = answer.response();
            response.status.get_or_insert(StatusCode::BAD_REQUEST);
            return Ok(PostReceive::Stop(response));
        }
        Ok(PostReceive::Continue)
    }

    async fn pre_finish(&self, event: &HookEvent) -> Result<HookResponse, HookError> {
        Ok(self.invoke(event).await?.response())
    }

    async fn post_finish(&self, event: &HookEvent) -> Result<(), HookError> {
        self.invoke(event).await.map(drop).map_err(Into::into)
    }

    async fn pre_terminate(&self, event: &HookEvent) -> Result<Decision, HookError> {
        self.decide(event, |answer| answer.reject_termination).await
    }

    async fn post_terminate(&self, event: &HookEvent) -> Result<(), HookError> {
        self.invoke(event).await.map(drop).map_err(Into::into)
    }

    async fn pre_access(&self, event: &HookEvent) -> Result<Decision, HookError> {
        self.decide(event, |answer| answer.reject_upload).await
    }
}
