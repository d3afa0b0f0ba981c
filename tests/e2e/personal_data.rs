//! Personal data in Temporal: every payload of a checkout's history (input, activity inputs
//! and results, memo) is ciphertext for the Temporal server and whoever reads its database;
//! staff read it decoded through the API's codec endpoint, as the Web UI and the CLI do.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use souk_tests::{Http, account, admin_token, app, unique};
use temporalio_client::{
    Client, ClientOptions, ConnectionOptions, Url, WorkflowDescribeOptions,
    WorkflowFetchHistoryOptions,
};

use crate::checkout_support::*;

/// A client without Souk's codec: what the Temporal server keeps, as is.
async fn raw_client() -> Client {
    Client::connect(
        ConnectionOptions::new(Url::parse(&app().temporal_address).unwrap()).build(),
        ClientOptions::new(app().namespace.clone()).build(),
    )
    .await
    .unwrap()
}

/// The data of every payload in `v` that is not encrypted, outside search attributes.
fn readable_payloads(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if let (Some(meta), Some(data)) =
                (m.get("metadata"), m.get("data").and_then(Value::as_str))
            {
                let encrypted = meta["encoding"].as_str()
                    == Some(&STANDARD.encode(souk_contracts::codec::ENCODING));
                if !encrypted {
                    out.push(
                        String::from_utf8_lossy(&STANDARD.decode(data).unwrap_or_default())
                            .to_string(),
                    );
                }
                return;
            }
            for (k, child) in m {
                if k == "searchAttributes" || k == "search_attributes" {
                    continue;
                }
                readable_payloads(child, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|c| readable_payloads(c, out)),
        _ => {}
    }
}

/// The first payload in a history event (the started event's input).
fn first_payload(v: &Value) -> Option<&Value> {
    match v {
        Value::Object(m) => m
            .get("payloads")
            .and_then(|p| p.get(0))
            .or_else(|| m.values().find_map(first_payload)),
        Value::Array(a) => a.iter().find_map(first_payload),
        _ => None,
    }
}

/// A completed guest checkout; its id and what identifies the buyer.
async fn checkout() -> (String, String) {
    let db = app().db().await;
    let (a, _, _) = two_vendors(&db).await;
    let email = format!("private-{}@example.com", unique().to_lowercase());
    let http = Http::new();
    let cart = cart_with(&http, &[(&a.skus[0], 1)]).await;
    let r = start(
        &http,
        &unique(),
        checkout_body(&cart, &email, "pm_card_visa"),
    )
    .await;
    let id = r.body["checkout_id"].as_str().unwrap().to_string();
    assert_eq!(ended(&http, &id).await["state"], "completed");
    (id, email)
}

#[tokio::test]
async fn a_checkouts_history_holds_ciphertext_and_staff_read_it_decoded() {
    let (id, email) = checkout().await;
    let raw = raw_client().await;
    let handle = raw.get_workflow_handle::<souk_workflows::CheckoutWorkflow>(id.clone());
    let history = String::from_utf8(
        handle
            .fetch_history(WorkflowFetchHistoryOptions::default())
            .to_json()
            .await
            .unwrap(),
    )
    .unwrap();
    // Every payload that is not ciphertext (search attributes aside, which are business keys
    // and the documented lower-cased address), decoded, and the rest of the history as text.
    let v: Value = serde_json::from_str(&history).unwrap();
    let mut plain = Vec::new();
    readable_payloads(&v, &mut plain);
    assert!(!plain.is_empty(), "the summary at least is plain");
    for secret in [
        email.as_str(),
        "Ada Lovelace",
        "Analytical Row",
        "pm_card_visa",
        "private-",
    ] {
        assert!(!history.contains(secret), "{secret} is in the history");
        for p in &plain {
            assert!(
                !p.contains(secret),
                "{secret} is in a readable payload: {p}"
            );
        }
    }
    assert!(history.contains(&STANDARD.encode(souk_contracts::codec::ENCODING)));
    // Support still finds it: the search attribute is the (lower-cased) address, and the
    // summary names the cart only.
    let d = handle
        .describe(WorkflowDescribeOptions::default())
        .await
        .unwrap();
    let sa = d.search_attributes();
    assert_eq!(
        sa.get(&souk_workflows::checkout::CUSTOMER_EMAIL),
        Some(email.clone())
    );
    assert!(!d.static_summary().unwrap_or_default().contains(&email));

    // The input, as the Web UI asks the codec for it.
    let v: Value = serde_json::from_str(&history).unwrap();
    let input = first_payload(&v["events"][0]).expect("the input payload");
    let request = json!({"payloads": [{"metadata": input["metadata"], "data": input["data"]}]});
    let ops = Http::new().with_token(admin_token());
    let r = ops.post("/v1/admin/codec/decode", request.clone()).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let decoded = &r.body["payloads"][0];
    assert_eq!(
        STANDARD
            .decode(decoded["metadata"]["encoding"].as_str().unwrap())
            .unwrap(),
        b"json/plain"
    );
    let data: Value =
        serde_json::from_slice(&STANDARD.decode(decoded["data"].as_str().unwrap()).unwrap())
            .unwrap();
    assert_eq!(data["email"], email.as_str());
    assert_eq!(data["shipping_address"]["name"], "Ada Lovelace");
    // And back: what the codec encrypts, it decrypts.
    let r = ops
        .post("/v1/admin/codec/encode", json!({"payloads": [decoded]}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let again = ops.post("/v1/admin/codec/decode", r.body.clone()).await;
    assert_eq!(again.body["payloads"][0], *decoded);

    // An empty list comes as `{}` in protobuf JSON, as the Temporal CLI sends it.
    let r = ops.post("/v1/admin/codec/decode", json!({})).await;
    assert_eq!(
        (r.status, &r.body),
        (200, &json!({"payloads": []})),
        "{}",
        r.text
    );

    // Only staff with a second factor.
    let r = Http::new()
        .post("/v1/admin/codec/decode", request.clone())
        .await;
    assert_eq!(r.status, 401, "{}", r.text);
    let (_, customer) = account(&["customer"], None).await;
    let r = customer
        .post("/v1/admin/codec/decode", request.clone())
        .await;
    assert_eq!((r.status, r.code()), (403, "forbidden"), "{}", r.text);
    let (_, staff) = account(&["staff"], None).await;
    let r = staff.post("/v1/admin/codec/decode", request.clone()).await;
    assert_eq!((r.status, r.code()), (403, "mfa_required"), "{}", r.text);
    let r = ops
        .post(
            "/v1/admin/codec/decode",
            json!({"payloads": [{"metadata": {"encoding": "not base64!"}, "data": ""}]}),
        )
        .await;
    assert_eq!((r.status, r.code()), (422, "invalid_payload"), "{}", r.text);
}

#[tokio::test]
async fn the_web_ui_reads_payloads_with_a_codec_session_cookie() {
    let (id, email) = checkout().await;
    let ui = app().config.temporal.ui_origin.clone();
    let client = reqwest::Client::new();
    // The Web UI asks first (a preflight), with credentials.
    let pre = client
        .request(
            reqwest::Method::OPTIONS,
            app().url("/v1/admin/codec/decode"),
        )
        .header("origin", &ui)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type,x-namespace")
        .send()
        .await
        .unwrap();
    assert_eq!(pre.headers()["access-control-allow-origin"], ui.as_str());
    assert_eq!(pre.headers()["access-control-allow-credentials"], "true");

    let r = Http::new()
        .with_token(admin_token())
        .post("/v1/admin/codec/session", json!({}))
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let cookie = r.headers["set-cookie"].to_str().unwrap().to_string();
    for attr in [
        "Path=/v1/admin/codec",
        "HttpOnly",
        "SameSite=Strict",
        "Max-Age=",
    ] {
        assert!(cookie.contains(attr), "{attr} in {cookie}");
    }
    let pair = cookie.split(';').next().unwrap().to_string();

    let history = String::from_utf8(
        raw_client()
            .await
            .get_workflow_handle::<souk_workflows::CheckoutWorkflow>(id)
            .fetch_history(WorkflowFetchHistoryOptions::default())
            .to_json()
            .await
            .unwrap(),
    )
    .unwrap();
    let v: Value = serde_json::from_str(&history).unwrap();
    let input = first_payload(&v["events"][0]).expect("the input payload");
    let decode = |cookie: Option<String>| {
        let mut req = client
            .post(app().url("/v1/admin/codec/decode"))
            .header("origin", &ui)
            .header("x-namespace", &app().namespace)
            .json(&json!({"payloads": [input]}));
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        req.send()
    };
    let r = decode(Some(pair.clone())).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["access-control-allow-credentials"], "true");
    let body: Value = r.json().await.unwrap();
    let data = STANDARD
        .decode(body["payloads"][0]["data"].as_str().unwrap())
        .unwrap();
    assert!(String::from_utf8_lossy(&data).contains(&email));
    // The cookie opens the codec only.
    let r = Http::new()
        .send(
            Http::new()
                .request(reqwest::Method::GET, "/v1/admin/inventory/alerts")
                .header("cookie", pair),
        )
        .await;
    assert_eq!(r.status, 401, "{}", r.text);
    assert_eq!(decode(None).await.unwrap().status(), 401);
}

#[tokio::test]
async fn the_temporal_cli_shows_a_history_decoded_through_the_codec_endpoint() {
    let (id, email) = checkout().await;
    let cli = std::env::var("SOUK_TEST_TEMPORAL_BIN").expect("run with ./dev test");
    let address = app()
        .temporal_address
        .trim_start_matches("http://")
        .to_string();
    let show = |codec: bool| {
        let mut cmd = tokio::process::Command::new(&cli);
        cmd.args([
            "workflow",
            "show",
            "--workflow-id",
            &id,
            "--address",
            &address,
            "--namespace",
            &app().namespace,
            "--output",
            "json",
        ]);
        if codec {
            cmd.args([
                "--codec-endpoint",
                &app().url("/v1/admin/codec"),
                "--codec-auth",
                &format!("Bearer {}", admin_token()),
            ]);
        }
        cmd.output()
    };
    // `--output json` shows payloads as protobuf JSON: the input's data is base64.
    let input_of = |out: &[u8]| -> String {
        let v: Value = serde_json::from_slice(out).expect("JSON from the CLI");
        let p = first_payload(&v["events"][0]).expect("the input payload");
        String::from_utf8_lossy(&STANDARD.decode(p["data"].as_str().unwrap()).unwrap()).to_string()
    };
    let plain = show(false).await.unwrap();
    assert!(
        plain.status.success(),
        "{}",
        String::from_utf8_lossy(&plain.stderr)
    );
    assert!(!input_of(&plain.stdout).contains(&email));
    let decoded = show(true).await.unwrap();
    assert!(
        decoded.status.success(),
        "{}",
        String::from_utf8_lossy(&decoded.stderr)
    );
    let input = input_of(&decoded.stdout);
    assert!(input.contains(&email), "{input}");
}
