use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body::Body;

use std::sync::Arc;

use super::open::OpenUpload;
use super::{UploadHandler, content_length, is_offset_octet_stream, with_hook_response};
use crate::body::HandlerBody;
use crate::error::{BoxError, TusError};
use crate::events::RequestDetails;
use crate::headers::{UPLOAD_EXPIRES, UPLOAD_LENGTH, UPLOAD_OFFSET, parse_u64};
use crate::info::FileInfo;
use crate::lock::LockMode;
use crate::store::Extension;

impl UploadHandler {
    pub(super) async fn patch_upload<B>(
        self,
        id: String,
        req: Request<B>,
        details: Arc<RequestDetails>,
    ) -> Result<Response<HandlerBody>, TusError>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let (parts, body) = req.into_parts();
        let headers = &parts.headers;
        if !is_offset_octet_stream(headers) {
            return Err(TusError::InvalidContentType);
        }
        let client_offset = headers
            .get(UPLOAD_OFFSET)
            .and_then(parse_u64)
            .ok_or(TusError::InvalidUploadOffset)?;
        let new_length = match headers.get(UPLOAD_LENGTH) {
            Some(v) => Some(parse_u64(v).ok_or(TusError::InvalidUploadLength)?),
            None => None,
        };
        let checksum = self.expected_checksum(headers)?;
        let body_len = content_length(headers).or(body.size_hint().exact());

        let asked = Asked {
            offset: client_offset,
            length: new_length,
            body: body_len,
        };
        let mut open = match self.open(&id, Some(LockMode::Try), &details).await {
            // Another request holds the upload (a client reconnecting, or
            // someone else): what the upload's state already refuses is
            // refused without interrupting that request.
            Err(TusError::Locked) => {
                let seen = self.open(&id, None, &details).await?;
                asked.refused_whatever_comes(seen.upload.info())?;
                drop(seen);
                self.open(&id, Some(LockMode::TakeOver), &details).await?
            }
            taken => taken?,
        };
        let result = async {
            asked.check(open.upload.info())?;
            if open.upload.info().size.is_none()
                && let Some(len) = new_length
            {
                self.declare_length(&mut open, len).await?;
            }
            let offset = open.write_body(body, checksum).await?;
            let finish = open.finish_if_complete().await?;
            Ok::<_, TusError>((offset, finish))
        }
        .await;
        let expires = self.expires_header(open.upload.info());
        open.release().await;
        let (offset, finish) = result?;

        let mut res = Response::new(HandlerBody::empty());
        *res.status_mut() = StatusCode::NO_CONTENT;
        res.headers_mut()
            .insert(UPLOAD_OFFSET, HeaderValue::from(offset));
        if let Some(expires) = expires {
            res.headers_mut().insert(UPLOAD_EXPIRES, expires);
        }
        Ok(with_hook_response(res, finish))
    }

    /// Fixes a deferred length, under the size limit and not below what arrived.
    async fn declare_length(&self, open: &mut OpenUpload, length: u64) -> Result<(), TusError> {
        if !self.offers(Extension::LengthDeferral) {
            return Err(TusError::ExtensionNotSupported("creation-defer-length"));
        }
        if let Some(max) = self.inner.config.max_size
            && length > max
        {
            return Err(TusError::MaxSizeExceeded { max });
        }
        if length < open.upload.info().offset {
            return Err(TusError::InvalidUploadLength);
        }
        open.ensure_locked()?;
        open.upload.declare_length(length).await?;
        Ok(())
    }
}

/// What a PATCH asks of the upload, checked against its state.
struct Asked {
    offset: u64,
    length: Option<u64>,
    body: Option<u64>,
}

impl Asked {
    /// Whether the upload, as it is under this request's lock, takes the
    /// PATCH.
    fn check(&self, info: &FileInfo) -> Result<(), TusError> {
        if info.is_final {
            return Err(TusError::Forbidden);
        }
        if self.offset != info.offset {
            return Err(TusError::OffsetMismatch {
                client: self.offset,
                server: info.offset,
            });
        }
        self.fits(info)
    }

    /// What no later state of the upload would take, seen without its
    /// lock while another request writes it: a final, a length other than
    /// the one fixed, a body past it, an offset behind what is stored
    /// (offsets only grow while a writer holds the lock).
    fn refused_whatever_comes(&self, info: &FileInfo) -> Result<(), TusError> {
        if info.is_final {
            return Err(TusError::Forbidden);
        }
        if self.offset < info.offset {
            return Err(TusError::OffsetMismatch {
                client: self.offset,
                server: info.offset,
            });
        }
        self.fits(info)
    }

    fn fits(&self, info: &FileInfo) -> Result<(), TusError> {
        let size = match (info.size, self.length) {
            (Some(size), Some(len)) if size != len => return Err(TusError::LengthChange),
            (None, Some(len)) if len < info.offset => return Err(TusError::InvalidUploadLength),
            (size, None) => size,
            (_, Some(len)) => Some(len),
        };
        if let (Some(size), Some(len)) = (size, self.body)
            && self.offset.saturating_add(len) > size
        {
            return Err(TusError::BodyTooLarge);
        }
        Ok(())
    }
}
