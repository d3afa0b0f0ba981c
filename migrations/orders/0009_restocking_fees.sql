-- What a refund kept of what its units were worth (a return's restocking fee): the line's
-- refunded amount is what was paid back, so the fee stays in what the line has left.
ALTER TABLE orders.line_refunds ADD COLUMN fee bigint NOT NULL DEFAULT 0;
ALTER TABLE orders.line_refunds ADD CONSTRAINT line_refunds_fee_check CHECK (fee >= 0);
