//! [`S3Store`]: uploads in any S3-compatible object store, in tusd's layout.

mod budget;
mod buffer;
mod errors;
mod layout;
mod numbering;
mod parts;
mod upload;
mod writer;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::{RequestChecksumCalculation, ResponseChecksumValidation};

use self::budget::Budget;
use self::errors::store_error;
use self::layout::{Layout, split_id};
use self::parts::PartSizes;
use self::upload::S3Upload;
use self::writer::Concurrency;
use super::{DataStore, Extension, Extensions, Upload};
use crate::composer::StoreComposer;
use crate::error::StoreError;
use crate::info::FileInfo;

/// Uploads in an S3 bucket (AWS, or any S3-compatible store: MinIO,
/// SeaweedFS, Cloudflare R2, …), laid out as tusd's s3store lays them out,
/// so a bucket written by tusd is served and the other way round:
///
/// - `<prefix><object>.info`: the upload's state, as tusd's JSON;
/// - a multipart upload on `<prefix><object>`, completed when the upload
///   finishes;
/// - `<prefix><object>.part`: the bytes past the last whole part;
/// - the tus id is `<object>+<multipart upload id>`.
///
/// Part sizes are planned when an upload is created, from its length
/// alone (see [`preferred_part_size`](Self::preferred_part_size)), so where
/// a client cuts its PATCHes never changes the parts. Parts are uploaded
/// while the body arrives, several at once; part buffers share one memory
/// budget and go to files past it
/// ([`memory_budget`](Self::memory_budget)). An interrupted PATCH keeps
/// every byte that arrived: whole parts as parts, the rest in the `.part`
/// object. Downloads need the upload finished.
///
/// ```no_run
/// use tower_tus::{StoreComposer, store::S3Store};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// // Credentials and region from the standard AWS chain.
/// let store = S3Store::from_env("my-bucket").await.object_prefix("uploads/");
/// store.check().await.expect("the bucket can be reached");
/// let mut composer = StoreComposer::new();
/// store.use_in(&mut composer);
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct S3Store {
    client: Client,
    bucket: String,
    layout: Layout,
    parts: PartSizes,
    budget: Budget,
    concurrency: Concurrency,
    /// Payloads sent without a hash in their signature.
    unsigned: bool,
    /// Downloads answered with a redirect to a presigned URL valid this long.
    presigned: Option<std::time::Duration>,
}

/// The default [`S3Store::memory_budget`].
const MEMORY_BUDGET: u64 = 128 << 20;

impl S3Store {
    /// A store over `bucket`, through `client`.
    ///
    /// For S3-compatible servers, configure the client with checksums
    /// `WhenRequired` (`request_checksum_calculation`): many cannot read
    /// the SDK's default streaming checksums. [`from_env`](Self::from_env)
    /// does.
    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        S3Store {
            client,
            bucket: bucket.into(),
            layout: Layout::default(),
            parts: PartSizes {
                min: 5 << 20,
                preferred: 5 << 20,
                equal: false,
            },
            budget: Budget::new(MEMORY_BUDGET),
            concurrency: Concurrency {
                uploads: 10,
                held: 20,
            },
            unsigned: false,
            presigned: None,
        }
    }

    /// A store over `bucket` with a client configured from the environment
    /// the way AWS's tools read it (`AWS_REGION`, credentials from the
    /// environment, profile, web identity or instance metadata,
    /// `AWS_ENDPOINT_URL`), speaking TLS with rustls.
    pub async fn from_env(bucket: impl Into<String>) -> Self {
        Self::from_env_with(bucket, |config| config).await
    }

    /// [`from_env`](Self::from_env), with the S3 client's configuration
    /// changed by `configure` (an endpoint, path-style addressing, …).
    ///
    /// ```no_run
    /// use tower_tus::store::S3Store;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let store = S3Store::from_env_with("my-bucket", |config| {
    ///     config
    ///         .endpoint_url("http://127.0.0.1:9000")
    ///         .force_path_style(true)
    /// })
    /// .await;
    /// # let _ = store;
    /// # }
    /// ```
    pub async fn from_env_with(
        bucket: impl Into<String>,
        configure: impl FnOnce(aws_sdk_s3::config::Builder) -> aws_sdk_s3::config::Builder,
    ) -> Self {
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        let shared = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .http_client(http)
            .load()
            .await;
        let path_style = std::env::var("S3_FORCE_PATH_STYLE").is_ok_and(|v| v == "true");
        let config = aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(path_style)
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
        let config = configure(config).build();
        S3Store::new(Client::from_conf(config), bucket)
    }

    /// Keys of every object start with `prefix` (tusd's `-s3-object-prefix`).
    #[must_use]
    pub fn object_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.layout.object_prefix = prefix.into();
        self
    }

    /// `.info` and `.part` objects live under `prefix` instead (tusd's
    /// `-s3-metadata-object-prefix`).
    #[must_use]
    pub fn metadata_object_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.layout.metadata_prefix = Some(prefix.into());
        self
    }

    /// The smallest part the backend accepts but for the last one
    /// (default 5 MiB, as AWS; some S3-compatibles differ).
    #[must_use]
    pub fn min_part_size(mut self, bytes: u64) -> Self {
        self.parts.min = bytes.max(1);
        self
    }

    /// The part size aimed for (default 5 MiB, the minimum). Uploads of
    /// known length get parts of this size, grown for lengths that would
    /// need more than 10,000 parts; uploads of deferred length start with
    /// it and double it with each thousand parts, so they can grow to
    /// terabytes. A PATCH that ends within a part leaves the rest in the
    /// `.part` object, which the next PATCH reads back and writes again:
    /// the smaller the parts, the less of that for clients that send
    /// small chunks.
    ///
    /// ```
    /// use tower_tus::store::S3Store;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # let client = aws_sdk_s3::Client::from_conf(
    /// #     aws_sdk_s3::Config::builder().behavior_version_latest().build());
    /// let store = S3Store::new(client, "my-bucket")
    ///     .preferred_part_size(50 << 20)
    ///     .equal_part_sizes(true);
    /// # let _ = store;
    /// # }
    /// ```
    #[must_use]
    pub fn preferred_part_size(mut self, bytes: u64) -> Self {
        self.parts.preferred = bytes;
        self
    }

    /// Every part but the last the same size, also for uploads of deferred
    /// length (which then hold at most 10,000 preferred parts): what
    /// Cloudflare R2 requires. Default `false`.
    #[must_use]
    pub fn equal_part_sizes(mut self, equal: bool) -> Self {
        self.parts.equal = equal;
        self
    }

    /// Bytes of part buffers held in memory at once, by every upload of this
    /// store and its clones together (default 128 MiB). A part that does not
    /// fit is buffered in a file in [`spill_dir`](Self::spill_dir) instead.
    #[must_use]
    pub fn memory_budget(mut self, bytes: u64) -> Self {
        let dir = self.budget.spill_dir();
        self.budget = Budget::new(bytes).spill_to(dir);
        self
    }

    /// Where parts past the memory budget are buffered (default: the
    /// system's temporary folder). Each file lives as long as its part's
    /// upload to S3.
    #[must_use]
    pub fn spill_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.budget = self.budget.spill_to(dir.into());
        self
    }

    /// Part uploads in flight at once per PATCH (default 10, as tusd's
    /// `-s3-concurrent-part-uploads`).
    #[must_use]
    pub fn concurrent_part_uploads(mut self, uploads: usize) -> Self {
        self.concurrency.uploads = uploads.max(1);
        self
    }

    /// Parts one PATCH may hold, cut and not yet uploaded, before its body
    /// waits (default 20, as tusd's `-s3-max-buffered-parts`; never fewer
    /// than the concurrent part uploads).
    #[must_use]
    pub fn max_buffered_parts(mut self, parts: usize) -> Self {
        self.concurrency.held = parts.max(1);
        self
    }

    /// Sends part and tail payloads without a SHA-256 hash in their
    /// signature, sparing the CPU (tusd's `-s3-disable-content-hashes`).
    /// Over plain HTTP this leaves the payload unprotected.
    #[must_use]
    pub fn disable_content_hashes(mut self, disable: bool) -> Self {
        self.unsigned = disable;
        self
    }

    /// Downloads of finished uploads answered with a redirect (307) to a
    /// presigned GET URL of the object, valid for `valid_for` (at most 7
    /// days), so the bytes go from S3 to the client straight; the client
    /// sends its `Range` there. Default: the bytes are streamed through.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_tus::store::S3Store;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # let client = aws_sdk_s3::Client::from_conf(
    /// #     aws_sdk_s3::Config::builder().behavior_version_latest().build());
    /// let store = S3Store::new(client, "my-bucket").presigned_downloads(Duration::from_secs(900));
    /// # let _ = store;
    /// # }
    /// ```
    #[must_use]
    pub fn presigned_downloads(mut self, valid_for: std::time::Duration) -> Self {
        self.presigned = Some(valid_for);
        self
    }

    /// Bytes of part buffers in memory now, of the [memory
    /// budget](Self::memory_budget).
    pub fn buffered_bytes(&self) -> u64 {
        self.budget.in_use()
    }

    /// The bucket.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// Registers this store with `composer`.
    pub fn use_in(&self, composer: &mut StoreComposer) {
        composer.use_core(self.clone());
    }

    /// Checks that the bucket can be reached with the credentials given: a
    /// clear error at start-up rather than at the first upload. The error
    /// names the URL the client resolved for the bucket (an endpoint,
    /// path-style addressing or transfer acceleration put it elsewhere).
    pub async fn check(&self) -> Result<(), StoreError> {
        let sent_to = Arc::new(Mutex::new(None::<String>));
        let seen = Arc::clone(&sent_to);
        let answer = self
            .client
            .head_bucket()
            .bucket(&self.bucket)
            .customize()
            .mutate_request(move |request| {
                *seen.lock().unwrap_or_else(|e| e.into_inner()) = Some(request.uri().to_owned());
            })
            .send()
            .await;
        let Err(err) = answer else { return Ok(()) };
        let url = sent_to.lock().unwrap_or_else(|e| e.into_inner()).take();
        let what = match &url {
            Some(url) => format!("head bucket at {url}"),
            None => "head bucket".to_owned(),
        };
        Err(match store_error(&what, err) {
            StoreError::NotFound => {
                StoreError::Other(format!("bucket {} does not exist", self.bucket).into())
            }
            other => other,
        })
    }
}

/// Object metadata as tusd copies it: printable ASCII only.
fn object_metadata(info: &FileInfo) -> HashMap<String, String> {
    info.metadata
        .iter()
        .filter_map(|(key, value)| {
            let value = String::from_utf8_lossy(value)
                .chars()
                .map(|c| {
                    if c.is_ascii() && !c.is_ascii_control() {
                        c
                    } else {
                        '?'
                    }
                })
                .collect::<String>();
            key.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                .then(|| (key.to_owned(), value))
        })
        .collect()
}

#[async_trait]
impl DataStore for S3Store {
    async fn new_upload(&self, mut info: FileInfo) -> Result<Box<dyn Upload>, StoreError> {
        let object_id = info.id.clone();
        // `+` separates the object from the multipart upload in the tus id.
        if object_id.contains('+') {
            return Err(StoreError::Conflict(format!(
                "{object_id}: an S3 upload's id cannot contain `+`"
            )));
        }
        let plan = self.parts.plan(info.size)?;
        let key = self.layout.object(&object_id);
        let mut create = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(&key)
            .set_metadata(Some(object_metadata(&info)));
        if let Some(filetype) = info.metadata.get_str("filetype") {
            create = create.content_type(filetype);
        }
        let created = create
            .send()
            .await
            .map_err(|e| store_error("create multipart upload", e))?;
        let multipart_id = created
            .upload_id()
            .ok_or_else(|| StoreError::Other("S3 gave no multipart upload id".into()))?
            .to_owned();
        info.id = format!("{object_id}+{multipart_id}");
        info.offset = 0;
        info.finished = false;
        let now = std::time::SystemTime::now();
        info.created_at.get_or_insert(now);
        info.updated_at = Some(now);
        info.storage = [
            ("Type", "s3store"),
            ("Bucket", self.bucket.as_str()),
            ("Key", key.as_str()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        plan.record(&mut info.storage);
        let mut upload = S3Upload::created(self.clone(), info, object_id, multipart_id.clone());
        if let Err(e) = upload.put_new_info().await {
            // Nothing refers to the multipart upload: leave none behind.
            let _ = self
                .client
                .abort_multipart_upload()
                .bucket(&self.bucket)
                .key(&key)
                .upload_id(&multipart_id)
                .send()
                .await;
            return Err(e);
        }
        Ok(Box::new(upload))
    }

    async fn get_upload(&self, id: &str) -> Result<Box<dyn Upload>, StoreError> {
        let (object_id, multipart_id) = split_id(id).ok_or(StoreError::NotFound)?;
        let upload = S3Upload::load(self.clone(), object_id, multipart_id).await?;
        Ok(Box::new(upload))
    }

    fn extensions(&self) -> Extensions {
        Extensions::from([
            Extension::Termination,
            Extension::Concatenation,
            Extension::LengthDeferral,
            Extension::FinishedContent,
            Extension::Listing,
            Extension::VerifiedWrites,
        ])
    }

    async fn check_concatenation(&self, partials: &[FileInfo]) -> Result<(), StoreError> {
        let Some((_, joined)) = partials.split_last() else {
            return Ok(());
        };
        let sizes: Vec<u64> = partials.iter().map(|p| p.size.unwrap_or(0)).collect();
        let total = sizes.iter().fold(0u64, |a, b| a.saturating_add(*b));
        if total > parts::MAX_OBJECT_SIZE
            || parts::copy_pieces(&sizes).len() as u64 > parts::MAX_PARTS
        {
            return Err(StoreError::Conflict(format!(
                "the final upload would have {total} bytes in more parts than S3 joins \
                 (10,000 parts, 5 TiB)"
            )));
        }
        for partial in joined {
            let size = partial.size.unwrap_or(0);
            if size < self.parts.min {
                return Err(StoreError::Conflict(format!(
                    "partial upload {} has {size} bytes: in S3 every partial upload but the last \
                     needs at least {} bytes (the minimum part size)",
                    partial.id, self.parts.min
                )));
            }
        }
        Ok(())
    }

    async fn list_uploads(&self) -> Result<Vec<String>, StoreError> {
        let prefix = self
            .layout
            .metadata_prefix
            .clone()
            .unwrap_or_else(|| self.layout.object_prefix.clone());
        let mut ids = Vec::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        let mut infos = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| store_error("list objects", e))?;
            for object in page.contents() {
                if let Some(object_id) = object.key().and_then(|k| self.layout.object_of_info(k)) {
                    infos.push(object_id.to_owned());
                }
            }
        }
        // The tus id needs the multipart upload id, kept in each `.info`.
        for object_id in infos {
            if let Ok(info) = upload::read_info(self, &object_id).await {
                ids.push(info.id);
            }
        }
        ids.sort();
        Ok(ids)
    }
}
