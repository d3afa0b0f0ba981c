//! Schemas of the parameters and fields the API checks, so the OpenAPI document states the
//! same constraints the handlers and services enforce. Each names the rule it mirrors; where
//! the rule is wider than a pattern can say simply, the pattern is the stricter, common form.

use serde::Deserialize;
use utoipa::ToSchema;

// Free text (`souk_domain::text`) refuses `<` and `>`, C1 controls and invisible or
// direction-changing characters anywhere; C0 controls too (a paragraph takes tab and LF); and
// it is trimmed, so a pattern's first and last characters are not spaces.
macro_rules! refused {
    () => {
        r"<>\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff"
    };
}
macro_rules! edge {
    () => {
        concat!(r"[^\s\x00-\x1f", refused!(), "]")
    };
}
macro_rules! inside_line {
    () => {
        concat!(r"[^\x00-\x1f", refused!(), "]")
    };
}

/// One line of text (`souk_domain::text::line`): no line breaks, control or invisible
/// characters, no `<` or `>`, no space at either end.
const LINE: &str = concat!("^", edge!(), "(?:", inside_line!(), "*", edge!(), ")?$");
/// Text of several lines (`souk_domain::text::paragraphs`): like [`LINE`], but line breaks
/// (LF) and tabs are taken inside it.
const PARAGRAPHS: &str = concat!(
    "^",
    edge!(),
    "(?:",
    concat!(r"[^\x00-\x08\x0b-\x1f", refused!(), "]"),
    "*",
    edge!(),
    ")?$"
);

/// [`LINE`] of at most `$inner + 2` characters, or empty or spaces only (taken as none): the
/// length is in the pattern, since spaces of any number are taken.
macro_rules! optional_line {
    ($inner:literal) => {
        concat!(
            "^(?: *|",
            edge!(),
            "(?:",
            inside_line!(),
            "{0,",
            $inner,
            "}",
            edge!(),
            ")?)$"
        )
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
    /// A SKU ([`SkuParam`]), or empty for every SKU.
    OptSkuParam, None, Some(64), r"^[A-Za-z0-9._-]{0,64}$"
);
text!(
    /// A product slug: 1 to 200 lower case letters, digits and `-` (`souk_domain::catalog::is_slug`).
    SlugParam, Some(1), Some(200), r"^[a-z0-9-]{1,200}$"
);
text!(
    /// A category's slug or id (`souk_domain::catalog::is_slug`), or empty for every category.
    OptCategoryKey, None, Some(200), r"^[a-z0-9-]{0,200}$"
);
text!(
    /// An order number (`souk_domain::order::is_order_no`): `SK-` and 6 to 19 digits.
    OrderNoParam, Some(9), Some(22), r"^SK-[0-9]{6,19}$"
);
text!(
    /// A warehouse code (`souk_domain::stock::is_warehouse_code`): 1 to 32 letters, digits, `_` or `-`.
    WarehouseParam, Some(1), Some(32), r"^[A-Za-z0-9_-]{1,32}$"
);
text!(
    /// An audit event name (`souk_domain::identity::is_audit_event`), or empty for every event.
    OptAuditEvent, None, Some(64), r"^[a-z_.]{0,64}$"
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

/// The `Idempotency-Key` of a request that must not be done twice: the document's header
/// parameter (the handler reads the header itself, to answer its own error codes).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
pub struct IdempotencyKey {
    /// Chosen by the client, at most 255 characters; retry with the same value.
    #[serde(rename = "Idempotency-Key")]
    #[param(min_length = 1, max_length = 255, pattern = r"^[!-~]+$")]
    pub key: String,
}

/// An `Idempotency-Key` a request may carry: the same key again answers what the first
/// request did.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
pub struct OptionalIdempotencyKey {
    /// Chosen by the client, 1 to 255 visible ASCII characters; retry with the same value.
    #[serde(rename = "Idempotency-Key")]
    #[param(min_length = 1, max_length = 255, pattern = r"^[!-~]+$")]
    pub key: Option<String>,
}

/// The request's `Idempotency-Key` header: 400 `idempotency_key_required` without one,
/// `invalid_idempotency_key` if longer than 255 characters.
pub fn idempotency_key(headers: &axum::http::HeaderMap) -> crate::error::ApiResult<String> {
    use crate::error::ApiError;
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .ok_or_else(|| {
            ApiError::bad_request("idempotency_key_required", "send an Idempotency-Key header")
        })?;
    if key.len() > 255 {
        return Err(ApiError::bad_request(
            "invalid_idempotency_key",
            "Idempotency-Key must be at most 255 characters",
        ));
    }
    Ok(key.to_string())
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
    use souk_domain::text;

    fn pattern<T: utoipa::PartialSchema>() -> regex::Regex {
        let schema = serde_json::to_value(T::schema()).unwrap();
        regex::Regex::new(schema["pattern"].as_str().expect("a pattern")).expect("a regex")
    }

    fn names<T: utoipa::PartialSchema>() -> Vec<String> {
        let schema = serde_json::to_value(T::schema()).unwrap();
        schema["enum"]
            .as_array()
            .expect("an enum")
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    }

    /// Text with what free text refuses and what it takes, at the ends and inside.
    fn samples() -> Vec<String> {
        let mut all: Vec<String> = [
            "Ada Lovelace",
            "12 Analytical Row",
            "Zürich",
            "東京都",
            "O'Brien & Sons",
            "a",
            "",
            " ",
            "  ",
            " a",
            "a ",
            "a<b",
            "a>b",
            "a\tb",
            "a\nb",
            "a\rb",
            "\u{200b}a",
            "a\u{2028}b",
            "a\u{202e}b",
            "a\u{85}b",
            "\u{a0}a",
            "a\u{feff}",
            "a\u{1}b",
            "a b  c",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        all.push("x".repeat(200));
        all.push("x".repeat(201));
        all
    }

    /// What the document allows, the server takes (the reverse holds for the common forms).
    #[test]
    fn the_text_patterns_allow_only_what_the_text_rules_take() {
        let line = pattern::<Line200>();
        let paragraphs = pattern::<Paragraphs20000>();
        for s in samples() {
            let allowed = line.is_match(&s) && s.chars().count() <= 200;
            assert!(!allowed || text::line(&s, 200).is_ok(), "{s:?}");
            assert!(
                !paragraphs.is_match(&s) || text::paragraphs(&s, 20_000).is_ok(),
                "{s:?}"
            );
        }
        for s in ["Ada Lovelace", "Zürich", "東京都", "O'Brien & Sons"] {
            assert!(line.is_match(s), "{s:?}");
        }
        assert!(paragraphs.is_match("Warm.\n\n\tMade to last."));
        let optional = pattern::<OptLine40>();
        assert!(optional.is_match("") && optional.is_match("   "));
        assert!(optional.is_match(&"x".repeat(40)) && !optional.is_match(&"x".repeat(41)));
    }

    #[test]
    fn the_email_pattern_allows_only_addresses_the_parser_takes() {
        let email = pattern::<EmailText>();
        for s in [
            "ada@example.com",
            "a.b+c@mail.example.co",
            "x@y.io",
            "a..b@example.com",
            "a@b",
            "a@-b.com",
            "a@b.c0m",
            "@example.com",
            "a@@b.com",
            "ädä@example.com",
            "a b@example.com",
            "a@b.c",
        ] {
            assert!(!email.is_match(s) || text::Email::parse(s).is_ok(), "{s:?}");
        }
        assert!(email.is_match("ada@example.com"));
    }

    #[test]
    fn the_sku_pattern_is_the_domain_rule() {
        let sku = pattern::<SkuParam>();
        for s in [
            "AT-050-S".to_string(),
            "a.b_c".into(),
            "".into(),
            "a b".into(),
            "ä".into(),
            "x".repeat(64),
            "x".repeat(65),
        ] {
            assert_eq!(
                sku.is_match(&s),
                souk_domain::Sku::parse(&s).is_ok(),
                "{s:?}"
            );
            assert_eq!(
                pattern::<OptSkuParam>().is_match(&s),
                s.is_empty() || souk_domain::Sku::parse(&s).is_ok(),
                "{s:?}"
            );
        }
    }

    #[test]
    fn the_slug_patterns_are_the_domain_rule() {
        let slug = pattern::<SlugParam>();
        let key = pattern::<OptCategoryKey>();
        for s in [
            "linen-shirt".to_string(),
            "01a23204-459a-7143-840c-350c55f9692a".into(),
            "".into(),
            "A".into(),
            "a b".into(),
            "a\0b".into(),
            "ä".into(),
            "x".repeat(200),
            "x".repeat(201),
        ] {
            let rule = souk_domain::catalog::is_slug(&s);
            assert_eq!(slug.is_match(&s), rule, "{s:?}");
            assert_eq!(key.is_match(&s), rule || s.is_empty(), "{s:?}");
        }
    }

    #[test]
    fn the_lookup_key_patterns_are_the_domain_rules() {
        let order = pattern::<OrderNoParam>();
        let warehouse = pattern::<WarehouseParam>();
        let event = pattern::<OptAuditEvent>();
        for s in [
            souk_domain::order::order_no(42),
            souk_domain::order::order_no(i64::MAX),
            "SK-12345".into(),
            "west".into(),
            "EU_1".into(),
            "role_granted".into(),
            "checkout.cancel".into(),
            "".into(),
            "a b".into(),
            "a\0b".into(),
            "é".into(),
            "w".repeat(32),
            "w".repeat(33),
            "a".repeat(64),
            "a".repeat(65),
        ] {
            assert_eq!(
                order.is_match(&s),
                souk_domain::order::is_order_no(&s),
                "{s:?}"
            );
            assert_eq!(
                warehouse.is_match(&s),
                souk_domain::stock::is_warehouse_code(&s),
                "{s:?}"
            );
            assert_eq!(
                event.is_match(&s),
                s.is_empty() || souk_domain::identity::is_audit_event(&s),
                "{s:?}"
            );
        }
    }

    #[test]
    fn the_documented_enums_are_the_domain_values() {
        assert_eq!(names::<RoleName>(), Role::ALL.map(Role::as_str));
        for name in names::<RoleName>() {
            serde_json::from_value::<RoleName>(name.clone().into()).expect(&name);
        }
        for name in names::<ProductStatusName>() {
            assert!(
                souk_domain::catalog::ProductStatus::parse(&name).is_some(),
                "{name}"
            );
        }
        let currencies = names::<CurrencyCode>();
        assert!(
            currencies
                .iter()
                .all(|c| souk_domain::Currency::parse(c).is_ok())
        );
        assert_eq!(names::<OptCurrencyCode>()[1..], currencies[..]);
    }
}
