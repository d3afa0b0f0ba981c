-- Stock per SKU and warehouse, reservations against it, and low-stock alerts.
-- Invariant, held by the database itself: 0 <= reserved <= on_hand, so available never
-- drops below zero whatever the concurrency.

CREATE TABLE inventory.warehouses (
    code        text PRIMARY KEY,
    name        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT warehouses_code_format CHECK (code ~ '^[A-Za-z0-9_-]{1,32}$')
);

CREATE TABLE inventory.stock (
    sku         text NOT NULL,
    warehouse   text NOT NULL CONSTRAINT stock_warehouse_fk REFERENCES inventory.warehouses (code),
    on_hand     bigint NOT NULL DEFAULT 0,
    reserved    bigint NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT stock_pkey PRIMARY KEY (sku, warehouse),
    CONSTRAINT stock_on_hand_check CHECK (on_hand >= 0),
    CONSTRAINT stock_reserved_check CHECK (reserved >= 0),
    CONSTRAINT stock_reserved_within_on_hand CHECK (reserved <= on_hand)
);

CREATE TABLE inventory.sku_settings (
    sku                  text PRIMARY KEY,
    low_stock_threshold  bigint NOT NULL DEFAULT 0,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT sku_settings_threshold_check CHECK (low_stock_threshold >= 0)
);

-- A reservation id is the caller's idempotency key. A release of an id never reserved leaves a
-- tombstone (state released, no warehouse, quantity 0) so a late reserve cannot take stock.
CREATE TABLE inventory.reservations (
    id          text PRIMARY KEY,
    sku         text NOT NULL,
    warehouse   text CONSTRAINT reservations_warehouse_fk REFERENCES inventory.warehouses (code),
    quantity    bigint NOT NULL,
    state       text NOT NULL,
    expires_at  timestamptz NOT NULL,
    reason      text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT reservations_state_check CHECK (state IN ('reserved', 'committed', 'released')),
    CONSTRAINT reservations_quantity_check CHECK (
        (quantity > 0 AND warehouse IS NOT NULL) OR (state = 'released' AND quantity = 0)
    )
);
CREATE INDEX reservations_expiry_idx ON inventory.reservations (expires_at) WHERE state = 'reserved';
CREATE INDEX reservations_sku_idx ON inventory.reservations (sku, state);

CREATE TABLE inventory.low_stock_alerts (
    id          text PRIMARY KEY,
    sku         text NOT NULL,
    available   bigint NOT NULL,
    threshold   bigint NOT NULL,
    raised_by   text NOT NULL,
    raised_at   timestamptz NOT NULL DEFAULT now(),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX low_stock_alerts_listing_idx ON inventory.low_stock_alerts (raised_at DESC, id DESC);
CREATE INDEX low_stock_alerts_sku_idx ON inventory.low_stock_alerts (sku, raised_at DESC);

CREATE TABLE inventory.outbox (
    event_id      uuid PRIMARY KEY,
    event_type    text NOT NULL,
    occurred_at   timestamptz NOT NULL,
    actor         text NOT NULL,
    data          jsonb NOT NULL,
    trace         jsonb NOT NULL DEFAULT '{}'::jsonb,
    published_at  timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outbox_unpublished_idx ON inventory.outbox (occurred_at) WHERE published_at IS NULL;
