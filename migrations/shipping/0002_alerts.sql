-- What staff must look at, raised by a shipment's timers, once per shipment and kind:
-- `fulfilment_late` (not packed within the fulfilment time), `no_scan` (no carrier scan
-- within the scan timeout after the label: the shipment became an exception).
CREATE TABLE shipping.alerts (
    shipment_id  uuid NOT NULL CONSTRAINT alerts_shipment_fk REFERENCES shipping.shipments (id),
    kind         text NOT NULL,
    note         text NOT NULL,
    raised_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT alerts_pkey PRIMARY KEY (shipment_id, kind),
    CONSTRAINT alerts_kind_check CHECK (kind IN ('fulfilment_late', 'no_scan'))
);
CREATE INDEX alerts_raised_idx ON shipping.alerts (raised_at DESC);
