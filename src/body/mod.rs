//! Bodies: the upload data stores read, and the responses the layer sends.

mod content_body;
mod handler_body;
mod tus_body;
mod upload_body;

pub use content_body::ContentBody;
pub use handler_body::HandlerBody;
pub use tus_body::TusBody;
pub use upload_body::{BodyEnd, Quota, UploadBody};
