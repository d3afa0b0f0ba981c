-- Messages about a shipment (each sent once per shipment): to the customer when a parcel is
-- on its way, delivered, or in trouble, and when the seller cannot send some of it (each
-- cancellation once); to the vendor when a part of an order waits to be packed past the
-- fulfilment time.
INSERT INTO notifications.templates (key, subject, body) VALUES (
    'shipment_shipped',
    'Your Souk order {{order_no}} is on its way',
    E'Hello,\n\n{{vendor}} sent a parcel of your order {{order_no}}:\n\n{{lines}}\n\nCarrier: {{carrier}} ({{service}})\nTracking code: {{tracking_code}}\nFollow it here: {{tracking_link}}\n\nSouk'
), (
    'shipment_delivered',
    'Your Souk order {{order_no}}: a parcel was delivered',
    E'Hello,\n\nthe parcel {{vendor}} sent you ({{carrier}}, tracking code {{tracking_code}}) was delivered:\n\n{{lines}}\n\nIf something is missing or damaged, you can ask for a return from your order page.\n\nSouk'
), (
    'shipment_exception',
    'Your Souk order {{order_no}}: a problem with a delivery',
    E'Hello,\n\nthe parcel {{vendor}} sends you ({{carrier}}, tracking code {{tracking_code}}) has a problem: {{reason}}.\n\nWe are looking into it with the seller and the carrier, and will write again. Follow it here: {{tracking_link}}\n\nSouk'
), (
    'lines_cancelled',
    'Your Souk order {{order_no}}: part of it cannot be sent',
    E'Hello,\n\n{{vendor}} cannot send part of your order {{order_no}}:\n\n{{lines}}\n\nReason: {{reason}}\n\nWe refunded {{amount}} to the card you paid with; it can take a few days to show.\n\nSouk'
), (
    'fulfilment_reminder',
    'Order {{order_no}} is waiting to be packed',
    E'Hello {{vendor}},\n\nyour part of order {{order_no}} was placed {{waited}} ago and is not packed yet:\n\n{{lines}}\n\nPlease pack it and buy its label in your vendor dashboard, or cancel the lines you cannot ship so the customer is refunded. Souk staff have been told.\n\nSouk'
)
ON CONFLICT (key) DO NOTHING;
