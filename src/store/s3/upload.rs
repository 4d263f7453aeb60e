//! One upload in S3: its state loaded in one go, and every operation on it.

use std::ops::Range;

use async_trait::async_trait;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, Delete, ObjectIdentifier};
use bytes::{Bytes, BytesMut};

use super::S3Store;
use super::errors::{is_missing, store_error};
use super::parts::PartSizes;
use crate::body::{ContentBody, UploadBody};
use crate::error::StoreError;
use crate::info::FileInfo;
use crate::store::tusd_info::InfoFile;
use crate::store::{Content, Upload};

/// The user metadata on a `.part` object that names the part number its
/// bytes will start: once a part with that number exists, the tail was
/// taken into it (a crash came before the `.part` was deleted) and counts
/// no more. tusd's `.part` objects carry none and always count.
const TAIL_STARTS_PART: &str = "tus-next-part";

/// One uploaded part.
#[derive(Clone, Debug)]
struct Part {
    number: i32,
    size: u64,
    etag: String,
}

/// The `.part` object.
#[derive(Clone, Copy, Debug)]
struct Tail {
    size: u64,
    /// Carries the part number its bytes start (tusd's tails do not).
    marked: bool,
}

pub(super) struct S3Upload {
    store: S3Store,
    info: FileInfo,
    object_id: String,
    multipart_id: String,
    parts: Vec<Part>,
    tail: Option<Tail>,
    /// The multipart upload was completed: the object holds every byte.
    completed: bool,
}

/// The `.info` of `object_id`, as stored.
pub(super) async fn read_info(store: &S3Store, object_id: &str) -> Result<FileInfo, StoreError> {
    Ok(read_info_and_finished(store, object_id).await?.0)
}

async fn read_info_and_finished(
    store: &S3Store,
    object_id: &str,
) -> Result<(FileInfo, Option<bool>), StoreError> {
    let got = store
        .client
        .get_object()
        .bucket(&store.bucket)
        .key(store.layout.info(object_id))
        .send()
        .await
        .map_err(|e| store_error("get .info", e))?;
    let json = got
        .body
        .collect()
        .await
        .map_err(|e| StoreError::Other(e.into()))?
        .into_bytes();
    InfoFile::parse(object_id, &json)
}

impl S3Upload {
    pub(super) fn created(
        store: S3Store,
        info: FileInfo,
        object_id: String,
        multipart_id: String,
    ) -> Self {
        S3Upload {
            store,
            info,
            object_id,
            multipart_id,
            parts: Vec::new(),
            tail: None,
            completed: false,
        }
    }

    /// Loads the `.info`, the parts and the tail at once.
    pub(super) async fn load(
        store: S3Store,
        object_id: &str,
        multipart_id: &str,
    ) -> Result<Self, StoreError> {
        // The tail before the parts: a tail read first is never newer than
        // the parts listed after it, so the two always make a state that was.
        let (info, state) = tokio::join!(read_info_and_finished(&store, object_id), async {
            let tail = head_tail(&store, object_id).await?;
            let parts = list_parts(&store, object_id, multipart_id).await;
            Ok::<_, StoreError>((tail, parts))
        });
        let (mut info, finished) = info?;
        if info.id != format!("{object_id}+{multipart_id}") {
            return Err(StoreError::NotFound);
        }
        let (tail, parts) = state?;
        let mut upload = S3Upload::created(
            store,
            info.clone(),
            object_id.to_owned(),
            multipart_id.to_owned(),
        );
        match parts {
            Ok(parts) => {
                upload.tail = valid_tail(&parts, tail);
                upload.parts = parts;
                info.offset = upload.stored_offset();
            }
            // Completed, or aborted by a termination that did not get to
            // delete the rest: the object holds it all, or nothing is left.
            Err(StoreError::NotFound) => {
                let head = upload
                    .store
                    .client
                    .head_object()
                    .bucket(&upload.store.bucket)
                    .key(upload.store.layout.object(object_id))
                    .send()
                    .await;
                match head {
                    Ok(head) => {
                        upload.completed = true;
                        info.offset = head.content_length().unwrap_or(0).max(0) as u64;
                    }
                    Err(e) if is_missing(&e) => {
                        let _ = upload.delete_objects().await;
                        return Err(StoreError::NotFound);
                    }
                    Err(e) => return Err(store_error("head object", e)),
                }
            }
            Err(e) => return Err(e),
        }
        // tusd finishes an upload with its last byte and writes no flag.
        info.finished = finished.unwrap_or(upload.completed);
        upload.info = info;
        Ok(upload)
    }

    /// Writes the `.info`; `fresh` refuses to replace an existing one.
    pub(super) async fn put_info(&self, fresh: bool) -> Result<(), StoreError> {
        let json = InfoFile::to_json(&self.info)?;
        let mut put = self
            .store
            .client
            .put_object()
            .bucket(&self.store.bucket)
            .key(self.store.layout.info(&self.object_id))
            .content_type("application/json")
            .body(ByteStream::from(json));
        if fresh {
            put = put.if_none_match("*");
        }
        put.send()
            .await
            .map_err(|e| match store_error("put .info", e) {
                StoreError::PreconditionFailed(_) if fresh => {
                    StoreError::Conflict(format!("upload {} already exists", self.info.id))
                }
                other => other,
            })?;
        Ok(())
    }

    /// The size of every part but the last: that of the first part when
    /// there is one (it may have been chosen by tusd), else from the length.
    fn part_size(&self) -> Result<u64, StoreError> {
        match self.parts.first() {
            Some(first) if first.size > 0 => Ok(first.size),
            _ => self.store.parts.for_upload(self.info.size),
        }
    }

    fn next_number(&self) -> i32 {
        self.parts.last().map_or(1, |p| p.number + 1)
    }

    async fn upload_part(&mut self, bytes: Bytes) -> Result<(), StoreError> {
        let number = self.next_number();
        if number as u64 > super::parts::MAX_PARTS {
            return Err(StoreError::TooLarge {
                size: self.stored_offset() + bytes.len() as u64,
                limit: self.stored_offset(),
            });
        }
        let size = bytes.len() as u64;
        let done = self
            .store
            .client
            .upload_part()
            .bucket(&self.store.bucket)
            .key(self.store.layout.object(&self.object_id))
            .upload_id(&self.multipart_id)
            .part_number(number)
            .content_length(size as i64)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(|e| store_error("upload part", e))?;
        self.parts.push(Part {
            number,
            size,
            etag: done.e_tag().unwrap_or_default().to_owned(),
        });
        tracing::debug!(id = %self.info.id, number, size, "part uploaded");
        Ok(())
    }

    async fn read_tail(&self) -> Result<Bytes, StoreError> {
        let got = self
            .store
            .client
            .get_object()
            .bucket(&self.store.bucket)
            .key(self.store.layout.tail(&self.object_id))
            .send()
            .await
            .map_err(|e| store_error("get .part", e))?;
        Ok(got
            .body
            .collect()
            .await
            .map_err(|e| StoreError::Other(e.into()))?
            .into_bytes())
    }

    async fn put_tail(&mut self, bytes: Bytes) -> Result<(), StoreError> {
        let size = bytes.len() as u64;
        self.store
            .client
            .put_object()
            .bucket(&self.store.bucket)
            .key(self.store.layout.tail(&self.object_id))
            .metadata(TAIL_STARTS_PART, self.next_number().to_string())
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(|e| store_error("put .part", e))?;
        self.tail = Some(Tail { size, marked: true });
        Ok(())
    }

    async fn delete_tail(&mut self) -> Result<(), StoreError> {
        self.store
            .client
            .delete_object()
            .bucket(&self.store.bucket)
            .key(self.store.layout.tail(&self.object_id))
            .send()
            .await
            .map_err(|e| store_error("delete .part", e))?;
        self.tail = None;
        Ok(())
    }

    /// Deletes the object, the tail and the `.info`; an error names one that stayed.
    async fn delete_objects(&self) -> Result<(), StoreError> {
        let layout = &self.store.layout;
        let keys = [
            layout.object(&self.object_id),
            layout.tail(&self.object_id),
            layout.info(&self.object_id),
        ];
        let objects = keys
            .iter()
            .map(|k| ObjectIdentifier::builder().key(k).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| StoreError::Other(e.into()))?;
        let delete = Delete::builder()
            .set_objects(Some(objects))
            .quiet(true)
            .build()
            .map_err(|e| StoreError::Other(e.into()))?;
        let deleted = self
            .store
            .client
            .delete_objects()
            .bucket(&self.store.bucket)
            .delete(delete)
            .send()
            .await
            .map_err(|e| store_error("delete objects", e))?;
        match deleted.errors().first() {
            None => Ok(()),
            Some(e) => Err(StoreError::Other(
                format!(
                    "deleting {}: {} {}",
                    e.key().unwrap_or_default(),
                    e.code().unwrap_or_default(),
                    e.message().unwrap_or_default()
                )
                .into(),
            )),
        }
    }

    async fn object_exists(&self) -> Result<bool, StoreError> {
        match self
            .store
            .client
            .head_object()
            .bucket(&self.store.bucket)
            .key(self.store.layout.object(&self.object_id))
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if is_missing(&e) => Ok(false),
            Err(e) => Err(store_error("head object", e)),
        }
    }

    fn stored_offset(&self) -> u64 {
        self.parts.iter().map(|p| p.size).sum::<u64>() + self.tail.map_or(0, |t| t.size)
    }

    /// Cuts `pending` into whole parts as long as it holds one, uploading
    /// each; the tail, once taken into a part, counts no more.
    async fn flush_whole_parts(
        &mut self,
        pending: &mut BytesMut,
        part_size: u64,
    ) -> Result<(), StoreError> {
        while pending.len() as u64 >= part_size {
            let part = pending.split_to(part_size as usize).freeze();
            self.upload_part(part).await?;
            self.tail = None;
        }
        Ok(())
    }

    /// Everything the body yields, verified when it must be, in memory.
    async fn staged_body(src: &mut UploadBody) -> Option<Vec<Bytes>> {
        let mut staged = Vec::new();
        while let Some(chunk) = src.next_chunk().await {
            staged.push(chunk);
        }
        src.verify().is_ok().then_some(staged)
    }
}

/// The tail, unless a part already holds its bytes.
fn valid_tail(parts: &[Part], tail: Option<(u64, Option<i32>)>) -> Option<Tail> {
    match tail? {
        (_, Some(starts)) if parts.iter().any(|p| p.number >= starts) => None,
        (size, starts) => Some(Tail {
            size,
            marked: starts.is_some(),
        }),
    }
}

async fn list_parts(
    store: &S3Store,
    object_id: &str,
    multipart_id: &str,
) -> Result<Vec<Part>, StoreError> {
    let mut parts = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = store
            .client
            .list_parts()
            .bucket(&store.bucket)
            .key(store.layout.object(object_id))
            .upload_id(multipart_id)
            .set_part_number_marker(marker.clone())
            .send()
            .await
            .map_err(|e| store_error("list parts", e))?;
        for part in page.parts() {
            let number = part.part_number().unwrap_or_default();
            // A part listed twice (some S3-compatibles do): the last counts.
            parts.retain(|p: &Part| p.number != number);
            parts.push(Part {
                number,
                size: part.size().unwrap_or(0).max(0) as u64,
                etag: part.e_tag().unwrap_or_default().to_owned(),
            });
        }
        if page.is_truncated() != Some(true) {
            break;
        }
        // No marker given: go on after the highest part seen.
        let next = match page.next_part_number_marker() {
            Some(next) => next.to_owned(),
            None => parts
                .iter()
                .map(|p: &Part| p.number)
                .max()
                .unwrap_or(0)
                .to_string(),
        };
        if marker.as_deref() == Some(next.as_str()) {
            return Err(StoreError::Other(
                "list parts: the listing does not move on".into(),
            ));
        }
        marker = Some(next);
    }
    parts.sort_by_key(|p| p.number);
    Ok(parts)
}

/// The `.part` object's size and the part its bytes start, if it exists.
async fn head_tail(
    store: &S3Store,
    object_id: &str,
) -> Result<Option<(u64, Option<i32>)>, StoreError> {
    match store
        .client
        .head_object()
        .bucket(&store.bucket)
        .key(store.layout.tail(object_id))
        .send()
        .await
    {
        Ok(head) => {
            let starts = head
                .metadata()
                .and_then(|m| m.get(TAIL_STARTS_PART))
                .and_then(|v| v.parse().ok());
            Ok(Some((
                head.content_length().unwrap_or(0).max(0) as u64,
                starts,
            )))
        }
        Err(e) if is_missing(&e) => Ok(None),
        Err(e) => Err(store_error("head .part", e)),
    }
}

#[async_trait]
impl Upload for S3Upload {
    fn info(&self) -> &FileInfo {
        &self.info
    }

    async fn write(&mut self, src: &mut UploadBody) -> Result<u64, StoreError> {
        if self.completed {
            return Err(StoreError::Conflict("the upload is complete".into()));
        }
        // Another handle may have written since this one loaded: the parts
        // and the tail again, at once, before anything is written.
        let (parts, tail) = tokio::join!(
            list_parts(&self.store, &self.object_id, &self.multipart_id),
            head_tail(&self.store, &self.object_id),
        );
        let parts = parts?;
        let tail = valid_tail(&parts, tail?);
        let stored = parts.iter().map(|p| p.size).sum::<u64>() + tail.map_or(0, |t| t.size);
        if stored != self.info.offset {
            return Err(StoreError::Conflict(
                "offset does not match the stored data".into(),
            ));
        }
        self.parts = parts;
        self.tail = tail;
        let mut part_size = self.part_size()?;
        if self.parts.is_empty()
            && let Some(tail) = self.tail
        {
            // A smaller part size configured since: the tail still fits in part 1.
            part_size = part_size.max(tail.size + 1);
        }
        tracing::debug!(id = %self.info.id, part_size, offset = self.info.offset, "writing");
        if let Some(size) = self.info.size
            && size > PartSizes::longest(part_size)
        {
            return Err(StoreError::TooLarge {
                size,
                limit: PartSizes::longest(part_size),
            });
        }
        let verified = if src.needs_verification() {
            match Self::staged_body(src).await {
                Some(chunks) => Some(chunks),
                // Not verified: nothing of it is kept.
                None => return Ok(self.info.offset),
            }
        } else {
            None
        };
        let had_tail = self.tail.is_some();
        let mut pending = BytesMut::new();
        if let Some(tail) = self.tail {
            let bytes = self.read_tail().await?;
            if !tail.marked {
                // tusd's tail names no part: mark it before its bytes go
                // into one, so a crash after that never counts them twice.
                self.put_tail(bytes.clone()).await?;
            }
            pending.extend_from_slice(&bytes);
        }
        let mut wrote = false;
        let result = async {
            match verified {
                Some(chunks) => {
                    for chunk in chunks {
                        wrote |= !chunk.is_empty();
                        pending.extend_from_slice(&chunk);
                        self.flush_whole_parts(&mut pending, part_size).await?;
                    }
                }
                None => {
                    while let Some(chunk) = src.next_chunk().await {
                        wrote |= !chunk.is_empty();
                        pending.extend_from_slice(&chunk);
                        self.flush_whole_parts(&mut pending, part_size).await?;
                    }
                }
            }
            Ok::<_, StoreError>(())
        }
        .await;
        let rest = pending.freeze();
        if let Err(err) = result {
            // The parts uploaded so far count; what followed a failed part
            // cannot, for the failed part's bytes are missing before it.
            self.info.offset = self.stored_offset();
            return Err(err);
        }
        // Whatever arrived and is not in a part yet becomes the tail.
        let offset_if_kept = self.parts.iter().map(|p| p.size).sum::<u64>() + rest.len() as u64;
        let complete = self.info.size == Some(offset_if_kept);
        let kept = if rest.is_empty() {
            if had_tail && self.tail.is_none() {
                // Taken into a part: the `.part` is stale, remove it.
                let _ = self.delete_tail().await;
            }
            Ok(())
        } else if complete {
            let upload = self.upload_part(rest).await;
            if upload.is_ok() && had_tail {
                // In a part now; the marker makes a `.part` left over harmless.
                self.tail = None;
                let _ = self.delete_tail().await;
            }
            upload
        } else if wrote || !had_tail || self.tail.is_none() {
            self.put_tail(rest).await
        } else {
            Ok(())
        };
        self.info.offset = self.stored_offset();
        kept?;
        Ok(self.info.offset)
    }

    async fn finish(&mut self) -> Result<(), StoreError> {
        if !self.completed {
            let mut tail_left = false;
            if let Some(tail) = self.tail {
                // A deferred length declared at the end: the tail is the last part.
                let bytes = self.read_tail().await?;
                if !tail.marked {
                    self.put_tail(bytes.clone()).await?;
                }
                self.upload_part(bytes).await?;
                self.tail = None;
                tail_left = true;
            }
            if self.parts.is_empty() {
                self.upload_part(Bytes::new()).await?;
            }
            let parts = self
                .parts
                .iter()
                .map(|p| {
                    CompletedPart::builder()
                        .part_number(p.number)
                        .e_tag(&p.etag)
                        .build()
                })
                .collect();
            let completed = self
                .store
                .client
                .complete_multipart_upload()
                .bucket(&self.store.bucket)
                .key(self.store.layout.object(&self.object_id))
                .upload_id(&self.multipart_id)
                .multipart_upload(
                    CompletedMultipartUpload::builder()
                        .set_parts(Some(parts))
                        .build(),
                )
                .send()
                .await;
            match completed {
                Ok(_) => {}
                // A retry after a completion whose answer was lost: the
                // object is there.
                Err(e) if is_missing(&e) && self.object_exists().await? => {}
                Err(e) => return Err(store_error("complete multipart upload", e)),
            }
            self.completed = true;
            if tail_left {
                let _ = self.delete_tail().await;
            }
        }
        if !self.info.finished {
            self.info.finished = true;
            self.put_info(false).await?;
        }
        Ok(())
    }

    async fn content(&self, range: Range<u64>) -> Result<Content, StoreError> {
        if !self.completed {
            return Err(StoreError::Conflict(
                "the upload is not finished: its bytes can be read once it is".into(),
            ));
        }
        if range.is_empty() {
            return Ok(Content::Body(ContentBody::from_bytes(Bytes::new())));
        }
        let got = self
            .store
            .client
            .get_object()
            .bucket(&self.store.bucket)
            .key(self.store.layout.object(&self.object_id))
            .range(format!("bytes={}-{}", range.start, range.end - 1))
            .send()
            .await
            .map_err(|e| store_error("get object", e))?;
        Ok(Content::Body(ContentBody::new(got.body.into_inner())))
    }

    async fn terminate(&mut self) -> Result<(), StoreError> {
        let stored = read_info(&self.store, &self.object_id).await?;
        if stored.used_by != self.info.used_by {
            return Err(StoreError::PreconditionFailed(
                "a final upload started to use this upload".into(),
            ));
        }
        if !self.completed {
            match self
                .store
                .client
                .abort_multipart_upload()
                .bucket(&self.store.bucket)
                .key(self.store.layout.object(&self.object_id))
                .upload_id(&self.multipart_id)
                .send()
                .await
            {
                Ok(_) => {}
                Err(e) if is_missing(&e) => {}
                Err(e) => return Err(store_error("abort multipart upload", e)),
            }
        }
        self.delete_objects().await
    }

    async fn declare_length(&mut self, length: u64) -> Result<(), StoreError> {
        let limit = PartSizes::longest(self.part_size()?);
        if length > limit {
            return Err(StoreError::TooLarge {
                size: length,
                limit,
            });
        }
        let before = self.info.size.replace(length);
        if let Err(e) = self.put_info(false).await {
            self.info.size = before;
            return Err(e);
        }
        Ok(())
    }
}
