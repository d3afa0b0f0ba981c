-- Every request the sandbox provider receives, in order, whether it did something or only
-- answered a repeat with the first reply: what a provider's own log shows, so tests can count
-- effects where they happen (an idempotency key applied once) and not where they are recorded.
CREATE TABLE payments.sandbox_requests (
    id               bigserial PRIMARY KEY,
    kind             text NOT NULL,
    idempotency_key  text NOT NULL,
    intent_id        text,
    -- False when this request did something; true when it answered with an earlier reply.
    replayed         boolean NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT sandbox_requests_kind_check CHECK (kind IN ('authorize', 'capture', 'cancel', 'refund'))
);
CREATE INDEX sandbox_requests_key_idx ON payments.sandbox_requests (idempotency_key);
