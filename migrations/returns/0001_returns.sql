-- Returns: one per return request (RMA), each followed by its ReturnWorkflow
-- (`return-<rma_no>`): the lines asked back and why, the decision, what the warehouse found
-- of each line, and what each line was refunded.

CREATE TABLE returns.returns (
    id              uuid PRIMARY KEY,
    rma_no          text NOT NULL CONSTRAINT returns_rma_key UNIQUE,
    workflow_id     text NOT NULL CONSTRAINT returns_workflow_key UNIQUE,
    order_no        text NOT NULL,
    vendor_id       uuid NOT NULL,
    customer_id     text NOT NULL,
    customer_email  text NOT NULL,
    currency        char(3) NOT NULL,
    status          text NOT NULL DEFAULT 'requested',
    decided_by      text,
    decision_note   text,
    escalated       boolean NOT NULL DEFAULT false,
    -- Where the parcel came back to.
    warehouse       text,
    refunded        bigint,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT returns_status_check CHECK (status IN ('requested', 'approved', 'declined',
        'label_issued', 'in_transit', 'received', 'inspected', 'refunded', 'closed',
        'cancelled', 'expired')),
    CONSTRAINT returns_refunded_check CHECK (refunded IS NULL OR refunded >= 0)
);
CREATE INDEX returns_order_idx ON returns.returns (order_no);
CREATE INDEX returns_vendor_idx ON returns.returns (vendor_id, created_at DESC, id DESC);
CREATE INDEX returns_customer_idx ON returns.returns (customer_id, created_at DESC, id DESC);

CREATE TABLE returns.return_lines (
    return_id   uuid NOT NULL CONSTRAINT return_lines_return_fk REFERENCES returns.returns (id),
    sku         text NOT NULL,
    title       text NOT NULL,
    quantity    integer NOT NULL,
    reason      text NOT NULL,
    note        text,
    unit_price  bigint NOT NULL,
    -- What the warehouse found (all null until inspected).
    sellable    integer,
    damaged     integer,
    wrong_item  integer,
    missing     integer,
    refunded    bigint,
    CONSTRAINT return_lines_pkey PRIMARY KEY (return_id, sku),
    CONSTRAINT return_lines_quantity_check CHECK (quantity > 0 AND unit_price >= 0),
    CONSTRAINT return_lines_reason_check CHECK (reason IN ('damaged', 'wrong_item',
        'not_as_described', 'changed_mind')),
    CONSTRAINT return_lines_counted_check CHECK (
        (sellable IS NULL AND damaged IS NULL AND wrong_item IS NULL AND missing IS NULL)
        OR (sellable >= 0 AND damaged >= 0 AND wrong_item >= 0 AND missing >= 0
            AND sellable + damaged + wrong_item + missing = quantity)),
    CONSTRAINT return_lines_refunded_check CHECK (refunded IS NULL OR refunded >= 0)
);

-- Every status change and note, with who or what made it; an event is noted once.
CREATE TABLE returns.history (
    id           bigserial PRIMARY KEY,
    return_id    uuid NOT NULL CONSTRAINT history_return_fk REFERENCES returns.returns (id),
    event        text NOT NULL,
    from_status  text,
    to_status    text,
    actor        text NOT NULL,
    note         text,
    at           timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT history_event_key UNIQUE (return_id, event)
);

CREATE TABLE returns.outbox (
    event_id      uuid PRIMARY KEY,
    event_type    text NOT NULL,
    occurred_at   timestamptz NOT NULL,
    actor         text NOT NULL,
    data          jsonb NOT NULL,
    trace         jsonb NOT NULL DEFAULT '{}'::jsonb,
    published_at  timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outbox_unpublished_idx ON returns.outbox (occurred_at) WHERE published_at IS NULL;
