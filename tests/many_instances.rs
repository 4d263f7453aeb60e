//! Several `tusd` processes over one SeaweedFS bucket and one Redis (then
//! one etcd), as instances behind a load balancer: uploads cut and resumed
//! on another instance, racing writers, an instance killed or paused while
//! it holds a lock, the lock service killed mid-upload, and `/health`.
//! Every test runs once with each lock service.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::balancer;
use common::etcd::EtcdServer;
use common::redis::RedisServer;
use common::tusd::{Tusd, launch};
use common::{header_of, pattern, raw, read_response, tools};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// A lease short enough that the tests wait for one without dragging.
const LEASE: &str = "2s";

/// Which service keeps the locks.
#[derive(Clone, Copy)]
enum Kind {
    Redis,
    Etcd,
}

/// The lock service of a test, started for it.
enum LockService {
    Redis(RedisServer),
    Etcd(EtcdServer),
}

impl LockService {
    /// Starts one, unless its server is missing (then the test is skipped,
    /// loudly, or fails when tool tests were asked for).
    fn start(kind: Kind, test: &str) -> Option<LockService> {
        match kind {
            Kind::Redis => {
                common::redis::wanted(test).then(|| LockService::Redis(RedisServer::start()))
            }
            Kind::Etcd => {
                common::etcd::wanted(test).then(|| LockService::Etcd(EtcdServer::start()))
            }
        }
    }

    /// The `tusd` flags that use it.
    fn flags(&self) -> Vec<String> {
        match self {
            LockService::Redis(r) => vec![
                "--locker".into(),
                "redis".into(),
                "--redis-url".into(),
                r.url(),
            ],
            LockService::Etcd(e) => vec![
                "--locker".into(),
                "etcd".into(),
                "--etcd-endpoints".into(),
                e.endpoint(),
            ],
        }
    }

    /// What `/health` calls it.
    fn name(&self) -> &'static str {
        match self {
            LockService::Redis(_) => "Redis",
            LockService::Etcd(_) => "etcd",
        }
    }

    fn kill(&mut self) {
        match self {
            LockService::Redis(r) => r.kill(),
            LockService::Etcd(e) => e.kill(),
        }
    }

    fn start_again(&mut self) {
        match self {
            LockService::Redis(r) => r.start_again(),
            LockService::Etcd(e) => e.start_again(),
        }
    }
}

/// Defines each listed `async fn(Kind)` as a test on Redis and on etcd.
macro_rules! on_every_lock_service {
    ($($test:ident),* $(,)?) => {
        mod redis {
            $(#[tokio::test] async fn $test() { super::$test(super::Kind::Redis).await; })*
        }
        mod etcd {
            $(#[tokio::test] async fn $test() { super::$test(super::Kind::Etcd).await; })*
        }
    };
}

on_every_lock_service!(
    tus_js_client_cut_mid_body_resumes_on_another_instance,
    tuspy_cut_mid_patch_resumes_on_another_instance,
    a_newcomer_on_another_instance_takes_over_a_racing_patch_within_a_second,
    another_instance_takes_over_from_one_killed_mid_patch_after_the_lease,
    a_writer_paused_past_its_lease_writes_nothing_more,
    writers_stop_when_the_lock_service_dies_and_uploads_resume_once_it_is_back,
    health_follows_the_lock_service_and_a_missing_one_stops_tusd_at_start_up,
    expired_uploads_are_swept_once_and_never_from_under_a_writer,
    an_upload_written_on_one_instance_is_never_evicted_by_another,
);

/// Instances of `tusd` sharing a bucket and a lock service.
struct Cluster {
    locks: LockService,
    bucket: String,
    dirs: Vec<tempfile::TempDir>,
    instances: Vec<Tusd>,
    /// Flags every instance gets on top.
    extra: Vec<&'static str>,
}

impl Cluster {
    /// `n` instances, each with a folder of its own (another machine's).
    async fn start(kind: Kind, test: &str, needs: &str, n: usize) -> Option<Cluster> {
        Self::start_with(kind, test, needs, n, &[]).await
    }

    /// [`Cluster::start`], every instance with `extra` flags.
    async fn start_with(
        kind: Kind,
        test: &str,
        needs: &str,
        n: usize,
        extra: &[&'static str],
    ) -> Option<Cluster> {
        if !tools::wanted(test, needs) {
            return None;
        }
        let mut cluster = Cluster {
            locks: LockService::start(kind, test)?,
            bucket: common::s3::seaweedfs_bucket().await,
            dirs: Vec::new(),
            instances: Vec::new(),
            extra: extra.to_vec(),
        };
        for _ in 0..n {
            cluster.dirs.push(tempfile::tempdir().unwrap());
            let instance = cluster.instance(cluster.dirs.len() - 1);
            cluster.instances.push(instance);
        }
        Some(cluster)
    }

    /// Starts `tusd` over folder `i`, the bucket and the lock service.
    fn instance(&self, i: usize) -> Tusd {
        let (endpoint, (key, secret)) = common::s3::seaweedfs_access();
        let mut cmd = common::tusd::command(self.dirs[i].path());
        cmd.args(["-s3-bucket", &self.bucket, "-s3-endpoint", endpoint])
            .args(["-s3-path-style", "-s3-part-size=5242880"])
            .args(self.locks.flags())
            .args(&self.extra)
            .args(["--lock-lease", LEASE, "-behind-proxy"])
            .env("AWS_ACCESS_KEY_ID", key)
            .env("AWS_SECRET_ACCESS_KEY", secret)
            .env("AWS_REGION", "us-east-1")
            .env_remove("AWS_PROFILE");
        launch(cmd)
    }

    fn addrs(&self) -> Vec<SocketAddr> {
        self.instances.iter().map(|t| t.addr).collect()
    }

    fn pid(&self, i: usize) -> String {
        self.instances[i].child.id().to_string()
    }
}

fn head_of(method: &str, addr: SocketAddr, url: &str, extra: &str) -> String {
    format!("{method} {url} HTTP/1.1\r\nHost: {addr}\r\nTus-Resumable: 1.0.0\r\n{extra}\r\n")
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

/// Creates an upload of `len` bytes through `addr`; its path.
async fn create(addr: SocketAddr, len: usize) -> String {
    let (status, head, _) = raw(
        addr,
        &head_of(
            "POST",
            addr,
            "/files/",
            &format!("Upload-Length: {len}\r\n"),
        ),
        b"",
    )
    .await;
    assert_eq!(status, 201, "{head}");
    let location = header_of(&head, "location").unwrap();
    location[location.find("/files/").unwrap()..].to_owned()
}

/// HEAD through `addr`: status and offset.
async fn head(addr: SocketAddr, url: &str) -> (u16, Option<u64>) {
    let (status, head, _) = raw(addr, &head_of("HEAD", addr, url, ""), b"").await;
    (
        status,
        header_of(&head, "upload-offset").map(|o| o.parse().unwrap()),
    )
}

/// Opens a PATCH of `len` bytes at `at` through `addr` and sends `first`
/// of them; the connection, for the rest or to leave hanging.
async fn start_patch(
    addr: SocketAddr,
    url: &str,
    at: usize,
    len: usize,
    first: &[u8],
) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(patch(addr, url, at, len).as_bytes())
        .await
        .unwrap();
    stream.write_all(first).await.unwrap();
    stream
}

/// Sends `data[at..]` in one PATCH through `addr`; its status.
async fn resume(addr: SocketAddr, url: &str, at: usize, data: &[u8]) -> u16 {
    let (status, head, _) = raw(addr, &patch(addr, url, at, data.len() - at), &data[at..]).await;
    assert!(status == 204, "{head}");
    status
}

/// GET through `addr` returns exactly `data`.
async fn assert_stored(addr: SocketAddr, url: &str, data: &[u8]) {
    let (status, _, body) = raw(addr, &head_of("GET", addr, url, ""), b"").await;
    assert_eq!(status, 200);
    assert!(
        body == data,
        "byte for byte ({} of {})",
        body.len(),
        data.len()
    );
}

/// The parts S3 holds for the upload at `url`, by ListParts.
async fn parts_in_s3(bucket: &str, url: &str) -> Vec<(i32, i64)> {
    let id = url.rsplit('/').next().unwrap();
    let (object, multipart) = id.split_once('+').unwrap();
    let listed = common::s3::seaweedfs_client()
        .list_parts()
        .bucket(bucket)
        .key(object)
        .upload_id(multipart)
        .send()
        .await
        .unwrap();
    listed
        .parts()
        .iter()
        .map(|p| (p.part_number().unwrap(), p.size().unwrap()))
        .collect()
}

/// Whether the upload at `url` has a `.part` object.
async fn has_tail(bucket: &str, url: &str) -> bool {
    let id = url.rsplit('/').next().unwrap();
    let object = id.split_once('+').unwrap().0;
    common::s3::seaweedfs_client()
        .head_object()
        .bucket(bucket)
        .key(format!("{object}.part"))
        .send()
        .await
        .is_ok()
}

fn signal(pid: &str, signal: &str) {
    let status = std::process::Command::new("kill")
        .args([signal, pid])
        .status()
        .unwrap();
    assert!(status.success());
}

async fn tus_js_client_cut_mid_body_resumes_on_another_instance(kind: Kind) {
    let Some(cluster) = Cluster::start(
        kind,
        "tus_js_client_cut_mid_body_resumes_on_another_instance",
        "Node.js, tus-js-client, Python and SeaweedFS",
        3,
    )
    .await
    else {
        return;
    };
    tools::install(tools::Clients::Node);
    let lb = balancer::start(cluster.addrs(), None).await;
    let file = cluster.dirs[0].path().join("file.bin");
    std::fs::write(&file, pattern((8 << 20) + 12_345)).unwrap();
    let out = tokio::process::Command::new("node")
        .arg(tools::interop_dir().join("tus-js-client.mjs"))
        .arg("cut-resume")
        .arg(lb.endpoint())
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
    for (i, served) in lb.served.iter().enumerate() {
        assert!(
            served.load(std::sync::atomic::Ordering::SeqCst) > 0,
            "instance {i} served nothing"
        );
    }
}

async fn tuspy_cut_mid_patch_resumes_on_another_instance(kind: Kind) {
    let Some(cluster) = Cluster::start(
        kind,
        "tuspy_cut_mid_patch_resumes_on_another_instance",
        "Python, tuspy and SeaweedFS",
        3,
    )
    .await
    else {
        return;
    };
    // Past the first 5 MiB part, inside the second.
    let cut_at = (7 << 20) + 4321;
    let lb = balancer::start(cluster.addrs(), Some(cut_at)).await;
    let file = cluster.dirs[0].path().join("file.bin");
    std::fs::write(&file, pattern((11 << 20) + 999)).unwrap();
    let out = tokio::process::Command::new(tools::interop_dir().join(".venv/bin/python"))
        .arg(tools::interop_dir().join("tuspy-client.py"))
        .arg("cut-resume")
        .arg(lb.endpoint())
        .arg(&file)
        .env("TUS_CUT_AT", cut_at.to_string())
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

async fn a_newcomer_on_another_instance_takes_over_a_racing_patch_within_a_second(kind: Kind) {
    let Some(cluster) = Cluster::start(
        kind,
        "a_newcomer_on_another_instance_takes_over_a_racing_patch_within_a_second",
        "Python and SeaweedFS",
        2,
    )
    .await
    else {
        return;
    };
    let [a, b] = cluster.addrs()[..] else {
        unreachable!()
    };
    let data = pattern((11 << 20) + 77);
    let url = create(a, data.len()).await;
    // The first client sends 3 MiB, then hangs: a half-dead request.
    let mut first = start_patch(a, &url, 0, data.len(), &data[..3 << 20]).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    // The second, on the other instance, asks where to resume.
    let asked = Instant::now();
    let (status, offset) = head(b, &url).await;
    let took = asked.elapsed();
    assert_eq!(
        (status, offset),
        (200, Some(3 << 20)),
        "every byte that arrived"
    );
    assert!(took < Duration::from_secs(1), "the take-over took {took:?}");
    // The first request was answered, as tusd answers a request another
    // one interrupted.
    let (status, _, body) = read_response(&mut first).await;
    let body = String::from_utf8_lossy(&body);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("interrupted"), "{body}");

    resume(b, &url, 3 << 20, &data).await;
    assert_stored(a, &url, &data).await;
}

async fn another_instance_takes_over_from_one_killed_mid_patch_after_the_lease(kind: Kind) {
    let Some(mut cluster) = Cluster::start(
        kind,
        "another_instance_takes_over_from_one_killed_mid_patch_after_the_lease",
        "Python and SeaweedFS",
        2,
    )
    .await
    else {
        return;
    };
    let (a, b) = (cluster.addrs()[0], cluster.addrs()[1]);
    let data = pattern((11 << 20) + 5);
    let url = create(b, data.len()).await;
    let s = start_patch(a, &url, 0, data.len(), &data[..7 << 20]).await;
    // The first part is in S3 (no HEAD: it would take the request over).
    common::eventually(20, || async {
        !parts_in_s3(&cluster.bucket, &url).await.is_empty()
    })
    .await;
    cluster.instances.remove(0).kill9();
    let killed = Instant::now();
    drop(s);

    // The dead instance's lock holds until its lease runs out; then the
    // other one tells every durable byte and takes the rest.
    let (status, offset) = head(b, &url).await;
    let waited = killed.elapsed();
    assert_eq!((status, offset), (200, Some(5 << 20)));
    // The lease (2 s, renewed every 0.67 s) had at least 1.3 s left.
    assert!(
        waited >= Duration::from_secs(1),
        "the dead holder's lock was not respected: {waited:?}"
    );
    assert!(waited < Duration::from_secs(10), "took {waited:?}");
    resume(b, &url, 5 << 20, &data).await;
    assert_stored(b, &url, &data).await;
}

async fn a_writer_paused_past_its_lease_writes_nothing_more(kind: Kind) {
    let Some(cluster) = Cluster::start(
        kind,
        "a_writer_paused_past_its_lease_writes_nothing_more",
        "Python and SeaweedFS",
        2,
    )
    .await
    else {
        return;
    };
    let (a, b) = (cluster.addrs()[0], cluster.addrs()[1]);
    let data = pattern((11 << 20) + 3);
    // The paused writer's client sends other bytes, so that anything it
    // stored late would show in the upload.
    let other: Vec<u8> = data.iter().map(|b| !b).collect();
    let url = create(a, data.len()).await;
    // 3 MiB, below a part: held by instance A, not yet in S3.
    let mut first = start_patch(a, &url, 0, data.len(), &other[..3 << 20]).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    signal(&cluster.pid(0), "-STOP");
    tokio::time::sleep(Duration::from_secs(3)).await;

    // A's lease ran out: B takes the upload and stores its first part and
    // a tail.
    let (status, offset) = head(b, &url).await;
    assert_eq!((status, offset), (200, Some(0)));
    let half = (6 << 20) + 1;
    let (status, head, _) = raw(b, &patch(b, &url, 0, half), &data[..half]).await;
    assert_eq!(status, 204, "{head}");

    // A wakes with 3 MiB in hand and 5 MiB more coming, enough for a part
    // of its own: it must store none of it.
    signal(&cluster.pid(0), "-CONT");
    let more = other[3 << 20..8 << 20].to_vec();
    let sender = tokio::spawn(async move {
        let _ = first.write_all(&more).await;
        read_response(&mut first).await
    });
    let (status, _, _) = tokio::time::timeout(Duration::from_secs(20), sender)
        .await
        .expect("the woken writer answers")
        .unwrap();
    assert!(status >= 500, "{status}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        parts_in_s3(&cluster.bucket, &url).await.len(),
        1,
        "A stored a part"
    );
    let (status, offset) = self::head(b, &url).await;
    assert_eq!(
        (status, offset),
        (200, Some(half as u64)),
        "A changed the tail"
    );

    resume(b, &url, half, &data).await;
    assert_stored(b, &url, &data).await;
    assert_stored(a, &url, &data).await;
}

async fn writers_stop_when_the_lock_service_dies_and_uploads_resume_once_it_is_back(kind: Kind) {
    let Some(mut cluster) = Cluster::start(
        kind,
        "writers_stop_when_the_lock_service_dies_and_uploads_resume_once_it_is_back",
        "Python and SeaweedFS",
        2,
    )
    .await
    else {
        return;
    };
    let (a, b) = (cluster.addrs()[0], cluster.addrs()[1]);
    let data = pattern((21 << 20) + 9);
    let url = create(a, data.len()).await;
    let mut s = start_patch(a, &url, 0, data.len(), &data[..6 << 20]).await;
    common::eventually(20, || async {
        !parts_in_s3(&cluster.bucket, &url).await.is_empty()
    })
    .await;

    cluster.locks.kill();
    // The client keeps sending; the writer cannot renew its lease, and
    // stops with a 5xx once the lease runs out.
    let rest = data[6 << 20..16 << 20].to_vec();
    let sender = tokio::spawn(async move {
        let _ = s.write_all(&rest).await;
        read_response(&mut s).await
    });
    let (status, head, _) = tokio::time::timeout(Duration::from_secs(10), sender)
        .await
        .expect("the writer stops once its lease cannot be renewed")
        .unwrap();
    assert!(status >= 500, "{status} {head}");
    // Nothing is stored after it stopped.
    let parts = parts_in_s3(&cluster.bucket, &url).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(parts_in_s3(&cluster.bucket, &url).await, parts);
    assert!(!has_tail(&cluster.bucket, &url).await);
    let stored: u64 = parts.iter().map(|p| p.1 as u64).sum();
    let numbers: Vec<i32> = parts.iter().map(|p| p.0).collect();
    assert_eq!(
        numbers,
        (1..=parts.len() as i32).collect::<Vec<_>>(),
        "{parts:?}"
    );
    // No lock can be taken meanwhile: 503, on every instance.
    let (status, _) = self::head(b, &url).await;
    assert_eq!(status, 503);

    cluster.locks.start_again();
    common::eventually(20, || async { self::head(b, &url).await.0 == 200 }).await;
    let (status, offset) = self::head(b, &url).await;
    assert_eq!((status, offset), (200, Some(stored)), "every part, once");

    // Take-overs across instances work again: A listens anew.
    let at = stored as usize;
    let half_dead = start_patch(a, &url, at, data.len() - at, &data[at..at + (1 << 20)]).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let asked = Instant::now();
    let (status, offset) = self::head(b, &url).await;
    assert_eq!((status, offset), (200, Some(stored + (1 << 20))));
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "{:?}",
        asked.elapsed()
    );
    drop(half_dead);
    resume(b, &url, at + (1 << 20), &data).await;
    assert_stored(a, &url, &data).await;
}

async fn health_follows_the_lock_service_and_a_missing_one_stops_tusd_at_start_up(kind: Kind) {
    let test = "health_follows_the_lock_service_and_a_missing_one_stops_tusd_at_start_up";
    let Some(mut locks) = LockService::start(kind, test) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = common::tusd::command(dir.path());
    cmd.args(locks.flags());
    let t = launch(cmd);
    let health = |addr| async move {
        let (status, _, body) = raw(addr, &head_of("GET", addr, "/health", ""), b"").await;
        (status, String::from_utf8_lossy(&body).into_owned())
    };
    assert_eq!(health(t.addr).await, (200, "ok\n".to_owned()));
    locks.kill();
    let (status, body) = health(t.addr).await;
    assert_eq!(status, 503);
    assert!(
        body.contains(&format!("{} unreachable", locks.name())),
        "{body}"
    );
    locks.start_again();
    common::eventually(20, || async { health(t.addr).await.0 == 200 }).await;
    drop(t);

    // A lock service that cannot be reached, or none named, stops tusd at
    // once, naming what it tried.
    locks.kill();
    let flags = locks.flags();
    let out = common::tusd::command(dir.path())
        .args(&flags)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(log.contains(&format!("{} {}", flags[2], flags[3])), "{log}");
    if let LockService::Redis(redis) = &locks {
        // A password in the URL never reaches the log.
        let url = format!("redis://:hunter2@127.0.0.1:{}/", redis.port);
        let out = common::tusd::command(dir.path())
            .args(["--locker", "redis", "--redis-url", &url])
            .output()
            .unwrap();
        let log = String::from_utf8_lossy(&out.stdout);
        assert!(
            !log.contains("hunter2") && log.contains(":***@127.0.0.1"),
            "{log}"
        );
    }
    let out = common::tusd::command(dir.path())
        .args(&flags[..2])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(
        log.contains(&format!("--locker {} needs {}", flags[1], flags[2])),
        "{log}"
    );
}

/// Whether the upload at `url` still has its `.info`.
async fn has_info(bucket: &str, url: &str) -> bool {
    let id = url.rsplit('/').next().unwrap();
    let object = id.split_once('+').unwrap().0;
    common::s3::seaweedfs_client()
        .head_object()
        .bucket(bucket)
        .key(format!("{object}.info"))
        .send()
        .await
        .is_ok()
}

/// Uploads terminated by every instance, from their metrics.
async fn terminated(cluster: &Cluster) -> u64 {
    let mut total = 0;
    for addr in cluster.addrs() {
        let (_, _, body) = raw(addr, &head_of("GET", addr, "/metrics", ""), b"").await;
        let text = String::from_utf8_lossy(&body).into_owned();
        total += text
            .lines()
            .find_map(|l| l.strip_prefix("tusd_uploads_terminated "))
            .map_or(0, |v| v.trim().parse::<u64>().unwrap());
    }
    total
}

async fn expired_uploads_are_swept_once_and_never_from_under_a_writer(kind: Kind) {
    let Some(cluster) = Cluster::start_with(
        kind,
        "expired_uploads_are_swept_once_and_never_from_under_a_writer",
        "Python and SeaweedFS",
        2,
        &["-expire-after", "1s", "-cleanup-interval", "200ms"],
    )
    .await
    else {
        return;
    };
    let (a, b) = (cluster.addrs()[0], cluster.addrs()[1]);
    // One upload held by a half-dead PATCH on A, one left idle.
    let held = create(a, 5000).await;
    let writer = start_patch(a, &held, 0, 5000, &pattern(1000)).await;
    let idle = create(b, 5000).await;

    // Both instances sweep every 200 ms, and both uploads expired long ago.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(
        !has_info(&cluster.bucket, &idle).await,
        "the idle upload stayed"
    );
    assert!(
        has_info(&cluster.bucket, &held).await,
        "a sweep took the upload from under its writer"
    );
    assert_eq!(terminated(&cluster).await, 1, "swept more than once");

    // Once its writer is gone, it is swept too, once.
    drop(writer);
    common::eventually(10, || async { !has_info(&cluster.bucket, &held).await }).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(terminated(&cluster).await, 2, "swept more than once");
}

async fn an_upload_written_on_one_instance_is_never_evicted_by_another(kind: Kind) {
    let Some(cluster) = Cluster::start_with(
        kind,
        "an_upload_written_on_one_instance_is_never_evicted_by_another",
        "Python and SeaweedFS",
        2,
        &["-max-store-size", "10000", "-max-store-policy", "evict"],
    )
    .await
    else {
        return;
    };
    let (a, b) = (cluster.addrs()[0], cluster.addrs()[1]);
    // The oldest upload, created through B (each instance counts what it
    // created and what it listed at start-up), being written on A.
    let written = create(b, 5000).await;
    let mut writer = start_patch(a, &written, 0, 5000, &pattern(1000)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let idle = create(b, 5000).await;
    // B needs room: it evicts the idle upload, not the one A writes.
    let newest = create(b, 5000).await;
    assert!(
        has_info(&cluster.bucket, &written).await,
        "evicted from under its writer"
    );
    assert!(
        !has_info(&cluster.bucket, &idle).await,
        "nothing was evicted"
    );
    assert!(has_info(&cluster.bucket, &newest).await);
    // A's writer was never interrupted: it finishes its upload.
    writer.write_all(&pattern(5000)[1000..]).await.unwrap();
    let (status, head, _) = read_response(&mut writer).await;
    assert_eq!(status, 204, "{head}");
    assert_stored(b, &written, &pattern(5000)).await;
}

#[tokio::test]
async fn the_lease_flags_set_how_long_a_lock_lives_and_how_often_it_is_renewed() {
    let test = "the_lease_flags_set_how_long_a_lock_lives_and_how_often_it_is_renewed";
    if !common::redis::wanted(test) {
        return;
    }
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = common::tusd::command(dir.path());
    cmd.args(["--locker", "redis", "--redis-url", &redis.url()])
        .args(["--lock-lease", "30s", "--lock-renew-interval", "200ms"]);
    let t = launch(cmd);
    let url = create(t.addr, 100).await;
    let _held = start_patch(t.addr, &url, 0, 100, b"half").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let id = url.rsplit('/').next().unwrap();
    let out = std::process::Command::new("redis-cli")
        .args([
            "-p",
            &redis.port.to_string(),
            "pttl",
            &format!("tusd:lock:{id}"),
        ])
        .output()
        .unwrap();
    let ttl: i64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    // 30 s, renewed every 200 ms: never more than a renewal below it (the
    // default, a third of the lease, would have let it fall to 28.5 s).
    assert!((29_000..=30_000).contains(&ttl), "{ttl} ms left");
}
