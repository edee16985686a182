//! Where log objects come from: S3 (`s3.rs`) or the local file system
//! (`fs.rs`); user rules kept in S3 (`rules_s3.rs`); account names, from a
//! file or S3 (`account_names.rs`) or AWS Organizations (`organizations.rs`); and the digest
//! verifier's objects and CloudTrail signing keys (`digests.rs`), and a
//! local copy of a trail's bucket for it (`local_digests.rs`).

pub mod account_names;
pub mod digests;
pub mod fs;
pub mod local_digests;
pub mod organizations;
pub mod rules_s3;
pub mod s3;
