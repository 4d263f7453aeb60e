use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode, header};
use http_body::Body;

use super::concat::Concat;
use std::sync::Arc;

use super::{UploadHandler, content_length, is_offset_octet_stream, with_hook_response};
use crate::body::HandlerBody;
use crate::error::{BoxError, TusError};
use crate::events::{EventKind, RequestDetails};
use crate::headers::{
    UPLOAD_CONCAT, UPLOAD_DEFER_LENGTH, UPLOAD_EXPIRES, UPLOAD_LENGTH, UPLOAD_METADATA,
    UPLOAD_OFFSET, parse_u64,
};
use crate::hooks::{HookName, HookResponse};
use crate::info::FileInfo;
use crate::lock::LockMode;
use crate::metadata::{self, Metadata, MetadataError};
use crate::store::Extension;

impl UploadHandler {
    pub(super) async fn post_upload<B>(
        self,
        req: Request<B>,
        details: Arc<RequestDetails>,
    ) -> Result<Response<HandlerBody>, TusError>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let (parts, body) = req.into_parts();
        let headers = &parts.headers;
        let concat = match headers.get(UPLOAD_CONCAT) {
            None => None,
            Some(_) if !self.offers(Extension::Concatenation) => {
                return Err(TusError::ExtensionNotSupported("concatenation"));
            }
            Some(v) => {
                let hosts = self.request_hosts(headers, parts.uri.authority().map(|a| a.as_str()));
                Some(self.parse_concat(v, self.upload_base(&details), &hosts)?)
            }
        };
        let metadata = parse_metadata(headers, self.inner.config.max_metadata_size)?;
        let with_data = is_offset_octet_stream(headers);

        if let Some(Concat::Final(ids)) = concat {
            if headers.contains_key(UPLOAD_LENGTH) || headers.contains_key(UPLOAD_DEFER_LENGTH) {
                return Err(TusError::InvalidConcat(
                    "a final upload takes no length".into(),
                ));
            }
            if with_data {
                return Err(TusError::Forbidden);
            }
            let (info, finish) = self.create_final(metadata, ids, &details).await?;
            return Ok(self.created_response(headers, self.upload_base(&details), &info, finish));
        }

        let size = self.declared_length(headers)?;
        let checksum = if with_data {
            self.expected_checksum(headers)?
        } else {
            None
        };
        let declared = content_length(headers).or(body.size_hint().exact());
        if with_data && size.zip(declared).is_some_and(|(size, len)| len > size) {
            return Err(TusError::BodyTooLarge);
        }
        let mut pending = FileInfo::new("").with_size(size).with_metadata(metadata);
        pending.is_partial = matches!(concat, Some(Concat::Partial));
        let (id, metadata) = self.pre_create(&pending, &details).await?;
        pending.id = id;
        pending.metadata = metadata;
        let upload = self.inner.core.new_upload(pending).await?;
        self.created(upload.info(), &details);
        if !with_data && !upload.info().is_complete() {
            // Nothing to write or finish, and nobody else knows the id yet.
            return Ok(self.created_response(
                headers,
                self.upload_base(&details),
                upload.info(),
                None,
            ));
        }
        // Locked all the same: the sweep and eviction must not act on an
        // upload while its first bytes arrive.
        let mut open = self
            .open_created(upload, LockMode::TakeOver, &details)
            .await?;
        let result = async {
            if with_data {
                open.write_body(body, checksum).await?;
            }
            open.finish_if_complete().await
        }
        .await;
        let info = open.upload.info().clone();
        open.release().await;
        match result {
            Ok(finish) => {
                Ok(self.created_response(headers, self.upload_base(&details), &info, finish))
            }
            // The upload exists: tell the client where, and how far it got,
            // so it can resume instead of starting over.
            Err(err) => {
                let offset = match self.inner.core.get_upload(&info.id).await {
                    Ok(upload) => upload.info().offset,
                    Err(_) => info.offset,
                };
                let mut res = self.error_response(err);
                let out = res.headers_mut();
                let location = self.location(headers, self.upload_base(&details), &info.id);
                if let Ok(v) = HeaderValue::from_str(&location) {
                    out.insert(header::LOCATION, v);
                }
                out.insert(UPLOAD_OFFSET, HeaderValue::from(offset));
                Ok(res)
            }
        }
    }

    fn created_response(
        &self,
        headers: &HeaderMap,
        base: &str,
        info: &FileInfo,
        finish: Option<HookResponse>,
    ) -> Response<HandlerBody> {
        let mut res = Response::new(HandlerBody::empty());
        *res.status_mut() = StatusCode::CREATED;
        let out = res.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&self.location(headers, base, &info.id)) {
            out.insert(header::LOCATION, v);
        }
        if !info.is_final || info.is_complete() {
            out.insert(UPLOAD_OFFSET, HeaderValue::from(info.offset));
        }
        if let Some(expires) = self.expires_header(info) {
            out.insert(UPLOAD_EXPIRES, expires);
        }
        with_hook_response(res, finish)
    }

    /// An upload now exists: count it, tell subscribers and post-create.
    pub(super) fn created(&self, info: &FileInfo, details: &Arc<RequestDetails>) {
        match info.size {
            Some(size) => tracing::info!(id = %info.id, size, "upload created"),
            None => tracing::info!(id = %info.id, size = "deferred", "upload created"),
        }
        self.inner.metrics.created();
        self.emit(EventKind::Created, info, details);
        self.post_hook(HookName::PostCreate, info, details);
    }

    /// The length a creation declares: `Some` from `Upload-Length`, `None`
    /// when deferred.
    fn declared_length(&self, headers: &HeaderMap) -> Result<Option<u64>, TusError> {
        let config = &self.inner.config;
        let size = match (headers.get(UPLOAD_LENGTH), headers.get(UPLOAD_DEFER_LENGTH)) {
            (Some(_), Some(_)) => return Err(TusError::InvalidDeferLength),
            (None, Some(defer)) => {
                if defer != "1" {
                    return Err(TusError::InvalidDeferLength);
                }
                if !self.offers(Extension::LengthDeferral) {
                    return Err(TusError::ExtensionNotSupported("creation-defer-length"));
                }
                return Ok(None);
            }
            (Some(v), None) => parse_u64(v).ok_or(TusError::InvalidUploadLength)?,
            (None, None) => return Err(TusError::InvalidUploadLength),
        };
        match config.max_size {
            Some(max) if size > max => Err(TusError::MaxSizeExceeded { max }),
            _ => Ok(Some(size)),
        }
    }
}

fn parse_metadata(headers: &HeaderMap, max: usize) -> Result<Metadata, TusError> {
    match headers.get(UPLOAD_METADATA) {
        None => Ok(Metadata::new()),
        Some(v) if v.len() > max => Err(TusError::MetadataTooLarge { max }),
        Some(v) => {
            let text = v
                .to_str()
                .map_err(|_| TusError::InvalidMetadata(MetadataError::InvalidKey(String::new())))?;
            Ok(metadata::parse(text)?)
        }
    }
}
