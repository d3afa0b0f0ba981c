-- What each line has refunded in money (for its units and without units: goodwill), which
-- caps every later refund of the line, and how many of its units came back in returns. A
-- refund is a vendor's cancellation, a return or staff's goodwill; a goodwill refund of money
-- names no units. A vendor's part, and the order, are `partially_returned` once some units
-- came back and `returned` when every unit delivered did.
ALTER TABLE orders.line_refunds ADD COLUMN kind text NOT NULL DEFAULT 'cancel'
    CONSTRAINT line_refunds_kind_check CHECK (kind IN ('cancel', 'return', 'goodwill'));
UPDATE orders.line_refunds SET kind = 'return' WHERE refund_key LIKE 'return-%';
ALTER TABLE orders.line_refunds DROP CONSTRAINT line_refunds_amounts_check;
ALTER TABLE orders.line_refunds ADD CONSTRAINT line_refunds_amounts_check
    CHECK (quantity >= 0 AND amount >= 0 AND (quantity > 0 OR amount > 0));

ALTER TABLE orders.order_lines ADD COLUMN refunded_amount bigint NOT NULL DEFAULT 0
    CONSTRAINT order_lines_refunded_amount_check CHECK (refunded_amount >= 0);
ALTER TABLE orders.order_lines ADD COLUMN returned_quantity integer NOT NULL DEFAULT 0;
UPDATE orders.order_lines l SET
    refunded_amount = r.amount,
    returned_quantity = r.returned
FROM (SELECT order_id, sku, sum(amount) AS amount,
             COALESCE(sum(quantity) FILTER (WHERE kind = 'return'), 0) AS returned
      FROM orders.line_refunds GROUP BY order_id, sku) r
WHERE l.order_id = r.order_id AND l.sku = r.sku;
ALTER TABLE orders.order_lines ADD CONSTRAINT order_lines_returned_check
    CHECK (returned_quantity >= 0 AND returned_quantity <= refunded_quantity);

ALTER TABLE orders.orders DROP CONSTRAINT orders_status_check;
ALTER TABLE orders.orders ADD CONSTRAINT orders_status_check CHECK (status IN ('placed',
    'processing', 'partially_shipped', 'shipped', 'delivered', 'cancelled',
    'partially_returned', 'returned'));
ALTER TABLE orders.sub_orders DROP CONSTRAINT sub_orders_status_check;
ALTER TABLE orders.sub_orders ADD CONSTRAINT sub_orders_status_check CHECK (status IN ('placed',
    'processing', 'shipped', 'delivered', 'cancelled', 'partially_returned', 'returned'));
