-- What a refund kept of a return's postage the customer pays (spread over the lines sent back
-- in the parcel): like a restocking fee, it stays in what the line has left to refund.
ALTER TABLE orders.line_refunds ADD COLUMN postage bigint NOT NULL DEFAULT 0;
ALTER TABLE orders.line_refunds ADD CONSTRAINT line_refunds_postage_check CHECK (postage >= 0);
