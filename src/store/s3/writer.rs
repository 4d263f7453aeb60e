//! One PATCH's parts: cut from the bytes as they arrive, in the upload's
//! plan, and uploaded several at once while the body goes on. The body
//! waits while an upload holds as many parts as it may.

use std::collections::HashMap;
use std::sync::Arc;

use aws_sdk_s3::Client;
use bytes::Bytes;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::budget::Budget;
use super::buffer::{PartBody, PartBuffer};
use super::errors::store_error;
use super::parts::{MAX_PARTS, PartPlan};
use crate::error::StoreError;
use crate::lock::LockWatch;

/// The multipart upload parts go to.
#[derive(Debug)]
pub(super) struct PartTarget {
    pub(super) client: Client,
    pub(super) bucket: String,
    pub(super) key: String,
    pub(super) multipart_id: String,
    /// Send parts without a payload hash in their signature.
    pub(super) unsigned: bool,
    /// The lock the parts are written under: a part not started when it
    /// is lost is never sent.
    pub(super) lock: LockWatch,
}

impl PartTarget {
    /// Uploads part `number`; its ETag.
    pub(super) async fn upload(&self, number: i32, body: PartBody) -> Result<String, StoreError> {
        if self.lock.is_lost() {
            return Err(StoreError::LockLost);
        }
        // A part still on its way when the lock is lost is cut short, so
        // that it never lands after another writer's.
        tokio::select! {
            uploaded = self.send_part(number, body) => uploaded,
            () = self.lock.gone() => Err(StoreError::LockLost),
        }
    }

    async fn send_part(&self, number: i32, body: PartBody) -> Result<String, StoreError> {
        let request = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(&self.multipart_id)
            .part_number(number)
            .content_length(body.len as i64)
            .body(body.stream);
        let sent = if self.unsigned {
            request.customize().disable_payload_signing().send().await
        } else {
            request.send().await
        };
        let done = sent.map_err(|e| store_error("upload part", e))?;
        tracing::debug!(key = %self.key, number, size = body.len, "part uploaded");
        Ok(done.e_tag().unwrap_or_default().to_owned())
    }
}

impl PartTarget {
    /// Copies `range` of the object `source` (`bucket/key`) as part
    /// `number`; its ETag.
    pub(super) async fn copy(
        &self,
        number: i32,
        source: &str,
        range: std::ops::Range<u64>,
    ) -> Result<String, StoreError> {
        let done = self
            .client
            .upload_part_copy()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(&self.multipart_id)
            .part_number(number)
            .copy_source(source)
            .copy_source_range(format!("bytes={}-{}", range.start, range.end - 1))
            .send()
            .await
            .map_err(|e| store_error("upload part copy", e))?;
        tracing::debug!(key = %self.key, number, source, "part copied");
        Ok(done
            .copy_part_result()
            .and_then(|r| r.e_tag())
            .unwrap_or_default()
            .to_owned())
    }
}

/// How many parts one upload may hold and send at once.
#[derive(Clone, Copy, Debug)]
pub(super) struct Concurrency {
    /// Part uploads in flight.
    pub(super) uploads: usize,
    /// Parts cut and not uploaded yet, in flight or waiting for a slot.
    pub(super) held: usize,
}

/// Where a PATCH's first part starts.
#[derive(Clone, Copy, Debug)]
pub(super) struct Start {
    /// Its position among the upload's parts.
    pub(super) index: u64,
    /// The upload's bytes before it.
    pub(super) offset: u64,
    /// Its part number.
    pub(super) number: i32,
}

/// How one part's upload ended.
#[derive(Debug)]
pub(super) struct Outcome {
    pub(super) number: i32,
    pub(super) size: u64,
    /// The part's ETag.
    pub(super) result: Result<String, StoreError>,
}

pub(super) struct PartWriter {
    target: Arc<PartTarget>,
    budget: Budget,
    plan: PartPlan,
    /// The position among the upload's parts of the part being filled.
    index: u64,
    next_number: i32,
    filling: Option<PartBuffer>,
    /// Bytes before the first part, and bytes pushed since.
    base: u64,
    pushed: u64,
    /// Parts held back until the body is verified.
    held_back: Option<Vec<(i32, PartBuffer)>>,
    slots: Arc<Semaphore>,
    held: usize,
    running: JoinSet<Outcome>,
    sizes: HashMap<tokio::task::Id, (i32, u64)>,
    outcomes: Vec<Outcome>,
}

impl PartWriter {
    /// A writer whose first part starts at `start`; with `hold_back`,
    /// nothing is uploaded until [`release`](Self::release).
    pub(super) fn new(
        target: Arc<PartTarget>,
        budget: Budget,
        plan: PartPlan,
        start: Start,
        concurrency: Concurrency,
        hold_back: bool,
    ) -> Self {
        PartWriter {
            target,
            budget,
            plan,
            index: start.index,
            next_number: start.number,
            filling: None,
            base: start.offset,
            pushed: 0,
            held_back: hold_back.then(Vec::new),
            slots: Arc::new(Semaphore::new(concurrency.uploads.max(1))),
            held: concurrency.held.max(concurrency.uploads).max(1),
            running: JoinSet::new(),
            sizes: HashMap::new(),
            outcomes: Vec::new(),
        }
    }

    /// The number the next part will get.
    pub(super) fn next_number(&self) -> i32 {
        self.next_number
    }

    /// A part upload failed (of those ended so far): what follows it
    /// cannot count.
    pub(super) fn failed(&mut self) -> bool {
        while let Some(joined) = self.running.try_join_next_with_id() {
            self.record(joined);
        }
        self.outcomes.iter().any(|o| o.result.is_err())
    }

    /// The upload's offset if everything pushed is kept.
    pub(super) fn offset(&self) -> u64 {
        self.base + self.pushed
    }

    /// Adds `chunk`, cutting and sending every part it completes.
    pub(super) async fn push(&mut self, mut chunk: Bytes) -> Result<(), StoreError> {
        while !chunk.is_empty() {
            let capacity = self.plan.size_of(self.index);
            let buffer = match &mut self.filling {
                Some(buffer) => buffer,
                None => {
                    if self.next_number as u64 > MAX_PARTS {
                        // S3 takes no part 10,001.
                        let offset = self.base + self.pushed;
                        return Err(StoreError::TooLarge {
                            size: offset + chunk.len() as u64,
                            limit: offset,
                        });
                    }
                    self.filling
                        .insert(PartBuffer::new(capacity, &self.budget).await?)
                }
            };
            let take = chunk.len().min((capacity - buffer.len()) as usize);
            buffer.push(chunk.split_to(take)).await?;
            self.pushed += take as u64;
            if buffer.len() == capacity {
                let full = self.filling.take().expect("a part being filled");
                self.seal(full).await;
            }
        }
        Ok(())
    }

    /// The bytes past the last whole part, which become the tail.
    pub(super) fn take_rest(&mut self) -> Option<PartBuffer> {
        self.filling.take().filter(|b| b.len() > 0)
    }

    /// Sends `buffer` as the last part.
    pub(super) async fn send_last(&mut self, buffer: PartBuffer) {
        self.seal(buffer).await;
    }

    /// The body verified: the parts held back go out.
    pub(super) async fn release(&mut self) {
        for (number, buffer) in self.held_back.take().unwrap_or_default() {
            self.spawn(number, buffer).await;
        }
    }

    async fn seal(&mut self, buffer: PartBuffer) {
        let number = self.next_number;
        self.next_number += 1;
        self.index += 1;
        match &mut self.held_back {
            Some(held_back) => held_back.push((number, buffer)),
            None => self.spawn(number, buffer).await,
        }
    }

    async fn spawn(&mut self, number: i32, buffer: PartBuffer) {
        // Back-pressure: the body waits while this upload holds its share.
        while self.running.len() >= self.held {
            self.collect_one().await;
        }
        let size = buffer.len();
        if buffer.is_spilled() {
            tracing::debug!(key = %self.target.key, number, "part buffered on disk: memory budget in use");
        }
        let target = self.target.clone();
        let slots = self.slots.clone();
        let task = self.running.spawn(async move {
            let result = async {
                let _slot = slots
                    .acquire_owned()
                    .await
                    .map_err(|e| StoreError::Other(e.into()))?;
                target.upload(number, buffer.into_body().await?).await
            }
            .await;
            Outcome {
                number,
                size,
                result,
            }
        });
        self.sizes.insert(task.id(), (number, size));
    }

    async fn collect_one(&mut self) {
        if let Some(joined) = self.running.join_next_with_id().await {
            self.record(joined);
        }
    }

    fn record(&mut self, joined: Result<(tokio::task::Id, Outcome), tokio::task::JoinError>) {
        let outcome = match joined {
            Ok((id, outcome)) => {
                self.sizes.remove(&id);
                outcome
            }
            Err(e) => {
                let (number, size) = self.sizes.remove(&e.id()).unwrap_or_default();
                Outcome {
                    number,
                    size,
                    result: Err(StoreError::Other(e.into())),
                }
            }
        };
        self.outcomes.push(outcome);
    }

    /// Waits for every part sent; how each ended, by number.
    pub(super) async fn finish(mut self) -> Vec<Outcome> {
        while !self.running.is_empty() {
            self.collect_one().await;
        }
        let mut outcomes = self.outcomes;
        outcomes.sort_by_key(|o| o.number);
        outcomes
    }
}
