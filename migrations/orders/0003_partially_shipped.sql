-- An order follows its vendors' sub-orders: `partially_shipped` once some have left and
-- others not yet.
ALTER TABLE orders.orders DROP CONSTRAINT orders_status_check;
ALTER TABLE orders.orders ADD CONSTRAINT orders_status_check CHECK (status IN ('placed',
    'processing', 'partially_shipped', 'shipped', 'delivered', 'cancelled', 'returned'));
