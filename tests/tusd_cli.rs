//! `tusd` for tusd users: the invocations from tusd's documentation, as
//! written there, Go's flag forms and durations, logs and the greeting.
#![cfg(feature = "cli")]

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::tusd::{Tusd, launch};
use common::{header_of, raw};

/// Splits a command line as a shell would, for the quoting tusd's docs use.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let (mut quoted, mut started) = (false, false);
    for c in line.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                started = true;
            }
            c if c.is_whitespace() && !quoted => {
                if started {
                    out.push(std::mem::take(&mut word));
                    started = false;
                }
            }
            c => {
                word.push(c);
                started = true;
            }
        }
    }
    if started {
        out.push(word);
    }
    out
}

/// Runs `line` (starting with `tusd`) in `cwd`, on a port the system picks
/// unless the line names its own listener.
fn run(cwd: &Path, line: &str) -> Tusd {
    let args = words(line);
    assert_eq!(args[0], "tusd");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tusd"));
    cmd.current_dir(cwd).args(&args[1..]);
    if !line.contains("-port") {
        // Go's flag package lets a later flag win, and so does tusd here.
        cmd.args(["-host", "127.0.0.1", "-port", "0"]);
    }
    launch(cmd)
}

fn post(addr: SocketAddr, base: &str, extra: &str) -> String {
    format!(
        "POST {base} HTTP/1.1\r\nHost: {addr}\r\nTus-Resumable: 1.0.0\r\nUpload-Length: 10\r\nContent-Length: 0\r\n{extra}\r\n"
    )
}

fn request(method: &str, addr: SocketAddr, path: &str, extra: &str) -> String {
    format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nTus-Resumable: 1.0.0\r\n{extra}\r\n")
}

#[tokio::test]
async fn the_usage_guide_s_upload_dir() {
    let cwd = tempfile::tempdir().unwrap();
    let tusd = run(cwd.path(), "tusd -upload-dir=./data");
    let (status, head, _) = raw(tusd.addr, &post(tusd.addr, "/files/", ""), b"").await;
    assert_eq!(status, 201, "{head}");
    let url = header_of(&head, "location").unwrap();
    let id = url.rsplit('/').next().unwrap();
    assert!(cwd.path().join("data").join(format!("{id}.info")).exists());
}

#[tokio::test]
async fn host_and_port_as_separate_words() {
    let cwd = tempfile::tempdir().unwrap();
    // tusd's docs say `-port 1337`; the system's pick keeps parallel tests apart.
    let tusd = run(cwd.path(), "tusd -host 127.0.0.1 -port 0");
    assert!(tusd.addr.ip().is_loopback());
    let (status, _, _) = raw(tusd.addr, &post(tusd.addr, "/files/", ""), b"").await;
    assert_eq!(status, 201);
}

#[tokio::test]
async fn base_paths_with_and_without_a_trailing_slash() {
    let cwd = tempfile::tempdir().unwrap();
    let tusd = run(cwd.path(), "tusd -base-path /api/uploads");
    let (status, head, _) = raw(tusd.addr, &post(tusd.addr, "/api/uploads", ""), b"").await;
    assert_eq!(status, 201, "{head}");
    assert!(
        header_of(&head, "location")
            .unwrap()
            .starts_with("/api/uploads/")
    );

    let root = run(cwd.path(), "tusd -base-path /");
    let (status, head, _) = raw(root.addr, &post(root.addr, "/", ""), b"").await;
    assert_eq!(status, 201, "{head}");
}

#[tokio::test]
async fn behind_proxy_as_a_bare_bool() {
    let cwd = tempfile::tempdir().unwrap();
    let tusd = run(cwd.path(), "tusd -behind-proxy");
    let forwarded = "X-Forwarded-Host: uploads.example.com\r\nX-Forwarded-Proto: https\r\n";
    let (_, head, _) = raw(tusd.addr, &post(tusd.addr, "/files/", forwarded), b"").await;
    assert!(
        header_of(&head, "location")
            .unwrap()
            .starts_with("https://uploads.example.com/files/"),
        "{head}"
    );
}

#[tokio::test]
async fn max_size_and_the_disabled_extensions() {
    let cwd = tempfile::tempdir().unwrap();
    let tusd = run(cwd.path(), "tusd -max-size 1000000000");
    let (_, head, _) = raw(
        tusd.addr,
        &request("OPTIONS", tusd.addr, "/files/", ""),
        b"",
    )
    .await;
    assert_eq!(
        header_of(&head, "tus-max-size").as_deref(),
        Some("1000000000")
    );

    let tusd = run(cwd.path(), "tusd -disable-download");
    let (_, head, _) = raw(tusd.addr, &post(tusd.addr, "/files/", ""), b"").await;
    let url = header_of(&head, "location").unwrap();
    let (status, _, _) = raw(tusd.addr, &request("GET", tusd.addr, &url, ""), b"").await;
    assert_ne!(status, 200, "downloads are off");

    let tusd = run(cwd.path(), "tusd -disable-termination");
    let (_, head, _) = raw(tusd.addr, &post(tusd.addr, "/files/", ""), b"").await;
    let url = header_of(&head, "location").unwrap();
    let (status, _, _) = raw(tusd.addr, &request("DELETE", tusd.addr, &url, ""), b"").await;
    assert_ne!(status, 204, "termination is off");
}

#[tokio::test]
async fn the_cors_example() {
    let cwd = tempfile::tempdir().unwrap();
    let tusd = run(
        cwd.path(),
        "tusd -cors-allow-origin 'https?://example.com' -cors-allow-credentials \
         -cors-allow-headers X-My-Token -cors-expose-headers X-Upload-Location -cors-max-age 3600",
    );
    let preflight = |origin: &str| {
        format!(
            "OPTIONS /files/ HTTP/1.1\r\nHost: {}\r\nOrigin: {origin}\r\nAccess-Control-Request-Method: POST\r\n\r\n",
            tusd.addr
        )
    };
    let (_, head, _) = raw(tusd.addr, &preflight("https://example.com"), b"").await;
    assert_eq!(
        header_of(&head, "access-control-allow-origin").as_deref(),
        Some("https://example.com")
    );
    assert_eq!(
        header_of(&head, "access-control-allow-credentials").as_deref(),
        Some("true")
    );
    assert!(
        header_of(&head, "access-control-allow-headers")
            .unwrap()
            .contains("X-My-Token")
    );
    assert_eq!(
        header_of(&head, "access-control-max-age").as_deref(),
        Some("3600")
    );
    let (_, head, _) = raw(tusd.addr, &preflight("https://evil.example"), b"").await;
    assert_eq!(header_of(&head, "access-control-allow-origin"), None);

    let tusd = run(cwd.path(), "tusd -disable-cors");
    let (_, head, _) = raw(
        tusd.addr,
        &request(
            "OPTIONS",
            tusd.addr,
            "/files/",
            "Origin: https://example.com\r\n",
        ),
        b"",
    )
    .await;
    assert_eq!(header_of(&head, "access-control-allow-origin"), None);
}

#[tokio::test]
async fn the_tls_example_with_equals_signs() {
    let cwd = tempfile::tempdir().unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    std::fs::write(cwd.path().join("localhost.pem"), cert.pem()).unwrap();
    std::fs::write(cwd.path().join("localhost.key"), key.serialize_pem()).unwrap();
    // tusd's docs say `-port=8443`; the system's pick keeps parallel tests apart.
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tusd"));
    cmd.current_dir(cwd.path()).args(words(
        "-upload-dir=./data -host=127.0.0.1 -port=0 -tls-certificate=localhost.pem -tls-key=localhost.key",
    ));
    let (ok, log) = starts(cmd);
    assert!(ok && log.contains("https://127.0.0.1:"), "{log}");

    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tusd"));
    cmd.current_dir(cwd.path()).args(words(
        "-port=0 -tls-certificate=localhost.pem -tls-key=localhost.key -enable-h2c",
    ));
    let (ok, log) = starts(cmd);
    assert!(
        !ok && log.contains("h2c"),
        "h2c and TLS together are refused: {log}"
    );
}

/// Starts `cmd` and tells whether it came to serve, with what it logged.
fn starts(mut cmd: Command) -> (bool, String) {
    let mut child = cmd
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while child.try_wait().unwrap().is_none() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        // Still running after a moment: it is serving.
        if std::time::Instant::now() + Duration::from_secs(4) > deadline {
            break;
        }
    }
    let serving = child.try_wait().unwrap().is_none();
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    let log =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (serving, log)
}

fn write_hook(dir: &Path, name: &str, script: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[tokio::test]
async fn the_hook_examples() {
    let cwd = tempfile::tempdir().unwrap();
    write_hook(
        &cwd.path().join("path/to/hooks"),
        "pre-create",
        "#!/bin/sh\necho '{\"RejectUpload\":true,\"HTTPResponse\":{\"StatusCode\":403}}'\n",
    );
    let tusd = run(cwd.path(), "tusd -hooks-dir ./path/to/hooks/");
    let (status, _, _) = raw(tusd.addr, &post(tusd.addr, "/files/", ""), b"").await;
    assert_eq!(status, 403, "the pre-create hook refused");

    // A hook receiver where the docs have localhost:8081.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let receiver = listener.local_addr().unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        loop {
            let (mut s, _) = listener.accept().await.unwrap();
            let log = log.clone();
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut buf = vec![0; 65536];
                let mut got = Vec::new();
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    got.extend_from_slice(&buf[..n]);
                    if got.windows(4).any(|w| w == b"\r\n\r\n") && got.ends_with(b"}") {
                        break;
                    }
                }
                log.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&got).into_owned());
                let _ = s
                    .write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
                    )
                    .await;
            });
        }
    });
    let line = format!(
        "tusd -hooks-http http://{receiver}/write -hooks-http-retry 5 -hooks-http-backoff 2 \
         -hooks-http-forward-headers Cookie"
    );
    let tusd = run(cwd.path(), &line);
    let (status, _, _) = raw(
        tusd.addr,
        &post(tusd.addr, "/files/", "Cookie: session=abc\r\n"),
        b"",
    )
    .await;
    assert_eq!(status, 201);
    let seen = seen.lock().unwrap().join("\n");
    assert!(seen.contains("POST /write"), "{seen}");
    assert!(seen.contains("pre-create"), "{seen}");
    assert!(
        seen.contains("session=abc"),
        "the cookie was forwarded: {seen}"
    );
}

#[tokio::test]
async fn the_monitoring_examples() {
    let cwd = tempfile::tempdir().unwrap();
    let tusd = run(cwd.path(), "tusd -metrics-path /my/numbers");
    let (status, _, body) = raw(
        tusd.addr,
        &request("GET", tusd.addr, "/my/numbers", ""),
        b"",
    )
    .await;
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&body).contains("tusd_uploads_created"));

    // Written as in tusd's docs, with the value as its own word.
    let tusd = run(cwd.path(), "tusd -expose-metrics false");
    let (status, _, _) = raw(tusd.addr, &request("GET", tusd.addr, "/metrics", ""), b"").await;
    assert_eq!(status, 404);
    let tusd = run(cwd.path(), "tusd -expose-metrics=false");
    let (status, _, _) = raw(tusd.addr, &request("GET", tusd.addr, "/metrics", ""), b"").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn go_durations_for_every_duration() {
    let cwd = tempfile::tempdir().unwrap();
    let tusd = run(
        cwd.path(),
        "tusd -network-timeout 1s500ms -shutdown-timeout=0 -acquire-lock-timeout 20s \
         -progress-hooks-interval 500ms -hooks-http-timeout 1m -filelock-holder-poll-interval 250ms \
         -filelock-acquirer-poll-interval=100ms -expire-after 1h30m -cleanup-interval 90",
    );
    let (status, head, _) = raw(tusd.addr, &post(tusd.addr, "/files/", ""), b"").await;
    assert_eq!(status, 201);
    assert!(
        header_of(&head, "upload-expires").is_some(),
        "-expire-after took effect"
    );
    // The network timeout of 1.5 s ends a silent PATCH body.
    let url = header_of(&head, "location").unwrap();
    let mut s = tokio::net::TcpStream::connect(tusd.addr).await.unwrap();
    use tokio::io::AsyncWriteExt;
    s.write_all(
        format!(
            "PATCH {url} HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\nContent-Type: application/offset+octet-stream\r\nContent-Length: 10\r\n\r\n012"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let started = std::time::Instant::now();
    let _ = common::read_response(&mut s).await;
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(1300) && waited < Duration::from_secs(5),
        "{waited:?}"
    );

    for bad in [
        "-network-timeout 5x",
        "-shutdown-timeout=-1s",
        "-expire-after 1d",
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_tusd"))
            .args(words(bad))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("invalid duration"),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn the_greeting_page_and_its_switch() {
    let cwd = tempfile::tempdir().unwrap();
    let tusd = run(cwd.path(), "tusd -upload-dir=./data");
    let (status, head, body) = raw(tusd.addr, &request("GET", tusd.addr, "/", ""), b"").await;
    assert_eq!(status, 200);
    assert!(
        header_of(&head, "content-type")
            .unwrap()
            .starts_with("text/plain")
    );
    let page = String::from_utf8_lossy(&body);
    assert!(
        page.contains("/files/") && page.contains("/metrics"),
        "{page}"
    );
    let (status, _, _) = raw(tusd.addr, &request("GET", tusd.addr, "/elsewhere", ""), b"").await;
    assert_eq!(status, 404);

    let tusd = run(cwd.path(), "tusd -show-greeting=false");
    let (status, _, _) = raw(tusd.addr, &request("GET", tusd.addr, "/", ""), b"").await;
    assert_eq!(status, 404);
}

#[test]
fn version_and_help_in_go_s_spelling() {
    let out = Command::new(env!("CARGO_BIN_EXE_tusd"))
        .arg("-version")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains(env!("CARGO_PKG_VERSION")));
    let out = Command::new(env!("CARGO_BIN_EXE_tusd"))
        .arg("-help")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("-upload-dir"));
    let out = Command::new(env!("CARGO_BIN_EXE_tusd"))
        .arg("-no-such-flag")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "an unknown flag is a usage error"
    );
}

#[tokio::test]
async fn logs_without_colour_and_peers_as_addresses() {
    let cwd = tempfile::tempdir().unwrap();
    let (log, addr) = logged_run(cwd.path(), &["-upload-dir=./data"], "").await;
    assert!(log.contains("upload created"), "{log}");
    assert!(
        !log.contains('\u{1b}'),
        "no colour codes when not a terminal: {log:?}"
    );
    assert!(
        log.contains(&format!("peer={addr}")),
        "the client's IP:PORT: {log}"
    );
    assert!(!log.contains("Some("), "values print as themselves: {log}");

    let (log, _) = logged_run(cwd.path(), &["-log-format", "json"], "").await;
    let request = log
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("every line is JSON"))
        .find(|v| v["message"] == "request")
        .expect("a request line");
    assert_eq!(request["method"], "POST");
    assert_eq!(request["status"], 201);

    let (log, _) = logged_run(cwd.path(), &["-verbose=false"], "").await;
    assert!(log.contains("serving"), "{log}");
    assert!(!log.contains("method=POST"), "no request lines: {log}");
    assert!(!log.contains("upload created"), "no upload events: {log}");
}

/// Runs tusd with `extra` (and `RUST_LOG=rust_log` when not empty), makes
/// one upload, stops it, and returns its log and the client's address.
async fn logged_run(cwd: &Path, extra: &[&str], rust_log: &str) -> (String, SocketAddr) {
    let dir = cwd.join("uploads");
    static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let run = RUNS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let log_file = cwd.join(format!("tusd-{run}.log"));
    let script = format!("exec \"$0\" \"$@\" > '{}'", log_file.display());
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_tusd"))
        .args(["-host", "127.0.0.1", "-port", "0", "-upload-dir"])
        .arg(&dir)
        .args(extra)
        .env_remove("RUST_LOG");
    if !rust_log.is_empty() {
        cmd.env("RUST_LOG", rust_log);
    }
    // Killed when dropped, also when the test fails.
    let tusd = Tusd {
        child: cmd.spawn().unwrap(),
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        log: Default::default(),
    };
    let mut addr = None;
    for _ in 0..100 {
        let log = std::fs::read_to_string(&log_file).unwrap_or_default();
        addr = log.lines().find_map(|l| {
            let rest = &l[l.find("http://")? + 7..];
            rest[..rest.find('/')?].parse::<SocketAddr>().ok()
        });
        if addr.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let addr = addr.expect("tusd started");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let client = s.local_addr().unwrap();
    use tokio::io::AsyncWriteExt;
    s.write_all(post(addr, "/files/", "").as_bytes())
        .await
        .unwrap();
    let (status, _, _) = common::read_response(&mut s).await;
    assert_eq!(status, 201);
    tokio::time::sleep(Duration::from_millis(100)).await;
    tusd.kill9();
    (std::fs::read_to_string(&log_file).unwrap(), client)
}

#[tokio::test]
async fn cleartext_http2_is_served_and_enable_h2c_is_accepted() {
    let cwd = tempfile::tempdir().unwrap();
    for line in ["tusd -upload-dir=./data", "tusd -enable-h2c"] {
        let tusd = run(cwd.path(), line);
        let stream = tokio::net::TcpStream::connect(tusd.addr).await.unwrap();
        let (mut sender, conn) = hyper::client::conn::http2::handshake(
            hyper_util::rt::TokioExecutor::new(),
            hyper_util::rt::TokioIo::new(stream),
        )
        .await
        .unwrap();
        tokio::spawn(conn);
        let req = http::Request::post(format!("http://{}/files/", tusd.addr))
            .header("tus-resumable", "1.0.0")
            .header("upload-length", "3")
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .unwrap();
        let res = sender.send_request(req).await.unwrap();
        assert_eq!(res.version(), http::Version::HTTP_2, "{line}");
        assert_eq!(res.status(), 201, "{line}");
    }
}

#[tokio::test]
async fn disable_concatenation_and_quiet_start_up() {
    let cwd = tempfile::tempdir().unwrap();
    let tusd = run(cwd.path(), "tusd -disable-concatenation");
    let (_, head, _) = raw(
        tusd.addr,
        &request("OPTIONS", tusd.addr, "/files/", ""),
        b"",
    )
    .await;
    assert!(
        !header_of(&head, "tus-extension")
            .unwrap()
            .contains("concatenation"),
        "{head}"
    );
    let (status, _, _) = raw(
        tusd.addr,
        &post(tusd.addr, "/files/", "Upload-Concat: partial\r\n"),
        b"",
    )
    .await;
    assert_ne!(status, 201, "partial uploads are refused");

    // At debug level the start-up line still comes, as a DEBUG line.
    let (log, _) = logged_run(cwd.path(), &["-show-startup-logs=false"], "debug").await;
    let serving = log.lines().find(|l| l.contains("serving")).unwrap();
    assert!(serving.contains("DEBUG"), "{serving}");
    assert!(
        log.lines()
            .any(|l| l.contains("method=POST") && l.contains("status=201")),
        "requests are still logged: {log}"
    );
}

#[tokio::test]
async fn a_flag_given_twice_takes_its_last_value() {
    let cwd = tempfile::tempdir().unwrap();
    let tusd = run(cwd.path(), "tusd -max-size 5 --max-size=1000");
    let (_, head, _) = raw(
        tusd.addr,
        &request("OPTIONS", tusd.addr, "/files/", ""),
        b"",
    )
    .await;
    assert_eq!(header_of(&head, "tus-max-size").as_deref(), Some("1000"));
}
