//! The `tusd` binary, started for real.
#![cfg(feature = "cli")]

mod common;

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{header_of, raw, read_response};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

struct Tusd {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Tusd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start(dir: &std::path::Path, extra: &[&str]) -> Tusd {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_tusd"))
        .args([
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--upload-dir",
        ])
        .arg(dir)
        .args(extra)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    // Owned by the guard from here on, so the process is reaped whatever happens.
    let tusd = Tusd { child, addr };
    for _ in 0..100 {
        if TcpStream::connect(addr).await.is_ok() {
            return tusd;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("tusd did not start");
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
        "--expire-after",
        "--expire-finished-after",
        "--cleanup-interval",
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
    let patch = format!(
        "PATCH {url} HTTP/1.1\r\nHost: {addr}\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\nContent-Type: application/offset+octet-stream\r\nContent-Length: 10\r\n\r\n"
    );
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
    let patch = format!(
        "PATCH {url} HTTP/1.1\r\nHost: {addr}\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\nContent-Type: application/offset+octet-stream\r\nContent-Length: 10\r\n\r\n"
    );
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
