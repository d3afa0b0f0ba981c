-- Per-customer coupon limits count every identity a redemption is known by: the account
-- (`user:<id>`) of a signed-in customer; for a guest, the normalised mailbox
-- (`email:<address>`) and the card's fingerprint (`card:<fingerprint>`) once authorized.
ALTER TABLE pricing.coupon_redemptions
    ADD COLUMN customer_keys text[] NOT NULL DEFAULT '{}';
-- Redemptions recorded before: the address they were made with, lower-cased, without a
-- +tag (Gmail's dots are not folded here).
UPDATE pricing.coupon_redemptions
   SET customer_keys = ARRAY['email:' || regexp_replace(lower(customer), '\+[^@]*@', '@')]
 WHERE customer_keys = '{}';
CREATE INDEX coupon_redemptions_customer_keys_idx ON pricing.coupon_redemptions
    USING gin (customer_keys) WHERE state IN ('held', 'redeemed');
