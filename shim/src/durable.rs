//! Files that must survive a crash whole (keys, checkpoints, a witness's state): written to a
//! temporary file and fsynced, then put in place, and the directory fsynced.

use anyhow::{bail, Context, Result};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path`, replacing it; `private` files are readable by their owner only.
pub fn write(path: &Path, bytes: &[u8], private: bool) -> Result<()> {
    let tmp = written(path, bytes, private)?;
    std::fs::rename(&tmp, path)?;
    sync_dir(path)
}

/// Writes `bytes` to `path`, which must not exist: of two writers of one name, one fails.
pub fn create(path: &Path, bytes: &[u8], private: bool) -> Result<()> {
    let tmp = written(path, bytes, private)?;
    let linked = std::fs::hard_link(&tmp, path);
    std::fs::remove_file(&tmp)?;
    match linked {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            bail!(
                "{} exists already: written meanwhile by another run",
                path.display()
            )
        }
        linked => linked?,
    }
    sync_dir(path)
}

/// `path`'s temporary file, written and fsynced. One left by a crash is removed first, so that
/// this one gets its own mode.
fn written(path: &Path, bytes: &[u8], private: bool) -> Result<PathBuf> {
    let tmp = path.with_extension("tmp");
    match std::fs::remove_file(&tmp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
        _ => {}
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(if private { 0o600 } else { 0o644 })
        .open(&tmp)
        .with_context(|| format!("creating {}", tmp.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(tmp)
}

fn sync_dir(path: &Path) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_never_replaces() {
        let dir = std::env::temp_dir().join(format!("auditlog-durable-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("checkpoint-00000001.note");
        let _ = std::fs::remove_file(&f);
        create(&f, b"first", false).unwrap();
        assert!(create(&f, b"second", true).is_err());
        assert_eq!(std::fs::read(&f).unwrap(), b"first");
        write(&f, b"third", false).unwrap();
        assert_eq!(std::fs::read(&f).unwrap(), b"third");
        assert!(!f.with_extension("tmp").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
