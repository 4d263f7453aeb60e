//! S3's answers, told apart as the contracts need them.

use std::time::Duration;

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};

use crate::error::StoreError;

/// Codes S3 and its look-alikes use for "slow down, try again".
const THROTTLED: [&str; 6] = [
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "RequestTimeout",
    "ServiceUnavailable",
    "InternalError",
];

/// What `err` means for the request that met it, while doing `what`.
pub(super) fn store_error<E>(what: &str, err: SdkError<E, HttpResponse>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let unavailable = |message: String| StoreError::Unavailable {
        message,
        retry_after: Some(Duration::from_secs(1)),
    };
    match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => {
            unavailable(format!("{what}: S3 cannot be reached: {err:?}"))
        }
        SdkError::ServiceError(service) => {
            let status = service.raw().status().as_u16();
            let code = err.code().unwrap_or_default();
            if status >= 500 || status == 429 || THROTTLED.contains(&code) {
                unavailable(format!("{what}: S3 answered {status} {code}"))
            } else if status == 404 || code == "NoSuchKey" || code == "NoSuchUpload" {
                StoreError::NotFound
            } else if status == 412 || code == "ConditionalRequestConflict" {
                // 409 ConditionalRequestConflict: a conditional write raced
                // another; as 412, the caller reads again and retries.
                StoreError::PreconditionFailed(format!("{what}: S3 answered 412 {code}"))
            } else {
                let message = err.message().unwrap_or_default();
                StoreError::Other(
                    format!("{what}: S3 answered {status} {code} {message}: {err:?}").into(),
                )
            }
        }
        _ => StoreError::Other(format!("{what}: {err:?}").into()),
    }
}

/// Whether `err` says the object or multipart upload does not exist.
pub(super) fn is_missing<E>(err: &SdkError<E, HttpResponse>) -> bool
where
    E: ProvideErrorMetadata,
{
    match err {
        SdkError::ServiceError(service) => {
            service.raw().status().as_u16() == 404
                || matches!(err.code(), Some("NoSuchKey" | "NoSuchUpload" | "NotFound"))
        }
        _ => false,
    }
}
