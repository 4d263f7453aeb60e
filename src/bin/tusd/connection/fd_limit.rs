//! The process's limit on open files, raised as far as it may go.

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// Raises the soft limit on open file descriptors to the hard limit, as
/// Go's runtime does for tusd: every connection and every upload being
/// written costs one, and the usual soft limit of 1,024 is soon reached.
/// Returns the limit in force afterwards, if there is one.
pub fn raise_open_files_limit() -> Option<u64> {
    let limit = getrlimit(Resource::Nofile);
    let current = limit.current?;
    let Some(maximum) = limit.maximum else {
        // An unlimited hard limit is refused as a soft one on Linux:
        // leave the soft limit as it is.
        return Some(current);
    };
    if current >= maximum {
        return Some(current);
    }
    match setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(maximum),
            maximum: Some(maximum),
        },
    ) {
        Ok(()) => {
            tracing::debug!("raised the open files limit from {current} to {maximum}");
            Some(maximum)
        }
        Err(err) => {
            tracing::warn!("cannot raise the open files limit from {current} to {maximum}: {err}");
            Some(current)
        }
    }
}
