//! CloudTrail log file integrity: the hourly digest files CloudTrail signs
//! and chains, checked against the logs they list.
//!
//! What is checked, and how, follows the CloudTrail User Guide ("CloudTrail
//! digest file structure", "Custom implementations of CloudTrail log file
//! integrity validation") and what `aws cloudtrail validate-logs` does
//! (aws/aws-cli, `awscli/customizations/cloudtrail/validation.py`); each
//! module says which part it took from where.
//!
//! - [`location`]: an object's bucket and key.
//! - [`name`]: what a digest's key says (chain, day, hour end).
//! - [`file`]: the digest file, parsed from its object's bytes.
//! - [`sign`]: the string CloudTrail signs, and the RSA check of it.
//! - [`hash`]: SHA-256 and hex; the streamed SHA-256 of a log's
//!   uncompressed content.
//! - [`Until`]: a store whose reads stop at a time (a deadline).
//! - [`keys_file`]: CloudTrail's public keys from a `list-public-keys`
//!   file, for the command line without CloudTrail.
//! - [`verify`]: one digest verified through two seams, [`DigestStore`]
//!   (objects by bucket/key) and [`PublicKeys`] (CloudTrail's keys by
//!   fingerprint), into a [`Report`] of typed [`Problem`]s.
//!
//! No AWS SDK here: the adapters that back the seams come with the wiring.

pub mod file;
pub mod hash;
pub mod keys_file;
pub mod location;
pub mod name;
pub mod sign;
mod until;
pub mod verify;

pub use file::{BadDigest, Digest, LogFile};
pub use location::Location;
pub use until::Until;
pub use verify::{
    verify, DigestStore, Failure, Hour, Kind, Object, Problem, PublicKeys, Report, TimeRange,
    VerifyError, LOOK_BACK_DAYS,
};

#[cfg(test)]
mod tests;
