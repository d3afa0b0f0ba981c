//! Every domain Souk runs, in the order they are migrated and started. Adding a domain: its
//! crate under `activities/`, one line here (and its dependency in this crate's manifest),
//! `migrations/<name>/`, and `[services.<name>]` in `defaults.toml`.

use souk_kit::domain::Domain;

pub static DOMAINS: &[&dyn Domain] = &[
    &souk_catalog::DOMAIN,
    &souk_inventory::DOMAIN,
    &souk_pricing::DOMAIN,
    &souk_cart::DOMAIN,
    &souk_vendors::DOMAIN,
    &souk_orders::DOMAIN,
    &souk_payments::DOMAIN,
    &souk_notifications::DOMAIN,
    &souk_auth::DOMAIN,
    &souk_users::DOMAIN,
    &souk_shipping::DOMAIN,
    &souk_returns::DOMAIN,
    &souk_ledger::DOMAIN,
];

/// The domain called `name`.
pub fn find(name: &str) -> Option<&'static dyn Domain> {
    DOMAINS.iter().copied().find(|d| d.name() == name)
}

/// The names of every domain, for messages.
pub fn names() -> String {
    DOMAINS
        .iter()
        .map(|d| d.name())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_domain_has_a_name_and_a_schema_of_its_own() {
        let mut names: Vec<_> = DOMAINS.iter().map(|d| d.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), DOMAINS.len(), "two domains share a name");
        for d in DOMAINS {
            assert_eq!(
                d.schema().name(),
                d.name(),
                "{} owns its own schema",
                d.name()
            );
        }
        assert_eq!(find("inventory").map(|d| d.name()), Some("inventory"));
        assert!(find("nothing").is_none());
    }
}
