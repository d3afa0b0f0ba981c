-- Live carts are in Redis. When a checkout starts, the cart as priced at that moment is
-- written here: the record of what the customer agreed to buy.

CREATE TABLE cart.snapshots (
    id           uuid PRIMARY KEY,
    cart_id      text NOT NULL,
    checkout_id  text NOT NULL CONSTRAINT snapshots_checkout_key UNIQUE,
    currency     char(3) NOT NULL,
    country      char(2) NOT NULL,
    lines        jsonb NOT NULL,
    coupon_code  text,
    coupon_applied boolean NOT NULL DEFAULT false,
    subtotal     bigint NOT NULL,
    discount     bigint NOT NULL,
    tax          bigint NOT NULL,
    shipping     bigint NOT NULL,
    total        bigint NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT snapshots_lines_array CHECK (jsonb_typeof(lines) = 'array'),
    CONSTRAINT snapshots_total_check CHECK (total = subtotal - discount + tax + shipping)
);
CREATE INDEX snapshots_cart_idx ON cart.snapshots (cart_id);

CREATE TABLE cart.outbox (
    event_id      uuid PRIMARY KEY,
    event_type    text NOT NULL,
    occurred_at   timestamptz NOT NULL,
    actor         text NOT NULL,
    data          jsonb NOT NULL,
    trace         jsonb NOT NULL DEFAULT '{}'::jsonb,
    published_at  timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outbox_unpublished_idx ON cart.outbox (occurred_at) WHERE published_at IS NULL;
