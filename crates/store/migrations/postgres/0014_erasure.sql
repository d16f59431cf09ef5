-- Erasing a customer's personal data (allot forget) may blank the text of its conflicts'
-- events, which quote the matched phone or email; nothing else of them may change.
CREATE OR REPLACE FUNCTION allot_conflict_events_are_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.text = '[erased]' AND NEW.id = OLD.id
        AND NEW.conflict_id = OLD.conflict_id AND NEW.at = OLD.at
        AND NEW.actor = OLD.actor AND NEW.action = OLD.action THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'conflict events are append-only (only their text may be erased)';
END;
$$;
