-- The label a return's parcel goes back on (bought through the shipping domain, whose parcel
-- `shipment_id` is), what it cost and who pays it (the customer's postage is kept from the
-- refund).
ALTER TABLE returns.returns
    ADD COLUMN shipment_id    uuid,
    ADD COLUMN carrier        text,
    ADD COLUMN service        text,
    ADD COLUMN tracking_code  text,
    ADD COLUMN label_url      text,
    ADD COLUMN tracking_url   text,
    ADD COLUMN postage        bigint,
    ADD COLUMN postage_paid_by text,
    ADD CONSTRAINT returns_label_check CHECK (
        (tracking_code IS NULL) = (shipment_id IS NULL)
        AND (tracking_code IS NULL) = (label_url IS NULL)
        AND (tracking_code IS NULL) = (postage IS NULL)
        AND (tracking_code IS NULL) = (postage_paid_by IS NULL)
        AND (tracking_code IS NULL) = (carrier IS NULL)
        AND (tracking_code IS NULL) = (service IS NULL)),
    ADD CONSTRAINT returns_postage_check CHECK (postage >= 0),
    ADD CONSTRAINT returns_postage_paid_by_check CHECK (postage_paid_by IN ('vendor', 'customer'));
CREATE INDEX returns_tracking_idx ON returns.returns (tracking_code) WHERE tracking_code IS NOT NULL;
-- The share of the customer's postage kept from each line's refund.
ALTER TABLE returns.return_lines ADD COLUMN postage bigint;
ALTER TABLE returns.return_lines ADD CONSTRAINT return_lines_postage_check CHECK (postage >= 0);
