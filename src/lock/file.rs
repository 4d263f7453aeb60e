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

/// How often a waiting request looks at the lock file again.
const ACQUIRER_POLL: Duration = Duration::from_millis(50);
/// How often a holder looks for a `.stop` request and for its lock file.
const HOLDER_POLL: Duration = Duration::from_millis(100);
/// Lock files that vanish or turn out stale again and again between our
/// looks mean heavy contention; after this many rounds we report the lock
/// as held and let the caller's mode decide.
const LINK_ROUNDS: usize = 8;

/// Upload locks as files in a folder, the way tusd v2's filelocker keeps
/// them, so this crate and tusd processes over one folder exclude each
/// other.
///
/// Upload `id` is locked while `<dir>/<id>.lock` exists; it holds the PID of
/// the holding process in decimal and a newline. A lock is taken by writing
/// that PID to a temporary file and hard-linking it to the lock file's name,
/// which fails atomically if the name is taken.
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
///   that no locker of this process holds is a leftover of an earlier
///   process with the same PID, and is stale too.
/// - **Lost locks**: a holder whose lock file is removed or replaced gets
///   its [`lost`](UploadLock::lost) signal raised.
/// - **Same machine only**: PIDs mean nothing to another host, so the folder
///   must not be shared between machines (over NFS, say).
/// - **Known limit, as in tusd**: when two processes find the same dead
///   holder's lock at the same instant, one may remove the lock the other
///   has just taken in its place (the file name cannot be removed only if it
///   still is the dead one). The owner is checked again right before the
///   removal, which narrows this to a moment after a crash.
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
    held: Arc<Mutex<HashMap<String, Holder>>>,
}

/// What [`Locker::release_all`] needs of a lock this instance handed out.
#[derive(Debug)]
struct Holder {
    token: u64,
    release: Signal,
}

/// Which file a path named when we looked: a lock file removed and created
/// again under the same name is another lock.
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

#[derive(Clone, Debug)]
struct Paths {
    lock: PathBuf,
    stop: PathBuf,
}

impl Paths {
    fn new(dir: &Path, id: &str) -> Self {
        Paths {
            lock: dir.join(format!("{id}.lock")),
            stop: dir.join(format!("{id}.stop")),
        }
    }
}

// The lock files this process holds, with the fencing token of their
// holder. A lock file carrying our own PID is alive only if it is in here;
// keyed by file identity rather than by path so that two spellings of one
// folder agree, and so that a holder that lost its file cannot unregister
// the file of the holder that came after it.
static HELD: LazyLock<Mutex<HashMap<FileId, u64>>> = LazyLock::new(|| Mutex::new(HashMap::new()));

// Fencing tokens are wall-clock nanoseconds, so they grow across processes
// too; this keeps them growing within one process when the clock stalls or
// steps back.
static LAST_TOKEN: AtomicU64 = AtomicU64::new(0);

fn registry() -> MutexGuard<'static, HashMap<FileId, u64>> {
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

impl FileLocker {
    /// A locker keeping its lock files in `dir`, created when first needed.
    /// Point it at the file store's folder to share locks with tusd.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        FileLocker {
            dir: dir.into(),
            held: Arc::default(),
        }
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

    /// Wraps a freshly taken lock file: watches it, and lets go of it when
    /// the [`UploadLock`] is released or dropped.
    fn hold(&self, id: &str, paths: Paths, file: FileId, token: u64) -> UploadLock {
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
            file,
            token,
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
            Box::pin(async move {
                let _ = tokio::task::spawn_blocking(move || unlock(&paths, file, token)).await;
            })
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
        let paths = Paths::new(&self.dir, id);
        // No deadline at all when `timeout` reaches past what an Instant holds.
        let deadline = Instant::now().checked_add(timeout);
        loop {
            let (dir, owned_id, owned_paths) = (self.dir.clone(), id.to_owned(), paths.clone());
            let take_over = mode == LockMode::TakeOver;
            // File system calls may take a while on a busy disk: off the
            // runtime's threads.
            let (tx, rx) = tokio::sync::oneshot::channel();
            tokio::task::spawn_blocking(move || {
                let result = match attempt(&dir, &owned_id, &owned_paths, take_over) {
                    Err(e) if e.kind() == io::ErrorKind::NotFound => fs::create_dir_all(&dir)
                        .and_then(|()| attempt(&dir, &owned_id, &owned_paths, take_over)),
                    other => other,
                };
                // Nobody waits any more (the request was dropped): a lock
                // taken for nobody is let go at once, not left held.
                if let Err(Ok(Attempt::Acquired { file, token })) = tx.send(result) {
                    unlock(&owned_paths, file, token);
                }
            });
            let result = rx.await.map_err(|e| LockError::Other(e.into()))?;
            match result.map_err(other)? {
                Attempt::Acquired { file, token } => return Ok(self.hold(id, paths, file, token)),
                Attempt::Held if mode == LockMode::Try => return Err(LockError::Busy),
                Attempt::Held => {}
            }
            let pause = match deadline {
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(LockError::Timeout);
                    }
                    ACQUIRER_POLL.min(left)
                }
                None => ACQUIRER_POLL,
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
    Acquired { file: FileId, token: u64 },
    Held,
}

/// One try at the lock file: take it if free or stale, else (for a
/// take-over) ask its live holder to let go.
fn attempt(dir: &Path, id: &str, paths: &Paths, take_over: bool) -> io::Result<Attempt> {
    for _ in 0..LINK_ROUNDS {
        if let Some((file, token)) = link(dir, id, &paths.lock)? {
            // A `.stop` left over was meant for an earlier holder; requesters
            // that still want the lock create it again as they poll.
            let _ = fs::remove_file(&paths.stop);
            return Ok(Attempt::Acquired { file, token });
        }
        match owner(&paths.lock)? {
            Owner::Changed => {}
            Owner::Alive => {
                if take_over {
                    File::create(&paths.stop)?;
                }
                return Ok(Attempt::Held);
            }
            Owner::Dead(file) => {
                // Only the stale file we judged: another acquirer may have
                // replaced it meanwhile, possibly under the same inode
                // number, so look at its owner once more right before.
                if identity(&paths.lock)? == Some(file)
                    && matches!(owner(&paths.lock)?, Owner::Dead(again) if again == file)
                {
                    remove_if_exists(&paths.lock)?;
                }
            }
        }
    }
    Ok(Attempt::Held)
}

/// Forgets a lock file of this process, unless its identity now belongs to
/// a newer lock: a freed inode number is soon given to the next file.
fn unregister(file: FileId, token: u64) {
    let mut held = registry();
    if held.get(&file) == Some(&token) {
        held.remove(&file);
    }
}

/// Removes a temporary file however its function ends.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

/// Tries to create the lock file atomically; its identity and fencing
/// token if we did.
fn link(dir: &Path, id: &str, lock: &Path) -> io::Result<Option<(FileId, u64)>> {
    let path = dir.join(format!("{id}.lock.{}", random_hex()?));
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)?;
    let tmp = TempFile(path);
    // Written in full before the lock file's name exists, so nobody reads a
    // partial PID and takes it for a dead owner.
    file.write_all(format!("{}\n", std::process::id()).as_bytes())?;
    let ours = FileId::of(&file.metadata()?);
    drop(file);
    // Registered before its name exists: a locker of this process that reads
    // our PID from the lock file then finds it held, not stale.
    let token = next_token();
    registry().insert(ours, token);
    let linked = fs::hard_link(&tmp.0, lock);
    // A link may report failure although it took effect (over NFS, say):
    // what the lock file's name points at decides.
    let taken = identity(lock).map(|at| at == Some(ours));
    if let Ok(true) = taken {
        return Ok(Some((ours, token)));
    }
    unregister(ours, token);
    taken?;
    match linked {
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => Err(e),
        _ => Ok(None),
    }
}

fn random_hex() -> io::Result<String> {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).map_err(|e| io::Error::other(e.to_string()))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

enum Owner {
    Alive,
    Dead(FileId),
    /// The lock file vanished or was replaced while we looked.
    Changed,
}

fn owner(lock: &Path) -> io::Result<Owner> {
    let Some(file) = identity(lock)? else {
        return Ok(Owner::Changed);
    };
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
        Some(pid) if pid == std::process::id() => registry().contains_key(&file),
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

/// Whether the lock file still is the one we created: same identity, and
/// still our PID, since a file created after ours was removed may reuse its
/// inode number.
fn is_ours(lock: &Path, file: FileId) -> io::Result<bool> {
    if identity(lock)? != Some(file) {
        return Ok(false);
    }
    Ok(
        read_if_exists(lock)?
            .is_some_and(|content| parse_pid(&content) == Some(std::process::id())),
    )
}

/// Whether this holder still holds its lock; `None` when the folder could
/// not be read, which proves nothing.
fn still_held(lock: &Path, file: FileId, token: u64) -> Option<bool> {
    let held = registry();
    if held.get(&file) != Some(&token) {
        return Some(false);
    }
    is_ours(lock, file).ok()
}

/// The holder's side: turns a `.stop` file into a release request and a
/// vanished or replaced lock file into a lost lock.
async fn watch(
    paths: Paths,
    file: FileId,
    token: u64,
    release: Signal,
    lost: Signal,
    released: Arc<AtomicBool>,
) {
    loop {
        // Sleeping first gives a holder that took over a moment to see its
        // predecessor remove the `.stop` that asked for the lock.
        tokio::time::sleep(HOLDER_POLL).await;
        if released.load(Ordering::SeqCst) {
            return;
        }
        if !release.is_raised() && paths.stop.exists() {
            release.raise();
        }
        if still_held(&paths.lock, file, token) == Some(false) {
            if !released.load(Ordering::SeqCst) {
                lost.raise();
            }
            return;
        }
    }
}

/// Lets go of a lock file, unless it was lost to someone else.
fn unlock(paths: &Paths, file: FileId, token: u64) {
    if registry().get(&file) == Some(&token) {
        match is_ours(&paths.lock, file) {
            Ok(true) => {
                if let Err(e) = remove_if_exists(&paths.lock) {
                    // Other processes now see it held by us until we exit.
                    tracing::warn!(path = %paths.lock.display(), error = %e, "could not remove lock file");
                }
            }
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(path = %paths.lock.display(), error = %e, "could not check lock file")
            }
        }
        // Only once the file is gone: until then, lockers of this process
        // reading our PID from it must find it held.
        unregister(file, token);
    }
    let _ = fs::remove_file(&paths.stop);
}
