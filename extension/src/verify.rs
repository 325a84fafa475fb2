//! Verification: `verify_audit_chain()` names every break; `verify_audit_batch_integrity()`
//! keeps the seed's boolean contract; both record each batch's status.

use crate::internal::with_internal;
use crate::{chain, gucs, store, tree};
use auditlog_core::redact::{digest, Record};
use auditlog_core::seal::SealedLeaf;
use auditlog_core::verify::{
    tile_problems, verify_batch, CurrentEvent, Kind, LogWalk, Problem, SealedRow, StoredBatch,
};
use pgrx::datum::{TimestampWithTimeZone, Uuid};
use pgrx::prelude::*;
use pgrx::spi::{SpiClient, SpiResult};

/// A batch's positions with the events they point at, the hashes recomputed from the rows.
/// What is checked of each sealed event: whether it is there, its stored and recomputed
/// hashes, its classification's hash, its time.
macro_rules! checked {
    ($from:literal) => {
        concat!(
            "SELECT p.position, p.event_id, p.event_hash, p.classification_hash,
                    e.event_id IS NOT NULL, e.integrity_hash,
                    CASE WHEN e.event_id IS NOT NULL THEN audit.compute_event_hash(
                        e.event_id, e.\"timestamp\", e.event_type, e.event_data, e.user_id,
                        e.session_id, e.correlation_id, e.parent_correlation_id, host(e.ip_address),
                        e.user_agent, e.user_context, e.status, e.enrichment_data, e.classification,
                        e.context_errors, e.hash_version, e.created_at, e.updated_at) END,
                    audit.classification_hash(e.classification), e.\"timestamp\",
                    CASE WHEN e.status = 'redacted' THEN
                        (SELECT r.redacted_hash FROM audit.redactions r WHERE r.event_id = p.event_id) END ",
            $from
        )
    };
}

/// A batch's positions with their events, live or archived; the time the seal recorded leads
/// to the event's partition.
const ROWS: &str = checked!(
    "FROM audit.event_positions p
     LEFT JOIN audit.all_events e ON e.event_id = p.event_id AND e.\"timestamp\" = p.\"timestamp\"
     WHERE p.position BETWEEN $1 AND $2
     ORDER BY p.position"
);

/// An event not found at its sealed time: found by id alone, it is an event whose time was changed.
const BY_ID: &str = checked!(
    "FROM audit.event_positions p JOIN audit.all_events e ON e.event_id = p.event_id
     WHERE p.position = $1 LIMIT 1"
);

fn uuid(u: Uuid) -> uuid::Uuid {
    uuid::Uuid::from_bytes(*u.as_bytes())
}

fn rows(client: &SpiClient<'_>, b: &StoredBatch) -> SpiResult<Vec<SealedRow>> {
    let args = [b.batch.first_position.into(), b.batch.last_position.into()];
    let mut rows = client
        .select(ROWS, None, &args)?
        .map(sealed_row)
        .collect::<SpiResult<Vec<_>>>()?;
    for row in rows.iter_mut().filter(|r| r.current.is_none()) {
        if let Some(found) = client
            .select(BY_ID, Some(1), &[row.leaf.position.into()])?
            .map(sealed_row)
            .next()
        {
            *row = found?;
        }
    }
    Ok(rows)
}

fn sealed_row(r: pgrx::spi::SpiHeapTupleData<'_>) -> SpiResult<SealedRow> {
    let event_id = uuid(r.get::<Uuid>(2)?.expect("NOT NULL"));
    let leaf = SealedLeaf {
        position: r.get::<i64>(1)?.expect("NOT NULL"),
        event_id,
        event_hash: chain::hash32(r.get(3)?),
        classification_hash: chain::hash32(r.get(4)?),
    };
    let current = if r.get::<bool>(5)? == Some(true) {
        let ts = r
            .get::<TimestampWithTimeZone>(9)?
            .map(store::pg_to_unix_us)
            .unwrap_or_default();
        Some(CurrentEvent {
            stored_integrity_hash: r.get::<String>(6)?.unwrap_or_default(),
            recomputed_integrity_hash: r
                .get::<String>(7)?
                .ok_or_else(|| "a column is null".to_string()),
            classification_hash: chain::hash32(r.get(8)?),
            order_key: (ts, event_id),
            redacted_hash: r.get::<String>(10)?,
        })
    } else {
        None
    };
    Ok(SealedRow { leaf, current })
}

/// Records a batch's status, where the transaction may write: on a hot standby (or in a
/// read-only transaction) and in a vault, verification answers without recording.
fn set_status(client: &mut SpiClient<'_>, batch_id: i64, ok: bool) -> SpiResult<()> {
    // SAFETY: reads of this backend's own state.
    if unsafe { pg_sys::RecoveryInProgress() || pg_sys::XactReadOnly } || gucs::vault_mode() {
        return Ok(());
    }
    let q = "UPDATE audit.audit_log_integrity SET verification_status = $2, verification_time = now() WHERE id = $1";
    with_internal(|| {
        client.update(
            q,
            None,
            &[
                batch_id.into(),
                (if ok { "verified" } else { "failed" }).into(),
            ],
        )
    })?;
    Ok(())
}

fn tree_problem(batch_id: Option<i64>, detail: String) -> Problem {
    Problem {
        kind: Kind::AlteredTree,
        batch_id,
        position: None,
        event_id: None,
        detail,
    }
}

/// The log's tree where `prev` left it, read from the stored tiles and checked against the root
/// `prev` recorded, from which the batches after it are rebuilt.
fn walk_from(
    client: &SpiClient<'_>,
    prev: Option<&StoredBatch>,
) -> SpiResult<(LogWalk, Vec<Problem>)> {
    let size = prev.map_or(0, |p| p.batch.last_position as u64);
    let read = tree::frontier(client, size)?.and_then(|f| match prev {
        Some(p) if hex::encode(f.root().0) != p.batch.tree_root => Err(format!(
            "the stored tiles do not give the tree_root of batch {}",
            p.batch.batch_id
        )),
        _ => Ok(f),
    });
    Ok(match read {
        Ok(f) => (LogWalk::new(f), Vec::new()),
        Err(why) => (
            LogWalk::lost(),
            vec![tree_problem(prev.map(|p| p.batch.batch_id), why)],
        ),
    })
}

/// The tiles the walk completed or grew against the stored ones.
fn stored_tiles_match(
    client: &SpiClient<'_>,
    expected: &[auditlog_core::tree::Tile],
) -> SpiResult<Vec<Problem>> {
    if expected.is_empty() {
        return Ok(Vec::new());
    }
    let keys: Vec<(u8, u64)> = expected.iter().map(|t| (t.level, t.index)).collect();
    Ok(tile_problems(expected, &tree::read_tiles(client, &keys)?))
}

/// What verification does with the tiles it rebuilds from the sealed leaves.
pub enum Rebuilt<'a> {
    /// Compares them with the stored ones, and records each batch's status.
    Compare,
    /// Hands them back to be stored: a vault receives the batches but builds its tree itself.
    Keep(&'a mut Vec<auditlog_core::tree::Tile>),
}

/// Verifies `batches` (consecutive, oldest first; `prev` the one before the first) and the log's
/// tree over them.
pub fn verify_batches(
    client: &mut SpiClient<'_>,
    prev: Option<StoredBatch>,
    batches: Vec<StoredBatch>,
    mut rebuilt: Rebuilt<'_>,
) -> SpiResult<Vec<Problem>> {
    let (mut walk, mut problems) = (LogWalk::lost(), Vec::new());
    // Whether the stored tree could be read where it was last needed: its damage is named once.
    let mut readable = true;
    let mut prev = prev;
    for b in batches {
        // At the start, and after a batch whose leaves could not be rebuilt, the tree before the
        // batch is read from the stored tiles and checked against the root the batch before it
        // recorded.
        if walk.frontier().is_none() {
            let (w, damage) = walk_from(client, prev.as_ref())?;
            if readable {
                problems.extend(damage);
            }
            readable = w.frontier().is_some();
            walk = w;
        }
        let mut found = verify_batch(prev.as_ref(), &b, &rows(client, &b)?, &mut walk);
        match &mut rebuilt {
            Rebuilt::Compare => {
                for mut p in stored_tiles_match(client, &std::mem::take(&mut walk.full))? {
                    p.batch_id = Some(b.batch.batch_id);
                    found.push(p);
                }
                set_status(client, b.batch.batch_id, found.is_empty())?;
            }
            Rebuilt::Keep(tiles) => tiles.append(&mut walk.full),
        }
        problems.extend(found);
        prev = Some(b);
    }
    if let Some(f) = walk.frontier() {
        match rebuilt {
            Rebuilt::Compare => problems.extend(stored_tiles_match(client, &f.partial_tiles())?),
            Rebuilt::Keep(tiles) => tiles.extend(f.partial_tiles()),
        }
    }
    Ok(problems)
}

/// The checkpoint copies stored in the database against the chain: a signed head that is gone
/// means the tail was cut; one with another hash or root means history was rewritten. With
/// `from_batch`, only the checkpoints that signed a head from that batch on, and the newest.
fn against_checkpoints(client: &SpiClient<'_>, from_batch: Option<i64>) -> SpiResult<Vec<Problem>> {
    // The JSON checkpoints of 0.2.0 signed a batch and its hash.
    let q = "SELECT c.seq, (c.checkpoint -> 'head' ->> 'batch_id')::bigint, b.batch_hash::text,
                    c.checkpoint -> 'head' ->> 'batch_hash'
               FROM audit.checkpoints c
               LEFT JOIN audit.audit_log_integrity b ON b.id = (c.checkpoint -> 'head' ->> 'batch_id')::bigint
              WHERE (c.checkpoint -> 'head' ->> 'batch_id')::bigint > 0
                AND b.batch_hash IS DISTINCT FROM c.checkpoint -> 'head' ->> 'batch_hash'
                AND ($1::bigint IS NULL OR (c.checkpoint -> 'head' ->> 'batch_id')::bigint >= $1
                     OR c.seq = (SELECT max(seq) FROM audit.checkpoints))
              ORDER BY c.seq";
    let mut problems = client
        .select(q, None, &[from_batch.into()])?
        .map(|r| {
            let (seq, batch_id) = (r.get::<i64>(1)?.unwrap_or_default(), r.get::<i64>(2)?);
            let gone = r.get::<String>(3)?.is_none();
            Ok(Problem {
                kind: if gone { Kind::TruncatedTail } else { Kind::AlteredBatch },
                batch_id,
                position: None,
                event_id: None,
                detail: if gone {
                    format!("checkpoint {seq} signed this batch, which is gone")
                } else {
                    format!("checkpoint {seq} signed another hash for this batch: history was rewritten")
                },
            })
        })
        .collect::<SpiResult<Vec<_>>>()?;
    // The signed notes sign a tree size and root: the batch that ends at that size must have
    // recorded that root.
    let q = "SELECT c.tree_size, b.id, b.last_position, b.tree_root::text, encode(c.root_hash, 'hex')
               FROM audit.signed_checkpoints c
               LEFT JOIN LATERAL (SELECT i.id, i.last_position, i.tree_root FROM audit.audit_log_integrity i
                                   WHERE i.first_position <= c.tree_size
                                   ORDER BY i.first_position DESC LIMIT 1) b ON true
              WHERE c.tree_size > 0
                AND ($1::bigint IS NULL
                     OR c.tree_size >= (SELECT first_position FROM audit.audit_log_integrity WHERE id = $1)
                     OR c.tree_size = (SELECT max(tree_size) FROM audit.signed_checkpoints))
                AND (b.id IS NULL OR b.last_position <> c.tree_size OR b.tree_root <> encode(c.root_hash, 'hex'))
              ORDER BY c.tree_size";
    for r in client.select(q, None, &[from_batch.into()])? {
        let size = r.get::<i64>(1)?.unwrap_or_default();
        let (batch_id, last) = (r.get::<i64>(2)?, r.get::<i64>(3)?.unwrap_or_default());
        let (kind, detail) = if last < size {
            (Kind::TruncatedTail, format!("a checkpoint signed a tree of {size} events, more than are sealed now: the tail was cut"))
        } else if last > size {
            (Kind::AlteredTree, format!("a checkpoint signed a tree of {size} events, where no batch ends now: history was rewritten"))
        } else {
            (Kind::AlteredTree, format!("a checkpoint signed another root for the tree of {size} events: history was rewritten"))
        };
        problems.push(Problem {
            kind,
            batch_id,
            position: None,
            event_id: None,
            detail,
        });
    }
    Ok(problems)
}

/// Each redaction request's records against the digest its own audit event carries: a record
/// forged to cover an edit, or dropped, breaks it. Within `events`, the requests that redacted an
/// event of it or were logged in it.
fn redactions_against_their_requests(
    client: &SpiClient<'_>,
    events: Events,
) -> SpiResult<Vec<Problem>> {
    let records = "SELECT r.redaction_event_id, r.event_id, r.original_hash, r.redacted_hash
                     FROM audit.redactions r
                    WHERE r.redaction_event_id IN (
                          SELECT x.redaction_event_id FROM audit.redactions x
                            LEFT JOIN audit.event_ids i ON i.event_id = x.redaction_event_id
                           WHERE $1::timestamptz IS NULL
                              OR x.\"timestamp\" BETWEEN $1 AND $2 OR i.\"timestamp\" BETWEEN $1 AND $2)
                    ORDER BY r.redaction_event_id";
    let (lo, hi) = events.bounds();
    let mut groups: std::collections::BTreeMap<uuid::Uuid, Vec<Record>> = Default::default();
    for r in client.select(records, None, &[lo.into(), hi.into()])? {
        groups
            .entry(uuid(r.get::<Uuid>(1)?.expect("NOT NULL")))
            .or_default()
            .push(Record {
                event_id: uuid(r.get::<Uuid>(2)?.expect("NOT NULL")),
                original_hash: r.get::<String>(3)?.unwrap_or_default(),
                redacted_hash: r.get::<String>(4)?.unwrap_or_default(),
            });
    }
    let sealed_digests = "SELECT i.event_id, e.event_data ->> 'redactions_digest'
                            FROM audit.event_ids i
                            JOIN audit.all_events e ON e.event_id = i.event_id AND e.\"timestamp\" = i.\"timestamp\"
                           WHERE i.event_id IN (SELECT DISTINCT redaction_event_id FROM audit.redactions)";
    let mut digests = std::collections::HashMap::new();
    for r in client.select(sealed_digests, None, &[])? {
        digests.insert(
            uuid(r.get::<Uuid>(1)?.expect("NOT NULL")),
            r.get::<String>(2)?,
        );
    }
    Ok(groups
        .into_iter()
        .filter_map(|(request, records)| {
            let detail = match digests.get(&request) {
                None => "its request is not among the logged events".to_string(),
                Some(d) if d.as_deref() != Some(digest(&records).as_str()) => {
                    "its records do not match the digest its request logged".to_string()
                }
                Some(_) => return None,
            };
            Some(Problem {
                kind: Kind::ForgedRedaction,
                batch_id: None,
                position: None,
                event_id: Some(request),
                detail: format!("redaction request {request}: {detail}"),
            })
        })
        .collect())
}

/// The events a check covers: those of a time range, or all of them.
#[derive(Clone, Copy)]
enum Events {
    All,
    Between(TimestampWithTimeZone, TimestampWithTimeZone),
}

impl Events {
    /// The range as two query arguments, both NULL for all events.
    fn bounds(self) -> (Option<TimestampWithTimeZone>, Option<TimestampWithTimeZone>) {
        match self {
            Events::All => (None, None),
            Events::Between(lo, hi) => (Some(lo), Some(hi)),
        }
    }
}

/// Unaccounted events: positions past the last batch, and events (of `events`) that no seal
/// covers and none is waiting for. An event's time leads to its partitions, so a window costs
/// what its events cost.
fn unaccounted(
    client: &SpiClient<'_>,
    last_position: i64,
    events: Events,
) -> SpiResult<Vec<Problem>> {
    const ALL: &str = "
        SELECT p.position, p.event_id FROM audit.event_positions p WHERE p.position > $1
        UNION ALL
        SELECT NULL, e.event_id FROM audit.all_events e
         WHERE NOT EXISTS (SELECT FROM audit.event_positions p WHERE p.event_id = e.event_id)
           AND NOT EXISTS (SELECT FROM audit.unsealed_events u WHERE u.event_id = e.event_id)";
    const BETWEEN: &str = "
        SELECT p.position, p.event_id FROM audit.event_positions p WHERE p.position > $1
        UNION ALL
        SELECT NULL, e.event_id FROM audit.all_events e
         WHERE e.\"timestamp\" >= $2 AND e.\"timestamp\" <= $3
           AND NOT EXISTS (SELECT FROM audit.event_positions p WHERE p.event_id = e.event_id)
           AND NOT EXISTS (SELECT FROM audit.unsealed_events u WHERE u.event_id = e.event_id)";
    let rows = match events {
        Events::All => client.select(ALL, None, &[last_position.into()])?,
        Events::Between(lo, hi) => {
            client.select(BETWEEN, None, &[last_position.into(), lo.into(), hi.into()])?
        }
    };
    rows.map(|r| {
        let position = r.get::<i64>(1)?;
        Ok(Problem {
            kind: Kind::InsertedEvent,
            batch_id: None,
            position,
            event_id: r.get::<Uuid>(2)?.map(uuid),
            detail: match position {
                Some(_) => "a position beyond the last batch".into(),
                None => "an event that no batch seals and no seal is waiting for".into(),
            },
        })
    })
    .collect()
}

/// The batches that hold the positions of events in `lo..=hi` outside batches `from..=to`: none
/// unless a position was forged or an event's time changed, for a batch's time range spans its
/// events'.
fn batches_of_events(
    client: &SpiClient<'_>,
    lo: TimestampWithTimeZone,
    hi: TimestampWithTimeZone,
    range: Option<(i64, i64)>,
) -> SpiResult<Vec<i64>> {
    let (from, to) = range.unwrap_or((1, 0));
    let q = "SELECT DISTINCT b.id
               FROM audit.all_events e
               JOIN audit.event_positions p ON p.event_id = e.event_id
               CROSS JOIN LATERAL (SELECT i.id FROM audit.audit_log_integrity i
                                    WHERE i.first_position <= p.position
                                    ORDER BY i.first_position DESC LIMIT 1) b
              WHERE e.\"timestamp\" >= $1 AND e.\"timestamp\" <= $2
                AND p.position NOT BETWEEN $3 AND $4";
    client
        .select(q, None, &[lo.into(), hi.into(), from.into(), to.into()])?
        .map(|r| Ok(r.get::<i64>(1)?.expect("NOT NULL")))
        .collect()
}

/// Verifies the batches `ids`, each run of consecutive ones with the batch before it.
fn verify_batch_ids(client: &mut SpiClient<'_>, ids: &[i64]) -> SpiResult<Vec<Problem>> {
    let mut problems = Vec::new();
    let mut i = 0;
    while i < ids.len() {
        let mut j = i;
        while j + 1 < ids.len() && ids[j + 1] == ids[j] + 1 {
            j += 1;
        }
        let (first, last) = (ids[i], ids[j]);
        let prev = if first > 1 {
            chain::range(client, first - 1, Some(first - 1))?.pop()
        } else {
            None
        };
        let batches = chain::range(client, first, Some(last))?;
        problems.extend(verify_batches(client, prev, batches, Rebuilt::Compare)?);
        i = j + 1;
    }
    Ok(problems)
}

/// What a scheduled check found: the problems, and how many batches and events it verified.
struct Checked {
    problems: Vec<Problem>,
    batches: usize,
    events: i64,
}

/// The scheduled checks: the batches `range` (ids) and the events in `lo..=hi`, as strictly as
/// verify_audit_chain() checks the whole chain: every batch holding one of those events, the
/// events no batch seals and none is waiting for, positions past the last batch, the checkpoints
/// from the window's first batch on (and the newest), and the redactions of those events.
fn check_window(
    client: &mut SpiClient<'_>,
    range: Option<(i64, i64)>,
    lo: TimestampWithTimeZone,
    hi: TimestampWithTimeZone,
) -> SpiResult<Checked> {
    let mut ids: std::collections::BTreeSet<i64> = range
        .map(|(from, to)| (from..=to).collect())
        .unwrap_or_default();
    ids.extend(batches_of_events(client, lo, hi, range)?);
    let ids: Vec<i64> = ids.into_iter().collect();
    let mut problems = verify_batch_ids(client, &ids)?;
    let head = chain::last(client)?;
    let last_position = head.as_ref().map_or(0, |b| b.batch.last_position);
    let events = Events::Between(lo, hi);
    problems.extend(unaccounted(client, last_position, events)?);
    let from_batch = ids.first().copied().or(head.map(|b| b.batch.batch_id));
    problems.extend(against_checkpoints(client, Some(from_batch.unwrap_or(1)))?);
    problems.extend(redactions_against_their_requests(client, events)?);
    let counted = if ids.is_empty() {
        0
    } else {
        let q = "SELECT coalesce(sum(event_count), 0)::bigint FROM audit.audit_log_integrity WHERE id = ANY ($1)";
        client
            .select(q, Some(1), &[ids.clone().into()])?
            .first()
            .get_one::<i64>()?
            .unwrap_or(0)
    };
    Ok(Checked {
        problems,
        batches: ids.len(),
        events: counted,
    })
}

/// Verifies batches `p_from_batch..=p_to_batch` (all by default) and returns one row per
/// problem, or a single `ok` row that says what was verified.
#[pg_extern(volatile, security_definer)]
#[search_path(audit, pg_catalog, pg_temp)]
#[allow(clippy::type_complexity)] // pgrx reads the column names from this signature
fn verify_audit_chain(
    p_from_batch: default!(i64, 1),
    p_to_batch: default!(Option<i64>, "NULL"),
) -> TableIterator<
    'static,
    (
        name!(kind, String),
        name!(batch_id, Option<i64>),
        name!(position, Option<i64>),
        name!(event_id, Option<Uuid>),
        name!(detail, String),
    ),
> {
    let (problems, batches, events) = Spi::connect_mut(|client| {
        let prev = if p_from_batch > 1 {
            chain::range(client, p_from_batch - 1, Some(p_from_batch - 1))?.pop()
        } else {
            None
        };
        let batches = chain::range(client, p_from_batch.max(1), p_to_batch)?;
        let (count, events) = (
            batches.len(),
            batches.iter().map(|b| b.batch.event_count).sum::<i64>(),
        );
        // An empty range ends where the batch before it ended.
        let last_position = batches
            .last()
            .or(prev.as_ref())
            .map(|b| b.batch.last_position);
        let whole_tail = p_to_batch.is_none();
        let mut problems = verify_batches(client, prev, batches, Rebuilt::Compare)?;
        if whole_tail {
            problems.extend(unaccounted(
                client,
                last_position.unwrap_or(0),
                Events::All,
            )?);
            problems.extend(against_checkpoints(client, None)?);
            problems.extend(redactions_against_their_requests(client, Events::All)?);
        }
        Ok::<_, pgrx::spi::SpiError>((problems, count, events))
    })
    .unwrap_or_else(|e| error!("verify_audit_chain: {e}"));
    let rows: Vec<_> = if problems.is_empty() {
        vec![(
            "ok".into(),
            None,
            None,
            None,
            format!("{batches} batches and {events} sealed events verify"),
        )]
    } else {
        problems
            .into_iter()
            .map(|p| {
                let id = p.event_id.map(|u| Uuid::from_bytes(*u.as_bytes()));
                (
                    p.kind.as_str().to_string(),
                    p.batch_id,
                    p.position,
                    id,
                    p.detail,
                )
            })
            .collect()
    };
    TableIterator::new(rows)
}

/// The seed's contract: true when everything in the window verifies: every batch whose time
/// range meets it (and its link to the batch before) and every event logged in it, as strictly
/// as verify_audit_chain() checks the whole chain. Each batch's verification_status and
/// verification_time are set; each problem is also raised as a WARNING, for the log.
#[pg_extern(volatile, security_definer)]
#[search_path(audit, pg_catalog, pg_temp)]
fn verify_audit_batch_integrity(
    p_batch_start: TimestampWithTimeZone,
    p_batch_end: TimestampWithTimeZone,
) -> bool {
    let checked = Spi::connect_mut(|client| {
        let q = "SELECT min(id), max(id) FROM audit.audit_log_integrity
                  WHERE batch_end_time >= $1 AND batch_start_time <= $2";
        let (from, to): (Option<i64>, Option<i64>) = client
            .select(q, Some(1), &[p_batch_start.into(), p_batch_end.into()])?
            .first()
            .get_two()?;
        check_window(client, from.zip(to), p_batch_start, p_batch_end)
    })
    .unwrap_or_else(|e| error!("verify_audit_batch_integrity: {e}"));
    for p in &checked.problems {
        warning!(
            "verify_audit_batch_integrity: {}{}: {}",
            p.kind.as_str(),
            p.event_id
                .map(|e| format!(" (event {e})"))
                .unwrap_or_default(),
            p.detail
        );
    }
    checked.problems.is_empty()
}

const RECORD_RUN: &str = "
    INSERT INTO audit.verification_runs (started_at, finished_at, window_length, batches, events, ok, problems)
    VALUES ($1, clock_timestamp(), $2, $3, $4, $5, $6)
    RETURNING id";

/// For schedulers, through the procedure `verify_recent(interval)`: verifies the batches sealed
/// within `p_window` (and their link to the batch before) and the events logged within it, as
/// strictly as verify_audit_chain() checks the whole chain; records the run in
/// `audit.verification_runs`, and on any problem opens an `integrity_failure` alert. Returns the
/// run as JSON; the procedure commits it and then raises if it failed.
#[pg_extern(volatile, security_definer, schema = "audit")]
#[search_path(audit, pg_catalog, pg_temp)]
fn verify_recent_run(p_window: pgrx::datum::Interval) -> pgrx::datum::JsonB {
    let run = Spi::connect_mut(|client| {
        let started: TimestampWithTimeZone = client.select("SELECT clock_timestamp()", Some(1), &[])?.first().get_one()?.expect("a time");
        let q = "SELECT min(id), max(id), now() - $1, 'infinity'::timestamptz
                   FROM audit.audit_log_integrity WHERE created_at >= now() - $1";
        let row = client.select(q, Some(1), &[p_window.into()])?;
        let row = row.first();
        let (from, to) = (row.get::<i64>(1)?, row.get::<i64>(2)?);
        let since: TimestampWithTimeZone = row.get(3)?.expect("a time");
        let end: TimestampWithTimeZone = row.get(4)?.expect("infinity");
        let checked = check_window(client, from.zip(to), since, end)?;
        let (problems, batches, events) = (checked.problems, checked.batches as i32, checked.events);
        let ok = problems.is_empty();
        let problems_json = serde_json::to_value(&problems).expect("problems serialise");
        let id: i64 = with_internal(|| {
            client.update(
                RECORD_RUN,
                Some(1),
                &[started.into(), p_window.into(), batches.into(), events.into(), ok.into(), pgrx::datum::JsonB(problems_json.clone()).into()],
            )
        })?
        .first()
        .get_one()?
        .expect("the run's id");
        let run = serde_json::json!({"run_id": id, "ok": ok, "batches": batches, "events": events, "problems": problems_json});
        if !ok {
            let first = &problems[0];
            let alert = auditlog_core::event::Alert {
                alert_id: format!("INTEGRITY_{id}"),
                alert_type: "integrity_failure",
                severity: "critical".into(),
                title: "Audit log integrity check failed".into(),
                description: format!(
                    "{} problem(s) in what was sealed or logged within {}; the first: {} ({})",
                    problems.len(),
                    p_window,
                    first.kind.as_str(),
                    first.detail
                ),
                alert_data: run.clone(),
            };
            crate::store::write_alert(client, "auditlog.integrity", &alert, crate::store::pg_to_unix_us(started))?;
        }
        Ok::<_, pgrx::spi::SpiError>(run)
    })
    .unwrap_or_else(|e| error!("verify_recent: {e}"));
    pgrx::datum::JsonB(run)
}
