//! The locker conformance suite on every locker that ships, each over a
//! backend shared by several instances as several servers share it.

mod common;

use std::sync::Arc;

use async_trait::async_trait;
use tower_tus::lock::{Locker, MemoryLocker};
use tower_tus::testing::LockerBackend;

/// Instances of one process's memory locker: clones of one.
struct OneProcess(MemoryLocker);

#[async_trait]
impl LockerBackend for OneProcess {
    async fn instance(&self) -> Arc<dyn Locker> {
        Arc::new(self.0.clone())
    }

    fn separate_instances(&self) -> bool {
        false
    }
}

mod memory {
    tower_tus::locker_conformance!(|| async {
        super::OneProcess(tower_tus::lock::MemoryLocker::new())
    });
}

#[cfg(feature = "file-store")]
mod file {
    use std::sync::Arc;

    use async_trait::async_trait;
    use tower_tus::lock::{FileLocker, Locker};
    use tower_tus::testing::LockerBackend;

    /// File lockers over one folder, each as another server process's.
    struct Folder(tempfile::TempDir);

    #[async_trait]
    impl LockerBackend for Folder {
        async fn instance(&self) -> Arc<dyn Locker> {
            Arc::new(FileLocker::new(self.0.path()))
        }

        async fn forget(&self, id: &str) -> bool {
            std::fs::remove_file(self.0.path().join(format!("{id}.lock"))).unwrap();
            true
        }
    }

    tower_tus::locker_conformance!(|| async { Folder(tempfile::tempdir().unwrap()) });
}

#[cfg(feature = "redis")]
mod redis_locker {
    use std::sync::Arc;
    use std::time::Duration;

    use async_trait::async_trait;
    use tower_tus::lock::{Locker, RedisLocker};
    use tower_tus::testing::LockerBackend;

    use crate::common;

    const PREFIX: &str = "locker-suite:";
    /// Short, so the renewal case holds a lock past a few leases quickly.
    const LEASE: Duration = Duration::from_secs(1);

    /// Lockers over the Redis the binary shares, each with its own
    /// connections, as each server has.
    struct SharedRedis(&'static str);

    #[async_trait]
    impl LockerBackend for SharedRedis {
        async fn instance(&self) -> Arc<dyn Locker> {
            let locker = RedisLocker::builder(self.0)
                .key_prefix(PREFIX)
                .lease(LEASE)
                .connect()
                .await
                .expect("Redis answers");
            Arc::new(locker)
        }

        fn lease(&self) -> Option<Duration> {
            Some(LEASE)
        }

        async fn forget(&self, id: &str) -> bool {
            let client = redis::Client::open(self.0).unwrap();
            let mut conn = client.get_multiplexed_async_connection().await.unwrap();
            let removed: u64 = redis::cmd("DEL")
                .arg(format!("{PREFIX}lock:{id}"))
                .query_async(&mut conn)
                .await
                .unwrap();
            assert_eq!(removed, 1, "the lock's key was not in Redis");
            true
        }
    }

    macro_rules! on_redis {
        ($($case:ident),* $(,)?) => {$(
            #[tokio::test]
            async fn $case() {
                if !common::redis::wanted(stringify!($case)) {
                    return;
                }
                let backend = Arc::new(SharedRedis(common::redis::shared_url()));
                tower_tus::testing::run_locker_case(stringify!($case), backend).await;
            }
        )*};
    }

    tower_tus::__locker_conformance_cases!((on_redis)());

    #[tokio::test]
    async fn fencing_tokens_keep_growing_after_redis_restarts_empty() {
        if !common::redis::wanted("fencing_tokens_keep_growing_after_redis_restarts_empty") {
            return;
        }
        let mut server = common::redis::RedisServer::start();
        let backend = SharedRedis(Box::leak(server.url().into_boxed_str()));
        let before = backend.instance().await;
        let lock = before
            .lock("restart", tower_tus::lock::LockMode::Try, Duration::ZERO)
            .await
            .unwrap();
        let first = lock.fencing_token();
        drop(lock);
        server.start_again();
        let after = backend.instance().await;
        let lock = after
            .lock("restart", tower_tus::lock::LockMode::Try, Duration::ZERO)
            .await
            .unwrap();
        assert!(
            lock.fencing_token() > first,
            "{} after {first}",
            lock.fencing_token()
        );
        lock.release().await;
    }
}

#[cfg(feature = "etcd")]
mod etcd_locker {
    use std::sync::Arc;
    use std::time::Duration;

    use async_trait::async_trait;
    use tower_tus::lock::{EtcdLocker, Locker};
    use tower_tus::testing::LockerBackend;

    use crate::common;

    const PREFIX: &str = "/locker-suite/";
    /// etcd's shortest lease here (it raises shorter ones).
    const LEASE: Duration = Duration::from_secs(2);

    /// Lockers over the etcd the binary shares, each with its own
    /// connections, as each server has.
    struct SharedEtcd(&'static str);

    #[async_trait]
    impl LockerBackend for SharedEtcd {
        async fn instance(&self) -> Arc<dyn Locker> {
            let locker = EtcdLocker::builder([self.0])
                .key_prefix(PREFIX)
                .lease(LEASE)
                .connect()
                .await
                .expect("etcd answers");
            Arc::new(locker)
        }

        fn lease(&self) -> Option<Duration> {
            Some(LEASE)
        }

        async fn forget(&self, id: &str) -> bool {
            let mut client = etcd_client::Client::connect([self.0], None).await.unwrap();
            let removed = client
                .delete(format!("{PREFIX}locks/{id}"), None)
                .await
                .unwrap();
            assert_eq!(removed.deleted(), 1, "the lock's key was not in etcd");
            true
        }
    }

    macro_rules! on_etcd {
        ($($case:ident),* $(,)?) => {$(
            #[tokio::test]
            async fn $case() {
                if !common::etcd::wanted(stringify!($case)) {
                    return;
                }
                let backend = Arc::new(SharedEtcd(common::etcd::shared_endpoint()));
                tower_tus::testing::run_locker_case(stringify!($case), backend).await;
            }
        )*};
    }

    tower_tus::__locker_conformance_cases!((on_etcd)());
}
