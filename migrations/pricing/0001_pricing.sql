-- Prices per SKU and currency, tax rates, shipping rates, coupons and their redemptions.
-- Amounts are integer minor units of the row's currency.

CREATE TABLE pricing.prices (
    sku                text NOT NULL,
    currency           char(3) NOT NULL,
    amount             bigint NOT NULL,
    compare_at_amount  bigint,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT prices_pkey PRIMARY KEY (sku, currency),
    CONSTRAINT prices_amount_check CHECK (amount >= 0),
    CONSTRAINT prices_compare_at_check CHECK (compare_at_amount IS NULL OR compare_at_amount > amount),
    CONSTRAINT prices_currency_format CHECK (currency ~ '^[A-Z]{3}$')
);

-- Rates in basis points: 825 is 8.25 %.
CREATE TABLE pricing.tax_rates (
    country      char(2) NOT NULL,
    tax_class    text NOT NULL,
    rate_bp      integer NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT tax_rates_pkey PRIMARY KEY (country, tax_class),
    CONSTRAINT tax_rates_rate_check CHECK (rate_bp BETWEEN 0 AND 10000)
);

-- Flat shipping per vendor parcel to a country, free over a vendor subtotal.
CREATE TABLE pricing.shipping_rates (
    country           char(2) NOT NULL,
    currency          char(3) NOT NULL,
    per_vendor_amount bigint NOT NULL,
    free_over_amount  bigint,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT shipping_rates_pkey PRIMARY KEY (country, currency),
    CONSTRAINT shipping_rates_amount_check CHECK (per_vendor_amount >= 0),
    CONSTRAINT shipping_rates_free_over_check CHECK (free_over_amount IS NULL OR free_over_amount >= 0)
);

CREATE TABLE pricing.coupons (
    id                   uuid PRIMARY KEY,
    code                 text NOT NULL CONSTRAINT coupons_code_key UNIQUE,
    description          text NOT NULL DEFAULT '',
    kind                 text NOT NULL,
    percent_bp           integer,
    amount_off           bigint,
    currency             char(3),
    min_order_amount     bigint,
    max_discount_amount  bigint,
    starts_at            timestamptz,
    ends_at              timestamptz,
    total_limit          integer,
    per_customer_limit   integer,
    scope                text NOT NULL DEFAULT 'all',
    scope_ids            uuid[] NOT NULL DEFAULT '{}',
    active               boolean NOT NULL DEFAULT true,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT coupons_code_format CHECK (code ~ '^[A-Z0-9_-]{1,40}$'),
    CONSTRAINT coupons_kind_check CHECK (
        (kind = 'percent' AND percent_bp BETWEEN 1 AND 10000 AND amount_off IS NULL)
        OR (kind = 'fixed' AND amount_off > 0 AND percent_bp IS NULL)
    ),
    CONSTRAINT coupons_currency_check CHECK (
        currency IS NOT NULL
        OR (amount_off IS NULL AND min_order_amount IS NULL AND max_discount_amount IS NULL)
    ),
    CONSTRAINT coupons_window_check CHECK (starts_at IS NULL OR ends_at IS NULL OR starts_at < ends_at),
    CONSTRAINT coupons_limits_check CHECK (
        (total_limit IS NULL OR total_limit > 0) AND (per_customer_limit IS NULL OR per_customer_limit > 0)
    ),
    CONSTRAINT coupons_scope_check CHECK (
        (scope = 'all' AND cardinality(scope_ids) = 0)
        OR (scope IN ('vendor', 'category', 'product') AND cardinality(scope_ids) > 0)
    )
);

-- One row per (coupon, redemption key); the key is the checkout id, so redeeming twice for the
-- same checkout is a no-op. Reversed redemptions no longer count against limits.
CREATE TABLE pricing.coupon_redemptions (
    id             uuid PRIMARY KEY,
    coupon_id      uuid NOT NULL CONSTRAINT coupon_redemptions_coupon_fk REFERENCES pricing.coupons (id),
    redemption_key text NOT NULL,
    customer       text NOT NULL,
    state          text NOT NULL DEFAULT 'redeemed',
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT coupon_redemptions_key_unique UNIQUE (coupon_id, redemption_key),
    CONSTRAINT coupon_redemptions_state_check CHECK (state IN ('redeemed', 'reversed'))
);
CREATE INDEX coupon_redemptions_customer_idx ON pricing.coupon_redemptions (coupon_id, customer)
    WHERE state = 'redeemed';

CREATE TABLE pricing.outbox (
    event_id      uuid PRIMARY KEY,
    event_type    text NOT NULL,
    occurred_at   timestamptz NOT NULL,
    actor         text NOT NULL,
    data          jsonb NOT NULL,
    trace         jsonb NOT NULL DEFAULT '{}'::jsonb,
    published_at  timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outbox_unpublished_idx ON pricing.outbox (occurred_at) WHERE published_at IS NULL;
