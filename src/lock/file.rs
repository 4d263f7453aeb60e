use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::future::Future;
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use tokio::time::Instant;

use super::{LockError, LockMode, Locker, Signal, Unlock, UploadLock};
use crate::composer::StoreComposer;
use crate::id::is_valid_id;

/// How often a waiting request looks at the lock file again, by default.
const ACQUIRER_POLL: Duration = Duration::from_millis(50);
/// How often a holder looks for a `.stop` request and for its lock file, by default.
const HOLDER_POLL: Duration = Duration::from_millis(100);
/// Lock files that vanish or turn out stale again and again between our
/// looks mean heavy contention; after this many rounds we report the lock
/// as held and let the caller's mode decide.
const LINK_ROUNDS: usize = 8;
/// The name of a process's source file, before its PID.
const SOURCE_PREFIX: &str = ".tusd-lock.";

/// Upload locks as files in a folder, the way tusd v2's filelocker keeps
/// them, so this crate and tusd processes over one folder exclude each
/// other.
///
/// Upload `id` is locked while `<dir>/<id>.lock` exists; it holds the PID of
/// the holding process in decimal and a newline. A lock is taken by
/// hard-linking a file holding that PID to the lock file's name, which fails
/// atomically if the name is taken. Each process links one source file of
/// its own (`<dir>/.tusd-lock.<pid>`) for all its locks, so taking and
/// releasing a lock creates and frees no inode, and a lock file is this
/// process's exactly when it is that file.
///
/// - **Take-over**: a [`LockMode::TakeOver`] request finding the lock held
///   creates `<dir>/<id>.stop`. Holders look for it every 100 ms and raise
///   their [`release_requested`](UploadLock::release_requested) signal;
///   acquirers look at the lock every 50 ms, so a reconnecting client
///   takes an upload over within a second of its old request answering.
///   The holder removes the `.stop` file when it lets go.
/// - **Dead holders**: a lock file whose PID is invalid or names no running
///   process (per `/proc`) is removed and taken at once, so a crashed
///   server leaves no upload locked. A lock file with this process's own PID
///   that is not linked to this process's source file is a leftover of an
///   earlier process with the same PID, and is stale too.
/// - **Lost locks**: a holder whose lock file is removed or replaced gets
///   its [`lost`](UploadLock::lost) signal raised.
/// - **Same machine only**: PIDs mean nothing to another host, so the folder
///   must not be shared between machines (over NFS, say).
/// - **Known limit, as in tusd**: when two processes find the same dead
///   holder's lock at the same instant, one may remove the lock the other
///   has just taken in its place (the file name cannot be removed only if it
///   still is the dead one). The owner is checked again right before the
///   removal, and since every process's lock files share one inode of
///   its own, a live lock is never mistaken for the dead one it replaced.
///
/// Every `FileLocker` of a process over the same folder excludes the others,
/// as do other processes.
///
/// ```
/// use std::time::Duration;
/// use tower_tus::lock::{FileLocker, LockError, LockMode, Locker};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let dir = tempfile::tempdir().unwrap();
/// let first = FileLocker::new(dir.path());
/// let second = FileLocker::new(dir.path()); // another server over the same folder
///
/// let held = first.lock("abc", LockMode::Try, Duration::ZERO).await.unwrap();
/// let pid = std::fs::read_to_string(dir.path().join("abc.lock")).unwrap();
/// assert_eq!(pid, format!("{}\n", std::process::id()));
///
/// let busy = second.lock("abc", LockMode::Try, Duration::ZERO).await;
/// assert!(matches!(busy, Err(LockError::Busy)));
///
/// held.release().await;
/// let mine = second.lock("abc", LockMode::Try, Duration::ZERO).await.unwrap();
/// mine.release().await;
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct FileLocker {
    dir: PathBuf,
    holder_poll: Duration,
    acquirer_poll: Duration,
    held: Arc<Mutex<HashMap<String, Holder>>>,
    /// The folder's canonical path, once it exists.
    canonical: Arc<Mutex<Option<PathBuf>>>,
}

/// What [`Locker::release_all`] needs of a lock this instance handed out.
#[derive(Debug)]
struct Holder {
    token: u64,
    release: Signal,
}

/// Which file a path named when we looked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct FileId {
    dev: u64,
    ino: u64,
}

impl FileId {
    fn of(meta: &fs::Metadata) -> Self {
        FileId {
            dev: meta.dev(),
            ino: meta.ino(),
        }
    }
}

/// Where one upload's lock lives, for one folder of this process.
#[derive(Clone, Debug)]
struct Paths {
    lock: PathBuf,
    stop: PathBuf,
    source: FileId,
}

/// This process's source file in a folder: the one file all its lock files
/// in that folder are hard links to.
#[derive(Clone, Debug)]
struct Source {
    id: FileId,
    /// Kept open for the life of the process, so its inode number is never
    /// given to another file while any lock file of ours may name it.
    _file: Arc<File>,
}

// Per folder (canonical path): this process's source file there. Sources
// replaced because their file vanished stay open in `RETIRED`.
static SOURCES: LazyLock<Mutex<HashMap<PathBuf, Source>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));
static RETIRED: LazyLock<Mutex<Vec<Source>>> = LazyLock::new(|| Mutex::new(Vec::new()));

/// Whether `file` is a source file this process made: kept open, their
/// inode numbers are this process's alone.
fn is_our_source(file: FileId) -> bool {
    SOURCES
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .values()
        .any(|s| s.id == file)
        || RETIRED
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .any(|s| s.id == file)
}

// The lock files this process holds (canonical path), with the fencing
// token of their holder: a holder lets go of its file only while it is
// still the one registered, not after it lost the lock to a successor.
static HELD: LazyLock<Mutex<HashMap<PathBuf, u64>>> = LazyLock::new(|| Mutex::new(HashMap::new()));

// Fencing tokens are wall-clock nanoseconds, so they grow across processes
// too; this keeps them growing within one process when the clock stalls or
// steps back.
static LAST_TOKEN: AtomicU64 = AtomicU64::new(0);

fn held_files() -> MutexGuard<'static, HashMap<PathBuf, u64>> {
    HELD.lock().unwrap_or_else(|e| e.into_inner())
}

fn next_token() -> u64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0);
    let previous = LAST_TOKEN
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |last| {
            Some(now.max(last.saturating_add(1)))
        })
        .unwrap_or_else(|last| last);
    now.max(previous.saturating_add(1))
}

/// This process's source file in the canonical folder `dir`, made on first
/// use and made anew when it vanished. A source file left by a dead process
/// is removed then (its lock files keep their own links, and are judged by
/// their PID).
fn source(dir: &Path) -> io::Result<FileId> {
    let mut sources = SOURCES.lock().unwrap_or_else(|e| e.into_inner());
    let ours = dir.join(format!("{SOURCE_PREFIX}{}", std::process::id()));
    if let Some(source) = sources.get(dir)
        && identity(&ours)? == Some(source.id)
    {
        return Ok(source.id);
    }
    if let Some(gone) = sources.remove(dir) {
        RETIRED.lock().unwrap_or_else(|e| e.into_inner()).push(gone);
    }
    let pid = std::process::id();
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name();
        let Some(owner) = name
            .to_str()
            .and_then(|n| n.strip_prefix(SOURCE_PREFIX))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        // Our own PID on a source file this process does not know is an
        // earlier process's.
        if owner == pid || !process_exists(owner) {
            let _ = fs::remove_file(dir.join(&name));
        }
    }
    let path = dir.join(format!("{SOURCE_PREFIX}{pid}"));
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)?;
    // Not synced: a lock means nothing after a crash of the machine.
    file.write_all(format!("{pid}\n").as_bytes())?;
    let id = FileId::of(&file.metadata()?);
    sources.insert(
        dir.to_owned(),
        Source {
            id,
            _file: Arc::new(file),
        },
    );
    Ok(id)
}

impl FileLocker {
    /// A locker keeping its lock files in `dir`, created when first needed.
    /// Point it at the file store's folder to share locks with tusd.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        FileLocker {
            dir: dir.into(),
            holder_poll: HOLDER_POLL,
            acquirer_poll: ACQUIRER_POLL,
            held: Arc::default(),
            canonical: Arc::default(),
        }
    }

    /// How often a holder looks for a release request from another process
    /// (default 100 ms, tusd's `-filelock-holder-poll-interval`). A client
    /// reconnecting elsewhere waits up to this long for its old request to let go.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_tus::lock::FileLocker;
    ///
    /// let locker = FileLocker::new("./uploads")
    ///     .holder_poll_interval(Duration::from_millis(250))
    ///     .acquirer_poll_interval(Duration::from_millis(100));
    /// # let _ = locker;
    /// ```
    #[must_use]
    pub fn holder_poll_interval(mut self, every: Duration) -> Self {
        self.holder_poll = every.max(Duration::from_millis(1));
        self
    }

    /// How often a request waiting for a lock held by another process looks
    /// again (default 50 ms, tusd's `-filelock-acquirer-poll-interval`).
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_tus::lock::FileLocker;
    ///
    /// let locker = FileLocker::new("./uploads").acquirer_poll_interval(Duration::from_millis(20));
    /// # let _ = locker;
    /// ```
    #[must_use]
    pub fn acquirer_poll_interval(mut self, every: Duration) -> Self {
        self.acquirer_poll = every.max(Duration::from_millis(1));
        self
    }

    /// Registers this locker with `composer`.
    ///
    /// ```
    /// use tower_tus::{StoreComposer, lock::FileLocker, store::MemoryStore};
    ///
    /// let mut composer = StoreComposer::new();
    /// MemoryStore::new().use_in(&mut composer);
    /// FileLocker::new("./uploads").use_in(&mut composer);
    /// assert!(composer.capabilities().locker);
    /// ```
    pub fn use_in(&self, composer: &mut StoreComposer) {
        composer.use_locker(self.clone());
    }

    /// The folder holding the lock files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// One try at upload `id`'s lock file.
    fn attempt(&self, id: &str, take_over: bool) -> io::Result<(Paths, Attempt)> {
        let dir = {
            let mut canonical = self.canonical.lock().unwrap_or_else(|e| e.into_inner());
            match &*canonical {
                Some(dir) => dir.clone(),
                None => {
                    fs::create_dir_all(&self.dir)?;
                    let dir = fs::canonicalize(&self.dir)?;
                    *canonical = Some(dir.clone());
                    dir
                }
            }
        };
        // Looked up on every try: another locker of this process may have
        // made the source anew since.
        let source = source(&dir)?;
        let paths = Paths {
            lock: dir.join(format!("{id}.lock")),
            stop: dir.join(format!("{id}.stop")),
            source,
        };
        let attempt = attempt(&dir, &paths, take_over)?;
        Ok((paths, attempt))
    }

    /// Wraps a freshly taken lock file: watches it, and lets go of it when
    /// the [`UploadLock`] is released or dropped.
    fn hold(&self, id: &str, paths: Paths, token: u64) -> UploadLock {
        let release = Signal::new();
        let lost = Signal::new();
        let released = Arc::new(AtomicBool::new(false));
        self.held.lock().unwrap_or_else(|e| e.into_inner()).insert(
            id.to_owned(),
            Holder {
                token,
                release: release.clone(),
            },
        );
        let watcher = tokio::spawn(watch(
            paths.clone(),
            token,
            self.holder_poll,
            release.clone(),
            lost.clone(),
            released.clone(),
        ));
        let held = self.held.clone();
        let id = id.to_owned();
        let unlock_fn: Unlock = Box::new(move || -> Pin<Box<dyn Future<Output = ()> + Send>> {
            // Set before the file goes, so the watcher does not take our
            // own removal for a lost lock.
            released.store(true, Ordering::SeqCst);
            watcher.abort();
            {
                let mut held = held.lock().unwrap_or_else(|e| e.into_inner());
                if held.get(&id).is_some_and(|h| h.token == token) {
                    held.remove(&id);
                }
            }
            // At once, so that dropping the lock frees it at once.
            unlock(&paths, token);
            Box::pin(async {})
        });
        UploadLock::new(release, lost, token, unlock_fn)
    }
}

#[async_trait]
impl Locker for FileLocker {
    async fn lock(
        &self,
        id: &str,
        mode: LockMode,
        timeout: Duration,
    ) -> Result<UploadLock, LockError> {
        if !is_valid_id(id) {
            return Err(LockError::Other("invalid upload id".into()));
        }
        // No deadline at all when `timeout` reaches past what an Instant holds.
        let deadline = Instant::now().checked_add(timeout);
        let take_over = mode == LockMode::TakeOver;
        loop {
            // A few metadata calls on one folder, cheaper where they are than
            // handed to another thread and back; and nothing runs on after
            // this request is dropped, so no lock is ever taken for nobody.
            let result = match self.attempt(id, take_over) {
                // The folder or our source file went away: make them anew.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    *self.canonical.lock().unwrap_or_else(|e| e.into_inner()) = None;
                    self.attempt(id, take_over)
                }
                other => other,
            };
            match result.map_err(other)? {
                (paths, Attempt::Acquired { token }) => return Ok(self.hold(id, paths, token)),
                (_, Attempt::Held) if mode == LockMode::Try => return Err(LockError::Busy),
                (_, Attempt::Held) => {}
            }
            let pause = match deadline {
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(LockError::Timeout);
                    }
                    self.acquirer_poll.min(left)
                }
                None => self.acquirer_poll,
            };
            tokio::time::sleep(pause).await;
        }
    }

    fn release_all(&self) {
        let held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        for holder in held.values() {
            holder.release.raise();
        }
    }
}

fn other(e: io::Error) -> LockError {
    LockError::Other(Box::new(e))
}

enum Attempt {
    Acquired { token: u64 },
    Held,
}

/// One try at the lock file: take it if free or stale, else (for a
/// take-over) ask its live holder to let go.
fn attempt(dir: &Path, paths: &Paths, take_over: bool) -> io::Result<Attempt> {
    let source = dir.join(format!("{SOURCE_PREFIX}{}", std::process::id()));
    for _ in 0..LINK_ROUNDS {
        let linked = fs::hard_link(&source, &paths.lock);
        // A link may report failure although it took effect (over NFS,
        // say): what the lock file's name points at decides.
        let at = identity(&paths.lock)?;
        if at == Some(paths.source)
            || at.is_some_and(is_our_source)
            || held_files().contains_key(&paths.lock)
        {
            // Ours only if no other locker of this process holds it; a
            // successful link proves that, a failed one does not.
            if linked.is_ok() && at == Some(paths.source) {
                let token = next_token();
                held_files().insert(paths.lock.clone(), token);
                // A `.stop` left over was meant for an earlier holder;
                // requesters that still want the lock create it again.
                let _ = fs::remove_file(&paths.stop);
                return Ok(Attempt::Acquired { token });
            }
            if take_over {
                File::create(&paths.stop)?;
            }
            return Ok(Attempt::Held);
        }
        match linked {
            Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
            _ => {}
        }
        match owner(&paths.lock, paths.source)? {
            Owner::Changed => {}
            Owner::Alive => {
                if take_over {
                    File::create(&paths.stop)?;
                }
                return Ok(Attempt::Held);
            }
            Owner::Dead(file) => {
                // Only the stale file we judged: another process may have
                // replaced it meanwhile, under its own source's inode.
                if identity(&paths.lock)? == Some(file)
                    && matches!(owner(&paths.lock, paths.source)?, Owner::Dead(again) if again == file)
                {
                    remove_if_exists(&paths.lock)?;
                }
            }
        }
    }
    Ok(Attempt::Held)
}

enum Owner {
    Alive,
    Dead(FileId),
    /// The lock file vanished or was replaced while we looked.
    Changed,
}

/// Who holds the lock file at `lock`, which is not this process's.
fn owner(lock: &Path, ours: FileId) -> io::Result<Owner> {
    let Some(file) = identity(lock)? else {
        return Ok(Owner::Changed);
    };
    // Linked to our source, or held by this process since before our
    // source was made anew.
    if file == ours || is_our_source(file) || held_files().contains_key(lock) {
        return Ok(Owner::Alive);
    }
    let Some(content) = read_if_exists(lock)? else {
        return Ok(Owner::Changed);
    };
    // A file replaced between the two looks would lend its PID to the
    // other's identity, and we would remove a live lock as dead.
    if identity(lock)? != Some(file) {
        return Ok(Owner::Changed);
    }
    let alive = match parse_pid(&content) {
        None => false,
        // Our PID on a file that is not our source: an earlier process's.
        Some(pid) if pid == std::process::id() => false,
        Some(pid) => process_exists(pid),
    };
    Ok(if alive {
        Owner::Alive
    } else {
        Owner::Dead(file)
    })
}

/// The PID in a lock file, if it is one a process could have.
fn parse_pid(content: &[u8]) -> Option<u32> {
    std::str::from_utf8(content)
        .ok()?
        .trim()
        .parse::<u32>()
        .ok()
        .filter(|&pid| pid > 0)
}

fn process_exists(pid: u32) -> bool {
    let proc = Path::new("/proc");
    // Without procfs nothing proves the owner dead, and taking a live
    // holder's lock is worse than waiting for it.
    if !proc.join("self").exists() {
        return true;
    }
    proc.join(pid.to_string()).exists()
}

fn identity(path: &Path) -> io::Result<Option<FileId>> {
    match fs::symlink_metadata(path) {
        Ok(meta) => Ok(Some(FileId::of(&meta))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

fn read_if_exists(path: &Path) -> io::Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(content) => Ok(Some(content)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

fn remove_if_exists(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Whether this holder still holds its lock; `None` when the folder could
/// not be read, which proves nothing.
fn still_held(paths: &Paths, token: u64) -> Option<bool> {
    if held_files().get(&paths.lock) != Some(&token) {
        return Some(false);
    }
    identity(&paths.lock)
        .ok()
        .map(|at| at == Some(paths.source))
}

/// The holder's side: turns a `.stop` file into a release request and a
/// vanished or replaced lock file into a lost lock.
async fn watch(
    paths: Paths,
    token: u64,
    every: Duration,
    release: Signal,
    lost: Signal,
    released: Arc<AtomicBool>,
) {
    loop {
        // Sleeping first gives a holder that took over a moment to see its
        // predecessor remove the `.stop` that asked for the lock.
        tokio::time::sleep(every).await;
        if released.load(Ordering::SeqCst) {
            return;
        }
        if !release.is_raised() && paths.stop.exists() {
            release.raise();
        }
        if still_held(&paths, token) == Some(false) {
            if !released.load(Ordering::SeqCst) {
                lost.raise();
            }
            return;
        }
    }
}

/// Lets go of a lock file, unless it was lost to someone else.
fn unlock(paths: &Paths, token: u64) {
    let mut held = held_files();
    if held.get(&paths.lock) != Some(&token) {
        return;
    }
    // Under the registry's lock: no locker of this process links the name
    // again between our look and our removal.
    match identity(&paths.lock) {
        Ok(Some(at)) if at == paths.source => {
            if let Err(e) = remove_if_exists(&paths.lock) {
                // Other processes now see it held by us until we exit.
                tracing::warn!(path = %paths.lock.display(), error = %e, "could not remove lock file");
            }
        }
        Ok(_) => {}
        Err(e) => {
            tracing::warn!(path = %paths.lock.display(), error = %e, "could not check lock file")
        }
    }
    held.remove(&paths.lock);
    drop(held);
    // Only when there is one: a removal takes the folder's lock in the
    // kernel even when nothing is removed.
    if paths.stop.exists() {
        let _ = fs::remove_file(&paths.stop);
    }
}
