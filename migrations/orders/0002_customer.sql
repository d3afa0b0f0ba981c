-- The signed-in customer who placed the order (none for a guest checkout), so customers can
-- list and read their own orders.
ALTER TABLE orders.orders ADD COLUMN customer_id uuid;
CREATE INDEX orders_customer_id_idx ON orders.orders (customer_id, placed_at DESC, id DESC)
    WHERE customer_id IS NOT NULL;
