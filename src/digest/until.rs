//! A store whose reads stop at a time: a verification that is no longer
//! waited for (the Lambda function's stop time came) ends at its next read
//! instead of hashing the rest of the hour's logs into the next invocation.

use std::io::{self, Read};
use std::time::Instant;

use super::verify::{DigestStore, Failure, Object};
use super::Location;

/// `store`, refusing to read at or after `stop`: before each object, and
/// before each read of an object's body (a buffer at a time), as the
/// pipeline's reader of log content does.
pub struct Until<'s> {
    store: &'s dyn DigestStore,
    stop: Instant,
}

impl<'s> Until<'s> {
    pub fn new(store: &'s dyn DigestStore, stop: Instant) -> Self {
        Until { store, stop }
    }
}

/// The error a read past the stop time gets: `io::ErrorKind::TimedOut`,
/// a failure to retry, not a property of the object.
fn out_of_time() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "stopped at the time limit")
}

impl DigestStore for Until<'_> {
    fn get(&self, at: &Location, version: Option<&str>) -> Result<Option<Object>, Failure> {
        if Instant::now() >= self.stop {
            return Err(Box::new(out_of_time()));
        }
        let object = self.store.get(at, version)?;
        Ok(object.map(|object| Object {
            body: Box::new(StopAt {
                inner: object.body,
                stop: self.stop,
            }),
            ..object
        }))
    }

    fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<String>, Failure> {
        if Instant::now() >= self.stop {
            return Err(Box::new(out_of_time()));
        }
        self.store.list(bucket, prefix)
    }
}

/// A body that refuses to be read at or after `stop`.
struct StopAt<R> {
    inner: R,
    stop: Instant,
}

impl<R: Read> Read for StopAt<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if Instant::now() >= self.stop {
            return Err(out_of_time());
        }
        self.inner.read(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::time::Duration;

    /// Every object is a body of `len` zeros.
    struct Zeros(usize);

    impl DigestStore for Zeros {
        fn get(&self, _: &Location, _: Option<&str>) -> Result<Option<Object>, Failure> {
            Ok(Some(Object {
                body: Box::new(io::repeat(0).take(self.0 as u64)),
                metadata: BTreeMap::new(),
                version: None,
            }))
        }

        fn list(&self, _: &str, _: &str) -> Result<Vec<String>, Failure> {
            Ok(Vec::new())
        }
    }

    #[test]
    fn reads_stop_at_the_stop_time_and_not_before() {
        let at = Location::new("b", "k");
        let store = Zeros(1 << 20);
        let later = Until::new(&store, Instant::now() + Duration::from_secs(60));
        let mut body = later.get(&at, None).expect("read").expect("there").body;
        let mut read = Vec::new();
        body.read_to_end(&mut read).expect("before the stop time");
        assert_eq!(read.len(), 1 << 20);

        let stop = Instant::now() + Duration::from_millis(50);
        let soon = Until::new(&store, stop);
        let mut body = soon.get(&at, None).expect("read").expect("there").body;
        let mut buf = [0u8; 4096];
        let read = body.read(&mut buf).expect("before the stop time");
        assert!(read > 0);
        std::thread::sleep(stop.saturating_duration_since(Instant::now()));
        let err = body.read(&mut buf).expect_err("past the stop time");
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        let err = match soon.get(&at, None) {
            Err(err) => err,
            Ok(_) => panic!("an object read past the stop time"),
        };
        let err = err.downcast_ref::<io::Error>().expect("an io::Error");
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    }
}
