-- integrity_hash: SHA-256, 64 lowercase hex digits, over a versioned canonical pre-image.
SELECT count(*) > 50 AS many_events, bool_and(integrity_hash ~ '^[0-9a-f]{64}$') AS all_well_formed,
       count(DISTINCT hash_version) AS versions, min(hash_version) AS version
  FROM audit.audit_events;

-- Recomputed from the stored rows, the hashes match whatever the session's TimeZone and
-- DateStyle, including for events logged under other settings.
SET TimeZone = 'Pacific/Chatham';
SET DateStyle = 'SQL, DMY';
SELECT audit_log('auth.logout', '{"logged_in": "Chatham"}', '{"correlation_id": "CORR_HASH"}') IS NOT NULL AS logged;
SELECT count(*) FILTER (WHERE integrity_hash <> audit.event_integrity_hash(e)) AS mismatches FROM audit.audit_events e;
SET TimeZone = 'America/Los_Angeles';
SET DateStyle = 'German';
SET IntervalStyle = 'sql_standard';
SET extra_float_digits = 0;
SELECT audit_log('auth.logout', '{"logged_in": "Los Angeles", "x": 1.50}', '{"correlation_id": "CORR_HASH"}') IS NOT NULL AS logged;
SELECT count(*) FILTER (WHERE integrity_hash <> audit.event_integrity_hash(e)) AS mismatches FROM audit.audit_events e;
RESET TimeZone; RESET DateStyle; RESET IntervalStyle; RESET extra_float_digits;
SELECT count(*) FILTER (WHERE integrity_hash <> audit.event_integrity_hash(e)) AS mismatches FROM audit.audit_events e;

-- Verification walks the stored jsonb without printing it: every shape must hash as the
-- insert hashed it. jsonb keeps keys by length first ("bb" before "aaa"), RFC 8785 by UTF-16
-- code units (U+10000 before U+E000); scalars, escapes, nesting, empty containers, big numbers.
SELECT audit_log('auth.logout',
    $j${"bb": [1, -0, 1.50, 1e400, -2.5e-7, 12345678901234567890123, true, false, null, "x"],
        "aaa": {"\u00e9": {"": [], "z": {}}, "\ud800\udc00": "astral", "\ue000": "bmp"},
        "c": "tab\t quote\" nl\n \u0001 \u2028", "d": [[["deep"]]], "e": ""}$j$,
    '{"correlation_id": "CORR_HASH", "ip_address": "2001:db8::1"}') IS NOT NULL AS logged_shapes;
SELECT count(*) FILTER (WHERE integrity_hash <> audit.event_integrity_hash(e)) AS mismatches,
       count(*) FILTER (WHERE u.classification_hash IS NOT NULL
                          AND u.classification_hash <> audit.classification_hash(e.classification)) AS class_mismatches
  FROM audit.audit_events e LEFT JOIN audit.unsealed_events u USING (event_id);

-- Known answers for the stored-jsonb walk: the hash is SHA-256 of exactly this canonical text.
SELECT j, audit.classification_hash(j::jsonb) = sha256(convert_to(canonical, 'UTF8')) AS canonical
  FROM (VALUES ('{"bb": 1, "aaa": 2}', '{"aaa":2,"bb":1}'),
               ('{"\ue000": 1, "\ud800\udc00": 2}', E'{"\U00010000":2,"\ue000":1}'),
               ('[1.50, -0, 1e2, 1E-7, 0.1, 12345678901234567]', '[1.5,0,100,1e-7,0.1,1.2345678901234567e16]'),
               ('{"a": [{"b": null, "a": true}, [], {}], "s": "\u0001\"\\/"}', '{"a":[{"a":true,"b":null},[],{}],"s":"\u0001\"\\/"}'),
               ('"scalar"', '"scalar"'),
               ('12345678901234567890123', '1.2345678901234567890123e22')) AS t(j, canonical);

-- Numbers are stored as given, even beyond a double's precision, and such digits are hashed.
SELECT audit_log('auth.logout', '{"amount": 12345678901234567890123, "rate": 0.10000000000000001}',
                 '{"correlation_id": "CORR_HASH"}') AS big_id \gset
SELECT event_data FROM audit.audit_events WHERE event_id = :'big_id';

-- Tampering as a superuser who switches the append-only trigger off: the recomputed hash no
-- longer matches, whether the payload or the classification is changed.
BEGIN;
ALTER TABLE audit.audit_events DISABLE TRIGGER audit_events_append_only;
UPDATE audit.audit_events SET event_data = '{"amount": 12345678901234567890124, "rate": 0.10000000000000001}' WHERE event_id = :'big_id';
UPDATE audit.audit_events SET classification = jsonb_set(classification, '{risk_score}', '1')
 WHERE correlation_id = 'CORR_HASH' AND event_data ->> 'logged_in' = 'Chatham';
SELECT event_id = :'big_id' AS is_big, event_data ->> 'logged_in' AS logged_in
  FROM audit.audit_events e WHERE integrity_hash <> audit.event_integrity_hash(e) ORDER BY 1, 2;
ROLLBACK;
SELECT count(*) FILTER (WHERE integrity_hash <> audit.event_integrity_hash(e)) AS mismatches_after_rollback FROM audit.audit_events e;
