-- Access tokens issued before this moment are revoked (the account was blocked, its roles
-- changed, its password reset). Published to Redis for the API, which checks it on every
-- request; tokens issued after it are dated no earlier.
ALTER TABLE auth.users ADD COLUMN tokens_valid_after timestamptz;
