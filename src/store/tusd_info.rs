//! The `.info` JSON, field for field as tusd writes it: in a folder and in
//! object stores alike.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use crate::error::StoreError;
use crate::info::FileInfo;
use crate::metadata::Metadata;

#[derive(Serialize, Deserialize)]
pub(crate) struct InfoFile {
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
    /// Absent in folders written by tusd, which finishes an upload with its
    /// last byte: such an upload is finished when complete.
    #[serde(rename = "Finished", default, skip_serializing_if = "Option::is_none")]
    finished: Option<bool>,
}

fn to_millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn from_millis(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

impl InfoFile {
    pub(crate) fn from_info(info: &FileInfo) -> Self {
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
            finished: Some(info.finished),
        }
    }

    /// The upload described, its offset and finished state to be completed
    /// from the data file.
    pub(crate) fn into_info(self) -> (FileInfo, Option<bool>) {
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
        (info, self.finished)
    }

    pub(crate) fn to_json(info: &FileInfo) -> Result<Vec<u8>, StoreError> {
        serde_json::to_vec(&InfoFile::from_info(info)).map_err(|e| StoreError::Other(e.into()))
    }

    pub(crate) fn parse(id: &str, json: &[u8]) -> Result<(FileInfo, Option<bool>), StoreError> {
        let file: InfoFile = serde_json::from_slice(json)
            .map_err(|e| StoreError::Corrupt(format!("{id}.info: {e}")))?;
        Ok(file.into_info())
    }
}
