-- Customers' profiles and address books. Keyed by the user id of the auth domain (no
-- foreign key across domains).

CREATE TABLE users.profiles (
    user_id      uuid PRIMARY KEY,
    name         text,
    phone        text,
    preferences  jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT profiles_name_check CHECK (name IS NULL OR length(name) BETWEEN 1 AND 100),
    CONSTRAINT profiles_phone_check CHECK (phone IS NULL OR phone ~ '^\+[0-9]{7,15}$'),
    CONSTRAINT profiles_preferences_check CHECK (jsonb_typeof(preferences) = 'object')
);

CREATE TABLE users.addresses (
    id           uuid PRIMARY KEY,
    user_id      uuid NOT NULL,
    label        text,
    name         text NOT NULL,
    line1        text NOT NULL,
    line2        text,
    city         text NOT NULL,
    postal_code  text NOT NULL,
    country      char(2) NOT NULL,
    phone        text,
    is_default   boolean NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT addresses_country_check CHECK (country ~ '^[A-Z]{2}$')
);
CREATE INDEX addresses_user_idx ON users.addresses (user_id, created_at DESC);
-- At most one default address per user.
CREATE UNIQUE INDEX addresses_one_default ON users.addresses (user_id) WHERE is_default;

CREATE TABLE users.outbox (
    event_id      uuid PRIMARY KEY,
    event_type    text NOT NULL,
    occurred_at   timestamptz NOT NULL,
    actor         text NOT NULL,
    data          jsonb NOT NULL,
    trace         jsonb NOT NULL DEFAULT '{}'::jsonb,
    published_at  timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outbox_unpublished_idx ON users.outbox (occurred_at) WHERE published_at IS NULL;
