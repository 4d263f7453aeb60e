//! `examples/tonic.rs` on 127.0.0.1: a tonic gRPC client over HTTP/2 and a
//! tus client over HTTP/1.1 on one port at once.

#[path = "../examples/tonic.rs"]
#[allow(dead_code)]
mod example;

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{header_of, pattern, raw, read_response, tools};
use tokio::io::AsyncWriteExt;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

async fn start(dir: &std::path::Path) -> (SocketAddr, tonic_health::server::HealthReporter) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (reporter, app) = example::app(dir);
    tokio::spawn(example::serve(listener, app));
    (addr, reporter)
}

async fn health(addr: SocketAddr) -> HealthClient<tonic::transport::Channel> {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    HealthClient::new(channel)
}

async fn check(client: &mut HealthClient<tonic::transport::Channel>) -> i32 {
    client
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .status
}

#[tokio::test]
async fn grpc_calls_and_an_upload_on_one_port_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let (addr, reporter) = start(dir.path()).await;
    let mut client = health(addr).await;
    assert_eq!(check(&mut client).await, ServingStatus::Serving as i32);

    // An upload streams over HTTP/1.1 while gRPC calls go on over HTTP/2.
    let data = pattern(4 << 20);
    let (status, head, _) = raw(
        addr,
        &format!("POST /files/ HTTP/1.1\r\nHost: {addr}\r\nTus-Resumable: 1.0.0\r\nUpload-Length: {}\r\nContent-Length: 0\r\n\r\n", data.len()),
        b"",
    )
    .await;
    assert_eq!(status, 201, "{head}");
    let url = header_of(&head, "location").unwrap();
    let upload = tokio::spawn({
        let (url, data) = (url.clone(), data.clone());
        async move {
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            s.write_all(
                format!("PATCH {url} HTTP/1.1\r\nHost: {addr}\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\nContent-Type: application/offset+octet-stream\r\nContent-Length: {}\r\n\r\n", data.len())
                    .as_bytes(),
            )
            .await
            .unwrap();
            for chunk in data.chunks(256 << 10) {
                s.write_all(chunk).await.unwrap();
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            read_response(&mut s).await.0
        }
    });
    let mut calls = 0;
    while !upload.is_finished() {
        assert_eq!(check(&mut client).await, ServingStatus::Serving as i32);
        calls += 1;
    }
    assert!(calls > 1, "gRPC calls ran during the upload");
    assert_eq!(upload.await.unwrap(), 204);
    let id = url.rsplit('/').next().unwrap();
    assert!(std::fs::read(dir.path().join(id)).unwrap() == data);

    reporter
        .set_service_status("", tonic_health::ServingStatus::NotServing)
        .await;
    assert_eq!(check(&mut client).await, ServingStatus::NotServing as i32);
}

#[tokio::test]
async fn tus_js_client_uploads_while_grpc_calls_go_on() {
    if !tools::wanted(
        "tus_js_client_uploads_while_grpc_calls_go_on",
        "Node.js and tus-js-client",
    ) {
        return;
    }
    tools::install(tools::Clients::Node);
    let dir = tempfile::tempdir().unwrap();
    let (addr, _reporter) = start(&dir.path().join("uploads")).await;
    let file = dir.path().join("file.bin");
    std::fs::write(&file, pattern(8 << 20)).unwrap();
    let mut node = tokio::process::Command::new("node")
        .arg(tools::interop_dir().join("tus-js-client.mjs"))
        .arg("whole")
        .arg(format!("http://{addr}/files/"))
        .arg(&file)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // gRPC calls go on for as long as the client uploads.
    let mut client = health(addr).await;
    let mut calls = 0;
    let status = loop {
        tokio::select! {
            status = node.wait() => break status.unwrap(),
            serving = check(&mut client) => {
                assert_eq!(serving, ServingStatus::Serving as i32);
                calls += 1;
            }
        }
    };
    let out = node.wait_with_output().await.unwrap();
    assert!(
        status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        calls >= 5,
        "only {calls} gRPC calls while tus-js-client uploaded"
    );
}
