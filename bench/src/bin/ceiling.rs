//! The machine's ceiling for the benchmarks: a bare hyper server that
//! answers just enough tus (POST, PATCH, HEAD) and appends each upload's
//! body to one file, nothing else: no `.info`, no locks, no checks.
//!
//! ```text
//! ceiling PORT DIR [sync]
//! ```
//! With `sync`, each PATCH's bytes are `fdatasync`ed before the answer, and a
//! new upload's file and folder are synced at creation.

use std::convert::Infallible;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;

type Error = Box<dyn std::error::Error + Send + Sync>;

struct Ceiling {
    dir: PathBuf,
    sync: bool,
    next: AtomicU64,
}

fn reply(status: StatusCode, headers: &[(&str, String)]) -> Response<Empty<Bytes>> {
    let mut res = Response::new(Empty::new());
    *res.status_mut() = status;
    res.headers_mut()
        .insert("tus-resumable", http::HeaderValue::from_static("1.0.0"));
    for (k, v) in headers {
        if let (Ok(k), Ok(v)) = (
            http::HeaderName::try_from(*k),
            http::HeaderValue::try_from(v.as_str()),
        ) {
            res.headers_mut().insert(k, v);
        }
    }
    res
}

impl Ceiling {
    async fn serve(&self, req: Request<Incoming>) -> Result<Response<Empty<Bytes>>, Error> {
        let path = req.uri().path().to_owned();
        let id = path.strip_prefix("/files/").unwrap_or("");
        let file = self.dir.join(id);
        Ok(match (req.method().clone(), id.is_empty()) {
            (Method::POST, true) => {
                let id = self.next.fetch_add(1, Ordering::Relaxed).to_string();
                let created = std::fs::File::create(self.dir.join(&id))?;
                if self.sync {
                    created.sync_all()?;
                    std::fs::File::open(&self.dir)?.sync_all()?;
                }
                reply(
                    StatusCode::CREATED,
                    &[
                        ("location", format!("/files/{id}")),
                        ("upload-offset", "0".into()),
                    ],
                )
            }
            (Method::PATCH, false) => {
                let mut out = std::fs::OpenOptions::new().append(true).open(&file)?;
                let mut body = req.into_body();
                while let Some(frame) = body.frame().await {
                    if let Ok(data) = frame?.into_data() {
                        out.write_all(&data)?;
                    }
                }
                if self.sync {
                    out.sync_data()?;
                }
                let offset = out.metadata()?.len();
                reply(
                    StatusCode::NO_CONTENT,
                    &[("upload-offset", offset.to_string())],
                )
            }
            (Method::HEAD, false) => {
                let offset = std::fs::metadata(&file)?.len();
                reply(StatusCode::OK, &[("upload-offset", offset.to_string())])
            }
            _ => reply(StatusCode::NOT_FOUND, &[]),
        })
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let port: u16 = args
        .first()
        .ok_or("usage: ceiling PORT DIR [sync]")?
        .parse()?;
    let dir = PathBuf::from(args.get(1).ok_or("usage: ceiling PORT DIR [sync]")?);
    std::fs::create_dir_all(&dir)?;
    let ceiling = Arc::new(Ceiling {
        dir,
        sync: args.get(2).is_some_and(|a| a == "sync"),
        next: AtomicU64::new(0),
    });
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        let ceiling = ceiling.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                let ceiling = ceiling.clone();
                async move {
                    Ok::<_, Infallible>(match ceiling.serve(req).await {
                        Ok(res) => res,
                        Err(_) => reply(StatusCode::INTERNAL_SERVER_ERROR, &[]),
                    })
                }
            });
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder.max_buf_size(1 << 20);
            let _ = builder
                .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                .await;
        });
    }
}
