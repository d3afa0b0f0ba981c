-- Message templates and the log of every message sent (or tried).

CREATE TABLE notifications.templates (
    key         text PRIMARY KEY,
    subject     text NOT NULL,
    body        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- One row per idempotency key (e.g. `checkout-<cart>:confirmation:1`): a message is sent
-- once, however often the activity that sends it is retried.
CREATE TABLE notifications.messages (
    id                   uuid PRIMARY KEY,
    idempotency_key      text NOT NULL CONSTRAINT messages_idempotency_key UNIQUE,
    recipient            text NOT NULL,
    template             text NOT NULL CONSTRAINT messages_template_fk REFERENCES notifications.templates (key),
    subject              text NOT NULL,
    body                 text NOT NULL,
    status               text NOT NULL DEFAULT 'queued',
    provider_message_id  text,
    attempts             integer NOT NULL DEFAULT 0,
    last_error           text,
    sent_at              timestamptz,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT messages_status_check CHECK (status IN ('queued', 'sending', 'sent', 'failed'))
);
CREATE INDEX messages_recipient_idx ON notifications.messages (recipient, created_at DESC);

CREATE TABLE notifications.outbox (
    event_id      uuid PRIMARY KEY,
    event_type    text NOT NULL,
    occurred_at   timestamptz NOT NULL,
    actor         text NOT NULL,
    data          jsonb NOT NULL,
    trace         jsonb NOT NULL DEFAULT '{}'::jsonb,
    published_at  timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outbox_unpublished_idx ON notifications.outbox (occurred_at) WHERE published_at IS NULL;

INSERT INTO notifications.templates (key, subject, body) VALUES (
    'order_confirmation',
    'Your Souk order {{order_no}}',
    E'Hello,\n\nThank you for your order {{order_no}}. Here is what you bought:\n\n{{lines}}\n\nSubtotal: {{subtotal}}\nDiscount: {{discount}}\nTax: {{tax}}\nShipping: {{shipping}}\nTotal charged: {{total}}\n\nIt ships to:\n{{shipping_address}}\n\nEach seller ships their part of the order separately; we will write again when a parcel leaves.\n\nSouk'
);
