mod appender;
mod info_file;
mod upload;

use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use async_trait::async_trait;

use self::upload::FileUpload;
use super::tusd_info::InfoFile;
use super::{DataStore, Extensions, Upload};
use crate::composer::StoreComposer;
use crate::error::StoreError;
use crate::id::is_plain_id;
use crate::info::FileInfo;

/// When a [`FileStore`] makes data durable with `fdatasync`.
///
/// `.info` changes (creation, declared lengths, concatenation, finishing)
/// are synced, with their folder, under every policy but
/// [`Never`](SyncPolicy::Never).
///
/// ```
/// use tower_tus::store::SyncPolicy;
///
/// assert_eq!(SyncPolicy::default(), SyncPolicy::EachWrite);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum SyncPolicy {
    /// Every PATCH's bytes are on disk before it is answered: an
    /// acknowledged byte survives a crash of the machine.
    #[default]
    EachWrite,
    /// Data is synced once, when the upload finishes: a crash of the
    /// machine may lose acknowledged bytes of unfinished uploads (the
    /// client resumes from the offset it finds), never of finished ones.
    AtFinish,
    /// Nothing is synced, as tusd does: the operating system writes back
    /// when it likes. A crash of the process loses nothing; a crash of the
    /// machine may lose recent bytes and recent `.info` changes.
    Never,
}

/// Uploads in a folder, in tusd's layout.
///
/// `<dir>/<id>` holds the bytes and `<dir>/<id>.info` the upload's JSON with
/// tusd's field names, so folders written by tusd are served and the other
/// way round. An upload's offset is its data file's length. A body that
/// must be verified is staged in `<dir>/<id>.chunk` and appended only once
/// verified; a concatenation is written to `<dir>/<id>.concat` and renamed
/// into place, so a final upload holds all its bytes or none. `.info`
/// rewrites are atomic (a unique temporary file, renamed) and serialized
/// across processes with a lock on the data file. It offers every
/// extension.
///
/// ```
/// use tower_tus::{StoreComposer, store::{FileStore, SyncPolicy}};
///
/// let dir = tempfile::tempdir().unwrap();
/// let mut composer = StoreComposer::new();
/// FileStore::new(dir.path()).sync(SyncPolicy::AtFinish).use_in(&mut composer);
/// assert!(composer.capabilities().termination);
/// ```
#[derive(Clone, Debug)]
pub struct FileStore {
    dir: PathBuf,
    sync: SyncPolicy,
}

impl FileStore {
    /// A store over `dir`, created on the first upload if missing.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        FileStore {
            dir: dir.into(),
            sync: SyncPolicy::default(),
        }
    }

    /// When data is synced to disk.
    #[must_use]
    pub fn sync(mut self, policy: SyncPolicy) -> Self {
        self.sync = policy;
        self
    }

    /// The folder holding the uploads.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Registers this store with `composer`.
    pub fn use_in(&self, composer: &mut StoreComposer) {
        composer.use_core(self.clone());
    }

    pub(super) fn path(&self, id: &str, extension: &str) -> Result<PathBuf, StoreError> {
        // Handlers validate ids already; a store used on its own checks too.
        if !is_plain_id(id) {
            return Err(StoreError::NotFound);
        }
        let mut name = id.to_owned();
        if !extension.is_empty() {
            name.push('.');
            name.push_str(extension);
        }
        Ok(self.dir.join(name))
    }

    fn sync_meta(&self) -> bool {
        self.sync != SyncPolicy::Never
    }

    /// Reads upload `id` from its `.info` and data file.
    fn load(&self, id: &str) -> Result<FileInfo, StoreError> {
        let json = std::fs::read(self.path(id, "info")?).map_err(not_found_or)?;
        let (mut info, finished) = InfoFile::parse(id, &json)?;
        // The data file is the truth about how much arrived, and when.
        let data = std::fs::metadata(self.path(id, "")?).map_err(not_found_or)?;
        info.offset = data.len();
        info.updated_at = data.modified().ok().or(info.created_at);
        info.finished = finished.unwrap_or_else(|| info.is_complete());
        Ok(info)
    }
}

pub(super) fn not_found_or(err: io::Error) -> StoreError {
    if err.kind() == io::ErrorKind::NotFound {
        StoreError::NotFound
    } else {
        StoreError::Io(err)
    }
}

/// Runs file work that may wait on the disk (a sync, a big copy, creating
/// or removing files, which may wait for the file system's inode allocator)
/// on the blocking pool, and the rest (reads of cached metadata and small
/// files, small writes to open files) in place: a trip to the pool and back
/// costs more than such calls.
async fn on_disk<T: Send + 'static>(
    slow: bool,
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    if !slow {
        return f();
    }
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Other(e.into()))?
}

#[async_trait]
impl DataStore for FileStore {
    async fn new_upload(&self, mut info: FileInfo) -> Result<Box<dyn Upload>, StoreError> {
        let data_path = self.path(&info.id, "")?;
        let info_path = self.path(&info.id, "info")?;
        info.offset = 0;
        info.finished = false;
        info.created_at.get_or_insert_with(SystemTime::now);
        info.storage.insert("Type".into(), "filestore".into());
        info.storage
            .insert("Path".into(), data_path.display().to_string());
        info.storage
            .insert("InfoPath".into(), info_path.display().to_string());
        let json = InfoFile::to_json(&info)?;
        let (dir, sync) = (self.dir.clone(), self.sync_meta());
        on_disk(true, move || {
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            match options.open(&data_path) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    std::fs::create_dir_all(&dir)?;
                    options.open(&data_path)?;
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    return Err(StoreError::Conflict("upload already exists".into()));
                }
                Err(e) => return Err(e.into()),
            }
            info_file::create(&info_path, &json, sync)?;
            Ok(())
        })
        .await?;
        info.updated_at = info.created_at;
        Ok(Box::new(FileUpload::new(self.clone(), info)))
    }

    async fn get_upload(&self, id: &str) -> Result<Box<dyn Upload>, StoreError> {
        let store = self.clone();
        let id = id.to_owned();
        let info = on_disk(false, move || store.load(&id)).await?;
        Ok(Box::new(FileUpload::new(self.clone(), info)))
    }

    fn extensions(&self) -> Extensions {
        Extensions::all()
    }

    async fn list_uploads(&self) -> Result<Vec<String>, StoreError> {
        let mut entries = match tokio::fs::read_dir(&self.dir).await {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let mut ids = Vec::new();
        while let Some(entry) = entries.next_entry().await? {
            let name = entry.file_name();
            if let Some(id) = name.to_str().and_then(|n| n.strip_suffix(".info"))
                && is_plain_id(id)
            {
                ids.push(id.to_owned());
            }
        }
        ids.sort();
        Ok(ids)
    }
}
