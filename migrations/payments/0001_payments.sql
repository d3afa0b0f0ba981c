-- Payments per checkout attempt, every call made to a provider, refunds, provider webhooks,
-- and the built-in sandbox provider's own state.

CREATE TABLE payments.payments (
    id                   uuid PRIMARY KEY,
    checkout_id          text NOT NULL,
    attempt              integer NOT NULL,
    provider             text NOT NULL,
    provider_payment_id  text,
    payment_method       text NOT NULL,
    customer_email       text NOT NULL,
    currency             char(3) NOT NULL,
    amount               bigint NOT NULL,
    captured_amount      bigint NOT NULL DEFAULT 0,
    refunded_amount      bigint NOT NULL DEFAULT 0,
    status               text NOT NULL DEFAULT 'pending',
    decline_code         text,
    failure_message      text,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT payments_checkout_attempt_key UNIQUE (checkout_id, attempt),
    CONSTRAINT payments_provider_check CHECK (provider IN ('sandbox', 'stripe')),
    CONSTRAINT payments_status_check CHECK (status IN ('pending', 'requires_action', 'authorized', 'declined',
        'captured', 'voided', 'partially_refunded', 'refunded', 'failed')),
    CONSTRAINT payments_amount_check CHECK (amount > 0),
    CONSTRAINT payments_captured_check CHECK (captured_amount BETWEEN 0 AND amount),
    CONSTRAINT payments_refunded_check CHECK (refunded_amount BETWEEN 0 AND captured_amount)
);
CREATE UNIQUE INDEX payments_provider_reference_key ON payments.payments (provider, provider_payment_id)
    WHERE provider_payment_id IS NOT NULL;

-- Every call to a provider, by the idempotency key sent with it.
CREATE TABLE payments.operations (
    idempotency_key  text PRIMARY KEY,
    payment_id       uuid NOT NULL CONSTRAINT operations_payment_fk REFERENCES payments.payments (id),
    kind             text NOT NULL,
    amount           bigint,
    outcome          text NOT NULL,
    reference        text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT operations_kind_check CHECK (kind IN ('authorize', 'capture', 'void', 'refund'))
);
CREATE INDEX operations_payment_idx ON payments.operations (payment_id, created_at);

CREATE TABLE payments.refunds (
    id             uuid PRIMARY KEY,
    payment_id     uuid NOT NULL CONSTRAINT refunds_payment_fk REFERENCES payments.payments (id),
    idempotency_key text NOT NULL CONSTRAINT refunds_idempotency_key UNIQUE,
    reference      text NOT NULL,
    amount         bigint NOT NULL,
    reason         text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT refunds_amount_check CHECK (amount > 0)
);

-- Webhook events received, once each (providers deliver at least once).
CREATE TABLE payments.webhook_events (
    event_id     text PRIMARY KEY,
    provider     text NOT NULL,
    event_type   text NOT NULL,
    reference    text,
    received_at  timestamptz NOT NULL DEFAULT now(),
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- The sandbox provider: a payment service that behaves like Stripe's test mode.
CREATE TABLE payments.sandbox_intents (
    id               text PRIMARY KEY,
    idempotency_key  text NOT NULL CONSTRAINT sandbox_intents_idempotency_key UNIQUE,
    amount           bigint NOT NULL,
    currency         char(3) NOT NULL,
    payment_method   text NOT NULL,
    status           text NOT NULL,
    captured_amount  bigint NOT NULL DEFAULT 0,
    refunded_amount  bigint NOT NULL DEFAULT 0,
    decline_code     text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT sandbox_intents_status_check CHECK (status IN ('requires_action', 'requires_capture', 'canceled', 'succeeded', 'declined')),
    CONSTRAINT sandbox_intents_captured_check CHECK (captured_amount BETWEEN 0 AND amount),
    CONSTRAINT sandbox_intents_refunded_check CHECK (refunded_amount BETWEEN 0 AND captured_amount)
);

-- Replies to sandbox calls, by idempotency key, so a retried call gets the same answer.
CREATE TABLE payments.sandbox_calls (
    idempotency_key  text PRIMARY KEY,
    intent_id        text NOT NULL,
    kind             text NOT NULL,
    reply            jsonb NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE payments.outbox (
    event_id      uuid PRIMARY KEY,
    event_type    text NOT NULL,
    occurred_at   timestamptz NOT NULL,
    actor         text NOT NULL,
    data          jsonb NOT NULL,
    trace         jsonb NOT NULL DEFAULT '{}'::jsonb,
    published_at  timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outbox_unpublished_idx ON payments.outbox (occurred_at) WHERE published_at IS NULL;
