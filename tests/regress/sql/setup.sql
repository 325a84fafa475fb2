-- Shared helpers. Every other test depends on this one.
-- Business hours span the whole week, so the time-of-day tags below are the same whenever the
-- tests run; hour: and day_of_week: tags are left out of what is shown for the same reason.
ALTER DATABASE :"DBNAME" SET auditlog.business_hours = '0-24';
ALTER DATABASE :"DBNAME" SET auditlog.business_days = 'mon,tue,wed,thu,fri,sat,sun';

-- The tests log many events quickly in few correlations, which the shipped detection rules
-- (rapid_events, multiple_users) would rightly flag; they are off until the detection test.
UPDATE audit.detection_rules SET enabled = false;

CREATE FUNCTION regress_tags(c jsonb) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT string_agg(t, ' ' ORDER BY ord)
      FROM jsonb_array_elements_text(c -> 'tags') WITH ORDINALITY AS x(t, ord)
     WHERE t !~ '^(hour|day_of_week):'
$$;

SELECT extname, extversion FROM pg_extension WHERE extname = 'auditlog';
SELECT count(*) AS shipped_event_types FROM audit.event_types WHERE builtin;
