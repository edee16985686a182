//! S3 Batch Operations jobs that invoke the function (invocation schema
//! 1.0 and 2.0): how a user backfills months of logs at AWS's scale. Each
//! task is one object and gets its own answer.

use aws_lambda_events::s3_batch_job::{S3BatchJobEvent, S3BatchJobTask};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{s3::decode_key, TriggerError};
use crate::object::ObjectRef;

/// One invocation of a Batch Operations job.
#[derive(Debug, PartialEq)]
pub struct BatchJob {
    /// Echoed in the answer, as Batch Operations requires.
    pub schema_version: String,
    pub invocation_id: String,
    pub tasks: Vec<BatchTask>,
}

/// One task: an object, or why the task cannot name one.
#[derive(Debug, PartialEq)]
pub struct BatchTask {
    pub task_id: String,
    pub object: Result<ObjectRef, String>,
}

/// How a task ended, in Batch Operations' terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ResultCode {
    Succeeded,
    /// Batch Operations retries the task.
    TemporaryFailure,
    /// The task fails and is listed in the job's completion report.
    PermanentFailure,
}

/// The answer to one task.
#[derive(Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskResult {
    pub task_id: String,
    pub result_code: ResultCode,
    pub result_string: String,
}

/// The function's answer to a Batch Operations invocation.
#[derive(Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchResponse {
    pub invocation_schema_version: String,
    pub treat_missing_keys_as: ResultCode,
    pub invocation_id: String,
    pub results: Vec<TaskResult>,
}

pub(super) fn parse(event: &Value) -> Result<BatchJob, TriggerError> {
    let malformed = |message: String| TriggerError::Malformed {
        what: "S3 Batch Operations invocation",
        message,
    };
    // The schema first: the crate's type reads any, and a schema trailwatch
    // does not know may hold anything.
    let schema_version = event
        .get("invocationSchemaVersion")
        .and_then(Value::as_str)
        .ok_or_else(|| malformed("invocationSchemaVersion is not a string".to_string()))?;
    if !matches!(schema_version, "1.0" | "2.0") {
        return Err(malformed(format!(
            "invocation schema {schema_version:?} is not 1.0 or 2.0"
        )));
    }
    let job = S3BatchJobEvent::deserialize(event).map_err(|err| malformed(err.to_string()))?;
    let invocation_id = job
        .invocation_id
        .ok_or_else(|| malformed("invocationId is missing".to_string()))?;
    // Deserialized, so `tasks` is a list of the same length.
    let raw_tasks = event.get("tasks").and_then(Value::as_array);
    let tasks = job
        .tasks
        .into_iter()
        .enumerate()
        .map(|(index, task)| {
            let raw = raw_tasks.and_then(|tasks| tasks.get(index));
            BatchTask {
                object: task_object(&task, raw),
                task_id: task.task_id.unwrap_or_else(|| format!("#{index}")),
            }
        })
        .collect();
    Ok(BatchJob {
        schema_version: schema_version.to_string(),
        invocation_id,
        tasks,
    })
}

/// Schema 2.0 names the bucket, 1.0 its ARN; both URL-encode the key.
/// The shim: aws_lambda_events' task has 1.0's `s3BucketArn` but not
/// 2.0's `s3Bucket` (events/batch-operations-2.0.json), read from `raw`.
fn task_object(task: &S3BatchJobTask, raw: Option<&Value>) -> Result<ObjectRef, String> {
    let bucket_name = raw
        .and_then(|raw| raw.get("s3Bucket"))
        .and_then(Value::as_str);
    let bucket = match (bucket_name, task.s3_bucket_arn.as_deref()) {
        (Some(bucket), _) => bucket,
        (None, Some(arn)) => arn.rsplit(':').next().unwrap_or(arn),
        (None, None) => return Err("the task has neither s3Bucket nor s3BucketArn".to_string()),
    };
    let raw_key = task.s3_key.as_deref().ok_or("the task has no s3Key")?;
    let key = decode_key(raw_key).ok_or_else(|| {
        format!(
            "s3Key {} is not valid URL encoding of UTF-8",
            super::shown(raw_key)
        )
    })?;
    super::check_object(bucket, &key)?;
    Ok(ObjectRef {
        bucket: bucket.to_string(),
        key,
        size: None,
    })
}

impl BatchJob {
    /// The answer Batch Operations expects, with one result per task.
    pub fn respond(&self, results: Vec<TaskResult>) -> BatchResponse {
        BatchResponse {
            invocation_schema_version: self.schema_version.clone(),
            treat_missing_keys_as: ResultCode::PermanentFailure,
            invocation_id: self.invocation_id.clone(),
            results,
        }
    }
}
