use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use async_trait::async_trait;
use etcd_client::{
    Client, Compare, CompareOp, ConnectOptions, EventType, GetOptions, PutOptions, Txn, TxnOp,
    WatchOptions,
};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::table::{LONGEST_LEASE, LockTable, guard, instance_name, renewal_interval};
use super::{Lease, LockError, LockMode, Locker, Signal, UploadLock};
use crate::composer::StoreComposer;

/// How long a lock lives in etcd unless renewed, by default.
const LEASE: Duration = Duration::from_secs(10);
/// How often a waiting request tries again when no unlock event came.
const POLL: Duration = Duration::from_millis(100);
/// How long one call to etcd may take before etcd counts as gone.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);

/// Upload locks in etcd, shared by any number of servers, with the same
/// behaviour as [`RedisLocker`](super::RedisLocker) where etcd's own tools
/// do the work.
///
/// - **A lock** is the key `<prefix>locks/<id>`, created only if absent (a
///   transaction comparing its create revision with 0) and attached to a
///   lease of its own (default 10 s; etcd raises leases below its minimum,
///   about 2 s). The holder keeps the lease alive every third of it, and
///   lets go by revoking it, which deletes the key: only the holder can,
///   and a holder that dies leaves the lease to expire.
/// - **Take-over**: a [`LockMode::TakeOver`] request finding the lock held
///   writes (and at once deletes) `<prefix>release/<id>`; every server
///   watches the prefix, and the one holding the lock raises its
///   [`release_requested`](UploadLock::release_requested) signal. Waiters
///   try again when the watch shows the lock key deleted (and every 100 ms
///   in any case).
/// - **Lost locks**: a lease etcd says has expired, or a lock key that is no
///   longer the holder's, raises the lock's [`lost`](UploadLock::lost)
///   signal at once; a keep-alive that cannot reach etcd is tried again
///   until the lease runs out. The lock carries its [`Lease`], counted from
///   the last confirmed keep-alive, so a writer stopped past it starts
///   nothing more, and a store cuts short what is on its way
///   ([`LockWatch::gone`](super::LockWatch::gone)).
/// - **Fencing tokens** are the etcd revision at which the lock was taken:
///   they grow with every lock taken through the same etcd cluster.
/// - **Plain connections**: `http://` endpoints without authentication
///   (TLS and etcd users are not built in).
///
/// ```no_run
/// use std::time::Duration;
/// use tower_tus::lock::{EtcdLocker, LockMode, Locker};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let locker = EtcdLocker::builder(["http://127.0.0.1:2379"])
///     .key_prefix("/uploads/")
///     .connect()
///     .await
///     .expect("etcd cannot be reached");
/// let lock = locker.lock("abc", LockMode::TakeOver, Duration::from_secs(3)).await.unwrap();
/// lock.release().await;
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct EtcdLocker {
    shared: Arc<Shared>,
}

/// How an [`EtcdLocker`] is set up, before it connects.
///
/// ```no_run
/// use std::time::Duration;
/// use tower_tus::lock::EtcdLocker;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let locker = EtcdLocker::builder(["http://10.0.0.1:2379", "http://10.0.0.2:2379"])
///     .lease(Duration::from_secs(15))
///     .connect()
///     .await
///     .unwrap();
/// # let _ = locker;
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct EtcdLockerBuilder {
    endpoints: Vec<String>,
    prefix: String,
    lease: Duration,
    renew_every: Option<Duration>,
    poll: Duration,
}

struct Shared {
    client: Client,
    prefix: String,
    lease: Duration,
    renew_every: Duration,
    poll: Duration,
    /// Tells this instance's owners from every other's.
    instance: String,
    next_owner: AtomicU64,
    table: LockTable,
    listener: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdLocker")
            .field("prefix", &self.prefix)
            .field("lease", &self.lease)
            .finish_non_exhaustive()
    }
}

impl EtcdLocker {
    /// A locker over the etcd cluster at `endpoints` with the default
    /// settings; fails when etcd cannot be reached, so a server stops at
    /// start-up rather than at its first upload.
    pub async fn connect<E: AsRef<str>>(
        endpoints: impl IntoIterator<Item = E>,
    ) -> Result<Self, LockError> {
        Self::builder(endpoints).connect().await
    }

    /// A builder for a locker over the etcd cluster at `endpoints`.
    pub fn builder<E: AsRef<str>>(endpoints: impl IntoIterator<Item = E>) -> EtcdLockerBuilder {
        EtcdLockerBuilder {
            endpoints: endpoints
                .into_iter()
                .map(|e| e.as_ref().to_owned())
                .collect(),
            prefix: "/tusd/".to_owned(),
            lease: LEASE,
            renew_every: None,
            poll: POLL,
        }
    }

    /// Registers this locker with `composer`.
    pub fn use_in(&self, composer: &mut StoreComposer) {
        composer.use_locker(self.clone());
    }

    /// Whether etcd answers right now (for health checks).
    pub async fn is_reachable(&self) -> bool {
        let mut client = self.shared.client.clone();
        let probe = client.get(
            format!("{}locks/", self.shared.prefix),
            Some(GetOptions::new().with_count_only()),
        );
        matches!(
            tokio::time::timeout(COMMAND_TIMEOUT, probe).await,
            Ok(Ok(_))
        )
    }
}

impl EtcdLockerBuilder {
    /// Prefix of every key (default `/tusd/`), so several services share
    /// one etcd.
    #[must_use]
    pub fn key_prefix(mut self, prefix: &str) -> Self {
        prefix.clone_into(&mut self.prefix);
        self
    }

    /// How long a lock lives unless its holder renews it (default 10 s,
    /// between 1 s and a day, in whole seconds as etcd counts): how long an
    /// upload stays locked after its server died.
    #[must_use]
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = Duration::from_secs(
            lease
                .clamp(Duration::from_secs(1), LONGEST_LEASE)
                .as_secs_f64()
                .ceil() as u64,
        );
        self
    }

    /// How often a holder renews its lease (default a third of it, at most
    /// half of it).
    #[must_use]
    pub fn renew_interval(mut self, every: Duration) -> Self {
        self.renew_every = Some(every.max(Duration::from_millis(10)));
        self
    }

    /// How often a waiting request tries again when no unlock event
    /// reached it (default 100 ms).
    #[must_use]
    pub fn poll_interval(mut self, every: Duration) -> Self {
        self.poll = every.max(Duration::from_millis(1));
        self
    }

    /// Connects, and watches the lock and release keys; fails when etcd
    /// cannot be reached.
    pub async fn connect(self) -> Result<EtcdLocker, LockError> {
        // HTTP/2 pings find a connection gone half-open, which the watch
        // and the keep-alives would otherwise wait on for ever.
        let options = ConnectOptions::new()
            .with_connect_timeout(COMMAND_TIMEOUT)
            .with_timeout(COMMAND_TIMEOUT)
            .with_keep_alive(Duration::from_secs(5), COMMAND_TIMEOUT)
            .with_keep_alive_while_idle(true);
        let client = tokio::time::timeout(
            COMMAND_TIMEOUT * 2,
            Client::connect(&self.endpoints, Some(options)),
        )
        .await
        .map_err(|_| LockError::Unavailable("etcd did not answer in time".into()))?
        .map_err(locker_error)?;
        let renew_every = renewal_interval(self.lease, self.renew_every);
        let shared = Arc::new(Shared {
            client,
            prefix: self.prefix,
            lease: self.lease,
            renew_every,
            poll: self.poll,
            instance: instance_name()?,
            next_owner: AtomicU64::new(0),
            table: LockTable::default(),
            listener: Mutex::new(None),
        });
        let (watching, ready) = oneshot::channel();
        let listener = tokio::spawn(listen(
            Arc::downgrade(&shared),
            shared.client.clone(),
            shared.prefix.clone(),
            shared.poll,
            watching,
        ));
        *guard(&shared.listener) = Some(listener);
        match tokio::time::timeout(COMMAND_TIMEOUT, ready).await {
            Ok(Ok(())) => Ok(EtcdLocker { shared }),
            _ => Err(LockError::Unavailable(
                "cannot watch etcd's lock keys".into(),
            )),
        }
    }
}

/// Whether `err` means etcd could not be reached (worth a retry later),
/// rather than that it refused what was asked.
fn is_unreachable(err: &etcd_client::Error) -> bool {
    use etcd_client::Error;
    match err {
        Error::IoError(_)
        | Error::TransportError(_)
        | Error::LeaseKeepAliveError(_)
        | Error::WatchError(_) => true,
        Error::GRpcStatus(status) => matches!(
            status.code(),
            tonic::Code::Unavailable | tonic::Code::DeadlineExceeded | tonic::Code::Cancelled
        ),
        _ => false,
    }
}

fn locker_error(err: etcd_client::Error) -> LockError {
    if is_unreachable(&err) {
        LockError::Unavailable(err.into())
    } else {
        LockError::Other(err.into())
    }
}

/// Carries release requests and unlocks to this instance's holders and
/// waiters, watching again whenever the stream breaks. Ends with the
/// locker.
async fn listen(
    shared: Weak<Shared>,
    mut client: Client,
    prefix: String,
    retry: Duration,
    watching: oneshot::Sender<()>,
) {
    let locks = format!("{prefix}locks/");
    let releases = format!("{prefix}release/");
    let mut watching = Some(watching);
    loop {
        let watch = client.watch(prefix.as_str(), Some(WatchOptions::new().with_prefix()));
        if let Ok(Ok(mut stream)) = tokio::time::timeout(COMMAND_TIMEOUT, watch).await {
            if let Some(tx) = watching.take() {
                let _ = tx.send(());
            }
            if let Some(shared) = shared.upgrade() {
                shared.table.wake_every_waiter();
            }
            while let Ok(Some(message)) = stream.message().await {
                // A watch etcd cancelled (compaction, a restart) is made anew.
                if message.canceled() {
                    break;
                }
                let Some(shared) = shared.upgrade() else {
                    return;
                };
                for event in message.events() {
                    let Some(key) = event.kv().and_then(|kv| kv.key_str().ok()) else {
                        continue;
                    };
                    match event.event_type() {
                        EventType::Put => {
                            if let Some(id) = key.strip_prefix(&releases) {
                                shared.table.ask_holder(id);
                            }
                        }
                        EventType::Delete => {
                            if let Some(id) = key.strip_prefix(&locks) {
                                shared.table.wake_waiters(id);
                            }
                        }
                    }
                }
            }
        }
        if shared.strong_count() == 0 {
            return;
        }
        tokio::time::sleep(retry).await;
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        if let Some(listener) = guard(&self.listener).take() {
            listener.abort();
        }
    }
}

impl Shared {
    fn lock_key(&self, id: &str) -> String {
        format!("{}locks/{id}", self.prefix)
    }

    fn ttl_secs(&self) -> i64 {
        i64::try_from(self.lease.as_secs_f64().ceil() as u64)
            .unwrap_or(i64::MAX)
            .max(1)
    }

    /// One attempt: the lock, or `None` when another holds it. Runs on a
    /// task of its own, so that a request that gives up waiting never
    /// leaves a lease granted or a lock taken behind: a lock taken after all
    /// is let go at once.
    async fn try_acquire(self: &Arc<Self>, id: &str) -> Result<Option<UploadLock>, LockError> {
        let (shared, id) = (self.clone(), id.to_owned());
        tokio::spawn(async move { shared.attempt(&id).await })
            .await
            .map_err(|e| LockError::Other(e.into()))?
    }

    async fn attempt(self: &Arc<Self>, id: &str) -> Result<Option<UploadLock>, LockError> {
        let key = self.lock_key(id);
        let mut client = self.client.clone();
        // The common case while waiting, in one cheap call.
        let held = client
            .get(key.as_str(), Some(GetOptions::new().with_count_only()))
            .await
            .map_err(locker_error)?;
        if held.count() > 0 {
            return Ok(None);
        }
        let owner = format!(
            "{}:{}",
            self.instance,
            self.next_owner.fetch_add(1, Ordering::Relaxed)
        );
        let sent = Instant::now();
        let granted = client
            .lease_grant(self.ttl_secs(), None)
            .await
            .map_err(locker_error)?;
        let lease_id = granted.id();
        let txn = Txn::new()
            .when([Compare::create_revision(key.as_str(), CompareOp::Equal, 0)])
            .and_then([TxnOp::put(
                key.as_str(),
                owner.as_str(),
                Some(PutOptions::new().with_lease(lease_id)),
            )]);
        let taken = match client.txn(txn).await {
            Ok(taken) => taken,
            Err(e) => {
                let _ = client.lease_revoke(lease_id).await;
                return Err(locker_error(e));
            }
        };
        if !taken.succeeded() {
            let _ = client.lease_revoke(lease_id).await;
            return Ok(None);
        }
        let token = taken.header().map_or(0, |h| h.revision()).max(0) as u64;
        let ttl = Duration::from_secs(granted.ttl().max(1) as u64);
        Ok(Some(self.held_lock(id, owner, lease_id, token, sent, ttl)))
    }

    fn held_lock(
        self: &Arc<Self>,
        id: &str,
        owner: String,
        lease_id: i64,
        token: u64,
        sent: Instant,
        ttl: Duration,
    ) -> UploadLock {
        let release = Signal::new();
        let lost = Signal::new();
        let let_go = Signal::new();
        let lease = Lease::new(Duration::ZERO);
        lease.extend_to(sent + ttl - ttl / 10);
        self.table.hold(id, &owner, release.clone());
        tokio::spawn(keep_alive(
            self.clone(),
            Held {
                id: id.to_owned(),
                owner: owner.clone(),
                lease_id,
            },
            lease.clone(),
            lost.clone(),
            let_go.clone(),
        ));
        let shared = self.clone();
        let id = id.to_owned();
        UploadLock::new(
            release,
            lost,
            token,
            Box::new(move || {
                let_go.raise();
                shared.table.forget(&id, &owner);
                Box::pin(async move {
                    // Revoking the lease deletes the key: only this
                    // holder's, never a later one's.
                    let mut client = shared.client.clone();
                    let revoked =
                        tokio::time::timeout(COMMAND_TIMEOUT, client.lease_revoke(lease_id));
                    // Unreachable, the lock expires with its lease.
                    if let Ok(Err(e)) = revoked.await {
                        tracing::warn!(upload = %id, "cannot free the lock in etcd: {e}");
                    }
                })
            }),
        )
        .with_lease(lease)
    }
}

/// A lock held in etcd, for its keep-alive.
struct Held {
    id: String,
    owner: String,
    lease_id: i64,
}

/// Keeps a held lock's lease alive until it is let go. A keep-alive that
/// fails is tried again (on a new stream) until the lease runs out; the
/// lock is lost then, or at once when etcd says the lease expired or the
/// key is no longer this holder's.
async fn keep_alive(shared: Arc<Shared>, held: Held, lease: Lease, lost: Signal, let_go: Signal) {
    let mut client = shared.client.clone();
    let key = shared.lock_key(&held.id);
    let mut streams = None;
    let why = 'renewing: loop {
        tokio::select! {
            () = let_go.raised() => return,
            () = tokio::time::sleep(shared.renew_every) => {}
        }
        loop {
            let sent = Instant::now();
            let renewal = async {
                let (keeper, answers) = match &mut streams {
                    Some(streams) => streams,
                    None => streams.insert(client.lease_keep_alive(held.lease_id).await?),
                };
                keeper.keep_alive().await?;
                let answer = answers.message().await?;
                let ours = client.get(key.as_str(), None).await?;
                let still_ours = ours
                    .kvs()
                    .first()
                    .is_some_and(|kv| kv.value() == held.owner.as_bytes());
                Ok::<_, etcd_client::Error>(answer.map(|a| a.ttl()).filter(|_| still_ours))
            };
            match tokio::time::timeout_at(lease.valid_until(), renewal).await {
                Ok(Ok(Some(ttl))) if ttl > 0 && !lease.has_run_out() => {
                    let ttl = Duration::from_secs(ttl.unsigned_abs());
                    lease.extend_to(sent + ttl - ttl / 10);
                    break;
                }
                Ok(Ok(_)) => break 'renewing "the upload's lock in etcd was lost".to_owned(),
                Err(_) => break 'renewing "the lock's lease ran out unrenewed".to_owned(),
                Ok(Err(e)) if lease.has_run_out() => {
                    break 'renewing format!("the lock's lease ran out unrenewed: {e}");
                }
                Ok(Err(e)) => {
                    tracing::debug!(upload = %held.id, "cannot renew the lock yet: {e}");
                    streams = None;
                    tokio::select! {
                        () = let_go.raised() => return,
                        () = tokio::time::sleep(shared.poll) => {}
                    }
                }
            }
        }
    };
    if let_go.is_raised() {
        return;
    }
    tracing::warn!(upload = %held.id, "{why}");
    lease.end();
    lost.raise();
    shared.table.forget(&held.id, &held.owner);
}

#[async_trait]
impl Locker for EtcdLocker {
    async fn lock(
        &self,
        id: &str,
        mode: LockMode,
        timeout: Duration,
    ) -> Result<UploadLock, LockError> {
        let shared = &self.shared;
        let ask = || async {
            let mut client = shared.client.clone();
            let key = format!("{}release/{id}", shared.prefix);
            client
                .put(key.as_str(), shared.instance.as_str(), None)
                .await
                .map_err(locker_error)?;
            // The watchers saw the write; the key need not stay.
            client.delete(key, None).await.map_err(locker_error)?;
            Ok(())
        };
        shared
            .table
            .acquire(
                id,
                mode,
                timeout,
                shared.poll,
                || shared.try_acquire(id),
                ask,
            )
            .await
    }

    fn release_all(&self) {
        self.shared.table.ask_every_holder();
    }
}
