-- The marketplace's money as double-entry: journal entries whose postings sum to zero per
-- currency, the commission rules and the commission of each captured line. Entries and
-- postings are append-only (a mistake is reversed by a new entry); rules are too (a change
-- is a new rule that takes effect later). Accounts are named as `souk_domain::ledger::Account`
-- writes them (`customer_payments`, `vendor_payable:<vendor>`, ...).

CREATE TABLE ledger.commission_rules (
    id              uuid PRIMARY KEY,
    -- NULL: the marketplace's, for every vendor without its own.
    vendor_id       uuid,
    -- A category slug; NULL: every category without its own rule.
    category        text,
    effective_from  timestamptz NOT NULL,
    bps             integer NOT NULL CHECK (bps BETWEEN 0 AND 5000),
    fixed_minor     bigint CHECK (fixed_minor >= 0),
    fixed_currency  char(3),
    created_by      text NOT NULL,
    reason          text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT commission_rules_fixed_has_currency
        CHECK ((fixed_minor IS NULL) = (fixed_currency IS NULL))
);
CREATE INDEX commission_rules_vendor_idx ON ledger.commission_rules (vendor_id, effective_from);

CREATE TABLE ledger.entries (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- `source:operation:sequence`, e.g. `capture:<checkout>`: an entry is posted once.
    key         text NOT NULL CONSTRAINT entries_key_key UNIQUE,
    kind        text NOT NULL,
    order_no    text,
    actor       text NOT NULL,
    posted_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT entries_kind_check CHECK (kind IN
        ('capture', 'refund', 'payable', 'payout', 'payout_paid', 'payout_failed'))
);
CREATE INDEX entries_order_idx ON ledger.entries (order_no) WHERE order_no IS NOT NULL;

CREATE TABLE ledger.postings (
    entry_id    bigint NOT NULL REFERENCES ledger.entries (id),
    account     text NOT NULL,
    -- The vendor of a vendor's account (for its statement), else NULL.
    vendor_id   uuid,
    currency    char(3) NOT NULL,
    -- Signed: positive debits the account, negative credits it.
    amount      bigint NOT NULL CHECK (amount <> 0),
    PRIMARY KEY (entry_id, account, currency)
);
CREATE INDEX postings_account_idx ON ledger.postings (account, currency);
CREATE INDEX postings_vendor_idx ON ledger.postings (vendor_id, entry_id DESC)
    WHERE vendor_id IS NOT NULL;

-- Nothing posted is changed or removed.
CREATE FUNCTION ledger.refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger.% is append-only', TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END $$;
CREATE TRIGGER entries_append_only BEFORE UPDATE OR DELETE ON ledger.entries
    FOR EACH ROW EXECUTE FUNCTION ledger.refuse_change();
CREATE TRIGGER postings_append_only BEFORE UPDATE OR DELETE ON ledger.postings
    FOR EACH ROW EXECUTE FUNCTION ledger.refuse_change();
CREATE TRIGGER commission_rules_append_only BEFORE UPDATE OR DELETE ON ledger.commission_rules
    FOR EACH ROW EXECUTE FUNCTION ledger.refuse_change();

-- Every entry balances, per currency, when its transaction commits.
CREATE FUNCTION ledger.check_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM ledger.postings WHERE entry_id = NEW.entry_id
               GROUP BY currency HAVING sum(amount) <> 0) THEN
        RAISE EXCEPTION 'ledger entry % does not balance', NEW.entry_id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER postings_balance AFTER INSERT ON ledger.postings
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger.check_balanced();

-- The commission of each captured line, computed once at capture with the rule it came from,
-- and how much of the line has been refunded and of the commission given back.
CREATE TABLE ledger.line_commissions (
    order_no         text NOT NULL,
    sku              text NOT NULL,
    vendor_id        uuid NOT NULL,
    currency         char(3) NOT NULL,
    -- What the line paid, and its goods (what the commission is taken from).
    paid             bigint NOT NULL CHECK (paid >= 0),
    goods            bigint NOT NULL CHECK (goods >= 0),
    commission       bigint NOT NULL CHECK (commission >= 0 AND commission <= paid),
    -- NULL: no rule applied (no commission).
    rule_id          uuid REFERENCES ledger.commission_rules (id),
    entry_id         bigint NOT NULL REFERENCES ledger.entries (id),
    refunded         bigint NOT NULL DEFAULT 0,
    commission_back  bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (order_no, sku),
    CONSTRAINT line_commissions_refunded_check CHECK (refunded BETWEEN 0 AND paid),
    CONSTRAINT line_commissions_back_check CHECK (commission_back BETWEEN 0 AND commission)
);
CREATE INDEX line_commissions_vendor_idx ON ledger.line_commissions (vendor_id);

CREATE TABLE ledger.outbox (
    event_id      uuid PRIMARY KEY,
    event_type    text NOT NULL,
    occurred_at   timestamptz NOT NULL,
    actor         text NOT NULL,
    data          jsonb NOT NULL,
    trace         jsonb NOT NULL DEFAULT '{}'::jsonb,
    published_at  timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outbox_unpublished_idx ON ledger.outbox (occurred_at) WHERE published_at IS NULL;
