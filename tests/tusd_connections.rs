//! What `tusd` gives a connection: timeouts between requests, for a head
//! and for a TLS handshake, a cap on connections open at once, and every
//! request that arrived whole served, even when its client closed at once.
#![cfg(feature = "cli")]

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::certs::Certs;
use common::tusd::{command, launch, start};
use common::{header_of, raw, read_head_response, read_response};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn post(addr: SocketAddr, length: u64) -> String {
    format!(
        "POST /files/ HTTP/1.1\r\nHost: {addr}\r\nTus-Resumable: 1.0.0\r\nUpload-Length: {length}\r\nContent-Length: 0\r\n\r\n"
    )
}

fn head_request(addr: SocketAddr, url: &str) -> String {
    format!("HEAD {url} HTTP/1.1\r\nHost: {addr}\r\nTus-Resumable: 1.0.0\r\n\r\n")
}

async fn create(addr: SocketAddr, length: u64) -> String {
    let (status, head, _) = raw(addr, &post(addr, length), b"").await;
    assert_eq!(status, 201, "{head}");
    header_of(&head, "location").unwrap()
}

/// How long until the server closes `stream`, reading whatever it sends;
/// `None` if it is still open after `limit`.
async fn closed_after(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout_at((start + limit).into(), stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(start.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test]
async fn an_idle_connection_is_closed_after_the_idle_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let tusd = start(
        dir.path(),
        &["--idle-timeout", "1s", "--read-header-timeout", "5s"],
    )
    .await;

    let mut never_spoke = TcpStream::connect(tusd.addr).await.unwrap();
    let closed = closed_after(&mut never_spoke, Duration::from_secs(4)).await;
    let closed = closed.expect("an idle connection is closed");
    assert!(closed >= Duration::from_millis(900), "{closed:?}");

    // Idle after a response counts from the response, as a keep-alive
    // connection waiting for its next request.
    let mut kept_alive = TcpStream::connect(tusd.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    kept_alive
        .write_all(post(tusd.addr, 3).as_bytes())
        .await
        .unwrap();
    let (status, _, _) = read_response(&mut kept_alive).await;
    assert_eq!(status, 201);
    let closed = closed_after(&mut kept_alive, Duration::from_secs(4)).await;
    let closed = closed.expect("a kept-alive connection is closed once idle");
    assert!(closed >= Duration::from_millis(900), "{closed:?}");
}

#[tokio::test]
async fn a_head_sent_byte_by_byte_is_cut_off_at_the_read_header_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let tusd = start(
        dir.path(),
        &["--idle-timeout", "30s", "--read-header-timeout", "1s"],
    )
    .await;
    let mut slow = TcpStream::connect(tusd.addr).await.unwrap();
    // A client that waits before its first byte is only idle.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let started = Instant::now();
    slow.write_all(b"POST /files/ HTTP/1.1\r\n").await.unwrap();
    let mut cut = None;
    for i in 0..40 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if slow
            .write_all(format!("X-{i}: a\r\n").as_bytes())
            .await
            .is_err()
        {
            cut = Some(started.elapsed());
            break;
        }
        if let Some(after) = closed_after(&mut slow, Duration::from_millis(1)).await {
            cut = Some(started.elapsed().max(after));
            break;
        }
    }
    let cut = cut.expect("a head trickling in is cut off");
    assert!(
        cut >= Duration::from_millis(900) && cut < Duration::from_secs(3),
        "{cut:?}"
    );
}

#[tokio::test]
async fn a_request_in_progress_outlives_the_idle_and_head_timeouts() {
    let dir = tempfile::tempdir().unwrap();
    let tusd = start(
        dir.path(),
        &["--idle-timeout", "1s", "--read-header-timeout", "1s"],
    )
    .await;
    let addr = tusd.addr;
    let url = create(addr, 6).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(
        format!(
            "PATCH {url} HTTP/1.1\r\nHost: {addr}\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\nContent-Type: application/offset+octet-stream\r\nContent-Length: 6\r\n\r\n"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    // Three seconds for six bytes: three times each timeout, inside one request.
    for byte in b"abcdef" {
        tokio::time::sleep(Duration::from_millis(500)).await;
        s.write_all(&[*byte]).await.unwrap();
    }
    let (status, head, _) = read_response(&mut s).await;
    assert_eq!(status, 204, "{head}");
    assert_eq!(header_of(&head, "upload-offset").as_deref(), Some("6"));
}

#[tokio::test]
async fn a_tls_handshake_not_begun_is_cut_off_at_its_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let certs = Certs::new(dir.path());
    let tusd = start(
        &dir.path().join("data"),
        &[
            "--tls-certificate",
            certs.leaf.to_str().unwrap(),
            "--tls-key",
            certs.leaf_key.to_str().unwrap(),
            "--tls-handshake-timeout",
            "1s",
            // Longer than the test: only the handshake's limit may close it.
            "--idle-timeout",
            "60s",
        ],
    )
    .await;
    let mut silent = TcpStream::connect(tusd.addr).await.unwrap();
    let closed = closed_after(&mut silent, Duration::from_secs(5)).await;
    let closed = closed.expect("a connection that never shakes hands is closed");
    assert!(closed >= Duration::from_millis(900), "{closed:?}");
}

/// Sockets `pid` holds open, as `/proc` lists them.
fn open_sockets(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
        .filter(|target| target.to_string_lossy().starts_with("socket:"))
        .count()
}

#[tokio::test]
async fn connections_past_the_cap_wait_for_a_free_slot_and_the_cap_is_logged_once() {
    let dir = tempfile::tempdir().unwrap();
    let tusd = start(
        dir.path(),
        &["--max-connections", "4", "--idle-timeout", "2s"],
    )
    .await;
    let pid = tusd.child.id();
    let baseline = open_sockets(pid);
    let mut idle = Vec::new();
    for _ in 0..4 {
        idle.push(TcpStream::connect(tusd.addr).await.unwrap());
    }
    // Every one accepted, so the next one waits.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(open_sockets(pid), baseline + 4);

    let started = Instant::now();
    let waiting = tokio::spawn({
        let addr = tusd.addr;
        async move { raw(addr, &post(addr, 1), b"").await.0 }
    });
    // More clients knock meanwhile: each waits, none is a new warning.
    for _ in 0..20 {
        idle.push(TcpStream::connect(tusd.addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(open_sockets(pid) <= baseline + 4, "the cap holds");
    assert!(!waiting.is_finished(), "a fifth client waits for a slot");

    assert_eq!(
        waiting.await.unwrap(),
        201,
        "served once an idle one closed"
    );
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(1500), "{waited:?}");
    let warned = tusd.logged("as many as --max-connections allows");
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert!(warned[0].contains("4 connections are open"), "{warned:?}");
}

#[tokio::test]
async fn the_soft_open_files_limit_is_raised_to_the_hard_one() {
    let dir = tempfile::tempdir().unwrap();
    // The shell lowers the soft limit, tusd inherits it.
    let tusd_cmd = command(dir.path());
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c")
        .arg("ulimit -S -n 256 && exec \"$0\" \"$@\"")
        .arg(tusd_cmd.get_program())
        .args(tusd_cmd.get_args());
    let tusd = launch(cmd);
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", tusd.child.id())).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let fields: Vec<&str> = line.split_whitespace().collect();
    let (soft, hard) = (fields[3], fields[4]);
    assert_ne!(soft, "256", "{line}");
    assert_eq!(soft, hard, "{line}");
}

/// Sends `request` whole, closes the sending side at once and reads the answer.
async fn then_fin(addr: SocketAddr, request: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request).await.unwrap();
    s.shutdown().await.unwrap();
    let (status, head, _) = if request.starts_with(b"HEAD ") {
        read_head_response(&mut s).await
    } else {
        read_response(&mut s).await
    };
    (status, head)
}

#[tokio::test]
async fn a_whole_request_followed_at_once_by_the_client_s_fin_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let tusd = start(dir.path(), &[]).await;
    let addr = tusd.addr;

    let (status, head) = then_fin(addr, post(addr, 5).as_bytes()).await;
    assert_eq!(status, 201, "{head}");
    let url = header_of(&head, "location").unwrap();
    let id = url.rsplit('/').next().unwrap().to_owned();
    assert!(dir.path().join(format!("{id}.info")).exists());

    let mut patch = format!(
        "PATCH {url} HTTP/1.1\r\nHost: {addr}\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\nContent-Type: application/offset+octet-stream\r\nContent-Length: 3\r\n\r\n"
    )
    .into_bytes();
    patch.extend_from_slice(b"abc");
    let (status, head) = then_fin(addr, &patch).await;
    assert_eq!(status, 204, "{head}");
    assert_eq!(std::fs::read(dir.path().join(&id)).unwrap(), b"abc");

    let (status, head) = then_fin(addr, head_request(addr, &url).as_bytes()).await;
    assert_eq!(status, 200, "{head}");
    assert_eq!(header_of(&head, "upload-offset").as_deref(), Some("3"));

    let delete = format!("DELETE {url} HTTP/1.1\r\nHost: {addr}\r\nTus-Resumable: 1.0.0\r\n\r\n");
    let (status, head) = then_fin(addr, delete.as_bytes()).await;
    assert_eq!(status, 204, "{head}");
    assert!(!dir.path().join(&id).exists());
    assert!(!dir.path().join(format!("{id}.info")).exists());
}

/// `tusd` over `dir` with at most `open_files` file descriptors, soft and hard.
fn with_open_files(dir: &std::path::Path, open_files: u32, extra: &[&str]) -> common::tusd::Tusd {
    let mut tusd_cmd = command(dir);
    tusd_cmd.args(extra);
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c")
        .arg(format!(
            "ulimit -S -n {open_files} && ulimit -H -n {open_files} && exec \"$0\" \"$@\""
        ))
        .arg(tusd_cmd.get_program())
        .args(tusd_cmd.get_args());
    launch(cmd)
}

#[tokio::test]
async fn out_of_file_descriptors_the_accept_failure_is_logged_once_not_in_a_flood() {
    let dir = tempfile::tempdir().unwrap();
    let tusd = with_open_files(dir.path(), 64, &["--max-connections", "1000"]);
    let mut held = Vec::new();
    for _ in 0..100 {
        held.push(TcpStream::connect(tusd.addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let warned = tusd.logged("cannot accept connections");
    assert_eq!(warned.len(), 1, "{warned:?}");
}

#[tokio::test]
async fn the_default_cap_keeps_connections_inside_the_open_files_limit() {
    let dir = tempfile::tempdir().unwrap();
    let tusd = with_open_files(dir.path(), 64, &["--idle-timeout", "1s"]);
    let baseline = open_sockets(tusd.child.id());
    let mut held = Vec::new();
    for _ in 0..100 {
        held.push(TcpStream::connect(tusd.addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sockets = open_sockets(tusd.child.id());
    assert_eq!(sockets, baseline + 16, "a quarter of 64");
    drop(held);
    // Uploads still work: descriptors were left for the files.
    let url = create(tusd.addr, 3).await;
    let (status, head, _) = raw(tusd.addr, &head_request(tusd.addr, &url), b"").await;
    assert_eq!(status, 200, "{head}");
    assert!(tusd.logged("cannot accept connections").is_empty());
}
