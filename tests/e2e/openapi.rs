//! The OpenAPI document is a contract generated clients rely on: a property-based run of
//! schemathesis (`tests/openapi/schemathesis.toml`) sends requests generated from
//! `/openapi.json` to every operation, signed in as a customer, a vendor admin and an
//! operator, and fails on any server error, any status the document does not give, any body
//! or content type other than documented, a schema-valid request refused or a
//! schema-violating one accepted. It runs on a stack of its own.

use std::process::Command;

use souk_tests::fixtures::{self, VariantSpec};
use souk_tests::{account_on, contract_app};

/// The generator's seed: fixed, so a run is repeatable and a red one reproduces;
/// `SOUK_CONTRACT_SEED=random` explores with a new seed each run (the output names it).
fn seed() -> Option<String> {
    match std::env::var("SOUK_CONTRACT_SEED") {
        Ok(s) if s == "random" => None,
        Ok(s) => Some(s),
        Err(_) => Some("20261201".into()),
    }
}

/// Runs schemathesis with `args` after the common ones; its output, and whether it passed.
fn schemathesis(api: &str, tokens: &[(&str, &str)], args: &[&str]) -> (bool, String) {
    let bin = std::env::var("SOUK_TEST_SCHEMATHESIS").expect(
        "SOUK_TEST_SCHEMATHESIS is not set: run the tests with `./dev test`, which installs schemathesis",
    );
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi");
    // Hypothesis keeps its files in the working directory: a scratch one, not the tree.
    let scratch = std::env::temp_dir().join(format!("souk-contract-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).expect("a scratch directory");
    let mut cmd = Command::new(bin);
    cmd.current_dir(&scratch)
        .env("SCHEMATHESIS_HOOKS", "hooks")
        .env("PYTHONPATH", dir)
        .envs(tokens.iter().copied())
        .args(["--no-color", "--config-file"])
        .arg(format!("{dir}/schemathesis.toml"))
        .arg("run")
        .arg(format!("{api}/openapi.json"))
        .args(["--checks", "all", "--generation-database", "none"]);
    if let Some(seed) = seed() {
        cmd.args(["--seed", &seed]);
    }
    let out = cmd.args(args).output().expect("schemathesis runs");
    let _ = std::fs::remove_dir_all(&scratch);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread")]
async fn every_operation_answers_as_the_openapi_document_says() {
    let stack = contract_app();
    let db = stack.db().await;
    fixtures::world(&db).await;
    let product = fixtures::product(&db, &[VariantSpec::new(1_500, 20, 20)]).await;
    let (_, customer) = account_on(stack, &["customer"], None).await;
    let (_, vendor) = account_on(stack, &["vendor_admin"], Some(product.vendor_id)).await;
    let tokens = [
        ("SOUK_CUSTOMER_TOKEN", customer.token().unwrap()),
        ("SOUK_VENDOR_TOKEN", vendor.token().unwrap()),
        ("SOUK_OPERATOR_TOKEN", stack.operator_token.as_str()),
    ];
    // Generated requests to the user operations block accounts and take roles away, among
    // them the customer's and the vendor's (their ids are in answers): those run last, on
    // their own, so every other operation is reached signed in.
    let users = "^/v1/admin/users/";
    let (passed, text) = schemathesis(&stack.api, &tokens, &["--exclude-path-regex", users]);
    assert!(
        passed,
        "the API does not answer as its document says:\n{text}"
    );
    assert!(
        text.contains(" passed"),
        "schemathesis ran nothing:\n{text}"
    );
    let (passed, text) = schemathesis(&stack.api, &tokens, &["--include-path-regex", users]);
    assert!(
        passed,
        "the user operations do not answer as documented:\n{text}"
    );
}
