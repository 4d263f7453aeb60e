use std::path::PathBuf;

use clap::Parser;

/// A tus 1.0.0 resumable-upload server over a folder.
#[derive(Parser, Debug)]
#[command(name = "tusd", version, about, long_about = None)]
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
    /// Path under which uploads are served.
    #[arg(
        long,
        env = "TUSD_BASE_PATH",
        default_value = "/files/",
        help_heading = "Listening"
    )]
    pub base_path: String,
    /// Trust Forwarded, X-Forwarded-Host and X-Forwarded-Proto for absolute upload URLs.
    #[arg(long, env = "TUSD_BEHIND_PROXY", help_heading = "Listening")]
    pub behind_proxy: bool,

    /// Folder holding the uploads (created when missing).
    #[arg(
        long,
        env = "TUSD_UPLOAD_DIR",
        default_value = "./data",
        help_heading = "Storage"
    )]
    pub upload_dir: PathBuf,
    /// Largest upload accepted, in bytes (0: no limit).
    #[arg(
        long,
        env = "TUSD_MAX_SIZE",
        default_value_t = 0,
        help_heading = "Storage"
    )]
    pub max_size: u64,

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

    /// Seconds after its last byte an unfinished upload expires (0: never).
    #[arg(
        long,
        env = "TUSD_EXPIRE_AFTER",
        default_value_t = 0,
        help_heading = "Expiration"
    )]
    pub expire_after: u64,
    /// Seconds after its last byte a finished upload expires (0: never).
    #[arg(
        long,
        env = "TUSD_EXPIRE_FINISHED_AFTER",
        default_value_t = 0,
        help_heading = "Expiration"
    )]
    pub expire_finished_after: u64,
    /// Seconds between sweeps that remove expired uploads and finish what a failure left unfinished.
    #[arg(
        long,
        env = "TUSD_CLEANUP_INTERVAL",
        default_value_t = 60,
        help_heading = "Expiration"
    )]
    pub cleanup_interval: u64,

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
    /// Seconds between HTTP hook retries.
    #[arg(
        long,
        env = "TUSD_HOOKS_HTTP_BACKOFF",
        default_value_t = 1.0,
        help_heading = "Hooks"
    )]
    pub hooks_http_backoff: f64,
    /// Seconds an HTTP hook may take to answer.
    #[arg(
        long,
        env = "TUSD_HOOKS_HTTP_TIMEOUT",
        default_value_t = 30.0,
        help_heading = "Hooks"
    )]
    pub hooks_http_timeout: f64,
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
    /// Seconds between post-receive hooks (and progress) per upload.
    #[arg(
        long,
        env = "TUSD_PROGRESS_HOOKS_INTERVAL",
        default_value_t = 1.0,
        help_heading = "Hooks"
    )]
    pub progress_hooks_interval: f64,

    /// Serve Prometheus metrics.
    #[arg(long, env = "TUSD_EXPOSE_METRICS", default_value_t = true, action = clap::ArgAction::Set, help_heading = "Metrics")]
    pub expose_metrics: bool,
    /// Path of the metrics endpoint.
    #[arg(
        long,
        env = "TUSD_METRICS_PATH",
        default_value = "/metrics",
        help_heading = "Metrics"
    )]
    pub metrics_path: String,

    /// Turn off GET downloads of uploads.
    #[arg(long, env = "TUSD_DISABLE_DOWNLOAD", help_heading = "Features")]
    pub disable_download: bool,
    /// Turn off DELETE (the termination extension).
    #[arg(long, env = "TUSD_DISABLE_TERMINATION", help_heading = "Features")]
    pub disable_termination: bool,
    /// Seconds a request waits for an upload's lock.
    #[arg(
        long,
        env = "TUSD_ACQUIRE_LOCK_TIMEOUT",
        default_value_t = 20,
        help_heading = "Features"
    )]
    pub acquire_lock_timeout: u64,

    /// Regular expression the whole Origin must match to be allowed.
    #[arg(
        long,
        env = "TUSD_CORS_ALLOW_ORIGIN",
        default_value = ".*",
        help_heading = "CORS"
    )]
    pub cors_allow_origin: String,
    /// Send Access-Control-Allow-Credentials: true.
    #[arg(long, env = "TUSD_CORS_ALLOW_CREDENTIALS", help_heading = "CORS")]
    pub cors_allow_credentials: bool,
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
    #[arg(long, env = "TUSD_DISABLE_CORS", help_heading = "CORS")]
    pub disable_cors: bool,

    /// Seconds a PATCH body may send nothing before it is ended (its bytes kept).
    #[arg(
        long,
        env = "TUSD_NETWORK_TIMEOUT",
        default_value_t = 60,
        help_heading = "Timeouts"
    )]
    pub network_timeout: u64,
    /// Seconds running requests may take to finish after Ctrl-C or SIGTERM.
    #[arg(
        long,
        env = "TUSD_SHUTDOWN_TIMEOUT",
        default_value_t = 10,
        help_heading = "Timeouts"
    )]
    pub shutdown_timeout: u64,
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
