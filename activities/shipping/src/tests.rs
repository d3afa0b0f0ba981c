//! Shipments in the database: opened once per workflow, packed, quoted and labelled through
//! the guarded machine, and tracking events recorded once and never moving a shipment back.

use chrono::{DateTime, Utc};
use souk_contracts::orders::Address;
use souk_domain::shipment::{Parcel, ShipmentStatus, Tracking};
use souk_domain::{CountryCode, Currency, Sku};
use souk_kit::Ctx;
use souk_kit::testing::test_schema;
use sqlx::PgPool;
use uuid::Uuid;

use crate::carrier::sandbox::Sandbox;
use crate::carrier::{Carrier, RateRequest, TrackingUpdate};
use crate::store::{self, Error, NewShipment, Received};

fn address(country: &str) -> Address {
    Address {
        name: "Ada".into(),
        line1: "1 Main St".into(),
        line2: None,
        city: "Springfield".into(),
        postal_code: "12345".into(),
        country: CountryCode::parse(country).unwrap(),
    }
}

fn new_shipment(workflow: &str) -> NewShipment {
    NewShipment {
        workflow_id: workflow.into(),
        order_no: "SK-100001".into(),
        vendor_id: Uuid::now_v7(),
        customer_email: "ada@example.com".into(),
        warehouse: "main".into(),
        ship_to: address("US"),
        currency: Currency::USD,
        lines: vec![
            (Sku::parse("MUG-1").unwrap(), "Mug".into(), 2),
            (Sku::parse("TEE-1").unwrap(), "Tee".into(), 1),
        ],
    }
}

fn parcel() -> Parcel {
    Parcel::new(1_200, 300, 200, 100).unwrap()
}

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
}

fn scan(event: &str, code: &str, status: ShipmentStatus, secs: i64) -> TrackingUpdate {
    TrackingUpdate {
        event_id: event.into(),
        tracking_code: code.into(),
        carrier_status: status.as_str().into(),
        status: Some(status),
        at: at(secs),
        location: Some("Reno".into()),
        message: None,
    }
}

/// A shipment packed, quoted by the sandbox and labelled: its tracking code.
async fn labelled(pool: &PgPool, workflow: &str) -> (Uuid, String) {
    let ctx = Ctx::new("vendor:v");
    let s = store::open(pool, &Ctx::system(), &new_shipment(workflow))
        .await
        .unwrap();
    store::pack(pool, &ctx, s.id, parcel()).await.unwrap();
    let sandbox = Sandbox::new("secret");
    let quote = sandbox
        .quote(&RateRequest {
            reference: s.id.to_string(),
            from: address("US"),
            to: s.ship_to.clone(),
            parcel: parcel(),
            currency: s.currency,
        })
        .await
        .unwrap();
    store::record_quote(pool, s.id, "sandbox", &quote)
        .await
        .unwrap();
    let cheapest = &store::rates(pool, s.id).await.unwrap()[0];
    let label = sandbox
        .buy(&quote.carrier_shipment, &cheapest.id)
        .await
        .unwrap();
    let s = store::record_label(pool, &ctx, s.id, &label).await.unwrap();
    (s.id, s.tracking_code.unwrap())
}

#[sqlx::test(migrations = false)]
async fn a_shipment_is_opened_once_per_workflow(pool: PgPool) {
    test_schema(&pool, &crate::SCHEMA).await;
    let ctx = Ctx::system();
    let first = store::open(&pool, &ctx, &new_shipment("shipment-a"))
        .await
        .unwrap();
    let again = store::open(&pool, &ctx, &new_shipment("shipment-a"))
        .await
        .unwrap();
    assert_eq!(
        first.id, again.id,
        "the same workflow opens the same shipment"
    );
    assert_eq!(first.status, ShipmentStatus::AwaitingFulfillment);
    assert_eq!(first.lines.len(), 2);
    assert_eq!(first.ship_to, address("US"));
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM shipping.shipments")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(count, 1);
    let mut empty = new_shipment("shipment-b");
    empty.lines.clear();
    assert!(matches!(
        store::open(&pool, &ctx, &empty).await,
        Err(Error::Invalid(_))
    ));
    let opened: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM shipping.outbox WHERE event_type = 'shipping.opened'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(opened, 1);
}

#[sqlx::test(migrations = false)]
async fn packing_quoting_and_labelling_follow_the_machine_and_repeat_safely(pool: PgPool) {
    test_schema(&pool, &crate::SCHEMA).await;
    let vendor = Ctx::new("vendor:v");
    let s = store::open(&pool, &Ctx::system(), &new_shipment("shipment-c"))
        .await
        .unwrap();
    // Nothing is quoted before it is packed.
    let sandbox = Sandbox::new("secret");
    let request = RateRequest {
        reference: s.id.to_string(),
        from: address("US"),
        to: s.ship_to.clone(),
        parcel: parcel(),
        currency: s.currency,
    };
    let quote = sandbox.quote(&request).await.unwrap();
    assert!(matches!(
        store::record_quote(&pool, s.id, "sandbox", &quote).await,
        Err(Error::Conflict(_))
    ));

    let packed = store::pack(&pool, &vendor, s.id, parcel()).await.unwrap();
    assert_eq!(packed.status, ShipmentStatus::Packed);
    assert_eq!(packed.parcel, Some(parcel()));
    // The same step again is the same step; another parcel is refused.
    assert_eq!(
        store::pack(&pool, &vendor, s.id, parcel()).await.unwrap(),
        packed
    );
    let other = Parcel::new(5_000, 300, 200, 100).unwrap();
    assert!(matches!(
        store::pack(&pool, &vendor, s.id, other).await,
        Err(Error::Conflict(_))
    ));

    store::record_quote(&pool, s.id, "sandbox", &quote)
        .await
        .unwrap();
    store::record_quote(&pool, s.id, "sandbox", &quote)
        .await
        .unwrap();
    let rates = store::rates(&pool, s.id).await.unwrap();
    assert_eq!(rates.len(), 2, "a new quote replaces the last one");
    assert!(
        rates[0].price.amount <= rates[1].price.amount,
        "cheapest first"
    );

    let label = sandbox
        .buy(&quote.carrier_shipment, &rates[0].id)
        .await
        .unwrap();
    let labelled = store::record_label(&pool, &vendor, s.id, &label)
        .await
        .unwrap();
    assert_eq!(labelled.status, ShipmentStatus::LabelPurchased);
    assert_eq!(
        labelled.tracking_code.as_deref(),
        Some(label.tracking_code.as_str())
    );
    assert_eq!(
        store::record_label(&pool, &vendor, s.id, &label)
            .await
            .unwrap(),
        labelled
    );
    let mut another = label.clone();
    another.tracking_code = "SBXOTHER".into();
    assert!(matches!(
        store::record_label(&pool, &vendor, s.id, &another).await,
        Err(Error::Conflict(_))
    ));
    // A labelled shipment is not quoted again.
    assert!(matches!(
        store::record_quote(&pool, s.id, "sandbox", &quote).await,
        Err(Error::Conflict(_))
    ));

    let changes = store::changes(&pool, s.id).await.unwrap();
    let path: Vec<_> = changes.iter().map(|c| (c.from, c.to)).collect();
    assert_eq!(
        path,
        [
            (None, ShipmentStatus::AwaitingFulfillment),
            (
                Some(ShipmentStatus::AwaitingFulfillment),
                ShipmentStatus::Packed
            ),
            (Some(ShipmentStatus::Packed), ShipmentStatus::LabelPurchased),
        ]
    );
    assert_eq!(changes[1].actor, "vendor:v");
}

#[sqlx::test(migrations = false)]
async fn a_tracking_event_is_recorded_once_and_never_moves_a_shipment_back(pool: PgPool) {
    test_schema(&pool, &crate::SCHEMA).await;
    let (id, code) = labelled(&pool, "shipment-d").await;
    let carrier = Ctx::new("carrier:sandbox");

    let first = scan("evt-1", &code, ShipmentStatus::InTransit, 10);
    let received = store::receive_tracking(&pool, "sandbox", &first)
        .await
        .unwrap();
    let pending = Some((id, "shipment-d".to_string()));
    assert_eq!(
        received,
        Received {
            duplicate: false,
            pending_for: pending.clone(),
            known: true
        }
    );
    // A redelivery before the event was applied: recorded once, and the workflow is told
    // again (its first telling may have been lost).
    assert_eq!(
        store::receive_tracking(&pool, "sandbox", &first)
            .await
            .unwrap(),
        Received {
            duplicate: true,
            pending_for: pending,
            known: true
        },
        "a redelivered event is recorded once"
    );
    assert_eq!(
        store::apply_tracking(&pool, &carrier, "sandbox", "evt-1")
            .await
            .unwrap(),
        Tracking::Advance(ShipmentStatus::InTransit)
    );
    // Applying it again answers the same and changes nothing.
    assert_eq!(
        store::apply_tracking(&pool, &carrier, "sandbox", "evt-1")
            .await
            .unwrap(),
        Tracking::Advance(ShipmentStatus::InTransit)
    );
    // Once applied, a redelivery tells no one.
    assert_eq!(
        store::receive_tracking(&pool, "sandbox", &first)
            .await
            .unwrap(),
        Received {
            duplicate: true,
            pending_for: None,
            known: true
        }
    );

    for (event, status, secs) in [
        ("evt-3", ShipmentStatus::Delivered, 30),
        // Scanned before the delivery, delivered after it.
        ("evt-2", ShipmentStatus::OutForDelivery, 20),
        ("evt-4", ShipmentStatus::InTransit, 40),
    ] {
        store::receive_tracking(&pool, "sandbox", &scan(event, &code, status, secs))
            .await
            .unwrap();
        store::apply_tracking(&pool, &carrier, "sandbox", event)
            .await
            .unwrap();
    }
    let shipment = store::get(&pool, id).await.unwrap();
    assert_eq!(shipment.status, ShipmentStatus::Delivered);
    assert_eq!(shipment.last_tracked_at, Some(at(30)));
    let events = store::events(&pool, id).await.unwrap();
    let outcomes: Vec<_> = events
        .iter()
        .map(|e| (e.event_id.as_str(), e.outcome.as_str()))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("evt-1", "applied"),
            ("evt-2", "stale"),
            ("evt-3", "applied"),
            ("evt-4", "stale"),
        ]
    );
    let moves = store::changes(&pool, id).await.unwrap();
    assert_eq!(moves.last().unwrap().to, ShipmentStatus::Delivered);
    assert_eq!(moves.last().unwrap().actor, "carrier:sandbox");
    assert_eq!(
        moves.len(),
        5,
        "opened, packed, labelled, in transit, delivered"
    );

    // A tracking code no shipment has is kept, for no shipment.
    let stray = scan("evt-9", "SBXNOBODY", ShipmentStatus::InTransit, 5);
    assert_eq!(
        store::receive_tracking(&pool, "sandbox", &stray)
            .await
            .unwrap(),
        Received {
            duplicate: false,
            pending_for: None,
            known: false
        }
    );
    assert!(matches!(
        store::apply_tracking(&pool, &carrier, "sandbox", "evt-9").await,
        Err(Error::NotFound(_))
    ));
}

#[sqlx::test(migrations = false)]
async fn an_unknown_shipment_is_not_found(pool: PgPool) {
    test_schema(&pool, &crate::SCHEMA).await;
    let ctx = Ctx::new("vendor:v");
    assert!(matches!(
        store::get(&pool, Uuid::now_v7()).await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        store::pack(&pool, &ctx, Uuid::now_v7(), parcel()).await,
        Err(Error::NotFound(_))
    ));
}

#[sqlx::test(migrations = false)]
async fn lines_are_cancelled_once_per_key_and_all_of_them_cancel_the_shipment(pool: PgPool) {
    test_schema(&pool, &crate::SCHEMA).await;
    let ctx = Ctx::new("user:vendor");
    let s = store::open(&pool, &Ctx::system(), &new_shipment("shipment-c1"))
        .await
        .unwrap();
    let mug = Sku::parse("MUG-1").unwrap();
    let tee = Sku::parse("TEE-1").unwrap();
    let one_mug = [(mug.clone(), 1)];
    for _ in 0..2 {
        let status = store::cancel_lines(&pool, &ctx, s.id, "k/1", &one_mug, "broke")
            .await
            .unwrap();
        assert_eq!(status, ShipmentStatus::AwaitingFulfillment);
    }
    let now = store::get(&pool, s.id).await.unwrap();
    let cancelled: Vec<(String, i32)> = now
        .lines
        .iter()
        .map(|l| (l.sku.to_string(), l.cancelled))
        .collect();
    assert_eq!(
        cancelled,
        [("MUG-1".into(), 1), ("TEE-1".into(), 0)],
        "once"
    );
    for bad in [
        vec![(mug.clone(), 2)],
        vec![(Sku::parse("NOPE-1").unwrap(), 1)],
        vec![(tee.clone(), 1), (tee.clone(), 1)],
        vec![],
    ] {
        let refused = store::cancel_lines(&pool, &ctx, s.id, "k/2", &bad, "lost").await;
        assert!(
            matches!(refused, Err(Error::Invalid(_))),
            "{bad:?}: {refused:?}"
        );
    }
    let status = store::cancel_lines(&pool, &ctx, s.id, "k/3", &[(mug, 1), (tee, 1)], "lost")
        .await
        .unwrap();
    assert_eq!(status, ShipmentStatus::Cancelled);
    let last = store::changes(&pool, s.id).await.unwrap().pop().unwrap();
    assert_eq!(
        (last.to, last.actor.as_str()),
        (ShipmentStatus::Cancelled, "user:vendor")
    );

    // Once labelled, it is too late.
    let (labelled, _) = labelled(&pool, "shipment-c2").await;
    let late = store::cancel_lines(
        &pool,
        &ctx,
        labelled,
        "k/4",
        &[(Sku::parse("MUG-1").unwrap(), 1)],
        "lost",
    )
    .await;
    assert!(matches!(late, Err(Error::Conflict(_))), "{late:?}");
}

#[sqlx::test(migrations = false)]
async fn an_unscanned_label_becomes_an_exception_with_one_alert(pool: PgPool) {
    test_schema(&pool, &crate::SCHEMA).await;
    let (id, _) = labelled(&pool, "shipment-n1").await;
    let ctx = Ctx::new("system:scan_timeout");
    for _ in 0..2 {
        let status = store::no_scan(&pool, &ctx, id, "no scan in 3 seconds")
            .await
            .unwrap();
        assert_eq!(status, ShipmentStatus::Exception);
    }
    let alerts = store::alerts(&pool, id).await.unwrap();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].note, "no scan in 3 seconds");
    // A shipment the carrier has scanned is left alone.
    let (scanned, code2) = labelled(&pool, "shipment-n2").await;
    store::receive_tracking(
        &pool,
        "sandbox",
        &scan("e1", &code2, ShipmentStatus::InTransit, 0),
    )
    .await
    .unwrap();
    store::apply_tracking(&pool, &ctx, "sandbox", "e1")
        .await
        .unwrap();
    let status = store::no_scan(&pool, &ctx, scanned, "too late")
        .await
        .unwrap();
    assert_eq!(status, ShipmentStatus::InTransit);
    assert!(store::alerts(&pool, scanned).await.unwrap().is_empty());
}

#[sqlx::test(migrations = false)]
async fn a_shipment_is_not_quoted_again_once_a_purchase_was_sent(pool: PgPool) {
    test_schema(&pool, &crate::SCHEMA).await;
    let s = store::open(&pool, &Ctx::system(), &new_shipment("shipment-q1"))
        .await
        .unwrap();
    store::pack(&pool, &Ctx::new("vendor:v"), s.id, parcel())
        .await
        .unwrap();
    let sandbox = Sandbox::new("secret");
    let quote = || async {
        sandbox
            .quote(&RateRequest {
                reference: s.id.to_string(),
                from: address("US"),
                to: s.ship_to.clone(),
                parcel: parcel(),
                currency: s.currency,
            })
            .await
            .unwrap()
    };
    store::record_quote(&pool, s.id, "sandbox", &quote().await)
        .await
        .unwrap();
    store::purchase_started(&pool, s.id).await.unwrap();
    let again = store::record_quote(&pool, s.id, "sandbox", &quote().await).await;
    assert!(matches!(again, Err(Error::Conflict(_))), "{again:?}");
    // The carrier refused it, nothing was bought: a new quote is fine.
    store::purchase_refused(&pool, s.id).await.unwrap();
    store::record_quote(&pool, s.id, "sandbox", &quote().await)
        .await
        .unwrap();
}

#[sqlx::test(migrations = false)]
async fn a_return_parcel_goes_back_to_the_warehouse_its_units_left_from(pool: PgPool) {
    test_schema(&pool, &crate::SCHEMA).await;
    let ctx = Ctx::new("system:return");
    let (sent, code) = labelled(&pool, "shipment-r").await;
    let out = store::get(&pool, sent).await.unwrap();
    let new = store::NewReturnShipment {
        workflow_id: "return-RMA-1".into(),
        order_no: out.order_no.clone(),
        vendor_id: out.vendor_id,
        lines: vec![(Sku::parse("MUG-1").unwrap(), 1)],
    };
    let warehouse = |w: &str| (w == "main").then(|| address("DE"));
    // Not delivered yet: nothing to send back.
    assert!(matches!(
        store::open_return(&pool, &ctx, &new, warehouse).await,
        Err(Error::Invalid(_))
    ));
    store::receive_tracking(
        &pool,
        "sandbox",
        &scan("e1", &code, ShipmentStatus::Delivered, 1),
    )
    .await
    .unwrap();
    store::apply_tracking(&pool, &ctx, "sandbox", "e1")
        .await
        .unwrap();
    // No address for its warehouse: refused too.
    assert!(matches!(
        store::open_return(&pool, &ctx, &new, |_| None).await,
        Err(Error::Invalid(_))
    ));

    // From the customer's address to the warehouse's, in the parcel it came in; once.
    let r = store::open_return(&pool, &ctx, &new, warehouse)
        .await
        .unwrap();
    assert!(r.is_return());
    assert_eq!(r.status, ShipmentStatus::Packed);
    assert_eq!(r.ship_from, Some(out.ship_to.clone()));
    assert_eq!(r.ship_to, address("DE"));
    assert_eq!(r.warehouse, out.warehouse);
    assert_eq!(r.parcel, Some(parcel()));
    assert_eq!(r.lines.len(), 1);
    assert_eq!((r.lines[0].title.as_str(), r.lines[0].quantity), ("Mug", 1));
    let again = store::open_return(&pool, &ctx, &new, warehouse)
        .await
        .unwrap();
    assert_eq!(again.id, r.id);
    // The vendor's and the order's shipments are the ones sent to customers.
    let listed = store::list(&pool, Some(out.vendor_id), None, None, None, 10)
        .await
        .unwrap();
    assert_eq!(listed.iter().map(|s| s.id).collect::<Vec<_>>(), [sent]);
    let of_order = store::for_order(&pool, &out.order_no, None).await.unwrap();
    assert_eq!(of_order.len(), 1);

    // Voided: cancelled, once; arrived once final changes nothing.
    assert_eq!(
        store::voided(&pool, &ctx, r.id, "called off")
            .await
            .unwrap(),
        ShipmentStatus::Cancelled
    );
    assert_eq!(
        store::voided(&pool, &ctx, r.id, "called off")
            .await
            .unwrap(),
        ShipmentStatus::Cancelled
    );
    assert_eq!(
        store::arrived(&pool, &ctx, r.id).await.unwrap(),
        ShipmentStatus::Cancelled
    );
    // Another return's parcel arrives by the warehouse's word; a carrier's scan is then stale.
    let other = store::NewReturnShipment {
        workflow_id: "return-RMA-2".into(),
        ..new
    };
    let p = store::open_return(&pool, &ctx, &other, warehouse)
        .await
        .unwrap();
    // Without a label it cannot have arrived.
    assert!(matches!(
        store::arrived(&pool, &ctx, p.id).await,
        Err(Error::Transition(_))
    ));
    let sandbox = Sandbox::new("secret");
    let quote = sandbox
        .quote(&RateRequest {
            reference: p.id.to_string(),
            from: p.ship_from.clone().unwrap(),
            to: p.ship_to.clone(),
            parcel: parcel(),
            currency: p.currency,
        })
        .await
        .unwrap();
    store::record_quote(&pool, p.id, "sandbox", &quote)
        .await
        .unwrap();
    let rate = &store::rates(&pool, p.id).await.unwrap()[0];
    let label = sandbox
        .buy(&quote.carrier_shipment, &rate.id)
        .await
        .unwrap();
    store::record_label(&pool, &ctx, p.id, &label)
        .await
        .unwrap();
    assert_eq!(
        store::arrived(&pool, &ctx, p.id).await.unwrap(),
        ShipmentStatus::Delivered
    );
    assert_eq!(
        store::arrived(&pool, &ctx, p.id).await.unwrap(),
        ShipmentStatus::Delivered
    );
}
