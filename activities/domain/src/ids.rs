//! Validated identifiers and quantities. Parse at the edge, trust inside.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("SKU must be 1 to 64 characters of letters, digits, '-', '_' or '.'")]
    Sku,
    #[error("quantity must be between 1 and {max}")]
    Quantity { max: i64 },
    #[error("country must be an ISO 3166-1 alpha-2 code such as US")]
    Country,
}

/// A stock-keeping unit: 1 to 64 characters from `[A-Za-z0-9._-]`. Case-sensitive.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Sku(String);

impl Sku {
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if ok {
            Ok(Sku(s.to_string()))
        } else {
            Err(ParseError::Sku)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Sku {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Sku {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sku({})", self.0)
    }
}

impl TryFrom<String> for Sku {
    type Error = ParseError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Sku::parse(&s)
    }
}

impl From<Sku> for String {
    fn from(s: Sku) -> Self {
        s.0
    }
}

/// A line quantity: at least 1, at most [`Quantity::MAX`]. Larger orders go through sales.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct Quantity(i64);

impl Quantity {
    pub const MAX: i64 = 999;

    pub fn new(q: i64) -> Result<Self, ParseError> {
        if (1..=Self::MAX).contains(&q) {
            Ok(Quantity(q))
        } else {
            Err(ParseError::Quantity { max: Self::MAX })
        }
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

impl TryFrom<i64> for Quantity {
    type Error = ParseError;
    fn try_from(q: i64) -> Result<Self, Self::Error> {
        Quantity::new(q)
    }
}

impl From<Quantity> for i64 {
    fn from(q: Quantity) -> Self {
        q.0
    }
}

/// An ISO 3166-1 alpha-2 country code, upper case.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CountryCode([u8; 2]);

impl CountryCode {
    pub const US: CountryCode = CountryCode(*b"US");

    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let b = s.trim().as_bytes();
        if b.len() == 2 && b.iter().all(u8::is_ascii_alphabetic) {
            Ok(CountryCode([
                b[0].to_ascii_uppercase(),
                b[1].to_ascii_uppercase(),
            ]))
        } else {
            Err(ParseError::Country)
        }
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("ZZ")
    }
}

impl fmt::Display for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TryFrom<String> for CountryCode {
    type Error = ParseError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        CountryCode::parse(&s)
    }
}

impl From<CountryCode> for String {
    fn from(c: CountryCode) -> Self {
        c.as_str().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skus_allow_a_safe_alphabet_only() {
        assert!(Sku::parse("TSHIRT-RED-M").is_ok());
        assert!(Sku::parse("a.b_c-1").is_ok());
        assert!(Sku::parse("").is_err());
        assert!(Sku::parse("has space").is_err());
        assert!(Sku::parse("semi;colon").is_err());
        assert!(Sku::parse(&"X".repeat(65)).is_err());
    }

    #[test]
    fn quantities_are_positive_and_bounded() {
        assert!(Quantity::new(1).is_ok());
        assert!(Quantity::new(Quantity::MAX).is_ok());
        assert!(Quantity::new(0).is_err());
        assert!(Quantity::new(-3).is_err());
        assert!(Quantity::new(Quantity::MAX + 1).is_err());
        assert!(serde_json::from_str::<Quantity>("1000000").is_err());
    }

    #[test]
    fn country_codes_are_normalised() {
        assert_eq!(CountryCode::parse("de").unwrap().as_str(), "DE");
        assert!(CountryCode::parse("USA").is_err());
        assert!(CountryCode::parse("1A").is_err());
    }
}
