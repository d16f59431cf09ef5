-- Erasing a customer's personal data (allot forget) may blank the text of its conflicts'
-- events, which quote the matched phone or email; nothing else of them may change.
DROP TRIGGER conflict_events_are_append_only_update;
CREATE TRIGGER conflict_events_are_append_only_update BEFORE UPDATE ON conflict_events
WHEN NOT (NEW.text = '[erased]' AND NEW.id = OLD.id AND NEW.conflict_id = OLD.conflict_id
    AND NEW.at = OLD.at AND NEW.actor = OLD.actor AND NEW.action = OLD.action)
BEGIN SELECT RAISE(ABORT, 'conflict events are append-only (only their text may be erased)'); END;
