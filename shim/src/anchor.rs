//! The commands that anchor the log outside the database: keygen, checkpoint, verify, proof and
//! verify-proof. Checkpoints are c2sp.org/tlog-checkpoint notes over the one Merkle tree of all
//! sealed events, cosigned by c2sp.org/tlog-witness witnesses; 0.2.0's JSON checkpoints in the
//! same directory still verify.

use crate::http_client::{self, TlsArgs};
use crate::signed_checkpoint::{self as sc, Break, Dir, Head, Trust};
use crate::tlog_proof::{self, TlogProof};
use crate::{checkpoint, cosignature, durable};
use anyhow::{anyhow, bail, ensure, Context, Result};
use ed25519_dalek::{SigningKey, VerifyingKey};
use signed_note::{Signature, StandardSigner, StandardVerifier, Verifier};
use std::path::{Path, PathBuf};
use tlog_tiles::Hash;
use tokio_postgres::Client;

pub(crate) fn read_text(path: &Path) -> Result<String> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(text.trim().to_owned())
}

/// A 0.2.0 key file: 32 bytes in hex.
fn hex32(text: &str, path: &Path) -> Result<[u8; 32]> {
    let bytes = hex::decode(text).with_context(|| format!("{} is not hex", path.display()))?;
    bytes
        .try_into()
        .map_err(|_| anyhow!("{} does not hold 32 bytes", path.display()))
}

/// A 0.2.0 private key file.
pub fn signing_key(path: &Path) -> Result<SigningKey> {
    Ok(SigningKey::from_bytes(&hex32(&read_text(path)?, path)?))
}

/// `keygen`: PREFIX.key (the signer key, mode 0600) and PREFIX.vkey. A log's key signs
/// checkpoints; `witness` makes a witness's cosignature key instead; `from` turns a 0.2.0 hex
/// key into a log key, so that its JSON checkpoints and the new notes verify with one .vkey.
pub fn keygen(prefix: &Path, name: &str, witness: bool, from: Option<&Path>) -> Result<()> {
    ensure!(
        signed_note::is_key_name_valid(name),
        "{name:?} is not a key name (it must be non-empty, without spaces or '+')"
    );
    let (secret, public) = (prefix.with_extension("key"), prefix.with_extension("vkey"));
    if secret.exists() || public.exists() {
        bail!(
            "{} or {} exists already: not overwriting a key",
            secret.display(),
            public.display()
        );
    }
    let (skey, vkey) = match (witness, from) {
        (true, _) => cosignature::generate(name),
        (false, Some(old)) => sc::note_keys(name, &signing_key(old)?),
        (false, None) => signed_note::generate_key(&mut rand_core::OsRng, name),
    };
    durable::create(&secret, format!("{skey}\n").as_bytes(), true)?;
    durable::create(&public, format!("{vkey}\n").as_bytes(), false)?;
    println!(
        "wrote {} (keep it away from the database) and {}: {vkey}",
        secret.display(),
        public.display()
    );
    Ok(())
}

fn hash(bytes: Vec<u8>) -> Result<Hash> {
    Ok(Hash(bytes.try_into().map_err(|b: Vec<u8>| {
        anyhow!("the database gave a hash of {} bytes", b.len())
    })?))
}

pub(crate) async fn tree_head(db: &Client) -> Result<Head> {
    let row = db
        .query_one(
            "SELECT origin, tree_size, root_hash FROM audit_tree_head()",
            &[],
        )
        .await?;
    Head::new(
        row.get(0),
        row.get::<_, i64>(1).try_into()?,
        hash(row.get(2))?,
    )
}

/// The database's consistency proof from `old` leaves to `new` (none from the empty tree).
async fn consistency_proof(db: &Client, old: u64, new: u64) -> Result<Vec<Hash>> {
    if old == 0 || old == new {
        return Ok(Vec::new());
    }
    let proof: Vec<Vec<u8>> = db
        .query_one(
            "SELECT audit_consistency_proof($1::bigint, $2::bigint)",
            &[&(old as i64), &(new as i64)],
        )
        .await?
        .get(0);
    proof.into_iter().map(hash).collect()
}

/// Whether `new` extends `old`, by the database's consistency proof (`new` must not be beyond
/// its tree).
pub(crate) async fn extends(db: &Client, old: &Head, new: &Head) -> Result<Result<(), Break>> {
    let proof = if old.size < new.size && old.origin == new.origin {
        consistency_proof(db, old.size, new.size).await?
    } else {
        Vec::new()
    };
    Ok(sc::extends(old, new, &proof))
}

/// The problem, if the database's tree `now` does not extend `signed`, from checkpoint `name`.
pub(crate) async fn held(
    db: &Client,
    name: &str,
    signed: &Head,
    now: &Head,
) -> Result<Option<String>> {
    Ok(extends(db, signed, now).await?.err().map(|b| match b {
        Break::OtherLog => format!(
            "{name}: it signed the log {:?}, but the database's log is {:?}",
            signed.origin, now.origin
        ),
        Break::Shrunk => format!(
            "{name}: truncated tail: it signed {} events, the database's tree has {}",
            signed.size, now.size
        ),
        Break::Diverged => format!(
            "{name}: history rewritten after this checkpoint: the database's tree of {} events does not extend the {} it signed",
            now.size, signed.size
        ),
    }))
}

/// The batch hash the database holds now for `batch_id`, if that batch is there.
async fn batch_hash(db: &Client, batch_id: i64) -> Result<Option<String>> {
    let row = db
        .query_opt(
            "SELECT batch_hash::text FROM audit.audit_log_integrity WHERE id = $1",
            &[&batch_id],
        )
        .await?;
    Ok(row.map(|r| r.get(0)))
}

/// Compares a 0.2.0 checkpoint with the database: its head batch must still be there, unchanged.
async fn against_db(db: &Client, name: &str, c: &checkpoint::Checkpoint) -> Result<Option<String>> {
    if c.head.batch_id == 0 {
        return Ok(None);
    }
    Ok(match batch_hash(db, c.head.batch_id).await? {
        None => Some(format!(
            "{name}: truncated tail: batch {} ({} events) that this checkpoint signed is gone from the database",
            c.head.batch_id, c.head.tree_size
        )),
        Some(h) if h != c.head.batch_hash => Some(format!(
            "{name}: history rewritten after this checkpoint: batch {} no longer has the hash it signed",
            c.head.batch_id
        )),
        Some(_) => None,
    })
}

/// `--witness URL,VKEY_FILE`: where a witness takes add-checkpoint requests, and its key.
#[derive(Clone, Debug)]
pub struct Cosigner {
    pub url: String,
    pub vkey: PathBuf,
}

impl std::str::FromStr for Cosigner {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (url, vkey) = s.rsplit_once(',').ok_or("expected URL,VKEY_FILE")?;
        Ok(Cosigner {
            url: url.trim_end_matches('/').to_owned(),
            vkey: vkey.into(),
        })
    }
}

struct Witness {
    url: String,
    key: Box<dyn Verifier>,
    /// Where the size it last cosigned is remembered.
    state: PathBuf,
}

impl Witness {
    fn load(c: &Cosigner, dir: &Path) -> Result<Witness> {
        let key = cosignature::verifier(&read_text(&c.vkey)?)
            .with_context(|| c.vkey.display().to_string())?;
        let name: String = key
            .name()
            .chars()
            .map(|c| match c {
                'a'..='z' | 'A'..='Z' | '0'..='9' | '.' | '-' => c,
                _ => '_',
            })
            .collect();
        let state = dir.join(format!("witness-{name}-{:08x}.size", key.key_id()));
        Ok(Witness {
            url: c.url.clone(),
            key,
            state,
        })
    }

    /// The size it last cosigned for this directory's log (0: never).
    fn last_size(&self) -> Result<u64> {
        match std::fs::read_to_string(&self.state) {
            Ok(t) => t
                .trim()
                .parse()
                .with_context(|| format!("{} does not hold a size", self.state.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(e.into()),
        }
    }

    /// Submits `note` (of `head`) with a consistency proof from the size the witness last
    /// cosigned; when it answers that it has another size (409), once more from that one.
    async fn cosign(
        &self,
        http: &reqwest::Client,
        db: &Client,
        head: &Head,
        note: &[u8],
    ) -> Result<Signature> {
        let mut old = self.last_size()?;
        let mut retried = false;
        loop {
            ensure!(
                old <= head.size,
                "it has cosigned {old} events of this log, more than this checkpoint's {}: the log went back",
                head.size
            );
            let proof = consistency_proof(db, old, head.size).await?;
            let response = http
                .post(format!("{}/add-checkpoint", self.url))
                .body(sc::add_checkpoint_request(old, &proof, note))
                .send()
                .await?;
            let status = response.status().as_u16();
            let body = response.text().await?;
            match status {
                200 => {
                    let sig = sc::cosignature(head, &body, self.key.as_ref())?;
                    // Only saves a round trip next time: without it, the witness's 409 says.
                    let size = format!("{}\n", head.size);
                    if let Err(e) = durable::write(&self.state, size.as_bytes(), false) {
                        eprintln!("witness {}: {e:#}", self.key.name());
                    }
                    return Ok(sig);
                }
                409 if !retried => {
                    old = body
                        .trim()
                        .parse()
                        .with_context(|| format!("409 without a size: {body:?}"))?;
                    retried = true;
                }
                _ => {
                    let why = match status {
                        403 => "it does not trust this log's key: ",
                        404 => "it does not witness this log: ",
                        422 => "this checkpoint does not extend the one it cosigned before (history rewritten?): ",
                        _ => "",
                    };
                    bail!("answered {status}: {why}{}", body.trim());
                }
            }
        }
    }
}

/// Whether the database's tree `now` still extends the newest checkpoint of `files` signed with
/// the log's key `vkey` (before the first note, the last 0.2.0 one).
async fn newest_problem(
    db: &Client,
    files: &Dir,
    vkey: &str,
    now: &Head,
) -> Result<Option<String>> {
    if let Some((_, path)) = files.notes.last() {
        let name = path.display().to_string();
        let own = Trust {
            log: Box::new(StandardVerifier::new(vkey)?),
            witnesses: Vec::new(),
            require: 0,
            origin: None,
        };
        let last = own
            .signed(&std::fs::read(path)?)
            .with_context(|| format!("{name} does not verify with this key; not extending it"))?;
        return held(db, &name, &last.head, now).await;
    }
    let Some(path) = files.json.last() else {
        return Ok(None);
    };
    let name = path.display().to_string();
    let last = checkpoint::read(path).map_err(|e| anyhow!("{name}: {e}"))?;
    ensure!(
        last.signature_ok(&sc::ed25519_key(vkey)?),
        "{name} does not verify with this key (make it with keygen --from the 0.2.0 key, or use another directory)"
    );
    against_db(db, &name, &last.checkpoint).await
}

/// `checkpoint`: signs the database's tree head into the next note in `dir`, has it cosigned by
/// the witnesses, and stores a copy in the database. Refuses when the tree no longer extends the
/// newest checkpoint. A witness that fails leaves its cosignature out, and an error at the end.
pub async fn checkpoint(
    db: &Client,
    key_path: &Path,
    dir: &Path,
    cosigners: &[Cosigner],
    replicas: &[(&str, Client)],
    tls: &TlsArgs,
) -> Result<()> {
    let skey = read_text(key_path)?;
    let signer = StandardSigner::new(&skey)
        .map_err(|e| anyhow!("{}: not a log's signer key: {e}", key_path.display()))?;
    let vkey = sc::log_vkey(&skey)?;
    std::fs::create_dir_all(dir)?;
    let witnesses = cosigners
        .iter()
        .map(|c| Witness::load(c, dir))
        .collect::<Result<Vec<_>>>()?;
    let files = Dir::read(dir)?;
    let now = tree_head(db).await?;
    if let Some(problem) = newest_problem(db, &files, &vkey, &now).await? {
        bail!("{problem}; not signing");
    }
    for (name, replica) in replicas {
        let has = tree_head(replica).await?;
        ensure!(
            has.size >= now.size,
            "replica {name} has replayed {} of the {} sealed events: not signing a head it lacks (a failover to it would lose the checkpoint)",
            has.size,
            now.size
        );
        if extends(replica, &now, &has).await?.is_err() {
            bail!("replica {name} holds another history than the primary: not signing");
        }
    }

    let seq = files.next_seq();
    let own = sc::sign(&now, &signer)?;
    let submitted = sc::note(&now, std::slice::from_ref(&own))?;
    let http = http_client::build(tls, std::time::Duration::from_secs(30))?;
    let mut sigs = vec![own];
    let mut failed = 0;
    for w in &witnesses {
        match w.cosign(&http, db, &now, &submitted).await {
            Ok(sig) => sigs.push(sig),
            Err(e) => {
                eprintln!("witness {} ({}): {e:#}", w.key.name(), w.url);
                failed += 1;
            }
        }
    }
    let note = sc::note(&now, &sigs)?;
    let path = dir.join(sc::file_name(seq));
    durable::create(&path, &note, false)?;
    db.execute(
        "SELECT audit_store_signed_checkpoint($1::text)",
        &[&std::str::from_utf8(&note)?],
    )
    .await?;
    println!(
        "checkpoint {seq} signed: {} events, {} of {} witnesses cosigned, {}",
        now.size,
        sigs.len() - 1,
        witnesses.len(),
        path.display()
    );
    ensure!(
        failed == 0,
        "{failed} of {} witnesses did not cosign; the checkpoint was written without them",
        witnesses.len()
    );
    Ok(())
}

/// The keys checkpoints are checked with.
#[derive(clap::Args, Clone, Debug)]
pub struct Keys {
    /// The log's .vkey from keygen (a 0.2.0 .pub checks only the JSON checkpoints).
    #[arg(long)]
    pub pubkey: PathBuf,
    /// A witness's .vkey; repeat for each witness.
    #[arg(long)]
    pub witness_key: Vec<PathBuf>,
    /// Cosignatures each checkpoint needs, from distinct witnesses given (default: all given).
    #[arg(long)]
    pub require: Option<usize>,
    /// The log's origin (audit_tree_head()): checkpoints of any other log are refused, as a key
    /// may sign more than one log.
    #[arg(long)]
    pub origin: Option<String>,
}

impl Keys {
    /// The log's Ed25519 key, from its .vkey or a 0.2.0 .pub (hex), and the .vkey if it is one.
    pub(crate) fn log(&self) -> Result<(VerifyingKey, Option<String>)> {
        let text = read_text(&self.pubkey)?;
        let at = || self.pubkey.display().to_string();
        if text.contains('+') {
            return Ok((sc::ed25519_key(&text).with_context(at)?, Some(text)));
        }
        let key = VerifyingKey::from_bytes(&hex32(&text, &self.pubkey)?)
            .map_err(|e| anyhow!("{}: {e}", at()))?;
        Ok((key, None))
    }

    /// What notes are checked with, given the log's .vkey.
    pub(crate) fn trust(&self, vkey: Option<&str>) -> Result<Trust> {
        let vkey = vkey.with_context(|| {
            format!(
                "{} is a 0.2.0 key: notes verify with a .vkey (keygen --from makes one for the same key)",
                self.pubkey.display()
            )
        })?;
        let witnesses = self
            .witness_key
            .iter()
            .map(|p| cosignature::verifier(&read_text(p)?).with_context(|| p.display().to_string()))
            .collect::<Result<Vec<_>>>()?;
        let require = self.require.unwrap_or(witnesses.len());
        ensure!(
            require <= witnesses.len(),
            "{require} cosignatures required, but only {} witness keys given",
            witnesses.len()
        );
        let log = StandardVerifier::new(vkey).with_context(|| self.pubkey.display().to_string())?;
        Ok(Trust {
            log: Box::new(log),
            witnesses,
            require,
            origin: self.origin.clone(),
        })
    }
}

/// `verify`: every checkpoint's signatures and sequence, each note extending the one before,
/// every checkpoint against the database, and the database's own chain. Returns the problems.
pub async fn verify(db: &Client, dir: &Path, keys: &Keys) -> Result<Vec<String>> {
    let (ed25519, vkey) = keys.log()?;
    let files = Dir::read(dir).with_context(|| format!("reading {}", dir.display()))?;
    if files.json.is_empty() && files.notes.is_empty() {
        bail!("no checkpoint files in {}", dir.display());
    }
    let json: Vec<_> = files
        .json
        .iter()
        .map(|p| (p.clone(), checkpoint::read(p)))
        .collect();
    let mut problems = checkpoint::check_chain(&json, &ed25519);
    for (path, s) in &json {
        if let Ok(s) = s {
            problems.extend(against_db(db, &path.display().to_string(), &s.checkpoint).await?);
        }
    }
    if !files.notes.is_empty() {
        let trust = keys.trust(vkey.as_deref())?;
        problems.extend(files.gaps());
        problems.extend(verify_notes(db, &files.notes, &trust).await?);
    }
    problems.extend(chain_problems(db, "database").await?);
    Ok(problems)
}

/// What `verify_audit_chain()` finds wrong in the database, each named after `name`.
pub(crate) async fn chain_problems(db: &Client, name: &str) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    for row in db
        .query(
            "SELECT kind, batch_id, position, detail FROM verify_audit_chain()",
            &[],
        )
        .await?
    {
        let kind: String = row.get(0);
        if kind != "ok" {
            let (batch, position): (Option<i64>, Option<i64>) = (row.get(1), row.get(2));
            problems.push(format!(
                "{name}: {kind} (batch {batch:?}, position {position:?}): {}",
                row.get::<_, String>(3)
            ));
        }
    }
    Ok(problems)
}

/// Each note's signatures and cosignatures, that it extends the one before, and that the
/// database's tree still extends it.
async fn verify_notes(db: &Client, notes: &[(u64, PathBuf)], trust: &Trust) -> Result<Vec<String>> {
    let now = tree_head(db).await?;
    let mut problems = Vec::new();
    let mut prev: Option<(String, Head)> = None;
    for (_, path) in notes {
        let name = path.display().to_string();
        let signed = std::fs::read(path)
            .map_err(anyhow::Error::from)
            .and_then(|note| trust.signed(&note));
        let head = match signed {
            Ok(v) => {
                // Too few cosignatures is a problem, but the log's signature still binds the
                // database.
                problems.extend(trust.quorum(&v).err().map(|e| format!("{name}: {e}")));
                v.head
            }
            Err(e) => {
                problems.push(format!("{name}: {e:#}"));
                continue;
            }
        };
        // The database proves the step only up to its own size; beyond it, `held` names the cut.
        if let Some((prev_name, p)) = prev.as_ref().filter(|_| head.size <= now.size) {
            if let Err(b) = extends(db, p, &head).await? {
                let why = match b {
                    Break::OtherLog => {
                        format!("it is for the log {:?}, not {:?}", head.origin, p.origin)
                    }
                    Break::Shrunk => {
                        format!("it signed {} events, fewer than {}", head.size, p.size)
                    }
                    Break::Diverged => "the database's consistency proof between them fails".into(),
                };
                problems.push(format!(
                    "{name}: does not extend {prev_name} ({why}): a forged checkpoint, or history rewritten"
                ));
            }
        }
        problems.extend(held(db, &name, &head, &now).await?);
        prev = Some((name, head));
    }
    Ok(problems)
}

/// `proof`: a c2sp.org/tlog-proof that the event is in the tree the newest note in `dir` signed.
pub async fn proof(db: &Client, event_id: uuid::Uuid, dir: &Path) -> Result<Vec<u8>> {
    let files = Dir::read(dir).with_context(|| format!("reading {}", dir.display()))?;
    let (_, path) = files
        .notes
        .last()
        .with_context(|| format!("no .note checkpoint in {}: run checkpoint", dir.display()))?;
    let checkpoint = std::fs::read(path)?;
    let (head, _) = sc::parse(&checkpoint).with_context(|| path.display().to_string())?;
    let position: i64 = db
        .query_opt(
            "SELECT position FROM audit.event_positions WHERE event_id = $1",
            &[&event_id],
        )
        .await?
        .with_context(|| format!("event {event_id} is not sealed yet"))?
        .get(0);
    ensure!(
        position as u64 <= head.size,
        "event {event_id} (position {position}) is not in the newest checkpoint yet; run checkpoint"
    );
    let row = db
        .query_one(
            "SELECT leaf_index, leaf_data, inclusion_path FROM audit_inclusion_proof($1::uuid, $2::bigint)",
            &[&event_id, &(head.size as i64)],
        )
        .await?;
    let proof = TlogProof {
        extra: Some(row.get(1)),
        index: row.get::<_, i64>(0).try_into()?,
        path: row
            .get::<_, Vec<Vec<u8>>>(2)
            .into_iter()
            .map(hash)
            .collect::<Result<_>>()?,
        checkpoint,
    };
    proof.leaf(&head).with_context(|| {
        format!(
            "the database's tree does not match {} (history rewritten after it?)",
            path.display()
        )
    })?;
    Ok(proof.to_bytes())
}

/// `verify-proof`: a tlog-proof on its own, and the event row if given. Says what it proves.
pub fn verify_proof(proof: &Path, keys: &Keys, event: Option<&Path>) -> Result<String> {
    let trust = keys.trust(keys.log()?.1.as_deref())?;
    let text = std::fs::read(proof).with_context(|| format!("reading {}", proof.display()))?;
    let proven = TlogProof::parse(&text)?.check(&trust)?;
    let (leaf, head) = (&proven.leaf, &proven.checkpoint.head);
    let witnesses: Vec<String> = proven
        .checkpoint
        .cosignatures
        .iter()
        .map(|s| {
            let time = cosignature::timestamp(s.signature())
                .and_then(|t| chrono::DateTime::from_timestamp(t as i64, 0));
            match time {
                Some(t) => format!("{} at {}", s.name(), t.to_rfc3339()),
                None => s.name().to_owned(),
            }
        })
        .collect();
    let mut out = format!(
        "event {} is at position {} (index {}) of the log {:?}, in its tree of {} events signed by {}; ",
        leaf.event_id,
        leaf.position,
        leaf.position - 1,
        head.origin,
        head.size,
        trust.log.name()
    );
    if witnesses.is_empty() {
        out.push_str("no witness cosignature checked");
    } else {
        out.push_str(&format!("cosigned by {}", witnesses.join(", ")));
    }
    if let Some(row) = event {
        let text = std::fs::read(row).with_context(|| format!("reading {}", row.display()))?;
        let row = serde_json::from_slice(&text).context("the event row is not JSON")?;
        tlog_proof::check_event(&row, leaf)?;
        out.push_str("; the event row given hashes to what was sealed");
    }
    Ok(out)
}
