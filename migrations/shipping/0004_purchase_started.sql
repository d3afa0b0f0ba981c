-- When a label purchase was first sent to the carrier. From then on the shipment is not
-- quoted again (a new carrier shipment would let a retry buy a second label); a purchase the
-- carrier refused (nothing bought) clears it.
ALTER TABLE shipping.shipments ADD COLUMN purchase_started_at timestamptz;
