//! Password hashing: argon2id with parameters from configuration, run off the async threads.
//! Verification uses the parameters stored in each hash, so raising the cost later still
//! verifies old hashes.

use std::sync::Arc;

use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version};

/// argon2id cost: memory in KiB, iterations, lanes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cost {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for Cost {
    /// OWASP's minimum for argon2id (19 MiB, 2 iterations, 1 lane).
    fn default() -> Self {
        Cost {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

/// At most this many hashes at once: each takes `memory_kib` of memory.
const CONCURRENT_HASHES: usize = 4;

#[derive(Clone)]
pub struct Hasher {
    argon: Arc<Argon2<'static>>,
    permits: Arc<tokio::sync::Semaphore>,
    /// A hash of nothing anyone knows, verified when the e-mail is unknown, so an unknown
    /// address takes as long to refuse as a wrong password.
    decoy: Arc<String>,
}

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hasher(argon2id)")
    }
}

#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

impl Hasher {
    pub fn new(cost: Cost) -> Result<Self, HashError> {
        let params = Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None)
            .map_err(|e| HashError(e.to_string()))?;
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let decoy = argon
            .hash_password(crate::crypto::random_token().as_bytes())
            .map_err(|e| HashError(e.to_string()))?
            .to_string();
        Ok(Self {
            argon: Arc::new(argon),
            permits: Arc::new(tokio::sync::Semaphore::new(CONCURRENT_HASHES)),
            decoy: Arc::new(decoy),
        })
    }

    /// The PHC string of `password` with a fresh salt.
    pub async fn hash(&self, password: &str) -> Result<String, HashError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| HashError(e.to_string()))?;
        let argon = self.argon.clone();
        let password = password.to_string();
        tokio::task::spawn_blocking(move || {
            argon
                .hash_password(password.as_bytes())
                .map(|h| h.to_string())
                .map_err(|e| HashError(e.to_string()))
        })
        .await
        .map_err(|e| HashError(e.to_string()))?
    }

    /// Whether `password` matches `phc`; with `None` it checks the decoy (and is false).
    pub async fn verify(&self, password: &str, phc: Option<&str>) -> bool {
        let Ok(_permit) = self.permits.acquire().await else {
            return false;
        };
        let argon = self.argon.clone();
        let password = password.to_string();
        let (phc, real) = match phc {
            Some(p) => (p.to_string(), true),
            None => (self.decoy.as_ref().clone(), false),
        };
        let matched = tokio::task::spawn_blocking(move || {
            PasswordHash::new(&phc)
                .is_ok_and(|h| argon.verify_password(password.as_bytes(), &h).is_ok())
        })
        .await
        .unwrap_or(false);
        matched && real
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_only_the_right_password() {
        let h = Hasher::new(Cost {
            memory_kib: 8,
            iterations: 1,
            parallelism: 1,
        })
        .unwrap();
        let phc = h.hash("correct horse battery").await.unwrap();
        assert!(phc.starts_with("$argon2id$"), "{phc}");
        assert!(h.verify("correct horse battery", Some(&phc)).await);
        assert!(!h.verify("wrong horse battery", Some(&phc)).await);
        assert!(!h.verify("correct horse battery", None).await);
        assert_ne!(
            phc,
            h.hash("correct horse battery").await.unwrap(),
            "salted"
        );
    }
}
