//! The disk spool: every event the shim acknowledges is here, fsynced, until the database has
//! committed it. A write-ahead log, so a kill -9 or a database outage loses nothing acknowledged.
//!
//! Layout: `DIR/NNNNNNNNNNNNNNNNNNNN.seg` segment files of frames, `[len u32 LE][crc32 u32 LE]
//! [payload]`, a payload being one event's line as the database is sent it; `DIR/cursor` holds
//! `segment offset` of the first frame not yet committed (written by rename; if it is lost, frames
//! are delivered again, which the database's idempotent insert makes harmless). Segments wholly
//! before the cursor are deleted. On open, a torn or corrupt last frame of the newest segment
//! (a write cut short) is truncated; damage anywhere else stops the shim, since frames after it
//! were acknowledged.

use anyhow::{bail, Context, Result};
use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use tokio::sync::{oneshot, watch};

const HEADER: usize = 8;
/// A frame larger than this is damage, not data (the largest request body is far smaller).
const MAX_FRAME: u32 = 1 << 30;

/// A place in the spool: segment number and byte offset.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pos {
    pub segment: u64,
    pub offset: u64,
}

/// One frame read back, with where the next one starts.
#[derive(Debug)]
pub struct Frame {
    pub payload: Vec<u8>,
    pub next: Pos,
}

struct Append {
    payloads: Vec<Vec<u8>>,
    done: oneshot::Sender<std::io::Result<()>>,
}

pub struct Spool {
    dir: PathBuf,
    appends: mpsc::Sender<Append>,
    durable: watch::Receiver<Pos>,
    /// Frames written and not yet acknowledged by the database.
    pending: Arc<AtomicU64>,
    /// The oldest segment still on disk (segments are numbered consecutively).
    oldest: AtomicU64,
}

fn segment_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("{n:020}.seg"))
}

fn segments(dir: &Path) -> Result<Vec<u64>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let name = entry?.file_name();
        let name = name.to_string_lossy();
        if let Some(n) = name.strip_suffix(".seg").and_then(|n| n.parse().ok()) {
            found.push(n);
        }
    }
    found.sort_unstable();
    Ok(found)
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Reads the frame at the reader's position; `None` at a clean end of data, `Err` with the
/// reason for a torn or corrupt frame.
fn read_frame(r: &mut impl Read) -> std::io::Result<Option<Result<Vec<u8>, String>>> {
    let mut header = [0u8; HEADER];
    let mut got = 0;
    while got < HEADER {
        match r.read(&mut header[got..])? {
            0 if got == 0 => return Ok(None),
            0 => return Ok(Some(Err(format!("a frame header cut after {got} bytes")))),
            n => got += n,
        }
    }
    let len = u32::from_le_bytes(header[..4].try_into().unwrap());
    let crc = u32::from_le_bytes(header[4..].try_into().unwrap());
    if len > MAX_FRAME {
        return Ok(Some(Err(format!("a frame length of {len} bytes"))));
    }
    let mut payload = vec![0u8; len as usize];
    let mut got = 0;
    while got < payload.len() {
        match r.read(&mut payload[got..])? {
            0 => return Ok(Some(Err(format!("a frame of {len} bytes cut after {got}")))),
            n => got += n,
        }
    }
    if crc32fast::hash(&payload) != crc {
        return Ok(Some(Err("a frame whose checksum does not match".into())));
    }
    Ok(Some(Ok(payload)))
}

/// Checks every frame of segment `n` from `from`; returns the frame count and the end of the
/// last good frame, and the damage found after it, if any.
fn scan(dir: &Path, n: u64, from: u64) -> Result<(u64, u64, Option<String>)> {
    let path = segment_path(dir, n);
    let mut r =
        BufReader::new(File::open(&path).with_context(|| format!("opening {}", path.display()))?);
    r.seek(SeekFrom::Start(from))?;
    let (mut frames, mut end) = (0, from);
    loop {
        match read_frame(&mut r)? {
            None => return Ok((frames, end, None)),
            Some(Ok(p)) => {
                frames += 1;
                end += (HEADER + p.len()) as u64;
            }
            Some(Err(why)) => return Ok((frames, end, Some(why))),
        }
    }
}

fn read_cursor(dir: &Path) -> Result<Option<Pos>> {
    let text = match std::fs::read_to_string(dir.join("cursor")) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).context("reading the spool cursor"),
    };
    let mut parts = text.split_whitespace().map(str::parse::<u64>);
    match (parts.next(), parts.next()) {
        (Some(Ok(segment)), Some(Ok(offset))) => Ok(Some(Pos { segment, offset })),
        // An unreadable cursor only means frames are delivered again: harmless.
        _ => Ok(None),
    }
}

impl Spool {
    /// Opens (or creates) the spool in `dir`, repairs a torn tail, and returns it with the place
    /// delivery resumes from. Segments roll over at `segment_bytes`.
    pub fn open(dir: &Path, segment_bytes: u64) -> Result<(Spool, Pos)> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut segs = segments(dir)?;
        if segs.is_empty() {
            File::create(segment_path(dir, 1))?.sync_all()?;
            sync_dir(dir)?;
            segs.push(1);
        }
        let first = Pos {
            segment: segs[0],
            offset: 0,
        };
        let start = read_cursor(dir)?
            .filter(|c| segs.contains(&c.segment))
            .unwrap_or(first)
            .max(first);
        let last = *segs.last().unwrap();
        let mut pending = 0;
        for &n in segs.iter().filter(|&&n| n >= start.segment) {
            let from = if n == start.segment { start.offset } else { 0 };
            let (frames, end, damage) = scan(dir, n, from)?;
            pending += frames;
            if let Some(why) = damage {
                let path = segment_path(dir, n);
                if n != last {
                    bail!(
                        "spool segment {} is damaged at byte {end} ({why}), and later segments \
                         hold acknowledged events: move it aside only after saving what it holds",
                        path.display()
                    );
                }
                eprintln!(
                    "spool: {} ends in {why} at byte {end} (a write cut short): truncated",
                    path.display()
                );
                let f = OpenOptions::new().write(true).open(&path)?;
                f.set_len(end)?;
                f.sync_all()?;
            }
        }
        let path = segment_path(dir, last);
        let file = OpenOptions::new().append(true).open(&path)?;
        let size = file.metadata()?.len();
        let end = Pos {
            segment: last,
            offset: size,
        };
        let (durable_tx, durable) = watch::channel(end);
        let (appends, rx) = mpsc::channel::<Append>();
        let writer = Writer {
            dir: dir.to_path_buf(),
            file,
            at: end,
            segment_bytes,
        };
        std::thread::Builder::new()
            .name("spool-writer".into())
            .spawn(move || writer.run(rx, durable_tx))?;
        let spool = Spool {
            dir: dir.to_path_buf(),
            appends,
            durable,
            pending: Arc::new(AtomicU64::new(pending)),
            oldest: AtomicU64::new(segs[0]),
        };
        Ok((spool, start))
    }

    /// Appends the payloads and returns once they are on disk (fsynced). Appends from many
    /// callers at once share one fsync.
    pub async fn append(&self, payloads: Vec<Vec<u8>>) -> std::io::Result<()> {
        let n = payloads.len() as u64;
        let (done, wait) = oneshot::channel();
        self.appends
            .send(Append { payloads, done })
            .map_err(|_| std::io::Error::other("the spool writer has stopped"))?;
        let result = wait
            .await
            .unwrap_or_else(|_| Err(std::io::Error::other("the spool writer has stopped")));
        if result.is_ok() {
            self.pending.fetch_add(n, Ordering::SeqCst);
        }
        result
    }

    /// Frames on disk not yet committed to the database.
    pub fn pending(&self) -> u64 {
        self.pending.load(Ordering::SeqCst)
    }

    /// A reader from `from` over what is durable.
    pub fn reader(&self, from: Pos) -> Reader {
        Reader {
            dir: self.dir.clone(),
            at: from,
            file: None,
            durable: self.durable.clone(),
        }
    }

    /// Records that everything before `upto` (`frames` frames) is committed: moves the cursor
    /// and deletes the segments wholly before it.
    pub fn acknowledge(&self, upto: Pos, frames: u64) -> Result<()> {
        let tmp = self.dir.join("cursor.tmp");
        std::fs::write(&tmp, format!("{} {}\n", upto.segment, upto.offset))?;
        std::fs::rename(&tmp, self.dir.join("cursor"))?;
        // Only when the cursor has left a segment is there anything to delete.
        let oldest = self.oldest.load(Ordering::SeqCst);
        for n in oldest..upto.segment {
            match std::fs::remove_file(segment_path(&self.dir, n)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
                _ => {}
            }
        }
        self.oldest
            .store(oldest.max(upto.segment), Ordering::SeqCst);
        self.pending.fetch_sub(frames, Ordering::SeqCst);
        Ok(())
    }
}

struct Writer {
    dir: PathBuf,
    file: File,
    at: Pos,
    segment_bytes: u64,
}

impl Writer {
    fn run(mut self, rx: mpsc::Receiver<Append>, durable: watch::Sender<Pos>) {
        while let Ok(first) = rx.recv() {
            // Group commit: everything queued meanwhile is written before the one fsync.
            let mut group = vec![first];
            group.extend(rx.try_iter());
            let result = self.write(&group);
            if result.is_ok() {
                durable.send_replace(self.at);
            }
            for a in group {
                let _ = a.done.send(match &result {
                    Ok(()) => Ok(()),
                    Err(e) => Err(std::io::Error::new(e.kind(), e.to_string())),
                });
            }
        }
    }

    fn write(&mut self, group: &[Append]) -> std::io::Result<()> {
        if self.at.offset >= self.segment_bytes {
            // The old segment is complete and synced; readers move on when they see the new one.
            let next = self.at.segment + 1;
            self.file = OpenOptions::new()
                .create_new(true)
                .append(true)
                .open(segment_path(&self.dir, next))?;
            sync_dir(&self.dir)?;
            self.at = Pos {
                segment: next,
                offset: 0,
            };
        }
        let mut buf = Vec::new();
        for p in group.iter().flat_map(|a| &a.payloads) {
            buf.extend_from_slice(&(p.len() as u32).to_le_bytes());
            buf.extend_from_slice(&crc32fast::hash(p).to_le_bytes());
            buf.extend_from_slice(p);
        }
        if let Err(e) = self
            .file
            .write_all(&buf)
            .and_then(|()| self.file.sync_data())
        {
            // Whatever part reached the file is a torn tail: cut it so later frames stay readable.
            let _ = self.file.set_len(self.at.offset);
            return Err(e);
        }
        self.at.offset += buf.len() as u64;
        Ok(())
    }
}

/// Reads durable frames in order, across segments.
pub struct Reader {
    dir: PathBuf,
    at: Pos,
    file: Option<BufReader<File>>,
    durable: watch::Receiver<Pos>,
}

impl Reader {
    /// The next durable frame, if one is there now.
    pub fn try_next(&mut self) -> Result<Option<Frame>> {
        loop {
            let durable = *self.durable.borrow_and_update();
            if self.at.segment == durable.segment && self.at.offset >= durable.offset {
                return Ok(None);
            }
            if self.file.is_none() {
                let mut f = File::open(segment_path(&self.dir, self.at.segment))?;
                f.seek(SeekFrom::Start(self.at.offset))?;
                self.file = Some(BufReader::with_capacity(1 << 20, f));
            }
            match read_frame(self.file.as_mut().unwrap())? {
                Some(Ok(payload)) => {
                    self.at.offset += (HEADER + payload.len()) as u64;
                    return Ok(Some(Frame {
                        payload,
                        next: self.at,
                    }));
                }
                // The end of a segment the writer has left: on to the next one.
                None if self.at.segment < durable.segment => {
                    self.at = Pos {
                        segment: self.at.segment + 1,
                        offset: 0,
                    };
                    self.file = None;
                }
                None => bail!(
                    "spool segment {} ends before its durable length",
                    self.at.segment
                ),
                Some(Err(why)) => bail!(
                    "spool segment {} is damaged at byte {}: {why}",
                    self.at.segment,
                    self.at.offset
                ),
            }
        }
    }

    /// Up to `max` frames: waits for the first, then up to `timeout` for the batch to fill.
    /// Once `flush` is true it waits for nothing: it returns what is there, possibly nothing.
    pub async fn next_batch(
        &mut self,
        max: usize,
        timeout: std::time::Duration,
        flush: &watch::Receiver<bool>,
    ) -> Result<Vec<Frame>> {
        let mut flush = flush.clone();
        let mut batch = Vec::new();
        let mut deadline = None;
        loop {
            while batch.len() < max {
                match self.try_next()? {
                    Some(f) => batch.push(f),
                    None => break,
                }
            }
            if batch.len() >= max || *flush.borrow_and_update() {
                return Ok(batch);
            }
            // The batch's clock starts at its first frame.
            let until = if batch.is_empty() {
                None
            } else {
                Some(*deadline.get_or_insert_with(|| tokio::time::Instant::now() + timeout))
            };
            let timed_out = async {
                match until {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            // A closed channel never changes again (and must not spin this loop).
            let more = async {
                if self.durable.changed().await.is_err() {
                    std::future::pending::<()>().await
                }
            };
            let flushed = async {
                if flush.changed().await.is_err() {
                    std::future::pending::<()>().await
                }
            };
            tokio::select! {
                _ = more => {}
                _ = flushed => {}
                _ = timed_out => return Ok(batch),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn tempdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("auditlog-spool-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn no_flush() -> watch::Receiver<bool> {
        watch::channel(false).1
    }

    fn payloads(range: std::ops::Range<u32>) -> Vec<Vec<u8>> {
        range.map(|i| format!("event {i}").into_bytes()).collect()
    }

    #[tokio::test]
    async fn frames_come_back_in_order_across_segments_and_restarts() {
        let dir = tempdir("order");
        let (spool, start) = Spool::open(&dir, 64).unwrap();
        spool.append(payloads(0..10)).await.unwrap();
        spool.append(payloads(10..20)).await.unwrap();
        assert!(
            segments(&dir).unwrap().len() > 1,
            "small segments roll over"
        );
        let mut r = spool.reader(start);
        let batch = r
            .next_batch(15, Duration::from_millis(10), &no_flush())
            .await
            .unwrap();
        assert_eq!(batch.len(), 15);
        assert_eq!(batch[14].payload, b"event 14");
        spool.acknowledge(batch[14].next, 15).unwrap();
        assert_eq!(spool.pending(), 5);
        assert!(
            !segments(&dir).unwrap().contains(&1),
            "a segment wholly acknowledged is deleted"
        );
        drop((r, spool));
        // Reopened: only the unacknowledged frames are delivered again.
        let (spool, start) = Spool::open(&dir, 64).unwrap();
        assert_eq!(spool.pending(), 5);
        let mut r = spool.reader(start);
        let rest = r
            .next_batch(100, Duration::from_millis(10), &no_flush())
            .await
            .unwrap();
        let rest: Vec<_> = rest
            .iter()
            .map(|f| String::from_utf8(f.payload.clone()).unwrap())
            .collect();
        assert_eq!(
            rest,
            (15..20).map(|i| format!("event {i}")).collect::<Vec<_>>()
        );
    }

    #[tokio::test]
    async fn a_torn_last_frame_is_truncated_and_the_rest_kept() {
        let dir = tempdir("torn");
        let (spool, _) = Spool::open(&dir, 1 << 20).unwrap();
        spool.append(payloads(0..3)).await.unwrap();
        drop(spool);
        let seg = segment_path(&dir, 1);
        let good = std::fs::metadata(&seg).unwrap().len();
        for tail in [&[5u8, 0][..], &[20, 0, 0, 0, 1, 2, 3, 4, b'x'][..]] {
            let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
            f.write_all(tail).unwrap();
            drop(f);
            let (spool, start) = Spool::open(&dir, 1 << 20).unwrap();
            assert_eq!(std::fs::metadata(&seg).unwrap().len(), good);
            let mut r = spool.reader(start);
            assert_eq!(
                r.next_batch(10, Duration::from_millis(10), &no_flush())
                    .await
                    .unwrap()
                    .len(),
                3
            );
        }
        // A flipped byte inside the last frame: its checksum fails, it is cut.
        let mut bytes = std::fs::read(&seg).unwrap();
        *bytes.last_mut().unwrap() ^= 1;
        std::fs::write(&seg, &bytes).unwrap();
        let (spool, _) = Spool::open(&dir, 1 << 20).unwrap();
        assert_eq!(spool.pending(), 2);
    }

    #[tokio::test]
    async fn damage_before_the_last_segment_stops_the_shim() {
        let dir = tempdir("damage");
        let (spool, _) = Spool::open(&dir, 16).unwrap();
        spool.append(payloads(0..4)).await.unwrap();
        spool.append(payloads(4..8)).await.unwrap();
        drop(spool);
        let seg = segment_path(&dir, 1);
        let mut bytes = std::fs::read(&seg).unwrap();
        bytes[HEADER] ^= 1;
        std::fs::write(&seg, &bytes).unwrap();
        let err = Spool::open(&dir, 16)
            .err()
            .expect("refuses to open")
            .to_string();
        assert!(err.contains("damaged"), "{err}");
    }
}
