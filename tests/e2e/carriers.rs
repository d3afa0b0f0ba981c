//! The EasyPost carrier against its HTTP double: rates read into money, a label bought
//! exactly once whatever is lost on the way (a 500 before or after the purchase, an answer
//! that comes after the client gave up), errors told apart, webhooks verified.

use std::time::Duration;

use secrecy::SecretString;
use souk_contracts::orders::Address;
use souk_domain::shipment::{Parcel, ShipmentStatus};
use souk_domain::{CountryCode, Currency};
use souk_shipping::carrier::easypost::EasyPost;
use souk_shipping::carrier::{Carrier, CarrierError, RateRequest, WebhookError};
use souk_tests::easypost_double::{BuyFault, EasyPostDouble, tracker_event};

const KEY: &str = "EZTK_test_double";
const WEBHOOK_SECRET: &str = "whsec_double";

fn address(city: &str, country: &str) -> Address {
    Address {
        name: "Ada Lovelace".into(),
        line1: "1 Main St".into(),
        line2: None,
        city: city.into(),
        postal_code: "89501".into(),
        country: CountryCode::parse(country).unwrap(),
    }
}

fn request(reference: &str) -> RateRequest {
    RateRequest {
        reference: reference.into(),
        from: address("Reno", "US"),
        to: address("Boston", "US"),
        parcel: Parcel::new(900, 250, 200, 100).unwrap(),
        currency: Currency::USD,
    }
}

fn client(double: &EasyPostDouble, key: &str, timeout: Duration) -> EasyPost {
    EasyPost::new(
        &double.url(),
        SecretString::from(key.to_string()),
        &SecretString::from(WEBHOOK_SECRET.to_string()),
        timeout,
    )
    .unwrap()
}

fn reference() -> String {
    uuid::Uuid::now_v7().to_string()
}

#[tokio::test]
async fn easypost_rates_are_money_and_a_label_is_bought_once() {
    let double = EasyPostDouble::start(KEY).await.unwrap();
    let easypost = client(&double, KEY, Duration::from_secs(5));
    let r = reference();
    let quote = easypost.quote(&request(&r)).await.unwrap();
    assert!(quote.carrier_shipment.starts_with("shp_"));
    assert_eq!(quote.rates.len(), 3);
    // 900 g = 31.8 oz → 32 started ounces: 7.47 + 32 × 0.09 = 10.35 USD.
    let priority = quote
        .rates
        .iter()
        .find(|r| r.service == "Priority")
        .unwrap();
    assert_eq!(priority.price.amount, 1_035);
    assert_eq!(priority.price.currency, Currency::USD);
    assert_eq!(priority.delivery_days, Some(2));

    let label = easypost
        .buy(&quote.carrier_shipment, &priority.id)
        .await
        .unwrap();
    assert_eq!(label.rate_id, priority.id);
    assert!(label.label_url.starts_with("https://"));
    assert!(
        label
            .tracking_url
            .as_deref()
            .is_some_and(|u| u.contains(&label.tracking_code))
    );
    // Buying again (a retried step) is answered with the same label, and buys nothing.
    let again = easypost
        .buy(&quote.carrier_shipment, &priority.id)
        .await
        .unwrap();
    assert_eq!(again, label);
    assert_eq!(double.purchases(&r), 1);
    easypost.void(&quote.carrier_shipment).await.unwrap();
}

#[tokio::test]
async fn a_buy_that_fails_or_times_out_is_retried_into_exactly_one_label() {
    let double = EasyPostDouble::start(KEY).await.unwrap();
    let easypost = client(&double, KEY, Duration::from_millis(700));
    for fault in [
        BuyFault::FailBefore,
        BuyFault::FailAfter,
        BuyFault::Delay(Duration::from_secs(2)),
    ] {
        let r = reference();
        let quote = easypost.quote(&request(&r)).await.unwrap();
        let rate = &quote.rates[0].id;
        double.fault_next_buy(&r, fault);
        let first = easypost.buy(&quote.carrier_shipment, rate).await;
        assert!(
            matches!(first, Err(CarrierError::Unavailable(_))),
            "{fault:?}: {first:?}"
        );
        if let BuyFault::Delay(d) = fault {
            tokio::time::sleep(d).await;
        }
        let label = easypost.buy(&quote.carrier_shipment, rate).await.unwrap();
        assert_eq!(label.rate_id, *rate);
        assert_eq!(
            double.purchases(&r),
            1,
            "{fault:?}: one label at the carrier"
        );
    }
}

#[tokio::test]
async fn easypost_errors_say_whether_to_try_again() {
    let double = EasyPostDouble::start(KEY).await.unwrap();
    // A refused key: the operator fixes it, then a retry works.
    let wrong_key = client(&double, "EZTK_wrong", Duration::from_secs(5));
    let refused = wrong_key.quote(&request(&reference())).await;
    assert!(
        matches!(refused, Err(CarrierError::Unavailable(ref m)) if m.contains("401")),
        "{refused:?}"
    );
    // A request EasyPost refuses for good.
    let easypost = client(&double, KEY, Duration::from_secs(5));
    let r = reference();
    let quote = easypost.quote(&request(&r)).await.unwrap();
    let bad_rate = easypost.buy(&quote.carrier_shipment, "rate_nope").await;
    assert!(
        matches!(bad_rate, Err(CarrierError::Rejected { ref code, .. }) if code == "SHIPMENT.RATE.INVALID"),
        "{bad_rate:?}"
    );
    let unknown = easypost.buy("shp_unknown", "rate_nope").await;
    assert!(
        matches!(unknown, Err(CarrierError::Rejected { ref code, .. }) if code == "NOT_FOUND"),
        "{unknown:?}"
    );
    assert_eq!(double.purchases(&r), 0);
    // Nobody listening.
    let nowhere = EasyPost::new(
        "http://127.0.0.1:9",
        SecretString::from(KEY.to_string()),
        &SecretString::from(WEBHOOK_SECRET.to_string()),
        Duration::from_millis(500),
    )
    .unwrap();
    assert!(matches!(
        nowhere.quote(&request(&r)).await,
        Err(CarrierError::Unavailable(_))
    ));
}

#[tokio::test]
async fn an_easypost_webhook_is_verified_before_it_is_read() {
    let double = EasyPostDouble::start(KEY).await.unwrap();
    let easypost = client(&double, KEY, Duration::from_secs(5));
    let (body, header) = tracker_event(
        WEBHOOK_SECRET,
        "evt_1",
        "9400100000000000000001",
        "out_for_delivery",
        "2026-12-01T11:00:00Z",
    );
    let updates = easypost.parse_webhook(&[header], &body).unwrap();
    assert_eq!(updates[0].event_id, "evt_1");
    assert_eq!(updates[0].status, Some(ShipmentStatus::OutForDelivery));
    assert_eq!(updates[0].location.as_deref(), Some("Reno, NV, US"));
    let (_, forged) = tracker_event(
        "another",
        "evt_1",
        "9400",
        "delivered",
        "2026-12-01T11:00:00Z",
    );
    assert_eq!(
        easypost.parse_webhook(&[forged], &body),
        Err(WebhookError::Signature)
    );
}
