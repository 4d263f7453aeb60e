use std::sync::Arc;

use http::HeaderValue;

use super::UploadHandler;
use super::route::Target;
use crate::error::{StoreError, TusError};
use crate::events::RequestDetails;
use crate::hooks::HookResponse;
use crate::id::is_valid_id;
use crate::info::FileInfo;
use crate::lock::LockMode;
use crate::metadata::Metadata;

/// What `Upload-Concat` asks for.
pub(super) enum Concat {
    Partial,
    Final(Vec<String>),
}

impl UploadHandler {
    /// Reads `Upload-Concat`; partial upload URLs may be under `base` (this
    /// request's mount point and base path) or the configured base path,
    /// and an absolute one must name one of `hosts`, the hosts this request
    /// was sent to (when it names any).
    pub(super) fn parse_concat(
        &self,
        value: &HeaderValue,
        base: &str,
        hosts: &[String],
    ) -> Result<Concat, TusError> {
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
        let max = self.inner.config.max_partial_uploads;
        if urls.split_whitespace().nth(max).is_some() {
            return Err(TusError::InvalidConcat(format!(
                "a final upload names at most {max} partial uploads"
            )));
        }
        let ids = urls
            .split_whitespace()
            .map(|url| self.id_from_url(url, base, hosts))
            .collect::<Result<Vec<_>, _>>()?;
        if ids.is_empty() {
            return Err(TusError::InvalidConcat(
                "a final upload names at least one partial upload".into(),
            ));
        }
        Ok(Concat::Final(ids))
    }

    /// The id in an upload URL of this server, absolute or relative.
    fn id_from_url(&self, url: &str, base: &str, hosts: &[String]) -> Result<String, TusError> {
        let not_ours =
            || TusError::InvalidConcat(format!("{url} is not an upload URL of this server"));
        let path = match url.find("://") {
            Some(i) => {
                let rest = &url[i + 3..];
                let (host, path) = rest.find('/').map_or((rest, ""), |j| rest.split_at(j));
                // Another server's upload is not one of ours under the
                // same path. (A request naming no host at all comes from
                // within the process, not over HTTP: nothing to tell by.)
                if !hosts.is_empty() && !hosts.iter().any(|h| h.eq_ignore_ascii_case(host)) {
                    return Err(not_ours());
                }
                path
            }
            None => url,
        };
        let path = path.split(['?', '#']).next().unwrap_or("");
        let target = Target::under(base, path)
            .filter(|t| matches!(t, Target::Upload(_)))
            .or_else(|| Target::under(&self.inner.config.base_path, path));
        match target {
            Some(Target::Upload(id)) => Ok(id),
            _ => Err(not_ours()),
        }
    }

    /// Creates the final upload of `ids`, completing it at once when every
    /// partial is finished, else when the last one finishes.
    pub(super) async fn create_final(
        &self,
        metadata: Metadata,
        ids: Vec<String>,
        details: &Arc<RequestDetails>,
    ) -> Result<(FileInfo, Option<HookResponse>), TusError> {
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
        for max in [self.inner.config.max_size, self.inner.config.max_final_size] {
            if let Some(max) = max
                && size > max
            {
                return Err(TusError::MaxSizeExceeded { max });
            }
        }
        self.inner
            .core
            .check_concatenation(&partials)
            .await
            .map_err(|err| match err {
                StoreError::Conflict(reason) => TusError::InvalidConcat(reason),
                other => other.into(),
            })?;
        let mut pending = FileInfo::new("").with_metadata(metadata);
        pending.is_final = true;
        pending.partial_uploads = ids.clone();
        let (id, metadata) = self.pre_create(&pending, details).await?;
        pending.id = id;
        pending.metadata = metadata;
        pending.size = Some(size);
        let upload = self.inner.core.new_upload(pending).await?;
        let final_id = upload.info().id.clone();
        self.created(upload.info(), details);

        // Every partial records the final, finished or not: none of them can
        // be deleted until the final is finished. The store serializes these
        // records, so concurrent finals over one partial all stay recorded.
        let mut registered: Vec<&str> = Vec::new();
        for partial in &partials {
            if registered.contains(&partial.id.as_str()) {
                continue;
            }
            let added = match self.inner.core.get_upload(&partial.id).await {
                Ok(mut p) => p.add_final(&final_id).await,
                Err(err) => Err(err),
            };
            if let Err(err) = added {
                // A partial vanished meanwhile: the final cannot be made.
                if let Ok(mut open) = self
                    .open_internal(&final_id, Some(LockMode::Wait), details)
                    .await
                {
                    let _ = open.terminate_as_server().await;
                    open.release().await;
                }
                return Err(match err {
                    StoreError::NotFound => {
                        TusError::InvalidConcat(format!("upload {} does not exist", partial.id))
                    }
                    other => other.into(),
                });
            }
            registered.push(&partial.id);
        }
        // Joined on a task of its own: a copy that outlasts the wait goes on
        // without the client, who is answered with the final still joining.
        let joining = tokio::spawn({
            let (handler, details, id) = (self.clone(), details.clone(), final_id.clone());
            async move { handler.join_final(&id, &details).await }
        });
        let wait = self.inner.config.concatenation_wait;
        let joined = if wait.is_zero() {
            None
        } else {
            tokio::time::timeout(wait, joining).await.ok()
        };
        match joined {
            Some(Ok(joined)) => joined,
            Some(Err(panicked)) => Err(TusError::Store(StoreError::Other(panicked.into()))),
            None => {
                tracing::info!(id = %final_id, "final upload still being joined");
                Ok((upload.info().clone(), None))
            }
        }
    }

    /// Concatenates and finishes final upload `id` if its partials are
    /// finished, under its lock; its state afterwards, and what pre-finish
    /// adds to the response when it finished now.
    async fn join_final(
        &self,
        id: &str,
        details: &Arc<RequestDetails>,
    ) -> Result<(FileInfo, Option<HookResponse>), TusError> {
        let mut open = self
            .open_internal(id, Some(LockMode::Wait), details)
            .await?;
        let finish = open.complete_final().await;
        let info = open.upload.info().clone();
        open.release().await;
        match finish {
            Ok(finish) => Ok((info, finish)),
            // The final exists and completes on a later try.
            Err(err) => {
                tracing::warn!(id = %info.id, error = %err, "final upload could not complete yet");
                Ok((info, None))
            }
        }
    }

    /// The partial uploads named by `ids`, each checked to be one.
    async fn partials(&self, ids: &[String]) -> Result<Vec<FileInfo>, TusError> {
        let missing = |id: &str| TusError::InvalidConcat(format!("upload {id} does not exist"));
        let partials = self.partial_states(ids, missing).await?;
        for info in &partials {
            let id = &info.id;
            if !info.is_partial {
                return Err(TusError::InvalidConcat(format!(
                    "upload {id} is not a partial upload"
                )));
            }
            if self.check_expired(info).is_err() {
                return Err(TusError::InvalidConcat(format!("upload {id} has expired")));
            }
        }
        Ok(partials)
    }

    /// `Upload-Concat` as HEAD echoes it.
    pub(super) fn concat_header(&self, info: &FileInfo, base: &str) -> Option<HeaderValue> {
        if info.is_partial {
            return Some(HeaderValue::from_static("partial"));
        }
        if !info.is_final {
            return None;
        }
        let urls: Vec<String> = info
            .partial_uploads
            .iter()
            .map(|id| format!("{base}{id}"))
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
