-- Erasing a customer's personal data (allot forget) also blanks the texts people typed about
-- it into the append-only logs: the reason of an ownership event (a release's or a transfer's
-- reason) and of a tier event (a manual override's). Nothing else of an event may change (the
-- row without its reason must equal the old row without its reason), and an event can be
-- neither deleted nor given any other text. One function for both logs.
CREATE OR REPLACE FUNCTION allot_log_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.reason = '[erased]'
        AND to_jsonb(NEW) - 'reason' = to_jsonb(OLD) - 'reason' THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION '% are append-only (only a reason may be erased)', TG_TABLE_NAME;
END;
$$;
DROP TRIGGER events_are_append_only ON events;
CREATE TRIGGER events_are_append_only BEFORE UPDATE OR DELETE ON events
FOR EACH ROW EXECUTE FUNCTION allot_log_is_append_only();
DROP FUNCTION allot_events_are_append_only();
DROP TRIGGER tier_events_are_append_only ON tier_events;
CREATE TRIGGER tier_events_are_append_only BEFORE UPDATE OR DELETE ON tier_events
FOR EACH ROW EXECUTE FUNCTION allot_log_is_append_only();
DROP FUNCTION allot_tier_events_are_append_only();
