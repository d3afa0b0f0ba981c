-- Shipping per vendor parcel, so a checkout can split the order by vendor exactly.
ALTER TABLE cart.snapshots
    ADD COLUMN shipping_by_vendor jsonb NOT NULL DEFAULT '[]'::jsonb,
    ADD CONSTRAINT snapshots_shipping_by_vendor_array CHECK (jsonb_typeof(shipping_by_vendor) = 'array');

-- A checkout can be tried again after it failed (a declined card): one snapshot per attempt.
ALTER TABLE cart.snapshots ADD COLUMN attempt integer NOT NULL DEFAULT 1;
ALTER TABLE cart.snapshots DROP CONSTRAINT snapshots_checkout_key;
ALTER TABLE cart.snapshots ADD CONSTRAINT snapshots_checkout_attempt_key UNIQUE (checkout_id, attempt);
