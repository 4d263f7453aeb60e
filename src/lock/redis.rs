use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, Weak};
use std::time::Duration;

use async_trait::async_trait;
use redis::Script;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::table::{LONGEST_LEASE, LockTable, guard, instance_name, renewal_interval};
use super::{Lease, LockError, LockMode, Locker, Signal, UploadLock};
use crate::composer::StoreComposer;

static ACQUIRE_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(ACQUIRE));
static RENEW_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(RENEW));
static RELEASE_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(RELEASE));

/// How long a lock lives in Redis unless renewed, by default.
const LEASE: Duration = Duration::from_secs(10);
/// How often a waiting request tries again when no unlock message came.
const POLL: Duration = Duration::from_millis(100);
/// How long one command to Redis may take before Redis counts as gone.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);
/// How often the release channel's connection is pinged.
const PING_EVERY: Duration = Duration::from_secs(5);

/// Takes the lock if free, returning the next fencing token (else 0).
/// The counter never falls below Redis's clock in microseconds, so tokens
/// keep growing after a Redis restarted without its data.
const ACQUIRE: &str = r"
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  local now = redis.call('TIME')
  local floor = tonumber(now[1]) * 1000000 + tonumber(now[2])
  local token = redis.call('INCR', KEYS[2])
  if token < floor then
    redis.call('SET', KEYS[2], string.format('%d', floor))
    token = floor
  end
  return token
end
return 0";
/// Extends the lease, if the lock still is this holder's.
const RENEW: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0";
/// Frees the lock, if it still is this holder's, and tells the waiters.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('PUBLISH', ARGV[2], ARGV[3])
  return 1
end
return 0";

/// Upload locks in Redis, shared by any number of servers: a client may
/// send each request of an upload to another server, and a reconnecting
/// client still takes over its own half-dead request, wherever it runs.
///
/// - **A lock** is the key `<prefix>lock:<id>`, holding a random token of
///   its holder, with a lease (default 10 s) that the holder renews every
///   third of it. Only the holder frees it (a compare-and-delete script);
///   a holder that dies leaves it to expire.
/// - **Take-over**: a [`LockMode::TakeOver`] request finding the lock held
///   publishes the upload id on `<prefix>release`; the server holding it
///   raises its [`release_requested`](UploadLock::release_requested)
///   signal, and its request stops reading, keeps what arrived, answers and
///   lets go. A freed lock is published on `<prefix>unlocked`, so waiters
///   try again at once (and every 100 ms in any case).
/// - **Lost locks**: a renewal that Redis refuses (the lease ran out, or
///   Redis restarted without the key) raises the lock's
///   [`lost`](UploadLock::lost) signal at once; one that cannot reach
///   Redis is tried again until the lease runs out. The lock carries its
///   [`Lease`], counted from the last confirmed renewal, so a writer
///   stopped past it starts nothing more, and a store cuts short what is
///   on its way ([`LockWatch::gone`](super::LockWatch::gone)).
/// - **Fencing tokens** come from one counter, `<prefix>fencing`, kept at
///   least Redis's clock in microseconds: they grow with every lock taken
///   through the same Redis, also after it restarted empty.
/// - **Plain TCP**: `redis://` URLs only (TLS is not built in); a password
///   goes in the URL (`redis://:secret@host/`).
/// - **One Redis**: the scripts touch two keys, so a Redis Cluster is not
///   supported; a replicated Redis with failover may hand a lock out twice
///   around a failover, as any lock kept in Redis may. A Redis restarted
///   without its data forgets every lock: their holders learn it at their
///   next renewal and stop.
///
/// ```no_run
/// use std::time::Duration;
/// use tower_tus::lock::{LockMode, Locker, RedisLocker};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let locker = RedisLocker::builder("redis://127.0.0.1:6379/")
///     .key_prefix("uploads:")
///     .lease(Duration::from_secs(10))
///     .connect()
///     .await
///     .expect("Redis cannot be reached");
/// let lock = locker.lock("abc", LockMode::TakeOver, Duration::from_secs(3)).await.unwrap();
/// lock.release().await;
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct RedisLocker {
    shared: Arc<Shared>,
}

/// How a [`RedisLocker`] is set up, before it connects.
///
/// ```no_run
/// use std::time::Duration;
/// use tower_tus::lock::RedisLocker;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let locker = RedisLocker::builder("redis://127.0.0.1:6379/")
///     .lease(Duration::from_secs(5))
///     .renew_interval(Duration::from_secs(1))
///     .connect()
///     .await
///     .unwrap();
/// # let _ = locker;
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct RedisLockerBuilder {
    url: String,
    prefix: String,
    lease: Duration,
    renew_every: Option<Duration>,
    poll: Duration,
}

#[derive(Debug)]
struct Shared {
    conn: ConnectionManager,
    keys: Keys,
    lease: Duration,
    renew_every: Duration,
    poll: Duration,
    /// Tells this instance's tokens from every other's.
    instance: String,
    next_owner: AtomicU64,
    table: LockTable,
    listener: Mutex<Option<JoinHandle<()>>>,
}

#[derive(Clone, Debug)]
struct Keys {
    prefix: String,
    fencing: String,
    release: String,
    unlocked: String,
}

impl Keys {
    fn lock(&self, id: &str) -> String {
        format!("{}lock:{id}", self.prefix)
    }
}

impl RedisLocker {
    /// A locker over the Redis at `url` (`redis://host:port/db`) with the
    /// default settings; fails when Redis cannot be reached, so a server
    /// stops at start-up rather than at its first upload.
    pub async fn connect(url: &str) -> Result<Self, LockError> {
        Self::builder(url).connect().await
    }

    /// A builder for a locker over the Redis at `url`.
    pub fn builder(url: &str) -> RedisLockerBuilder {
        RedisLockerBuilder {
            url: url.to_owned(),
            prefix: "tusd:".to_owned(),
            lease: LEASE,
            renew_every: None,
            poll: POLL,
        }
    }

    /// Registers this locker with `composer`.
    pub fn use_in(&self, composer: &mut StoreComposer) {
        composer.use_locker(self.clone());
    }

    /// Whether Redis answers right now (for health checks).
    pub async fn is_reachable(&self) -> bool {
        let ping = with_retry(&self.shared.conn, |mut conn| async move {
            redis::cmd("PING").query_async::<String>(&mut conn).await
        });
        matches!(
            tokio::time::timeout(COMMAND_TIMEOUT * 2, ping).await,
            Ok(Ok(_))
        )
    }
}

impl RedisLockerBuilder {
    /// Prefix of every key and channel (default `tusd:`), so several
    /// services share one Redis.
    #[must_use]
    pub fn key_prefix(mut self, prefix: &str) -> Self {
        prefix.clone_into(&mut self.prefix);
        self
    }

    /// How long a lock lives unless its holder renews it (default 10 s,
    /// between 100 ms and a day): how long an upload stays locked after its
    /// server died.
    #[must_use]
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease.clamp(Duration::from_millis(100), LONGEST_LEASE);
        self
    }

    /// How often a holder renews its lease (default a third of it, at most
    /// half of it).
    #[must_use]
    pub fn renew_interval(mut self, every: Duration) -> Self {
        self.renew_every = Some(every.max(Duration::from_millis(10)));
        self
    }

    /// How often a waiting request tries again when no unlock message
    /// reached it (default 100 ms).
    #[must_use]
    pub fn poll_interval(mut self, every: Duration) -> Self {
        self.poll = every.max(Duration::from_millis(1));
        self
    }

    /// Connects, and subscribes to the release and unlock channels; fails
    /// when Redis cannot be reached.
    pub async fn connect(self) -> Result<RedisLocker, LockError> {
        let client =
            redis::Client::open(self.url.as_str()).map_err(|e| LockError::Other(e.into()))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(COMMAND_TIMEOUT))
            .set_response_timeout(Some(COMMAND_TIMEOUT))
            .set_number_of_retries(1);
        let conn = client
            .get_connection_manager_with_config(config)
            .await
            .map_err(locker_error)?;
        let keys = Keys {
            fencing: format!("{}fencing", self.prefix),
            release: format!("{}release", self.prefix),
            unlocked: format!("{}unlocked", self.prefix),
            prefix: self.prefix,
        };
        let renew_every = renewal_interval(self.lease, self.renew_every);
        let shared = Arc::new(Shared {
            conn,
            keys,
            lease: self.lease,
            renew_every,
            poll: self.poll,
            instance: instance_name()?,
            next_owner: AtomicU64::new(0),
            table: LockTable::default(),
            listener: Mutex::new(None),
        });
        let (subscribed, ready) = oneshot::channel();
        let listener = tokio::spawn(listen(
            Arc::downgrade(&shared),
            client,
            shared.keys.clone(),
            shared.poll,
            subscribed,
        ));
        *guard(&shared.listener) = Some(listener);
        match tokio::time::timeout(COMMAND_TIMEOUT, ready).await {
            Ok(Ok(())) => Ok(RedisLocker { shared }),
            _ => Err(LockError::Unavailable(
                "cannot subscribe to Redis's release channel".into(),
            )),
        }
    }
}

/// Whether `err` means Redis could not be reached (worth a retry later),
/// rather than that it refused what was asked.
fn is_unreachable(err: &redis::RedisError) -> bool {
    err.is_io_error()
        || err.is_timeout()
        || err.is_connection_dropped()
        || err.is_connection_refusal()
}

fn locker_error(err: redis::RedisError) -> LockError {
    if is_unreachable(&err) {
        LockError::Unavailable(err.into())
    } else {
        LockError::Other(err.into())
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

/// Runs `command` on `conn`, once more if the first try met a connection
/// that dropped (after an outage, the first command reports the failed
/// reconnect and the next one reconnects).
async fn with_retry<T, F, Fut>(conn: &ConnectionManager, mut command: F) -> Result<T, LockError>
where
    F: FnMut(ConnectionManager) -> Fut,
    Fut: std::future::Future<Output = redis::RedisResult<T>>,
{
    match command(conn.clone()).await {
        Err(e) if is_unreachable(&e) => command(conn.clone()).await.map_err(locker_error),
        outcome => outcome.map_err(locker_error),
    }
}

/// Carries the release and unlock messages to this instance's holders and
/// waiters, subscribing again whenever the connection drops or stops
/// answering pings. Ends with the locker.
async fn listen(
    shared: Weak<Shared>,
    client: redis::Client,
    keys: Keys,
    retry: Duration,
    subscribed: oneshot::Sender<()>,
) {
    let mut subscribed = Some(subscribed);
    loop {
        if let Ok(Ok(mut pubsub)) =
            tokio::time::timeout(COMMAND_TIMEOUT, client.get_async_pubsub()).await
            && pubsub
                .subscribe(&[keys.release.as_str(), keys.unlocked.as_str()])
                .await
                .is_ok()
        {
            if let Some(tx) = subscribed.take() {
                let _ = tx.send(());
            }
            // Waiters may have missed an unlock while no one listened.
            if let Some(shared) = shared.upgrade() {
                shared.table.wake_every_waiter();
            }
            let (mut sink, mut messages) = pubsub.split();
            let mut ping = tokio::time::interval(PING_EVERY);
            loop {
                let next = std::future::poll_fn(|cx| {
                    futures_core::Stream::poll_next(std::pin::Pin::new(&mut messages), cx)
                });
                let message = tokio::select! {
                    message = next => message,
                    _ = ping.tick() => {
                        // A half-open connection delivers nothing and says
                        // nothing: a ping unanswered ends it.
                        let pong = tokio::time::timeout(COMMAND_TIMEOUT, sink.ping::<redis::Value>());
                        if matches!(pong.await, Ok(Ok(_))) {
                            continue;
                        }
                        None
                    }
                };
                let Some(message) = message else { break };
                let Some(shared) = shared.upgrade() else {
                    return;
                };
                let Ok(id) = message.get_payload::<String>() else {
                    continue;
                };
                if message.get_channel_name() == keys.release {
                    shared.table.ask_holder(&id);
                } else {
                    shared.table.wake_waiters(&id);
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
    /// One attempt: the lock, or `None` when another holds it. Runs on a
    /// task of its own, so that a request that gives up waiting never
    /// leaves a lock taken in Redis behind: a lock taken after all is let
    /// go at once.
    async fn try_acquire(self: &Arc<Self>, id: &str) -> Result<Option<UploadLock>, LockError> {
        let (shared, id) = (self.clone(), id.to_owned());
        tokio::spawn(async move { shared.attempt(&id).await })
            .await
            .map_err(|e| LockError::Other(e.into()))?
    }

    async fn attempt(self: &Arc<Self>, id: &str) -> Result<Option<UploadLock>, LockError> {
        let owner = format!(
            "{}:{}",
            self.instance,
            self.next_owner.fetch_add(1, Ordering::Relaxed)
        );
        let sent = Instant::now();
        let key = self.keys.lock(id);
        let taken = with_retry(&self.conn, |mut conn| {
            let mut acquire = ACQUIRE_SCRIPT.key(&key);
            acquire
                .key(&self.keys.fencing)
                .arg(&owner)
                .arg(millis(self.lease));
            async move { acquire.invoke_async::<u64>(&mut conn).await }
        })
        .await;
        match taken {
            Ok(0) => Ok(None),
            Ok(token) => Ok(Some(self.held_lock(id, owner, token, sent))),
            Err(e) => {
                // The answer may have been lost after Redis took the lock.
                self.free(id, &owner).await;
                Err(e)
            }
        }
    }

    /// Frees upload `id`'s lock if `owner` holds it, telling the waiters.
    async fn free(&self, id: &str, owner: &str) {
        let mut conn = self.conn.clone();
        let mut release = RELEASE_SCRIPT.key(self.keys.lock(id));
        release.arg(owner).arg(&self.keys.unlocked).arg(id);
        let released =
            tokio::time::timeout(COMMAND_TIMEOUT, release.invoke_async::<u64>(&mut conn));
        // Unreachable, the lock expires with its lease.
        if let Ok(Err(e)) = released.await {
            tracing::warn!(upload = %id, "cannot free the lock in Redis: {e}");
        }
    }

    fn held_lock(
        self: &Arc<Self>,
        id: &str,
        owner: String,
        token: u64,
        sent: Instant,
    ) -> UploadLock {
        let release = Signal::new();
        let lost = Signal::new();
        let let_go = Signal::new();
        let lease = Lease::new(Duration::ZERO);
        lease.extend_to(sent + self.valid_for());
        self.table.hold(id, &owner, release.clone());
        tokio::spawn(renew(
            self.clone(),
            id.to_owned(),
            owner.clone(),
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
                Box::pin(async move { shared.free(&id, &owner).await })
            }),
        )
        .with_lease(lease)
    }

    /// How long a confirmed renewal keeps the lock, on this clock: the
    /// lease less a margin for the two clocks' drift.
    fn valid_for(&self) -> Duration {
        self.lease - self.lease / 10
    }
}

/// Renews a held lock's lease until it is let go. A renewal that fails is
/// tried again until the lease runs out; the lock is lost then, or at once
/// when Redis says it is no longer this holder's.
async fn renew(
    shared: Arc<Shared>,
    id: String,
    owner: String,
    lease: Lease,
    lost: Signal,
    let_go: Signal,
) {
    let key = shared.keys.lock(&id);
    let why = 'renewing: loop {
        tokio::select! {
            () = let_go.raised() => return,
            () = tokio::time::sleep(shared.renew_every) => {}
        }
        loop {
            let sent = Instant::now();
            let mut conn = shared.conn.clone();
            let mut renew_script = RENEW_SCRIPT.key(&key);
            renew_script.arg(&owner).arg(millis(shared.lease));
            let renewal = renew_script.invoke_async::<u64>(&mut conn);
            match tokio::time::timeout_at(lease.valid_until(), renewal).await {
                Ok(Ok(1)) if !lease.has_run_out() => {
                    lease.extend_to(sent + shared.valid_for());
                    break;
                }
                Ok(Ok(_)) => break 'renewing "the upload's lock in Redis was lost".to_owned(),
                Err(_) => break 'renewing "the lock's lease ran out unrenewed".to_owned(),
                Ok(Err(e)) if lease.has_run_out() => {
                    break 'renewing format!("the lock's lease ran out unrenewed: {e}");
                }
                Ok(Err(e)) => {
                    tracing::debug!(upload = %id, "cannot renew the lock yet: {e}");
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
    tracing::warn!(upload = %id, "{why}");
    lease.end();
    lost.raise();
    shared.table.forget(&id, &owner);
}

#[async_trait]
impl Locker for RedisLocker {
    async fn lock(
        &self,
        id: &str,
        mode: LockMode,
        timeout: Duration,
    ) -> Result<UploadLock, LockError> {
        let shared = &self.shared;
        let ask = || {
            with_retry(&shared.conn, |mut conn| async move {
                redis::cmd("PUBLISH")
                    .arg(&shared.keys.release)
                    .arg(id)
                    .query_async::<u64>(&mut conn)
                    .await
                    .map(drop)
            })
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
