use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use http::HeaderValue;

use super::UploadHandler;
use super::route::Target;
use crate::error::{StoreError, TusError};
use crate::events::RequestDetails;
use crate::id::is_valid_id;
use crate::info::FileInfo;
use crate::metadata::Metadata;

/// What `Upload-Concat` asks for.
pub(super) enum Concat {
    Partial,
    Final(Vec<String>),
}

impl UploadHandler {
    pub(super) fn parse_concat(&self, value: &HeaderValue) -> Result<Concat, TusError> {
        let text = value
            .to_str()
            .map_err(|_| TusError::InvalidConcat("not text".into()))?
            .trim();
        if text == "partial" {
            return Ok(Concat::Partial);
        }
        let Some(urls) = text.strip_prefix("final;") else {
            return Err(TusError::InvalidConcat(
                "expected `partial` or `final;<urls>`".into(),
            ));
        };
        let ids = urls
            .split_whitespace()
            .map(|url| self.id_from_url(url))
            .collect::<Result<Vec<_>, _>>()?;
        if ids.is_empty() {
            return Err(TusError::InvalidConcat(
                "a final upload names at least one partial upload".into(),
            ));
        }
        Ok(Concat::Final(ids))
    }

    /// The id in an upload URL of this server, absolute or relative.
    fn id_from_url(&self, url: &str) -> Result<String, TusError> {
        let path = match url.find("://") {
            Some(i) => {
                let rest = &url[i + 3..];
                rest.find('/').map_or("", |j| &rest[j..])
            }
            None => url,
        };
        let path = path.split(['?', '#']).next().unwrap_or("");
        match Target::under(&self.inner.config.base_path, path) {
            Some(Target::Upload(id)) => Ok(id),
            _ => Err(TusError::InvalidConcat(format!(
                "{url} is not an upload URL of this server"
            ))),
        }
    }

    /// Creates the final upload of `ids`, completing it at once when every
    /// partial is complete, else when the last one completes.
    pub(super) async fn create_final(
        &self,
        id: String,
        metadata: Metadata,
        ids: Vec<String>,
        details: &Arc<RequestDetails>,
    ) -> Result<FileInfo, TusError> {
        let concater = self
            .inner
            .config
            .composer
            .concater
            .clone()
            .ok_or(TusError::ExtensionNotSupported("concatenation"))?;
        let partials = self.partials(&ids).await?;
        let mut size = 0u64;
        for partial in &partials {
            let part = partial.size.ok_or_else(|| {
                TusError::InvalidConcat(format!("partial upload {} has no length yet", partial.id))
            })?;
            size = size
                .checked_add(part)
                .ok_or(TusError::MaxSizeExceeded { max: u64::MAX })?;
        }
        if let Some(max) = self.inner.config.max_size {
            if size > max {
                return Err(TusError::MaxSizeExceeded { max });
            }
        }
        let mut info = FileInfo::new(id)
            .with_size(Some(size))
            .with_metadata(metadata);
        info.is_final = true;
        info.partial_uploads = ids;
        let info = self.inner.core.new_upload(info).await?;
        self.created(&info, details);

        let mut registered: Vec<&str> = Vec::new();
        for partial in partials.iter().filter(|p| !p.is_complete()) {
            if !registered.contains(&partial.id.as_str()) {
                concater.add_final(&partial.id, &info.id).await?;
                registered.push(&partial.id);
            }
        }
        // A partial may have completed while the final was being registered;
        // whoever sees every partial complete completes the final.
        self.try_complete_final(&info.id, details).await?;
        Ok(self.inner.core.get_info(&info.id).await?)
    }

    /// Completes final upload `id` if every partial is complete and it is not yet.
    ///
    /// Boxed: completing the final completes an upload, which may in turn
    /// look for finals to complete.
    pub(super) fn try_complete_final<'a>(
        &'a self,
        id: &'a str,
        details: &'a Arc<RequestDetails>,
    ) -> Pin<Box<dyn Future<Output = Result<(), TusError>> + Send + 'a>> {
        Box::pin(async move {
            let Some(concater) = self.inner.config.composer.concater.clone() else {
                return Ok(());
            };
            let lock = self.lock(id).await?;
            let info = self.inner.core.get_info(id).await?;
            if !info.is_final || (info.is_complete() && info.size != Some(0)) {
                return Ok(());
            }
            let partials = self.partials(&info.partial_uploads).await?;
            if !partials.iter().all(FileInfo::is_complete) {
                return Ok(());
            }
            concater.concat_uploads(id, &partials).await?;
            let info = self.inner.core.get_info(id).await?;
            if !info.is_complete() {
                return Err(TusError::Store(StoreError::Corrupt(format!(
                    "final upload {id} holds {} of {:?} bytes after concatenation",
                    info.offset, info.size
                ))));
            }
            drop(lock);
            self.complete(id, details).await.map(drop)
        })
    }

    /// The partial uploads named by `ids`, each checked to be one.
    async fn partials(&self, ids: &[String]) -> Result<Vec<FileInfo>, TusError> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let info = match self.inner.core.get_info(id).await {
                Ok(info) => info,
                Err(StoreError::NotFound) => {
                    return Err(TusError::InvalidConcat(format!(
                        "upload {id} does not exist"
                    )));
                }
                Err(err) => return Err(err.into()),
            };
            if !info.is_partial {
                return Err(TusError::InvalidConcat(format!(
                    "upload {id} is not a partial upload"
                )));
            }
            if self.check_expired(&info).is_err() {
                return Err(TusError::InvalidConcat(format!("upload {id} has expired")));
            }
            out.push(info);
        }
        Ok(out)
    }

    /// `Upload-Concat` as HEAD echoes it.
    pub(super) fn concat_header(&self, info: &FileInfo) -> Option<HeaderValue> {
        if info.is_partial {
            return Some(HeaderValue::from_static("partial"));
        }
        if !info.is_final {
            return None;
        }
        let urls: Vec<String> = info
            .partial_uploads
            .iter()
            .map(|id| format!("{}{}", self.inner.config.base_path, id))
            .collect();
        HeaderValue::from_str(&format!("final;{}", urls.join(" "))).ok()
    }

    /// A fresh upload id from the configured maker.
    pub(super) fn new_id(&self) -> Result<String, TusError> {
        let id = self.inner.config.make_upload_id.make();
        if is_valid_id(&id) {
            Ok(id)
        } else {
            Err(TusError::InvalidGeneratedId)
        }
    }
}
