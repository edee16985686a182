//! Where log objects come from: S3 (`s3.rs`) or the local file system (`fs.rs`).

pub mod fs;
pub mod s3;
