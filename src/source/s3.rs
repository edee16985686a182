//! Log objects from S3, streamed: the body is read as it arrives, never
//! buffered whole.

use async_trait::async_trait;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::get_object::GetObjectError;
use aws_sdk_s3::Client;
use tokio::io::AsyncRead;

use crate::object::ObjectRef;
use crate::pipeline::pipe::{self, Pipe};

/// A stream of an object's bytes.
pub type ObjectBody = Box<dyn AsyncRead + Send + Unpin>;

/// Size of the chunks [`read_ahead`] hands over.
const DOWNLOAD_CHUNK: usize = 1 << 20;

/// Downloads `body` on a thread of its own, up to `chunks` MiB ahead of
/// the blocking reader: the download mostly waits on the network, so it
/// overlaps with inflating and the rules. Call it within the runtime.
pub fn read_ahead(object: &ObjectRef, body: ObjectBody, chunks: usize) -> Result<Pipe, String> {
    pipe::spawn(
        "trailwatch-download",
        tokio_util::io::SyncIoBridge::new(body),
        DOWNLOAD_CHUNK,
        chunks,
    )
    .map_err(|err| format!("{object}: cannot start the download thread: {err}"))
}

/// Why an object could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{object}: the object no longer exists")]
    NotFound { object: String },
    #[error("{object}: access denied{hint}")]
    AccessDenied { object: String, hint: &'static str },
    #[error("{object}: S3 request failed: {message}")]
    Transient { object: String, message: String },
}

impl FetchError {
    /// Transient failures make the invocation fail so Lambda retries; the
    /// others cannot succeed by retrying.
    pub fn is_transient(&self) -> bool {
        matches!(self, FetchError::Transient { .. })
    }
}

/// Opens objects for reading. The seam that lets the handler be tested
/// without S3.
#[async_trait]
pub trait ObjectStore: Send + Sync {
    /// Opens the object, with its size when the store knows it: what a
    /// read stopped by the deadline got through is measured against it
    /// (notifications do not always give it).
    async fn open_sized(&self, object: &ObjectRef)
        -> Result<(ObjectBody, Option<u64>), FetchError>;

    /// [`ObjectStore::open_sized`] without the size.
    async fn open(&self, object: &ObjectRef) -> Result<ObjectBody, FetchError> {
        self.open_sized(object).await.map(|(body, _)| body)
    }
}

pub struct S3Store {
    client: Client,
}

impl S3Store {
    pub fn new(client: Client) -> Self {
        S3Store { client }
    }
}

#[async_trait]
impl ObjectStore for S3Store {
    async fn open_sized(
        &self,
        object: &ObjectRef,
    ) -> Result<(ObjectBody, Option<u64>), FetchError> {
        let response = self
            .client
            .get_object()
            .bucket(&object.bucket)
            .key(&object.key)
            .send()
            .await
            .map_err(|err| classify(object, err))?;
        let size = response
            .content_length
            .and_then(|length| u64::try_from(length).ok());
        Ok((Box::new(response.body.into_async_read()), size))
    }
}

/// A failed GetObject as a [`FetchError`]: the digest store's too.
pub(crate) fn classify(object: &ObjectRef, err: SdkError<GetObjectError>) -> FetchError {
    let object = object.to_string();
    let status = err.raw_response().map(|r| r.status().as_u16());
    let code = err.code().unwrap_or_default().to_string();
    let not_found = matches!(&err, SdkError::ServiceError(e) if e.err().is_no_such_key());
    if not_found || status == Some(404) {
        return FetchError::NotFound { object };
    }
    if status == Some(403) || code == "AccessDenied" || code.starts_with("KMS.") {
        let hint = if code.starts_with("KMS.") || err.message().is_some_and(|m| m.contains("kms")) {
            " (the object is SSE-KMS encrypted: the function's role needs kms:Decrypt on the key)"
        } else {
            " (the function's role needs s3:GetObject on this key; SSE-KMS logs also need kms:Decrypt)"
        };
        return FetchError::AccessDenied { object, hint };
    }
    FetchError::Transient {
        object,
        message: DisplayErrorContext(&err).to_string(),
    }
}
