//! The log's tree checked by an implementation we did not write: every proof the database gives,
//! and the checkpoints, cosignatures and proof files the shim writes, verified by Go's
//! `golang.org/x/mod/sumdb/tlog` and `.../sumdb/note` (tests/interop/tlogcheck.go).

mod common;

use base64::prelude::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// tests/interop/tlogcheck.go, built once per run (offline, from Debian's Go packages).
fn tlogcheck() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let here = Path::new(env!("CARGO_MANIFEST_DIR"));
        let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("tlogcheck");
        let o = Command::new("go")
            .args(["build", "-o"])
            .arg(&out)
            .arg(here.join("interop/tlogcheck.go"))
            .env("GO111MODULE", "off")
            .env("GOPATH", "/usr/share/gocode")
            .env(
                "GOCACHE",
                Path::new(env!("CARGO_TARGET_TMPDIR")).join("gocache"),
            )
            .output()
            .expect("go is installed (scripts/setup.sh)");
        assert!(
            o.status.success(),
            "go build: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        out
    })
}

/// Runs tlogcheck; Ok(stdout) when it verified, Err(stderr) when it refused.
fn go(args: &[&str]) -> Result<String, String> {
    let o = Command::new(tlogcheck()).args(args).output().unwrap();
    if o.status.success() {
        Ok(String::from_utf8_lossy(&o.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&o.stderr).into_owned())
    }
}

fn b64(b: &[u8]) -> String {
    BASE64_STANDARD.encode(b)
}

fn list(hashes: &[Vec<u8>]) -> String {
    if hashes.is_empty() {
        "-".into()
    } else {
        hashes.iter().map(|h| b64(h)).collect::<Vec<_>>().join(",")
    }
}

/// Sealed in batches that end inside, at the end of and across tiles of 256: every consistency proof between
/// two batch ends and inclusion proofs of every event, at the head and at each batch end, verify
/// with Go's tlog against the roots the batches recorded; a wrong root or index does not.
#[tokio::test]
async fn every_proof_verifies_with_go_sumdb_tlog() {
    let db = common::fresh_db("it_tree_go").await;
    for n in [1, 2, 3, 40, 7, 203, 1, 300] {
        db.batch_execute(&format!(
            "SELECT count(audit_log('auth.logout', jsonb_build_object('i', i))) FROM generate_series(1, {n}) i;
             SELECT seal_audit_events();"
        ))
        .await
        .unwrap();
    }
    let ends: Vec<(i64, Vec<u8>)> = db
        .query(
            "SELECT tree_size, decode(tree_root, 'hex') FROM audit.audit_log_integrity ORDER BY id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(ends[5].0, 256, "a batch ends where the first tile does");
    assert_eq!(ends.last().unwrap().0, 557);
    for (i, (m, old_root)) in ends.iter().enumerate() {
        for (n, new_root) in &ends[i..] {
            let proof: Vec<Vec<u8>> = db
                .query_one("SELECT audit_consistency_proof($1, $2)", &[m, n])
                .await
                .unwrap()
                .get(0);
            let (m, n) = (m.to_string(), n.to_string());
            let check = |old: &[u8], new: &[u8]| {
                go(&[
                    "consistency",
                    "-old-size",
                    &m,
                    "-old-root",
                    &b64(old),
                    "-new-size",
                    &n,
                    "-new-root",
                    &b64(new),
                    "-proof",
                    &list(&proof),
                ])
            };
            check(old_root, new_root).unwrap_or_else(|e| panic!("{m} -> {n}: {e}"));
            if m != n {
                assert!(
                    check(&[0; 32], new_root).is_err(),
                    "a forged old root passes {m} -> {n}"
                );
            }
        }
    }
    let events: Vec<uuid::Uuid> = common::column(
        &db,
        "SELECT event_id FROM audit.event_positions ORDER BY position",
    )
    .await;
    for (size, root) in &ends {
        let every = if *size == 557 { 1 } else { 13 };
        for e in events.iter().take(*size as usize).step_by(every) {
            let r = db
                .query_one(
                    "SELECT leaf_index, leaf_data, inclusion_path FROM audit_inclusion_proof($1, $2)",
                    &[e, size],
                )
                .await
                .unwrap();
            let (index, data, path): (i64, Vec<u8>, Vec<Vec<u8>>) = (r.get(0), r.get(1), r.get(2));
            let check = |index: i64| {
                go(&[
                    "inclusion",
                    "-size",
                    &size.to_string(),
                    "-root",
                    &b64(root),
                    "-index",
                    &index.to_string(),
                    "-leaf-data",
                    &b64(&data),
                    "-proof",
                    &list(&path),
                ])
            };
            check(index).unwrap_or_else(|err| panic!("leaf {index} of {size}: {err}"));
            if *size > 1 {
                assert!(check((index + 1) % size).is_err(), "another index passes");
            }
        }
    }
}

fn shim(db: &str, args: &[&str]) -> Result<String, String> {
    common::shim_at(&common::dsn(db), args)
}

/// A running `auditlog-shim witness`, stopped when dropped.
struct Witness(std::process::Child);

impl Witness {
    async fn start(port: u16, key: &Path, origin: &str, log_vkey: &Path, state: &Path) -> Witness {
        let child = Command::new(std::env::var("AUDITLOG_SHIM").unwrap())
            .args(["witness", "--listen", &format!("127.0.0.1:{port}"), "--key"])
            .arg(key)
            .arg("--log")
            .arg(format!("{origin}={}", log_vkey.display()))
            .arg("--state")
            .arg(state)
            .spawn()
            .unwrap();
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Witness(child);
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("the witness did not start listening on {port}");
    }
}

impl Drop for Witness {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// A key file's one line.
fn key(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap().trim().to_owned()
}

/// One witnessed log: checkpoints cosigned by a witness (c2sp.org/tlog-witness), verified by Go's
/// sumdb/note and by `verify --require`; an offline proof verified by Go's sumdb/tlog; keys and
/// cosignatures Go made accepted by the shim; and the witness refusing a fork of the same size, a
/// rewrite after a checkpoint and a bad proof, also after a restart.
#[tokio::test]
async fn a_witnessed_log_interoperates_with_go_and_its_witness_refuses_forks() {
    let name = "it_witness";
    let db = common::fresh_db(name).await;
    let dir = std::env::temp_dir().join("auditlog_it_witness");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let seal = |n: u32| {
        format!("SELECT count(audit_log('auth.logout', jsonb_build_object('i', i))) FROM generate_series(1, {n}) i; SELECT seal_audit_events();")
    };
    db.batch_execute(&seal(10)).await.unwrap();
    let origin: String = db
        .query_one("SELECT origin FROM audit_tree_head()", &[])
        .await
        .unwrap()
        .get(0);
    let (log, w1, w2) = (dir.join("log"), dir.join("w1"), dir.join("w2"));
    shim(name, &["keygen", "--out", p(&log), "--name", &origin]).unwrap();
    shim(
        name,
        &[
            "keygen",
            "--out",
            p(&w1),
            "--name",
            "witness.example/one",
            "--witness",
        ],
    )
    .unwrap();
    shim(
        name,
        &[
            "keygen",
            "--out",
            p(&w2),
            "--name",
            "witness.example/two",
            "--witness",
        ],
    )
    .unwrap();
    let vkey = |k: &Path| k.with_extension("vkey");
    let (log_vkey, w1_vkey) = (vkey(&log), vkey(&w1));
    let port = 55480;
    let url = format!("http://127.0.0.1:{port},{}", p(&vkey(&w1)));
    let state = dir.join("witness-state");
    let w1_key = w1.with_extension("key");
    let start_witness = || Witness::start(port, &w1_key, &origin, &log_vkey, &state);
    let witness = start_witness().await;

    let cps = dir.join("checkpoints");
    let checkpoint = |dir: &Path| {
        shim(
            name,
            &[
                "checkpoint",
                "--key",
                p(&log.with_extension("key")),
                "--dir",
                p(dir),
                "--witness",
                &url,
            ],
        )
    };
    checkpoint(&cps).unwrap();
    db.batch_execute(&seal(10)).await.unwrap();
    let out = checkpoint(&cps).unwrap();
    assert!(out.contains("1 of 1 witnesses cosigned"), "{out}");
    let note = cps.join("checkpoint-00000002.note");
    let go_note = go(&[
        "note",
        "-note",
        p(&note),
        "-key",
        &key(&log_vkey),
        "-key",
        &key(&w1_vkey),
        "-require-cosignatures",
        "1",
    ])
    .unwrap();
    assert!(
        go_note.contains("witness.example/one") && go_note.contains("size 20"),
        "{go_note}"
    );
    let keys = ["--pubkey", p(&log_vkey), "--witness-key", p(&w1_vkey)];
    let out = shim(
        name,
        &[
            &["verify", "--dir", p(&cps)][..],
            &keys,
            &["--require", "1"],
        ]
        .concat(),
    )
    .unwrap();
    assert!(out.contains("all checkpoints verify"), "{out}");
    let err = shim(
        name,
        &[
            "verify",
            "--dir",
            p(&cps),
            "--pubkey",
            p(&vkey(&log)),
            "--witness-key",
            p(&vkey(&w2)),
            "--require",
            "1",
        ],
    )
    .unwrap_err();
    assert!(err.contains("cosignature"), "{err}");

    // An offline proof of the 15th event, cosigned: Go's tlog checks it, and so does the shim.
    let event: uuid::Uuid = db
        .query_one(
            "SELECT event_id FROM audit.event_positions WHERE position = 15",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let proof = dir.join("event.tlog-proof");
    std::fs::write(
        &proof,
        shim(name, &["proof", &event.to_string(), "--dir", p(&cps)]).unwrap(),
    )
    .unwrap();
    let out = go(&[
        "proof",
        "-file",
        p(&proof),
        "-key",
        &key(&log_vkey),
        "-key",
        &key(&w1_vkey),
        "-require-cosignatures",
        "1",
    ])
    .unwrap();
    assert!(out.contains("index 14 of 20 verified"), "{out}");
    let out = shim(
        name,
        &[
            &["verify-proof", "--proof", p(&proof)][..],
            &keys,
            &["--require", "1"],
        ]
        .concat(),
    )
    .unwrap();
    assert!(
        out.contains("position 15") && out.contains("witness.example/one"),
        "{out}"
    );

    // Keys and cosignatures made by Go's code: a log key the shim signs with, and a witness
    // cosignature the shim verifies.
    let go_keys = |args: &[&str]| {
        let out = go(args).unwrap();
        let mut l = out.lines().map(str::to_owned);
        (l.next().unwrap(), l.next().unwrap())
    };
    let (go_skey, go_vkey) = go_keys(&["genkey", "-name", &origin]);
    let go_log = dir.join("go-log.key");
    std::fs::write(&go_log, &go_skey).unwrap();
    let go_cps = dir.join("go-checkpoints");
    shim(
        name,
        &["checkpoint", "--key", p(&go_log), "--dir", p(&go_cps)],
    )
    .unwrap();
    go(&[
        "note",
        "-note",
        p(&go_cps.join("checkpoint-00000001.note")),
        "-key",
        &go_vkey,
    ])
    .unwrap();
    let (w3_skey, w3_vkey) = go_keys(&["genkey", "-name", "witness.example/go", "-cosignature"]);
    let cosigned = go(&[
        "cosign",
        "-key",
        &w3_skey,
        "-time",
        "1764460800",
        "-note",
        p(&note),
    ])
    .unwrap();
    let go_cosigned = dir.join("go-cosigned");
    std::fs::create_dir_all(&go_cosigned).unwrap();
    std::fs::write(go_cosigned.join("checkpoint-00000001.note"), cosigned).unwrap();
    let w3 = dir.join("w3.vkey");
    std::fs::write(&w3, &w3_vkey).unwrap();
    shim(
        name,
        &[
            "verify",
            "--dir",
            p(&go_cosigned),
            "--pubkey",
            p(&vkey(&log)),
            "--witness-key",
            p(&w3),
            "--require",
            "1",
        ],
    )
    .unwrap();

    // A bad proof is refused (422), and a client behind is told the witness's size (409).
    let http = reqwest::Client::new();
    let add = |body: String| {
        let http = http.clone();
        async move {
            let r = http
                .post(format!("http://127.0.0.1:{port}/add-checkpoint"))
                .body(body)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let note_text = std::fs::read_to_string(&note).unwrap();
    let first = std::fs::read_to_string(cps.join("checkpoint-00000001.note")).unwrap();
    let wrong = b64(&[7; 32]);
    assert_eq!(add(format!("old 20\n{wrong}\n\n{note_text}")).await.0, 422);
    assert_eq!(add(format!("old 0\n\n{first}")).await, (409, "20\n".into()));

    // The witness keeps its state across a restart.
    drop(witness);
    let witness = start_witness().await;
    assert_eq!(
        add(format!("old 10\n\n{first}")).await,
        (409, "20\n".into())
    );

    // Two checkpoints of the same size with different roots: history rewritten into as many
    // events, signed with the log's key in a directory of its own. The witness refuses (422),
    // the checkpoint is written without its cosignature, and the command says so.
    db.batch_execute(&format!(
        "DROP EXTENSION auditlog CASCADE; CREATE EXTENSION auditlog; {}",
        seal(20)
    ))
    .await
    .unwrap();
    let err = checkpoint(&dir.join("fork")).unwrap_err();
    assert!(
        err.contains("422") && err.contains("0 of 1 witnesses cosigned"),
        "{err}"
    );
    // A rewrite that grew past the cosigned checkpoint: refused as well.
    db.batch_execute(&seal(5)).await.unwrap();
    let err = checkpoint(&dir.join("rewrite")).unwrap_err();
    assert!(err.contains("422"), "{err}");
    // ...while the true log's next checkpoint would still be taken: the witness kept size 20.
    assert_eq!(add(format!("old 0\n\n{first}")).await, (409, "20\n".into()));
    drop(witness);
}
