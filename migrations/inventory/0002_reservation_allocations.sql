-- A reservation may take its quantity from several warehouses (none holds enough alone): one
-- allocation row per warehouse. `reservations.warehouse` stays the one that gives the most.
CREATE TABLE inventory.reservation_allocations (
    reservation_id  text NOT NULL CONSTRAINT reservation_allocations_reservation_fk
                        REFERENCES inventory.reservations (id),
    warehouse       text NOT NULL CONSTRAINT reservation_allocations_warehouse_fk
                        REFERENCES inventory.warehouses (code),
    quantity        bigint NOT NULL CONSTRAINT reservation_allocations_quantity_check CHECK (quantity > 0),
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT reservation_allocations_pkey PRIMARY KEY (reservation_id, warehouse)
);
-- Reservations made before: all from their one warehouse.
INSERT INTO inventory.reservation_allocations (reservation_id, warehouse, quantity)
SELECT id, warehouse, quantity FROM inventory.reservations
 WHERE warehouse IS NOT NULL AND quantity > 0
ON CONFLICT DO NOTHING;
