-- The marketplace's sellers. Other domains refer to a vendor by id only.

CREATE TABLE vendors.vendors (
    id            uuid PRIMARY KEY,
    slug          text NOT NULL CONSTRAINT vendors_slug_key UNIQUE,
    name          text NOT NULL,
    email         text NOT NULL,
    status        text NOT NULL DEFAULT 'active',
    country       char(2) NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT vendors_status_check CHECK (status IN ('pending', 'active', 'suspended')),
    CONSTRAINT vendors_slug_format CHECK (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$')
);

CREATE TABLE vendors.outbox (
    event_id      uuid PRIMARY KEY,
    event_type    text NOT NULL,
    occurred_at   timestamptz NOT NULL,
    actor         text NOT NULL,
    data          jsonb NOT NULL,
    trace         jsonb NOT NULL DEFAULT '{}'::jsonb,
    published_at  timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outbox_unpublished_idx ON vendors.outbox (occurred_at) WHERE published_at IS NULL;
