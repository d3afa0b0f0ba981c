//! Small cryptographic helpers of the auth domain, all from aws-lc-rs: random opaque tokens,
//! SHA-256 for storing them, and sealing secrets at rest (signing keys, TOTP secrets) with
//! AES-256-GCM under a key-encryption key from configuration.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

/// A random opaque token (256 bits, base64url): refresh tokens, reset tokens.
pub fn random_token() -> String {
    let mut raw = [0u8; 32];
    aws_lc_rs::rand::fill(&mut raw).expect("the system random source works");
    URL_SAFE_NO_PAD.encode(raw)
}

/// What is stored for a token: its SHA-256 (a 256-bit random token needs no slow hash).
pub fn token_hash(token: &str) -> Vec<u8> {
    digest(&SHA256, token.as_bytes()).as_ref().to_vec()
}

/// Seals and opens secrets stored in the database. The key is derived from the configured
/// key-encryption secret; the stored form is `v1:` + base64(nonce ‖ ciphertext ‖ tag).
#[derive(Clone)]
pub struct Sealer {
    key: std::sync::Arc<LessSafeKey>,
    mac: aws_lc_rs::hmac::Key,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(..)")
    }
}

#[derive(Debug, thiserror::Error)]
#[error("a sealed secret could not be opened (wrong auth.key_encryption_key?)")]
pub struct OpenError;

impl Sealer {
    pub fn new(secret: &str) -> Self {
        let k = digest(&SHA256, secret.as_bytes());
        let key = UnboundKey::new(&AES_256_GCM, k.as_ref()).expect("a 32-byte key");
        let m = digest(&SHA256, format!("souk-mac:{secret}").as_bytes());
        Self {
            key: std::sync::Arc::new(LessSafeKey::new(key)),
            mac: aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, m.as_ref()),
        }
    }

    /// A keyed hash (HMAC-SHA-256 under a key derived from the same secret): for short
    /// secrets stored for comparison, which a plain hash would not protect after a leak.
    pub fn mac(&self, data: &[u8]) -> Vec<u8> {
        aws_lc_rs::hmac::sign(&self.mac, data).as_ref().to_vec()
    }

    /// `aad` binds the ciphertext to where it is stored (for example the key id).
    pub fn seal(&self, plain: &[u8], aad: &str) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce).expect("the system random source works");
        let mut buf = plain.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad.as_bytes()),
                &mut buf,
            )
            .expect("sealing cannot fail for in-memory buffers");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        format!("v1:{}", STANDARD.encode(out))
    }

    pub fn open(&self, sealed: &str, aad: &str) -> Result<Vec<u8>, OpenError> {
        let raw = sealed
            .strip_prefix("v1:")
            .and_then(|b| STANDARD.decode(b).ok())
            .ok_or(OpenError)?;
        if raw.len() < NONCE_LEN {
            return Err(OpenError);
        }
        let (nonce, rest) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| OpenError)?;
        let mut buf = rest.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(aad.as_bytes()), &mut buf)
            .map_err(|_| OpenError)?;
        Ok(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_with_the_same_key_and_place() {
        let s = Sealer::new("kek-one");
        let sealed = s.seal(b"private key", "kid-1");
        assert!(sealed.starts_with("v1:"));
        assert_eq!(s.open(&sealed, "kid-1").unwrap(), b"private key");
        assert!(s.open(&sealed, "kid-2").is_err(), "bound to its place");
        assert!(Sealer::new("kek-two").open(&sealed, "kid-1").is_err());
        assert_ne!(
            sealed,
            s.seal(b"private key", "kid-1"),
            "fresh nonce each time"
        );
    }

    #[test]
    fn tokens_are_random_and_stored_as_their_hash() {
        let (a, b) = (random_token(), random_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(token_hash(&a), token_hash(&a));
        assert_eq!(token_hash(&a).len(), 32);
    }
}
