//! Deterministic demo and benchmark organisations: teams, reps, customers and a rules file.
