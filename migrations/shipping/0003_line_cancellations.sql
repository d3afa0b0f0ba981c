-- Units of a shipment its vendor could not send, once per cancellation key
-- (`<workflow id>/cancel/<n>`); `shipment_lines.cancelled` sums them.
CREATE TABLE shipping.line_cancellations (
    shipment_id  uuid NOT NULL CONSTRAINT line_cancellations_shipment_fk REFERENCES shipping.shipments (id),
    key          text NOT NULL,
    sku          text NOT NULL,
    quantity     integer NOT NULL,
    reason       text NOT NULL,
    actor        text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT line_cancellations_pkey PRIMARY KEY (key, sku),
    CONSTRAINT line_cancellations_quantity_check CHECK (quantity > 0)
);
CREATE INDEX line_cancellations_shipment_idx ON shipping.line_cancellations (shipment_id);
