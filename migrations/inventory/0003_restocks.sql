-- Units sold but never shipped that went back on hand (a vendor's cancelled lines), once per
-- key.
CREATE TABLE inventory.restocks (
    key         text PRIMARY KEY,
    sku         text NOT NULL,
    warehouse   text NOT NULL CONSTRAINT restocks_warehouse_fk REFERENCES inventory.warehouses (code),
    quantity    bigint NOT NULL,
    reason      text NOT NULL,
    actor       text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT restocks_quantity_check CHECK (quantity > 0)
);
