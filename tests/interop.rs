//! Real tus clients against the `tusd` binary on 127.0.0.1: tus-js-client
//! and tuspy, pinned in `interop/` and installed by `interop/install.sh`.
//! Each scenario uploads a file of 8 MiB and a bit, downloads it back, and
//! the test compares the bytes in the upload folder with the file.
#![cfg(feature = "cli")]

mod common;

use std::path::Path;
use std::process::Command;

use common::tools;

fn file_of(dir: &Path) -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let data: Vec<u8> = (0..(8 << 20) + 12_345)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    std::fs::write(dir.join("file.bin"), &data).unwrap();
    data
}

/// Runs `client` over a fresh `tusd` and checks what reached the disk.
async fn run(client: &str, scenario: &str) {
    let work = tempfile::tempdir().unwrap();
    let data = file_of(work.path());
    let uploads = work.path().join("uploads");
    let tusd = common::tusd::start(&uploads, &[]).await;
    let endpoint = format!("http://{}/files/", tusd.addr);
    let interop = tools::interop_dir();
    let mut cmd = match client {
        "tus-js-client" => {
            let mut cmd = Command::new("node");
            cmd.arg(interop.join("tus-js-client.mjs"));
            cmd
        }
        _ => {
            let mut cmd = Command::new(interop.join(".venv/bin/python"));
            cmd.arg(interop.join("tuspy-client.py"));
            cmd
        }
    };
    let out = cmd
        .arg(scenario)
        .arg(&endpoint)
        .arg(work.path().join("file.bin"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains(&format!("OK {scenario}")),
        "{client} {scenario} failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let url = stdout
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("UPLOAD_URL "))
        .unwrap();
    let id = url.rsplit('/').next().unwrap();
    assert!(
        std::fs::read(uploads.join(id)).unwrap() == data,
        "the bytes on disk are the file's"
    );
}

macro_rules! scenarios {
    ($client:literal, $clients:ident, $needs:literal: $($test:ident => $scenario:literal),* $(,)?) => {
        $(#[tokio::test]
        async fn $test() {
            if !tools::wanted(stringify!($test), $needs) {
                return;
            }
            tools::install(tools::Clients::$clients);
            run($client, $scenario).await;
        })*
    };
}

scenarios!("tus-js-client", Node, "Node.js and tus-js-client":
    tus_js_client_uploads_a_file_in_one_patch => "whole",
    tus_js_client_cut_mid_body_resumes_from_every_byte_that_arrived => "cut-resume",
    tus_js_client_creates_with_upload => "with-upload",
    tus_js_client_uploads_in_parallel_and_concatenates => "parallel",
    tus_js_client_uploads_with_a_deferred_length => "deferred",
);

scenarios!("tuspy", Python, "Python and tuspy":
    tuspy_uploads_in_chunks => "chunked",
    tuspy_stopped_part_way_resumes_by_url => "stop-resume",
    tuspy_sends_a_checksum_with_every_chunk => "checksum",
);
