//! The JSON types more than one area speaks (money, a postal address, an account) and the
//! strict readers the request types use. Each area's own types are beside its routes. These
//! types are what clients see: change them only by adding fields.

use serde::{Deserialize, Serialize};
use souk_proto::common::v1 as common_pb;
use utoipa::ToSchema;

/// An amount of money: integer minor units (cents for USD) and an ISO 4217 code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Money {
    #[schema(example = 1999)]
    pub amount: i64,
    #[schema(example = "USD")]
    pub currency: String,
}

impl From<common_pb::Money> for Money {
    fn from(m: common_pb::Money) -> Self {
        Money {
            amount: m.amount,
            currency: m.currency,
        }
    }
}

impl From<souk_domain::Money> for Money {
    fn from(m: souk_domain::Money) -> Self {
        Money {
            amount: m.amount,
            currency: m.currency.code().to_string(),
        }
    }
}

/// An amount from a service, or zero in `currency` when it sent none.
pub fn money(m: Option<common_pb::Money>, currency: &str) -> Money {
    m.map(Money::from).unwrap_or_else(|| Money {
        amount: 0,
        currency: currency.to_string(),
    })
}

/// A postal address: where a checkout ships, where an order goes.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostalAddress {
    #[schema(example = "Ada Lovelace", value_type = crate::params::Line200)]
    pub name: String,
    #[schema(example = "12 Analytical Row", value_type = crate::params::Line200)]
    pub line1: String,
    #[schema(value_type = Option<crate::params::OptLine200>)]
    pub line2: Option<String>,
    #[schema(example = "London", value_type = crate::params::Line100)]
    pub city: String,
    #[schema(example = "N1 9GU", value_type = crate::params::Line20)]
    pub postal_code: String,
    /// ISO 3166-1 alpha-2.
    #[schema(example = "US", value_type = crate::params::CountryText)]
    pub country: String,
}

/// An account.
#[derive(Debug, Serialize, ToSchema)]
pub struct User {
    pub id: String,
    pub email: String,
    /// active, blocked or pending
    pub status: String,
    /// customer, vendor_admin, staff, super_admin
    pub roles: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vendor_id: Option<String>,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_login_at: Option<String>,
    /// A TOTP second factor is enabled.
    pub mfa_enabled: bool,
}

impl From<souk_proto::auth::v1::User> for User {
    fn from(u: souk_proto::auth::v1::User) -> Self {
        User {
            id: u.id,
            email: u.email,
            status: u.status,
            roles: u.roles,
            vendor_id: u.vendor_id,
            created_at: u.created_at,
            last_login_at: u.last_login_at,
            mfa_enabled: u.mfa_enabled,
        }
    }
}

/// A JSON object or `null` (serde would also take a list for a struct: the document says
/// object, so only an object is taken).
pub(crate) fn object<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    match Option::<serde_json::Value>::deserialize(d)? {
        None => Ok(None),
        Some(v @ serde_json::Value::Object(_)) => serde_json::from_value(v)
            .map(Some)
            .map_err(serde::de::Error::custom),
        Some(_) => Err(serde::de::Error::custom("expected an object")),
    }
}

/// A list of JSON objects (serde would also take a list for each struct).
pub(crate) fn objects<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    Vec::<serde_json::Value>::deserialize(d)?
        .into_iter()
        .map(|v| match v {
            serde_json::Value::Object(_) => {
                serde_json::from_value(v).map_err(serde::de::Error::custom)
            }
            _ => Err(serde::de::Error::custom("expected a list of objects")),
        })
        .collect()
}

/// An integer as JSON Schema has it: `3` and `3.0` are the same integer (`3.5` is not one).
pub(crate) fn integer<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let n = serde_json::Number::deserialize(d)?;
    if let Some(i) = n.as_i64() {
        return Ok(i);
    }
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && f >= i64::MIN as f64 && f < i64::MAX as f64 => Ok(f as i64),
        _ => Err(serde::de::Error::custom(format!("{n} is not an integer"))),
    }
}
