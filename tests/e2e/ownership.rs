//! Data ownership and the cart's records: each domain's role reaches only its own schema; the
//! cart's outbox stream and checkout snapshots hold what happened.

use serde_json::json;
use souk_cart::service::{CartService, Clients, Error};
use souk_cart::store::CartStore;
use souk_domain::{CountryCode, Currency};
use souk_kit::Ctx;
use souk_proto::catalog::v1::catalog_service_client::CatalogServiceClient;
use souk_proto::inventory::v1::inventory_service_client::InventoryServiceClient;
use souk_proto::pricing::v1::pricing_service_client::PricingServiceClient;
use souk_tests::fixtures::{self, VariantSpec};
use souk_tests::{Http, app};
use sqlx::Connection;
use sqlx::postgres::PgConnectOptions;

fn snap(cart: &str, checkout: &str, email: &str) -> souk_contracts::cart::SnapshotCart {
    souk_contracts::cart::SnapshotCart {
        cart_id: cart.to_string(),
        checkout_id: checkout.to_string(),
        attempt: 1,
        customer: email.to_string(),
        customer_keys: souk_domain::coupon::customer_keys(None, email),
        destination: None,
        hold_seconds: None,
    }
}

#[tokio::test]
async fn a_domain_role_cannot_read_another_domains_tables() {
    let admin: PgConnectOptions = app().database_url.parse().unwrap();
    // The harness provisions the domain roles with the password "e2e".
    let as_role = |role: &str| admin.clone().username(role).password("e2e");
    let mut cart = sqlx::PgConnection::connect_with(&as_role("souk_cart"))
        .await
        .expect("connect as souk_cart");
    let denied = sqlx::query("SELECT count(*) FROM catalog.products")
        .execute(&mut cart)
        .await;
    let err = denied.expect_err("the cart role must not read the catalog");
    assert!(err.to_string().contains("permission denied"), "{err}");
    sqlx::query("SELECT count(*) FROM cart.snapshots")
        .fetch_one(&mut cart)
        .await
        .expect("its own schema is readable");
    let mut pricing = sqlx::PgConnection::connect_with(&as_role("souk_pricing"))
        .await
        .unwrap();
    let err = sqlx::query("SELECT 1 FROM inventory.stock LIMIT 1")
        .execute(&mut pricing)
        .await
        .expect_err("the pricing role must not read inventory");
    assert!(err.to_string().contains("permission denied"), "{err}");
}

async fn cart_service() -> CartService {
    let a = app();
    let redis =
        redis::aio::ConnectionManager::new(redis::Client::open(a.redis_url.as_str()).unwrap())
            .await
            .unwrap();
    let clients = Clients {
        catalog: CatalogServiceClient::connect(a.grpc["catalog"].clone())
            .await
            .unwrap(),
        pricing: PricingServiceClient::connect(a.grpc["pricing"].clone())
            .await
            .unwrap(),
        inventory: InventoryServiceClient::connect(a.grpc["inventory"].clone())
            .await
            .unwrap(),
    };
    CartService::new(
        CartStore::new(redis, a.redis_prefix.clone(), 604_800),
        clients,
        a.db().await,
        Currency::USD,
        CountryCode::US,
    )
}

#[tokio::test]
async fn a_checkout_snapshot_records_the_cart_as_priced_once_per_checkout() {
    let db = app().db().await;
    let p = fixtures::product(
        &db,
        &[VariantSpec::new(3_000, 5, 5), VariantSpec::new(1_000, 5, 5)],
    )
    .await;
    let http = Http::new();
    let cart = http.post("/v1/carts", json!({})).await.body["id"]
        .as_str()
        .unwrap()
        .to_string();
    http.post(
        &format!("/v1/carts/{cart}/items"),
        json!({"sku": p.skus[0], "quantity": 1}),
    )
    .await
    .expect(200);
    let priced = http
        .post(
            &format!("/v1/carts/{cart}/items"),
            json!({"sku": p.skus[1], "quantity": 2}),
        )
        .await;

    let svc = cart_service().await;
    let checkout = format!("checkout-{cart}");
    let ctx = Ctx::workflow(&checkout);
    let first = svc
        .snapshot(&ctx, &snap(&cart, &checkout, "Ada@Example.com"))
        .await
        .unwrap();
    assert_eq!(first.lines.len(), 2);
    assert_eq!(
        first.total.amount,
        priced.body["total"]["amount"].as_i64().unwrap()
    );
    assert_eq!(first.subtotal.amount, 5_000);
    assert_eq!(first.lines[0].vendor_id, p.vendor_id);
    assert_eq!(
        first.total.amount,
        first.subtotal.amount - first.discount.amount + first.tax.amount + first.shipping.amount
    );

    // A retried activity gets the same snapshot, even if the cart changed since.
    http.delete(&format!("/v1/carts/{cart}/items/{}", p.skus[1]))
        .await
        .expect(200);
    let again = svc
        .snapshot(&ctx, &snap(&cart, &checkout, "ada@example.com"))
        .await
        .unwrap();
    assert_eq!(again, first);
    let rows: i64 =
        sqlx::query_scalar("SELECT count(*) FROM cart.snapshots WHERE checkout_id = $1")
            .bind(&checkout)
            .fetch_one(&db)
            .await
            .unwrap();
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM cart.outbox WHERE event_type = 'cart.checked_out' AND data->>'checkout_id' = $1")
        .bind(&checkout)
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!((rows, events), (1, 1));

    let empty = http.post("/v1/carts", json!({})).await.body["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(matches!(
        svc.snapshot(&ctx, &snap(&empty, "checkout-empty", "a@example.com"))
            .await,
        Err(Error::Empty)
    ));
    assert!(matches!(
        svc.snapshot(
            &ctx,
            &snap(
                "00000000-0000-4000-8000-000000000000",
                "checkout-none",
                "a@example.com"
            ),
        )
        .await,
        Err(Error::NotFound)
    ));
}

#[tokio::test]
async fn every_cart_change_appends_its_event_to_the_cart_outbox() {
    let db = app().db().await;
    let p = fixtures::product(&db, &[VariantSpec::new(1_000, 5, 5)]).await;
    let http = Http::new();
    let cart = http.post("/v1/carts", json!({})).await.body["id"]
        .as_str()
        .unwrap()
        .to_string();
    http.post(
        &format!("/v1/carts/{cart}/items"),
        json!({"sku": p.skus[0], "quantity": 1}),
    )
    .await
    .expect(200);
    http.patch(
        &format!("/v1/carts/{cart}/items/{}", p.skus[0]),
        json!({"quantity": 2}),
    )
    .await
    .expect(200);
    http.delete(&format!("/v1/carts/{cart}/items/{}", p.skus[0]))
        .await
        .expect(200);
    // A rejected change writes no event.
    let r = http
        .post(
            &format!("/v1/carts/{cart}/items"),
            json!({"sku": p.skus[0], "quantity": 0}),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (422, "invalid_quantity"),
        "{}",
        r.text
    );

    let mut redis = redis::Client::open(app().redis_url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let entries: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
        .arg(format!("{}cart:outbox", app().redis_prefix))
        .arg("-")
        .arg("+")
        .query_async(&mut redis)
        .await
        .unwrap();
    let ours: Vec<serde_json::Value> = entries
        .ids
        .iter()
        .filter_map(|e| e.get::<String>("event"))
        .filter_map(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
        .filter(|e| e["data"]["cart_id"] == cart.as_str())
        .collect();
    let types: Vec<&str> = ours.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        vec![
            "cart.created",
            "cart.item_added",
            "cart.item_updated",
            "cart.item_removed"
        ]
    );
    for e in &ours {
        assert!(e["event_id"].as_str().is_some());
        assert!(e["occurred_at"].as_str().is_some());
        assert!(e["actor"].as_str().unwrap().starts_with("customer:"));
    }
}
