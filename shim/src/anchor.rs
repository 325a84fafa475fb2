//! The commands that anchor the chain outside the database: keygen, checkpoint, verify and
//! verify-proof.

use crate::checkpoint::{self, Head, Signed};
use anyhow::{anyhow, bail, Context, Result};
use auditlog_core::proof::Proof;
use ed25519_dalek::{SigningKey, VerifyingKey};
use std::io::Write;
use std::path::Path;
use tokio_postgres::Client;

fn read_hex32(path: &Path) -> Result<[u8; 32]> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let bytes =
        hex::decode(text.trim()).with_context(|| format!("{} is not hex", path.display()))?;
    bytes
        .try_into()
        .map_err(|_| anyhow!("{} does not hold 32 bytes", path.display()))
}

pub fn signing_key(path: &Path) -> Result<SigningKey> {
    Ok(SigningKey::from_bytes(&read_hex32(path)?))
}

pub fn verifying_key(path: &Path) -> Result<VerifyingKey> {
    VerifyingKey::from_bytes(&read_hex32(path)?).map_err(|e| anyhow!("{}: {e}", path.display()))
}

/// Writes `bytes` to `path` durably: a temporary file, fsync, rename, fsync of the directory.
fn write_durably(path: &Path, bytes: &[u8], private: bool) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(if private { 0o600 } else { 0o644 })
        .open(&tmp)
        .with_context(|| format!("creating {}", tmp.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// `keygen`: PREFIX.key (the private key, hex, mode 0600) and PREFIX.pub.
pub fn keygen(prefix: &Path) -> Result<()> {
    let key = SigningKey::generate(&mut rand_core::OsRng);
    let (secret, public) = (prefix.with_extension("key"), prefix.with_extension("pub"));
    if secret.exists() || public.exists() {
        bail!(
            "{} or {} exists already: not overwriting a key",
            secret.display(),
            public.display()
        );
    }
    write_durably(&secret, hex::encode(key.to_bytes()).as_bytes(), true)?;
    write_durably(
        &public,
        hex::encode(key.verifying_key().as_bytes()).as_bytes(),
        false,
    )?;
    println!(
        "wrote {} (keep it away from the database) and {}",
        secret.display(),
        public.display()
    );
    Ok(())
}

async fn head(db: &Client) -> Result<Head> {
    let v: serde_json::Value = db.query_one("SELECT audit_chain_head()", &[]).await?.get(0);
    Ok(serde_json::from_value(v)?)
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

/// Compares a checkpoint with the database: its head batch must still be there, unchanged.
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

/// `checkpoint`: signs the current chain head and writes the next checkpoint file; refuses when
/// the database no longer holds what the last checkpoint signed.
pub async fn checkpoint(db: &Client, key_path: &Path, dir: &Path) -> Result<()> {
    let key = signing_key(key_path)?;
    std::fs::create_dir_all(dir)?;
    let files = checkpoint::read_dir(dir)?;
    let problems = checkpoint::check_chain(&files, &key.verifying_key());
    if !problems.is_empty() {
        bail!(
            "the existing checkpoints do not verify; not extending them:\n  {}",
            problems.join("\n  ")
        );
    }
    let prev = files.last().map(|(_, s)| s.clone().expect("checked above"));
    if let Some(p) = &prev {
        if let Some(problem) = against_db(db, "the last checkpoint", &p.checkpoint).await? {
            bail!("{problem}");
        }
    }
    let head = head(db).await?;
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let signed = Signed::sign(
        checkpoint::next(prev.as_ref(), head, now, &key.verifying_key()),
        &key,
    );
    let path = dir.join(checkpoint::file_name(signed.checkpoint.seq));
    write_durably(
        &path,
        serde_json::to_string_pretty(&signed)?.as_bytes(),
        false,
    )?;
    db.execute(
        "SELECT audit_store_checkpoint($1)",
        &[&serde_json::to_value(&signed)?],
    )
    .await?;
    println!(
        "checkpoint {} signed: batch {}, {} events, {}",
        signed.checkpoint.seq,
        signed.checkpoint.head.batch_id,
        signed.checkpoint.head.tree_size,
        path.display()
    );
    Ok(())
}

/// `verify`: every checkpoint's signature and chain, every checkpoint against the database, and
/// the database's own chain. Returns the problems found.
pub async fn verify(db: &Client, dir: &Path, pubkey: &Path) -> Result<Vec<String>> {
    let key = verifying_key(pubkey)?;
    let files = checkpoint::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
    if files.is_empty() {
        bail!("no checkpoint files in {}", dir.display());
    }
    let mut problems = checkpoint::check_chain(&files, &key);
    for (path, s) in &files {
        if let Ok(s) = s {
            problems.extend(against_db(db, &path.display().to_string(), &s.checkpoint).await?);
        }
    }
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
                "database: {kind} (batch {batch:?}, position {position:?}): {}",
                row.get::<_, String>(3)
            ));
        }
    }
    Ok(problems)
}

/// `verify-proof`: an inclusion proof against a signed checkpoint.
pub fn verify_proof(proof: &Path, checkpoint_file: &Path, pubkey: &Path) -> Result<String> {
    let key = verifying_key(pubkey)?;
    let signed: Signed = serde_json::from_slice(&std::fs::read(checkpoint_file)?)
        .context("reading the checkpoint")?;
    if !signed.signature_ok(&key) {
        bail!("forged checkpoint: its signature does not verify with this public key");
    }
    let proof: Proof =
        serde_json::from_slice(&std::fs::read(proof)?).context("reading the proof")?;
    let head = proof
        .check()
        .map_err(|e| anyhow!("the proof does not hold: {e}"))?;
    let c = &signed.checkpoint.head;
    let in_chain = std::iter::once(&proof.batch)
        .chain(&proof.chain)
        .find(|b| b.batch.batch_id == c.batch_id);
    match in_chain {
        Some(b) if b.batch_hash == c.batch_hash => Ok(format!(
            "event {} is at position {} of the chain that checkpoint {} signed (batch {}, {} events); the proof reaches batch {}",
            proof.leaf.event_id, proof.leaf.position, signed.checkpoint.seq, c.batch_id, c.tree_size, head.batch_id
        )),
        Some(_) => bail!("the proof's chain differs from the one checkpoint {} signed", signed.checkpoint.seq),
        None => bail!(
            "checkpoint {} signed batch {}, which the proof (batches {}..={}) does not reach: use a later checkpoint",
            signed.checkpoint.seq,
            c.batch_id,
            proof.batch.batch.batch_id,
            head.batch_id
        ),
    }
}
