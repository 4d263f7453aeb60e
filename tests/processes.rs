//! Several `tusd` processes over one folder, and processes killed midway:
//! real processes, real sockets, the real disk.
#![cfg(feature = "cli")]

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use base64::Engine;
use common::tusd::start;
use common::{header_of, pattern, raw, read_response, wait_for_size};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tower_tus::checksum::Algorithm;

async fn create(addr: SocketAddr, extra: &str) -> String {
    let (status, head, _) = raw(
        addr,
        &format!(
            "POST /files/ HTTP/1.1\r\nHost: {addr}\r\nTus-Resumable: 1.0.0\r\nContent-Length: 0\r\n{extra}\r\n"
        ),
        b"",
    )
    .await;
    assert_eq!(status, 201, "{head}");
    let url = header_of(&head, "location").unwrap();
    url.strip_prefix(&format!("http://{addr}"))
        .unwrap_or(&url)
        .to_owned()
}

async fn head(addr: SocketAddr, url: &str) -> (u16, Option<u64>) {
    let (status, head, _) = raw(
        addr,
        &format!("HEAD {url} HTTP/1.1\r\nHost: {addr}\r\nTus-Resumable: 1.0.0\r\n\r\n"),
        b"",
    )
    .await;
    (
        status,
        header_of(&head, "upload-offset").map(|v| v.parse().unwrap()),
    )
}

fn patch_head(addr: SocketAddr, url: &str, offset: usize, len: usize, extra: &str) -> String {
    format!(
        "PATCH {url} HTTP/1.1\r\nHost: {addr}\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: {offset}\r\nContent-Type: application/offset+octet-stream\r\nContent-Length: {len}\r\n{extra}\r\n"
    )
}

fn sha1(data: &[u8]) -> String {
    let mut hasher = Algorithm::Sha1.hasher();
    hasher.update(data);
    format!(
        "Upload-Checksum: sha1 {}\r\n",
        base64::engine::general_purpose::STANDARD.encode(hasher.finish())
    )
}

async fn wait_for_offset(addr: SocketAddr, url: &str, at_least: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, offset) = head(addr, url).await;
        if let Some(offset) = offset.filter(|o| *o >= at_least) {
            return offset;
        }
        assert!(
            Instant::now() < deadline,
            "the offset never reached {at_least}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_client_moving_to_another_process_takes_over_within_a_second() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (start(dir.path(), &[]).await, start(dir.path(), &[]).await);
    let data = pattern(2 << 20);
    let url = create(a.addr, "Upload-Length: 2097152\r\n").await;

    // A half-dead request on process A: half the body, then silence.
    let mut stale = TcpStream::connect(a.addr).await.unwrap();
    stale
        .write_all(patch_head(a.addr, &url, 0, data.len(), "").as_bytes())
        .await
        .unwrap();
    stale.write_all(&data[..1 << 20]).await.unwrap();
    let id = url.rsplit('/').next().unwrap();
    wait_for_size(dir.path(), id, 1 << 20).await;

    // The client reconnects to process B, asks where to resume, resumes.
    let started = Instant::now();
    let (_, offset) = head(b.addr, &url).await;
    let offset = offset.unwrap() as usize;
    assert_eq!(offset, 1 << 20);
    let fresh = tokio::spawn({
        let (addr, url, rest) = (b.addr, url.clone(), data[offset..].to_vec());
        async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            s.write_all(patch_head(addr, &url, offset, rest.len(), "").as_bytes())
                .await
                .unwrap();
            s.write_all(&rest).await.unwrap();
            read_response(&mut s).await
        }
    });
    // Process A lets go of its half-dead request as soon as it is asked.
    let (status, _, _) = read_response(&mut stale).await;
    assert_eq!(status, 400, "the stale request was interrupted");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "took over after {:?}",
        started.elapsed()
    );
    let (status, head, _) = fresh.await.unwrap();
    assert_eq!(status, 204, "{head}");
    assert!(
        std::fs::read(dir.path().join(id)).unwrap() == data,
        "byte for byte"
    );
    assert!(!dir.path().join(format!("{id}.lock")).exists());
}

#[tokio::test]
async fn racing_patches_through_two_processes_never_interleave() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (start(dir.path(), &[]).await, start(dir.path(), &[]).await);
    for round in 0..4 {
        // Each racer sends bytes of its own, so that a mix would show.
        let ours = pattern(2 << 20);
        let theirs: Vec<u8> = ours.iter().map(|b| b ^ 0x55).collect();
        let url = create(a.addr, "Upload-Length: 2097152\r\n").await;
        // Both are midway through their bodies at once before either ends.
        let midway = std::sync::Arc::new(tokio::sync::Barrier::new(2));
        let racers = [(a.addr, ours.clone()), (b.addr, theirs.clone())].map(|(addr, data)| {
            let (url, midway) = (url.clone(), midway.clone());
            tokio::spawn(async move {
                let mut s = TcpStream::connect(addr).await.unwrap();
                s.write_all(patch_head(addr, &url, 0, data.len(), "").as_bytes())
                    .await
                    .unwrap();
                let (first, rest) = data.split_at(1 << 20);
                // The loser may be cut off mid-body.
                let _ = s.write_all(first).await;
                midway.wait().await;
                tokio::time::sleep(Duration::from_millis(200)).await;
                for chunk in rest.chunks(64 << 10) {
                    if s.write_all(chunk).await.is_err() {
                        break;
                    }
                }
                read_response(&mut s).await.0
            })
        });
        let mut statuses = Vec::new();
        for racer in racers {
            statuses.push(racer.await.unwrap());
        }
        let id = url.rsplit('/').next().unwrap();
        let stored = std::fs::read(dir.path().join(id)).unwrap();
        assert!(
            stored.len() <= ours.len(),
            "round {round}: {} bytes",
            stored.len()
        );
        assert!(
            stored == ours[..stored.len()] || stored == theirs[..stored.len()],
            "round {round}: interleaved bytes"
        );
        assert!(
            statuses.iter().all(|s| [204, 400, 409].contains(s)),
            "round {round}: {statuses:?}"
        );
        let (_, offset) = head(b.addr, &url).await;
        assert_eq!(offset, Some(stored.len() as u64));
    }
}

#[tokio::test]
async fn a_lock_left_by_a_killed_process_is_taken_over() {
    let dir = tempfile::tempdir().unwrap();
    let a = start(dir.path(), &[]).await;
    let url = create(a.addr, "Upload-Length: 10\r\n").await;
    let id = url.rsplit('/').next().unwrap().to_owned();
    let mut s = TcpStream::connect(a.addr).await.unwrap();
    s.write_all(patch_head(a.addr, &url, 0, 10, "").as_bytes())
        .await
        .unwrap();
    s.write_all(b"01234").await.unwrap();
    let lock = dir.path().join(format!("{id}.lock"));
    for _ in 0..100 {
        if lock.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(lock.exists(), "the running PATCH holds a lock file");
    // Killed once its bytes are written (bytes still in the kernel's socket
    // buffer die with the process).
    wait_for_size(dir.path(), &id, 5).await;
    a.kill9();
    assert!(lock.exists(), "a killed process leaves its lock behind");
    let b = start(dir.path(), &[]).await;
    let offset = wait_for_offset(b.addr, &url, 5).await as usize;
    let (status, head, _) = raw(
        b.addr,
        &patch_head(b.addr, &url, offset, 10 - offset, ""),
        &b"0123456789"[offset..],
    )
    .await;
    assert_eq!(status, 204, "{head}");
    assert_eq!(std::fs::read(dir.path().join(&id)).unwrap(), b"0123456789");
}

#[tokio::test]
async fn kill_9_during_checksummed_patches_leaves_no_unverified_byte() {
    let dir = tempfile::tempdir().unwrap();
    let data = pattern(8 << 20);
    let chunk = 1 << 20;
    let mut tusd = start(dir.path(), &[]).await;
    let url = create(tusd.addr, "Upload-Length: 8388608\r\n").await;
    let id = url.rsplit('/').next().unwrap().to_owned();
    let mut offset = 0;
    let mut kills = 0;
    while offset < data.len() {
        let piece = &data[offset..offset + chunk];
        let mut s = TcpStream::connect(tusd.addr).await.unwrap();
        s.write_all(patch_head(tusd.addr, &url, offset, chunk, &sha1(piece)).as_bytes())
            .await
            .unwrap();
        if kills < 3 {
            // Part of the chunk arrives, then the server dies.
            s.write_all(&piece[..chunk / 2]).await.unwrap();
            tokio::time::sleep(Duration::from_millis(100)).await;
            tusd.kill9();
            kills += 1;
            tusd = start(dir.path(), &[]).await;
            let (_, at) = head(tusd.addr, &url).await;
            assert_eq!(
                at,
                Some(offset as u64),
                "kill {kills}: no unverified byte counts"
            );
            let stored = std::fs::read(dir.path().join(&id)).unwrap();
            assert_eq!(
                stored.len(),
                offset,
                "kill {kills}: no unverified byte on disk"
            );
            continue;
        }
        s.write_all(piece).await.unwrap();
        let (status, head, _) = read_response(&mut s).await;
        assert_eq!(status, 204, "{head}");
        offset += chunk;
    }
    assert!(std::fs::read(dir.path().join(&id)).unwrap() == data);
}

#[tokio::test]
async fn kill_9_during_a_concatenation_and_every_final_completes() {
    let dir = tempfile::tempdir().unwrap();
    let part = pattern(32 << 20);
    let mut tusd = start(dir.path(), &[]).await;
    let mut partials = Vec::new();
    for _ in 0..2 {
        let url = create(
            tusd.addr,
            "Upload-Length: 33554432\r\nUpload-Concat: partial\r\n",
        )
        .await;
        partials.push(url);
    }
    // Finals made before their partials finish; the last byte concatenates.
    let mut finals = Vec::new();
    for _ in 0..3 {
        finals.push(
            create(
                tusd.addr,
                &format!("Upload-Concat: final;{} {}\r\n", partials[0], partials[1]),
            )
            .await,
        );
    }
    for (i, url) in partials.iter().enumerate() {
        let mut s = TcpStream::connect(tusd.addr).await.unwrap();
        s.write_all(patch_head(tusd.addr, url, 0, part.len(), "").as_bytes())
            .await
            .unwrap();
        s.write_all(&part).await.unwrap();
        if i == 1 {
            // The request that concatenates three 64 MiB finals: cut short
            // once its last byte is on disk, while it finishes and copies.
            let id = url.rsplit('/').next().unwrap();
            wait_for_size(dir.path(), id, part.len() as u64).await;
            tusd.kill9();
            break;
        }
        let (status, head, _) = read_response(&mut s).await;
        assert_eq!(status, 204, "{head}");
    }
    tusd = start(dir.path(), &["--cleanup-interval", "1"]).await;
    let whole = [&part[..], &part[..]].concat();
    for url in &finals {
        let id = url.rsplit('/').next().unwrap();
        // No final is ever served short: it holds no bytes or all of them.
        let len = std::fs::metadata(dir.path().join(id)).unwrap().len();
        assert!(len == 0 || len == whole.len() as u64, "{id}: {len} bytes");
        let offset = wait_for_offset(tusd.addr, url, whole.len() as u64).await;
        assert_eq!(offset, whole.len() as u64);
        assert!(std::fs::read(dir.path().join(id)).unwrap() == whole, "{id}");
    }
}

/// The disk fills up while a checksummed chunk is being staged: `tusd` runs
/// under a file size limit (with `SIGXFSZ` ignored, so writes past it fail
/// with `EFBIG` as on a full disk), and the chunk outgrows it midway.
/// A PATCH of `bytes` at `offset`, with their SHA-1 as `Upload-Checksum`.
async fn verified_patch(addr: SocketAddr, url: &str, offset: usize, bytes: &[u8]) -> (u16, String) {
    let head = patch_head(addr, url, offset, bytes.len(), &sha1(bytes));
    let (status, reply, _) = raw(addr, &head, bytes).await;
    (status, reply)
}

/// The file size limit of the disk-full tests.
const LIMIT: usize = 1 << 20;

/// `tusd` unable to grow a file past 1 MiB, an upload of 3 MiB, and its
/// first 512 KiB in, verified: the state both disk-full tests start from
/// (`None`, skipped loudly, without `prlimit`).
async fn half_a_mib_in_under_a_one_mib_limit(
    test: &str,
) -> Option<(common::tusd::Tusd, tempfile::TempDir, String, Vec<u8>)> {
    if !common::tools::present(test, "prlimit") {
        return None;
    }
    let (tusd, dir) = tusd_under_file_size_limit(LIMIT);
    let addr = tusd.addr;
    let url = create(addr, "Upload-Length: 3145728\r\n").await;
    let data = pattern(3 << 20);
    let (status, reply) = verified_patch(addr, &url, 0, &data[..LIMIT / 2]).await;
    assert_eq!(status, 204, "{reply}");
    Some((tusd, dir, url, data))
}

/// `tusd` over a fresh folder, unable to grow any file past `limit` bytes
/// (writes past it fail with EFBIG, as on a full disk).
fn tusd_under_file_size_limit(limit: usize) -> (common::tusd::Tusd, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c")
        .arg(format!(
            "trap '' XFSZ; exec prlimit --fsize={limit} -- \"$0\" \"$@\""
        ))
        .arg(env!("CARGO_BIN_EXE_tusd"))
        .args(["--host", "127.0.0.1", "--port", "0", "--upload-dir"])
        .arg(dir.path());
    (common::tusd::launch(cmd), dir)
}

#[tokio::test]
async fn a_disk_that_fills_while_a_verified_chunk_is_committed_leaves_the_upload_as_it_was() {
    let Some((tusd, dir, url, data)) = half_a_mib_in_under_a_one_mib_limit(
        "a_disk_that_fills_while_a_verified_chunk_is_committed_leaves_the_upload_as_it_was",
    )
    .await
    else {
        return;
    };
    let (addr, id) = (tusd.addr, url.rsplit('/').next().unwrap().to_owned());
    let first = &data[..LIMIT / 2];
    // Staged whole (it is below the limit), then the upload's data file
    // fills at the limit halfway through taking it in.
    let second = &data[LIMIT / 2..LIMIT / 2 + 3 * LIMIT / 4];
    let (status, reply) = verified_patch(addr, &url, LIMIT / 2, second).await;
    assert_eq!(status, 500, "{reply}");
    assert_eq!(head(addr, &url).await, (200, Some(LIMIT as u64 / 2)));
    assert!(
        std::fs::read(dir.path().join(&id)).unwrap() == first,
        "the chunk's bytes taken in before the failure were taken out again"
    );
    assert!(!dir.path().join(format!("{id}.chunk")).exists());
}

#[tokio::test]
async fn a_disk_that_fills_while_a_checksummed_chunk_is_staged_leaves_the_upload_as_it_was() {
    let Some((tusd, dir, url, data)) = half_a_mib_in_under_a_one_mib_limit(
        "a_disk_that_fills_while_a_checksummed_chunk_is_staged_leaves_the_upload_as_it_was",
    )
    .await
    else {
        return;
    };
    let (addr, id) = (tusd.addr, url.rsplit('/').next().unwrap().to_owned());
    let first = &data[..LIMIT / 2];

    // The next one cannot be staged whole: the store fails midway.
    let second = &data[LIMIT / 2..LIMIT / 2 + 2 * LIMIT];
    // The server answers before the body ends: the client's writes may fail.
    let std = TcpStream::connect(addr).await.unwrap().into_std().unwrap();
    let mut writer = TcpStream::from_std(std.try_clone().unwrap()).unwrap();
    let mut reader = TcpStream::from_std(std).unwrap();
    let request = [
        patch_head(addr, &url, LIMIT / 2, second.len(), &sha1(second)).into_bytes(),
        second.to_vec(),
    ]
    .concat();
    tokio::spawn(async move { writer.write_all(&request).await });
    let (status, reply, _) = read_response(&mut reader).await;
    assert_eq!(status, 500, "{reply}");
    assert_eq!(head(addr, &url).await, (200, Some(LIMIT as u64 / 2)));
    assert_eq!(
        std::fs::read(dir.path().join(&id)).unwrap(),
        first,
        "no byte of the failed chunk reached the upload"
    );
    assert!(
        !dir.path().join(format!("{id}.chunk")).exists(),
        "the staged chunk is gone"
    );

    // What fits still goes through, verified, after the failure.
    let third = &data[LIMIT / 2..LIMIT - 1000];
    let (status, reply) = verified_patch(addr, &url, LIMIT / 2, third).await;
    assert_eq!(status, 204, "{reply}");
    assert_eq!(
        header_of(&reply, "upload-offset"),
        Some((LIMIT - 1000).to_string())
    );
    assert!(std::fs::read(dir.path().join(&id)).unwrap() == data[..LIMIT - 1000]);
}
