//! Condition language of allocation rules: parse, type-check, evaluate, explain.
