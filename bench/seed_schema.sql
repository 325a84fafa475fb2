-- The seed design's audit_events table and its nine indexes, verbatim (minus the FK to
-- profiles), in schema "bench": the baseline that audit_log() is measured against.
DROP SCHEMA IF EXISTS bench CASCADE;
CREATE SCHEMA bench;
CREATE TABLE bench.seed_audit_events (
    event_id VARCHAR(36) PRIMARY KEY,
    timestamp TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    event_type VARCHAR(100) NOT NULL,
    event_data JSONB NOT NULL,
    user_id INTEGER,
    session_id VARCHAR(100),
    correlation_id VARCHAR(100) NOT NULL,
    ip_address INET,
    user_agent TEXT,
    status VARCHAR(20) DEFAULT 'captured',
    enrichment_data JSONB DEFAULT '{}',
    classification JSONB DEFAULT '{}',
    integrity_hash VARCHAR(64) NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT NOW()
);
CREATE INDEX idx_audit_events_timestamp ON bench.seed_audit_events(timestamp);
CREATE INDEX idx_audit_events_correlation_id ON bench.seed_audit_events(correlation_id);
CREATE INDEX idx_audit_events_user_id ON bench.seed_audit_events(user_id);
CREATE INDEX idx_audit_events_event_type ON bench.seed_audit_events(event_type);
CREATE INDEX idx_audit_events_classification ON bench.seed_audit_events USING GIN(classification);
CREATE INDEX idx_audit_events_enrichment ON bench.seed_audit_events USING GIN(enrichment_data);
CREATE INDEX idx_audit_events_user_timestamp ON bench.seed_audit_events(user_id, timestamp);
CREATE INDEX idx_audit_events_type_timestamp ON bench.seed_audit_events(event_type, timestamp);
CREATE INDEX idx_audit_events_correlation_timestamp ON bench.seed_audit_events(correlation_id, timestamp);
