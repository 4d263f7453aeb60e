//! One upload in S3: its state loaded in one go, and every operation on it.

use std::ops::{Range, RangeInclusive};
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, Delete, ObjectIdentifier};
use bytes::Bytes;

use super::S3Store;
use super::buffer::PartBody;
use super::errors::{is_missing, store_error};
use super::numbering::{DeadParts, Part, sort_out};
use super::parts::{MAX_PARTS, PartPlan};
use super::writer::{PartTarget, PartWriter, Start};
use crate::body::{ContentBody, UploadBody};
use crate::error::StoreError;
use crate::info::FileInfo;
use crate::store::tusd_info::InfoFile;
use crate::store::{Content, Upload};

/// The user metadata on a `.part` object that names the part number its
/// bytes will start: once a live part with that number or a later one
/// exists, the tail was taken into it (a crash came before the `.part` was
/// deleted) and counts no more. tusd's `.part` objects carry none and
/// always count.
const TAIL_STARTS_PART: &str = "tus-next-part";

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
    /// The parts that hold the upload's bytes, in order.
    parts: Vec<Part>,
    dead: DeadParts,
    /// Parts uploaded past a hole that the `.info` does not call dead yet.
    past_hole: Option<RangeInclusive<i32>>,
    next_number: i32,
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
            dead: DeadParts::default(),
            past_hole: None,
            next_number: 1,
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
        upload.dead = DeadParts::recorded(&info.storage);
        match parts {
            Ok(parts) => {
                upload.sort_out(parts, tail);
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

    /// Takes in what S3 lists: the parts that count, and the tail unless a
    /// part holds its bytes already.
    fn sort_out(&mut self, listed: Vec<Part>, tail: Option<(u64, Option<i32>)>) {
        let listing = sort_out(listed, &self.dead);
        self.parts = listing.live;
        self.past_hole = listing.past_hole;
        self.next_number = listing.next_number;
        self.tail = match tail {
            Some((_, Some(starts))) if self.parts.iter().any(|p| p.number >= starts) => None,
            Some((size, starts)) => Some(Tail {
                size,
                marked: starts.is_some(),
            }),
            None => None,
        };
    }

    /// Writes the `.info`; `fresh` refuses to replace an existing one.
    pub(super) async fn put_info(&self, fresh: bool) -> Result<(), StoreError> {
        let mut info = self.info.clone();
        self.dead.record(&mut info.storage);
        let json = InfoFile::to_json(&info)?;
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

    /// The part sizes: as recorded at creation; for uploads tusd made, that
    /// of their first part, else from the length.
    fn plan(&self) -> Result<PartPlan, StoreError> {
        if let Some(plan) = PartPlan::recorded(&self.info.storage) {
            return Ok(plan);
        }
        match self.parts.first() {
            Some(first) if first.size > 0 => Ok(PartPlan::Equal(first.size)),
            _ => {
                let plan = self.store.parts.plan(self.info.size)?;
                Ok(match (plan, self.tail) {
                    // A tusd tail longer than the parts configured here
                    // still fits in part 1.
                    (PartPlan::Equal(size), Some(tail)) => PartPlan::Equal(size.max(tail.size + 1)),
                    (plan, _) => plan,
                })
            }
        }
    }

    /// The longest this upload may grow, with the part numbers it has left.
    fn longest(&self) -> Result<u64, StoreError> {
        Ok(self
            .plan()?
            .longest(MAX_PARTS.saturating_sub(self.dead.count())))
    }

    fn target(&self) -> Arc<PartTarget> {
        Arc::new(PartTarget {
            client: self.store.client.clone(),
            bucket: self.store.bucket.clone(),
            key: self.store.layout.object(&self.object_id),
            multipart_id: self.multipart_id.clone(),
            unsigned: self.store.unsigned,
        })
    }

    /// Uploads one part outside a PATCH's flow (at finish).
    async fn upload_part(&mut self, body: PartBody) -> Result<(), StoreError> {
        let number = self.next_number;
        if number as u64 > MAX_PARTS {
            return Err(StoreError::TooLarge {
                size: self.stored_offset() + body.len,
                limit: self.stored_offset(),
            });
        }
        let size = body.len;
        let etag = self.target().upload(number, body).await?;
        self.next_number += 1;
        self.parts.push(Part { number, size, etag });
        Ok(())
    }

    async fn get_tail(&self) -> Result<ByteStream, StoreError> {
        let got = self
            .store
            .client
            .get_object()
            .bucket(&self.store.bucket)
            .key(self.store.layout.tail(&self.object_id))
            .send()
            .await
            .map_err(|e| store_error("get .part", e))?;
        Ok(got.body)
    }

    async fn read_tail(&self) -> Result<Bytes, StoreError> {
        Ok(self
            .get_tail()
            .await?
            .collect()
            .await
            .map_err(|e| StoreError::Other(e.into()))?
            .into_bytes())
    }

    /// Writes the tail, marked with the number of the part it will start.
    async fn put_tail(&mut self, body: PartBody) -> Result<(), StoreError> {
        let size = body.len;
        let request = self
            .store
            .client
            .put_object()
            .bucket(&self.store.bucket)
            .key(self.store.layout.tail(&self.object_id))
            .metadata(TAIL_STARTS_PART, self.next_number.to_string())
            .content_length(size as i64)
            .body(body.stream);
        let sent = if self.store.unsigned {
            request.customize().disable_payload_signing().send().await
        } else {
            request.send().await
        };
        sent.map_err(|e| store_error("put .part", e))?;
        self.tail = Some(Tail { size, marked: true });
        Ok(())
    }

    /// tusd's tail names no part: marked before its bytes go into one, so
    /// a crash after that never counts them twice. Its bytes.
    async fn mark_tail(&mut self) -> Result<Bytes, StoreError> {
        let bytes = self.read_tail().await?;
        let len = bytes.len() as u64;
        self.put_tail(PartBody::from_stream(ByteStream::from(bytes.clone()), len))
            .await?;
        Ok(bytes)
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

    /// Lists the parts and the tail again, as another handle may have
    /// written since this one loaded, and records parts past a hole as dead
    /// before any number after them is used.
    async fn refresh(&mut self) -> Result<(), StoreError> {
        let (parts, tail) = tokio::join!(
            list_parts(&self.store, &self.object_id, &self.multipart_id),
            head_tail(&self.store, &self.object_id),
        );
        self.sort_out(parts?, tail?);
        if self.stored_offset() != self.info.offset {
            return Err(StoreError::Conflict(
                "offset does not match the stored data".into(),
            ));
        }
        if let Some(past_hole) = self.past_hole.take() {
            self.dead.add(past_hole.clone());
            if let Err(e) = self.put_info(false).await {
                self.dead = DeadParts::recorded(&self.info.storage);
                self.past_hole = Some(past_hole);
                return Err(e);
            }
            self.dead.record(&mut self.info.storage);
        }
        Ok(())
    }

    /// Streams the tail, then the body, into `writer`; whether the body
    /// brought any byte.
    async fn pour(
        &mut self,
        writer: &mut PartWriter,
        src: &mut UploadBody,
    ) -> Result<bool, StoreError> {
        if let Some(tail) = self.tail {
            if tail.marked {
                let mut stream = self.get_tail().await?;
                while let Some(chunk) = stream
                    .try_next()
                    .await
                    .map_err(|e| StoreError::Other(e.into()))?
                {
                    writer.push(chunk).await?;
                }
            } else {
                let bytes = self.mark_tail().await?;
                writer.push(bytes).await?;
            }
        }
        let mut wrote = false;
        while let Some(chunk) = src.next_chunk().await {
            wrote |= !chunk.is_empty();
            writer.push(chunk).await?;
            if writer.failed() {
                break;
            }
        }
        Ok(wrote)
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
        self.refresh().await?;
        let plan = self.plan()?;
        if let Some(size) = self.info.size
            && size > self.longest()?
        {
            return Err(StoreError::TooLarge {
                size,
                limit: self.longest()?,
            });
        }
        tracing::debug!(id = %self.info.id, ?plan, offset = self.info.offset, "writing");
        let verifying = src.needs_verification();
        let start = Start {
            index: self.parts.len() as u64,
            offset: self.parts.iter().map(|p| p.size).sum(),
            number: self.next_number,
        };
        let mut writer = PartWriter::new(
            self.target(),
            self.store.budget.clone(),
            plan,
            start,
            self.store.concurrency,
            verifying,
        );
        let had_tail = self.tail.is_some();
        let (wrote, mut failure) = match self.pour(&mut writer, src).await {
            Ok(wrote) => (wrote, None),
            Err(e) => (true, Some(e)),
        };
        if verifying {
            if failure.is_none() && src.verify().is_ok() {
                writer.release().await;
            } else {
                // Not verified: nothing of it is kept, and nothing was sent.
                return failure.map_or(Ok(self.info.offset), Err);
            }
        }
        let mut rest = writer.take_rest();
        if failure.is_none() && !writer.failed() && self.info.size == Some(writer.offset()) {
            // The upload's last bytes: the last part, not a tail.
            if let Some(last) = rest.take() {
                writer.send_last(last).await;
            }
        }
        let numbers_used = writer.next_number();
        let outcomes = writer.finish().await;

        let parts_before = self.parts.len();
        let mut first_failed = None;
        for outcome in outcomes {
            match outcome.result {
                Ok(etag) if first_failed.is_none() => self.parts.push(Part {
                    number: outcome.number,
                    size: outcome.size,
                    etag,
                }),
                Ok(_) => {}
                Err(e) => {
                    first_failed.get_or_insert(outcome.number);
                    failure.get_or_insert(e);
                }
            }
        }
        self.next_number = numbers_used;
        if self.parts.len() > parts_before {
            // The tail's bytes went into the first new part.
            self.tail = None;
        }
        if let Some(first) = first_failed {
            // The parts after a failed one follow a hole: their numbers are
            // dead for good. Should this not be recorded, the next load
            // finds the hole itself.
            self.dead.add(first..=numbers_used - 1);
            if self.put_info(false).await.is_ok() {
                self.dead.record(&mut self.info.storage);
            } else {
                self.dead = DeadParts::recorded(&self.info.storage);
            }
        }
        let kept = match (failure, rest) {
            // What followed a failure cannot count: the failed bytes are
            // missing before it.
            (Some(e), _) => Err(e),
            // The new tail, unless it is the old one untouched.
            (None, Some(rest)) if wrote || self.tail.is_none() => match rest.into_body().await {
                Ok(body) => self.put_tail(body).await,
                Err(e) => Err(e),
            },
            (None, _) => Ok(()),
        };
        if had_tail && self.tail.is_none() {
            // Taken into a part: the `.part` is stale (its marker says so
            // should this fail).
            let _ = self.delete_tail().await;
        }
        self.info.offset = self.stored_offset();
        kept?;
        Ok(self.info.offset)
    }

    async fn finish(&mut self) -> Result<(), StoreError> {
        if !self.completed {
            let mut tail_left = false;
            if let Some(tail) = self.tail {
                // A deferred length declared at the end: the tail is the last part.
                let body = if tail.marked {
                    PartBody::from_stream(self.get_tail().await?, tail.size)
                } else {
                    let bytes = self.mark_tail().await?;
                    let len = bytes.len() as u64;
                    PartBody::from_stream(ByteStream::from(bytes), len)
                };
                self.upload_part(body).await?;
                self.tail = None;
                tail_left = true;
            }
            if self.parts.is_empty() {
                self.upload_part(PartBody::from_stream(ByteStream::from(Bytes::new()), 0))
                    .await?;
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
        if let Some(valid_for) = self.store.presigned {
            let config = aws_sdk_s3::presigning::PresigningConfig::expires_in(valid_for)
                .map_err(|e| StoreError::Other(e.into()))?;
            let presigned = self
                .store
                .client
                .get_object()
                .bucket(&self.store.bucket)
                .key(self.store.layout.object(&self.object_id))
                .presigned(config)
                .await
                .map_err(|e| store_error("presign get object", e))?;
            let uri = presigned
                .uri()
                .parse()
                .map_err(|e: http::uri::InvalidUri| StoreError::Other(e.into()))?;
            return Ok(Content::Redirect(uri));
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
        let limit = self.longest()?;
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
