//! `tusd --s3-bucket` over SeaweedFS on 127.0.0.1: tusd's flags, a PATCH
//! cut mid-part and resumed, and kill -9 mid-PATCH with a restart.

mod common;

use std::net::SocketAddr;

use common::tusd::{Tusd, launch};
use common::{header_of, pattern, raw, read_response, tools};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// A fresh SeaweedFS bucket and a folder for `test`, unless what it
/// `needs` is missing (then it is skipped, loudly).
async fn bucket_and_folder(test: &str, needs: &str) -> Option<(String, tempfile::TempDir)> {
    if !tools::wanted(test, needs) {
        return None;
    }
    Some((
        common::s3::seaweedfs_bucket().await,
        tempfile::tempdir().unwrap(),
    ))
}

/// tusd over `bucket`, with tusd's own S3 flags.
fn tusd(bucket: &str, dir: &std::path::Path) -> Tusd {
    tusd_with(bucket, dir, &[])
}

/// [`tusd`] with more flags.
fn tusd_with(bucket: &str, dir: &std::path::Path, flags: &[&str]) -> Tusd {
    let (endpoint, (key, secret)) = common::s3::seaweedfs_access();
    let mut cmd = common::tusd::command(dir);
    cmd.args(["-s3-bucket", bucket, "-s3-endpoint"])
        .arg(endpoint.trim_start_matches("http://"))
        .args([
            "-s3-disable-ssl",
            "-s3-path-style",
            "-s3-object-prefix=uploads/",
            // 5 MiB parts, so an 11 MiB upload spans three.
            "-s3-part-size=5242880",
        ])
        .args(flags)
        .env("AWS_ACCESS_KEY_ID", key)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .env("AWS_REGION", "us-east-1")
        .env_remove("AWS_PROFILE");
    launch(cmd)
}

fn head_of(method: &str, addr: SocketAddr, url: &str, extra: &str) -> String {
    format!("{method} {url} HTTP/1.1\r\nHost: {addr}\r\nTus-Resumable: 1.0.0\r\n{extra}\r\n")
}

/// Creates an upload with the headers `extra`; its URL.
async fn create(addr: SocketAddr, extra: &str) -> String {
    let (status, head, _) = raw(addr, &head_of("POST", addr, "/files/", extra), b"").await;
    assert_eq!(status, 201, "{head}");
    header_of(&head, "location").unwrap()
}

async fn offset(addr: SocketAddr, url: &str) -> u64 {
    let (_, head, _) = raw(addr, &head_of("HEAD", addr, url, ""), b"").await;
    header_of(&head, "upload-offset").unwrap().parse().unwrap()
}

fn patch(addr: SocketAddr, url: &str, at: usize, len: usize) -> String {
    head_of(
        "PATCH",
        addr,
        url,
        &format!(
            "Upload-Offset: {at}\r\nContent-Type: application/offset+octet-stream\r\nContent-Length: {len}\r\n"
        ),
    )
}

#[tokio::test]
async fn tusd_keeps_uploads_in_s3_and_survives_kill_9_mid_patch() {
    let Some((bucket, dir)) = bucket_and_folder(
        "tusd_keeps_uploads_in_s3_and_survives_kill_9_mid_patch",
        "Python and SeaweedFS (an S3 server)",
    )
    .await
    else {
        return;
    };
    let data = pattern((11 << 20) + 321);
    let first = tusd(&bucket, dir.path());
    let addr = first.addr;
    let url = create(
        addr,
        &format!("Upload-Length: {}\r\nContent-Length: 0\r\n", data.len()),
    )
    .await;
    assert!(url.contains('+'), "tusd's s3 ids: {url}");

    // 7 MiB arrive, then tusd is killed mid-body.
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(patch(addr, &url, 0, data.len()).as_bytes())
        .await
        .unwrap();
    s.write_all(&data[..7 << 20]).await.unwrap();
    // The first 5 MiB part is in S3 once HEAD says so (through a second tusd).
    let second = tusd(&bucket, dir.path());
    common::eventually(20, || async { offset(second.addr, &url).await >= 5 << 20 }).await;
    first.kill9();
    drop(s);
    let kept = offset(second.addr, &url).await as usize;
    assert_eq!(
        kept,
        5 << 20,
        "the whole part survived; the rest of the body died with tusd"
    );

    // The client resumes from what the server says, through the other tusd.
    let addr = second.addr;
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(patch(addr, &url, kept, data.len() - kept).as_bytes())
        .await
        .unwrap();
    s.write_all(&data[kept..]).await.unwrap();
    let (status, head, _) = read_response(&mut s).await;
    assert_eq!(status, 204, "{head}");
    let (status, _, body) = raw(addr, &head_of("GET", addr, &url, ""), b"").await;
    assert_eq!(status, 200);
    assert!(
        body == data,
        "byte for byte ({} of {})",
        body.len(),
        data.len()
    );

    // The object sits under the prefix, in tusd's layout.
    let object = url.rsplit('/').next().unwrap().split('+').next().unwrap();
    let listed = common::s3::seaweedfs_client()
        .list_objects_v2()
        .bucket(&bucket)
        .prefix("uploads/")
        .send()
        .await
        .unwrap();
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert!(
        keys.contains(&format!("uploads/{object}").as_str()),
        "{keys:?}"
    );
    assert!(
        keys.contains(&format!("uploads/{object}.info").as_str()),
        "{keys:?}"
    );
}

#[tokio::test]
async fn a_bucket_that_cannot_be_reached_stops_tusd_at_start_up() {
    if !tools::wanted(
        "a_bucket_that_cannot_be_reached_stops_tusd_at_start_up",
        "Python and SeaweedFS (an S3 server)",
    ) {
        return;
    }
    let (endpoint, (key, secret)) = common::s3::seaweedfs_access();
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tusd"))
        .args(["--port", "0", "--upload-dir"])
        .arg(dir.path())
        .args([
            "-s3-bucket",
            "no-such-bucket",
            "-s3-path-style",
            "-s3-endpoint",
            endpoint,
        ])
        .env("AWS_ACCESS_KEY_ID", key)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .env("AWS_REGION", "us-east-1")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(log.contains("no-such-bucket"), "{log}");
}

/// Runs `tusd --s3-bucket accelerated-bucket` with `flags` and no S3
/// server to reach; its log, once it has given up.
fn start_up_log_without_a_server(flags: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tusd"))
        .args(["--port", "0", "--upload-dir"])
        .arg(dir.path())
        .args(["-s3-bucket", "accelerated-bucket"])
        .args(flags)
        .env("AWS_ACCESS_KEY_ID", "key")
        .env("AWS_SECRET_ACCESS_KEY", "secret")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", dir.path().join("no-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            dir.path().join("no-credentials"),
        )
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_PROFILE")
        .output()
        .unwrap();
    assert!(!out.status.success());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn transfer_acceleration_sends_to_the_bucket_s_accelerate_endpoint() {
    let log = start_up_log_without_a_server(&["-s3-transfer-acceleration"]);
    assert!(
        log.contains("head bucket at https://accelerated-bucket.s3-accelerate.amazonaws.com"),
        "{log}"
    );
    let log = start_up_log_without_a_server(&[]);
    assert!(
        log.contains("head bucket at https://accelerated-bucket.s3.us-east-1.amazonaws.com"),
        "{log}"
    );
    // S3 Accelerate has one endpoint per bucket: an endpoint of one's own
    // cannot be accelerated, and saying both is refused at start-up.
    let log = start_up_log_without_a_server(&[
        "-s3-transfer-acceleration",
        "-s3-endpoint",
        "http://127.0.0.1:9",
    ]);
    assert!(
        log.contains("A custom endpoint cannot be combined with S3 Accelerate"),
        "{log}"
    );
}

#[tokio::test]
async fn credentials_from_a_named_profile_in_the_shared_file_reach_the_bucket() {
    let Some((bucket, dir)) = bucket_and_folder(
        "credentials_from_a_named_profile_in_the_shared_file_reach_the_bucket",
        "Python and SeaweedFS (an S3 server)",
    )
    .await
    else {
        return;
    };
    let (endpoint, (key, secret)) = common::s3::seaweedfs_access();
    let profiles = dir.path().join("credentials");
    let config = dir.path().join("config");
    std::fs::write(
        &profiles,
        format!(
            "[default]\naws_access_key_id = wrong\naws_secret_access_key = wrong\n\n\
             [uploads]\naws_access_key_id = {key}\naws_secret_access_key = {secret}\n"
        ),
    )
    .unwrap();
    std::fs::write(
        &config,
        "[default]\nregion = us-east-1\n\n[profile uploads]\nregion = us-east-1\n",
    )
    .unwrap();
    let command = |profile: &str| {
        let mut cmd = common::tusd::command(dir.path());
        cmd.args([
            "-s3-bucket",
            &bucket,
            "-s3-path-style",
            "-s3-endpoint",
            endpoint,
        ])
        .env("AWS_SHARED_CREDENTIALS_FILE", &profiles)
        .env("AWS_CONFIG_FILE", &config)
        .env("AWS_PROFILE", profile)
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_REGION");
        cmd
    };
    // The default profile's key is refused by the bucket, at start-up.
    let out = command("default").output().unwrap();
    assert!(!out.status.success());
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(
        log.contains(&format!("head bucket at {endpoint}/{bucket}")),
        "{log}"
    );

    let t = launch(command("uploads"));
    let url = create(t.addr, "Upload-Length: 5\r\n").await;
    let (status, head, _) = raw(t.addr, &patch(t.addr, &url, 0, 5), b"hello").await;
    assert_eq!(status, 204, "{head}");
    let (status, _, body) = raw(t.addr, &head_of("GET", t.addr, &url, ""), b"").await;
    assert_eq!((status, body.as_slice()), (200, b"hello".as_slice()));
}

#[tokio::test]
async fn tus_js_client_cut_mid_body_resumes_through_tusd_on_s3() {
    let Some((bucket, dir)) = bucket_and_folder(
        "tus_js_client_cut_mid_body_resumes_through_tusd_on_s3",
        "Node.js, tus-js-client, Python and SeaweedFS",
    )
    .await
    else {
        return;
    };
    tools::install(tools::Clients::Node);
    let t = tusd(&bucket, dir.path());
    let file = dir.path().join("file.bin");
    std::fs::write(&file, pattern((8 << 20) + 12_345)).unwrap();
    // The scenario cuts a PATCH 3,500,000 bytes in: the server must keep
    // exactly those (in the `.part` tail), then resume and verify by GET.
    let out = tokio::process::Command::new("node")
        .arg(tools::interop_dir().join("tus-js-client.mjs"))
        .arg("cut-resume")
        .arg(format!("http://{}/files/", t.addr))
        .arg(&file)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("OK cut-resume"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn tusd_s_part_buffering_flags_take_effect() {
    let Some((bucket, dir)) = bucket_and_folder(
        "tusd_s_part_buffering_flags_take_effect",
        "Python and SeaweedFS (an S3 server)",
    )
    .await
    else {
        return;
    };
    let spill = dir.path().join("spill");
    let data = pattern((6 << 20) + 5);
    // No memory for part buffers: every part goes through the spill folder,
    // which is missing at first.
    let spill_flag = format!("-s3-spill-dir={}", spill.display());
    let flags = [
        "-s3-memory-budget=0",
        spill_flag.as_str(),
        "-s3-concurrent-part-uploads",
        "2",
        "-s3-max-buffered-parts=3",
        "-s3-disable-content-hashes",
        "-s3-equal-part-sizes",
    ];
    let first = tusd_with(&bucket, dir.path(), &flags);
    let addr = first.addr;
    let url = create(
        addr,
        &format!("Upload-Length: {}\r\nContent-Length: 0\r\n", data.len()),
    )
    .await;
    // The answer comes before the body ends: the writes may fail.
    let stream = TcpStream::connect(addr).await.unwrap().into_std().unwrap();
    let mut writer = TcpStream::from_std(stream.try_clone().unwrap()).unwrap();
    let mut reader = TcpStream::from_std(stream).unwrap();
    let request = [patch(addr, &url, 0, data.len()).into_bytes(), data.clone()].concat();
    tokio::spawn(async move { writer.write_all(&request).await });
    let (status, head, _) = read_response(&mut reader).await;
    assert_eq!(status, 500, "no folder to spill to: {head}");
    assert_eq!(offset(addr, &url).await, 0);
    std::fs::create_dir(&spill).unwrap();
    // Unsigned payloads, spilled parts: SeaweedFS checks the signatures.
    let (status, head, _) = raw(addr, &patch(addr, &url, 0, data.len()), &data).await;
    assert_eq!(status, 204, "{head}");
    let (status, _, body) = raw(addr, &head_of("GET", addr, &url, ""), b"").await;
    assert_eq!(status, 200);
    assert!(body == data, "{} bytes", body.len());
    assert_eq!(
        std::fs::read_dir(&spill).unwrap().count(),
        0,
        "spill files removed"
    );
    // Equal parts for a deferred length too: no growth in its plan.
    let deferred = create(addr, "Upload-Defer-Length: 1\r\nContent-Length: 0\r\n").await;
    let object = deferred
        .rsplit('/')
        .next()
        .unwrap()
        .split('+')
        .next()
        .unwrap();
    let info = common::s3::seaweedfs_client()
        .get_object()
        .bucket(&bucket)
        .key(format!("uploads/{object}.info"))
        .send()
        .await
        .unwrap();
    let info = info.body.collect().await.unwrap().into_bytes();
    let info = String::from_utf8_lossy(&info);
    assert!(info.contains(r#""PartSize":"5242880""#), "{info}");
    assert!(!info.contains("DoublesEvery"), "{info}");
}

/// Runs a scenario of `interop/tuspy-client.py` against `tusd` on S3; the
/// scenario checks the bytes by GET itself.
async fn tuspy_through_tusd_on_s3(test: &str, scenario: &str) {
    let Some((bucket, dir)) = bucket_and_folder(test, "Python, tuspy and SeaweedFS").await else {
        return;
    };
    let t = tusd(&bucket, dir.path());
    let file = dir.path().join("file.bin");
    std::fs::write(&file, pattern((11 << 20) + 4321)).unwrap();
    let out = tokio::process::Command::new(tools::interop_dir().join(".venv/bin/python"))
        .arg(tools::interop_dir().join("tuspy-client.py"))
        .arg(scenario)
        .arg(format!("http://{}/files/", t.addr))
        .arg(&file)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains(&format!("OK {scenario}")),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn tuspy_stopped_part_way_resumes_through_tusd_on_s3() {
    tuspy_through_tusd_on_s3(
        "tuspy_stopped_part_way_resumes_through_tusd_on_s3",
        "stop-resume",
    )
    .await;
}

#[tokio::test]
async fn tuspy_checksummed_chunks_through_tusd_on_s3() {
    tuspy_through_tusd_on_s3("tuspy_checksummed_chunks_through_tusd_on_s3", "checksum").await;
}

#[tokio::test]
async fn tusd_s_metadata_prefix_and_minimum_part_flags_take_effect() {
    let Some((bucket, dir)) = bucket_and_folder(
        "tusd_s_metadata_prefix_and_minimum_part_flags_take_effect",
        "Python and SeaweedFS (an S3 server)",
    )
    .await
    else {
        return;
    };
    let flags = [
        "-s3-metadata-object-prefix=meta/",
        "-s3-min-part-size=1048576",
    ];
    let t = tusd_with(&bucket, dir.path(), &flags);
    let addr = t.addr;
    let (data_a, data_b) = (pattern(1 << 20), vec![9u8; 1000]);
    let mut partials = Vec::new();
    for data in [&data_a, &data_b] {
        let url = create(
            addr,
            &format!(
                "Upload-Length: {}\r\nUpload-Concat: partial\r\nContent-Length: 0\r\n",
                data.len()
            ),
        )
        .await;
        let (status, head, _) = raw(addr, &patch(addr, &url, 0, data.len()), data).await;
        assert_eq!(status, 204, "{head}");
        partials.push(url);
    }
    // 1 MiB, the minimum given, passes the check at POST where S3's own
    // 5 MiB would not (SeaweedFS holds to 5 MiB when the final completes:
    // the flag is for servers that take smaller parts).
    let concat = format!(
        "Upload-Concat: final;{} {}\r\nContent-Length: 0\r\n",
        partials[0], partials[1]
    );
    let (status, head, _) = raw(addr, &head_of("POST", addr, "/files/", &concat), b"").await;
    assert_eq!(status, 201, "{head}");
    // The `.info` under the metadata prefix, the object under the other.
    let object = partials[0]
        .rsplit('/')
        .next()
        .unwrap()
        .split('+')
        .next()
        .unwrap();
    let client = common::s3::seaweedfs_client();
    let exists = |key: String| {
        let (client, bucket) = (client.clone(), bucket.clone());
        async move {
            client
                .head_object()
                .bucket(bucket)
                .key(key)
                .send()
                .await
                .is_ok()
        }
    };
    assert!(exists(format!("meta/{object}.info")).await);
    assert!(!exists(format!("uploads/{object}.info")).await);
    assert!(exists(format!("uploads/{object}")).await);
}
