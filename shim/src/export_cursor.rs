//! An export consumer's cursor file: `POSITION LENGTH [ROTATIONS]`, the last position a sink
//! accepted, and for `--out` the output file's length then and how many times it was rotated
//! (0, left out, for a file never rotated: so a cursor from before rotation reads the same).

use crate::durable;
use anyhow::{bail, Context, Result};
use std::path::Path;

#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Cursor {
    pub position: i64,
    /// The output file's length (0 for the sinks that are not files).
    pub len: u64,
    /// How many times the output file was rotated: the last rotated file is FILE.<rotations>.
    pub rotations: u64,
}

impl Cursor {
    /// The cursor at `path`, or one before the first event if there is none yet.
    pub fn read(path: &Path) -> Result<Cursor> {
        let text = match std::fs::read_to_string(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Cursor::default()),
            r => r.with_context(|| format!("reading {}", path.display()))?,
        };
        let fields: Vec<_> = text.split_whitespace().map(str::parse::<u64>).collect();
        match fields[..] {
            [Ok(p), Ok(len)] => Ok(Cursor {
                position: p as i64,
                len,
                rotations: 0,
            }),
            [Ok(p), Ok(len), Ok(rotations)] => Ok(Cursor {
                position: p as i64,
                len,
                rotations,
            }),
            _ => bail!(
                "{}: not a cursor (\"POSITION LENGTH [ROTATIONS]\")",
                path.display()
            ),
        }
    }

    /// Saves it durably: only after its sink accepted what it counts.
    pub fn save(&self, path: &Path) -> Result<()> {
        let text = match self.rotations {
            0 => format!("{} {}\n", self.position, self.len),
            r => format!("{} {} {r}\n", self.position, self.len),
        };
        durable::write(path, text.as_bytes(), false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_it_saves_and_the_two_field_form() {
        let dir = std::env::temp_dir().join(format!("auditlog-cursor-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c");
        assert_eq!(Cursor::read(&path).unwrap(), Cursor::default());
        std::fs::write(&path, "12 345\n").unwrap();
        assert_eq!(
            Cursor::read(&path).unwrap(),
            Cursor {
                position: 12,
                len: 345,
                rotations: 0
            }
        );
        let c = Cursor {
            position: 13,
            len: 7,
            rotations: 2,
        };
        c.save(&path).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "13 7 2\n");
        assert_eq!(Cursor::read(&path).unwrap(), c);
        std::fs::write(&path, "13 x\n").unwrap();
        assert!(Cursor::read(&path).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
