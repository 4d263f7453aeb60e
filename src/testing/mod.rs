//! The store and locker conformance suites: the checks every [`DataStore`]
//! and every [`Locker`] pass, for third-party stores and lockers to run too
//! (feature `testing`).
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

//!
//! Lockers are checked through a [`LockerBackend`], which hands out
//! instances over one backend as several servers would hold them:
//!
//! ```
//! use std::sync::Arc;
//! use tower_tus::lock::{Locker, MemoryLocker};
//! use tower_tus::testing::LockerBackend;
//!
//! /// One process's memory: every instance is a clone of one locker.
//! struct OneProcess(MemoryLocker);
//!
//! #[async_trait::async_trait]
//! impl LockerBackend for OneProcess {
//!     async fn instance(&self) -> Arc<dyn Locker> {
//!         Arc::new(self.0.clone())
//!     }
//!
//!     fn separate_instances(&self) -> bool {
//!         false
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! tower_tus::testing::run_locker_cases(OneProcess(MemoryLocker::new())).await;
//! # }
//! ```

mod bodies;
mod cases;
mod lockers;

pub use bodies::{Breaking, Channel, Frames, pattern};

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::lock::Locker;
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

/// A locking backend under test: lockers over it, and the ways to make it
/// misbehave that the cases need.
#[async_trait]
pub trait LockerBackend: Send + Sync + 'static {
    /// A new locker over the backend, as another server would hold one
    /// (its own connections; for in-process lockers, a clone).
    async fn instance(&self) -> Arc<dyn Locker>;

    /// How long a lock lives unless its holder renews it, for lockers built
    /// on leases; a case holds a lock past it to check the renewal.
    fn lease(&self) -> Option<Duration> {
        None
    }

    /// Whether instances stand for separate servers, so
    /// [`Locker::release_all`] on one leaves the others' holders alone;
    /// `false` when every instance is a clone of one locker.
    fn separate_instances(&self) -> bool {
        true
    }

    /// Makes the backend forget upload `id`'s lock behind its holder's back,
    /// as a lease that ran out while the holder was paused, or a lock file
    /// removed by hand; `false` for lockers whose locks cannot be lost.
    async fn forget(&self, id: &str) -> bool {
        let _ = id;
        false
    }
}

/// One check of the locker suite.
pub type LockerCase = fn(Arc<dyn LockerBackend>) -> Pin<Box<dyn Future<Output = ()> + Send>>;

/// Every locker case, by name.
pub const LOCKER_CASES: &[(&str, LockerCase)] = lockers::ALL;

/// Runs every locker case on `backend`; panics with the case's name when
/// one fails.
pub async fn run_locker_cases(backend: impl LockerBackend) {
    let backend: Arc<dyn LockerBackend> = Arc::new(backend);
    for (name, case) in LOCKER_CASES {
        if let Err(err) = tokio::spawn(case(backend.clone())).await {
            panic!("locker case {name} failed: {err}");
        }
    }
}

/// Runs locker case `name` on `backend`.
///
/// # Panics
///
/// When the case fails, or no case has that name.
pub async fn run_locker_case(name: &str, backend: Arc<dyn LockerBackend>) {
    let (_, case) = LOCKER_CASES
        .iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no locker case {name}"));
    case(backend).await;
}

/// Defines one `#[tokio::test]` per locker case, each on a backend from the
/// given async factory. Needs `tokio` (with `macros` and `rt`) as a
/// dev-dependency.
///
/// ```
/// mod memory_locker {
///     use std::sync::Arc;
///     use tower_tus::lock::{Locker, MemoryLocker};
///
///     struct OneProcess(MemoryLocker);
///
///     #[async_trait::async_trait]
///     impl tower_tus::testing::LockerBackend for OneProcess {
///         async fn instance(&self) -> Arc<dyn Locker> {
///             Arc::new(self.0.clone())
///         }
///
///         fn separate_instances(&self) -> bool {
///             false
///         }
///     }
///
///     tower_tus::locker_conformance!(|| async { OneProcess(MemoryLocker::new()) });
/// }
/// ```
#[macro_export]
macro_rules! locker_conformance {
    (@cases $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                let make = $make;
                let backend: std::sync::Arc<dyn $crate::testing::LockerBackend> =
                    std::sync::Arc::new(make().await);
                $crate::testing::run_locker_case(stringify!($case), backend).await;
            }
        )*
    };
    ($make:expr) => {
        $crate::__locker_conformance_cases!(($crate::locker_conformance) (@cases $make;));
    };
}

/// Hands the names of every locker case to a macro: the one list both the
/// suite and [`locker_conformance!`] are made from.
#[doc(hidden)]
#[macro_export]
macro_rules! __locker_conformance_cases {
    (($($callback:tt)*) ($($args:tt)*)) => {
        $($callback)*! {
            $($args)*
            a_held_lock_excludes_every_instance,
            locks_of_different_uploads_are_independent,
            take_over_asks_the_holder_and_gets_the_lock_once_it_lets_go,
            take_over_times_out_when_the_holder_keeps_the_lock,
            wait_never_asks_and_times_out,
            wait_gets_the_lock_once_the_holder_lets_go,
            a_dropped_lock_is_freed,
            a_lock_held_past_its_lease_stays_exclusive,
            a_lock_lost_behind_its_holder_s_back_is_reported_and_its_release_frees_nothing,
            fencing_tokens_grow_with_every_acquisition,
            release_all_asks_this_instance_s_holders_only,
            many_take_overs_at_once_each_hold_the_lock_alone,
        }
    };
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
