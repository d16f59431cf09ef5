-- Erasing a customer's personal data (allot forget) also blanks the texts people typed about
-- it into the append-only logs: the reason of an ownership event (a release's or a transfer's
-- reason) and of a tier event (a manual override's). Nothing else of an event may change, and
-- an event can be neither deleted nor given any other text.
DROP TRIGGER IF EXISTS events_are_append_only_update;
CREATE TRIGGER events_are_append_only_update BEFORE UPDATE ON events
WHEN NOT (NEW.reason = '[erased]' AND NEW.id = OLD.id AND NEW.at = OLD.at AND NEW.kind = OLD.kind
    AND NEW.customer_id = OLD.customer_id AND NEW.from_rep_id IS OLD.from_rep_id
    AND NEW.to_rep_id IS OLD.to_rep_id AND NEW.actor = OLD.actor AND NEW.rule IS OLD.rule
    AND NEW.reason_kind IS OLD.reason_kind)
BEGIN SELECT RAISE(ABORT, 'events are append-only (only a reason may be erased)'); END;
DROP TRIGGER IF EXISTS tier_events_are_append_only_update;
CREATE TRIGGER tier_events_are_append_only_update BEFORE UPDATE ON tier_events
WHEN NOT (NEW.reason = '[erased]' AND NEW.id = OLD.id AND NEW.at = OLD.at
    AND NEW.customer_id = OLD.customer_id AND NEW.from_tier IS OLD.from_tier
    AND NEW.to_tier = OLD.to_tier AND NEW.direction = OLD.direction AND NEW.score = OLD.score
    AND NEW.actor = OLD.actor)
BEGIN SELECT RAISE(ABORT, 'tier events are append-only (only a reason may be erased)'); END;
