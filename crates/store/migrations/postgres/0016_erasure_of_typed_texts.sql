-- Erasing a customer's personal data (allot forget) also blanks the texts people typed about
-- it into the append-only logs: the reason of an ownership event (a release's or a transfer's
-- reason) and of a tier event (a manual override's). Nothing else of an event may change (the
-- row with its old reason must equal the old row), and an event can be neither deleted nor
-- given any other text.
CREATE OR REPLACE FUNCTION allot_events_are_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    unchanged events%ROWTYPE;
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.reason = '[erased]' THEN
        unchanged := NEW;
        unchanged.reason := OLD.reason;
        IF unchanged IS NOT DISTINCT FROM OLD THEN
            RETURN NEW;
        END IF;
    END IF;
    RAISE EXCEPTION 'events are append-only (only a reason may be erased)';
END;
$$;
CREATE OR REPLACE FUNCTION allot_tier_events_are_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    unchanged tier_events%ROWTYPE;
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.reason = '[erased]' THEN
        unchanged := NEW;
        unchanged.reason := OLD.reason;
        IF unchanged IS NOT DISTINCT FROM OLD THEN
            RETURN NEW;
        END IF;
    END IF;
    RAISE EXCEPTION 'tier events are append-only (only a reason may be erased)';
END;
$$;
