use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;

use super::{
    Concater, DataStore, GetReader, LengthDeferrer, Lister, Terminater, Truncater, UploadReader,
};
use crate::body::UploadBody;
use crate::composer::StoreComposer;
use crate::error::StoreError;
use crate::id::is_valid_id;
use crate::info::FileInfo;
use crate::metadata::Metadata;

/// How many already-arrived bytes are gathered into one disk write.
const MAX_BATCH: usize = 4 * 1024 * 1024;

/// Uploads in a folder, in tusd's layout.
///
/// `<dir>/<id>` holds the bytes and `<dir>/<id>.info` the upload's JSON with
/// tusd's field names, so folders written by tusd are served and the other
/// way round. An upload's offset is its data file's length: whatever
/// reached the disk survives a crash, and a new process over the same folder
/// resumes every upload. It offers every extension.
///
/// ```
/// use tower_tus::{StoreComposer, store::FileStore};
///
/// let dir = tempfile::tempdir().unwrap();
/// let mut composer = StoreComposer::new();
/// FileStore::new(dir.path()).use_in(&mut composer);
/// assert!(composer.capabilities().terminater);
/// ```
#[derive(Clone, Debug)]
pub struct FileStore {
    dir: PathBuf,
}

impl FileStore {
    /// A store over `dir`, created on the first upload if missing.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        FileStore { dir: dir.into() }
    }

    /// The folder holding the uploads.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Registers this store and its extensions with `composer`.
    pub fn use_in(&self, composer: &mut StoreComposer) {
        composer.use_core(self.clone());
        composer.use_terminater(self.clone());
        composer.use_get_reader(self.clone());
        composer.use_concater(self.clone());
        composer.use_length_deferrer(self.clone());
        composer.use_truncater(self.clone());
        composer.use_lister(self.clone());
    }

    fn data_path(&self, id: &str) -> Result<PathBuf, StoreError> {
        // Handlers validate ids already; a store used on its own checks too.
        if !is_valid_id(id) {
            return Err(StoreError::NotFound);
        }
        Ok(self.dir.join(id))
    }

    fn info_path(&self, id: &str) -> Result<PathBuf, StoreError> {
        Ok(self.data_path(id)?.with_extension("info"))
    }

    /// Writes the `.info` of a new upload in place: until the client is
    /// answered nobody knows the id, so a crash mid-write loses nothing, and
    /// it spares a file creation and a rename per upload.
    async fn create_info(&self, info: &FileInfo) -> Result<(), StoreError> {
        let path = self.info_path(&info.id)?;
        let json = serde_json::to_vec(&InfoFile::from_info(info))
            .map_err(|e| StoreError::Other(e.into()))?;
        tokio::task::spawn_blocking(move || {
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)?;
            file.write_all(&json)
        })
        .await
        .map_err(|e| StoreError::Other(e.into()))??;
        Ok(())
    }

    /// Rewrites the `.info` of an existing upload, atomically.
    async fn write_info(&self, info: &FileInfo) -> Result<(), StoreError> {
        let path = self.info_path(&info.id)?;
        let json = serde_json::to_vec(&InfoFile::from_info(info))
            .map_err(|e| StoreError::Other(e.into()))?;
        let tmp = path.with_extension("info.tmp");
        tokio::fs::write(&tmp, json).await?;
        tokio::fs::rename(&tmp, &path).await?;
        Ok(())
    }

    async fn update_info(&self, id: &str, f: impl FnOnce(&mut FileInfo)) -> Result<(), StoreError> {
        let mut info = self.get_info(id).await?;
        f(&mut info);
        self.write_info(&info).await
    }
}

fn not_found_or(err: io::Error) -> StoreError {
    if err.kind() == io::ErrorKind::NotFound {
        StoreError::NotFound
    } else {
        StoreError::Io(err)
    }
}

#[async_trait]
impl DataStore for FileStore {
    async fn new_upload(&self, mut info: FileInfo) -> Result<FileInfo, StoreError> {
        let data_path = self.data_path(&info.id)?;
        let mut options = tokio::fs::OpenOptions::new();
        options.write(true).create_new(true);
        match options.open(&data_path).await {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                tokio::fs::create_dir_all(&self.dir).await?;
                options.open(&data_path).await?;
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                return Err(StoreError::Conflict(format!(
                    "upload {} already exists",
                    info.id
                )));
            }
            Err(e) => return Err(e.into()),
        }
        info.offset = 0;
        info.created_at.get_or_insert_with(SystemTime::now);
        info.storage.insert("Type".into(), "filestore".into());
        info.storage
            .insert("Path".into(), data_path.display().to_string());
        info.storage.insert(
            "InfoPath".into(),
            self.info_path(&info.id)?.display().to_string(),
        );
        self.create_info(&info).await?;
        Ok(info)
    }

    async fn write_chunk(
        &self,
        id: &str,
        offset: u64,
        src: &mut UploadBody,
    ) -> Result<u64, StoreError> {
        let path = self.data_path(id)?;
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(not_found_or)?;
        if file.metadata()?.len() != offset {
            return Err(StoreError::Conflict(
                "offset does not match the stored data".into(),
            ));
        }
        let mut appender = Appender::new(file);
        let mut written = 0u64;
        while let Some(first) = src.next_chunk().await {
            let mut size = first.len();
            let mut batch = vec![first];
            while size < MAX_BATCH {
                match src.ready_chunk() {
                    Some(chunk) => {
                        size += chunk.len();
                        batch.push(chunk);
                    }
                    None => break,
                }
            }
            // Runs while the next batch is being received.
            appender.append(batch).await?;
            written += size as u64;
        }
        appender.finish().await?;
        Ok(written)
    }

    async fn get_info(&self, id: &str) -> Result<FileInfo, StoreError> {
        let json = tokio::fs::read(self.info_path(id)?)
            .await
            .map_err(not_found_or)?;
        let file: InfoFile = serde_json::from_slice(&json)
            .map_err(|e| StoreError::Corrupt(format!("{id}.info: {e}")))?;
        let mut info = file.into_info();
        // The data file is the truth about how much arrived, and when.
        let data = tokio::fs::metadata(self.data_path(id)?)
            .await
            .map_err(not_found_or)?;
        info.offset = data.len();
        info.updated_at = data.modified().ok().or(info.created_at);
        Ok(info)
    }
}

#[async_trait]
impl Terminater for FileStore {
    async fn terminate(&self, id: &str) -> Result<(), StoreError> {
        tokio::fs::remove_file(self.info_path(id)?)
            .await
            .map_err(not_found_or)?;
        match tokio::fs::remove_file(self.data_path(id)?).await {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }
}

#[async_trait]
impl GetReader for FileStore {
    async fn get_reader(&self, id: &str, start: u64) -> Result<UploadReader, StoreError> {
        use tokio::io::AsyncSeekExt;
        let mut file = tokio::fs::File::open(self.data_path(id)?)
            .await
            .map_err(not_found_or)?;
        if start > 0 {
            file.seek(std::io::SeekFrom::Start(start)).await?;
        }
        Ok(Box::new(file))
    }
}

#[async_trait]
impl Concater for FileStore {
    async fn concat_uploads(&self, id: &str, partials: &[FileInfo]) -> Result<(), StoreError> {
        let target = self.data_path(id)?;
        let sources = partials
            .iter()
            .map(|p| self.data_path(&p.id))
            .collect::<Result<Vec<_>, _>>()?;
        tokio::task::spawn_blocking(move || -> Result<(), StoreError> {
            let mut out = std::fs::OpenOptions::new()
                .write(true)
                .open(&target)
                .map_err(not_found_or)?;
            // A retried concatenation starts over rather than appending twice.
            out.set_len(0)?;
            for source in sources {
                let mut input = std::fs::File::open(source).map_err(not_found_or)?;
                io::copy(&mut input, &mut out)?;
            }
            Ok(())
        })
        .await
        .map_err(|e| StoreError::Other(e.into()))?
    }

    async fn add_final(&self, partial_id: &str, final_id: &str) -> Result<(), StoreError> {
        self.update_info(partial_id, |info| {
            if !info.used_by.iter().any(|f| f == final_id) {
                info.used_by.push(final_id.to_owned());
            }
        })
        .await
    }
}

#[async_trait]
impl LengthDeferrer for FileStore {
    async fn declare_length(&self, id: &str, length: u64) -> Result<(), StoreError> {
        self.update_info(id, |info| info.size = Some(length)).await
    }
}

#[async_trait]
impl Truncater for FileStore {
    async fn truncate(&self, id: &str, offset: u64) -> Result<(), StoreError> {
        let path = self.data_path(id)?;
        tokio::task::spawn_blocking(move || -> Result<(), StoreError> {
            let file = std::fs::OpenOptions::new()
                .write(true)
                .open(path)
                .map_err(not_found_or)?;
            file.set_len(offset)?;
            Ok(())
        })
        .await
        .map_err(|e| StoreError::Other(e.into()))?
    }
}

#[async_trait]
impl Lister for FileStore {
    async fn list_uploads(&self) -> Result<Vec<String>, StoreError> {
        let mut entries = match tokio::fs::read_dir(&self.dir).await {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let mut ids = Vec::new();
        while let Some(entry) = entries.next_entry().await? {
            let name = entry.file_name();
            if let Some(id) = name.to_str().and_then(|n| n.strip_suffix(".info")) {
                if is_valid_id(id) {
                    ids.push(id.to_owned());
                }
            }
        }
        ids.sort();
        Ok(ids)
    }
}

/// Appends batches of chunks on the blocking pool, one write in flight at a time.
struct Appender {
    file: Option<std::fs::File>,
    in_flight: Option<JoinHandle<(std::fs::File, io::Result<()>)>>,
}

impl Appender {
    fn new(file: std::fs::File) -> Self {
        Appender {
            file: Some(file),
            in_flight: None,
        }
    }

    async fn append(&mut self, batch: Vec<Bytes>) -> io::Result<()> {
        self.wait().await?;
        let mut file = self
            .file
            .take()
            .ok_or_else(|| io::Error::other("appender lost its file"))?;
        self.in_flight = Some(tokio::task::spawn_blocking(move || {
            let result = batch.iter().try_for_each(|chunk| file.write_all(chunk));
            (file, result)
        }));
        Ok(())
    }

    async fn wait(&mut self) -> io::Result<()> {
        if let Some(handle) = self.in_flight.take() {
            let (file, result) = handle.await.map_err(io::Error::other)?;
            self.file = Some(file);
            result?;
        }
        Ok(())
    }

    async fn finish(mut self) -> io::Result<()> {
        self.wait().await
    }
}

/// The `.info` file, field for field as tusd writes it.
#[derive(Serialize, Deserialize)]
struct InfoFile {
    #[serde(rename = "ID")]
    id: String,
    #[serde(rename = "Size", default)]
    size: u64,
    #[serde(rename = "SizeIsDeferred", default)]
    size_is_deferred: bool,
    #[serde(rename = "Offset", default)]
    offset: u64,
    #[serde(rename = "MetaData", default)]
    metadata: Option<BTreeMap<String, String>>,
    #[serde(rename = "IsPartial", default)]
    is_partial: bool,
    #[serde(rename = "IsFinal", default)]
    is_final: bool,
    #[serde(rename = "PartialUploads", default)]
    partial_uploads: Option<Vec<String>>,
    #[serde(rename = "Storage", default)]
    storage: Option<BTreeMap<String, String>>,
    /// Values that are not UTF-8, base64-encoded; tusd ignores this field.
    #[serde(
        rename = "MetaDataBinary",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    metadata_binary: Option<BTreeMap<String, String>>,
    /// Milliseconds since the Unix epoch.
    #[serde(rename = "CreatedAt", default, skip_serializing_if = "Option::is_none")]
    created_at: Option<u64>,
    /// The final uploads made from this partial one.
    #[serde(rename = "UsedBy", default, skip_serializing_if = "Vec::is_empty")]
    used_by: Vec<String>,
}

fn to_millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn from_millis(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

impl InfoFile {
    fn from_info(info: &FileInfo) -> Self {
        let mut text = BTreeMap::new();
        let mut binary = BTreeMap::new();
        for (key, value) in info.metadata.iter() {
            match std::str::from_utf8(value) {
                Ok(s) => {
                    text.insert(key.to_owned(), s.to_owned());
                }
                Err(_) => {
                    text.insert(key.to_owned(), String::from_utf8_lossy(value).into_owned());
                    binary.insert(key.to_owned(), STANDARD.encode(value));
                }
            }
        }
        InfoFile {
            id: info.id.clone(),
            size: info.size.unwrap_or(0),
            size_is_deferred: info.size.is_none(),
            offset: info.offset,
            metadata: Some(text),
            is_partial: info.is_partial,
            is_final: info.is_final,
            partial_uploads: (!info.partial_uploads.is_empty())
                .then(|| info.partial_uploads.clone()),
            storage: Some(info.storage.clone()),
            metadata_binary: (!binary.is_empty()).then_some(binary),
            created_at: info.created_at.map(to_millis),
            used_by: info.used_by.clone(),
        }
    }

    fn into_info(self) -> FileInfo {
        let mut metadata: Metadata = self
            .metadata
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.into_bytes()))
            .collect();
        for (key, value) in self.metadata_binary.unwrap_or_default() {
            if let Ok(raw) = STANDARD.decode(value) {
                metadata.insert(key, raw);
            }
        }
        let mut info = FileInfo::new(self.id)
            .with_size((!self.size_is_deferred).then_some(self.size))
            .with_metadata(metadata);
        info.offset = self.offset;
        info.is_partial = self.is_partial;
        info.is_final = self.is_final;
        info.partial_uploads = self.partial_uploads.unwrap_or_default();
        info.storage = self.storage.unwrap_or_default();
        info.created_at = self.created_at.map(from_millis);
        info.used_by = self.used_by;
        info
    }
}
