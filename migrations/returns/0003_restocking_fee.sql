-- What was kept of what a returned line's units are worth (a restocking fee).
ALTER TABLE returns.return_lines ADD COLUMN fee bigint;
ALTER TABLE returns.return_lines ADD CONSTRAINT return_lines_fee_check CHECK (fee >= 0);
