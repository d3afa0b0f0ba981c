-- When each vendor's part was delivered: the start of its return window.
ALTER TABLE orders.sub_orders ADD COLUMN delivered_at timestamptz;
UPDATE orders.sub_orders SET delivered_at = updated_at WHERE status = 'delivered';
