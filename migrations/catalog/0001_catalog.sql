-- The catalog: categories (a tree), products and their variants.
-- Prices live in the pricing domain, stock in inventory.

CREATE TABLE catalog.categories (
    id          uuid PRIMARY KEY,
    parent_id   uuid CONSTRAINT categories_parent_fk REFERENCES catalog.categories (id),
    slug        text NOT NULL CONSTRAINT categories_slug_key UNIQUE,
    name        text NOT NULL,
    position    integer NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT categories_slug_format CHECK (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$'),
    CONSTRAINT categories_not_own_parent CHECK (parent_id IS DISTINCT FROM id)
);
CREATE INDEX categories_parent_idx ON catalog.categories (parent_id);

CREATE TABLE catalog.products (
    id           uuid PRIMARY KEY,
    vendor_id    uuid NOT NULL,
    slug         text NOT NULL CONSTRAINT products_slug_key UNIQUE,
    title        text NOT NULL,
    description  text NOT NULL DEFAULT '',
    status       text NOT NULL DEFAULT 'draft',
    attributes   jsonb NOT NULL DEFAULT '{}'::jsonb,
    search       tsvector GENERATED ALWAYS AS (
                     setweight(to_tsvector('simple', title), 'A') ||
                     setweight(to_tsvector('simple', description), 'B')
                 ) STORED,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT products_status_check CHECK (status IN ('draft', 'active', 'archived')),
    CONSTRAINT products_slug_format CHECK (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$'),
    CONSTRAINT products_attributes_object CHECK (jsonb_typeof(attributes) = 'object')
);
-- Keyset pagination of the public listing: newest first.
CREATE INDEX products_active_listing_idx ON catalog.products (created_at DESC, id DESC)
    WHERE status = 'active';
CREATE INDEX products_vendor_idx ON catalog.products (vendor_id);
CREATE INDEX products_search_idx ON catalog.products USING gin (search);

CREATE TABLE catalog.product_categories (
    product_id   uuid NOT NULL CONSTRAINT product_categories_product_fk
                     REFERENCES catalog.products (id) ON DELETE CASCADE,
    category_id  uuid NOT NULL CONSTRAINT product_categories_category_fk
                     REFERENCES catalog.categories (id),
    created_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT product_categories_pkey PRIMARY KEY (product_id, category_id)
);
CREATE INDEX product_categories_category_idx ON catalog.product_categories (category_id, product_id);

CREATE TABLE catalog.variants (
    id            uuid PRIMARY KEY,
    product_id    uuid NOT NULL CONSTRAINT variants_product_fk
                      REFERENCES catalog.products (id) ON DELETE CASCADE,
    sku           text NOT NULL CONSTRAINT variants_sku_key UNIQUE,
    title         text NOT NULL,
    options       jsonb NOT NULL DEFAULT '{}'::jsonb,
    tax_class     text NOT NULL DEFAULT 'standard',
    weight_grams  integer NOT NULL DEFAULT 0,
    position      integer NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT variants_sku_format CHECK (sku ~ '^[A-Za-z0-9._-]{1,64}$'),
    CONSTRAINT variants_weight_check CHECK (weight_grams >= 0),
    CONSTRAINT variants_options_object CHECK (jsonb_typeof(options) = 'object')
);
CREATE INDEX variants_product_idx ON catalog.variants (product_id, position);

-- Events waiting for the relay, written in the same transaction as the change.
CREATE TABLE catalog.outbox (
    event_id      uuid PRIMARY KEY,
    event_type    text NOT NULL,
    occurred_at   timestamptz NOT NULL,
    actor         text NOT NULL,
    data          jsonb NOT NULL,
    trace         jsonb NOT NULL DEFAULT '{}'::jsonb,
    published_at  timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outbox_unpublished_idx ON catalog.outbox (occurred_at) WHERE published_at IS NULL;
