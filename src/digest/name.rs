//! What a digest's key says: its chain, its day folder and the end of its
//! hour, from the layout the User Guide gives ("Digest file location"):
//!
//! `[prefix/]AWSLogs/[O-ID/]ACCOUNT/CloudTrail-Digest/REGION/YYYY/MM/DD/
//! ACCOUNT_CloudTrail-Digest_REGION_TRAIL_REGION_YYYYMMDDTHHMMSSZ[_backfill].json.gz`

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

/// A digest key, taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestName<'k> {
    /// Up to and with `CloudTrail-Digest/REGION/`: the folder whose day
    /// folders hold the chain.
    pub region_folder: &'k str,
    /// The file name without its time and what follows: one trail in one
    /// region. Two trails writing to one folder are two chains.
    pub stem: &'k str,
    /// The end of the hour the digest covers, as its name writes it.
    pub end: DateTime<Utc>,
    /// A `_backfill` digest: logs CloudTrail delivered late, on no chain.
    pub backfill: bool,
}

impl<'k> DigestName<'k> {
    /// `None` for a key that is not laid out as a digest's.
    pub fn parse(key: &'k str) -> Option<Self> {
        let (folder, name) = key.rsplit_once('/')?;
        let date_at = folder.len().checked_sub("YYYY/MM/DD".len())?;
        let date = folder.get(date_at..)?;
        NaiveDate::parse_from_str(date, "%Y/%m/%d").ok()?;
        let region_folder = &key[..date_at];
        if !region_folder.contains("/CloudTrail-Digest/")
            && !region_folder.starts_with("CloudTrail-Digest/")
        {
            return None;
        }
        let name = name.strip_suffix(".json.gz")?;
        let (name, backfill) = match name.strip_suffix("_backfill") {
            Some(name) => (name, true),
            None => (name, false),
        };
        let (stem, time) = name.rsplit_once('_')?;
        let end = NaiveDateTime::parse_from_str(time, "%Y%m%dT%H%M%SZ")
            .ok()?
            .and_utc();
        Some(DigestName {
            region_folder,
            stem,
            end,
            backfill,
        })
    }

    /// The chain the digest is on: its region folder and stem (the bucket
    /// aside).
    pub fn chain(&self) -> (&'k str, &'k str) {
        (self.region_folder, self.stem)
    }

    /// The day folder of `day` in this digest's region folder.
    pub fn day_folder(&self, day: NaiveDate) -> String {
        format!("{}{}/", self.region_folder, day.format("%Y/%m/%d"))
    }
}

/// A time as CloudTrail writes it in a digest: `2015-08-17T15:01:31Z`.
pub fn utc_text(time: DateTime<Utc>) -> String {
    time.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_digest_key_is_taken_apart() {
        let key = "logs/AWSLogs/o-abc/111/CloudTrail-Digest/eu-west-3/2026/11/23/\
                   111_CloudTrail-Digest_eu-west-3_main_us-east-1_20261123T100131Z.json.gz";
        let name = DigestName::parse(key).expect("a digest key");
        assert_eq!(
            name.region_folder,
            "logs/AWSLogs/o-abc/111/CloudTrail-Digest/eu-west-3/"
        );
        assert_eq!(name.stem, "111_CloudTrail-Digest_eu-west-3_main_us-east-1");
        assert_eq!(name.end.to_rfc3339(), "2026-11-23T10:01:31+00:00");
        assert!(!name.backfill);
        assert_eq!(
            name.day_folder(NaiveDate::from_ymd_opt(2026, 10, 31).expect("a date")),
            "logs/AWSLogs/o-abc/111/CloudTrail-Digest/eu-west-3/2026/10/31/"
        );

        let backfill = key.replace("Z.json.gz", "Z_backfill.json.gz");
        let name = DigestName::parse(&backfill).expect("a backfill digest key");
        assert!(name.backfill);
        assert_eq!(name.stem, "111_CloudTrail-Digest_eu-west-3_main_us-east-1");
    }

    #[test]
    fn other_keys_are_not_digests() {
        for key in [
            "AWSLogs/1/CloudTrail/r/2026/11/23/1_CloudTrail_r_20261123T1000Z_a.json.gz",
            "AWSLogs/1/CloudTrail-Digest/r/2026/11/23/no-time.json.gz",
            "AWSLogs/1/CloudTrail-Digest/r/2026/13/23/1_x_20261123T100131Z.json.gz",
            "AWSLogs/1/CloudTrail-Digest/r/1_x_20261123T100131Z.json.gz",
            "1_x_20261123T100131Z.json.gz",
            "",
        ] {
            assert_eq!(DigestName::parse(key), None, "{key}");
        }
    }
}
