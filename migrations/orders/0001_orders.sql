-- Orders: one per successful checkout attempt, split into one sub-order per vendor, with a
-- timeline of everything that happened to it.

CREATE SEQUENCE orders.order_no_seq START WITH 100001;

CREATE TABLE orders.orders (
    id                uuid PRIMARY KEY,
    order_no          text NOT NULL CONSTRAINT orders_order_no_key UNIQUE,
    checkout_id       text NOT NULL,
    attempt           integer NOT NULL,
    cart_id           text NOT NULL,
    customer_email    text NOT NULL,
    status            text NOT NULL DEFAULT 'placed',
    payment_status    text NOT NULL DEFAULT 'authorized',
    currency          char(3) NOT NULL,
    subtotal          bigint NOT NULL,
    discount          bigint NOT NULL,
    tax               bigint NOT NULL,
    shipping          bigint NOT NULL,
    total             bigint NOT NULL,
    coupon_code       text,
    shipping_address  jsonb NOT NULL,
    payment_provider  text NOT NULL,
    payment_reference text NOT NULL,
    placed_at         timestamptz NOT NULL DEFAULT now(),
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT orders_checkout_attempt_key UNIQUE (checkout_id, attempt),
    CONSTRAINT orders_status_check CHECK (status IN ('placed', 'processing', 'shipped', 'delivered', 'cancelled', 'returned')),
    CONSTRAINT orders_payment_status_check CHECK (payment_status IN ('pending', 'authorized', 'captured', 'voided', 'partially_refunded', 'refunded')),
    CONSTRAINT orders_total_check CHECK (total = subtotal - discount + tax + shipping),
    CONSTRAINT orders_amounts_check CHECK (subtotal >= 0 AND discount >= 0 AND tax >= 0 AND shipping >= 0)
);
CREATE INDEX orders_customer_idx ON orders.orders (lower(customer_email), placed_at DESC);
CREATE INDEX orders_listing_idx ON orders.orders (placed_at DESC, id DESC);

CREATE TABLE orders.sub_orders (
    id          uuid PRIMARY KEY,
    order_id    uuid NOT NULL CONSTRAINT sub_orders_order_fk REFERENCES orders.orders (id),
    vendor_id   uuid NOT NULL,
    status      text NOT NULL DEFAULT 'placed',
    subtotal    bigint NOT NULL,
    discount    bigint NOT NULL,
    tax         bigint NOT NULL,
    shipping    bigint NOT NULL,
    total       bigint NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT sub_orders_vendor_key UNIQUE (order_id, vendor_id),
    CONSTRAINT sub_orders_status_check CHECK (status IN ('placed', 'processing', 'shipped', 'delivered', 'cancelled', 'returned')),
    CONSTRAINT sub_orders_total_check CHECK (total = subtotal - discount + tax + shipping)
);
CREATE INDEX sub_orders_vendor_idx ON orders.sub_orders (vendor_id, created_at DESC);

CREATE TABLE orders.order_lines (
    id            uuid PRIMARY KEY,
    order_id      uuid NOT NULL CONSTRAINT order_lines_order_fk REFERENCES orders.orders (id),
    sub_order_id  uuid NOT NULL CONSTRAINT order_lines_sub_order_fk REFERENCES orders.sub_orders (id),
    sku           text NOT NULL,
    title         text NOT NULL,
    product_id    uuid NOT NULL,
    vendor_id     uuid NOT NULL,
    quantity      integer NOT NULL,
    unit_price    bigint NOT NULL,
    line_total    bigint NOT NULL,
    discount      bigint NOT NULL,
    tax           bigint NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT order_lines_quantity_check CHECK (quantity > 0),
    CONSTRAINT order_lines_total_check CHECK (line_total = unit_price * quantity)
);
CREATE INDEX order_lines_order_idx ON orders.order_lines (order_id);

CREATE TABLE orders.timeline (
    id          bigserial PRIMARY KEY,
    order_id    uuid NOT NULL CONSTRAINT timeline_order_fk REFERENCES orders.orders (id),
    event       text NOT NULL,
    at          timestamptz NOT NULL DEFAULT now(),
    actor       text NOT NULL,
    note        text,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX timeline_order_idx ON orders.timeline (order_id, id);

-- A checkout attempt whose order was cancelled before it was created (a compensation that
-- overtook a slow create): the late create must not place it.
CREATE TABLE orders.cancelled_checkouts (
    checkout_id  text NOT NULL,
    attempt      integer NOT NULL,
    reason       text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT cancelled_checkouts_pkey PRIMARY KEY (checkout_id, attempt)
);

CREATE TABLE orders.outbox (
    event_id      uuid PRIMARY KEY,
    event_type    text NOT NULL,
    occurred_at   timestamptz NOT NULL,
    actor         text NOT NULL,
    data          jsonb NOT NULL,
    trace         jsonb NOT NULL DEFAULT '{}'::jsonb,
    published_at  timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outbox_unpublished_idx ON orders.outbox (occurred_at) WHERE published_at IS NULL;
