-- The log's one tree (RFC 9162): its head, inclusion and consistency proofs, checked here by hand
-- with sha256() on the first leaves (leaf = SHA-256(0x00 || data), node = SHA-256(0x01 || l || r));
-- tests/tests/tree.rs checks every proof with Go's sumdb/tlog.
SELECT FROM seal_audit_events();
SELECT h.tree_size = (SELECT count(*) FROM audit.event_positions) AS size_is_sealed_events,
       h.tree_size = b.tree_size AS size_is_last_batch,
       h.root_hash = decode(b.tree_root, 'hex') AS root_is_last_batch,
       h.sealed_at = b.created_at AS sealed_at_last_seal,
       h.origin ~ '^auditlog/[0-9]+/auditlog_regress$' AS origin_from_cluster_and_database
  FROM audit_tree_head() h, (SELECT * FROM audit.audit_log_integrity ORDER BY id DESC LIMIT 1) b;

-- Leaf data: position, event id, the event's hash and its classification's, as sealed.
CREATE TEMP TABLE leaf AS
SELECT p.position, sha256('\x00'::bytea || i.leaf_data) AS hash, i.leaf_data, i.leaf_index
  FROM audit.event_positions p, audit_inclusion_proof(p.event_id, 3) i WHERE p.position <= 3;
SELECT position, leaf_index, length(leaf_data) AS data_bytes,
       substr(leaf_data, 1, 8) = int8send(position) AS starts_with_position,
       substr(leaf_data, 25, 32) = (SELECT event_hash FROM audit.event_positions e WHERE e.position = leaf.position) AS holds_event_hash
  FROM leaf ORDER BY position;
-- In the tree of 3 leaves: leaf 0's path is leaf 1, then leaf 2; leaf 2's is the node of 0 and 1.
SELECT (SELECT inclusion_path FROM audit_inclusion_proof((SELECT event_id FROM audit.event_positions WHERE position = 1), 3))
         = ARRAY[(SELECT hash FROM leaf WHERE position = 2), (SELECT hash FROM leaf WHERE position = 3)] AS path_of_leaf_0,
       (SELECT inclusion_path FROM audit_inclusion_proof((SELECT event_id FROM audit.event_positions WHERE position = 3), 3))
         = ARRAY[sha256('\x01'::bytea || (SELECT hash FROM leaf WHERE position = 1) || (SELECT hash FROM leaf WHERE position = 2))] AS path_of_leaf_2;
-- PROOF(1, D[2]) is leaf 1; PROOF(2, D[3]) is leaf 2; PROOF(n, D[n]) is empty.
SELECT audit_consistency_proof(1, 2) = ARRAY[(SELECT hash FROM leaf WHERE position = 2)] AS one_to_two,
       audit_consistency_proof(2, 3) = ARRAY[(SELECT hash FROM leaf WHERE position = 3)] AS two_to_three,
       cardinality(audit_consistency_proof(3, 3)) AS three_to_three;
-- At the head: the default size is the whole tree, and a proof has at most ceil(log2 n) hashes.
SELECT i.tree_size = h.tree_size AS at_head, cardinality(i.inclusion_path) <= ceil(log(2, h.tree_size)) AS short
  FROM audit_tree_head() h, audit_inclusion_proof((SELECT event_id FROM audit.event_positions WHERE position = 2)) i;
SELECT cardinality(audit_consistency_proof(1, tree_size)) <= ceil(log(2, tree_size)) + 1 AS short FROM audit_tree_head();

-- Bad requests get clear errors (ids and the cluster's identifier masked: they change per run).
CREATE FUNCTION regress_error(sql text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE sql;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN regexp_replace(regexp_replace(SQLERRM, '[0-9a-f]{8}-[0-9a-f-]{27}', '<id>', 'g'), 'auditlog/[0-9]+/', 'auditlog/<system id>/');
END
$$;
SELECT regress_error(q) FROM (VALUES
    ('SELECT audit_consistency_proof(0, 1)'),
    ('SELECT audit_consistency_proof(3, 2)'),
    ('SELECT audit_consistency_proof(1, tree_size + 1) FROM audit_tree_head()'),
    ('SELECT * FROM audit_inclusion_proof((SELECT event_id FROM audit.event_positions WHERE position = 3), 2)'),
    ('SELECT * FROM audit_inclusion_proof(''00000000-0000-0000-0000-000000000000'')'),
    ('SELECT audit_store_signed_checkpoint(''not a note'')'),
    (E'SELECT audit_store_signed_checkpoint(E''example.com/another-log\\n1\\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\\n\\n\\u2014 k AAAA\\n'')'),
    -- a copy of a checkpoint that does not sign this log's tree is not kept: no role that may
    -- store copies can plant one that fails verification
    ($$SELECT audit_store_signed_checkpoint(format(E'%s\n%s\n%s\n\n\u2014 k AAAA\n', origin, tree_size, encode(sha256('other'), 'base64'))) FROM audit_tree_head()$$),
    ($$SELECT audit_store_signed_checkpoint(format(E'%s\n%s\n%s\n\n\u2014 k AAAA\n', origin, tree_size + 1, encode(root_hash, 'base64'))) FROM audit_tree_head()$$),
    ($$SELECT audit_store_checkpoint('{"checkpoint": {"seq": 99, "head": {"batch_id": 99999, "batch_hash": "00"}}, "signature": ""}')$$)
) t(q);

-- The origin was recorded when the extension was made (a renamed database or a restore elsewhere
-- keeps it); the setting overrides it, and one that cannot name a note key is refused.
SELECT (SELECT origin FROM audit.log_origin) = (SELECT origin FROM audit_tree_head()) AS recorded_origin;
SET auditlog.log_origin = 'example.com/audit';
SELECT origin FROM audit_tree_head();
SET auditlog.log_origin = 'two words';
RESET auditlog.log_origin;

-- A copy of a signed note is kept once.
SELECT audit_store_signed_checkpoint(format(E'%s\n%s\n%s\n\n\u2014 regress AAAA\n', origin, tree_size, encode(root_hash, 'base64')))
  FROM audit_tree_head();
SELECT audit_store_signed_checkpoint(note) FROM audit.signed_checkpoints;
SELECT count(*) AS copies, bool_and(root_hash = (SELECT root_hash FROM audit_tree_head())) AS of_the_head FROM audit.signed_checkpoints;

-- The tiles: level 0 holds every leaf hash, in order.
SELECT sum(length(hashes)) / 32 = (SELECT tree_size FROM audit_tree_head()) AS one_hash_per_leaf,
       substr((SELECT hashes FROM audit.tree_tiles WHERE level = 0 AND tile_index = 0), 1, 96)
         = (SELECT string_agg(hash, ''::bytea ORDER BY position) FROM leaf) AS first_leaves
  FROM audit.tree_tiles WHERE level = 0;
SELECT count(*) FILTER (WHERE kind IN ('altered_tree', 'truncated_tail')) AS tree_problems FROM verify_audit_chain();
