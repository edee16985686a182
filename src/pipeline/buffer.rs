//! The read buffers of log objects, kept for the next object read on the
//! same thread.
//!
//! Most log objects are a few KB, and a scan reads thousands of them: a
//! fresh MiB buffer for each costs more than reading the object (the
//! allocator hands the memory back to the system and takes it again, the
//! kernel zeroes every page touched, and `std`'s `BufReader` zeroes the
//! whole buffer before its first read). A buffer here is zeroed once and
//! goes back to its thread's shelf when the reader is dropped.

use std::cell::RefCell;
use std::io::{self, BufRead, Read};

/// Buffers kept per thread: the two of one object (compressed and
/// inflated) and the two of a sniff beside them.
const KEPT_PER_THREAD: usize = 4;

thread_local! {
    static SHELF: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// A buffer of `len` bytes from this thread's shelf, or a new one.
fn take(len: usize) -> Vec<u8> {
    let kept = SHELF.with(|shelf| {
        let mut shelf = shelf.borrow_mut();
        let at = shelf.iter().position(|buf| buf.len() == len)?;
        Some(shelf.swap_remove(at))
    });
    kept.unwrap_or_else(|| vec![0; len])
}

/// Puts a buffer back on this thread's shelf, if there is room.
fn give(buf: Vec<u8>) {
    // A thread being torn down has no shelf any more: the buffer is freed.
    let _ = SHELF.try_with(|shelf| {
        let mut shelf = shelf.borrow_mut();
        if shelf.len() < KEPT_PER_THREAD {
            shelf.push(buf);
        }
    });
}

/// `BufReader` over a buffer from the shelf, given back when dropped.
pub struct ShelvedReader<R> {
    inner: R,
    buf: Vec<u8>,
    pos: usize,
    filled: usize,
}

impl<R: Read> ShelvedReader<R> {
    pub fn with_capacity(len: usize, inner: R) -> Self {
        ShelvedReader {
            inner,
            buf: take(len.max(1)),
            pos: 0,
            filled: 0,
        }
    }
}

impl<R> Drop for ShelvedReader<R> {
    fn drop(&mut self) {
        give(std::mem::take(&mut self.buf));
    }
}

impl<R: Read> Read for ShelvedReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        // A read as large as the buffer skips it, as `BufReader`'s does.
        if self.pos == self.filled && out.len() >= self.buf.len() {
            return self.inner.read(out);
        }
        let available = self.fill_buf()?;
        let n = available.len().min(out.len());
        out[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: Read> BufRead for ShelvedReader<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.pos >= self.filled {
            self.filled = self.inner.read(&mut self.buf)?;
            self.pos = 0;
        }
        Ok(&self.buf[self.pos..self.filled])
    }

    fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.filled);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_as_a_bufreader_and_keeps_its_buffer_for_the_next() {
        let data: Vec<u8> = (0..10_000u32).map(|n| n as u8).collect();
        // Odd-sized reads through a small buffer, and a large one past it.
        let mut reader = ShelvedReader::with_capacity(64, io::Cursor::new(data.clone()));
        let mut got = Vec::new();
        let mut chunk = [0u8; 7];
        for _ in 0..100 {
            let n = reader.read(&mut chunk).expect("read");
            got.extend_from_slice(&chunk[..n]);
        }
        let mut big = vec![0u8; 4096];
        let n = reader.read(&mut big).expect("read");
        got.extend_from_slice(&big[..n]);
        reader.read_to_end(&mut got).expect("read");
        assert_eq!(got, data);

        let buffer = reader.buf.as_ptr();
        drop(reader);
        let again = ShelvedReader::with_capacity(64, io::empty());
        assert_eq!(again.buf.as_ptr(), buffer, "the buffer was kept");
        let other = ShelvedReader::with_capacity(128, io::empty());
        assert_ne!(other.buf.as_ptr(), buffer, "a buffer of another size");
    }

    #[test]
    fn lines_and_fill_buf_behave_as_bufread() {
        let mut reader =
            ShelvedReader::with_capacity(5, io::Cursor::new(b"ab\ncdefgh\ni".to_vec()));
        let lines: Vec<String> = (&mut reader).lines().map(|l| l.expect("line")).collect();
        assert_eq!(lines, ["ab", "cdefgh", "i"]);
        assert!(reader.fill_buf().expect("end").is_empty());
    }
}
