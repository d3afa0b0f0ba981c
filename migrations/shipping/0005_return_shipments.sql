-- Return parcels: a customer's parcel back to the warehouse its units left from, on a label
-- Souk buys through the same carrier boundary (opened by a ReturnWorkflow, whose workflow id
-- it carries; its tracking events are signalled to that return). `ship_from` is where it is
-- collected (the customer's address); `ship_to` is the warehouse's address; `warehouse` is
-- the warehouse it goes back to.
ALTER TABLE shipping.shipments
    ADD COLUMN kind text NOT NULL DEFAULT 'outbound',
    ADD COLUMN ship_from jsonb,
    ADD CONSTRAINT shipments_kind_check CHECK (kind IN ('outbound', 'return')),
    ADD CONSTRAINT shipments_ship_from_check CHECK ((kind = 'return') = (ship_from IS NOT NULL));
