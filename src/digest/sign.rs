//! The string CloudTrail signs for a digest, and the RSA check of its
//! signature.
//!
//! From the User Guide, "Custom implementations of CloudTrail log file
//! integrity validation", section D ("Recreate the data signing string"):
//!
//! ```text
//! Data_To_Sign_String =
//!   Digest_End_Timestamp_in_UTC_Extended_format + '\n' +
//!   Current_Digest_File_S3_Path + '\n' +
//!   Hex(Sha256(current-digest-file-content)) + '\n' +
//!   Previous_digest_signature_in_hex
//! ```
//!
//! "current-digest-file-content" is the uncompressed JSON: the aws-cli
//! hashes the inflated digest (`hashlib.sha256(inflated_digest)` in
//! `Sha256RSADigestValidator._create_string_to_sign`), and the guide's
//! `previousDigestHashValue` is "the hash value of the uncompressed contents
//! of the previous digest file". The S3 path is `bucket/key` as the digest
//! names itself (`digestS3Bucket` + "/" + `digestS3Object`, in the aws-cli
//! and the guide's Java sample). A starting digest's null previous signature
//! is written `null` ("The value must be 'null' to match the Java
//! implementation", aws-cli). The guide: "Passes the SHA-256 hash of the
//! string and the private key to the RSA signing algorithm"; the aws-cli
//! verifies PKCS#1 v1.5 with SHA-256 (`rsa.verify`,
//! `RSASignatureAlgorithm.PKCS1_5_SHA256`): `SHA256withRSA`.

use aws_lc_rs::signature;

use super::file::Digest;
use super::hash::unhex;

/// The only signature algorithm CloudTrail names (`x-amz-meta-signature-algorithm`,
/// `digestSignatureAlgorithm`).
pub const ALGORITHM: &str = "SHA256withRSA";

/// The data signing string of a digest whose uncompressed JSON hashes to
/// `sha256_hex`.
pub fn signing_string(digest: &Digest, sha256_hex: &str) -> String {
    format!(
        "{}\n{}/{}\n{}\n{}",
        digest.digest_end_time,
        digest.digest_s3_bucket,
        digest.digest_s3_object,
        sha256_hex,
        digest
            .previous_digest_signature
            .as_deref()
            .unwrap_or("null"),
    )
}

/// Why a signature did not verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejected {
    /// The key is not a DER RSA public key (PKCS#1 `RSAPublicKey`, as
    /// `ListPublicKeys` returns, or X.509 `SubjectPublicKeyInfo`).
    Key,
    /// The signature is not hex, or not the key's signature of the string.
    Signature,
}

/// Checks `signature_hex` (the `x-amz-meta-signature` value) over
/// `signing_string` with the DER public key.
pub fn check(
    public_key_der: &[u8],
    signing_string: &str,
    signature_hex: &str,
) -> Result<(), Rejected> {
    aws_lc_rs::rsa::PublicKey::from_der(public_key_der).map_err(|_| Rejected::Key)?;
    let signature = unhex(signature_hex).ok_or(Rejected::Signature)?;
    signature::UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, public_key_der)
        .verify(signing_string.as_bytes(), &signature)
        .map_err(|_| Rejected::Signature)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signing_string_is_the_documented_one() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(
            "tests/data/notifications/digest__aws-cloudtrail-user-guide__cloudtrail-log-file-validation-digest-file-structure__block2__cloudtrail-digest.json",
        );
        let bytes = std::fs::read(path).expect("the sample digest");
        let mut digest: Digest = serde_json::from_slice(&bytes).expect("the sample digest");
        let hash = "4ff08d7c6ecd6eb313257e839645d20363ee3784a2328a7d76b99b53cc9bcacd";
        let previous = digest
            .previous_digest_signature
            .clone()
            .expect("a previous signature");
        assert_eq!(
            signing_string(&digest, hash),
            format!(
                "2015-08-17T15:01:31Z\nS3-bucket-name/AWSLogs/111122223333/CloudTrail-Digest/us-east-2/2015/08/17/111122223333_CloudTrail-Digest_us-east-2_your-trail-name_us-east-2_20150817T150131Z.json.gz\n{hash}\n{previous}"
            )
        );
        // A starting digest: no previous signature.
        digest.previous_digest_signature = None;
        assert!(signing_string(&digest, hash).ends_with(&format!("\n{hash}\nnull")));
    }

    /// Two `Value`s of the User Guide's `list-public-keys` sample response
    /// (custom validation, B): CloudTrail's real key format, PKCS#1
    /// `RSAPublicKey` DER (`MIIBCgKCAQEA…`), and the third, X.509
    /// `SubjectPublicKeyInfo` (`MIIBIjANBg…`). Both load as keys; a
    /// signature that is not theirs is then a bad signature, not a bad key.
    #[test]
    fn the_user_guides_public_keys_load() {
        const PKCS1: &str = "MIIBCgKCAQEAn11L2YZ9h7onug2ILi1MWyHiMRsTQjfWE+pHVRLk1QjfWhirG+lpOa8NrwQ/r7Ah5bNL6HepznOU9XTDSfmmnP97mqyc7z/upfZdS/AHhYcGaz7n6Wc/RRBU6VmiPCrAUojuSk6/GjvA8iOPFsYDuBtviXarvuLPlrT9kAd4Lb+rFfR5peEgBEkhlzc5HuWO7S0y+KunqxX6jQBnXGMtxmPBPP0FylgWGNdFtks/4YSKcgqwH0YDcawP9GGGDAeCIqPWIXDLG1jOjRRzWfCmD0iJUkz8vTsn4hq/5ZxRFE7UBAUiVcGbdnDdvVfhF9C3dQiDq3k7adQIziLT0cShgQIDAQAB";
        const X509: &str = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAqlzPJbvZJ42UdcmLfPUqXYNfOs6I8lCfao/tOs8CmzPOEdtLWugB9xoIUz78qVHdKIqxbaG4jWHfJBiOSSFBM0lt8cdVo4TnRa7oG9io5pysS6DJhBBAeXsicufsiFJR+wrUNh8RSLxL4k6G1+BhLX20tJkZ/erT97tDGBujAelqseGg3vPZbTx9SMfOLN65PdLFudLP7Gat0Z9p5jw/rjpclKfo9Bfc3heeBxWGKwBBOKnFAaN9V57pOaosCvPKmHd9bg7jsQkI9Xp22IzGLsTFJZYVA3KiTAElDMu80iFXPHEq9hKNbt9e4URFam+1utKVEiLkR2disdCmPTK0VQIDAQAB";
        for (name, key) in [("PKCS#1", PKCS1), ("X.509", X509)] {
            let der = base64(key);
            assert_eq!(
                check(&der, "text", &"00".repeat(256)),
                Err(Rejected::Signature),
                "{name}"
            );
        }
        assert_eq!(check(b"not DER", "text", "00"), Err(Rejected::Key));
    }

    /// Standard base64 with padding, enough for the keys above.
    fn base64(text: &str) -> Vec<u8> {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut bits = 0u32;
        let mut count = 0;
        let mut out = Vec::new();
        for c in text.bytes().take_while(|&c| c != b'=') {
            let value = ALPHABET.iter().position(|&a| a == c).expect("base64") as u32;
            bits = bits << 6 | value;
            count += 6;
            if count >= 8 {
                count -= 8;
                out.push((bits >> count) as u8);
                bits &= (1 << count) - 1;
            }
        }
        out
    }
}
