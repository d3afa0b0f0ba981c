-- To the customer when staff refund part of an order without a return (sent once per refund).
INSERT INTO notifications.templates (key, subject, body) VALUES (
    'goodwill_refunded',
    'Souk order {{order_no}}: {{amount}} refunded',
    E'Hello,\n\nwe refunded {{amount}} of your order {{order_no}}:\n\n{{lines}}\n\nIt goes back to the card you paid with; it can take a few days to show.\n\nSouk'
)
ON CONFLICT (key) DO NOTHING;
