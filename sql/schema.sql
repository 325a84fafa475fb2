-- auditlog schema: the seed's tables (section 4.1) in schema "audit", owned by a NOLOGIN role.
-- Runs first in CREATE EXTENSION; the functions follow, then sql/finalize.sql.

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'auditlog_owner') THEN
        CREATE ROLE auditlog_owner NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'audit_writer') THEN
        CREATE ROLE audit_writer NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'audit_reader') THEN
        CREATE ROLE audit_reader NOLOGIN;
    END IF;
END
$$;

CREATE SCHEMA audit;
COMMENT ON SCHEMA audit IS 'auditlog: tamper-evident security audit log';

-- The taxonomy (seed section 2.1). DBAs add or change rows with plain SQL; audit_log() reads
-- this table on every call, so a change applies to the next event in every session.
CREATE TABLE audit.event_types (
    event_type           text PRIMARY KEY CHECK (event_type <> ''),
    category             text NOT NULL,
    subcategory          text NOT NULL,
    severity             text NOT NULL CHECK (severity IN ('info', 'warning', 'error', 'critical')),
    compliance_relevance text NOT NULL CHECK (compliance_relevance IN ('none', 'low', 'medium', 'high', 'critical')),
    retention_period     integer NOT NULL CHECK (retention_period > 0),
    privacy_impact       text NOT NULL CHECK (privacy_impact IN ('none', 'low', 'medium', 'high', 'critical')),
    security_relevance   text NOT NULL CHECK (security_relevance IN ('none', 'low', 'medium', 'high', 'critical')),
    -- true for the rows the extension ships, until a DBA changes them; pg_dump keeps the rest.
    builtin              boolean NOT NULL DEFAULT false
);
CREATE INDEX event_types_family_idx ON audit.event_types (split_part(event_type, '.', 1));

INSERT INTO audit.event_types VALUES
    ('auth.login.success',              'authentication', 'login_success',          'info',     'high',     2555, 'low',      'medium',   true),
    ('auth.login.failure',              'authentication', 'login_failure',          'warning',  'high',     2555, 'low',      'high',     true),
    ('auth.logout',                     'authentication', 'logout',                 'info',     'medium',   2555, 'none',     'low',      true),
    ('auth.mfa.success',                'authentication', 'mfa_success',            'info',     'high',     2555, 'low',      'medium',   true),
    ('auth.mfa.failure',                'authentication', 'mfa_failure',            'warning',  'high',     2555, 'low',      'high',     true),
    ('auth.session.timeout',            'authentication', 'session_timeout',        'info',     'medium',   2555, 'none',     'low',      true),
    ('authz.access.granted',            'authorization',  'access_granted',         'info',     'high',     2555, 'medium',   'medium',   true),
    ('authz.access.denied',             'authorization',  'access_denied',          'warning',  'high',     2555, 'low',      'high',     true),
    ('authz.permission.elevated',       'authorization',  'permission_elevated',    'warning',  'high',     2555, 'medium',   'high',     true),
    ('authz.role.assigned',             'authorization',  'role_assigned',          'info',     'high',     2555, 'medium',   'medium',   true),
    ('authz.role.removed',              'authorization',  'role_removed',           'info',     'high',     2555, 'medium',   'medium',   true),
    ('data.client.read',                'data_access',    'client_read',            'info',     'high',     2555, 'high',     'medium',   true),
    ('data.client.create',              'data_access',    'client_create',          'info',     'high',     2555, 'high',     'medium',   true),
    ('data.client.update',              'data_access',    'client_update',          'info',     'high',     2555, 'high',     'medium',   true),
    ('data.client.delete',              'data_access',    'client_delete',          'warning',  'critical', 2555, 'critical', 'high',     true),
    ('data.bulk.export',                'data_access',    'bulk_export',            'warning',  'critical', 2555, 'critical', 'high',     true),
    ('encryption.field.encrypt',        'encryption',     'field_encrypt',          'info',     'high',     2555, 'high',     'high',     true),
    ('encryption.field.decrypt',        'encryption',     'field_decrypt',          'info',     'high',     2555, 'high',     'high',     true),
    ('encryption.key.rotation',         'encryption',     'key_rotation',           'info',     'critical', 2555, 'medium',   'critical', true),
    ('encryption.key.access',           'encryption',     'key_access',             'info',     'critical', 2555, 'high',     'critical', true),
    ('privacy.gdpr.request',            'privacy',        'gdpr_request',           'info',     'critical', 2555, 'critical', 'medium',   true),
    ('privacy.consent.granted',         'privacy',        'consent_granted',        'info',     'high',     2555, 'high',     'low',      true),
    ('privacy.consent.withdrawn',       'privacy',        'consent_withdrawn',      'info',     'high',     2555, 'high',     'low',      true),
    ('privacy.data.anonymized',         'privacy',        'data_anonymized',        'info',     'high',     2555, 'high',     'medium',   true),
    ('security.incident.detected',      'security',       'incident_detected',      'critical', 'critical', 2555, 'high',     'critical', true),
    ('security.breach.suspected',       'security',       'breach_suspected',       'critical', 'critical', 2555, 'critical', 'critical', true),
    ('security.vulnerability.detected', 'security',       'vulnerability_detected', 'warning',  'high',     2555, 'medium',   'high',     true),
    ('system.startup',                  'system',         'startup',                'info',     'medium',    365, 'none',     'low',      true),
    ('system.shutdown',                 'system',         'shutdown',               'info',     'medium',    365, 'none',     'low',      true),
    ('system.config.changed',           'system',         'config_changed',         'warning',  'high',     2555, 'low',      'high',     true);

-- Detection rules (seed 2.2's dynamic classification, as data): N events of the given types for
-- one user, address or correlation within window_seconds (or N distinct users in a correlation)
-- escalate the completing event's severity, tag it rule:<id> and add_tags, and raise an alert.
-- DBAs add, change or disable rules with SQL; a change applies to the next call in every session.
CREATE TABLE audit.detection_rules (
    rule_id          text PRIMARY KEY,
    description      text NOT NULL,
    enabled          boolean NOT NULL DEFAULT true,
    event_types      text[],                    -- NULL: every type
    group_by         text NOT NULL CHECK (group_by IN ('user', 'ip_address', 'user_or_ip', 'correlation')),
    measure          text NOT NULL DEFAULT 'events' CHECK (measure IN ('events', 'distinct_users')),
    CHECK (measure = 'events' OR group_by = 'correlation'),
    threshold        integer NOT NULL CHECK (threshold > 0),
    window_seconds   integer NOT NULL CHECK (window_seconds > 0),
    after_hours_only boolean NOT NULL DEFAULT false,
    escalate_to      text CHECK (escalate_to IN ('info', 'warning', 'error', 'critical')),
    add_tags         text[] NOT NULL DEFAULT '{}',
    raise_alert      boolean NOT NULL DEFAULT true,
    builtin          boolean NOT NULL DEFAULT false
);
INSERT INTO audit.detection_rules
    (rule_id, description, event_types, group_by, measure, threshold, window_seconds, after_hours_only, escalate_to, add_tags, builtin)
VALUES
    ('brute_force', 'five login failures for one user or address within 5 minutes',
     '{auth.login.failure}', 'user_or_ip', 'events', 5, 300, false, 'critical', '{brute_force}', true),
    ('rapid_events', 'more than 10 events per second in one correlation',
     NULL, 'correlation', 'events', 11, 1, false, 'warning', '{rapid_events}', true),
    ('multiple_users', 'several users in one correlation within an hour',
     NULL, 'correlation', 'distinct_users', 2, 3600, false, 'warning', '{multiple_users}', true),
    ('after_hours_export', 'a bulk export outside business hours',
     '{data.bulk.export}', 'user', 'events', 1, 1, true, 'critical', '{after_hours_export}', true),
    ('access_denial_burst', 'five access denials for one user or address within a minute',
     '{authz.access.denied}', 'user_or_ip', 'events', 5, 60, false, 'error', '{access_denial_burst}', true);

-- The events. Seed column names; event_id is a time-ordered UUIDv7 (cheap to index), user_id a
-- bigint (the seed's profile id), and every value the caller gave stays verbatim in user_context.
-- Partitioned by "timestamp" (auditlog.partition_period, monthly by default): partitions are made
-- ahead of time by audit_maintain_partitions(), and whatever finds none lands in the default
-- partition, so no insert ever fails for want of one.
CREATE TABLE audit.audit_events (
    event_id              uuid NOT NULL,
    "timestamp"           timestamptz NOT NULL,
    event_type            text NOT NULL,
    event_data            jsonb NOT NULL,
    user_id               bigint,
    session_id            text,
    correlation_id        text NOT NULL,
    parent_correlation_id text,
    ip_address            inet,
    user_agent            text,
    user_context          jsonb NOT NULL,
    status                text NOT NULL,
    enrichment_data       jsonb NOT NULL,
    classification        jsonb NOT NULL,
    -- malformed optional context values: [{"key", "value", "error"}], else null
    context_errors        jsonb,
    integrity_hash        varchar(64) NOT NULL,
    hash_version          smallint NOT NULL,
    created_at            timestamptz NOT NULL,
    updated_at            timestamptz NOT NULL
) PARTITION BY RANGE ("timestamp");
-- Indexes for the seed's queries, and no more: each one is paid on every insert.
-- The seed's GIN indexes on whole JSONB columns are replaced by a partial index for the one
-- JSONB predicate its queries use (risk_score > 75); ("timestamp", event_id) serves time ranges
-- and finding a sealed event by its time and id.
-- Each partition has its own, made by this function; the parent has none, so that attaching a
-- partition (or restoring one from a dump) never makes a second set.
CREATE FUNCTION audit.index_event_partition(p regclass) RETURNS void
LANGUAGE plpgsql SET search_path = audit, pg_catalog, pg_temp AS $$
DECLARE
    t text := (SELECT relname FROM pg_class WHERE oid = p);
BEGIN
    EXECUTE format('CREATE INDEX %I ON %s ("timestamp", event_id)', t || '_time_idx', p);
    EXECUTE format('CREATE INDEX %I ON %s (correlation_id, "timestamp")', t || '_correlation_idx', p);
    EXECUTE format('CREATE INDEX %I ON %s (user_id, "timestamp") WHERE user_id IS NOT NULL', t || '_user_idx', p);
    EXECUTE format('CREATE INDEX %I ON %s (event_type, "timestamp")', t || '_type_idx', p);
    EXECUTE format('CREATE INDEX %I ON %s (ip_address, "timestamp") WHERE ip_address IS NOT NULL', t || '_ip_idx', p);
    EXECUTE format('CREATE INDEX %I ON %s ("timestamp") WHERE ((classification ->> ''risk_score'')::int > 75)',
                   t || '_high_risk_idx', p);
END
$$;
CREATE TABLE audit.audit_events_default PARTITION OF audit.audit_events DEFAULT;
SELECT audit.index_event_partition('audit.audit_events_default');

-- Every event id ever stored, archived ones included: ids stay unique across partitions, and a
-- retried insert is recognised by its id.
CREATE TABLE audit.event_ids (
    event_id    uuid PRIMARY KEY,
    "timestamp" timestamptz NOT NULL
);

-- Archived events (archive_audit_logs()): whole partitions, detached from audit_events and
-- attached here, indexes and all. Verification reads both.
CREATE TABLE audit.audit_events_archive (LIKE audit.audit_events)
    PARTITION BY RANGE ("timestamp");
-- A vault (vault.sql) receives a source's archived events as rows of the archive itself: they
-- land here. A source's archive_audit_logs() attaches whole partitions and leaves it empty.
CREATE TABLE audit.audit_events_archive_default PARTITION OF audit.audit_events_archive DEFAULT;
SELECT audit.index_event_partition('audit.audit_events_archive_default');

-- Every redaction (redact_audit_event(), redact_user_audit_events(), purge_expired_audit_events()):
-- the event keeps its sealed integrity_hash; redacted_hash is the hash of what is left. The
-- records of one request are bound by a digest that its own audit event (redaction_event_id)
-- carries into the chain.
CREATE TABLE audit.redactions (
    event_id           uuid PRIMARY KEY,
    "timestamp"        timestamptz NOT NULL,
    redacted_at        timestamptz NOT NULL,
    requested_by       text NOT NULL,
    reason             text NOT NULL,
    original_hash      varchar(64) NOT NULL,
    redacted_hash      varchar(64) NOT NULL,
    redaction_event_id uuid NOT NULL
);
CREATE INDEX redactions_redaction_event_idx ON audit.redactions (redaction_event_id);

-- Live and archived events, for verification and for anyone who reads the whole history.
CREATE VIEW audit.all_events AS
    SELECT * FROM audit.audit_events
    UNION ALL
    SELECT * FROM audit.audit_events_archive;

CREATE TABLE audit.field_access_audit (
    id                     bigserial PRIMARY KEY,
    event_id               uuid NOT NULL,
    field_path             text NOT NULL,
    operation_type         text NOT NULL,
    resource_type          text NOT NULL,
    resource_id            bigint,
    field_sensitivity      text NOT NULL,
    encryption_key_version text,
    access_granted         boolean NOT NULL DEFAULT false,
    denial_reason          text,
    "timestamp"            timestamptz NOT NULL
);
CREATE INDEX field_access_audit_event_id_idx ON audit.field_access_audit (event_id);
CREATE INDEX field_access_audit_field_path_idx ON audit.field_access_audit (field_path);
CREATE INDEX field_access_audit_resource_idx ON audit.field_access_audit (resource_type, resource_id);
CREATE INDEX field_access_audit_time_brin ON audit.field_access_audit USING brin ("timestamp");

-- The seed's correlation_metadata, in two parts: correlation_rollup holds what the seals rolled
-- up (each seal adds the events it takes, see extension/src/correlation.rs), and the view
-- audit.correlation_metadata adds the events still queued, so it counts every committed event.
CREATE TABLE audit.correlation_rollup (
    correlation_id        text PRIMARY KEY,
    parent_correlation_id text,
    created_at            timestamptz NOT NULL,
    first_event_time      timestamptz NOT NULL,
    last_event_time       timestamptz NOT NULL,
    event_count           bigint NOT NULL,
    risk_score            integer NOT NULL
);
CREATE INDEX correlation_rollup_parent_idx ON audit.correlation_rollup (parent_correlation_id);
CREATE INDEX correlation_rollup_created_at_idx ON audit.correlation_rollup (created_at);

-- Sealing (see extension/src/seal.rs). Events wait in unsealed_events until a seal gives them
-- gapless positions in event_positions and records a batch in audit_log_integrity: a Merkle root
-- over the batch's leaves, chained to the previous batch.
-- No index: the sealer reads and empties the whole queue. The hashes are the ones the seal
-- records, and the rest is what the correlation roll-up needs, all written by audit_log() so
-- that sealing reads nothing else.
CREATE TABLE audit.unsealed_events (
    event_id              uuid NOT NULL,
    "timestamp"           timestamptz NOT NULL,
    event_hash            bytea NOT NULL,
    classification_hash   bytea NOT NULL,
    correlation_id        text NOT NULL,
    parent_correlation_id text,
    risk_score            integer NOT NULL
);

-- Rolled up and still queued together: a filter on correlation_id reaches both parts. The
-- parent is the first one rolled up, else the least queued one, as the roll-up decides.
CREATE VIEW audit.correlation_metadata AS
    SELECT correlation_id,
           coalesce(min(parent_correlation_id) FILTER (WHERE rolled_up), min(parent_correlation_id))
               AS parent_correlation_id,
           'audit_event'::text AS operation_type,
           coalesce(min(created_at), min(first_event_time)) AS created_at,
           min(first_event_time) AS first_event_time,
           max(last_event_time) AS last_event_time,
           sum(event_count)::bigint AS event_count,
           max(risk_score) AS risk_score,
           'active'::text AS status,
           '{}'::jsonb AS metadata
      FROM (SELECT correlation_id, parent_correlation_id, created_at, first_event_time,
                   last_event_time, event_count, risk_score, true AS rolled_up
              FROM audit.correlation_rollup
            UNION ALL
            SELECT correlation_id, parent_correlation_id, NULL, "timestamp", "timestamp", 1, risk_score, false
              FROM audit.unsealed_events) c
     GROUP BY correlation_id;

CREATE TABLE audit.event_positions (
    position            bigint PRIMARY KEY,
    event_id            uuid NOT NULL UNIQUE,
    event_hash          bytea NOT NULL,   -- the event's integrity_hash when sealed
    classification_hash bytea NOT NULL,   -- SHA-256 of its canonical classification when sealed
    "timestamp"         timestamptz NOT NULL  -- the event's time: where to find its partition
);

-- The seed's batch table; id is the batch number, gapless, and every column is covered by
-- batch_hash except the verification status.
CREATE TABLE audit.audit_log_integrity (
    id                  bigint PRIMARY KEY,
    batch_start_time    timestamptz NOT NULL,
    batch_end_time      timestamptz NOT NULL,
    event_count         integer NOT NULL,
    batch_hash          varchar(64) NOT NULL,
    verification_status text NOT NULL DEFAULT 'pending'
                        CHECK (verification_status IN ('pending', 'verified', 'failed')),
    verification_time   timestamptz,
    created_at          timestamptz NOT NULL,
    prev_batch_hash     varchar(64) NOT NULL,
    merkle_root         varchar(64) NOT NULL,
    first_position      bigint NOT NULL UNIQUE,
    last_position       bigint NOT NULL,
    seal_version        smallint NOT NULL,
    -- The log's one tree after this batch (see audit.tree_tiles): its root, and its size, which
    -- is the number of events sealed so far.
    tree_root           varchar(64) NOT NULL,
    tree_size           bigint GENERATED ALWAYS AS (last_position) STORED
);
CREATE INDEX audit_log_integrity_batch_time_idx ON audit.audit_log_integrity (batch_start_time, batch_end_time);
CREATE INDEX audit_log_integrity_status_idx ON audit.audit_log_integrity (verification_status);
CREATE INDEX audit_log_integrity_created_at_idx ON audit.audit_log_integrity (created_at);

-- One row per verify_recent() run, failed or not: pg_cron's own log holds only a command tag.
CREATE TABLE audit.verification_runs (
    id            bigserial PRIMARY KEY,
    started_at    timestamptz NOT NULL,
    finished_at   timestamptz NOT NULL,
    window_length interval NOT NULL,
    batches       integer NOT NULL,
    events        bigint NOT NULL,
    ok            boolean NOT NULL,
    problems      jsonb NOT NULL
);

-- The log's one tree: every sealed event's leaf, in position order, in one RFC 9162 Merkle tree,
-- stored as c2sp.org/tlog-tiles tiles (core/src/tree.rs). A tile at level L holds up to 256
-- consecutive hashes of the tree's level 8L (level 0: the leaf hashes); each seal completes tiles
-- and rewrites the rightmost one of each level. Any inclusion or consistency proof reads O(log n)
-- tiles. The hashes are random bytes: stored out of line without trying to compress them.
CREATE TABLE audit.tree_tiles (
    level      smallint NOT NULL,
    tile_index bigint NOT NULL,
    hashes     bytea NOT NULL,
    PRIMARY KEY (level, tile_index)
);
ALTER TABLE audit.tree_tiles ALTER COLUMN hashes SET STORAGE EXTERNAL;

-- Copies of the signed notes `auditlog-shim checkpoint` writes (c2sp.org/tlog-checkpoint): the
-- files outside the database are what counts; these let verify_audit_chain() notice by itself a
-- tree cut short or rewritten after a checkpoint. Only copies of the log's own tree are kept
-- (audit_store_signed_checkpoint() checks the size and root).
CREATE TABLE audit.signed_checkpoints (
    tree_size  bigint NOT NULL,
    root_hash  bytea NOT NULL,
    origin     text NOT NULL,
    note       text NOT NULL,
    stored_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX signed_checkpoints_tree_size_idx ON audit.signed_checkpoints (tree_size);

-- The log's name on its checkpoints (the c2sp.org/tlog-checkpoint origin line), recorded once
-- when the extension is made, so that a renamed database, a restore elsewhere or pg_upgrade keep
-- it; auditlog.log_origin, when set, overrides it.
CREATE TABLE audit.log_origin (
    origin   text NOT NULL,
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row)
);

-- Copies of the JSON checkpoints of auditlog 0.2.0 (auditlog-shim checkpoint before 0.3.0). The files kept outside the
-- database are what counts; these let verify_audit_chain() notice a shortened chain by itself.
CREATE TABLE audit.checkpoints (
    seq        bigint PRIMARY KEY,
    checkpoint jsonb NOT NULL,
    signature  text NOT NULL,
    stored_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE audit.compliance_report_cache (
    report_id         text PRIMARY KEY,
    report_type       text NOT NULL,
    report_parameters jsonb NOT NULL,
    start_date        date NOT NULL,
    end_date          date NOT NULL,
    report_data       jsonb NOT NULL,
    generated_at      timestamptz NOT NULL DEFAULT now(),
    expires_at        timestamptz NOT NULL,
    cache_status      text NOT NULL DEFAULT 'valid' CHECK (cache_status IN ('valid', 'stale', 'invalid'))
);
CREATE INDEX compliance_report_cache_type_idx ON audit.compliance_report_cache (report_type);
CREATE INDEX compliance_report_cache_date_range_idx ON audit.compliance_report_cache (start_date, end_date);
CREATE INDEX compliance_report_cache_expires_idx ON audit.compliance_report_cache (expires_at);

-- alert_id is 'ALERT_' || event_id: 42 characters, which the seed's VARCHAR(36) could not hold.
CREATE TABLE audit.audit_alerts (
    alert_id         text PRIMARY KEY,
    correlation_id   text NOT NULL,
    alert_type       text NOT NULL,
    severity         text NOT NULL,
    title            text NOT NULL,
    description      text NOT NULL,
    alert_data       jsonb NOT NULL,
    triggered_at     timestamptz NOT NULL DEFAULT now(),
    acknowledged_at  timestamptz,
    acknowledged_by  bigint,
    resolved_at      timestamptz,
    resolved_by      bigint,
    resolution_notes text,
    status           text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'acknowledged', 'resolved', 'closed')),
    -- The same cause again within auditlog.alert_fold_window, while open, folds into this row.
    occurrences      integer NOT NULL DEFAULT 1,
    last_triggered_at timestamptz,
    acknowledgement_notes text
);
CREATE INDEX audit_alerts_correlation_id_idx ON audit.audit_alerts (correlation_id);
CREATE INDEX audit_alerts_triggered_at_idx ON audit.audit_alerts (triggered_at);
-- Where a repeat of an alert's cause finds the open alert it folds into: one entry per open
-- alert, so the lookup costs the same however many alerts there are. It also serves the open
-- alerts (status = 'open'); the seed's indexes on status and severity, which match most rows,
-- are left out: each cost every alert an insert.
CREATE INDEX audit_alerts_open_cause_idx ON audit.audit_alerts (correlation_id, alert_type, title)
    WHERE status = 'open';

-- Every change of an alert (raised, folded, acknowledged, resolved), for consumers that must see
-- each one once, such as `auditlog-shim alerts`. change_id is taken when the change is made, not
-- when it commits, so a reader cannot tell from it alone whether a smaller id is still to come.
-- xid can: every change made by a transaction below the snapshot's xmin is committed or gone,
-- so a consumer reads in (xid, change_id) order up to that horizon and misses none.
CREATE TABLE audit.alert_changes (
    change_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    xid         xid8 NOT NULL DEFAULT pg_current_xact_id(),
    alert_id    text NOT NULL,
    change      text NOT NULL CHECK (change IN ('raised', 'folded', 'acknowledged', 'resolved')),
    status      text NOT NULL,
    occurrences integer NOT NULL,
    changed_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX alert_changes_order_idx ON audit.alert_changes (xid, change_id);
-- A pg_dump restore (row_security = off) brings xids of another cluster: they become 0, long
-- finished, so restored changes come first, in change_id order, whatever the new cluster's xids.
CREATE FUNCTION audit.alert_change_restored() RETURNS trigger
LANGUAGE plpgsql SET search_path = audit, pg_catalog, pg_temp AS $$
BEGIN
    NEW.xid := '0';
    RETURN NEW;
END
$$;
CREATE TRIGGER alert_change_restored BEFORE INSERT ON audit.alert_changes
    FOR EACH ROW WHEN (current_setting('row_security') = 'off')
    EXECUTE FUNCTION audit.alert_change_restored();
