-- Accounts, roles, sessions (refresh token families), signing keys, lockout and the security
-- audit trail.

CREATE TABLE auth.users (
    id               uuid PRIMARY KEY,
    email            text NOT NULL,
    password_hash    text NOT NULL,
    status           text NOT NULL DEFAULT 'active',
    -- For vendor admins: the vendor whose data they manage.
    vendor_id        uuid,
    last_login_at    timestamptz,
    password_changed_at timestamptz NOT NULL DEFAULT now(),
    -- TOTP second factor: a secret being enrolled, then the confirmed one, and the last time
    -- step a code was accepted for (a code is never accepted twice).
    totp_pending_secret  bytea,
    totp_secret          bytea,
    totp_enabled_at      timestamptz,
    totp_last_step       bigint,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_status_check CHECK (status IN ('active', 'blocked', 'pending')),
    CONSTRAINT users_email_check CHECK (length(email) BETWEEN 3 AND 254 AND position('@' IN email) > 1)
);
-- E-mail addresses are unique whatever their case.
CREATE UNIQUE INDEX users_email_key ON auth.users (lower(email));

CREATE TABLE auth.roles (
    name         text PRIMARY KEY,
    description  text NOT NULL
);

CREATE TABLE auth.permissions (
    name         text PRIMARY KEY,
    description  text NOT NULL
);

CREATE TABLE auth.role_permissions (
    role        text NOT NULL REFERENCES auth.roles (name),
    permission  text NOT NULL REFERENCES auth.permissions (name),
    PRIMARY KEY (role, permission)
);

CREATE TABLE auth.user_roles (
    user_id     uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    role        text NOT NULL REFERENCES auth.roles (name),
    granted_at  timestamptz NOT NULL DEFAULT now(),
    granted_by  text NOT NULL,
    PRIMARY KEY (user_id, role)
);

INSERT INTO auth.roles (name, description) VALUES
    ('customer', 'Buys: own carts, checkouts, orders, profile and addresses'),
    ('vendor_admin', 'Manages one vendor''s products, stock and orders'),
    ('staff', 'Operates the marketplace: every vendor''s data, orders, stock'),
    ('super_admin', 'Everything staff can do, plus roles and signing keys');

INSERT INTO auth.permissions (name, description) VALUES
    ('orders.read.own', 'Read own orders'),
    ('checkout.create', 'Check out a cart'),
    ('vendor.products.write', 'Change the products of the own vendor'),
    ('vendor.stock.write', 'Set stock of the own vendor''s SKUs'),
    ('vendor.orders.read', 'Read the sub-orders of the own vendor'),
    ('admin.orders.read', 'Read every order'),
    ('admin.stock.write', 'Set stock of any SKU'),
    ('admin.alerts.read', 'Read low-stock alerts'),
    ('admin.roles.write', 'Grant and revoke roles'),
    ('admin.keys.rotate', 'Rotate the token signing key'),
    ('admin.audit.read', 'Read the security audit trail');

INSERT INTO auth.role_permissions (role, permission) VALUES
    ('customer', 'orders.read.own'),
    ('customer', 'checkout.create'),
    ('vendor_admin', 'vendor.products.write'),
    ('vendor_admin', 'vendor.stock.write'),
    ('vendor_admin', 'vendor.orders.read'),
    ('staff', 'admin.orders.read'),
    ('staff', 'admin.stock.write'),
    ('staff', 'admin.alerts.read'),
    ('staff', 'admin.audit.read'),
    ('super_admin', 'admin.orders.read'),
    ('super_admin', 'admin.stock.write'),
    ('super_admin', 'admin.alerts.read'),
    ('super_admin', 'admin.audit.read'),
    ('super_admin', 'admin.roles.write'),
    ('super_admin', 'admin.keys.rotate');

-- Failed sign-ins per e-mail address (known or not, so a lockout says nothing about whether
-- an account exists): `failures` within the window starting at `window_started_at`.
CREATE TABLE auth.login_attempts (
    email_key          text PRIMARY KEY,
    failures           integer NOT NULL DEFAULT 0,
    window_started_at  timestamptz NOT NULL DEFAULT now(),
    locked_until       timestamptz,
    updated_at         timestamptz NOT NULL DEFAULT now()
);

-- Refresh tokens, stored as SHA-256 of the opaque token. Every use rotates the token (the
-- old row gets `used_at`, the new one joins the same family); presenting a used token again
-- revokes the whole family.
CREATE TABLE auth.refresh_tokens (
    id              uuid PRIMARY KEY,
    family_id       uuid NOT NULL,
    user_id         uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    token_hash      bytea NOT NULL CONSTRAINT refresh_tokens_hash_key UNIQUE,
    issued_at       timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    used_at         timestamptz,
    revoked_at      timestamptz,
    revoked_reason  text,
    -- How the family's sign-in was authenticated (`pwd`, `otp`), copied into access tokens.
    amr             text[] NOT NULL DEFAULT '{pwd}'
);
CREATE INDEX refresh_tokens_family_idx ON auth.refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user_idx ON auth.refresh_tokens (user_id) WHERE revoked_at IS NULL;

-- Single-use recovery codes for a lost authenticator, stored as SHA-256.
CREATE TABLE auth.recovery_codes (
    user_id    uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    code_hash  bytea NOT NULL,
    used_at    timestamptz,
    PRIMARY KEY (user_id, code_hash)
);

-- Password reset tokens (mailed, stored as SHA-256), single use, short-lived.
CREATE TABLE auth.password_resets (
    id          uuid PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    token_hash  bytea NOT NULL CONSTRAINT password_resets_hash_key UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);
CREATE INDEX password_resets_user_idx ON auth.password_resets (user_id, created_at DESC);

-- RS256 signing keys. The newest key without `retired_at` signs; a retired key still verifies
-- (is published in the JWKS) until `verify_until`, when every token it signed has expired.
CREATE TABLE auth.signing_keys (
    kid              text PRIMARY KEY,
    algorithm        text NOT NULL DEFAULT 'RS256',
    private_key_pem  text NOT NULL,
    public_n         text NOT NULL,
    public_e         text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    retired_at       timestamptz,
    verify_until     timestamptz,
    CONSTRAINT signing_keys_algorithm_check CHECK (algorithm = 'RS256')
);

-- The security audit trail. Append-only: the trigger below refuses updates and deletes,
-- even by the owning role.
CREATE TABLE auth.audit_log (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    event       text NOT NULL,
    outcome     text NOT NULL,
    user_id     uuid,
    email       text,
    actor       text NOT NULL,
    ip          text,
    request_id  text,
    details     jsonb NOT NULL DEFAULT '{}'::jsonb,
    CONSTRAINT audit_log_outcome_check CHECK (outcome IN ('ok', 'denied', 'failed'))
);
CREATE INDEX audit_log_user_idx ON auth.audit_log (user_id, at DESC);
CREATE INDEX audit_log_event_idx ON auth.audit_log (event, at DESC);

CREATE FUNCTION auth.audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'auth.audit_log is append-only';
END;
$$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON auth.audit_log
    FOR EACH ROW EXECUTE FUNCTION auth.audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON auth.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION auth.audit_log_append_only();

CREATE TABLE auth.outbox (
    event_id      uuid PRIMARY KEY,
    event_type    text NOT NULL,
    occurred_at   timestamptz NOT NULL,
    actor         text NOT NULL,
    data          jsonb NOT NULL,
    trace         jsonb NOT NULL DEFAULT '{}'::jsonb,
    published_at  timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outbox_unpublished_idx ON auth.outbox (occurred_at) WHERE published_at IS NULL;
