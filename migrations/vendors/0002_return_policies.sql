-- A seller's own return policy: what it changes of the marketplace's (a null field is the
-- marketplace's). One row per vendor that has one; every change is kept, with who made it
-- and why, in return_policy_changes (append-only).

CREATE TABLE vendors.return_policies (
    vendor_id                  uuid PRIMARY KEY REFERENCES vendors.vendors (id),
    window_days                integer,
    restocking_fee_bps         integer,
    non_returnable_categories  text[] NOT NULL DEFAULT '{}',
    auto_approve_reasons       text[],
    auto_approve_max_minor     bigint,
    free_return_postage        boolean NOT NULL DEFAULT false,
    version                    integer NOT NULL,
    updated_by                 text NOT NULL,
    updated_at                 timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT return_policies_window_check CHECK (window_days BETWEEN 1 AND 365),
    CONSTRAINT return_policies_fee_check CHECK (restocking_fee_bps BETWEEN 0 AND 2500),
    CONSTRAINT return_policies_max_check CHECK (auto_approve_max_minor >= 0),
    CONSTRAINT return_policies_reasons_check CHECK (
        auto_approve_reasons <@ ARRAY['damaged', 'wrong_item', 'not_as_described', 'changed_mind']),
    CONSTRAINT return_policies_version_check CHECK (version > 0)
);

CREATE TABLE vendors.return_policy_changes (
    vendor_id   uuid NOT NULL REFERENCES vendors.vendors (id),
    version     integer NOT NULL,
    policy      jsonb NOT NULL,
    actor       text NOT NULL,
    reason      text NOT NULL,
    changed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (vendor_id, version)
);

CREATE FUNCTION vendors.append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'vendors.% is append-only', TG_TABLE_NAME;
END;
$$;

CREATE TRIGGER return_policy_changes_append_only
    BEFORE UPDATE OR DELETE ON vendors.return_policy_changes
    FOR EACH ROW EXECUTE FUNCTION vendors.append_only();
CREATE TRIGGER return_policy_changes_no_truncate
    BEFORE TRUNCATE ON vendors.return_policy_changes
    FOR EACH STATEMENT EXECUTE FUNCTION vendors.append_only();
