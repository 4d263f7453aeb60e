use std::time::SystemTime;

use http::HeaderValue;

use super::UploadHandler;
use crate::error::TusError;
use crate::info::FileInfo;

impl UploadHandler {
    /// When the upload in state `info` expires, counting from `active`
    /// (its last activity), if it does.
    pub(super) fn expires_at_from(
        &self,
        info: &FileInfo,
        active: SystemTime,
    ) -> Option<SystemTime> {
        let config = &self.inner.config;
        let lifetime = if info.finished {
            config.expire_finished_after
        } else {
            config.expire_after
        }?;
        Some(active + lifetime)
    }

    /// When the upload in state `info` expires, if it does.
    pub(super) fn expires_at(&self, info: &FileInfo) -> Option<SystemTime> {
        self.expires_at_from(info, info.updated_at.or(info.created_at)?)
    }

    /// 410 for an upload past its expiry, cleaned up or not.
    pub(super) fn check_expired(&self, info: &FileInfo) -> Result<(), TusError> {
        match self.expires_at(info) {
            Some(at) if at <= SystemTime::now() => Err(TusError::Gone),
            _ => Ok(()),
        }
    }

    pub(super) fn expires_header(&self, info: &FileInfo) -> Option<HeaderValue> {
        let at = self.expires_at(info)?;
        HeaderValue::from_str(&httpdate::fmt_http_date(at)).ok()
    }
}
