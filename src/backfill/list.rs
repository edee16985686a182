//! Listing the objects under an S3 prefix a page at a time (ListObjectsV2),
//! narrowed by the date window where the CloudTrail key layout allows it.
//!
//! Without a window everything under the prefix is listed. With one, the
//! prefix is walked down `AWSLogs/[o-org/]ACCOUNT/CloudTrail[-Insight]/REGION/`
//! one folder level at a time (digest and other services' folders are not
//! listed at all), and each region folder is listed from the first date
//! folder in the window to the last: keys sort by date there, so months of
//! logs outside the window cost no requests. [`Listing::digests`] walks
//! `CloudTrail-Digest/` folders the same way, for `trailwatch verify`.
//!
//! Keys are listed URL-encoded (`encoding-type=url`) and decoded here, as
//! the AWS CLI does: a key may hold characters XML 1.0 cannot carry (a
//! control character), which would otherwise fail the whole listing.

use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::list_objects_v2::{ListObjectsV2Error, ListObjectsV2Output};
use aws_sdk_s3::types::EncodingType;
use aws_sdk_s3::Client;
use chrono::NaiveDate;

use super::dates::{folder_path, leading_folder_date, Window};
use crate::object::ObjectRef;
use crate::source::rules_s3::S3Prefix;

/// Where a prefix is in `[...]AWSLogs/[o-org/]ACCOUNT/SERVICE/REGION/YYYY/MM/DD/`:
/// what its next path part (partly typed, or not yet) names.
#[derive(Debug, PartialEq, Eq)]
enum Level {
    /// Not in the layout (no `AWSLogs/`): list all, select by key.
    Outside,
    /// Organization ids or accounts come next.
    Accounts,
    /// Service folders come next (CloudTrail, CloudTrail-Digest, Config...).
    Services,
    /// Regions of a CloudTrail log folder come next.
    Regions,
    /// Inside this region folder, where keys sort by date.
    Region(String),
    /// Inside a digest folder or another service's.
    NotLogs,
}

/// Which service folders a listing walks into under an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Folders {
    /// `CloudTrail/` and `CloudTrail-Insight/`: the logs `scan` reads.
    Logs,
    /// `CloudTrail-Digest/`: the digests `verify` checks.
    Digests,
}

impl Folders {
    fn keeps(self, service: &str) -> bool {
        match self {
            Folders::Logs => is_log_folder(service),
            Folders::Digests => service == "CloudTrail-Digest",
        }
    }
}

#[cfg(test)]
fn level(prefix: &str) -> Level {
    level_of(prefix, Folders::Logs)
}

fn level_of(prefix: &str, folders: Folders) -> Level {
    const ROOT: &str = "AWSLogs/";
    let start = if prefix.starts_with(ROOT) {
        0
    } else if let Some(at) = prefix.find("/AWSLogs/") {
        at + 1
    } else {
        return Level::Outside;
    };
    let rest = &prefix[start + ROOT.len()..];
    let mut done: Vec<&str> = rest.split('/').collect();
    done.pop(); // the part being typed, or "" after a final '/'
    let org = usize::from(done.first().is_some_and(|part| part.starts_with("o-")));
    match &done[org..] {
        [] => Level::Accounts,
        [_account] => Level::Services,
        [_, service] if folders.keeps(service) => Level::Regions,
        [_, service, _region, ..] if folders.keeps(service) => {
            let len: usize = done[..org + 3].iter().map(|part| part.len() + 1).sum();
            Level::Region(prefix[..start + ROOT.len() + len].to_string())
        }
        _ => Level::NotLogs,
    }
}

fn is_log_folder(service: &str) -> bool {
    matches!(service, "CloudTrail" | "CloudTrail-Insight")
}

/// How one prefix is listed.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    /// One folder level (delimiter `/`), then the sub-folders kept
    /// (`logs_only`: only the service folders the listing is for).
    Descend { logs_only: bool },
    /// Everything below, after `start_after`, up to the date folder `last`
    /// of the region folder `region`.
    All {
        start_after: Option<String>,
        last: Option<(String, NaiveDate)>,
    },
}

#[cfg(test)]
fn step(prefix: &str, window: &Window) -> Step {
    step_of(prefix, window, Folders::Logs)
}

fn step_of(prefix: &str, window: &Window, folders: Folders) -> Step {
    let all = Step::All {
        start_after: None,
        last: None,
    };
    if window.is_open() {
        return all;
    }
    match level_of(prefix, folders) {
        Level::Accounts | Level::Regions => Step::Descend { logs_only: false },
        Level::Services => Step::Descend { logs_only: true },
        Level::Region(region) => Step::All {
            start_after: window
                .first_folder()
                .map(|day| format!("{region}{}", folder_path(day)))
                .filter(|after| after.as_str() > prefix),
            last: window.last_folder().map(|day| (region, day)),
        },
        Level::Outside | Level::NotLogs => all,
    }
}

/// One prefix being listed.
struct Cursor {
    prefix: String,
    step: Step,
    token: Option<String>,
    /// Sub-folders found so far (descending), listed once this one ends.
    folders: Vec<String>,
}

/// The objects under one `s3://bucket/prefix`, a page at a time.
pub struct Listing<'a> {
    client: &'a Client,
    bucket: String,
    window: Window,
    folders: Folders,
    /// Prefixes still to list, the next one last.
    todo: Vec<String>,
    current: Option<Cursor>,
}

impl<'a> Listing<'a> {
    pub(super) fn new(client: &'a Client, root: &S3Prefix, window: Window) -> Self {
        Self::of(client, root, window, Folders::Logs)
    }

    /// The listing of the digest folders (`CloudTrail-Digest/`) instead of
    /// the log folders, walked the same way.
    pub fn digests(client: &'a Client, root: &S3Prefix, window: Window) -> Self {
        Self::of(client, root, window, Folders::Digests)
    }

    fn of(client: &'a Client, root: &S3Prefix, window: Window, folders: Folders) -> Self {
        Listing {
            client,
            bucket: root.bucket.clone(),
            window,
            folders,
            todo: vec![root.prefix.clone()],
            current: None,
        }
    }

    /// The next page's objects (perhaps none), `None` at the end, or why
    /// the listing failed, naming the bucket and prefix. After a failure
    /// the listing is over: what it would have found is unknown.
    pub async fn next_page(&mut self) -> Option<Result<Vec<ObjectRef>, String>> {
        let mut cursor = match self.current.take() {
            Some(cursor) => cursor,
            None => {
                let prefix = self.todo.pop()?;
                self.open(prefix)
            }
        };
        let page = match self.fetch(&cursor).await {
            Ok(page) => page,
            Err(err) => {
                self.todo.clear();
                return Some(Err(err));
            }
        };
        let (objects, more) = self.take(&mut cursor, &page);
        if more {
            self.current = Some(cursor);
        } else {
            // Sub-folders in key order: the stack pops the first first.
            self.todo.extend(cursor.folders.into_iter().rev());
        }
        Some(Ok(objects))
    }

    fn open(&self, prefix: String) -> Cursor {
        Cursor {
            step: step_of(&prefix, &self.window, self.folders),
            prefix,
            token: None,
            folders: Vec::new(),
        }
    }

    async fn fetch(&self, cursor: &Cursor) -> Result<ListObjectsV2Output, String> {
        let mut request = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(&cursor.prefix)
            .encoding_type(EncodingType::Url)
            .set_continuation_token(cursor.token.clone());
        request = match &cursor.step {
            Step::Descend { .. } => request.delimiter("/"),
            Step::All { start_after, .. } => request.set_start_after(start_after.clone()),
        };
        request
            .send()
            .await
            .map_err(|err| list_error(&self.bucket, &cursor.prefix, &err))
    }

    /// The page's objects, up to the window's last date folder; whether the
    /// cursor has more pages to list.
    fn take(&self, cursor: &mut Cursor, page: &ListObjectsV2Output) -> (Vec<ObjectRef>, bool) {
        // Only when the answer says it is encoded (a server may ignore the
        // request): decoding a key twice would change it.
        let encoded = page.encoding_type() == Some(&EncodingType::Url);
        let decode = |text: &str| {
            if encoded {
                url_decoded(text)
            } else {
                text.to_string()
            }
        };
        let mut objects = Vec::with_capacity(page.contents().len());
        for object in page.contents() {
            let Some(key) = object.key().map(decode) else {
                continue;
            };
            if past(&cursor.step, &key) {
                return (objects, false);
            }
            objects.push(ObjectRef {
                bucket: self.bucket.clone(),
                key,
                size: object.size().and_then(|size| u64::try_from(size).ok()),
            });
        }
        if let Step::Descend { logs_only } = cursor.step {
            let folders = page.common_prefixes().iter().filter_map(|p| p.prefix());
            cursor.folders.extend(
                folders
                    .map(decode)
                    .filter(|folder| !logs_only || self.folders.keeps(last_part(folder))),
            );
        }
        cursor.token = page.next_continuation_token().map(str::to_string);
        let more = page.is_truncated() == Some(true) && cursor.token.is_some();
        (objects, more)
    }
}

/// A key as S3 lists it with `encoding-type=url`: a space is `+` and every
/// other byte outside the unreserved set `%XX` (a `+` in the key is `%2B`),
/// so `+` is decoded first, as botocore's `unquote_plus` does for the AWS
/// CLI. S3 keys are UTF-8; anything else is shown with U+FFFD rather than
/// lost.
fn url_decoded(text: &str) -> String {
    let spaced = text.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8_lossy()
        .into_owned()
}

/// Whether the key is in a date folder after the last one to list.
fn past(step: &Step, key: &str) -> bool {
    let Step::All {
        last: Some((region, last)),
        ..
    } = step
    else {
        return false;
    };
    key.strip_prefix(region.as_str())
        .and_then(leading_folder_date)
        .is_some_and(|day| day > *last)
}

/// `CloudTrail` of `AWSLogs/1/CloudTrail/`.
fn last_part(folder: &str) -> &str {
    let folder = folder.strip_suffix('/').unwrap_or(folder);
    folder.rsplit('/').next().unwrap_or(folder)
}

fn list_error(bucket: &str, prefix: &str, err: &SdkError<ListObjectsV2Error>) -> String {
    let status = err.raw_response().map(|r| r.status().as_u16());
    let code = err.code().unwrap_or_default();
    let no_bucket = matches!(err, SdkError::ServiceError(e) if e.err().is_no_such_bucket());
    let reason = if no_bucket || code == "NoSuchBucket" {
        "the bucket does not exist".to_string()
    } else if status == Some(403) || code == "AccessDenied" {
        "access denied (listing needs s3:ListBucket on the bucket)".to_string()
    } else if status == Some(301)
        || matches!(code, "PermanentRedirect" | "AuthorizationHeaderMalformed")
    {
        // S3 names the bucket's region in a header when the client asked
        // the wrong one.
        let region = err
            .raw_response()
            .and_then(|r| r.headers().get("x-amz-bucket-region"))
            .unwrap_or("another region");
        format!("the bucket is in {region}: set AWS_REGION to it")
    } else {
        DisplayErrorContext(err).to_string()
    };
    format!("s3://{bucket}/{prefix}: cannot list the objects: {reason}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backfill::dates::parse_bound;

    #[test]
    fn listed_keys_are_url_decoded_as_the_aws_cli_does() {
        let cases = [
            ("AWSLogs/1/a%01b.json.gz", "AWSLogs/1/a\u{1}b.json.gz"),
            ("c%0Bd.json.gz", "c\u{b}d.json.gz"),
            // S3 writes a space as `+`, a `+` as `%2B`; moto a space as `%20`.
            ("backfill+run%3D1.json.gz", "backfill run=1.json.gz"),
            ("a%2Bb%20c.json.gz", "a+b c.json.gz"),
            ("%C3%A9t%C3%A9/", "été/"),
            ("100%25", "100%"),
            ("plain/key.json.gz", "plain/key.json.gz"),
        ];
        for (listed, key) in cases {
            assert_eq!(url_decoded(listed), key, "{listed}");
        }
    }

    #[test]
    fn prefixes_are_placed_in_the_cloudtrail_layout() {
        let region = |p: &str| Level::Region(p.to_string());
        let cases = [
            ("", Level::Outside),
            ("logs/", Level::Outside),
            ("AWSLogs", Level::Outside),
            ("AWSLogs/", Level::Accounts),
            ("trail/AWSLogs/12", Level::Accounts),
            ("AWSLogs/o-abc123/", Level::Accounts),
            ("AWSLogs/123456789012/", Level::Services),
            ("AWSLogs/o-abc123/123456789012/Cloud", Level::Services),
            ("AWSLogs/123456789012/CloudTrail/", Level::Regions),
            (
                "AWSLogs/123456789012/CloudTrail-Insight/us-",
                Level::Regions,
            ),
            ("AWSLogs/123456789012/CloudTrail-Digest/", Level::NotLogs),
            ("AWSLogs/123456789012/Config/us-east-1/", Level::NotLogs),
            (
                "AWSLogs/123456789012/CloudTrail/us-east-1/",
                region("AWSLogs/123456789012/CloudTrail/us-east-1/"),
            ),
            (
                "t/AWSLogs/o-abc123/1/CloudTrail/eu-west-1/2024/03/",
                region("t/AWSLogs/o-abc123/1/CloudTrail/eu-west-1/"),
            ),
        ];
        for (prefix, want) in cases {
            assert_eq!(level(prefix), want, "{prefix:?}");
        }
    }

    #[test]
    fn the_digest_listing_walks_the_digest_folders_instead() {
        let digests = |prefix| level_of(prefix, Folders::Digests);
        assert_eq!(digests("AWSLogs/1/"), Level::Services);
        assert_eq!(digests("AWSLogs/1/CloudTrail-Digest/"), Level::Regions);
        assert_eq!(
            digests("t/AWSLogs/o-abc123/1/CloudTrail-Digest/eu-west-3/2026/"),
            Level::Region("t/AWSLogs/o-abc123/1/CloudTrail-Digest/eu-west-3/".to_string())
        );
        assert_eq!(digests("AWSLogs/1/CloudTrail/"), Level::NotLogs);
        assert!(Folders::Digests.keeps("CloudTrail-Digest"));
        assert!(!Folders::Digests.keeps("CloudTrail"));
        assert!(!Folders::Logs.keeps("CloudTrail-Digest"));
        let bound = |s: &str| parse_bound(s).ok();
        let week = Window::new(bound("2026-11-16"), bound("2026-11-23")).expect("window");
        let r = "AWSLogs/1/CloudTrail-Digest/eu-west-3/";
        assert_eq!(
            step_of(r, &week, Folders::Digests),
            Step::All {
                start_after: Some(format!("{r}2026/11/15")),
                last: Some((
                    r.to_string(),
                    NaiveDate::from_ymd_opt(2026, 11, 24).expect("day")
                )),
            }
        );
    }

    #[test]
    fn a_window_narrows_the_listing_to_its_date_folders() {
        let bound = |s: &str| parse_bound(s).ok();
        let march = Window::new(bound("2024-03-01"), bound("2024-04-01")).expect("window");
        let r = "AWSLogs/1/CloudTrail/us-east-1/";
        let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).expect("day");
        let all = |after: Option<&str>, last| Step::All {
            start_after: after.map(str::to_string),
            last: Some((r.to_string(), last)),
        };
        let cases = [
            ("AWSLogs/", march, Step::Descend { logs_only: false }),
            ("AWSLogs/1/", march, Step::Descend { logs_only: true }),
            (
                "AWSLogs/1/CloudTrail/",
                march,
                Step::Descend { logs_only: false },
            ),
            (
                r,
                march,
                all(
                    Some("AWSLogs/1/CloudTrail/us-east-1/2024/02/29"),
                    day(2024, 4, 2),
                ),
            ),
            // Below the first folder already: no start_after.
            (
                "AWSLogs/1/CloudTrail/us-east-1/2024/03/",
                march,
                all(None, day(2024, 4, 2)),
            ),
        ];
        for (prefix, window, want) in cases {
            assert_eq!(step(prefix, &window), want, "{prefix:?}");
        }
        let plain = Step::All {
            start_after: None,
            last: None,
        };
        assert_eq!(step("AWSLogs/", &Window::default()), plain);
        assert_eq!(step("uploads/", &march), plain);
        assert!(past(
            &all(None, day(2024, 4, 2)),
            &format!("{r}2024/04/03/f.json.gz")
        ));
        assert!(!past(
            &all(None, day(2024, 4, 2)),
            &format!("{r}2024/04/02/f.json.gz")
        ));
        assert!(!past(&all(None, day(2024, 4, 2)), &format!("{r}notes.txt")));
    }
}
