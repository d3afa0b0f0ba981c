//! Schemas of the parameters and fields the API checks, so the OpenAPI document states the
//! same constraints the handlers and services enforce. Each names the rule it mirrors; where
//! the rule is wider than a pattern can say simply, the pattern is the stricter, common form.

use serde::Deserialize;
use utoipa::ToSchema;

/// One line of text (`souk_domain::text::line`): no line breaks, control or invisible
/// characters, no `<` or `>`, no space at either end.
const LINE: &str = r"^[^\s<>\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff](?:[^<>\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]*[^\s<>\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff])?$";
/// Text of several lines (`souk_domain::text::paragraphs`): like [`LINE`], but line breaks
/// (LF) and tabs are taken inside it.
const PARAGRAPHS: &str = r"^[^\s<>\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff](?:[^<>\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]*[^\s<>\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff])?$";

/// [`LINE`] of at most `n` characters, or empty or spaces only (taken as none): the length
/// is in the pattern, since spaces of any number are taken.
macro_rules! optional_line {
    ($inner:literal) => {
        concat!(r"^(?: *|[^\s<>\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff](?:[^<>\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]{0,", $inner, r"}[^\s<>\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff])?)$")
    };
}

/// A string schema of its own, by hand: `#[schema]` cannot put lengths on a newtype.
macro_rules! text {
    ($(#[$doc:meta])* $name:ident, $min:expr, $max:expr, $pattern:expr) => {
        $(#[$doc])*
        #[derive(Debug, Deserialize)]
        pub struct $name(pub String);

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .min_length($min)
                    .max_length($max)
                    .pattern(Some($pattern))
                    .into()
            }
        }

        impl ToSchema for $name {}
    };
}

text!(
    /// A line of 1 to 20 characters.
    Line20, None, Some(20), LINE
);
text!(
    /// A line of 1 to 100 characters.
    Line100, None, Some(100), LINE
);
text!(
    /// A line of 1 to 200 characters.
    Line200, None, Some(200), LINE
);
text!(
    /// A line of 1 to 500 characters.
    Line500, None, Some(500), LINE
);
text!(
    /// A UUID, or empty for none.
    OptUuid, None, None, r"^(?:[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12})?$"
);
text!(
    /// Text of 1 to 20,000 characters, line breaks and tabs taken.
    Paragraphs20000, None, Some(20_000), PARAGRAPHS
);
text!(
    /// A line of at most 40 characters, or empty (none).
    OptLine40, None, None, optional_line!("38")
);
text!(
    /// A line of at most 200 characters, or empty (none).
    OptLine200, None, None, optional_line!("198")
);
text!(
    /// An e-mail address (`souk_domain::text::Email`): one mailbox, `local@domain`. The
    /// server also takes letters of other scripts and more dots before the `@` (up to 64
    /// bytes); this is the common ASCII form.
    EmailText, Some(3), Some(254), r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,32}(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,31})?@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"
);
text!(
    /// An ISO 3166-1 alpha-2 country code.
    CountryText, Some(2), Some(2), r"^[A-Za-z]{2}$"
);
text!(
    /// A BCP 47 language tag (`en-GB`), or empty for none.
    OptLocale, None, None, r"^(?: *|[A-Za-z0-9]{1,8}(?:-[A-Za-z0-9]{1,8}){0,3})$"
);
text!(
    /// A country code, or empty for the default.
    OptCountryText, None, Some(2), r"^(?:[A-Za-z]{2})?$"
);
text!(
    /// A phone number in international form, `+` and 7 to 15 digits, or empty (none).
    OptPhoneText, None, None, r"^(?: *|\+[0-9]{7,15})$"
);
text!(
    /// A SKU: 1 to 64 letters, digits, `-`, `_` or `.` (`souk_domain::Sku`).
    SkuParam, Some(1), Some(64), r"^[A-Za-z0-9._-]{1,64}$"
);
text!(
    /// Bytes as standard base64, with padding.
    Base64, None, None, r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"
);

/// An ISO 4217 currency with minor units (`souk_domain::Currency`).
#[derive(Debug, Deserialize)]
pub struct CurrencyCode(pub String);

impl utoipa::PartialSchema for CurrencyCode {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .enum_values(Some(
                souk_domain::Currency::all()
                    .iter()
                    .map(|c| c.code().to_string()),
            ))
            .examples(["USD"])
            .into()
    }
}

impl ToSchema for CurrencyCode {}

/// A currency in a query: [`CurrencyCode`], or empty for the store's.
#[derive(Debug, Deserialize)]
pub struct OptCurrencyCode(pub String);

impl utoipa::PartialSchema for OptCurrencyCode {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        let codes = souk_domain::Currency::all()
            .iter()
            .map(|c| c.code().to_string());
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .enum_values(Some(std::iter::once(String::new()).chain(codes)))
            .examples(["USD"])
            .into()
    }
}

impl ToSchema for OptCurrencyCode {}

/// The `Idempotency-Key` of a request that must not be done twice.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
pub struct IdempotencyKey {
    /// Chosen by the client, at most 255 characters; retry with the same value.
    #[serde(rename = "Idempotency-Key")]
    #[param(min_length = 1, max_length = 255, pattern = r"^[!-~]+$")]
    pub key: String,
}

/// A product's status (`souk_domain::catalog::ProductStatus`).
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProductStatusName {
    Draft,
    Active,
    Archived,
}

/// A role (`souk_domain::identity::Role`).
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RoleName {
    Customer,
    VendorAdmin,
    Staff,
    SuperAdmin,
}

#[cfg(test)]
mod tests {
    use super::*;
    use souk_domain::identity::Role;

    #[test]
    fn the_documented_roles_are_the_domain_roles() {
        let documented: Vec<String> = [
            RoleName::Customer,
            RoleName::VendorAdmin,
            RoleName::Staff,
            RoleName::SuperAdmin,
        ]
        .iter()
        .map(|r| serde_json::to_value(format!("{r:?}")).unwrap().to_string())
        .collect();
        let schema = serde_json::to_value(<RoleName as utoipa::PartialSchema>::schema()).unwrap();
        let names: Vec<&str> = schema["enum"]
            .as_array()
            .expect("an enum")
            .iter()
            .filter_map(|v| v.as_str())
            .collect();
        assert_eq!(documented.len(), Role::ALL.len());
        assert_eq!(names, Role::ALL.map(Role::as_str));
    }

    #[test]
    fn the_sku_pattern_is_the_domain_rule() {
        let schema = serde_json::to_value(<SkuParam as utoipa::PartialSchema>::schema()).unwrap();
        let pattern = schema["pattern"].as_str().expect("a pattern");
        assert_eq!(pattern, r"^[A-Za-z0-9._-]{1,64}$");
        for (sku, ok) in [
            ("AT-050-S", true),
            ("a.b_c", true),
            ("", false),
            ("a b", false),
        ] {
            assert_eq!(souk_domain::Sku::parse(sku).is_ok(), ok, "{sku}");
        }
        assert!(souk_domain::Sku::parse(&"x".repeat(64)).is_ok());
        assert!(souk_domain::Sku::parse(&"x".repeat(65)).is_err());
    }
}
