use http::{HeaderMap, header};

use super::UploadHandler;
use crate::checksum::{Checksum, Expected};
use crate::error::TusError;
use crate::headers::UPLOAD_CHECKSUM;
use crate::store::Extension;

impl UploadHandler {
    /// What the request asks to verify its body against, refusing bad
    /// headers before anything is written.
    pub(super) fn expected_checksum(
        &self,
        headers: &HeaderMap,
    ) -> Result<Option<Expected>, TusError> {
        let in_trailer = headers.get_all(header::TRAILER).iter().any(|v| {
            v.to_str().is_ok_and(|s| {
                s.split(',')
                    .any(|t| t.trim().eq_ignore_ascii_case("upload-checksum"))
            })
        });
        let value = headers.get(UPLOAD_CHECKSUM);
        if value.is_none() && !in_trailer {
            return Ok(None);
        }
        if !self.offers(Extension::VerifiedWrites) {
            return Err(TusError::ExtensionNotSupported("checksum"));
        }
        match value {
            Some(v) => {
                let text = v
                    .to_str()
                    .map_err(|_| TusError::InvalidChecksum("not text"))?;
                Ok(Some(Expected::Header(Checksum::parse(text)?)))
            }
            None => Ok(Some(Expected::Trailer)),
        }
    }
}
