//! `auditlog-shim witness`: a c2sp.org/tlog-witness that an auditor runs on a machine the DBAs do
//! not control. It cosigns a log's checkpoint only if it is consistent with the last one it
//! cosigned for that log, so a log can no longer show one history to some and another to others,
//! or rewrite what a cosigned checkpoint covered, without the witness refusing.
//!
//! `POST /add-checkpoint`, body `old <size>\n`, consistency proof lines, an empty line, then the
//! signed checkpoint. Answers (text/plain):
//! - 200: the cosignature line (`— <witness name> <base64>`), after the checkpoint is on disk;
//! - 409 (`text/x.tlog.size`): `old` is not the size of the last checkpoint cosigned for that log;
//!   the body is that size;
//! - 422: the proof does not lead from that checkpoint to this one (a fork, or history rewritten);
//! - 403: no signature from a key trusted for the origin, or one from such a key that fails;
//! - 404: an origin it does not witness; 400: a malformed body, or `old` above the size.
//!
//! State: one file per log in `--state`, named by the SHA-256 of the origin, holding the last
//! cosigned checkpoint as received; it is verified again at start.

use crate::cosignature::{unix_now, CosignatureSigner, CosignatureVerifier};
use crate::durable;
use crate::signed_checkpoint::Keys;
use anyhow::{ensure, Context, Result};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use sha2::{Digest, Sha256};
use signed_note::{Note, Signature, Signer, StandardVerifier, Verifier, VerifierList};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use tlog_tiles::{check_tree, Checkpoint, Hash, EMPTY_HASH};

#[derive(clap::Args, Clone, Debug)]
pub struct WitnessArgs {
    /// Address to listen on.
    #[arg(
        long,
        env = "AUDITLOG_WITNESS_LISTEN",
        default_value = "127.0.0.1:7380"
    )]
    pub listen: SocketAddr,
    /// The witness's private key file (PRIVATE+KEY+NAME+ID+KEY, a c2sp.org/tlog-cosignature key).
    #[arg(long, env = "AUDITLOG_WITNESS_KEY")]
    pub key: PathBuf,
    /// A log to witness, as ORIGIN=VKEY_FILE: the origin line of its checkpoints and a file with
    /// its Ed25519 verifier key (NAME+ID+KEY). Repeat for more logs, or more keys for one.
    #[arg(long = "log", value_name = "ORIGIN=VKEY_FILE", value_parser = parse_log, required = true)]
    pub logs: Vec<(String, PathBuf)>,
    /// Directory where the last cosigned checkpoint of each log is kept.
    #[arg(long, env = "AUDITLOG_WITNESS_STATE")]
    pub state: PathBuf,
}

fn parse_log(s: &str) -> Result<(String, PathBuf), String> {
    match s.split_once('=') {
        Some((origin, file)) if !origin.is_empty() && !file.is_empty() => {
            Ok((origin.to_owned(), file.into()))
        }
        _ => Err(format!("{s:?} is not ORIGIN=VKEY_FILE")),
    }
}

/// A log's trusted keys and the last checkpoint cosigned for it.
struct Log {
    keys: Vec<StandardVerifier>,
    latest: Option<(u64, Hash)>,
}

/// What the witness knows: its key, and for each origin it witnesses, the log's keys and the
/// last checkpoint it cosigned.
pub struct Known {
    signer: CosignatureSigner,
    logs: BTreeMap<String, Log>,
}

impl Known {
    /// No checkpoint cosigned yet; an origin given twice trusts both keys.
    pub fn new(signer: CosignatureSigner, logs: Vec<(String, StandardVerifier)>) -> Self {
        let mut known = Self {
            signer,
            logs: BTreeMap::new(),
        };
        for (origin, key) in logs {
            known
                .logs
                .entry(origin)
                .or_insert(Log {
                    keys: Vec::new(),
                    latest: None,
                })
                .keys
                .push(key);
        }
        known
    }

    /// Reads each log's last cosigned checkpoint from `dir`, checking the witness's own
    /// cosignature on it.
    pub fn load(&mut self, dir: &Path) -> Result<()> {
        let own = VerifierList::new(vec![Box::new(CosignatureVerifier::new(
            &self.signer.vkey(),
        )?)]);
        for (origin, log) in &mut self.logs {
            let path = state_file(dir, origin);
            let bytes = match std::fs::read(&path) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                r => r.with_context(|| format!("reading {}", path.display()))?,
            };
            let verified = Note::from_bytes(&bytes)
                .map_err(anyhow::Error::from)
                .and_then(|note| {
                    note.verify(&own)?;
                    Checkpoint::from_bytes(note.text()).map_err(|e| anyhow::anyhow!("{e}"))
                });
            let c = verified.with_context(|| {
                format!(
                    "{} ({origin}) is not a checkpoint this witness cosigned: restore it, or \
                     remove it to start that log afresh",
                    path.display()
                )
            })?;
            ensure!(
                c.origin() == origin,
                "{} holds a checkpoint of {}, not {origin}",
                path.display(),
                c.origin()
            );
            log.latest = Some((c.size(), *c.hash()));
        }
        Ok(())
    }
}

/// Where the last cosigned checkpoint of `origin` is kept (the origin hash of the spec's
/// monitoring URLs, so no origin can name a path).
fn state_file(dir: &Path, origin: &str) -> PathBuf {
    dir.join(format!(
        "{}.checkpoint",
        hex::encode(Sha256::digest(origin.as_bytes()))
    ))
}

/// Records `note` as the last cosigned checkpoint of `origin` in `dir`.
pub fn save(dir: &Path, origin: &str, note: &[u8]) -> Result<()> {
    durable::write(&state_file(dir, origin), note, false)
}

/// An HTTP answer, without HTTP.
#[derive(Debug, PartialEq)]
pub struct Reply {
    pub status: StatusCode,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

impl Reply {
    fn text(status: StatusCode, message: impl std::fmt::Display) -> Self {
        Self {
            status,
            content_type: "text/plain; charset=utf-8",
            body: format!("{message}\n").into_bytes(),
        }
    }
}

/// A parsed add-checkpoint body.
struct Request {
    old: u64,
    proof: Vec<Hash>,
    note: Note,
    checkpoint: Checkpoint,
}

fn parse(body: &[u8]) -> Result<Request, String> {
    let text = std::str::from_utf8(body).map_err(|_| "the body is not UTF-8")?;
    let (old, mut rest) = text.split_once('\n').ok_or("no old size line")?;
    let old = old
        .strip_prefix("old ")
        .and_then(|n| n.parse::<u64>().ok().filter(|v| v.to_string() == n))
        .ok_or_else(|| format!("{old:?} is not an old size line (old SIZE, in decimal)"))?;
    let mut proof = Vec::new();
    loop {
        let (line, after) = rest
            .split_once('\n')
            .ok_or("no empty line before the checkpoint")?;
        rest = after;
        if line.is_empty() {
            break;
        }
        if proof.len() == 63 {
            return Err("more than 63 consistency proof lines".into());
        }
        proof.push(Hash::parse_hash(line).map_err(|_| format!("{line:?} is not a base64 hash"))?);
    }
    let note = Note::from_bytes(rest.as_bytes())
        .map_err(|e| format!("the checkpoint is not a signed note: {e}"))?;
    let checkpoint =
        Checkpoint::from_bytes(note.text()).map_err(|e| format!("the note is a {e}"))?;
    Ok(Request {
        old,
        proof,
        note,
        checkpoint,
    })
}

/// add-checkpoint, in the spec's order of checks. On success `persist(origin, note)` must make
/// the checkpoint durable before the cosignature (made at `now`) is returned; if it fails, the
/// answer is 500 and nothing changes.
pub fn add_checkpoint(
    known: &mut Known,
    body: &[u8],
    now: u64,
    persist: impl FnOnce(&str, &[u8]) -> Result<()>,
) -> Reply {
    let req = match parse(body) {
        Ok(req) => req,
        Err(e) => return Reply::text(StatusCode::BAD_REQUEST, e),
    };
    let (c, old) = (&req.checkpoint, req.old);
    let Some(log) = known.logs.get_mut(c.origin()) else {
        return Reply::text(StatusCode::NOT_FOUND, format!("unknown log {}", c.origin()));
    };
    let keys = Keys(log.keys.iter().map(|k| k as &dyn Verifier).collect());
    if let Err(e) = req.note.verify(&keys) {
        return Reply::text(
            StatusCode::FORBIDDEN,
            format!("not signed by a key trusted for {}: {e}", c.origin()),
        );
    }
    if old > c.size() {
        return Reply::text(
            StatusCode::BAD_REQUEST,
            format!("old size {old} is above the checkpoint's {}", c.size()),
        );
    }
    let latest = log.latest.map_or(0, |(size, _)| size);
    if old != latest {
        return Reply {
            status: StatusCode::CONFLICT,
            content_type: "text/x.tlog.size",
            body: format!("{latest}\n").into_bytes(),
        };
    }
    if c.size() == 0 && *c.hash() != EMPTY_HASH {
        return Reply::text(
            StatusCode::UNPROCESSABLE_ENTITY,
            "an empty tree's root is the hash of the empty string",
        );
    }
    let consistent = match log.latest {
        // From the empty tree nothing needs proving: any proof is malformed.
        None | Some((0, _)) => req.proof.is_empty(),
        // Also when the size is the same: then the proof is empty and the roots equal.
        Some((size, hash)) => check_tree(&req.proof, c.size(), *c.hash(), size, hash).is_ok(),
    };
    if !consistent {
        return Reply::text(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "{} at size {} is not consistent with the checkpoint cosigned at size {old}: \
                 a fork, or history rewritten",
                c.origin(),
                c.size()
            ),
        );
    }
    let signer = known.signer.clone().with_time(now);
    let line = signer
        .sign(req.note.text())
        .map_err(anyhow::Error::from)
        .and_then(|sig| {
            Ok(Signature::new(
                signer.name().to_owned(),
                signer.key_id(),
                sig,
            )?)
        });
    // Kept with the witness's own cosignature, which is what a restart checks: a log's key may
    // change without the witness forgetting what it cosigned.
    let kept = line.and_then(|line| {
        let note = Note::new(req.note.text(), std::slice::from_ref(&line))?.to_bytes();
        persist(c.origin(), &note).map(|()| line)
    });
    let line = match kept {
        Ok(line) => line,
        Err(e) => {
            return Reply::text(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("not cosigned: {e:#}"),
            )
        }
    };
    log.latest = Some((c.size(), *c.hash()));
    Reply {
        status: StatusCode::OK,
        content_type: "text/plain; charset=utf-8",
        body: line.to_bytes(),
    }
}

struct App {
    // One lock for all logs: the check and the write of a log's state must be atomic, and an
    // auditor's witness serves few logs.
    known: Mutex<Known>,
    state: PathBuf,
}

/// Runs until SIGTERM or SIGINT.
pub async fn serve(args: WitnessArgs) -> Result<()> {
    let key = std::fs::read_to_string(&args.key)
        .with_context(|| format!("reading {}", args.key.display()))?;
    let signer = CosignatureSigner::new(key.trim())
        .with_context(|| format!("{} is not a witness private key", args.key.display()))?;
    let mut logs = Vec::new();
    for (origin, file) in &args.logs {
        let vkey =
            std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        let key = StandardVerifier::new(vkey.trim())
            .with_context(|| format!("{} is not an Ed25519 verifier key", file.display()))?;
        logs.push((origin.clone(), key));
    }
    let vkey = signer.vkey();
    let mut known = Known::new(signer, logs);
    std::fs::create_dir_all(&args.state)
        .with_context(|| format!("creating {}", args.state.display()))?;
    known.load(&args.state)?;
    let origins: Vec<&String> = known.logs.keys().collect();
    let summary = format!("witnessing {origins:?} as {vkey}");
    let app = Arc::new(App {
        known: Mutex::new(known),
        state: args.state.clone(),
    });
    let router = Router::new()
        .route("/add-checkpoint", post(post_add_checkpoint))
        .with_state(app);
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    eprintln!(
        "auditlog-shim witness: listening on {}, {summary}",
        listener.local_addr()?
    );
    axum::serve(listener, router)
        .with_graceful_shutdown(crate::serve::shutdown_signal(
            "auditlog-shim witness: stopping",
        ))
        .await?;
    Ok(())
}

async fn post_add_checkpoint(State(app): State<Arc<App>>, body: Bytes) -> Response {
    // The fsync blocks: off the async workers.
    let reply = tokio::task::spawn_blocking(move || {
        // A panic cannot leave Known half-updated (one assignment, after the write).
        let mut known = app.known.lock().unwrap_or_else(PoisonError::into_inner);
        add_checkpoint(&mut known, &body, unix_now(), |origin, note| {
            save(&app.state, origin, note)
        })
    })
    .await
    .unwrap_or_else(|e| Reply::text(StatusCode::INTERNAL_SERVER_ERROR, e));
    // Told where the auditor looks: a 422 or 403 may be the log misbehaving.
    if !matches!(reply.status, StatusCode::OK | StatusCode::CONFLICT) {
        eprintln!(
            "auditlog-shim witness: {}: {}",
            reply.status,
            String::from_utf8_lossy(&reply.body).trim_end()
        );
    }
    (
        reply.status,
        [(header::CONTENT_TYPE, reply.content_type)],
        reply.body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cosignature;
    use signed_note::StandardSigner;
    use tlog_tiles::{prove_tree, stored_hashes, tree_hash, HashReader};

    const ORIGIN: &str = "example.com/auditlog";
    const NOW: u64 = 1_780_000_000;

    /// An in-memory log: its stored hashes, in the order tlog_tiles indexes them.
    #[derive(Clone, Default)]
    struct Tree {
        hashes: Vec<Hash>,
        size: u64,
    }

    impl HashReader for Tree {
        fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog_tiles::Error> {
            Ok(indexes.iter().map(|&i| self.hashes[i as usize]).collect())
        }
    }

    impl Tree {
        fn with(leaves: &[&str]) -> Self {
            let mut t = Self::default();
            for leaf in leaves {
                t.push(leaf);
            }
            t
        }
        fn push(&mut self, leaf: &str) {
            let h = stored_hashes(self.size, leaf.as_bytes(), self).unwrap();
            self.hashes.extend(h);
            self.size += 1;
        }
        fn root(&self, size: u64) -> Hash {
            tree_hash(size, self).unwrap()
        }
        fn proof(&self, old: u64, size: u64) -> Vec<Hash> {
            prove_tree(size, old, self).unwrap()
        }
    }

    struct Fixture {
        log: StandardSigner,
        witness_vkey: String,
        known: Known,
    }

    fn fixture() -> Fixture {
        let (skey, vkey) = signed_note::generate_key(&mut rand_core::OsRng, ORIGIN);
        let (w_skey, w_vkey) = cosignature::generate("auditor.example/witness");
        let known = Known::new(
            CosignatureSigner::new(&w_skey).unwrap(),
            vec![(ORIGIN.into(), StandardVerifier::new(&vkey).unwrap())],
        );
        Fixture {
            log: StandardSigner::new(&skey).unwrap(),
            witness_vkey: w_vkey,
            known,
        }
    }

    fn note(origin: &str, size: u64, root: Hash, signer: &dyn Signer) -> Vec<u8> {
        let text = Checkpoint::new(origin, size, root, "").unwrap().to_bytes();
        let mut n = Note::new(&text, &[]).unwrap();
        n.add_sigs(&[signer]).unwrap();
        n.to_bytes()
    }

    fn body(old: u64, proof: &[Hash], note: &[u8]) -> Vec<u8> {
        let mut b = format!("old {old}\n").into_bytes();
        for h in proof {
            b.extend(format!("{h}\n").bytes());
        }
        b.push(b'\n');
        b.extend_from_slice(note);
        b
    }

    impl Fixture {
        fn submit(&mut self, body: &[u8]) -> Reply {
            add_checkpoint(&mut self.known, body, NOW, |_, _| Ok(()))
        }
        /// Submits `tree` at `size`, proving it from `old`.
        fn add(&mut self, tree: &Tree, old: u64, size: u64) -> Reply {
            let proof = if old == 0 {
                vec![]
            } else {
                tree.proof(old, size)
            };
            let note = note(ORIGIN, size, tree.root(size), &self.log);
            self.submit(&body(old, &proof, &note))
        }
        /// Asks for the size the witness has, as a client that does not know it would.
        fn assert_size(&mut self, size: u64) {
            let probe = note(ORIGIN, u64::MAX, EMPTY_HASH, &self.log);
            assert_eq!(self.submit(&body(u64::MAX, &[], &probe)), conflict(size));
        }
    }

    fn tree(n: usize) -> Tree {
        let leaves: Vec<String> = (0..n).map(|i| format!("event {i}")).collect();
        Tree::with(&leaves.iter().map(String::as_str).collect::<Vec<_>>())
    }

    fn conflict(size: u64) -> Reply {
        Reply {
            status: StatusCode::CONFLICT,
            content_type: "text/x.tlog.size",
            body: format!("{size}\n").into_bytes(),
        }
    }

    #[test]
    fn cosigns_a_consistent_checkpoint() {
        let mut f = fixture();
        let t = tree(9);
        for (old, size) in [(0, 5), (5, 9), (9, 9)] {
            let r = f.add(&t, old, size);
            assert_eq!(r.status, StatusCode::OK, "{old} -> {size}: {r:?}");
            // The reply, appended to the checkpoint, is a cosignature the witness's vkey accepts.
            let mut cosigned = note(ORIGIN, size, t.root(size), &f.log);
            cosigned.extend(&r.body);
            let n = Note::from_bytes(&cosigned).unwrap();
            let list = VerifierList::new(vec![Box::new(
                CosignatureVerifier::new(&f.witness_vkey).unwrap(),
            )]);
            let (verified, _) = n.verify(&list).unwrap();
            assert_eq!(verified.len(), 1);
            assert_eq!(cosignature::timestamp(verified[0].signature()), Some(NOW));
            // Not over another checkpoint.
            let mut other = note(ORIGIN, size, t.root(size - 1), &f.log);
            other.extend(&r.body);
            assert!(Note::from_bytes(&other).unwrap().verify(&list).is_err());
        }
        f.assert_size(9);
    }

    #[test]
    fn an_empty_tree_first() {
        let mut f = fixture();
        let empty = Tree::default();
        assert_eq!(f.add(&empty, 0, 0).status, StatusCode::OK);
        f.assert_size(0);
        assert_eq!(f.add(&tree(3), 0, 3).status, StatusCode::OK);
        // Size 0 with another root than the empty tree's.
        let mut g = fixture();
        let bad = note(ORIGIN, 0, tree(1).root(1), &g.log);
        assert_eq!(
            g.submit(&body(0, &[], &bad)).status,
            StatusCode::UNPROCESSABLE_ENTITY
        );
    }

    #[test]
    fn conflict_names_its_own_size() {
        let mut f = fixture();
        let t = tree(12);
        // Nothing cosigned yet, and the client says 5.
        assert_eq!(f.add(&t, 5, 9), conflict(0));
        assert_eq!(f.add(&t, 0, 5).status, StatusCode::OK);
        // A client behind (it has not seen 5), and one claiming more than was cosigned.
        assert_eq!(f.add(&t, 0, 9), conflict(5));
        assert_eq!(f.add(&t, 3, 9), conflict(5));
        assert_eq!(f.add(&t, 7, 9), conflict(5));
        assert_eq!(f.add(&t, 5, 12).status, StatusCode::OK);
    }

    #[test]
    fn a_bad_proof_is_422() {
        let mut f = fixture();
        let t = tree(9);
        assert_eq!(f.add(&t, 0, 5).status, StatusCode::OK);
        let note9 = note(ORIGIN, 9, t.root(9), &f.log);
        let good = t.proof(5, 9);
        let mut tampered = good.clone();
        tampered[0].0[0] ^= 1;
        for proof in [
            vec![],
            tampered,
            t.proof(4, 9),
            good[1..].to_vec(),
            [good.clone(), good.clone()].concat(),
        ] {
            let r = f.submit(&body(5, &proof, &note9));
            assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{proof:?}");
        }
        f.assert_size(5);
        // From nothing, a proof is not allowed.
        let mut g = fixture();
        let note5 = note(ORIGIN, 5, t.root(5), &g.log);
        assert_eq!(
            g.submit(&body(0, &t.proof(4, 5), &note5)).status,
            StatusCode::UNPROCESSABLE_ENTITY
        );
        g.assert_size(0);
    }

    #[test]
    fn forks_are_refused() {
        let mut f = fixture();
        let honest = tree(9);
        assert_eq!(f.add(&honest, 0, 5).status, StatusCode::OK);
        // The same size with another root.
        let mut fork = tree(4);
        fork.push("a different fifth event");
        for i in 5..9 {
            fork.push(&format!("event {i}"));
        }
        let r = f.add(&fork, 5, 5);
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{r:?}");
        // A later checkpoint of the rewritten history, with a proof that holds within it.
        let r = f.add(&fork, 5, 9);
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{r:?}");
        // An event before the cosigned size rewritten, history then grown.
        let mut rewritten = tree(2);
        rewritten.push("event 2, edited");
        for i in 3..9 {
            rewritten.push(&format!("event {i}"));
        }
        assert_eq!(
            f.add(&rewritten, 5, 9).status,
            StatusCode::UNPROCESSABLE_ENTITY
        );
        f.assert_size(5);
        assert_eq!(f.add(&honest, 5, 9).status, StatusCode::OK);
    }

    #[test]
    fn untrusted_signatures_are_403() {
        let mut f = fixture();
        let t = tree(5);
        // Another key under the log's own name (so another key ID).
        let (skey, _) = signed_note::generate_key(&mut rand_core::OsRng, ORIGIN);
        let impostor = StandardSigner::new(&skey).unwrap();
        let n = note(ORIGIN, 5, t.root(5), &impostor);
        assert_eq!(f.submit(&body(0, &[], &n)).status, StatusCode::FORBIDDEN);
        // The trusted key's name and ID, but a signature that fails.
        let mut n = String::from_utf8(note(ORIGIN, 5, t.root(5), &f.log)).unwrap();
        let at = n.len() - 10;
        let c = if n.as_bytes()[at] == b'A' { "B" } else { "A" };
        n.replace_range(at..at + 1, c);
        assert_eq!(
            f.submit(&body(0, &[], n.as_bytes())).status,
            StatusCode::FORBIDDEN
        );
        // A witness cosignature alone (a valid signature, by a key not trusted for the log).
        let mut own = Note::new(
            &Checkpoint::new(ORIGIN, 5, t.root(5), "")
                .unwrap()
                .to_bytes(),
            &[],
        )
        .unwrap();
        own.add_sigs(&[&f.known.signer.clone()]).unwrap();
        assert_eq!(
            f.submit(&body(0, &[], &own.to_bytes())).status,
            StatusCode::FORBIDDEN
        );
        f.assert_size(0);
    }

    #[test]
    fn unknown_origin_is_404() {
        let mut f = fixture();
        let n = note("example.com/other", 1, tree(1).root(1), &f.log);
        assert_eq!(f.submit(&body(0, &[], &n)).status, StatusCode::NOT_FOUND);
    }

    #[test]
    fn malformed_bodies_are_400() {
        let mut f = fixture();
        let t = tree(70);
        let n5 = note(ORIGIN, 5, t.root(5), &f.log);
        let n = String::from_utf8(n5.clone()).unwrap();
        let text = String::from_utf8(
            Checkpoint::new(ORIGIN, 5, t.root(5), "")
                .unwrap()
                .to_bytes(),
        )
        .unwrap();
        let proof64 = vec![t.root(1); 64];
        for b in [
            b"".to_vec(),
            n.clone().into_bytes(),
            format!("old 01\n\n{n}").into_bytes(),
            format!("old -1\n\n{n}").into_bytes(),
            format!("old +0\n\n{n}").into_bytes(),
            format!("old 0\n{n}").into_bytes(),
            format!("old 0\nnot base64\n\n{n}").into_bytes(),
            format!("old 0\nAAAA\n\n{n}").into_bytes(),
            format!("old 0\n\n{text}").into_bytes(),
            format!("old 0\n\nnot\na checkpoint\n\n— {ORIGIN} AAAAAAAA\n").into_bytes(),
            body(0, &proof64, &n5),
            // Old above the checkpoint's size.
            body(6, &[], &n5),
            [b"old 0\n\n".as_slice(), &[0xff, 0xfe], &n5].concat(),
        ] {
            let r = f.submit(&b);
            assert_eq!(
                r.status,
                StatusCode::BAD_REQUEST,
                "{:?}: {r:?}",
                String::from_utf8_lossy(&b)
            );
        }
        // 63 proof lines parse (and then fail as a proof).
        let r = f.submit(&body(0, &proof64[1..], &n5));
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        f.assert_size(0);
    }

    #[test]
    fn a_failed_write_cosigns_nothing() {
        let mut f = fixture();
        let t = tree(5);
        let n = note(ORIGIN, 5, t.root(5), &f.log);
        let r = add_checkpoint(&mut f.known, &body(0, &[], &n), NOW, |_, _| {
            anyhow::bail!("disk full")
        });
        assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!r.body.starts_with("—".as_bytes()));
        f.assert_size(0);
    }

    #[test]
    fn state_survives_a_restart() {
        let dir = std::env::temp_dir().join(format!("auditlog-witness-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut f = fixture();
        let t = tree(9);
        let n5 = note(ORIGIN, 5, t.root(5), &f.log);
        let r = add_checkpoint(&mut f.known, &body(0, &[], &n5), NOW, |o, n| {
            save(&dir, o, n)
        });
        assert_eq!(r.status, StatusCode::OK);
        // The file holds the checkpoint with the witness's cosignature, not the log's signature.
        let kept = std::fs::read(state_file(&dir, ORIGIN)).unwrap();
        assert!(kept.starts_with(&n5[..n5.iter().position(|&b| b == 0xe2).unwrap()]));
        assert!(!kept.ends_with(&n5[n5.len() - 20..]));

        let restart = |f: &Fixture| {
            let Fixture { known, .. } = f;
            let mut k = Known {
                signer: known.signer.clone(),
                logs: known
                    .logs
                    .iter()
                    .map(|(o, l)| {
                        (
                            o.clone(),
                            Log {
                                keys: l.keys.clone(),
                                latest: None,
                            },
                        )
                    })
                    .collect(),
            };
            k.load(&dir).map(|()| k)
        };
        f.known = restart(&f).unwrap();
        f.assert_size(5);
        let proof = t.proof(5, 9);
        let n9 = note(ORIGIN, 9, t.root(9), &f.log);
        let r = add_checkpoint(&mut f.known, &body(5, &proof, &n9), NOW, |o, n| {
            save(&dir, o, n)
        });
        assert_eq!(r.status, StatusCode::OK);
        f.known = restart(&f).unwrap();
        f.assert_size(9);

        // The log's key may change: the witness still starts, with what it cosigned.
        let (skey, _) = signed_note::generate_key(&mut rand_core::OsRng, ORIGIN);
        let other = StandardSigner::new(&skey).unwrap();
        let mut rotated = restart(&f).unwrap();
        rotated.logs.get_mut(ORIGIN).unwrap().keys.clear();
        rotated.load(&dir).unwrap();
        assert_eq!(rotated.logs[ORIGIN].latest.map(|(n, _)| n), Some(9));

        // A state file the witness did not cosign (here, signed by the log's key alone) stops
        // the start instead of forgetting it.
        let forged = note(ORIGIN, 2, t.root(2), &other);
        std::fs::write(state_file(&dir, ORIGIN), forged).unwrap();
        assert!(restart(&f).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
