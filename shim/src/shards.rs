//! The combined checkpoint of sharded ingest: one signed c2sp.org/tlog-checkpoint over the heads
//! of every shard (each an auditlog database with its own tree), so that one signature, kept
//! outside all of them, holds every shard to the history it had.
//!
//! The combined log is itself append-only: each `checkpoint --shard ...` run appends one leaf per
//! shard, in the order the shards were named, and signs the combined tree under the key's name
//! as origin. A leaf is the shard's checkpoint body (origin, size, root: what a checkpoint of
//! that shard alone would sign), its hash SHA-256(0x00 || body) as RFC 9162 says. Each combined
//! tree is a prefix of the next, so two combined checkpoints never disagree; and before a run
//! appends, every shard proves (its consistency proof) that its tree extends its head in the run
//! before. A directory holds, per run, `checkpoint-NNNNNNNN.note` (the signed note) and
//! `checkpoint-NNNNNNNN.leaves` (the shard bodies it appended, one after another), which is all
//! a verifier needs to rebuild the combined tree.

use crate::anchor::{chain_problems, extends, held, read_text, tree_head, Keys};
use crate::durable;
use crate::signed_checkpoint::{self as sc, Dir, Head, Trust};
use anyhow::{anyhow, bail, ensure, Context, Result};
use auditlog_core::tree::Frontier;
use signed_note::{Signer, StandardSigner, StandardVerifier};
use std::path::Path;
use tlog_tiles::checkpoint::Checkpoint;
use tlog_tiles::{record_hash, Hash};
use tokio_postgres::Client;

/// The combined tree's leaf hash of one shard head.
pub fn leaf_hash(shard: &Head) -> Hash {
    record_hash(&shard.body())
}

/// A `.leaves` file: the shard bodies, one after another.
pub fn leaves_text(shards: &[Head]) -> Vec<u8> {
    shards.iter().flat_map(Head::body).collect()
}

/// The shard heads in a `.leaves` file, which must be exactly as [`leaves_text`] writes them (the
/// leaves are hashed as written).
pub fn parse_leaves(text: &[u8]) -> Result<Vec<Head>> {
    let text = std::str::from_utf8(text).context("not UTF-8 text")?;
    let lines: Vec<&str> = text.split_terminator('\n').collect();
    ensure!(
        !lines.is_empty() && lines.len().is_multiple_of(3),
        "not shard checkpoint bodies (origin, size and root lines each)"
    );
    let heads = lines
        .chunks(3)
        .map(|body| {
            let c = Checkpoint::from_bytes(format!("{}\n", body.join("\n")).as_bytes())
                .map_err(|e| anyhow!("{body:?} is not a checkpoint body: {e}"))?;
            Head::new(c.origin().to_owned(), c.size(), *c.hash())
        })
        .collect::<Result<Vec<_>>>()?;
    ensure!(
        leaves_text(&heads) == text.as_bytes(),
        "the shard bodies are not written as checkpoints write them"
    );
    Ok(heads)
}

/// One combined checkpoint: the head it signed and the shard heads its run appended.
pub struct Run {
    /// Its note's path, to name it.
    pub name: String,
    pub head: Head,
    pub shards: Vec<Head>,
}

/// The combined log a directory holds, every note checked against the leaves before it.
pub struct Log {
    pub runs: Vec<Run>,
    /// What does not hold: a note that does not verify or whose root the leaves do not give, a
    /// missing file, a run naming other shards than the one before.
    pub problems: Vec<String>,
    /// The combined tree over every leaf read, to append to.
    tree: Frontier,
    next_seq: u64,
}

impl Log {
    pub fn read(dir: &Path, trust: &Trust) -> Result<Log> {
        let files = Dir::read(dir).with_context(|| format!("reading {}", dir.display()))?;
        let mut log = Log {
            runs: Vec::new(),
            problems: files.gaps(),
            tree: Frontier::default(),
            next_seq: files.next_seq(),
        };
        if !files.json.is_empty() {
            log.problems.push(format!(
                "{} holds 0.2.0 checkpoints of one log: keep combined checkpoints in a directory of their own",
                dir.display()
            ));
        }
        for (_, path) in &files.notes {
            let name = path.display().to_string();
            let leaves = path.with_extension("leaves");
            let shards = match std::fs::read(&leaves)
                .map_err(anyhow::Error::from)
                .and_then(|t| parse_leaves(&t))
            {
                Ok(s) => s,
                Err(e) => {
                    // Without its leaves no later root can be rebuilt.
                    log.problems.push(format!(
                        "{}: {e:#}: this and every later combined checkpoint cannot be checked",
                        leaves.display()
                    ));
                    break;
                }
            };
            for s in &shards {
                log.tree.append(&leaf_hash(s), &mut Vec::new());
            }
            let head = match std::fs::read(path)
                .map_err(anyhow::Error::from)
                .and_then(|note| trust.verify(&note))
            {
                Ok(v) => v.head,
                Err(e) => {
                    log.problems.push(format!("{name}: {e:#}"));
                    continue;
                }
            };
            if (head.size, head.root) != (log.tree.size(), log.tree.root()) {
                log.problems.push(format!(
                    "{name}: the leaves do not give the tree it signed ({} leaves signed, {} in the leaves files up to it): a leaves file was edited or removed",
                    head.size,
                    log.tree.size()
                ));
            }
            if let Some(before) = log.runs.last() {
                if origins(&before.shards) != origins(&shards) {
                    log.problems.push(format!(
                        "{name}: its shards {:?} are not those of {} {:?}",
                        origins(&shards),
                        before.name,
                        origins(&before.shards)
                    ));
                }
            }
            log.runs.push(Run { name, head, shards });
        }
        Ok(log)
    }

    /// Appends `shards` as the next run: writes its leaves, then its note signed by `signer`
    /// (never replacing one). Returns the note's path and the combined head.
    pub fn append(
        &mut self,
        dir: &Path,
        shards: Vec<Head>,
        signer: &dyn Signer,
    ) -> Result<(std::path::PathBuf, Head)> {
        for s in &shards {
            self.tree.append(&leaf_hash(s), &mut Vec::new());
        }
        let head = Head::new(signer.name().to_owned(), self.tree.size(), self.tree.root())?;
        let path = dir.join(sc::file_name(self.next_seq));
        // The leaves first: a note is never there without them. Leaves a crash left without
        // their note are replaced by the next run's.
        durable::write(&path.with_extension("leaves"), &leaves_text(&shards), false)?;
        durable::create(&path, &sc::note(&head, &[sc::sign(&head, signer)?])?, false)?;
        self.runs.push(Run {
            name: path.display().to_string(),
            head: head.clone(),
            shards,
        });
        self.next_seq += 1;
        Ok((path, head))
    }
}

fn origins(shards: &[Head]) -> Vec<&str> {
    shards.iter().map(|s| s.origin.as_str()).collect()
}

/// Held while a run reads and writes `dir`, so that two runs at once cannot pair one's leaves
/// with the other's note.
fn lock(dir: &Path) -> Result<std::fs::File> {
    let path = dir.join(".lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    file.try_lock()
        .map_err(|_| anyhow!("another checkpoint run holds {}", path.display()))?;
    Ok(file)
}

/// `checkpoint --shard ...`: reads every shard's head, checks that each extends its head in the
/// newest combined checkpoint, and only then appends them all and signs the combined tree. A
/// shard that does not answer, or does not extend, stops the run before anything is written.
pub async fn checkpoint(key_path: &Path, dir: &Path, shards: &[(&str, Client)]) -> Result<()> {
    let skey = read_text(key_path)?;
    let signer = StandardSigner::new(&skey)
        .map_err(|e| anyhow!("{}: not a log's signer key: {e}", key_path.display()))?;
    std::fs::create_dir_all(dir)?;
    let _lock = lock(dir)?;
    let trust = Trust {
        log: Box::new(StandardVerifier::new(&sc::log_vkey(&skey)?)?),
        witnesses: Vec::new(),
        require: 0,
        origin: Some(signer.name().to_owned()),
    };
    let mut log = Log::read(dir, &trust)?;
    ensure!(
        log.problems.is_empty(),
        "{}; not signing",
        log.problems.join("; ")
    );
    let before = log.runs.last();
    if let Some(run) = before {
        ensure!(
            run.shards.len() == shards.len(),
            "{} covers {} shards, {:?}; this run names {}: name the same shards in the same order (or start another directory)",
            run.name,
            run.shards.len(),
            origins(&run.shards),
            shards.len()
        );
    }
    let mut heads: Vec<Head> = Vec::new();
    for (i, (url, db)) in shards.iter().enumerate() {
        let unanswered = || format!("shard {url} did not answer: no combined checkpoint written");
        let now = tree_head(db).await.with_context(unanswered)?;
        if let Some(run) = before {
            let name = format!("shard {url}: {}", run.name);
            if let Some(problem) = held(db, &name, &run.shards[i], &now)
                .await
                .with_context(unanswered)?
            {
                bail!("{problem}; not signing");
            }
        }
        ensure!(
            heads.iter().all(|h| h.origin != now.origin),
            "shard {url} is the log {:?}, named twice",
            now.origin
        );
        heads.push(now);
    }
    let events: u64 = heads.iter().map(|h| h.size).sum();
    let (path, head) = log.append(dir, heads, &signer)?;
    println!(
        "combined checkpoint of {} shards signed: {events} events in all, {} leaves, {}",
        shards.len(),
        head.size,
        path.display()
    );
    Ok(())
}

/// `verify --shard ...`: every combined checkpoint's signature and root (from the leaves), and
/// for every shard: its heads through the combined checkpoints each extending the one before,
/// its tree now extending its head in the newest, and its own chain. Returns the problems.
pub async fn verify(dir: &Path, keys: &Keys, shards: &[(&str, Client)]) -> Result<Vec<String>> {
    let trust = keys.trust(keys.log()?.1.as_deref())?;
    let log = Log::read(dir, &trust)?;
    let mut problems = log.problems;
    let newest = log
        .runs
        .last()
        .with_context(|| format!("no combined checkpoint in {} verifies", dir.display()))?;
    let mut checked = Vec::new();
    for (url, db) in shards {
        let now = tree_head(db)
            .await
            .with_context(|| format!("shard {url} did not answer"))?;
        let label = format!("shard {url} ({})", now.origin);
        let mut before: Option<(&str, &Head)> = None;
        for run in &log.runs {
            let Some(head) = run.shards.iter().find(|h| h.origin == now.origin) else {
                continue;
            };
            // The shard proves a step only up to its own size; beyond it, `held` names the cut.
            if let Some((name, old)) = before.filter(|_| head.size <= now.size) {
                if extends(db, old, head).await?.is_err() {
                    problems.push(format!(
                        "{label}: its head in {} does not extend its head in {name}: a forged combined checkpoint, or history rewritten",
                        run.name
                    ));
                }
            }
            before = Some((&run.name, head));
        }
        if !newest.shards.iter().any(|h| h.origin == now.origin) {
            problems.push(format!("{label}: not in {}", newest.name));
        }
        if let Some((name, head)) = before {
            problems.extend(held(db, &format!("{label}: {name}"), head, &now).await?);
        }
        problems.extend(chain_problems(db, &label).await?);
        checked.push(now.origin);
    }
    for h in &newest.shards {
        if !checked.contains(&h.origin) {
            problems.push(format!(
                "{}: shard {:?} was not checked: give its --shard",
                newest.name, h.origin
            ));
        }
    }
    Ok(problems)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signed_checkpoint::tests::{log, trust};
    use auditlog_core::merkle;

    fn shard(n: u8, size: u64) -> Head {
        Head::new(
            format!("auditlog/1/p{n}"),
            size,
            record_hash(&[n, size as u8]),
        )
        .unwrap()
    }

    /// An empty directory of combined checkpoints, the key that signs them and its trust.
    fn empty(name: &str) -> (std::path::PathBuf, sc::tests::Log, Trust, Log) {
        let dir = std::env::temp_dir().join(format!("auditlog-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let key = log(3);
        let t = trust(&key, &[], 0);
        let combined = Log::read(&dir, &t).unwrap();
        (dir, key, t, combined)
    }

    #[test]
    fn leaves_are_the_shard_bodies_and_read_back_exactly() {
        let heads = vec![shard(0, 3), shard(1, 0)];
        let text = leaves_text(&heads);
        assert_eq!(
            String::from_utf8(text.clone()).unwrap(),
            format!(
                "auditlog/1/p0\n3\n{}\nauditlog/1/p1\n0\n{}\n",
                heads[0].root, heads[1].root
            )
        );
        assert_eq!(parse_leaves(&text).unwrap(), heads);
        for bad in [
            "auditlog/1/p0\n03\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n",
            "auditlog/1/p0\n3\n",
            "",
        ] {
            assert!(parse_leaves(bad.as_bytes()).is_err(), "{bad:?}");
        }
    }

    /// Three runs over two shards: the combined tree is RFC 9162's over the bodies' leaf hashes
    /// (core's recursive merkle::root, not the frontier the log appends with), each note verifies
    /// and the directory reads back as it was written.
    #[test]
    fn runs_append_to_one_tree() {
        let (dir, l, t, mut combined) = empty("combined");
        let runs = [
            vec![shard(0, 0), shard(1, 0)],
            vec![shard(0, 5), shard(1, 2)],
            vec![shard(0, 9), shard(1, 2)],
        ];
        for (i, r) in runs.iter().enumerate() {
            let (path, head) = combined.append(&dir, r.clone(), &l.signer).unwrap();
            let all: Vec<merkle::Hash> = runs[..=i]
                .iter()
                .flatten()
                .map(|h| leaf_hash(h).0)
                .collect();
            assert_eq!(head.size, 2 * (i as u64 + 1));
            assert_eq!(head.root.0, merkle::root(&all));
            assert_eq!(head.origin, "auditlog");
            assert_eq!(t.verify(&std::fs::read(&path).unwrap()).unwrap().head, head);
        }
        let again = Log::read(&dir, &t).unwrap();
        assert!(again.problems.is_empty(), "{:?}", again.problems);
        assert_eq!(again.runs.len(), 3);
        assert_eq!(again.runs[1].shards, runs[1]);
        assert_eq!(again.runs[2].head, combined.runs[2].head);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn edited_missing_and_forged_files_are_named() {
        let (dir, l, t, mut combined) = empty("combined-bad");
        for size in [1, 2, 3] {
            combined
                .append(&dir, vec![shard(0, size), shard(1, size)], &l.signer)
                .unwrap();
        }
        let problems = || Log::read(&dir, &t).unwrap().problems;
        let leaves = dir.join(sc::file_name(2)).with_extension("leaves");
        let kept = std::fs::read(&leaves).unwrap();

        // A shard's head in the middle run changed: that run's and every later root break.
        std::fs::write(&leaves, leaves_text(&[shard(0, 2), shard(1, 7)])).unwrap();
        let p = problems();
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(
            p[0].contains("the leaves do not give the tree it signed"),
            "{p:?}"
        );

        // Shards swapped: same leaves, another tree, and another order than the run before.
        std::fs::write(&leaves, leaves_text(&[shard(1, 2), shard(0, 2)])).unwrap();
        assert!(problems().iter().any(|p| p.contains("are not those of")));

        std::fs::remove_file(&leaves).unwrap();
        assert!(problems()[0].contains("cannot be checked"));
        std::fs::write(&leaves, &kept).unwrap();
        assert!(problems().is_empty());

        // A note signed with another key.
        let note = dir.join(sc::file_name(3));
        let signed = std::fs::read(&note).unwrap();
        let head = Log::read(&dir, &t).unwrap().runs[2].head.clone();
        let forged = sc::note(&head, &[sc::sign(&head, &log(4).signer).unwrap()]).unwrap();
        std::fs::write(&note, forged).unwrap();
        assert!(problems()[0].contains("forged checkpoint"));
        std::fs::write(&note, signed).unwrap();
        assert!(problems().is_empty());

        // A run removed: a gap, and the next root no longer given by the leaves.
        std::fs::remove_file(dir.join(sc::file_name(2))).unwrap();
        std::fs::remove_file(&leaves).unwrap();
        let p = problems();
        assert!(
            p.iter().any(|p| p.contains("a checkpoint is missing")),
            "{p:?}"
        );
        assert!(
            p.iter().any(|p| p.contains("the leaves do not give")),
            "{p:?}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
