-- Shipments: one per vendor sub-order (more if it is split), each followed by its
-- ShipmentWorkflow (`shipment-<order_no>-<vendor>`): what is in it, the parcel packed, the
-- rates quoted, the label bought and every tracking event the carrier reported.

CREATE TABLE shipping.shipments (
    id                uuid PRIMARY KEY,
    workflow_id       text NOT NULL CONSTRAINT shipments_workflow_key UNIQUE,
    order_no          text NOT NULL,
    vendor_id         uuid NOT NULL,
    customer_email    text NOT NULL,
    status            text NOT NULL DEFAULT 'awaiting_fulfillment',
    -- The warehouse that holds the sub-order's reservations: where the parcel leaves from.
    warehouse         text NOT NULL,
    ship_to           jsonb NOT NULL,
    currency          char(3) NOT NULL,
    carrier           text,
    -- The carrier's shipment the rates were quoted on and the label is bought for.
    carrier_shipment  text,
    rate_id           text,
    tracking_code     text,
    label_url         text,
    tracking_url      text,
    -- When the carrier saw what the status says: an older report is stale.
    last_tracked_at   timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT shipments_status_check CHECK (status IN ('awaiting_fulfillment', 'packed',
        'label_purchased', 'in_transit', 'out_for_delivery', 'delivered', 'exception',
        'returned_to_sender', 'cancelled')),
    CONSTRAINT shipments_label_check CHECK (
        (tracking_code IS NULL) = (label_url IS NULL)
        AND (tracking_code IS NULL OR (carrier IS NOT NULL AND carrier_shipment IS NOT NULL AND rate_id IS NOT NULL))
    ),
    CONSTRAINT shipments_tracking_key UNIQUE (carrier, tracking_code)
);
CREATE INDEX shipments_vendor_idx ON shipping.shipments (vendor_id, created_at DESC, id DESC);
CREATE INDEX shipments_order_idx ON shipping.shipments (order_no);

CREATE TABLE shipping.shipment_lines (
    shipment_id  uuid NOT NULL CONSTRAINT shipment_lines_shipment_fk REFERENCES shipping.shipments (id),
    sku          text NOT NULL,
    title        text NOT NULL,
    quantity     integer NOT NULL,
    -- Units the vendor could not ship (cancelled and refunded).
    cancelled    integer NOT NULL DEFAULT 0,
    CONSTRAINT shipment_lines_pkey PRIMARY KEY (shipment_id, sku),
    CONSTRAINT shipment_lines_quantity_check CHECK (quantity > 0 AND cancelled >= 0 AND cancelled <= quantity)
);

CREATE TABLE shipping.packages (
    shipment_id   uuid NOT NULL CONSTRAINT packages_shipment_fk REFERENCES shipping.shipments (id),
    seq           integer NOT NULL,
    weight_grams  integer NOT NULL,
    length_mm     integer NOT NULL,
    width_mm      integer NOT NULL,
    height_mm     integer NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT packages_pkey PRIMARY KEY (shipment_id, seq),
    CONSTRAINT packages_size_check CHECK (weight_grams > 0 AND length_mm > 0 AND width_mm > 0 AND height_mm > 0)
);

-- The rates of the latest quote.
CREATE TABLE shipping.rates (
    shipment_id       uuid NOT NULL CONSTRAINT rates_shipment_fk REFERENCES shipping.shipments (id),
    rate_id           text NOT NULL,
    carrier_shipment  text NOT NULL,
    carrier           text NOT NULL,
    service           text NOT NULL,
    amount            bigint NOT NULL,
    currency          char(3) NOT NULL,
    delivery_days     integer,
    quoted_at         timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT rates_pkey PRIMARY KEY (shipment_id, rate_id),
    CONSTRAINT rates_amount_check CHECK (amount >= 0)
);

-- Every tracking event a carrier delivered, once per carrier event id (a redelivery is a
-- duplicate), whether it moved the shipment or not.
CREATE TABLE shipping.tracking_events (
    id              bigserial PRIMARY KEY,
    carrier         text NOT NULL,
    event_id        text NOT NULL,
    tracking_code   text NOT NULL,
    shipment_id     uuid CONSTRAINT tracking_events_shipment_fk REFERENCES shipping.shipments (id),
    carrier_status  text NOT NULL,
    status          text,
    at              timestamptz NOT NULL,
    location        text,
    message         text,
    -- received: not applied yet; applied, unchanged, stale: what it did; unknown: no
    -- shipment has its tracking code.
    outcome         text NOT NULL DEFAULT 'received',
    received_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT tracking_events_event_key UNIQUE (carrier, event_id),
    CONSTRAINT tracking_events_outcome_check CHECK (outcome IN ('received', 'applied', 'unchanged', 'stale', 'unknown'))
);
CREATE INDEX tracking_events_shipment_idx ON shipping.tracking_events (shipment_id, at);

-- Every status change, with who or what made it.
CREATE TABLE shipping.history (
    id           bigserial PRIMARY KEY,
    shipment_id  uuid NOT NULL CONSTRAINT history_shipment_fk REFERENCES shipping.shipments (id),
    from_status  text,
    to_status    text NOT NULL,
    actor        text NOT NULL,
    note         text,
    at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX history_shipment_idx ON shipping.history (shipment_id, id);

CREATE TABLE shipping.outbox (
    event_id      uuid PRIMARY KEY,
    event_type    text NOT NULL,
    occurred_at   timestamptz NOT NULL,
    actor         text NOT NULL,
    data          jsonb NOT NULL,
    trace         jsonb NOT NULL DEFAULT '{}'::jsonb,
    published_at  timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outbox_unpublished_idx ON shipping.outbox (occurred_at) WHERE published_at IS NULL;
