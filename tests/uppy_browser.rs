//! Uppy's Dashboard and Tus plugin in headless Chromium (Debian's, driven
//! by playwright-core) against `examples/uppy.rs`: several files, paused
//! and resumed, the network cut mid-upload and back; the bytes on the
//! server are the files'.

#[path = "../examples/uppy.rs"]
#[allow(dead_code)]
mod example;

mod common;

use std::collections::HashMap;

use common::tools;
use tower_tus::events::EventKind;
use tower_tus::store::FileStore;
use tower_tus::{Config, StoreComposer, UploadHandler};

fn file(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

#[tokio::test]
async fn uppy_uploads_several_files_paused_cut_and_resumed() {
    if !tools::wanted(
        "uppy_uploads_several_files_paused_cut_and_resumed",
        "Node.js, playwright-core, Uppy and Chromium",
    ) {
        return;
    }
    tools::install(tools::Clients::Node);
    tools::require("chromium");
    let work = tempfile::tempdir().unwrap();
    let uploads = work.path().join("uploads");
    let mut composer = StoreComposer::new();
    FileStore::new(&uploads).use_in(&mut composer);
    let handler = UploadHandler::new(
        Config::new(composer).events([EventKind::Interrupted, EventKind::Completed]),
    );
    let mut events = handler.subscribe();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = example::app(handler, example::uppy_dist());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let mut wanted = HashMap::new();
    let mut paths = Vec::new();
    for (i, len) in [(1, 3 << 20), (2, (2 << 20) + 4321), (3, 1_500_000)] {
        let name = format!("file-{i}.bin");
        let path = work.path().join(&name);
        let bytes = file(i, len);
        std::fs::write(&path, &bytes).unwrap();
        wanted.insert(name, bytes);
        paths.push(path);
    }
    let out = tokio::process::Command::new("node")
        .arg(tools::interop_dir().join("uppy-browser.mjs"))
        .arg(format!("http://{addr}/"))
        .args(&paths)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("{stdout}");
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result = stdout
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .expect("the driver's result");
    let result: serde_json::Value = serde_json::from_str(result).unwrap();
    let successful = result["successful"].as_array().unwrap();
    assert_eq!(successful.len(), 3, "{result}");
    assert!(
        result["retries"].as_u64().unwrap() >= 1,
        "the cut failed requests that Uppy retried: {result}"
    );
    for upload in successful {
        let name = upload["name"].as_str().unwrap();
        let url = upload["url"].as_str().unwrap();
        let id = url.rsplit('/').next().unwrap();
        assert!(
            std::fs::read(uploads.join(id)).unwrap() == wanted[name],
            "{name}: the bytes on the server are the file's"
        );
    }
    // Pausing and the cut ended PATCHes midway, and every upload completed.
    let (mut interrupted, mut completed) = (0, 0);
    while let Ok(Some(event)) =
        tokio::time::timeout(std::time::Duration::from_millis(200), events.recv()).await
    {
        match event.kind {
            EventKind::Interrupted => interrupted += 1,
            EventKind::Completed => completed += 1,
            _ => {}
        }
    }
    assert_eq!(completed, 3);
    assert!(interrupted >= 1, "no PATCH was cut midway:\n{stdout}");
}
