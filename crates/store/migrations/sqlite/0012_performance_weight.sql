-- The `performance` routing strategy (issue 12): each rep's weight factor from its performance
-- score (0.5–2.0; 1 until the daily service checks compute it). Kept beside the rep's load, so
-- routing reads it with the rep, and a change bumps the routing generation as every rep update
-- does.
ALTER TABLE reps ADD COLUMN performance_weight DOUBLE PRECISION NOT NULL DEFAULT 1;
