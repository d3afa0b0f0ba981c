-- A refund is claimed (pending) under its payment's row lock before the provider is asked, so
-- refunds running at the same time can never together exceed what was captured. It becomes
-- succeeded with the provider's reference; a refusal by the provider removes the claim.
ALTER TABLE payments.refunds ALTER COLUMN reference DROP NOT NULL;
ALTER TABLE payments.refunds ADD COLUMN status text NOT NULL DEFAULT 'succeeded'
    CONSTRAINT refunds_status_check CHECK (status IN ('pending', 'succeeded'));
ALTER TABLE payments.refunds ADD CONSTRAINT refunds_reference_check
    CHECK (status = 'pending' OR reference IS NOT NULL);
