//! The store conformance suite: the checks every [`DataStore`] passes, for
//! third-party stores to run too (feature `testing`).
//!
//! Each case gets a fresh, empty store from the factory and panics on a
//! broken contract. Cases for extensions the store does not offer are
//! skipped.
//!
//! ```
//! use tower_tus::store::MemoryStore;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! tower_tus::testing::run_all(|| async { MemoryStore::new() }).await;
//! # }
//! ```
//!
//! Or one `#[tokio::test]` per case, so each shows up on its own:
//!
//! ```
//! mod memory_store {
//!     tower_tus::store_conformance!(|| async { tower_tus::store::MemoryStore::new() });
//! }
//! ```

mod bodies;
mod cases;

pub use bodies::{Breaking, Channel, Frames, pattern};

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::store::DataStore;

/// One check of the suite.
pub type Case = fn(Arc<dyn DataStore>) -> Pin<Box<dyn Future<Output = ()> + Send>>;

/// Every case, by name.
pub const CASES: &[(&str, Case)] = cases::ALL;

/// Runs every case, each on a fresh store from `make`; panics with the
/// case's name when one fails.
pub async fn run_all<F, Fut, S>(make: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
    S: DataStore,
{
    for (name, case) in CASES {
        let store: Arc<dyn DataStore> = Arc::new(make().await);
        let result = tokio::spawn(case(store)).await;
        if let Err(err) = result {
            panic!("conformance case {name} failed: {err}");
        }
    }
}

/// Runs case `name` on `store`.
///
/// # Panics
///
/// When the case fails, or no case has that name.
pub async fn run_case(name: &str, store: Arc<dyn DataStore>) {
    let (_, case) = CASES
        .iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no conformance case {name}"));
    case(store).await;
}

/// Defines one `#[tokio::test]` per conformance case, each on a fresh store
/// from the given async factory. Needs `tokio` (with `macros` and `rt`) as a
/// dev-dependency.
#[macro_export]
macro_rules! store_conformance {
    (@cases $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                let make = $make;
                let store: std::sync::Arc<dyn $crate::store::DataStore> =
                    std::sync::Arc::new(make().await);
                $crate::testing::run_case(stringify!($case), store).await;
            }
        )*
    };
    ($make:expr) => {
        $crate::__store_conformance_cases!(($crate::store_conformance) (@cases $make;));
    };
}

/// Hands the names of every conformance case to a macro: the one list both
/// the suite and [`store_conformance!`] are made from.
#[doc(hidden)]
#[macro_export]
macro_rules! __store_conformance_cases {
    (($($callback:tt)*) ($($args:tt)*)) => {
        $($callback)*! {
            $($args)*
            new_upload_starts_empty_and_describes_itself,
            duplicate_ids_conflict,
            write_appends_and_returns_the_durable_offset,
            a_stale_handle_cannot_write,
            a_body_that_breaks_off_keeps_every_byte_that_arrived,
            a_release_request_stops_reading_and_keeps_what_arrived,
            a_lost_lock_stops_reading,
            write_never_passes_the_limit,
            unknown_uploads_are_not_found,
            finish_is_persisted_and_idempotent,
            terminate_removes_everything,
            terminate_refuses_when_a_final_started_to_use_it,
            content_returns_the_bytes_so_far,
            content_serves_a_range,
            a_deferred_length_is_declared_once,
            concatenate_joins_partials_in_order,
            concatenate_with_a_missing_partial_leaves_the_final_empty,
            add_final_is_recorded_once_per_final,
            concurrent_add_final_loses_none,
            a_verified_write_commits_a_matching_chunk,
            a_mismatching_chunk_never_becomes_part_of_the_upload,
            a_staged_chunk_is_invisible_until_verified,
            a_verified_write_cut_short_keeps_nothing,
            a_trailer_checksum_is_verified,
            list_uploads_names_every_upload,
        }
    };
}
