-- The auth worker republishes live revocations every few seconds: find them by index.
CREATE INDEX users_tokens_valid_after_idx ON auth.users (tokens_valid_after)
    WHERE tokens_valid_after IS NOT NULL;
CREATE INDEX refresh_tokens_revoked_at_idx ON auth.refresh_tokens (revoked_at)
    WHERE revoked_at IS NOT NULL;
