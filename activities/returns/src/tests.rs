//! Returns in the database: a request checked against the order under its lock (never more
//! units than are left, counting other returns on their way), moved by the machine, inspected
//! and refunded once.

use chrono::{Duration, Utc};
use souk_contracts::orders::{LineRefund, ReturnableLine, ReturnableOrder};
use souk_contracts::returns::{
    InspectReturn, LabelReturn, LineCount, MoveReturn, NoteReturn, OpenReturn, RecordReturnRefund,
    ReturnInput, ReturnLineRequest, ReturnSettings, Submitted,
};
use souk_domain::returns::{Counted, ReturnReason, ReturnStatus};
use souk_domain::{Currency, Money, Sku};
use souk_kit::Ctx;
use souk_kit::testing::{racing, test_schema};
use sqlx::PgPool;
use uuid::Uuid;

use crate::store;

const VENDOR: Uuid = Uuid::from_u128(7);

fn sku(s: &str) -> Sku {
    Sku::parse(s).unwrap()
}

fn order(delivered_days_ago: Option<i64>) -> ReturnableOrder {
    let delivered_at = delivered_days_ago.map(|d| Utc::now() - Duration::days(d));
    let line = |s: &str, quantity, refunded_quantity, vendor_id| ReturnableLine {
        sku: sku(s),
        title: format!("the {s}"),
        vendor_id,
        quantity,
        refunded_quantity,
        unit_price: Money::new(1_250, Currency::USD),
        delivered_at,
    };
    ReturnableOrder {
        order_no: "SK-100001".into(),
        customer_email: "ada@example.com".into(),
        customer_id: Some("u-1".into()),
        currency: Currency::USD,
        lines: vec![
            line("MUG-1", 3, 0, VENDOR),
            line("TEE-1", 2, 1, VENDOR),
            line("CAP-1", 1, 0, Uuid::from_u128(8)),
        ],
    }
}

fn request(rma: &str, lines: &[(&str, i32)], order: ReturnableOrder) -> OpenReturn {
    OpenReturn {
        excluded: Vec::new(),
        workflow_id: format!("return-{rma}"),
        input: ReturnInput {
            rma_no: rma.into(),
            order_no: order.order_no.clone(),
            actor: "user:u-1".into(),
            customer_id: "u-1".into(),
            lines: lines
                .iter()
                .map(|(s, q)| ReturnLineRequest {
                    sku: sku(s),
                    quantity: *q,
                    reason: ReturnReason::ChangedMind,
                    note: None,
                })
                .collect(),
            settings: ReturnSettings::default(),
        },
        order,
    }
}

fn refused(done: &Submitted) -> &str {
    match done {
        Submitted::Refused { code, .. } => code,
        Submitted::Opened { view } => panic!("opened {}", view.rma_no),
    }
}

fn opened(done: Submitted) -> souk_contracts::returns::ReturnView {
    match done {
        Submitted::Opened { view } => view,
        Submitted::Refused { code, message } => panic!("refused: {code}: {message}"),
    }
}

#[sqlx::test(migrations = false)]
async fn a_request_is_checked_against_the_order_and_recorded_once(pool: PgPool) {
    test_schema(&pool, &crate::SCHEMA).await;
    let ctx = Ctx::system();
    let r = request("R00000001", &[("MUG-1", 2)], order(Some(3)));
    let view = opened(store::open(&pool, &ctx, &r).await.unwrap());
    assert_eq!(view.status, ReturnStatus::Requested);
    assert_eq!(view.vendor_id, VENDOR);
    assert_eq!(view.lines.len(), 1);
    assert_eq!(view.lines[0].quantity, 2);
    assert_eq!(view.lines[0].title, "the MUG-1");
    // Again (a retried step): the same return, nothing more recorded.
    let again = opened(store::open(&pool, &ctx, &r).await.unwrap());
    assert_eq!(again.return_id, view.return_id);
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM returns.returns")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(n, 1);
    // The same number for someone else's request is refused, never shown.
    let mut taken = r.clone();
    taken.input.customer_id = "u-2".into();
    taken.order.customer_id = Some("u-2".into());
    assert_eq!(
        refused(&store::open(&pool, &ctx, &taken).await.unwrap()),
        "rma_taken"
    );

    // Two units are in a return on their way back, so one is left of MUG-1; one of TEE-1
    // was refunded by the seller, so one is left of it.
    type Case<'a> = (&'a str, &'a [(&'a str, i32)], ReturnableOrder, &'a str);
    let cases: [Case<'_>; 6] = [
        (
            "R00000002",
            &[("MUG-1", 2)],
            order(Some(3)),
            "quantity_exceeds_returnable",
        ),
        (
            "R00000003",
            &[("TEE-1", 2)],
            order(Some(3)),
            "quantity_exceeds_returnable",
        ),
        (
            "R00000004",
            &[("MUG-1", 1)],
            order(Some(31)),
            "outside_return_window",
        ),
        ("R00000005", &[("MUG-1", 1)], order(None), "not_returnable"),
        (
            "R00000006",
            &[("MUG-1", 1), ("CAP-1", 1)],
            order(Some(3)),
            "several_vendors",
        ),
        (
            "R00000007",
            &[("NOPE-1", 1)],
            order(Some(3)),
            "not_returnable",
        ),
    ];
    for (rma, lines, o, code) in cases {
        let done = store::open(&pool, &ctx, &request(rma, lines, o))
            .await
            .unwrap();
        assert_eq!(refused(&done), code, "{rma}");
    }
    // Not the customer's order: as if there were none.
    let mut other = request("R00000008", &[("MUG-1", 1)], order(Some(3)));
    other.input.customer_id = "u-2".into();
    assert_eq!(
        refused(&store::open(&pool, &ctx, &other).await.unwrap()),
        "order_not_found"
    );
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM returns.returns")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(n, 1, "a refused request is not recorded");

    // Declined, the units may be asked back again.
    store::move_to(
        &pool,
        &ctx,
        &MoveReturn {
            return_id: view.return_id,
            to: ReturnStatus::Declined,
            actor: "user:v".into(),
            note: Some("worn".into()),
        },
    )
    .await
    .unwrap();
    let again = store::open(
        &pool,
        &ctx,
        &request("R00000009", &[("MUG-1", 3)], order(Some(3))),
    )
    .await
    .unwrap();
    assert_eq!(opened(again).lines[0].quantity, 3);
}

#[sqlx::test(migrations = false)]
async fn concurrent_requests_never_take_more_units_than_are_left(pool: PgPool) {
    test_schema(&pool, &crate::SCHEMA).await;
    let outcomes = racing(&pool, 10, |pool| async move {
        let mut tasks = Vec::new();
        for i in 0..10 {
            let pool = pool.clone();
            tasks.push(tokio::spawn(async move {
                let r = request(&format!("R0000010{i}"), &[("MUG-1", 2)], order(Some(1)));
                store::open(&pool, &Ctx::system(), &r).await.unwrap()
            }));
        }
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    })
    .await;
    let opened = outcomes
        .iter()
        .filter(|o| matches!(o, Submitted::Opened { .. }))
        .count();
    assert_eq!(opened, 1, "3 units: one request of 2 fits");
    assert!(
        outcomes
            .iter()
            .filter(|o| matches!(o, Submitted::Refused { .. }))
            .all(|o| refused(o) == "quantity_exceeds_returnable")
    );
}

#[sqlx::test(migrations = false)]
async fn a_return_moves_by_the_machine_and_is_inspected_and_refunded_once(pool: PgPool) {
    test_schema(&pool, &crate::SCHEMA).await;
    let ctx = Ctx::system();
    let view = opened(
        store::open(
            &pool,
            &ctx,
            &request("R00000201", &[("MUG-1", 2)], order(Some(1))),
        )
        .await
        .unwrap(),
    );
    let id = view.return_id;
    let to = |to, actor: &str| MoveReturn {
        return_id: id,
        to,
        actor: actor.into(),
        note: None,
    };
    let count = InspectReturn {
        return_id: id,
        warehouse: "main".into(),
        lines: vec![LineCount {
            sku: sku("MUG-1"),
            counted: Counted {
                sellable: 1,
                damaged: 1,
                ..Counted::default()
            },
        }],
        actor: "user:w".into(),
    };
    // Not approved yet: it cannot be inspected.
    assert!(matches!(
        store::inspect(&pool, &ctx, &count).await,
        Err(store::Error::Transition(_))
    ));
    assert_eq!(
        store::move_to(&pool, &ctx, &to(ReturnStatus::Approved, "user:v"))
            .await
            .unwrap(),
        ReturnStatus::Approved
    );
    // Again: it stays approved.
    store::move_to(&pool, &ctx, &to(ReturnStatus::Approved, "user:v"))
        .await
        .unwrap();
    assert!(matches!(
        store::move_to(&pool, &ctx, &to(ReturnStatus::Declined, "user:v")).await,
        Err(store::Error::Transition(_))
    ));
    let escalate = NoteReturn {
        return_id: id,
        event: "escalated".into(),
        actor: "system:decision_sla".into(),
        note: "staff are asked to decide".into(),
    };
    store::note(&pool, &escalate).await.unwrap();
    store::note(&pool, &escalate).await.unwrap();
    // Its label is kept once: the same label again changes nothing, another is refused.
    let label = LabelReturn {
        return_id: id,
        label: souk_contracts::returns::ReturnLabel {
            shipment_id: Uuid::now_v7(),
            carrier: "SandboxPost".into(),
            service: "standard".into(),
            tracking_code: "SBX1".into(),
            label_url: "https://labels.sandbox.invalid/SBX1.pdf".into(),
            tracking_url: None,
            postage: Money::new(570, Currency::USD),
            paid_by: souk_domain::returns::PostagePayer::Customer,
        },
        actor: "system:return".into(),
    };
    for _ in 0..2 {
        assert_eq!(
            store::label(&pool, &ctx, &label).await.unwrap(),
            ReturnStatus::LabelIssued
        );
    }
    let mut other = label.clone();
    other.label.tracking_code = "SBX2".into();
    assert!(matches!(
        store::label(&pool, &ctx, &other).await,
        Err(store::Error::Invalid(_))
    ));
    assert_eq!(
        store::view(&pool, id).await.unwrap().label,
        Some(label.label)
    );
    // A count that leaves a unit out is refused.
    let mut short = count.clone();
    short.lines[0].counted.damaged = 0;
    assert!(matches!(
        store::inspect(&pool, &ctx, &short).await,
        Err(store::Error::Invalid(_))
    ));
    store::inspect(&pool, &ctx, &count).await.unwrap();
    store::inspect(&pool, &ctx, &count).await.unwrap();
    let refund = RecordReturnRefund {
        return_id: id,
        lines: vec![LineRefund {
            sku: sku("MUG-1"),
            quantity: 2,
            amount: Money::new(2_400, Currency::USD),
            fee: None,
            postage: Some(Money::new(570, Currency::USD)),
        }],
    };
    store::record_refund(&pool, &ctx, &refund).await.unwrap();
    store::record_refund(&pool, &ctx, &refund).await.unwrap();
    store::move_to(&pool, &ctx, &to(ReturnStatus::Closed, "system:refund"))
        .await
        .unwrap();

    let v = store::view(&pool, id).await.unwrap();
    assert_eq!(v.status, ReturnStatus::Closed);
    assert_eq!(v.decided_by.as_deref(), Some("user:v"));
    assert!(v.escalated);
    assert_eq!(v.refunded, Some(Money::new(2_400, Currency::USD)));
    assert_eq!(v.lines[0].counted, Some(count.lines[0].counted));
    assert_eq!(v.lines[0].postage, Some(Money::new(570, Currency::USD)));
    let events: Vec<String> =
        sqlx::query_scalar("SELECT event FROM returns.history WHERE return_id = $1 ORDER BY id")
            .bind(id)
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(
        events,
        [
            "requested",
            "approved",
            "escalated",
            "label_issued",
            "inspected",
            "refunded",
            "closed"
        ]
    );
    let outbox: i64 = sqlx::query_scalar("SELECT count(*) FROM returns.outbox")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(outbox, 6, "requested and five moves");
}
