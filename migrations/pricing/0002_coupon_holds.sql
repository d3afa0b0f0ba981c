-- Checkout holds a coupon redemption before it charges (counting against the limits), then
-- confirms it once paid, or releases it if the checkout fails.
ALTER TABLE pricing.coupon_redemptions DROP CONSTRAINT coupon_redemptions_state_check;
ALTER TABLE pricing.coupon_redemptions
    ADD CONSTRAINT coupon_redemptions_state_check CHECK (state IN ('held', 'redeemed', 'reversed'));
DROP INDEX pricing.coupon_redemptions_customer_idx;
CREATE INDEX coupon_redemptions_customer_idx ON pricing.coupon_redemptions (coupon_id, customer)
    WHERE state IN ('held', 'redeemed');
