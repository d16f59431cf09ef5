-- API calls each `allot serve` admitted per token, published for the other servers of the
-- database so that a token's rate limit holds across them (`rate_counts.rs`). `calls_total`
-- only grows; `last_calls` is the latest report's share of it.
CREATE TABLE api_call_counts (
    server_id TEXT NOT NULL,
    token_id TEXT NOT NULL,
    calls_total BIGINT NOT NULL,
    last_calls BIGINT NOT NULL,
    reported_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (server_id, token_id)
);
