-- A vendor's part of an order that ships from several warehouses, one shipment each: where
-- each shipment is. The part (orders.sub_orders.status) follows them; a part shipped in one
-- shipment has no rows here.
CREATE TABLE orders.shipment_parts (
    order_id    uuid NOT NULL CONSTRAINT shipment_parts_order_fk REFERENCES orders.orders (id),
    vendor_id   uuid NOT NULL,
    shipment    text NOT NULL,
    status      text NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT shipment_parts_pkey PRIMARY KEY (order_id, vendor_id, shipment),
    CONSTRAINT shipment_parts_status_check
        CHECK (status IN ('placed', 'processing', 'shipped', 'delivered', 'cancelled', 'returned'))
);
