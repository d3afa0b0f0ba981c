-- A goodwill refund the payment provider refused is released: its rows stay, marked, and the
-- money and units it took are left to refund again.
ALTER TABLE orders.line_refunds ADD COLUMN released_at timestamptz;

-- Vendor parts whose units came back before part statuses followed returns: returned when
-- every unit that was not cancelled or kept with a refund came back, partially otherwise.
WITH parts AS (
    SELECT l.sub_order_id,
           bool_and(l.returned_quantity = l.quantity - COALESCE(k.n, 0)) AS whole,
           bool_or(l.returned_quantity > 0) AS some
    FROM orders.order_lines l
    LEFT JOIN (SELECT order_id, sku, sum(quantity) AS n FROM orders.line_refunds
               WHERE kind IN ('cancel', 'goodwill') GROUP BY order_id, sku) k
           ON k.order_id = l.order_id AND k.sku = l.sku
    GROUP BY l.sub_order_id
)
UPDATE orders.sub_orders s
   SET status = CASE WHEN p.whole THEN 'returned' ELSE 'partially_returned' END,
       updated_at = now()
  FROM parts p
 WHERE p.sub_order_id = s.id AND p.some
   AND (s.status = 'delivered' OR (s.status = 'partially_returned' AND p.whole));

-- Orders follow their parts (cancelled parts aside): returned when all came back, partially
-- returned when some did.
WITH back AS (
    SELECT order_id,
           bool_and(status = 'returned') FILTER (WHERE status <> 'cancelled') AS whole,
           bool_or(status IN ('returned', 'partially_returned')) AS some
    FROM orders.sub_orders GROUP BY order_id
)
UPDATE orders.orders o
   SET status = CASE WHEN b.whole THEN 'returned' ELSE 'partially_returned' END,
       updated_at = now()
  FROM back b
 WHERE b.order_id = o.id AND b.some
   AND (o.status IN ('processing', 'partially_shipped', 'shipped', 'delivered')
        OR (o.status = 'partially_returned' AND b.whole));
