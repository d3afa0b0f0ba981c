-- Failed sign-ins are counted per address and source (the client's address), and per
-- address across all sources (source ''), with a higher threshold: one source cannot lock an
-- account out for everyone, many cannot guess unhindered. The owner can lift a lock with a
-- mailed, single-use unlock token.
ALTER TABLE auth.login_attempts ADD COLUMN source text NOT NULL DEFAULT '';
ALTER TABLE auth.login_attempts DROP CONSTRAINT login_attempts_pkey;
ALTER TABLE auth.login_attempts ADD CONSTRAINT login_attempts_pkey PRIMARY KEY (email_key, source);

CREATE TABLE auth.unlock_tokens (
    id          uuid PRIMARY KEY,
    email_key   text NOT NULL,
    token_hash  bytea NOT NULL CONSTRAINT unlock_tokens_hash_key UNIQUE,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX unlock_tokens_email_idx ON auth.unlock_tokens (email_key);
