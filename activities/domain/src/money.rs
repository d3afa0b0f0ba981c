//! Money is an integer number of minor units plus an ISO 4217 currency. Never floats.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// An ISO 4217 currency code that has minor units (USD, EUR, JPY...).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency([u8; 3]);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CurrencyError {
    #[error("`{0}` is not an ISO 4217 currency code")]
    Unknown(String),
}

impl Currency {
    pub const USD: Currency = Currency(*b"USD");
    pub const EUR: Currency = Currency(*b"EUR");

    /// Parses an upper- or lower-case code; rejects codes without minor units (funds, metals).
    pub fn parse(code: &str) -> Result<Self, CurrencyError> {
        let upper = code.trim().to_ascii_uppercase();
        match iso_currency::Currency::from_code(&upper) {
            Some(c) if c.exponent().is_some() && !c.is_fund() && !c.is_special() => {
                let bytes = upper.as_bytes();
                Ok(Currency([bytes[0], bytes[1], bytes[2]]))
            }
            _ => Err(CurrencyError::Unknown(code.to_string())),
        }
    }

    /// Every code [`Currency::parse`] takes, in alphabetical order.
    pub fn all() -> &'static [Currency] {
        static ALL: std::sync::OnceLock<Vec<Currency>> = std::sync::OnceLock::new();
        ALL.get_or_init(|| {
            let letters = b'A'..=b'Z';
            letters
                .clone()
                .flat_map(|a| letters.clone().map(move |b| (a, b)))
                .flat_map(|(a, b)| (b'A'..=b'Z').map(move |c| [a, b, c]))
                .filter_map(|code| Currency::parse(std::str::from_utf8(&code).ok()?).ok())
                .collect()
        })
    }

    pub fn code(&self) -> &str {
        // Only ASCII upper-case letters ever get in (see `parse`).
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }

    /// Digits after the decimal point: 2 for USD, 0 for JPY, 3 for KWD.
    pub fn exponent(&self) -> u32 {
        iso_currency::Currency::from_code(self.code())
            .and_then(|c| c.exponent())
            .map(u32::from)
            .unwrap_or(2)
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Currency {
    type Err = CurrencyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for Currency {
    type Error = CurrencyError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<Currency> for String {
    fn from(c: Currency) -> Self {
        c.code().to_string()
    }
}

/// An amount in minor units of a currency. Arithmetic is checked and never mixes currencies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    pub amount: i64,
    pub currency: Currency,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("cannot combine {0} with {1}")]
    CurrencyMismatch(Currency, Currency),
    #[error("amount out of range")]
    Overflow,
    /// Not a decimal amount in the currency's major units, or more decimals than it has.
    #[error("`{0}` is not an amount of {1}")]
    Malformed(String, Currency),
}

impl Money {
    pub const fn new(amount: i64, currency: Currency) -> Self {
        Self { amount, currency }
    }

    pub const fn zero(currency: Currency) -> Self {
        Self {
            amount: 0,
            currency,
        }
    }

    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        self.amount
            .checked_add(other.amount)
            .map(|amount| Money::new(amount, self.currency))
            .ok_or(MoneyError::Overflow)
    }

    pub fn checked_sub(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        self.amount
            .checked_sub(other.amount)
            .map(|amount| Money::new(amount, self.currency))
            .ok_or(MoneyError::Overflow)
    }

    pub fn checked_mul(self, factor: i64) -> Result<Money, MoneyError> {
        self.amount
            .checked_mul(factor)
            .map(|amount| Money::new(amount, self.currency))
            .ok_or(MoneyError::Overflow)
    }

    /// Reads a decimal amount in major units (`"7.47"`, `"12"`, `"0.5"`), as providers write
    /// them, into minor units exactly: a sign, digits, at most as many decimals as the currency
    /// has (`"7.475"` in USD is refused, never rounded).
    pub fn parse_decimal(text: &str, currency: Currency) -> Result<Money, MoneyError> {
        let malformed = || MoneyError::Malformed(text.to_string(), currency);
        let (negative, unsigned) = match text.trim().strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text.trim()),
        };
        let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
        let exponent = currency.exponent() as usize;
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty()
            || !digits(whole)
            || !digits(fraction)
            || fraction.len() > exponent
            || (unsigned.contains('.') && fraction.is_empty())
        {
            return Err(malformed());
        }
        let padded = format!("{whole}{fraction:0<exponent$}");
        let amount: i64 = padded.parse().map_err(|_| MoneyError::Overflow)?;
        Ok(Money::new(
            if negative { -amount } else { amount },
            currency,
        ))
    }

    fn same_currency(self, other: Money) -> Result<(), MoneyError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(MoneyError::CurrencyMismatch(self.currency, other.currency))
        }
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let exp = self.currency.exponent();
        if exp == 0 {
            return write!(f, "{} {}", self.amount, self.currency);
        }
        let unit = 10i64.pow(exp);
        let sign = if self.amount < 0 { "-" } else { "" };
        let abs = self.amount.unsigned_abs();
        write!(
            f,
            "{sign}{}.{:0width$} {}",
            abs / unit as u64,
            abs % unit as u64,
            self.currency,
            width = exp as usize
        )
    }
}

/// `amount * numerator / denominator`, rounded half away from zero, in 128-bit so it cannot
/// overflow midway. Used for percentages (basis points) and pro-rata allocation.
pub fn mul_div_round(amount: i64, numerator: i64, denominator: i64) -> i64 {
    assert!(denominator > 0, "denominator must be positive");
    let product = i128::from(amount) * i128::from(numerator);
    let den = i128::from(denominator);
    let half = den / 2;
    let rounded = if product >= 0 {
        (product + half) / den
    } else {
        (product - half) / den
    };
    i64::try_from(rounded).unwrap_or(if rounded > 0 { i64::MAX } else { i64::MIN })
}

#[cfg(test)]
mod tests {

    #[test]
    fn all_lists_every_code_parse_takes() {
        let all = Currency::all();
        assert!(all.contains(&Currency::USD) && all.contains(&Currency::EUR));
        assert!(all.iter().any(|c| c.code() == "JPY"));
        // Funds and metals have no minor units and are not money here.
        assert!(!all.iter().any(|c| c.code() == "XAU"));
        assert!(all.windows(2).all(|w| w[0].code() < w[1].code()));
        assert!(all.iter().all(|c| Currency::parse(c.code()) == Ok(*c)));
    }

    use super::*;

    #[test]
    fn currency_codes_are_validated_and_normalised() {
        assert_eq!(Currency::parse("usd").unwrap(), Currency::USD);
        assert_eq!(Currency::parse("JPY").unwrap().exponent(), 0);
        assert_eq!(Currency::parse("KWD").unwrap().exponent(), 3);
        assert!(Currency::parse("ABC").is_err());
        assert!(Currency::parse("XAU").is_err(), "gold has no minor units");
        assert!(Currency::parse("").is_err());
    }

    #[test]
    fn money_never_mixes_currencies() {
        let usd = Money::new(100, Currency::USD);
        let eur = Money::new(100, Currency::EUR);
        assert_eq!(usd.checked_add(usd).unwrap().amount, 200);
        assert!(matches!(
            usd.checked_add(eur),
            Err(MoneyError::CurrencyMismatch(..))
        ));
        assert!(matches!(
            Money::new(i64::MAX, Currency::USD).checked_add(usd),
            Err(MoneyError::Overflow)
        ));
    }

    #[test]
    fn money_displays_in_major_units() {
        assert_eq!(Money::new(1999, Currency::USD).to_string(), "19.99 USD");
        assert_eq!(Money::new(-5, Currency::USD).to_string(), "-0.05 USD");
        assert_eq!(
            Money::new(1500, Currency::parse("JPY").unwrap()).to_string(),
            "1500 JPY"
        );
    }

    #[test]
    fn decimal_amounts_are_read_exactly_or_refused() {
        let usd = |t: &str| Money::parse_decimal(t, Currency::USD).map(|m| m.amount);
        assert_eq!(usd("7.47"), Ok(747));
        assert_eq!(usd("7.4"), Ok(740));
        assert_eq!(usd("12"), Ok(1_200));
        assert_eq!(usd("0.05"), Ok(5));
        assert_eq!(usd("-3.10"), Ok(-310));
        for bad in [
            "", ".5", "7.", "7.475", "1e3", "7,47", "+1", "--1", "NaN", "1.2.3",
        ] {
            assert!(
                matches!(usd(bad), Err(MoneyError::Malformed(..))),
                "{bad:?}"
            );
        }
        assert_eq!(usd("92233720368547758.08"), Err(MoneyError::Overflow));
        let yen = Currency::parse("JPY").unwrap();
        assert_eq!(
            Money::parse_decimal("1500", yen).map(|m| m.amount),
            Ok(1_500)
        );
        assert!(Money::parse_decimal("1500.5", yen).is_err());
        let dinar = Currency::parse("KWD").unwrap();
        assert_eq!(
            Money::parse_decimal("1.25", dinar).map(|m| m.amount),
            Ok(1_250)
        );
        // What it reads, it displays back.
        for t in ["7.47", "0.05", "12.00"] {
            let m = Money::parse_decimal(t, Currency::USD).unwrap();
            assert_eq!(m.to_string(), format!("{t} USD"));
        }
    }

    #[test]
    fn mul_div_rounds_half_away_from_zero() {
        assert_eq!(mul_div_round(1000, 825, 10_000), 83); // 82.5 -> 83
        assert_eq!(mul_div_round(1000, 824, 10_000), 82);
        assert_eq!(mul_div_round(-1000, 825, 10_000), -83);
        assert_eq!(mul_div_round(i64::MAX, 2, 2), i64::MAX);
    }
}
