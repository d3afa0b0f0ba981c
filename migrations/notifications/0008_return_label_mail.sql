-- To the customer when a return is approved and its label bought (sent once per return): the
-- label to print, how to follow the parcel, and who pays the postage.
INSERT INTO notifications.templates (key, subject, body) VALUES (
    'return_label',
    'Your Souk return {{rma_no}} is approved: your return label',
    E'Hello,\n\nyour return {{rma_no}} of order {{order_no}} is approved:\n\n{{lines}}\n\nPrint your return label and stick it on the parcel:\n{{label_url}}\n\nHand the parcel to {{carrier}} within {{send_by}}; its tracking number is {{tracking_code}} ({{tracking_link}}). The items go back to {{vendor}}. Postage: {{postage}}.\n\nSouk'
)
ON CONFLICT (key) DO NOTHING;
