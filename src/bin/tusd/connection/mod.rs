//! What one client's connections may cost the server: time between
//! requests, time for a head or a TLS handshake, a share of the
//! connections open at once.

mod clock;
mod fd_limit;
mod slots;
mod throttled_log;

pub use clock::{ClockedBody, ConnectionClock, Expired, Timeouts};
pub use fd_limit::raise_open_files_limit;
pub use slots::ConnectionSlots;
pub use throttled_log::ThrottledLog;

/// The connections `tusd` serves at once when `--max-connections` is 0:
/// a quarter of the open files allowed, as a PATCH into the folder holds
/// its socket, its data file and its lock file, and some are left over
/// for the listener, hooks and logs.
pub fn default_max_connections(open_files: Option<u64>) -> usize {
    match open_files {
        Some(limit) => (limit / 4).clamp(16, 1 << 20) as usize,
        None => 1 << 20,
    }
}
