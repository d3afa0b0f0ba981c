-- Units of order lines given back (a vendor could not ship them; returns later) and what each
-- refund was, once per refund key: the payment refund of a key has its own sequence.
ALTER TABLE orders.order_lines ADD COLUMN refunded_quantity integer NOT NULL DEFAULT 0;
ALTER TABLE orders.order_lines ADD CONSTRAINT order_lines_refunded_check
    CHECK (refunded_quantity >= 0 AND refunded_quantity <= quantity);

CREATE TABLE orders.line_refunds (
    order_id    uuid NOT NULL CONSTRAINT line_refunds_order_fk REFERENCES orders.orders (id),
    refund_key  text NOT NULL,
    sequence    integer NOT NULL,
    sku         text NOT NULL,
    quantity    integer NOT NULL,
    amount      bigint NOT NULL,
    reason      text NOT NULL,
    actor       text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT line_refunds_pkey PRIMARY KEY (refund_key, sku),
    CONSTRAINT line_refunds_amounts_check CHECK (quantity > 0 AND amount >= 0)
);
CREATE INDEX line_refunds_order_idx ON orders.line_refunds (order_id);
