//! Bytes read on a thread of their own and handed over in chunks, so that
//! reading overlaps with the work on what was read: the S3 download with
//! inflating, inflating with parsing and the rules.
//!
//! The reader sees exactly the bytes the source gave, in order, then the
//! source's own end or `io::Error` (its kind and inner error intact, so a
//! transient S3 failure is still classified as one). A channel of a few
//! chunks bounds the memory; the chunks go back to the reading thread to be
//! filled again, so a steady stream allocates nothing.

use std::io::{self, BufRead, Read};
use std::panic::AssertUnwindSafe;
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread;

/// The source panicked on the reading thread: a bug, in trailwatch or a
/// library, that a retry of the same object would meet again. The reader
/// gets it as the error of its read (inside an `io::Error`), so it can be
/// told from a dropped connection.
#[derive(Debug, thiserror::Error)]
#[error("the reading thread panicked: {0}")]
pub struct ReaderPanicked(pub String);

/// What a panic said, for an object's error.
pub(crate) fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    let text = panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a panic without a message");
    // A panic may quote its input (a 64 KB key): keep the error short.
    let mut shown: String = text.chars().take(300).collect();
    if shown.len() < text.len() {
        shown.push('…');
    }
    shown
}

/// What the reading thread sends.
enum Message {
    Data(Vec<u8>),
    /// The source's end: without it, a closed channel means the thread died.
    End,
    Failed(io::Error),
}

/// The receiving end: a `BufRead` over the chunks.
pub struct Pipe {
    chunks: Receiver<Message>,
    /// Emptied chunks go back to the reading thread.
    recycle: SyncSender<Vec<u8>>,
    current: Vec<u8>,
    position: usize,
    /// The end or the error has been seen; it is repeated on later reads.
    finished: Option<io::ErrorKind>,
}

/// Starts a thread that reads `source` in chunks of `chunk_bytes`, at most
/// `depth` chunks ahead of the reader. The thread ends at the source's end,
/// at its error, or when the `Pipe` is dropped (at its next chunk).
pub fn spawn(
    name: &str,
    source: impl Read + Send + 'static,
    chunk_bytes: usize,
    depth: usize,
) -> io::Result<Pipe> {
    let (send, chunks) = mpsc::sync_channel(depth.max(1));
    // Room for every chunk there can be: the reader never blocks on it.
    let (recycle, recycled) = mpsc::sync_channel(depth + 2);
    thread::Builder::new()
        .name(name.to_string())
        .spawn(move || fill(source, chunk_bytes.max(1), &send, &recycled))?;
    Ok(Pipe {
        chunks,
        recycle,
        current: Vec::new(),
        position: 0,
        finished: None,
    })
}

/// The reading thread: fills chunks until the end, an error, or nobody
/// listens any more.
fn fill(
    mut source: impl Read,
    chunk_bytes: usize,
    send: &SyncSender<Message>,
    recycled: &Receiver<Vec<u8>>,
) {
    loop {
        let mut chunk = recycled.try_recv().unwrap_or_default();
        chunk.resize(chunk_bytes, 0);
        let read =
            std::panic::catch_unwind(AssertUnwindSafe(|| read_chunk(&mut source, &mut chunk)));
        let (filled, outcome) = match read {
            Ok(read) => read,
            Err(panic) => {
                let error = ReaderPanicked(panic_text(panic.as_ref()));
                let _ = send.send(Message::Failed(io::Error::other(error)));
                return;
            }
        };
        chunk.truncate(filled);
        if filled > 0 && send.send(Message::Data(chunk)).is_err() {
            return;
        }
        match outcome {
            Ok(true) => {}
            Ok(false) => {
                let _ = send.send(Message::End);
                return;
            }
            Err(err) => {
                let _ = send.send(Message::Failed(err));
                return;
            }
        }
    }
}

/// Reads until `chunk` is full (`Ok(true)`), the source ends (`Ok(false)`)
/// or fails; returns how many bytes it holds either way.
fn read_chunk(source: &mut impl Read, chunk: &mut [u8]) -> (usize, io::Result<bool>) {
    let mut filled = 0;
    while filled < chunk.len() {
        match source.read(&mut chunk[filled..]) {
            Ok(0) => return (filled, Ok(false)),
            Ok(n) => filled += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return (filled, Err(err)),
        }
    }
    (filled, Ok(true))
}

impl Pipe {
    /// Takes the next chunk, or records the end or the error.
    fn next_chunk(&mut self) -> io::Result<()> {
        let message = self.chunks.recv().unwrap_or_else(|_| {
            Message::Failed(io::Error::other(
                "the reading thread stopped before the end of the data",
            ))
        });
        match message {
            Message::Data(chunk) => {
                let spent = std::mem::replace(&mut self.current, chunk);
                self.position = 0;
                // The thread may be gone (it ended): the chunk is just freed.
                let _ = self.recycle.try_send(spent);
                Ok(())
            }
            Message::End => {
                self.finished = Some(io::ErrorKind::UnexpectedEof);
                Ok(())
            }
            Message::Failed(err) => {
                self.finished = Some(err.kind());
                Err(err)
            }
        }
    }
}

impl Read for Pipe {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for Pipe {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.position >= self.current.len() {
            match self.finished {
                // The end: no more bytes, every time.
                Some(io::ErrorKind::UnexpectedEof) => return Ok(&[]),
                // The error was returned once; later reads fail the same way.
                Some(kind) => {
                    return Err(io::Error::new(kind, "the source failed earlier"));
                }
                None => self.next_chunk()?,
            }
        }
        Ok(&self.current[self.position..])
    }

    fn consume(&mut self, amount: usize) {
        self.position = (self.position + amount).min(self.current.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hands out its bytes a few at a time, then fails if told to.
    struct Trickle {
        data: io::Cursor<Vec<u8>>,
        fail_with: Option<io::ErrorKind>,
    }

    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(7);
            match self.data.read(&mut buf[..n])? {
                0 => match self.fail_with {
                    Some(kind) => Err(io::Error::new(kind, "source broke")),
                    None => Ok(0),
                },
                n => Ok(n),
            }
        }
    }

    fn data(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 % 251) as u8).collect()
    }

    #[test]
    fn every_byte_arrives_in_order_whatever_the_chunk_size() {
        for (len, chunk, depth) in [
            (0, 4, 1),
            (1, 4, 1),
            (1000, 1, 1),
            (1000, 64, 3),
            (5000, 4096, 2),
        ] {
            let source = Trickle {
                data: io::Cursor::new(data(len)),
                fail_with: None,
            };
            let mut out = Vec::new();
            let mut pipe = spawn("test", source, chunk, depth).expect("thread");
            pipe.read_to_end(&mut out).expect("read");
            assert_eq!(out, data(len), "len {len} chunk {chunk}");
            assert_eq!(pipe.fill_buf().expect("still the end").len(), 0);
        }
    }

    #[test]
    fn the_source_error_comes_after_its_bytes_with_its_kind() {
        let source = Trickle {
            data: io::Cursor::new(data(100)),
            fail_with: Some(io::ErrorKind::ConnectionReset),
        };
        let mut pipe = spawn("test", source, 16, 2).expect("thread");
        let mut out = Vec::new();
        let err = pipe.read_to_end(&mut out).expect_err("fails");
        assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
        assert_eq!(err.to_string(), "source broke");
        assert_eq!(out, data(100));
        let again = pipe.fill_buf().expect_err("fails again");
        assert_eq!(again.kind(), io::ErrorKind::ConnectionReset);
    }

    #[test]
    fn a_reading_thread_that_dies_is_an_error_not_an_end() {
        struct Panics;
        impl Read for Panics {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                panic!("the source panicked");
            }
        }
        let mut pipe = spawn("test", Panics, 16, 2).expect("thread");
        let err = pipe.fill_buf().expect_err("not an end");
        assert_eq!(
            err.to_string(),
            "the reading thread panicked: the source panicked"
        );
        assert!(err
            .get_ref()
            .is_some_and(|inner| inner.is::<ReaderPanicked>()));
    }

    #[test]
    fn dropping_the_reader_stops_the_thread() {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::Arc;
        /// Endless; says when the thread let go of it.
        struct Endless(Arc<AtomicBool>);
        impl Read for Endless {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                buf.fill(b'x');
                Ok(buf.len())
            }
        }
        impl Drop for Endless {
            fn drop(&mut self) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        let dropped = Arc::new(AtomicBool::new(false));
        let mut pipe = spawn("test", Endless(Arc::clone(&dropped)), 1024, 2).expect("thread");
        let mut buf = [0u8; 10];
        pipe.read_exact(&mut buf).expect("read");
        drop(pipe);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !dropped.load(Ordering::SeqCst) && std::time::Instant::now() < deadline {
            thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(dropped.load(Ordering::SeqCst), "the thread still reads");
    }
}
