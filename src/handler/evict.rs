//! Eviction for stores that make room ([`LimitedStore`](crate::store::LimitedStore)),
//! done the handler's way: try-lock, skip what is busy or still needed,
//! and emit what a DELETE emits.

use std::sync::{Arc, Weak};

use async_trait::async_trait;
use http::Method;

use super::{Inner, UploadHandler};
use crate::error::{StoreError, TusError};
use crate::lock::LockMode;
use crate::store::Evictor;

pub(super) struct HandlerEvictor {
    handler: Weak<Inner>,
}

impl HandlerEvictor {
    pub(super) fn new(handler: &UploadHandler) -> Self {
        HandlerEvictor {
            handler: Arc::downgrade(&handler.inner),
        }
    }
}

#[async_trait]
impl Evictor for HandlerEvictor {
    async fn evict(&self, id: &str) -> Result<bool, StoreError> {
        let Some(inner) = self.handler.upgrade() else {
            return Ok(false);
        };
        let handler = UploadHandler { inner };
        let details = handler.server_details(Method::DELETE, id);
        let mut open = match handler
            .open_internal(id, Some(LockMode::Try), &details)
            .await
        {
            Ok(open) => open,
            Err(TusError::Locked) => return Ok(false),
            Err(TusError::NotFound) => return Err(StoreError::NotFound),
            Err(err) => return Err(StoreError::Other(err.to_string().into())),
        };
        let result = match open.terminate_as_server().await {
            Ok(()) => Ok(true),
            Err(TusError::Forbidden) => Ok(false),
            Err(TusError::NotFound) => Err(StoreError::NotFound),
            Err(err) => Err(StoreError::Other(err.to_string().into())),
        };
        open.release().await;
        result
    }
}
