//! The S3 benchmark's baseline: the same bytes sent straight to an S3
//! server as one multipart upload, with a given part size and concurrency,
//! through the AWS SDK alone.
//!
//! ```text
//! s3direct bucket ENDPOINT NAME                         creates a bucket (waits for the server)
//! s3direct multipart ENDPOINT BUCKET BYTES PART CONCURRENCY
//! ```
//! Credentials and region come from the environment.
//! `multipart` prints one `RESULT key=value ...` line.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_s3::Client;
use aws_sdk_s3::config::{RequestChecksumCalculation, ResponseChecksumValidation};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use tokio::sync::Semaphore;

type Error = Box<dyn std::error::Error + Send + Sync>;

async fn client(endpoint: &str) -> Client {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    let shared = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(http)
        .load()
        .await;
    let config = aws_sdk_s3::config::Builder::from(&shared)
        .endpoint_url(endpoint)
        .force_path_style(true)
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
        .build();
    Client::from_conf(config)
}

async fn bucket(endpoint: &str, name: &str) -> Result<(), Error> {
    let client = client(endpoint).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match client.create_bucket().bucket(name).send().await {
            Ok(_) => return Ok(()),
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// The load generator's bytes, 1 MiB repeated: each part is copied out of
/// it, as a server copies a body into a part.
fn block() -> Vec<u8> {
    (0..1024 * 1024).map(|i| (i * 31 % 251) as u8).collect()
}

fn part_bytes(block: &[u8], len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        let n = (len - out.len()).min(block.len());
        out.extend_from_slice(&block[..n]);
    }
    out
}

async fn multipart(
    endpoint: &str,
    bucket: &str,
    size: u64,
    part: u64,
    concurrency: usize,
) -> Result<(), Error> {
    let client = client(endpoint).await;
    let key = format!("direct-{}", std::process::id());
    let block = block();
    let start = Instant::now();
    let created = client
        .create_multipart_upload()
        .bucket(bucket)
        .key(&key)
        .send()
        .await?;
    let upload_id = created.upload_id().ok_or("no upload id")?.to_owned();
    let slots = Arc::new(Semaphore::new(concurrency));
    let mut tasks = tokio::task::JoinSet::new();
    let mut number = 0;
    let mut at = 0;
    while at < size {
        let len = part.min(size - at);
        number += 1;
        // Made as the upload goes, as a server receiving a body would.
        let slot = slots.clone().acquire_owned().await?;
        let bytes = part_bytes(&block, len as usize);
        let (client, bucket, key, upload_id) = (
            client.clone(),
            bucket.to_owned(),
            key.clone(),
            upload_id.clone(),
        );
        tasks.spawn(async move {
            let done = client
                .upload_part()
                .bucket(bucket)
                .key(key)
                .upload_id(upload_id)
                .part_number(number)
                .content_length(len as i64)
                .body(ByteStream::from(bytes))
                .send()
                .await;
            drop(slot);
            done.map(|d| (number, d.e_tag().unwrap_or_default().to_owned()))
        });
        at += len;
    }
    let mut parts = Vec::new();
    while let Some(done) = tasks.join_next().await {
        let (number, etag) = done??;
        parts.push(
            CompletedPart::builder()
                .part_number(number)
                .e_tag(etag)
                .build(),
        );
    }
    parts.sort_by_key(|p| p.part_number());
    client
        .complete_multipart_upload()
        .bucket(bucket)
        .key(&key)
        .upload_id(&upload_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await?;
    let secs = start.elapsed().as_secs_f64();
    client
        .delete_object()
        .bucket(bucket)
        .key(&key)
        .send()
        .await?;
    println!(
        "RESULT mode=multipart bytes={size} secs={secs:.3} mib_per_s={:.1}",
        size as f64 / secs / 1048576.0
    );
    Ok(())
}

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| {
        args.get(i)
            .map(String::as_str)
            .ok_or_else(|| Error::from("missing argument; see the file's docs"))
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match arg(0)? {
        "bucket" => rt.block_on(bucket(arg(1)?, arg(2)?)),
        "multipart" => rt.block_on(multipart(
            arg(1)?,
            arg(2)?,
            arg(3)?.parse()?,
            arg(4)?.parse()?,
            arg(5)?.parse()?,
        )),
        other => Err(format!("unknown mode {other}").into()),
    }
}
