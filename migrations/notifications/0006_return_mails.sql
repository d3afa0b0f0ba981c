-- Messages about a return (each sent once per return): to the customer when it is approved
-- (how to send it back), declined, refunded or expired; to the vendor when a decision is
-- waited for past the decision time.
INSERT INTO notifications.templates (key, subject, body) VALUES (
    'return_approved',
    'Your Souk return {{rma_no}} is approved',
    E'Hello,\n\nyour return {{rma_no}} of order {{order_no}} is approved:\n\n{{lines}}\n\nPlease send the items back to {{vendor}}, with the return number {{rma_no}} on the parcel, within {{send_by}}.\n\nSouk'
), (
    'return_declined',
    'Your Souk return {{rma_no}} was declined',
    E'Hello,\n\n{{vendor}} declined your return {{rma_no}} of order {{order_no}}:\n\n{{lines}}\n\nReason: {{reason}}\n\nIf you think this is wrong, reply to this mail and Souk staff will look at it.\n\nSouk'
), (
    'return_refunded',
    'Your Souk return {{rma_no}}: {{amount}} refunded',
    E'Hello,\n\nwe received your return {{rma_no}} of order {{order_no}}:\n\n{{lines}}\n\nWe refunded {{amount}} to the card you paid with; it can take a few days to show.\n\nSouk'
), (
    'return_closed',
    'Your Souk return {{rma_no}}: nothing to refund',
    E'Hello,\n\nwe received your return {{rma_no}} of order {{order_no}}:\n\n{{lines}}\n\nNone of it could be refunded. If you think this is wrong, reply to this mail and Souk staff will look at it.\n\nSouk'
), (
    'return_expired',
    'Your Souk return {{rma_no}} has expired',
    E'Hello,\n\nyour return {{rma_no}} of order {{order_no}} was not sent back within {{send_by}}, so it is closed. You can ask for a new one while the items are still inside the return window.\n\nSouk'
), (
    'return_decision_reminder',
    'Return {{rma_no}} is waiting for your decision',
    E'Hello {{vendor}},\n\nthe customer of order {{order_no}} asked to return, {{waited}} ago:\n\n{{lines}}\n\nPlease approve or decline it in your vendor dashboard. If nobody decides, Souk staff will.\n\nSouk'
)
ON CONFLICT (key) DO NOTHING;
