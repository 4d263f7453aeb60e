//! Hooks, events and metrics through the library.

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use common::*;
use http::{Method, Request, StatusCode};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tower_tus::UploadHandler;
use tower_tus::events::EventKind;
use tower_tus::hooks::{
    Decision, HookError, HookEvent, HookName, HookResponse, Hooks, PostReceive, PreCreate,
};

/// Records every hook call as `name id offset`.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<String>>>);

impl Recorder {
    fn push(&self, event: &HookEvent) {
        self.0.lock().unwrap().push(format!(
            "{} {} {}",
            event.hook.as_str(),
            event.upload.id,
            event.upload.offset
        ));
    }
    fn calls(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
    fn names(&self) -> Vec<String> {
        self.calls()
            .iter()
            .map(|c| c.split(' ').next().unwrap().to_owned())
            .collect()
    }
}

/// Hooks scripted by the test.
#[derive(Clone, Default)]
struct Scripted {
    log: Recorder,
    reject_create: Option<HookResponse>,
    rename_to: Option<String>,
    fail_create: bool,
    stop_after: Option<u64>,
    finish_response: Option<HookResponse>,
    refuse_terminate: bool,
    owner_check: bool,
}

#[async_trait]
impl Hooks for Scripted {
    async fn pre_create(&self, event: &HookEvent) -> Result<PreCreate, HookError> {
        self.log.push(event);
        if self.fail_create {
            return Err(HookError::new("the policy service is down"));
        }
        if let Some(response) = &self.reject_create {
            return Ok(PreCreate::Reject(response.clone()));
        }
        let mut metadata = event.upload.metadata.clone();
        metadata.insert("checked", "yes");
        Ok(PreCreate::Allow {
            id: self.rename_to.clone(),
            metadata: Some(metadata),
        })
    }
    async fn post_create(&self, event: &HookEvent) -> Result<(), HookError> {
        self.log.push(event);
        Ok(())
    }
    async fn post_receive(&self, event: &HookEvent) -> Result<PostReceive, HookError> {
        self.log.push(event);
        match self.stop_after {
            Some(limit) if event.upload.offset >= limit => Ok(PostReceive::Stop(
                HookResponse::status(StatusCode::IM_A_TEAPOT).with_body("quota reached\n"),
            )),
            _ => Ok(PostReceive::Continue),
        }
    }
    async fn pre_finish(&self, event: &HookEvent) -> Result<HookResponse, HookError> {
        self.log.push(event);
        Ok(self.finish_response.clone().unwrap_or_default())
    }
    async fn post_finish(&self, event: &HookEvent) -> Result<(), HookError> {
        self.log.push(event);
        Ok(())
    }
    async fn pre_terminate(&self, event: &HookEvent) -> Result<Decision, HookError> {
        self.log.push(event);
        if self.refuse_terminate {
            return Ok(Decision::Reject(
                HookResponse::default().with_body("keep it\n"),
            ));
        }
        Ok(Decision::Allow)
    }
    async fn post_terminate(&self, event: &HookEvent) -> Result<(), HookError> {
        self.log.push(event);
        Ok(())
    }
    async fn pre_access(&self, event: &HookEvent) -> Result<Decision, HookError> {
        self.log.push(event);
        if self.owner_check {
            let owner = event.upload.metadata.get("owner");
            let user = event.request.headers.get("x-user").map(|v| v.as_bytes());
            if owner != user {
                return Ok(Decision::Reject(
                    HookResponse::status(StatusCode::NOT_FOUND).with_body("no such upload\n"),
                ));
            }
        }
        Ok(Decision::Allow)
    }
}

#[tokio::test]
async fn pre_create_rejects_with_the_hooks_status_headers_and_body() {
    let hooks = Scripted {
        reject_create: Some(
            HookResponse::status(StatusCode::PAYMENT_REQUIRED)
                .with_header("x-reason", "quota")
                .with_body("pay first\n"),
        ),
        ..Default::default()
    };
    let h = UploadHandler::new(memory_config().hooks(hooks));
    let r = call(
        &h,
        empty(tus(Method::POST, "/files/").header("upload-length", "5")),
    )
    .await;
    assert_eq!(r.status, StatusCode::PAYMENT_REQUIRED);
    assert_eq!(r.header("x-reason"), Some("quota"));
    assert_eq!(r.text(), "pay first\n");
    assert_eq!(r.header("tus-resumable"), Some("1.0.0"));
    assert_eq!(h.metrics().uploads_created(), 0, "nothing created");
}

#[tokio::test]
async fn pre_create_can_rename_the_upload_and_change_its_metadata() {
    let hooks = Scripted {
        rename_to: Some("chosen-by-hook".into()),
        ..Default::default()
    };
    let log = hooks.log.clone();
    let h = UploadHandler::new(memory_config().hooks(hooks));
    let r = call(
        &h,
        empty(
            tus(Method::POST, "/files/")
                .header("upload-length", "5")
                .header("upload-metadata", "filename YS50eHQ="),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.header("location"), Some("/files/chosen-by-hook"));
    let r = call(&h, empty(tus(Method::HEAD, "/files/chosen-by-hook"))).await;
    let md = tower_tus::metadata::parse(r.header("upload-metadata").unwrap()).unwrap();
    assert_eq!(md.get_str("checked"), Some("yes"));
    assert_eq!(md.get_str("filename"), Some("a.txt"));
    eventually(5, || async {
        log.names().contains(&"post-create".to_owned())
    })
    .await;
}

#[tokio::test]
async fn a_failing_or_misbehaving_hook_is_a_clear_500_and_creates_nothing() {
    let h = UploadHandler::new(memory_config().hooks(Scripted {
        fail_create: true,
        ..Default::default()
    }));
    let r = call(
        &h,
        empty(tus(Method::POST, "/files/").header("upload-length", "5")),
    )
    .await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        r.text()
            .contains("pre-create hook failed: the policy service is down"),
        "{}",
        r.text()
    );
    assert_eq!(h.metrics().uploads_created(), 0);

    let h = UploadHandler::new(memory_config().hooks(Scripted {
        rename_to: Some("../escape".into()),
        ..Default::default()
    }));
    let r = call(
        &h,
        empty(tus(Method::POST, "/files/").header("upload-length", "5")),
    )
    .await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(r.text().contains("invalid upload id"), "{}", r.text());
}

#[tokio::test]
async fn pre_finish_adds_to_the_response_that_completes_the_upload() {
    let hooks = Scripted {
        finish_response: Some(
            HookResponse::default()
                .with_header("x-processed", "later")
                .with_body("{\"ok\":true}"),
        ),
        ..Default::default()
    };
    let log = hooks.log.clone();
    let h = UploadHandler::new(memory_config().hooks(hooks));
    let url = create(&h, 6).await;
    let r = call(
        &h,
        data(
            tus(Method::PATCH, &url).header("upload-offset", "0"),
            b"abc",
        ),
    )
    .await;
    assert_eq!(r.header("x-processed"), None, "not complete yet");
    let r = call(
        &h,
        data(
            tus(Method::PATCH, &url).header("upload-offset", "3"),
            b"def",
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(r.header("x-processed"), Some("later"));
    assert_eq!(r.text(), "{\"ok\":true}");
    assert_eq!(r.header("upload-offset"), Some("6"));
    let id = url.rsplit('/').next().unwrap();
    eventually(5, || async {
        log.calls().contains(&format!("post-finish {id} 6"))
    })
    .await;
}

#[tokio::test]
async fn pre_terminate_can_refuse() {
    let hooks = Scripted {
        refuse_terminate: true,
        ..Default::default()
    };
    let log = hooks.log.clone();
    let h = UploadHandler::new(memory_config().hooks(hooks));
    let url = create(&h, 6).await;
    let r = call(&h, empty(tus(Method::DELETE, &url))).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.text(), "keep it\n");
    assert_eq!(offset(&h, &url).await, Some(0));
    assert!(!log.names().contains(&"post-terminate".to_owned()));

    let hooks = Scripted::default();
    let log = hooks.log.clone();
    let h = UploadHandler::new(memory_config().hooks(hooks));
    let url = create(&h, 6).await;
    assert_eq!(
        call(&h, empty(tus(Method::DELETE, &url))).await.status,
        StatusCode::NO_CONTENT
    );
    eventually(5, || async {
        log.names().contains(&"post-terminate".to_owned())
    })
    .await;
}

#[tokio::test]
async fn pre_access_guards_every_request_to_an_existing_upload() {
    let hooks = Scripted {
        owner_check: true,
        ..Default::default()
    };
    let h = UploadHandler::new(memory_config().hooks(hooks));
    // "owner alice"
    let r = call(
        &h,
        empty(
            tus(Method::POST, "/files/")
                .header("upload-length", "3")
                .header("upload-metadata", "owner YWxpY2U="),
        ),
    )
    .await;
    let url = r.header("location").unwrap().to_owned();
    let as_user = |b: http::request::Builder, user: &str| b.header("x-user", user.to_owned());

    let r = call(&h, empty(as_user(tus(Method::HEAD, &url), "bob"))).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = call(
        &h,
        data(
            as_user(tus(Method::PATCH, &url).header("upload-offset", "0"), "bob"),
            b"abc",
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(
        call(&h, empty(as_user(Request::get(&url), "bob")))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        call(&h, empty(as_user(tus(Method::DELETE, &url), "bob")))
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    let r = call(&h, empty(as_user(tus(Method::HEAD, &url), "alice"))).await;
    assert_eq!(r.header("upload-offset"), Some("0"), "bob wrote nothing");
    let r = call(
        &h,
        data(
            as_user(
                tus(Method::PATCH, &url).header("upload-offset", "0"),
                "alice",
            ),
            b"abc",
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        &call(&h, empty(as_user(Request::get(&url), "alice")))
            .await
            .body[..],
        b"abc"
    );
}

#[tokio::test]
async fn post_receive_stops_an_upload_mid_patch() {
    let hooks = Scripted {
        stop_after: Some(1),
        ..Default::default()
    };
    let config = memory_config()
        .hooks(hooks)
        .progress_interval(Duration::from_millis(50));
    let h = UploadHandler::new(config);
    let (addr, _server) = serve(h.clone()).await;
    let url = create(&h, 1000).await;

    let mut s = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "PATCH {url} HTTP/1.1\r\nHost: {addr}\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\nContent-Type: application/offset+octet-stream\r\nContent-Length: 1000\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&[1u8; 100]).await.unwrap();
    // The body stalls; the hook sees 100 bytes and stops the upload.
    let (status, _, body) = read_response(&mut s).await;
    assert_eq!(status, 418);
    assert_eq!(body, b"quota reached\n");
    assert_eq!(
        offset(&h, &url).await,
        None,
        "the stopped upload is terminated"
    );
    assert_eq!(h.metrics().uploads_terminated(), 1);
}

#[tokio::test]
async fn events_arrive_for_each_kind_that_was_asked_for() {
    let config = memory_config()
        .events([
            EventKind::Created,
            EventKind::Progress,
            EventKind::Completed,
            EventKind::Terminated,
            EventKind::Interrupted,
        ])
        .progress_interval(Duration::from_millis(20));
    let h = UploadHandler::new(config);
    let mut events = h.subscribe();
    let (addr, _server) = serve(h.clone()).await;

    let url = create(&h, 10).await;
    let mut req = data(
        tus(Method::PATCH, &url).header("upload-offset", "0"),
        b"0123456789",
    );
    req.extensions_mut()
        .insert("10.1.2.3:4567".parse::<SocketAddr>().unwrap());
    call(&h, req).await;
    call(&h, empty(tus(Method::DELETE, &url))).await;

    // A PATCH cut mid-body is an interruption.
    let url2 = create(&h, 100).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "PATCH {url2} HTTP/1.1\r\nHost: {addr}\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\nContent-Type: application/offset+octet-stream\r\nContent-Length: 100\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&[0u8; 10]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    drop(s);

    let mut seen = Vec::new();
    while seen.len() < 6 {
        let event = tokio::time::timeout(Duration::from_secs(5), events.recv())
            .await
            .expect("events arrive")
            .unwrap();
        seen.push((event.kind, event.info.offset, event.request.remote_addr));
    }
    assert_eq!(seen[0].0, EventKind::Created);
    assert_eq!(
        seen[1],
        (
            EventKind::Progress,
            10,
            Some("10.1.2.3:4567".parse().unwrap())
        )
    );
    assert_eq!(seen[2].0, EventKind::Completed);
    assert_eq!(seen[3].0, EventKind::Terminated);
    assert_eq!(seen[4].0, EventKind::Created);
    let rest: Vec<EventKind> = seen[5..].iter().map(|e| e.0).collect();
    assert!(
        rest.contains(&EventKind::Progress) || rest.contains(&EventKind::Interrupted),
        "{rest:?}"
    );
    loop {
        let event = tokio::time::timeout(Duration::from_secs(5), events.recv())
            .await
            .expect("interruption reported")
            .unwrap();
        if event.kind == EventKind::Interrupted {
            assert_eq!(event.info.id, url2.rsplit('/').next().unwrap());
            break;
        }
    }
}

#[tokio::test]
async fn events_are_opt_in_and_a_slow_subscriber_only_loses_events() {
    let h = UploadHandler::new(memory_config().events([EventKind::Completed]));
    let mut events = h.subscribe();
    for _ in 0..1100 {
        create(&h, 0).await;
    }
    // Created was not asked for; Completed was, 1,100 times, into a channel of 1,024.
    let mut received = 0;
    while let Ok(Some(event)) =
        tokio::time::timeout(Duration::from_millis(100), events.recv()).await
    {
        assert_eq!(event.kind, EventKind::Completed);
        received += 1;
    }
    assert_eq!(received, 1024);
    assert_eq!(h.metrics().events_dropped(), 76);
}

#[tokio::test]
async fn metrics_count_what_happened() {
    let h = UploadHandler::new(memory_config());
    let url = create(&h, 10).await;
    call(
        &h,
        data(
            tus(Method::PATCH, &url).header("upload-offset", "0"),
            b"01234",
        ),
    )
    .await;
    call(
        &h,
        data(tus(Method::PATCH, &url).header("upload-offset", "0"), b"xx"),
    )
    .await; // 409
    call(
        &h,
        data(
            tus(Method::PATCH, &url).header("upload-offset", "5"),
            b"56789",
        ),
    )
    .await;
    call(&h, empty(tus(Method::HEAD, "/files/missing"))).await; // 404
    call(&h, empty(tus(Method::DELETE, &url))).await;
    let m = h.metrics();
    assert_eq!(m.requests(&Method::POST), 1);
    assert_eq!(m.requests(&Method::PATCH), 3);
    assert_eq!(m.requests(&Method::HEAD), 1);
    assert_eq!(m.errors(409), 1);
    assert_eq!(m.errors(404), 1);
    assert_eq!(m.bytes_received(), 10);
    assert_eq!(
        (
            m.uploads_created(),
            m.uploads_finished(),
            m.uploads_terminated()
        ),
        (1, 1, 1)
    );
    let text = m.render_prometheus();
    for line in [
        "tusd_requests_total{method=\"PATCH\"} 3",
        "tusd_errors_total{status=\"409\",code=\"ERR_MISMATCHED_OFFSET\"} 1",
        "tusd_bytes_received 10",
        "tusd_uploads_created 1",
        "tusd_uploads_finished 1",
        "tusd_uploads_terminated 1",
        "# TYPE tusd_connections_open gauge",
    ] {
        assert!(text.contains(line), "{line} in\n{text}");
    }
}

#[tokio::test]
async fn a_stalled_patch_is_ended_after_the_network_timeout_keeping_its_bytes() {
    let h = UploadHandler::new(memory_config().network_timeout(Duration::from_millis(300)));
    let (addr, _server) = serve(h.clone()).await;
    let url = create(&h, 100).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "PATCH {url} HTTP/1.1\r\nHost: {addr}\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\nContent-Type: application/offset+octet-stream\r\nContent-Length: 100\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&[5u8; 30]).await.unwrap();
    let started = std::time::Instant::now();
    let (status, _, _) = read_response(&mut s).await;
    assert_eq!(status, 500, "5xx: clients retry and resume");
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "not before the timeout"
    );
    assert_eq!(offset(&h, &url).await, Some(30));
}

#[tokio::test]
async fn hooks_that_do_nothing_are_not_called() {
    #[derive(Clone, Default)]
    struct OnlyFinish(Recorder);
    #[async_trait]
    impl Hooks for OnlyFinish {
        fn enabled(&self, hook: HookName) -> bool {
            hook == HookName::PostFinish
        }
        async fn pre_access(&self, event: &HookEvent) -> Result<Decision, HookError> {
            self.0.push(event);
            Ok(Decision::Allow)
        }
        async fn post_finish(&self, event: &HookEvent) -> Result<(), HookError> {
            self.0.push(event);
            Ok(())
        }
    }
    let hooks = OnlyFinish::default();
    let log = hooks.0.clone();
    let h = UploadHandler::new(memory_config().hooks(hooks));
    let url = create(&h, 1).await;
    call(
        &h,
        data(tus(Method::PATCH, &url).header("upload-offset", "0"), b"x"),
    )
    .await;
    eventually(5, || async {
        log.names() == vec!["post-finish".to_owned()]
    })
    .await;
}
