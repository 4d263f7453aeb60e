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
use super::layout::split_id;
use super::numbering::{DeadParts, Part, sort_out};
use super::parts::{MAX_PARTS, PartPlan, copy_pieces};
use super::writer::{PartTarget, PartWriter, Start};
use crate::body::{BodyEnd, ContentBody, UploadBody};
use crate::error::StoreError;
use crate::info::FileInfo;
use crate::lock::LockWatch;
use crate::store::tusd_info::InfoFile;
use crate::store::{Content, Upload};

/// The user metadata on a `.part` object that names the part number its
/// bytes will start: once a live part with that number or a later one
/// exists, the tail was taken into it (a crash came before the `.part` was
/// deleted) and counts no more. tusd's `.part` objects carry none and
/// always count.
const TAIL_STARTS_PART: &str = "tus-next-part";

/// The `.part` object.
#[derive(Clone, Debug, PartialEq, Eq)]
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
    /// The `.info`'s ETag as last read or written: its rewrites are
    /// conditional on it, so that two never lose each other's changes.
    info_etag: Option<String>,
    /// The ETag of the `.part` object as last seen, counted or not: a new
    /// tail replaces only that one, so a writer that lost its lock never
    /// replaces a tail written since.
    tail_seen: Option<String>,
}

/// How many times a `.info` rewrite is tried against others changing it.
const INFO_REWRITES: usize = 64;

/// Set in the `.info` of an upload being terminated, before anything is
/// deleted: from then on it is gone, and no final can record itself in it.
const TERMINATED: &str = "Terminated";

/// What a `.info` write expects to find.
enum Condition<'a> {
    /// No `.info` yet.
    Absent,
    /// The `.info` with this ETag.
    Unchanged(&'a str),
}

/// `bucket/key` as UploadPartCopy's `x-amz-copy-source` takes it:
/// percent-encoded but for the key's slashes.
fn copy_source(bucket: &str, key: &str) -> String {
    let mut out = format!("{bucket}/");
    for byte in key.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// Waits a little, more after each of `attempt`s that collided with
/// another rewrite of a `.info`, so the rewrites spread out.
async fn pause_before_rewrite(attempt: usize) {
    let pause = (2 * attempt as u64).min(50) + u64::from(jitter()) % 10;
    tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
}

/// A few random bits, so retries that collided spread out.
fn jitter() -> u8 {
    let mut byte = [0u8; 1];
    let _ = getrandom::fill(&mut byte);
    byte[0]
}

/// The `.info` of `object_id`, as stored.
pub(super) async fn read_info(store: &S3Store, object_id: &str) -> Result<FileInfo, StoreError> {
    Ok(read_stored_info(store, object_id).await?.info)
}

/// The `.info` as stored: its state, its `Finished` flag (tusd writes
/// none), and its ETag for a conditional rewrite.
struct StoredInfo {
    info: FileInfo,
    finished: Option<bool>,
    etag: Option<String>,
}

async fn read_stored_info(store: &S3Store, object_id: &str) -> Result<StoredInfo, StoreError> {
    let got = store
        .client
        .get_object()
        .bucket(&store.bucket)
        .key(store.layout.info(object_id))
        .send()
        .await
        .map_err(|e| store_error("get .info", e))?;
    let etag = got.e_tag().map(str::to_owned);
    let json = got
        .body
        .collect()
        .await
        .map_err(|e| StoreError::Other(e.into()))?
        .into_bytes();
    let (info, finished) = InfoFile::parse(object_id, &json)?;
    Ok(StoredInfo {
        info,
        finished,
        etag,
    })
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
            info_etag: None,
            tail_seen: None,
        }
    }

    /// Loads the `.info`, the parts and the tail at once.
    pub(super) async fn load(
        store: S3Store,
        object_id: &str,
        multipart_id: &str,
    ) -> Result<Self, StoreError> {
        // All three at once. A writer may be between two of them when this
        // handle only reads (HEAD takes no lock): a marked tail whose part
        // is listed does not count, so what is half-seen counts fewer bytes,
        // save a tail tusd left unmarked that the writer is taking into a
        // part. A PATCH whose offset is off is refused. A handle that writes
        // holds the lock, and `refresh` checks again before any byte goes.
        let (stored, tail, parts) = tokio::join!(
            read_stored_info(&store, object_id),
            head_tail(&store, object_id),
            list_parts(&store, object_id, multipart_id)
        );
        let StoredInfo {
            mut info,
            finished,
            etag,
        } = stored?;
        if info.id != format!("{object_id}+{multipart_id}") {
            return Err(StoreError::NotFound);
        }
        let tail = tail?;
        let mut upload = S3Upload::created(
            store,
            info.clone(),
            object_id.to_owned(),
            multipart_id.to_owned(),
        );
        if info.storage.contains_key(TERMINATED) {
            // A termination that stopped midway: what it left goes now.
            let unfinished = !matches!(parts, Err(StoreError::NotFound));
            let _ = upload.delete_all(unfinished).await;
            return Err(StoreError::NotFound);
        }
        upload.dead = DeadParts::recorded(&info.storage);
        upload.info_etag = etag;
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
        if info.is_final && !upload.completed {
            // Its parts are copies made by a concatenation that has not
            // completed: the final holds no byte until it has.
            info.offset = 0;
        }
        upload.info = info;
        Ok(upload)
    }

    /// Takes in what S3 lists: the parts that count, and the tail unless a
    /// part holds its bytes already.
    fn sort_out(&mut self, listed: Vec<Part>, tail: Option<HeadTail>) {
        let listing = sort_out(listed, &self.dead);
        self.parts = listing.live;
        self.past_hole = listing.past_hole;
        self.next_number = listing.next_number;
        self.tail_seen = tail.as_ref().and_then(|t| t.etag.clone());
        self.tail = match tail {
            Some(HeadTail {
                starts: Some(starts),
                ..
            }) if self.parts.iter().any(|p| p.number >= starts) => None,
            Some(tail) => Some(Tail {
                size: tail.size,
                marked: tail.starts.is_some(),
            }),
            None => None,
        };
    }

    /// Writes the `.info` of a new upload, refusing to replace one.
    pub(super) async fn put_new_info(&mut self) -> Result<(), StoreError> {
        self.info_etag =
            self.put_info(&self.info, Condition::Absent)
                .await
                .map_err(|e| match e {
                    StoreError::PreconditionFailed(_) => {
                        StoreError::Conflict(format!("upload {} already exists", self.info.id))
                    }
                    other => other,
                })?;
        Ok(())
    }

    /// Writes `info` as the `.info`, if it is as `condition` says; its new ETag.
    async fn put_info(
        &self,
        info: &FileInfo,
        condition: Condition<'_>,
    ) -> Result<Option<String>, StoreError> {
        let put = self
            .store
            .client
            .put_object()
            .bucket(&self.store.bucket)
            .key(self.store.layout.info(&self.object_id))
            .content_type("application/json")
            .body(ByteStream::from(InfoFile::to_json(info)?));
        let put = match condition {
            Condition::Absent => put.if_none_match("*"),
            Condition::Unchanged(etag) => put.if_match(etag),
        };
        let done = put.send().await.map_err(|e| store_error("put .info", e))?;
        Ok(done.e_tag().map(str::to_owned))
    }

    /// Changes the `.info` by `change`: written on the condition that
    /// nobody changed it since it was read, and read again and retried
    /// when somebody did, so concurrent changes (finals recording
    /// themselves in a partial, a finish) never undo each other.
    async fn update_info(&mut self, change: impl Fn(&mut FileInfo)) -> Result<(), StoreError> {
        let mut base = self.info.clone();
        let mut etag = self.info_etag.clone();
        for attempt in 0..INFO_REWRITES {
            let Some(current) = etag.clone() else {
                let stored = read_stored_info(&self.store, &self.object_id).await?;
                if stored.info.storage.contains_key(TERMINATED) {
                    return Err(StoreError::NotFound);
                }
                base = self.on_top_of(stored.info, stored.finished);
                etag = Some(stored.etag.ok_or_else(|| {
                    StoreError::Other(
                        "S3 gave the .info no ETag: it cannot be changed safely".into(),
                    )
                })?);
                continue;
            };
            let mut next = base.clone();
            change(&mut next);
            match self.put_info(&next, Condition::Unchanged(&current)).await {
                Ok(written) => {
                    change(&mut self.info);
                    self.info.used_by = next.used_by;
                    self.info.storage = next.storage;
                    self.info_etag = written;
                    return Ok(());
                }
                Err(StoreError::PreconditionFailed(_)) => {
                    etag = None;
                    pause_before_rewrite(attempt).await;
                }
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Unavailable {
            message: format!("the .info of {} keeps changing", self.info.id),
            retry_after: Some(std::time::Duration::from_secs(1)),
        })
    }

    /// A `.info` read back, with what this handle knows better: the
    /// offset (from the parts) and whether the object is complete.
    fn on_top_of(&self, mut stored: FileInfo, finished: Option<bool>) -> FileInfo {
        stored.offset = self.info.offset;
        stored.finished = finished.unwrap_or(self.completed);
        stored
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
                Ok(match (plan, &self.tail) {
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

    /// Where parts go, written under `lock`.
    fn target(&self, lock: LockWatch) -> Arc<PartTarget> {
        Arc::new(PartTarget {
            client: self.store.client.clone(),
            bucket: self.store.bucket.clone(),
            key: self.store.layout.object(&self.object_id),
            multipart_id: self.multipart_id.clone(),
            unsigned: self.store.unsigned,
            lock,
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
        let etag = self
            .target(LockWatch::default())
            .upload(number, body)
            .await?;
        self.next_number += 1;
        self.parts.push(Part { number, size, etag });
        Ok(())
    }

    /// The tail's bytes, as long as the `.part` is the one last seen.
    async fn get_tail(&self) -> Result<ByteStream, StoreError> {
        let got = self
            .store
            .client
            .get_object()
            .bucket(&self.store.bucket)
            .key(self.store.layout.tail(&self.object_id))
            .set_if_match(self.tail_seen.clone())
            .send()
            .await
            .map_err(|e| match store_error("get .part", e) {
                StoreError::PreconditionFailed(_) => {
                    StoreError::Conflict("another request wrote the upload meanwhile".into())
                }
                other => other,
            })?;
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

    /// Writes the tail, marked with the number of the part it will start,
    /// in place of the `.part` last seen (none: only if there is none).
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
        let request = match &self.tail_seen {
            Some(etag) => request.if_match(etag),
            None => request.if_none_match("*"),
        };
        let sent = if self.store.unsigned {
            request.customize().disable_payload_signing().send().await
        } else {
            request.send().await
        };
        let done = sent.map_err(|e| match store_error("put .part", e) {
            StoreError::PreconditionFailed(_) => {
                StoreError::Conflict("another request wrote the upload meanwhile".into())
            }
            other => other,
        })?;
        self.tail_seen = done.e_tag().map(str::to_owned);
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
        self.tail_seen = None;
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

    /// Aborts the multipart upload when `unfinished`, and deletes the objects.
    async fn delete_all(&self, unfinished: bool) -> Result<(), StoreError> {
        if unfinished {
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
        self.parts.iter().map(|p| p.size).sum::<u64>() + self.tail.as_ref().map_or(0, |t| t.size)
    }

    /// Lists the parts and the tail again, at once, so that a handle
    /// another one wrote past never writes (a part uploaded under a number
    /// in use replaces it), and records parts past a hole as dead before
    /// any number after them is used.
    async fn refresh(&mut self) -> Result<(), StoreError> {
        // The `.part` by its ETag: another one of the same size and mark
        // replacing it is a change. Parts by number and size: servers need
        // not spell an ETag in a listing as they did in the upload's answer.
        let state = |u: &Self| {
            let parts: Vec<_> = u.parts.iter().map(|p| (p.number, p.size)).collect();
            (parts, u.tail.clone(), u.tail_seen.clone())
        };
        let seen = state(self);
        let (tail, parts) = tokio::join!(
            head_tail(&self.store, &self.object_id),
            list_parts(&self.store, &self.object_id, &self.multipart_id)
        );
        self.sort_out(parts?, tail?);
        if state(self) != seen || self.stored_offset() != self.info.offset {
            return Err(StoreError::Conflict(
                "offset does not match the stored data".into(),
            ));
        }
        if let Some(past_hole) = self.past_hole.take() {
            let mut dead = self.dead.clone();
            dead.add(past_hole.clone());
            if let Err(e) = self
                .update_info(|info| dead.record(&mut info.storage))
                .await
            {
                self.past_hole = Some(past_hole);
                return Err(e);
            }
            self.dead = dead;
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
        if let Some(tail) = self.tail.clone() {
            if tail.marked {
                let mut stream = self.get_tail().await?;
                let mut read = 0;
                while let Some(chunk) = stream
                    .try_next()
                    .await
                    .map_err(|e| StoreError::Other(e.into()))?
                {
                    read += chunk.len() as u64;
                    writer.push(chunk).await?;
                }
                if read != tail.size {
                    return Err(StoreError::Conflict(format!(
                        "the .part object holds {read} bytes where {} were seen",
                        tail.size
                    )));
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

/// The `.part` object as a HEAD sees it.
struct HeadTail {
    size: u64,
    /// The part its bytes start, when marked.
    starts: Option<i32>,
    etag: Option<String>,
}

/// The `.part` object, if it exists.
async fn head_tail(store: &S3Store, object_id: &str) -> Result<Option<HeadTail>, StoreError> {
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
            Ok(Some(HeadTail {
                size: head.content_length().unwrap_or(0).max(0) as u64,
                starts,
                etag: head.e_tag().map(str::to_owned),
            }))
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
            self.target(src.lock_watch()),
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
        // Another request may hold the upload now, and may have stored the
        // same bytes otherwise: nothing more is written, and nothing of the
        // other's is deleted or rewritten. Bytes not yet in a part are
        // dropped; the client resumes from what is stored.
        let lock_lost = matches!(src.end(), Some(BodyEnd::LockLost)) || src.lock_watch().is_lost();
        if let Some(first) = first_failed
            && !lock_lost
        {
            // Only this PATCH's numbers.
            let first = first.max(start.number);
            // The parts after a failed one follow a hole: their numbers are
            // dead for good. Should this not be recorded, the next load
            // finds the hole itself.
            let mut dead = self.dead.clone();
            dead.add(first..=numbers_used - 1);
            if self
                .update_info(|info| dead.record(&mut info.storage))
                .await
                .is_ok()
            {
                self.dead = dead;
            }
        }
        let kept = match (failure, rest) {
            // What followed a failure cannot count: the failed bytes are
            // missing before it.
            (Some(e), _) => Err(e),
            // The new tail, unless it is the old one untouched.
            (None, Some(_)) if lock_lost => Ok(()),
            (None, Some(rest)) if wrote || self.tail.is_none() => {
                let watch = src.lock_watch();
                match rest.into_body().await {
                    // Lost meanwhile, or while the tail goes up: it is
                    // cut short, never stored late.
                    Ok(_) if watch.is_lost() => Ok(()),
                    Ok(body) => tokio::select! {
                        stored = self.put_tail(body) => stored,
                        () = watch.gone() => Ok(()),
                    },
                    Err(e) => Err(e),
                }
            }
            (None, _) => Ok(()),
        };
        if had_tail && self.tail.is_none() && !lock_lost {
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
            if let Some(tail) = self.tail.clone() {
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
            // All in the object now (a final's copies too).
            self.info.offset = self.parts.iter().map(|p| p.size).sum();
            if tail_left {
                let _ = self.delete_tail().await;
            }
        }
        if !self.info.finished {
            self.update_info(|info| info.finished = true).await?;
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
        // Marked terminated first, over the `.info` as read: a final that
        // records itself meanwhile makes the mark fail, and one that comes
        // after it finds the upload gone.
        for attempt in 0..INFO_REWRITES {
            let stored = read_stored_info(&self.store, &self.object_id).await?;
            if stored.info.storage.contains_key(TERMINATED) {
                break;
            }
            if stored.info.used_by != self.info.used_by {
                return Err(StoreError::PreconditionFailed(
                    "a final upload started to use this upload".into(),
                ));
            }
            let etag = stored.etag.clone().ok_or_else(|| {
                StoreError::Other("S3 gave the .info no ETag: it cannot be changed safely".into())
            })?;
            let mut marked = self.on_top_of(stored.info, stored.finished);
            marked.storage.insert(TERMINATED.into(), "true".into());
            match self.put_info(&marked, Condition::Unchanged(&etag)).await {
                Ok(_) => break,
                Err(StoreError::PreconditionFailed(_)) if attempt + 1 < INFO_REWRITES => {
                    pause_before_rewrite(attempt).await;
                }
                Err(e) => return Err(e),
            }
        }
        self.delete_all(!self.completed).await
    }

    async fn concatenate(&mut self, partials: &[FileInfo]) -> Result<(), StoreError> {
        let size: u64 = partials.iter().map(|p| p.offset).sum();
        if self.completed {
            self.info.offset = size;
            return Ok(());
        }
        // Each partial's object as parts of this one, by UploadPartCopy;
        // a partial over 5 GiB in pieces of equal size.
        let mut sources = Vec::new();
        for partial in partials {
            let (object_id, _) = split_id(&partial.id).ok_or(StoreError::NotFound)?;
            sources.push(copy_source(
                &self.store.bucket,
                &self.store.layout.object(object_id),
            ));
        }
        let sizes: Vec<u64> = partials.iter().map(|p| p.offset).collect();
        let copies = copy_pieces(&sizes)
            .into_iter()
            .enumerate()
            .map(|(i, (which, range))| (i as i32 + 1, sources[which].clone(), range));
        // Parts copied by an earlier try stay: none is copied twice.
        let listed = list_parts(&self.store, &self.object_id, &self.multipart_id).await?;
        let slots = Arc::new(tokio::sync::Semaphore::new(self.store.concurrency.uploads));
        let mut running = tokio::task::JoinSet::new();
        let mut parts = Vec::new();
        for (number, source, range) in copies {
            let len = range.end - range.start;
            if let Some(done) = listed.iter().find(|p| p.number == number && p.size == len) {
                parts.push(done.clone());
                continue;
            }
            let target = self.target(LockWatch::default());
            let slots = slots.clone();
            running.spawn(async move {
                let _slot = slots
                    .acquire_owned()
                    .await
                    .map_err(|e| StoreError::Other(e.into()))?;
                let etag = target.copy(number, &source, range).await?;
                Ok::<_, StoreError>(Part {
                    number,
                    size: len,
                    etag,
                })
            });
        }
        let mut failure = None;
        while let Some(joined) = running.join_next().await {
            match joined.map_err(|e| StoreError::Other(e.into())) {
                Ok(Ok(part)) => parts.push(part),
                Ok(Err(e)) | Err(e) => {
                    failure.get_or_insert(e);
                }
            }
        }
        if let Some(e) = failure {
            return Err(e);
        }
        parts.sort_by_key(|p| p.number);
        self.parts = parts;
        self.next_number = self.parts.last().map_or(1, |p| p.number + 1);
        self.info.offset = size;
        Ok(())
    }

    async fn add_final(&mut self, final_id: &str) -> Result<(), StoreError> {
        self.update_info(|info| {
            if !info.used_by.iter().any(|f| f == final_id) {
                info.used_by.push(final_id.to_owned());
            }
        })
        .await
    }

    async fn declare_length(&mut self, length: u64) -> Result<(), StoreError> {
        let limit = self.longest()?;
        if length > limit {
            return Err(StoreError::TooLarge {
                size: length,
                limit,
            });
        }
        self.update_info(|info| info.size = Some(length)).await
    }
}
