//! The `tusd` binary, started for real.
#![cfg(feature = "cli")]

mod common;

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::certs::Certs;
use common::tusd::{command, launch, start};
use common::{header_of, raw, read_response};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// The head of a PATCH at offset 0 announcing 10 bytes.
fn patch_head(addr: SocketAddr, url: &str) -> String {
    format!(
        "PATCH {url} HTTP/1.1\r\nHost: {addr}\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\nContent-Type: application/offset+octet-stream\r\nContent-Length: 10\r\n\r\n"
    )
}

fn post(addr: SocketAddr, base: &str, extra: &str) -> String {
    format!(
        "POST {base} HTTP/1.1\r\nHost: {addr}\r\nTus-Resumable: 1.0.0\r\nUpload-Length: 10\r\nContent-Length: 0\r\n{extra}\r\n"
    )
}

#[test]
fn help_lists_every_flag() {
    let out = Command::new(env!("CARGO_BIN_EXE_tusd"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    for flag in [
        "--host",
        "--port",
        "--base-path",
        "--upload-dir",
        "--max-size",
        "--behind-proxy",
        "--disable-download",
        "--disable-termination",
        "--cors-allow-origin",
        "--cors-allow-credentials",
        "--cors-allow-headers",
        "--cors-expose-headers",
        "--cors-max-age",
        "--disable-cors",
        "--acquire-lock-timeout",
        "--shutdown-timeout",
        "--max-store-size",
        "--max-store-policy",
        "--data-sync",
        "--expire-after",
        "--expire-finished-after",
        "--cleanup-interval",
        "--hooks-dir",
        "--hooks-http",
        "--hooks-http-retry",
        "--hooks-http-backoff",
        "--hooks-http-timeout",
        "--hooks-http-forward-headers",
        "--hooks-enabled-events",
        "--progress-hooks-interval",
        "--expose-metrics",
        "--metrics-path",
        "--network-timeout",
        "--unix-sock",
        "--tls-certificate",
        "--tls-key",
        "--locker",
        "--redis-url",
        "--redis-key-prefix",
        "--etcd-endpoints",
        "--etcd-key-prefix",
        "--lock-lease",
        "--lock-renew-interval",
        "--max-metadata-size",
        "--max-connections",
        "--max-partial-uploads",
        "--max-final-size",
        "--concatenation-wait",
        "--idle-timeout",
        "--read-header-timeout",
        "--tls-handshake-timeout",
        "Locking:",
        "TUSD_UPLOAD_DIR",
        "Hooks:",
        "Metrics:",
    ] {
        assert!(help.contains(flag), "{flag} missing from --help");
    }
}

#[tokio::test]
async fn serves_a_folder_in_tusd_layout() {
    let dir = tempfile::tempdir().unwrap();
    let tusd = start(dir.path(), &["--max-size", "100", "--base-path", "uploads"]).await;
    let addr = tusd.addr;
    let (status, head, _) = raw(
        addr,
        &format!("OPTIONS /uploads/ HTTP/1.1\r\nHost: {addr}\r\n\r\n"),
        b"",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(header_of(&head, "tus-max-size").as_deref(), Some("100"));
    let (status, head, _) = raw(addr, &post(addr, "/uploads/", ""), b"").await;
    assert_eq!(status, 201);
    let url = header_of(&head, "location").unwrap();
    assert!(url.starts_with("/uploads/"), "{url}");
    let patch = patch_head(addr, &url);
    let (status, _, _) = raw(addr, &patch, b"0123456789").await;
    assert_eq!(status, 204);
    let id = url.rsplit('/').next().unwrap();
    assert_eq!(std::fs::read(dir.path().join(id)).unwrap(), b"0123456789");
    assert!(dir.path().join(format!("{id}.info")).exists());
    // Outside the base path: 404 from the binary itself.
    let (status, _, _) = raw(
        addr,
        &format!("GET /elsewhere HTTP/1.1\r\nHost: {addr}\r\n\r\n"),
        b"",
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn every_data_sync_policy_serves_uploads_and_a_bad_one_is_refused() {
    for policy in ["each-write", "at-finish", "never"] {
        let dir = tempfile::tempdir().unwrap();
        let tusd = start(dir.path(), &["--data-sync", policy]).await;
        let addr = tusd.addr;
        let (status, head, _) = raw(addr, &post(addr, "/files/", ""), b"").await;
        assert_eq!(status, 201, "{policy}");
        let url = header_of(&head, "location").unwrap();
        let (status, _, _) = raw(addr, &patch_head(addr, &url), b"0123456789").await;
        assert_eq!(status, 204, "{policy}");
        let id = url.rsplit('/').next().unwrap();
        assert_eq!(std::fs::read(dir.path().join(id)).unwrap(), b"0123456789");
        let info: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join(format!("{id}.info"))).unwrap())
                .unwrap();
        assert_eq!(info["Finished"], true, "{policy}");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_tusd"))
        .args(["--data-sync", "sometimes"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("each-write"));
}

#[tokio::test]
async fn cors_origin_regex_must_match_the_whole_origin() {
    let dir = tempfile::tempdir().unwrap();
    let tusd = start(
        dir.path(),
        &["--cors-allow-origin", r"https://app\.example"],
    )
    .await;
    let addr = tusd.addr;
    let (status, head, _) = raw(
        addr,
        &post(addr, "/files/", "Origin: https://app.example\r\n"),
        b"",
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(
        header_of(&head, "access-control-allow-origin").as_deref(),
        Some("https://app.example")
    );
    let (status, _, _) = raw(
        addr,
        &post(addr, "/files/", "Origin: https://app.example.evil.test\r\n"),
        b"",
    )
    .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn ctrl_c_lets_a_running_upload_finish_then_exits() {
    let dir = tempfile::tempdir().unwrap();
    let mut tusd = start(dir.path(), &[]).await;
    let addr = tusd.addr;
    let (_, head, _) = raw(addr, &post(addr, "/files/", ""), b"").await;
    let url = header_of(&head, "location").unwrap();

    let mut s = TcpStream::connect(addr).await.unwrap();
    let patch = patch_head(addr, &url);
    s.write_all(patch.as_bytes()).await.unwrap();
    s.write_all(b"01234").await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    let pid = tusd.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    // New connections are refused while the running request goes on.
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "listener closed on shutdown"
    );
    s.write_all(b"56789").await.unwrap();
    let (status, head, _) = read_response(&mut s).await;
    assert_eq!(status, 204);
    assert_eq!(header_of(&head, "upload-offset").as_deref(), Some("10"));
    drop(s);

    let mut exited = false;
    for _ in 0..100 {
        if let Some(code) = tusd.child.try_wait().unwrap() {
            assert!(code.success(), "{code:?}");
            exited = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(exited, "tusd exited after the running request finished");
    let id = url.rsplit('/').next().unwrap();
    assert_eq!(std::fs::read(dir.path().join(id)).unwrap(), b"0123456789");
}

#[tokio::test]
async fn expired_uploads_are_swept_from_the_folder() {
    let dir = tempfile::tempdir().unwrap();
    let tusd = start(
        dir.path(),
        &["--expire-after", "1", "--cleanup-interval", "1"],
    )
    .await;
    let addr = tusd.addr;
    let (_, head, _) = raw(addr, &post(addr, "/files/", ""), b"").await;
    assert!(header_of(&head, "upload-expires").is_some());
    let id = header_of(&head, "location")
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    assert!(dir.path().join(&id).exists());
    for _ in 0..60 {
        if !dir.path().join(&id).exists() && !dir.path().join(format!("{id}.info")).exists() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the expired upload's files are still there");
}

#[tokio::test]
async fn the_store_size_limit_refuses_with_507() {
    let dir = tempfile::tempdir().unwrap();
    let tusd = start(
        dir.path(),
        &["--max-store-size", "15", "--max-store-policy", "refuse"],
    )
    .await;
    let addr = tusd.addr;
    let (status, _, _) = raw(addr, &post(addr, "/files/", ""), b"").await;
    assert_eq!(status, 201);
    let (status, _, _) = raw(addr, &post(addr, "/files/", ""), b"").await;
    assert_eq!(status, 507);
}

#[tokio::test]
async fn max_metadata_size_refuses_longer_metadata_with_400() {
    let dir = tempfile::tempdir().unwrap();
    let tusd = start(dir.path(), &["--max-metadata-size", "16"]).await;
    let addr = tusd.addr;
    let (status, _, _) = raw(
        addr,
        &post(addr, "/files/", "Upload-Metadata: name YWJj\r\n"),
        b"",
    )
    .await;
    assert_eq!(status, 201);
    let (status, _, body) = raw(
        addr,
        &post(
            addr,
            "/files/",
            "Upload-Metadata: filename YWJjZGVmZ2g=\r\n",
        ),
        b"",
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body, b"Upload-Metadata is longer than 16 bytes\n");
}

#[tokio::test]
async fn the_concatenation_caps_take_their_flags() {
    let dir = tempfile::tempdir().unwrap();
    let tusd = start(
        dir.path(),
        &["--max-partial-uploads", "3", "--max-final-size", "25"],
    )
    .await;
    let addr = tusd.addr;
    let (status, head, _) = raw(
        addr,
        &post(addr, "/files/", "Upload-Concat: partial\r\n"),
        b"",
    )
    .await;
    assert_eq!(status, 201);
    // A partial of 10 bytes, named again and again.
    let partial = header_of(&head, "location").unwrap();
    let final_of = |names: usize| {
        let urls = vec![partial.as_str(); names].join(" ");
        format!(
            "POST /files/ HTTP/1.1\r\nHost: {addr}\r\nTus-Resumable: 1.0.0\r\nUpload-Concat: final;{urls}\r\nContent-Length: 0\r\n\r\n"
        )
    };
    let (status, _, body) = raw(addr, &final_of(4), b"").await;
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&body));
    let (status, _, body) = raw(addr, &final_of(3), b"").await;
    assert_eq!(status, 413, "30 bytes: {}", String::from_utf8_lossy(&body));
    let (status, _, body) = raw(addr, &final_of(2), b"").await;
    assert_eq!(status, 201, "20 bytes: {}", String::from_utf8_lossy(&body));
}

fn write_hook(dir: &std::path::Path, name: &str, script: &str) {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn post_with_metadata(addr: SocketAddr, metadata: &str) -> String {
    format!(
        "POST /files/ HTTP/1.1\r\nHost: {addr}\r\nTus-Resumable: 1.0.0\r\nUpload-Length: 10\r\nUpload-Metadata: {metadata}\r\nContent-Length: 0\r\n\r\n"
    )
}

#[tokio::test]
async fn file_hooks_reject_rename_stop_and_refuse() {
    let dir = tempfile::tempdir().unwrap();
    let hooks = tempfile::tempdir().unwrap();
    write_hook(
        hooks.path(),
        "pre-create",
        r#"#!/bin/sh
input=$(cat)
case "$input" in
  *'"mode":"reject"'*) echo '{"RejectUpload":true,"HTTPResponse":{"StatusCode":402,"Body":"pay first","Header":{"X-Reason":"quota"}}}' ;;
  *'"mode":"exit"'*) echo "policy says no" >&2; exit 3 ;;
  *'"Type":"pre-create"'*) echo '{"ChangeFileInfo":{"ID":"renamed-by-hook","MetaData":{"mode":"renamed"}}}' ;;
esac
"#,
    );
    write_hook(
        hooks.path(),
        "post-receive",
        r#"#!/bin/sh
input=$(cat)
case "$input" in
  *'"ID":"stop-me"'*) echo '{"StopUpload":true,"HTTPResponse":{"StatusCode":418,"Body":"stopped by hook"}}' ;;
  *) echo '{}' ;;
esac
"#,
    );
    write_hook(
        hooks.path(),
        "pre-terminate",
        "#!/bin/sh\ncat >/dev/null\necho '{\"RejectTermination\":true}'\n",
    );
    let tusd = start(
        dir.path(),
        &[
            "--hooks-dir",
            hooks.path().to_str().unwrap(),
            "--hooks-enabled-events",
            "pre-create,post-receive,pre-terminate",
            "--progress-hooks-interval",
            "0.05",
        ],
    )
    .await;
    let addr = tusd.addr;

    // Rejected with the hook's own status, header and body.
    let (status, head, body) = raw(addr, &post_with_metadata(addr, "mode cmVqZWN0"), b"").await;
    assert_eq!(status, 402);
    assert_eq!(header_of(&head, "x-reason").as_deref(), Some("quota"));
    assert_eq!(body, b"pay first");
    // A non-zero exit rejects too.
    let (status, _, body) = raw(addr, &post_with_metadata(addr, "mode ZXhpdA=="), b"").await;
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&body).contains("policy says no"));
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing was created"
    );

    // Renamed, with new metadata.
    let (status, head, _) = raw(addr, &post_with_metadata(addr, "mode b2s="), b"").await;
    assert_eq!(status, 201);
    assert_eq!(
        header_of(&head, "location").as_deref(),
        Some("/files/renamed-by-hook")
    );
    let info = std::fs::read_to_string(dir.path().join("renamed-by-hook.info")).unwrap();
    assert!(info.contains("\"mode\":\"renamed\""), "{info}");

    // pre-terminate refuses.
    let delete = format!(
        "DELETE /files/renamed-by-hook HTTP/1.1\r\nHost: {addr}\r\nTus-Resumable: 1.0.0\r\n\r\n"
    );
    let (status, _, _) = raw(addr, &delete, b"").await;
    assert_eq!(status, 403);
    assert!(dir.path().join("renamed-by-hook").exists());
}

#[tokio::test]
async fn a_post_receive_file_hook_stops_an_upload_mid_patch() {
    let dir = tempfile::tempdir().unwrap();
    let hooks = tempfile::tempdir().unwrap();
    write_hook(
        hooks.path(),
        "pre-create",
        "#!/bin/sh\ncat >/dev/null\necho '{\"ChangeFileInfo\":{\"ID\":\"stop-me\"}}'\n",
    );
    write_hook(
        hooks.path(),
        "post-receive",
        "#!/bin/sh\ncat >/dev/null\necho '{\"StopUpload\":true,\"HTTPResponse\":{\"StatusCode\":418,\"Body\":\"stopped by hook\"}}'\n",
    );
    let tusd = start(
        dir.path(),
        &[
            "--hooks-dir",
            hooks.path().to_str().unwrap(),
            "--progress-hooks-interval",
            "0.05",
        ],
    )
    .await;
    let addr = tusd.addr;
    let (status, _, _) = raw(addr, &post(addr, "/files/", ""), b"").await;
    assert_eq!(status, 201);
    let mut s = TcpStream::connect(addr).await.unwrap();
    let patch = patch_head(addr, "/files/stop-me");
    s.write_all(patch.as_bytes()).await.unwrap();
    s.write_all(b"0123").await.unwrap();
    let (status, _, body) = read_response(&mut s).await;
    assert_eq!(status, 418);
    assert_eq!(body, b"stopped by hook");
    assert!(
        !dir.path().join("stop-me").exists(),
        "the stopped upload was terminated"
    );
}

/// A hook receiver: fails its first request, then renames every upload.
async fn hook_receiver() -> (SocketAddr, Arc<Mutex<Vec<(String, String, String)>>>) {
    use http_body_util::BodyExt;
    let seen: Arc<Mutex<Vec<(String, String, String)>>> = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let log = seen.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let log = log.clone();
            tokio::spawn(async move {
                let svc =
                    hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                        let log = log.clone();
                        async move {
                            let name = req
                                .headers()
                                .get("hook-name")
                                .map(|v| v.to_str().unwrap().to_owned())
                                .unwrap_or_default();
                            let auth = req
                                .headers()
                                .get("authorization")
                                .map(|v| v.to_str().unwrap().to_owned())
                                .unwrap_or_default();
                            let body = String::from_utf8(
                                req.into_body().collect().await.unwrap().to_bytes().to_vec(),
                            )
                            .unwrap();
                            let first = {
                                let mut log = log.lock().unwrap();
                                log.push((name, auth, body));
                                log.len() == 1
                            };
                            let (status, answer) = if first {
                                (500, "{}")
                            } else {
                                (200, r#"{"ChangeFileInfo":{"ID":"from-http-hook"}}"#)
                            };
                            let mut res = http::Response::new(http_body_util::Full::new(
                                bytes::Bytes::from(answer),
                            ));
                            *res.status_mut() = http::StatusCode::from_u16(status).unwrap();
                            Ok::<_, std::convert::Infallible>(res)
                        }
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (addr, seen)
}

#[tokio::test]
async fn http_hooks_are_retried_and_carry_tusd_json_and_forwarded_headers() {
    let (receiver, seen) = hook_receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("http://{receiver}/hooks");
    let tusd = start(
        dir.path(),
        &[
            "--hooks-http",
            &url,
            "--hooks-http-retry",
            "2",
            "--hooks-http-backoff",
            "0.1",
            "--hooks-enabled-events",
            "pre-create",
            "--hooks-http-forward-headers",
            "Authorization",
        ],
    )
    .await;
    let addr = tusd.addr;
    let (status, head, _) = raw(
        addr,
        &post(addr, "/files/", "Authorization: Bearer secret\r\n"),
        b"",
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(
        header_of(&head, "location").as_deref(),
        Some("/files/from-http-hook")
    );
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "one failure, one retry");
    for (name, auth, body) in &seen {
        assert_eq!(name, "pre-create");
        assert_eq!(auth, "Bearer secret");
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(json["Type"], "pre-create");
        assert_eq!(json["Event"]["Upload"]["Size"], 10);
        assert_eq!(json["Event"]["HTTPRequest"]["Method"], "POST");
        assert_eq!(
            json["Event"]["HTTPRequest"]["Header"]["Upload-Length"][0],
            "10"
        );
    }
}

async fn scrape(addr: SocketAddr) -> String {
    let (status, _, body) = raw(
        addr,
        &format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\n\r\n"),
        b"",
    )
    .await;
    assert_eq!(status, 200);
    String::from_utf8(body).unwrap()
}

fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("{name} not in\n{text}"))
        .parse()
        .unwrap()
}

#[tokio::test]
async fn the_metrics_endpoint_moves_with_uploads() {
    let dir = tempfile::tempdir().unwrap();
    let tusd = start(dir.path(), &[]).await;
    let addr = tusd.addr;
    let before = scrape(addr).await;
    assert_eq!(metric(&before, "tusd_uploads_created"), 0);
    for _ in 0..2 {
        let (_, head, _) = raw(addr, &post(addr, "/files/", ""), b"").await;
        let url = header_of(&head, "location").unwrap();
        let patch = patch_head(addr, &url);
        raw(addr, &patch, b"0123456789").await;
    }
    raw(
        addr,
        &format!("GET /files/nope HTTP/1.1\r\nHost: {addr}\r\nTus-Resumable: 1.0.0\r\n\r\n"),
        b"",
    )
    .await;
    let after = scrape(addr).await;
    assert_eq!(metric(&after, "tusd_uploads_created"), 2);
    assert_eq!(metric(&after, "tusd_uploads_finished"), 2);
    assert_eq!(metric(&after, "tusd_bytes_received"), 20);
    assert_eq!(metric(&after, "tusd_requests_total{method=\"PATCH\"}"), 2);
    assert_eq!(
        metric(
            &after,
            "tusd_errors_total{status=\"404\",code=\"ERR_UPLOAD_NOT_FOUND\"}"
        ),
        1
    );
    assert!(
        metric(&after, "tusd_connections_open") >= 1,
        "the scrape's own connection"
    );
}

#[tokio::test]
async fn each_data_sync_policy_makes_the_syncs_it_promises() {
    if !common::tools::wanted(
        "each_data_sync_policy_makes_the_syncs_it_promises",
        "strace",
    ) {
        return;
    }
    common::tools::require("strace");
    for policy in ["each-write", "at-finish", "never"] {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let trace = dir.path().join("trace");
        let mut cmd = Command::new("strace");
        cmd.args(["-f", "-qq", "-y", "-e", "trace=fsync,fdatasync", "-o"])
            .arg(&trace)
            .arg(env!("CARGO_BIN_EXE_tusd"))
            .args(["--host", "127.0.0.1", "--port", "0", "--upload-dir"])
            .arg(&data)
            .args(["--data-sync", policy]);
        let tusd = launch(cmd);
        let addr = tusd.addr;
        let (status, head, _) = raw(addr, &post(addr, "/files/", ""), b"").await;
        assert_eq!(status, 201, "{policy}");
        let url = header_of(&head, "location").unwrap();
        let id = url.rsplit('/').next().unwrap().to_owned();
        let (status, _, _) = raw(addr, &patch_head(addr, &url), b"0123456789").await;
        assert_eq!(status, 204, "{policy}");
        // What was synced before the answers came, by kind and file.
        let syncs = std::fs::read_to_string(&trace).unwrap();
        let synced = |call: &str, name: &str| {
            syncs
                .lines()
                .any(|l| l.contains(&format!("{call}(")) && l.contains(name))
        };
        let data_file = format!("/{id}>");
        let info_file = format!("/{id}.info>");
        let folder = format!("{}>", data.canonicalize().unwrap().display());
        match policy {
            "each-write" => {
                assert!(synced("fdatasync", &data_file), "{policy}: {syncs}");
                assert!(synced("fsync", &info_file), "{policy}: {syncs}");
                assert!(synced("fsync", &folder), "{policy}: {syncs}");
            }
            "at-finish" => {
                // This PATCH finished the upload: its data is synced then.
                assert!(synced("fdatasync", &data_file), "{policy}: {syncs}");
                assert!(synced("fsync", &info_file), "{policy}: {syncs}");
            }
            _ => assert!(!syncs.contains("sync("), "{policy} syncs nothing: {syncs}"),
        }
        // strace leaves its tracee running when killed: end tusd first.
        let strace_pid = tusd.child.id();
        if let Ok(children) =
            std::fs::read_to_string(format!("/proc/{strace_pid}/task/{strace_pid}/children"))
        {
            for pid in children.split_whitespace() {
                let _ = Command::new("kill").args(["-KILL", pid]).status();
            }
        }
    }
}

#[tokio::test]
async fn serves_https_with_the_given_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let certs = Certs::new(dir.path());
    let data = dir.path().join("data");
    let tusd = start(
        &data,
        &[
            "--tls-certificate",
            certs.leaf.to_str().unwrap(),
            "--tls-key",
            certs.leaf_key.to_str().unwrap(),
        ],
    )
    .await;
    let mut roots = tokio_rustls::rustls::RootCertStore::empty();
    roots.add(certs.ca_der.clone()).unwrap();
    let config = tokio_rustls::rustls::ClientConfig::builder_with_provider(Arc::new(
        tokio_rustls::rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = TcpStream::connect(tusd.addr).await.unwrap();
    let mut tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect("localhost".try_into().unwrap(), tcp)
        .await
        .unwrap();
    let reply = exchange(
        &mut tls,
        "OPTIONS /files/ HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(reply.starts_with("http/1.1 200"), "{reply}");
    assert!(reply.contains("tus-version: 1.0.0"), "{reply}");
}

#[tokio::test]
async fn tls_mode_tls13_refuses_tls12_clients() {
    let dir = tempfile::tempdir().unwrap();
    let certs = Certs::new(dir.path());
    let data = dir.path().join("data");
    let leaf = format!("--tls-certificate={}", certs.leaf.display());
    let key = format!("--tls-key={}", certs.leaf_key.display());
    let handshake =
        |addr: SocketAddr, version: &'static tokio_rustls::rustls::SupportedProtocolVersion| {
            let mut roots = tokio_rustls::rustls::RootCertStore::empty();
            roots.add(certs.ca_der.clone()).unwrap();
            let config = tokio_rustls::rustls::ClientConfig::builder_with_provider(Arc::new(
                tokio_rustls::rustls::crypto::ring::default_provider(),
            ))
            .with_protocol_versions(&[version])
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
            async move {
                let tcp = TcpStream::connect(addr).await.unwrap();
                tokio_rustls::TlsConnector::from(Arc::new(config))
                    .connect("localhost".try_into().unwrap(), tcp)
                    .await
                    .is_ok()
            }
        };
    use tokio_rustls::rustls::version::{TLS12, TLS13};
    let tls13 = start(&data, &[&leaf, &key, "-tls-mode=tls13"]).await;
    assert!(handshake(tls13.addr, &TLS13).await);
    assert!(!handshake(tls13.addr, &TLS12).await, "TLS 1.2 is refused");
    let tls12 = start(&data, &[&leaf, &key, "-tls-mode", "tls12"]).await;
    assert!(handshake(tls12.addr, &TLS12).await);
    assert!(handshake(tls12.addr, &TLS13).await);
}

/// Sends `request` and reads until the server closes, lower-cased.
async fn exchange<S>(stream: &mut S, request: &str) -> String
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::AsyncReadExt;
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut reply = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut reply)).await;
    String::from_utf8_lossy(&reply).to_ascii_lowercase()
}

#[tokio::test]
async fn serves_a_unix_socket() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("tusd.sock");
    let mut child = Command::new(env!("CARGO_BIN_EXE_tusd"))
        .args(["--upload-dir"])
        .arg(dir.path().join("data"))
        .arg("--unix-sock")
        .arg(&sock)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stream = None;
    for _ in 0..100 {
        if let Ok(s) = tokio::net::UnixStream::connect(&sock).await {
            stream = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let reply = exchange(
        &mut stream.expect("tusd listens on its socket"),
        "POST /files/ HTTP/1.1\r\nHost: localhost\r\nTus-Resumable: 1.0.0\r\nUpload-Length: 3\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    )
    .await;
    let _ = child.kill();
    let _ = child.wait();
    assert!(reply.starts_with("http/1.1 201"), "{reply}");
}

#[tokio::test]
async fn flags_can_come_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tusd"));
    cmd.env("TUSD_HOST", "127.0.0.1")
        .env("TUSD_PORT", "0")
        .env("TUSD_UPLOAD_DIR", dir.path())
        .env("TUSD_BASE_PATH", "/env-uploads/");
    let tusd = launch(cmd);
    let addr = tusd.addr;
    let (status, head, _) = raw(addr, &post(addr, "/env-uploads/", ""), b"").await;
    assert_eq!(status, 201);
    assert!(
        header_of(&head, "location")
            .unwrap()
            .starts_with("/env-uploads/")
    );
}

#[tokio::test]
async fn uploads_still_running_at_the_shutdown_timeout_keep_their_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let mut tusd = start(dir.path(), &["--shutdown-timeout", "1"]).await;
    let addr = tusd.addr;
    let (_, head, _) = raw(addr, &post(addr, "/files/", ""), b"").await;
    let url = header_of(&head, "location").unwrap();
    let mut s = TcpStream::connect(addr).await.unwrap();
    let patch = patch_head(addr, &url);
    s.write_all(patch.as_bytes()).await.unwrap();
    s.write_all(b"012345").await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let pid = tusd.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let (status, _, _) = read_response(&mut s).await;
    assert_eq!(
        status, 400,
        "the running upload was interrupted and answered"
    );
    let mut exited = false;
    for _ in 0..100 {
        if tusd.child.try_wait().unwrap().is_some() {
            exited = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(exited);
    let id = url.rsplit('/').next().unwrap();
    assert_eq!(std::fs::read(dir.path().join(id)).unwrap(), b"012345");
}

#[tokio::test]
async fn a_stalled_patch_is_ended_after_the_network_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let tusd = start(dir.path(), &["--network-timeout", "1"]).await;
    let addr = tusd.addr;
    let (_, head, _) = raw(addr, &post(addr, "/files/", ""), b"").await;
    let url = header_of(&head, "location").unwrap();
    let mut s = TcpStream::connect(addr).await.unwrap();
    let patch = patch_head(addr, &url);
    s.write_all(patch.as_bytes()).await.unwrap();
    s.write_all(b"0123").await.unwrap();
    let started = std::time::Instant::now();
    let (status, _, _) = read_response(&mut s).await;
    assert_eq!(status, 500);
    assert!(started.elapsed() >= Duration::from_millis(900));
    let id = url.rsplit('/').next().unwrap();
    assert_eq!(std::fs::read(dir.path().join(id)).unwrap(), b"0123");
}

#[tokio::test]
async fn http_hooks_reach_https_receivers() {
    let certs_dir = tempfile::tempdir().unwrap();
    let Certs {
        ca,
        leaf: cert,
        leaf_key: key,
        ..
    } = Certs::new(certs_dir.path());
    let certs = rustls_pemfile::certs(&mut std::io::BufReader::new(
        std::fs::File::open(&cert).unwrap(),
    ))
    .collect::<Result<Vec<_>, _>>()
    .unwrap();
    let key = rustls_pemfile::private_key(&mut std::io::BufReader::new(
        std::fs::File::open(&key).unwrap(),
    ))
    .unwrap()
    .unwrap();
    let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(Arc::new(
        tokio_rustls::rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let receiver = listener.local_addr().unwrap();
    let hits = Arc::new(Mutex::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let (acceptor, counter) = (acceptor.clone(), counter.clone());
            tokio::spawn(async move {
                let Ok(stream) = acceptor.accept(stream).await else {
                    return;
                };
                let svc = hyper::service::service_fn(
                    move |_req: http::Request<hyper::body::Incoming>| {
                        *counter.lock().unwrap() += 1;
                        async {
                            Ok::<_, std::convert::Infallible>(http::Response::new(
                                http_body_util::Full::new(bytes::Bytes::from_static(
                                    br#"{"ChangeFileInfo":{"ID":"from-https-hook"}}"#,
                                )),
                            ))
                        }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    });

    let dir = tempfile::tempdir().unwrap();
    let mut cmd = command(dir.path());
    cmd.args([
        "--hooks-http",
        &format!("https://127.0.0.1:{}/hooks", receiver.port()),
    ])
    .args([
        "--hooks-enabled-events",
        "pre-create",
        "--hooks-http-retry",
        "0",
    ])
    // The receiver's CA is the only trusted root.
    .env("SSL_CERT_FILE", &ca)
    .env_remove("SSL_CERT_DIR");
    let tusd = launch(cmd);
    let (status, head, body) = raw(tusd.addr, &post(tusd.addr, "/files/", ""), b"").await;
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    assert_eq!(
        header_of(&head, "location").as_deref(),
        Some("/files/from-https-hook")
    );
    assert_eq!(*hits.lock().unwrap(), 1);
}
