//! TOTP second factors (RFC 6238: SHA-1, 6 digits, 30 s steps, one step of clock skew) and
//! recovery codes. Secrets are sealed at rest, bound to their user.

use chrono::{DateTime, Utc};
use totp_rs::{Algorithm, Builder, Secret, Totp, TotpError};
use uuid::Uuid;

use super::crypto::{OpenError, Sealer};

pub const ISSUER: &str = "Souk";

/// 160 random bits.
pub fn new_secret() -> Vec<u8> {
    Secret::generate().to_vec()
}

pub fn base32(secret: &[u8]) -> String {
    Secret::from(secret).to_base32()
}

/// The secret of a base32 string (as authenticators show it).
pub fn from_base32(b32: &str) -> Option<Vec<u8>> {
    Secret::try_from_base32(b32.trim()).ok().map(|s| s.to_vec())
}

pub fn totp(secret: &[u8], account: &str) -> Result<Totp, TotpError> {
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(30)
        .with_secret(secret)
        .with_issuer(Some(ISSUER))
        // The otpauth label is `issuer:account`; an address may contain ':' itself.
        .with_account_name(account.replace(':', "_"))
        .build()
}

/// The time step `code` is valid for at `now`, if it is valid.
pub fn check(
    secret: &[u8],
    account: &str,
    code: &str,
    now: DateTime<Utc>,
) -> Result<Option<u64>, TotpError> {
    let code = code.trim();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(None);
    }
    Ok(totp(secret, account)?.check(code, now.timestamp().max(0) as u64))
}

/// The current code (for operators' tooling and tests).
pub fn code_at(secret: &[u8], account: &str, at: DateTime<Utc>) -> Result<String, TotpError> {
    Ok(totp(secret, account)?
        .generate(at.timestamp().max(0) as u64)
        .to_string())
}

pub fn seal(sealer: &Sealer, user: Uuid, secret: &[u8]) -> Vec<u8> {
    sealer.seal(secret, &format!("totp:{user}")).into_bytes()
}

pub fn open(sealer: &Sealer, user: Uuid, sealed: &[u8]) -> Result<Vec<u8>, OpenError> {
    let s = std::str::from_utf8(sealed).map_err(|_| OpenError)?;
    sealer.open(s, &format!("totp:{user}"))
}

/// A recovery code: ten base32 characters in two groups (`abcde-fghij`), 50 random bits.
pub fn recovery_code() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";
    let mut raw = [0u8; 10];
    aws_lc_rs::rand::fill(&mut raw).expect("the system random source works");
    let chars: String = raw
        .iter()
        .map(|b| ALPHABET[(*b as usize) % ALPHABET.len()] as char)
        .collect();
    format!("{}-{}", &chars[..5], &chars[5..])
}

/// What is stored for a recovery code: keyed and bound to its user.
pub fn recovery_hash(sealer: &Sealer, user: Uuid, code: &str) -> Vec<u8> {
    sealer.mac(format!("recovery:{user}:{}", normalise_recovery_code(code)).as_bytes())
}

/// Recovery codes compare without case, spaces or dashes.
pub fn normalise_recovery_code(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_check_within_one_step_and_uris_name_the_account() {
        let secret = new_secret();
        let now = Utc::now();
        let code = code_at(&secret, "ann@example.com", now).unwrap();
        assert!(
            check(&secret, "ann@example.com", &code, now)
                .unwrap()
                .is_some()
        );
        let later = now + chrono::Duration::seconds(30);
        assert!(
            check(&secret, "ann@example.com", &code, later)
                .unwrap()
                .is_some(),
            "skew"
        );
        let much_later = now + chrono::Duration::seconds(120);
        assert!(
            check(&secret, "ann@example.com", &code, much_later)
                .unwrap()
                .is_none()
        );
        assert!(
            check(&secret, "ann@example.com", "12345x", now)
                .unwrap()
                .is_none()
        );
        let url = totp(&secret, "ann@example.com").unwrap().to_url().unwrap();
        assert!(
            url.starts_with("otpauth://totp/Souk:ann%40example.com?"),
            "{url}"
        );
        assert!(
            url.contains(&format!("secret={}", base32(&secret))),
            "{url}"
        );
    }

    #[test]
    fn recovery_codes_are_random_and_compare_loosely() {
        let (a, b) = (recovery_code(), recovery_code());
        assert_ne!(a, b);
        assert_eq!(a.len(), 11);
        assert_eq!(
            normalise_recovery_code(&a.to_uppercase().replace('-', " ")),
            a.replace('-', "")
        );
    }

    #[test]
    fn sealed_secrets_belong_to_their_user() {
        let sealer = Sealer::new("k");
        let (u1, u2) = (Uuid::new_v4(), Uuid::new_v4());
        let sealed = seal(&sealer, u1, b"0123456789abcdefghij");
        assert_eq!(open(&sealer, u1, &sealed).unwrap(), b"0123456789abcdefghij");
        assert!(open(&sealer, u2, &sealed).is_err());
    }
}
