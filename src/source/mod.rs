//! Where log objects come from: S3 (`s3.rs`) or the local file system
//! (`fs.rs`); and user rules kept in S3 (`rules_s3.rs`).

pub mod fs;
pub mod rules_s3;
pub mod s3;
