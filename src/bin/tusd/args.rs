use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, CommandFactory, FromArgMatches, Parser};

use crate::go_flags;

/// A tus 1.0.0 resumable-upload server over a folder.
///
/// Flags are accepted as tusd (Go) accepts them: `-flag` or `--flag`,
/// `-flag=value` or `-flag value`, bools as `-flag`, `-flag=false` or
/// `-flag false`. Every duration is a Go duration (`90s`, `1m30s`, `500ms`)
/// or a number of seconds.
#[derive(Parser, Debug)]
#[command(name = "tusd", version, about, long_about = None, args_override_self = true)]
pub struct Args {
    /// Listen on this Unix socket instead of a TCP port.
    #[arg(long, env = "TUSD_UNIX_SOCK", help_heading = "Listening")]
    pub unix_sock: Option<PathBuf>,
    /// PEM certificate chain: serve HTTPS (with --tls-key).
    #[arg(
        long,
        env = "TUSD_TLS_CERTIFICATE",
        requires = "tls_key",
        help_heading = "Listening"
    )]
    pub tls_certificate: Option<PathBuf>,
    /// PEM private key for --tls-certificate.
    #[arg(
        long,
        env = "TUSD_TLS_KEY",
        requires = "tls_certificate",
        help_heading = "Listening"
    )]
    pub tls_key: Option<PathBuf>,
    /// Address to listen on.
    #[arg(
        long,
        env = "TUSD_HOST",
        default_value = "0.0.0.0",
        help_heading = "Listening"
    )]
    pub host: String,
    /// Port to listen on.
    #[arg(
        long,
        env = "TUSD_PORT",
        default_value_t = 8080,
        help_heading = "Listening"
    )]
    pub port: u16,
    /// Connections served at once; more wait in the listen backlog (0: a quarter of the open files limit).
    #[arg(
        long,
        env = "TUSD_MAX_CONNECTIONS",
        default_value_t = 0,
        help_heading = "Listening"
    )]
    pub max_connections: usize,
    /// Path under which uploads are served.
    #[arg(
        long,
        env = "TUSD_BASE_PATH",
        default_value = "/files/",
        help_heading = "Listening"
    )]
    pub base_path: String,
    /// Trust Forwarded, X-Forwarded-Host and X-Forwarded-Proto for absolute upload URLs.
    #[arg(long, env = "TUSD_BEHIND_PROXY", help_heading = "Listening", default_value = "false", num_args = 0..=1, default_missing_value = "true", value_parser = go_flags::boolean, action = ArgAction::Set)]
    pub behind_proxy: bool,
    /// Accepted for tusd's command lines: cleartext HTTP/2 (h2c) is always served next to HTTP/1.1.
    #[arg(long, env = "TUSD_ENABLE_H2C", help_heading = "Listening", default_value = "false", num_args = 0..=1, default_missing_value = "true", value_parser = go_flags::boolean, action = ArgAction::Set)]
    pub enable_h2c: bool,
    /// TLS versions to offer: tls13 (1.3 only), tls12 (1.2 and 1.3) or tls12-strong (the same: every TLS 1.2 suite offered is an ECDHE AEAD suite).
    #[arg(long, env = "TUSD_TLS_MODE", value_enum, default_value_t = TlsMode::Tls12, help_heading = "Listening")]
    pub tls_mode: TlsMode,

    /// Folder holding the uploads (created when missing).
    #[arg(
        long,
        env = "TUSD_UPLOAD_DIR",
        default_value = "./data",
        help_heading = "Storage"
    )]
    pub upload_dir: PathBuf,
    /// Keep uploads in this S3 bucket instead of --upload-dir (credentials and region from the AWS environment; needs a tusd built with the `s3` feature).
    #[arg(long, env = "TUSD_S3_BUCKET", help_heading = "S3")]
    pub s3_bucket: Option<String>,
    /// S3-compatible endpoint (MinIO, SeaweedFS, R2, …), with or without a scheme.
    #[arg(long, env = "TUSD_S3_ENDPOINT", help_heading = "S3")]
    pub s3_endpoint: Option<String>,
    /// Prefix of every object's key.
    #[arg(
        long,
        env = "TUSD_S3_OBJECT_PREFIX",
        default_value = "",
        help_heading = "S3"
    )]
    pub s3_object_prefix: String,
    /// Prefix of the .info and .part objects' keys, apart from the data.
    #[arg(long, env = "TUSD_S3_METADATA_OBJECT_PREFIX", help_heading = "S3")]
    pub s3_metadata_object_prefix: Option<String>,
    /// Part size aimed for, in bytes (grown for uploads that would need more than 10,000 parts). A PATCH ending within a part leaves the rest in the .part object, which the next PATCH reads back and writes again: smaller parts cost less for clients that send small chunks.
    #[arg(long, env = "TUSD_S3_PART_SIZE", default_value_t = 5 << 20, help_heading = "S3")]
    pub s3_part_size: u64,
    /// Every part but the last the same size, also for uploads of deferred length (Cloudflare R2 requires it).
    #[arg(long, env = "TUSD_S3_EQUAL_PART_SIZES", help_heading = "S3", default_value = "false", num_args = 0..=1, default_missing_value = "true", value_parser = go_flags::boolean, action = ArgAction::Set)]
    pub s3_equal_part_sizes: bool,
    /// Part uploads in flight at once per PATCH.
    #[arg(
        long,
        env = "TUSD_S3_CONCURRENT_PART_UPLOADS",
        default_value_t = 10,
        help_heading = "S3"
    )]
    pub s3_concurrent_part_uploads: usize,
    /// Parts one PATCH may hold, cut and not yet uploaded, before its body waits.
    #[arg(
        long,
        env = "TUSD_S3_MAX_BUFFERED_PARTS",
        default_value_t = 20,
        help_heading = "S3"
    )]
    pub s3_max_buffered_parts: usize,
    /// Bytes of part buffers held in memory by all uploads together; parts past it are buffered in files in --s3-spill-dir.
    #[arg(long, env = "TUSD_S3_MEMORY_BUDGET", default_value_t = 128 << 20, help_heading = "S3")]
    pub s3_memory_budget: u64,
    /// Where parts past --s3-memory-budget are buffered (default: the system's temporary folder).
    #[arg(long, env = "TUSD_S3_SPILL_DIR", help_heading = "S3")]
    pub s3_spill_dir: Option<PathBuf>,
    /// Answer downloads with a redirect to a presigned URL of the object, valid this long (0: stream the bytes through).
    #[arg(
        long,
        env = "TUSD_S3_PRESIGNED_DOWNLOADS",
        default_value = "0",
        value_parser = go_flags::duration,
        help_heading = "S3"
    )]
    pub s3_presigned_downloads: Duration,
    /// Send part payloads without a SHA-256 hash in their signature, sparing the CPU.
    #[arg(long, env = "TUSD_S3_DISABLE_CONTENT_HASHES", help_heading = "S3", default_value = "false", num_args = 0..=1, default_missing_value = "true", value_parser = go_flags::boolean, action = ArgAction::Set)]
    pub s3_disable_content_hashes: bool,
    /// Smallest part the backend accepts but for the last, in bytes.
    #[arg(long, env = "TUSD_S3_MIN_PART_SIZE", default_value_t = 5 << 20, help_heading = "S3")]
    pub s3_min_part_size: u64,
    /// Speak plain HTTP to an --s3-endpoint given without a scheme.
    #[arg(long, env = "TUSD_S3_DISABLE_SSL", help_heading = "S3", default_value = "false", num_args = 0..=1, default_missing_value = "true", value_parser = go_flags::boolean, action = ArgAction::Set)]
    pub s3_disable_ssl: bool,
    /// Use the bucket's transfer acceleration endpoint (AWS).
    #[arg(long, env = "TUSD_S3_TRANSFER_ACCELERATION", help_heading = "S3", default_value = "false", num_args = 0..=1, default_missing_value = "true", value_parser = go_flags::boolean, action = ArgAction::Set)]
    pub s3_transfer_acceleration: bool,
    /// Address the bucket in the path (`host/bucket/key`), as most S3-compatibles want; also S3_FORCE_PATH_STYLE=true.
    #[arg(long, env = "S3_FORCE_PATH_STYLE", help_heading = "S3", default_value = "false", num_args = 0..=1, default_missing_value = "true", value_parser = go_flags::boolean, action = ArgAction::Set)]
    pub s3_path_style: bool,

    /// Largest upload accepted, in bytes (0: no limit).
    #[arg(
        long,
        env = "TUSD_MAX_SIZE",
        default_value_t = 0,
        help_heading = "Storage"
    )]
    pub max_size: u64,

    /// Longest Upload-Metadata accepted, in bytes; a longer one gets 400.
    #[arg(
        long,
        env = "TUSD_MAX_METADATA_SIZE",
        default_value_t = 64 << 10,
        help_heading = "Storage"
    )]
    pub max_metadata_size: usize,

    /// Most partial uploads one final upload may name; more get 400.
    #[arg(
        long,
        env = "TUSD_MAX_PARTIAL_UPLOADS",
        default_value_t = 100,
        help_heading = "Storage"
    )]
    pub max_partial_uploads: usize,

    /// Largest final upload accepted, in bytes (0: only --max-size limits it).
    #[arg(
        long,
        env = "TUSD_MAX_FINAL_SIZE",
        default_value_t = 0,
        help_heading = "Storage"
    )]
    pub max_final_size: u64,

    /// How long the POST of a final upload waits for its concatenation; a longer one goes on in the background.
    #[arg(
        long,
        env = "TUSD_CONCATENATION_WAIT",
        default_value = "5s",
        value_parser = go_flags::duration,
        help_heading = "Storage"
    )]
    pub concatenation_wait: Duration,

    /// Keep all uploads together under this many bytes (0: no limit).
    #[arg(
        long,
        env = "TUSD_MAX_STORE_SIZE",
        default_value_t = 0,
        help_heading = "Storage"
    )]
    pub max_store_size: u64,
    /// When a new upload does not fit under --max-store-size: evict the oldest uploads, or refuse with 507.
    #[arg(long, env = "TUSD_MAX_STORE_POLICY", value_enum, default_value_t = StorePolicy::Evict, help_heading = "Storage")]
    pub max_store_policy: StorePolicy,
    /// When upload data is synced to disk: before each PATCH is answered, when the upload finishes, or never (tusd's behaviour).
    #[arg(long, env = "TUSD_DATA_SYNC", value_enum, default_value_t = DataSync::EachWrite, help_heading = "Storage")]
    pub data_sync: DataSync,
    /// How often a lock holder looks for a release request from another process.
    #[arg(
        long,
        env = "TUSD_FILELOCK_HOLDER_POLL_INTERVAL",
        default_value = "100ms",
        value_parser = go_flags::duration,
        help_heading = "Storage"
    )]
    pub filelock_holder_poll_interval: Duration,
    /// How often a request waiting for a lock held by another process looks again.
    #[arg(
        long,
        env = "TUSD_FILELOCK_ACQUIRER_POLL_INTERVAL",
        default_value = "50ms",
        value_parser = go_flags::duration,
        help_heading = "Storage"
    )]
    pub filelock_acquirer_poll_interval: Duration,

    /// Where upload locks are kept: memory (one process), file (lock files in the upload folder, shared by the processes of one machine), redis (--redis-url) or etcd (--etcd-endpoints), shared by any number of machines. Default: file for the folder, memory for S3.
    #[arg(long, env = "TUSD_LOCKER", value_enum, help_heading = "Locking")]
    pub locker: Option<LockerKind>,
    /// The Redis that keeps the locks of --locker redis (redis://[:password@]host:port/db).
    #[arg(long, env = "TUSD_REDIS_URL", help_heading = "Locking")]
    pub redis_url: Option<String>,
    /// Prefix of the Redis keys and channels of --locker redis.
    #[arg(
        long,
        env = "TUSD_REDIS_KEY_PREFIX",
        default_value = "tusd:",
        help_heading = "Locking"
    )]
    pub redis_key_prefix: String,
    /// The etcd cluster that keeps the locks of --locker etcd, comma-separated (http://host:2379,...).
    #[arg(long, env = "TUSD_ETCD_ENDPOINTS", help_heading = "Locking")]
    pub etcd_endpoints: Option<String>,
    /// Prefix of the etcd keys of --locker etcd.
    #[arg(
        long,
        env = "TUSD_ETCD_KEY_PREFIX",
        default_value = "/tusd/",
        help_heading = "Locking"
    )]
    pub etcd_key_prefix: String,
    /// How long a lock of a shared locker lives unless its holder renews it: how long an upload stays locked after its server died.
    #[arg(
        long,
        env = "TUSD_LOCK_LEASE",
        default_value = "10s",
        value_parser = go_flags::duration,
        help_heading = "Locking"
    )]
    pub lock_lease: Duration,
    /// How often a holder renews its lock's lease (default: a third of --lock-lease).
    #[arg(
        long,
        env = "TUSD_LOCK_RENEW_INTERVAL",
        value_parser = go_flags::duration,
        help_heading = "Locking"
    )]
    pub lock_renew_interval: Option<Duration>,

    /// How long after its last byte an unfinished upload expires (0: never).
    #[arg(
        long,
        env = "TUSD_EXPIRE_AFTER",
        default_value = "0",
        value_parser = go_flags::duration,
        help_heading = "Expiration"
    )]
    pub expire_after: Duration,
    /// How long after its last byte a finished upload expires (0: never).
    #[arg(
        long,
        env = "TUSD_EXPIRE_FINISHED_AFTER",
        default_value = "0",
        value_parser = go_flags::duration,
        help_heading = "Expiration"
    )]
    pub expire_finished_after: Duration,
    /// Time between sweeps that remove expired uploads and finish what a failure left unfinished.
    #[arg(
        long,
        env = "TUSD_CLEANUP_INTERVAL",
        default_value = "60s",
        value_parser = go_flags::duration,
        help_heading = "Expiration"
    )]
    pub cleanup_interval: Duration,

    /// Folder of hook executables, each named after its hook (pre-create, post-finish, …).
    #[arg(long, env = "TUSD_HOOKS_DIR", help_heading = "Hooks")]
    pub hooks_dir: Option<PathBuf>,
    /// URL that receives every hook as a POST with tusd's JSON and a Hook-Name header.
    #[arg(long, env = "TUSD_HOOKS_HTTP", help_heading = "Hooks")]
    pub hooks_http: Option<String>,
    /// Retries of a failed HTTP hook.
    #[arg(
        long,
        env = "TUSD_HOOKS_HTTP_RETRY",
        default_value_t = 3,
        help_heading = "Hooks"
    )]
    pub hooks_http_retry: u32,
    /// Wait before each retry of an HTTP hook.
    #[arg(
        long,
        env = "TUSD_HOOKS_HTTP_BACKOFF",
        default_value = "1s",
        value_parser = go_flags::duration,
        help_heading = "Hooks"
    )]
    pub hooks_http_backoff: Duration,
    /// How long an HTTP hook may take to answer.
    #[arg(
        long,
        env = "TUSD_HOOKS_HTTP_TIMEOUT",
        default_value = "30s",
        value_parser = go_flags::duration,
        help_heading = "Hooks"
    )]
    pub hooks_http_timeout: Duration,
    /// Client request headers passed on to HTTP hooks, comma-separated.
    #[arg(
        long,
        env = "TUSD_HOOKS_HTTP_FORWARD_HEADERS",
        default_value = "",
        help_heading = "Hooks"
    )]
    pub hooks_http_forward_headers: String,
    /// Hooks to run, comma-separated (pre-create, post-create, post-receive, pre-finish, post-finish, pre-terminate, post-terminate, pre-access).
    #[arg(
        long,
        env = "TUSD_HOOKS_ENABLED_EVENTS",
        default_value = "pre-create,post-create,post-receive,post-terminate,post-finish",
        help_heading = "Hooks"
    )]
    pub hooks_enabled_events: String,
    /// Time between post-receive hooks (and progress) per upload.
    #[arg(
        long,
        env = "TUSD_PROGRESS_HOOKS_INTERVAL",
        default_value = "1s",
        value_parser = go_flags::duration,
        help_heading = "Hooks"
    )]
    pub progress_hooks_interval: Duration,

    /// Serve Prometheus metrics.
    #[arg(long, env = "TUSD_EXPOSE_METRICS", help_heading = "Metrics", default_value = "true", num_args = 0..=1, default_missing_value = "true", value_parser = go_flags::boolean, action = ArgAction::Set)]
    pub expose_metrics: bool,
    /// Path of the metrics endpoint.
    #[arg(
        long,
        env = "TUSD_METRICS_PATH",
        default_value = "/metrics",
        help_heading = "Metrics"
    )]
    pub metrics_path: String,

    /// Log one line per request (with -verbose=false: only start-up, warnings and errors).
    #[arg(long, env = "TUSD_VERBOSE", help_heading = "Logging", default_value = "true", num_args = 0..=1, default_missing_value = "true", value_parser = go_flags::boolean, action = ArgAction::Set)]
    pub verbose: bool,
    /// Log lines as text or as JSON objects, one per line.
    #[arg(long, env = "TUSD_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, help_heading = "Logging")]
    pub log_format: LogFormat,
    /// Log the start-up lines (where it serves from, and what).
    #[arg(long, env = "TUSD_SHOW_STARTUP_LOGS", help_heading = "Logging", default_value = "true", num_args = 0..=1, default_missing_value = "true", value_parser = go_flags::boolean, action = ArgAction::Set)]
    pub show_startup_logs: bool,
    /// Answer GET / with a page naming the upload and metrics endpoints.
    #[arg(long, env = "TUSD_SHOW_GREETING", help_heading = "Logging", default_value = "true", num_args = 0..=1, default_missing_value = "true", value_parser = go_flags::boolean, action = ArgAction::Set)]
    pub show_greeting: bool,

    /// Turn off GET downloads of uploads.
    #[arg(long, env = "TUSD_DISABLE_DOWNLOAD", help_heading = "Features", default_value = "false", num_args = 0..=1, default_missing_value = "true", value_parser = go_flags::boolean, action = ArgAction::Set)]
    pub disable_download: bool,
    /// Turn off DELETE (the termination extension).
    #[arg(long, env = "TUSD_DISABLE_TERMINATION", help_heading = "Features", default_value = "false", num_args = 0..=1, default_missing_value = "true", value_parser = go_flags::boolean, action = ArgAction::Set)]
    pub disable_termination: bool,
    /// Turn off the concatenation extension (`Upload-Concat`).
    #[arg(long, env = "TUSD_DISABLE_CONCATENATION", help_heading = "Features", default_value = "false", num_args = 0..=1, default_missing_value = "true", value_parser = go_flags::boolean, action = ArgAction::Set)]
    pub disable_concatenation: bool,
    /// How long a request waits for an upload's lock.
    #[arg(
        long,
        env = "TUSD_ACQUIRE_LOCK_TIMEOUT",
        default_value = "20s",
        value_parser = go_flags::duration,
        help_heading = "Features"
    )]
    pub acquire_lock_timeout: Duration,

    /// Regular expression the whole Origin must match to be allowed.
    #[arg(
        long,
        env = "TUSD_CORS_ALLOW_ORIGIN",
        default_value = ".*",
        help_heading = "CORS"
    )]
    pub cors_allow_origin: String,
    /// Send Access-Control-Allow-Credentials: true.
    #[arg(long, env = "TUSD_CORS_ALLOW_CREDENTIALS", help_heading = "CORS", default_value = "false", num_args = 0..=1, default_missing_value = "true", value_parser = go_flags::boolean, action = ArgAction::Set)]
    pub cors_allow_credentials: bool,
    /// Extra methods to allow, comma-separated, beside the ones tus needs.
    #[arg(
        long,
        env = "TUSD_CORS_ALLOW_METHODS",
        default_value = "",
        help_heading = "CORS"
    )]
    pub cors_allow_methods: String,
    /// Extra request headers to allow, comma-separated.
    #[arg(
        long,
        env = "TUSD_CORS_ALLOW_HEADERS",
        default_value = "",
        help_heading = "CORS"
    )]
    pub cors_allow_headers: String,
    /// Extra response headers to expose, comma-separated.
    #[arg(
        long,
        env = "TUSD_CORS_EXPOSE_HEADERS",
        default_value = "",
        help_heading = "CORS"
    )]
    pub cors_expose_headers: String,
    /// Seconds browsers may cache a preflight's answer.
    #[arg(
        long,
        env = "TUSD_CORS_MAX_AGE",
        default_value_t = 86400,
        help_heading = "CORS"
    )]
    pub cors_max_age: u64,
    /// Do no CORS handling at all.
    #[arg(long, env = "TUSD_DISABLE_CORS", help_heading = "CORS", default_value = "false", num_args = 0..=1, default_missing_value = "true", value_parser = go_flags::boolean, action = ArgAction::Set)]
    pub disable_cors: bool,

    /// How long a PATCH body may send nothing before it is ended (its bytes kept).
    #[arg(
        long,
        env = "TUSD_NETWORK_TIMEOUT",
        default_value = "60s",
        value_parser = go_flags::duration,
        help_heading = "Timeouts"
    )]
    pub network_timeout: Duration,
    /// How long a connection may wait with no request begun before it is closed.
    #[arg(
        long,
        env = "TUSD_IDLE_TIMEOUT",
        default_value = "60s",
        value_parser = go_flags::duration,
        help_heading = "Timeouts"
    )]
    pub idle_timeout: Duration,
    /// How long a request head may take to arrive, from its first byte.
    #[arg(
        long,
        env = "TUSD_READ_HEADER_TIMEOUT",
        default_value = "10s",
        value_parser = go_flags::duration,
        help_heading = "Timeouts"
    )]
    pub read_header_timeout: Duration,
    /// How long a TLS handshake may take.
    #[arg(
        long,
        env = "TUSD_TLS_HANDSHAKE_TIMEOUT",
        default_value = "10s",
        value_parser = go_flags::duration,
        help_heading = "Timeouts"
    )]
    pub tls_handshake_timeout: Duration,
    /// How long running requests may take to finish after Ctrl-C or SIGTERM.
    #[arg(
        long,
        env = "TUSD_SHUTDOWN_TIMEOUT",
        default_value = "10s",
        value_parser = go_flags::duration,
        help_heading = "Timeouts"
    )]
    pub shutdown_timeout: Duration,
}

impl Args {
    /// Parses the command line, in tusd's forms as well as in ours.
    pub fn from_command_line() -> Args {
        let command = Args::command();
        let mut names: Vec<String> = command
            .get_arguments()
            .flat_map(|a| {
                a.get_long_and_visible_aliases()
                    .unwrap_or_default()
                    .into_iter()
                    .map(str::to_owned)
            })
            .collect();
        names.extend(["help".to_owned(), "version".to_owned()]);
        let args = go_flags::normalize(std::env::args_os(), &names);
        let matches = command.get_matches_from(args);
        Args::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
    }
}

/// Which TLS versions are offered.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsMode {
    /// TLS 1.3 only.
    Tls13,
    /// TLS 1.2 and 1.3.
    Tls12,
    /// TLS 1.2 (ECDHE AEAD suites only) and 1.3.
    #[value(name = "tls12-strong")]
    Tls12Strong,
}

/// How log lines are written.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable text.
    Text,
    /// One JSON object per line.
    Json,
}

/// Where upload locks are kept.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockerKind {
    /// In this process's memory.
    Memory,
    /// Lock files in the upload folder, as tusd's filelocker.
    File,
    /// In Redis (--redis-url).
    Redis,
    /// In etcd (--etcd-endpoints).
    Etcd,
}

/// What to do when the store is full.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum StorePolicy {
    /// Terminate the oldest uploads until the new one fits.
    Evict,
    /// Answer 507 Insufficient Storage.
    Refuse,
}

/// When upload data is synced to disk.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataSync {
    /// Before each PATCH is answered.
    EachWrite,
    /// When the upload finishes.
    AtFinish,
    /// Never: the operating system writes back when it likes.
    Never,
}

pub fn split_list(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}
