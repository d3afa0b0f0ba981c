//! The files a newcomer or an operator starts from must agree with the code: every
//! `SOUK_*` variable that `docker-compose.temporal.yml` or `./dev` sets names a real setting.

use std::collections::BTreeSet;

use config::{Config, File, FileFormat, Value, ValueKind};

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{ROOT}/{path}")).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn collect_souk_keys(v: &Value, out: &mut BTreeSet<String>) {
    match &v.kind {
        ValueKind::Table(t) => {
            for (k, child) in t {
                if k.to_ascii_uppercase().starts_with("SOUK_") {
                    out.insert(k.to_ascii_uppercase());
                }
                collect_souk_keys(child, out);
            }
        }
        ValueKind::Array(a) => a.iter().for_each(|c| collect_souk_keys(c, out)),
        _ => {}
    }
}

/// `SOUK_SERVICES__CART__URL` → `services.cart.url`, which must exist in the defaults.
fn assert_names_a_setting(var: &str, defaults: &Config, source: &str) {
    let path = var["SOUK_".len()..].to_ascii_lowercase().replace("__", ".");
    assert!(
        defaults.get::<Value>(&path).is_ok(),
        "{source} sets {var}, but there is no setting `{path}` in workers/src/defaults.toml"
    );
}

fn defaults() -> Config {
    Config::builder()
        .add_source(File::from_str(
            &read("workers/src/defaults.toml"),
            FileFormat::Toml,
        ))
        .build()
        .expect("defaults.toml parses")
}

#[test]
fn the_compose_file_parses_and_names_real_settings() {
    let compose = Config::builder()
        .add_source(File::from_str(
            &read("docker-compose.temporal.yml"),
            FileFormat::Yaml,
        ))
        .build()
        .expect("docker-compose.temporal.yml is valid YAML");
    let services = compose.get_table("services").expect("a services section");
    let domains = souk_workers::registry::DOMAINS.iter().map(|d| d.name());
    for name in [
        "temporal",
        "temporal-ui",
        "postgres",
        "redis",
        "migrate",
        "workflows",
        "api",
    ]
    .into_iter()
    .chain(domains)
    {
        assert!(services.contains_key(name), "service {name} missing");
    }
    let mut vars = BTreeSet::new();
    collect_souk_keys(&compose.cache, &mut vars);
    assert!(vars.len() >= 10, "{vars:?}");
    let defaults = defaults();
    for var in &vars {
        assert_names_a_setting(var, &defaults, "docker-compose.temporal.yml");
    }
}

#[test]
fn the_dev_script_names_real_settings() {
    let script = read("dev");
    let defaults = defaults();
    let vars: Vec<&str> = script
        .lines()
        .filter_map(|l| l.trim().strip_prefix("export SOUK_"))
        .filter_map(|rest| rest.split('=').next())
        // SOUK_TEST_* tell the test harness where its servers are; they are not settings.
        .filter(|v| !v.starts_with("TEST_"))
        .collect();
    assert!(vars.len() >= 4, "{vars:?}");
    for v in vars {
        assert_names_a_setting(&format!("SOUK_{v}"), &defaults, "./dev");
    }
}
