//! `--out FILE`: exactly once across crashes. The cursor counts FILE's length and its rotations;
//! on start, what a killed run wrote past that length is cut off (and written again), and a
//! rotation it did not get to count is recognised and finished. With `--rotate-bytes N`, a batch
//! that would take FILE past N bytes goes to a fresh FILE instead, the old one renamed
//! FILE.<rotations + 1> (FILE.1 the oldest). A rename is counted by the cursor saved after the
//! next batch; until then FILE.<rotations + 1> with the cursor's length says it happened.

use super::{Failure, Line};
use crate::export_cursor::Cursor;
use anyhow::{bail, Context, Result};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

pub struct FileSink {
    path: PathBuf,
    file: File,
    pub len: u64,
    pub rotations: u64,
    /// Rotate before a batch would take the file past this (None: never).
    rotate_bytes: Option<u64>,
}

/// FILE.<n>.
fn rotated(path: &Path, n: u64) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(format!(".{n}"));
    PathBuf::from(p)
}

fn sync_dir(path: &Path) -> Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    File::open(dir.unwrap_or(Path::new(".")))?.sync_all()?;
    Ok(())
}

fn len_of(path: &Path) -> Result<Option<u64>> {
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        r => Ok(Some(
            r.with_context(|| format!("reading {}", path.display()))?
                .len(),
        )),
    }
}

impl FileSink {
    /// FILE as `cursor` counts it: a rotation done but not counted finished, what was written
    /// after the count cut off.
    pub fn open(path: &Path, cursor: &Cursor, rotate_bytes: Option<u64>) -> Result<FileSink> {
        let (mut len, mut rotations) = (cursor.len, cursor.rotations);
        let next = rotated(path, rotations + 1);
        if let Some(next_len) = len_of(&next)? {
            // A rotation happens only to a file the cursor counts some bytes of, and renames it
            // whole: anything else is some other file of that name.
            if len == 0 || next_len != len {
                bail!(
                    "{} exists ({next_len} bytes) but the cursor counts {len} bytes of {} after {rotations} rotations: move one aside",
                    next.display(),
                    path.display()
                );
            }
            (len, rotations) = (0, rotations + 1);
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("opening {}", path.display()))?;
        let now = file.metadata()?.len();
        if now < len {
            bail!(
                "{} has {now} bytes where the cursor counts {len}: it was cut or replaced; move the cursor or the file aside",
                path.display()
            );
        }
        file.set_len(len)?;
        file.sync_all()?;
        sync_dir(path)?;
        Ok(FileSink {
            path: path.to_owned(),
            file,
            len,
            rotations,
            rotate_bytes,
        })
    }

    /// FILE renamed FILE.<rotations + 1>, a fresh FILE in its place, both durable before any
    /// line goes to the fresh one. A try that failed midway is taken up where it stopped.
    fn rotate(&mut self) -> Result<(), Failure> {
        let next = rotated(&self.path, self.rotations + 1);
        match (self.path.exists(), next.exists()) {
            (true, false) => std::fs::rename(&self.path, &next).with_context(|| {
                format!("renaming {} to {}", self.path.display(), next.display())
            })?,
            (false, true) => {}
            _ => {
                return Err(Failure::Stop(anyhow::anyhow!(
                    "{} exists already: move it aside",
                    next.display()
                )))
            }
        }
        self.file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .with_context(|| format!("creating {}", self.path.display()))?;
        sync_dir(&self.path)?;
        (self.len, self.rotations) = (0, self.rotations + 1);
        Ok(())
    }

    pub fn accept(&mut self, lines: &[Line]) -> Result<(), Failure> {
        let mut out = String::new();
        for l in lines {
            out.push_str(&l.text);
            out.push('\n');
        }
        let bytes = out.len() as u64;
        if self
            .rotate_bytes
            .is_some_and(|max| self.len > 0 && self.len + bytes > max)
        {
            self.rotate()?;
        }
        // A try that failed midway left part of the batch: cut it before writing the batch again.
        self.file.set_len(self.len)?;
        self.file.write_all(out.as_bytes())?;
        self.file.sync_data()?;
        self.len += bytes;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(texts: &[&str]) -> Vec<Line> {
        texts
            .iter()
            .map(|t| Line {
                text: t.to_string(),
                position: 0,
                time_ms: 0,
            })
            .collect()
    }

    #[test]
    fn a_rename_the_cursor_did_not_count_is_finished_on_open() {
        let dir = std::env::temp_dir().join(format!("auditlog-rotate-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("out");
        let mut s = FileSink::open(&out, &Cursor::default(), Some(10)).unwrap();
        assert!(s.accept(&lines(&["aaaa", "bbbb"])).is_ok());
        let counted = Cursor {
            position: 2,
            len: s.len,
            rotations: s.rotations,
        };
        // Killed after the next batch's rotation and write, before its cursor.
        assert!(s.accept(&lines(&["cccc"])).is_ok());
        assert_eq!(
            std::fs::read_to_string(rotated(&out, 1)).unwrap(),
            "aaaa\nbbbb\n"
        );
        let s = FileSink::open(&out, &counted, Some(10)).unwrap();
        assert_eq!((s.len, s.rotations), (0, 1));
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "");
        // A FILE.1 the cursor cannot have made is not taken for a rotation.
        assert!(FileSink::open(&out, &Cursor::default(), Some(10)).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
