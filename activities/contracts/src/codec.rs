//! How payloads are kept in Temporal: encrypted. Workflow and activity inputs and results,
//! signals, updates, queries and memos carry personal data (e-mail, name, address); the
//! Temporal server and its database see only ciphertext. Every client and worker of Souk
//! uses [`data_converter`]; people read histories through the API's codec endpoint.
//!
//! A payload is encrypted whole (its metadata and data, as protobuf) with AES-256-GCM under
//! the first configured key; the result is a payload with encoding `binary/encrypted`, the
//! key's id in `encryption-key-id`, and data = 12-byte nonce ‖ ciphertext ‖ tag (the key id is
//! the associated data). Keys rotate by putting a new one first: older keys keep decrypting.
//! Payloads that are not encrypted (histories from before) pass through unchanged.

use std::collections::HashMap;
use std::sync::Arc;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use futures::FutureExt;
use futures::future::BoxFuture;
use prost::Message;
use temporalio_common::data_converters::{
    DataConverter, DefaultFailureConverter, PayloadCodec, PayloadConversionError, PayloadConverter,
    SerializationContextData,
};
use temporalio_common::protos::temporal::api::common::v1::Payload;

/// The `encoding` of an encrypted payload.
pub const ENCODING: &str = "binary/encrypted";
/// The metadata key naming the key a payload was encrypted with.
pub const KEY_ID: &str = "encryption-key-id";

#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("payload keys: {0}")]
    Keys(String),
    #[error("the payload was encrypted with key `{0}`, which is not configured")]
    UnknownKey(String),
    #[error("the payload cannot be decrypted (wrong key, or altered)")]
    Decrypt,
    #[error("the payload cannot be encrypted")]
    Encrypt,
    #[error("the decrypted payload is not a payload: {0}")]
    Corrupt(#[from] prost::DecodeError),
}

struct Key {
    id: String,
    key: LessSafeKey,
}

/// The keys: the first encrypts, all decrypt.
#[derive(Clone)]
pub struct PayloadKeys {
    keys: Arc<Vec<Key>>,
    by_id: Arc<HashMap<String, usize>>,
}

impl std::fmt::Debug for PayloadKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|k| k.id.as_str()).collect();
        f.debug_struct("PayloadKeys").field("ids", &ids).finish()
    }
}

impl PayloadKeys {
    /// `id:base64,id:base64,...`: 32-byte keys, the first one encrypts. Ids are letters,
    /// digits, `-` and `_`.
    pub fn parse(spec: &str) -> Result<Self, CodecError> {
        let mut keys = Vec::new();
        let mut by_id = HashMap::new();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (id, b64) = part
                .split_once(':')
                .ok_or_else(|| CodecError::Keys("each key is `id:base64`".into()))?;
            if id.is_empty()
                || id.len() > 64
                || !id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(CodecError::Keys(format!("`{id}` is not a key id")));
            }
            let bytes = STANDARD
                .decode(b64.trim())
                .map_err(|_| CodecError::Keys(format!("key `{id}` is not base64")))?;
            if bytes.len() != 32 {
                return Err(CodecError::Keys(format!(
                    "key `{id}` has {} bytes; AES-256 needs 32",
                    bytes.len()
                )));
            }
            let unbound = UnboundKey::new(&AES_256_GCM, &bytes)
                .map_err(|_| CodecError::Keys(format!("key `{id}` is unusable")))?;
            if by_id.insert(id.to_string(), keys.len()).is_some() {
                return Err(CodecError::Keys(format!("key `{id}` is given twice")));
            }
            keys.push(Key {
                id: id.to_string(),
                key: LessSafeKey::new(unbound),
            });
        }
        if keys.is_empty() {
            return Err(CodecError::Keys("at least one key is needed".into()));
        }
        Ok(Self {
            keys: Arc::new(keys),
            by_id: Arc::new(by_id),
        })
    }

    /// The id of the key that encrypts.
    pub fn current(&self) -> &str {
        &self.keys[0].id
    }
}

/// The payload codec: encrypts on the way to Temporal, decrypts on the way back.
#[derive(Clone, Debug)]
pub struct EncryptionCodec {
    keys: PayloadKeys,
}

impl EncryptionCodec {
    pub fn new(keys: PayloadKeys) -> Self {
        Self { keys }
    }

    /// Encrypts one payload (an encrypted one is left as it is).
    pub fn encode_payload(&self, p: Payload) -> Result<Payload, CodecError> {
        if is_encrypted(&p) {
            return Ok(p);
        }
        let key = &self.keys.keys[0];
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| CodecError::Encrypt)?;
        let mut data = p.encode_to_vec();
        key.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(key.id.as_bytes()),
                &mut data,
            )
            .map_err(|_| CodecError::Encrypt)?;
        let mut out = Vec::with_capacity(NONCE_LEN + data.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&data);
        Ok(Payload {
            metadata: HashMap::from([
                ("encoding".to_string(), ENCODING.as_bytes().to_vec()),
                (KEY_ID.to_string(), key.id.as_bytes().to_vec()),
            ]),
            data: out,
            ..Default::default()
        })
    }

    /// Decrypts one payload; one that is not encrypted passes through.
    pub fn decode_payload(&self, p: Payload) -> Result<Payload, CodecError> {
        if !is_encrypted(&p) {
            return Ok(p);
        }
        let id = p
            .metadata
            .get(KEY_ID)
            .map(|v| String::from_utf8_lossy(v).to_string())
            .unwrap_or_default();
        let key = self
            .keys
            .by_id
            .get(&id)
            .map(|i| &self.keys.keys[*i])
            .ok_or_else(|| CodecError::UnknownKey(id.clone()))?;
        if p.data.len() < NONCE_LEN {
            return Err(CodecError::Decrypt);
        }
        let (nonce, sealed) = p.data.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| CodecError::Decrypt)?;
        let mut sealed = sealed.to_vec();
        let plain = key
            .key
            .open_in_place(nonce, Aad::from(id.as_bytes()), &mut sealed)
            .map_err(|_| CodecError::Decrypt)?;
        Ok(Payload::decode(&plain[..])?)
    }
}

fn is_encrypted(p: &Payload) -> bool {
    p.metadata
        .get("encoding")
        .is_some_and(|e| e.as_slice() == ENCODING.as_bytes())
}

fn conversion(e: CodecError) -> PayloadConversionError {
    PayloadConversionError::EncodingError(Box::new(e))
}

impl PayloadCodec for EncryptionCodec {
    fn encode(
        &self,
        _: &SerializationContextData,
        payloads: Vec<Payload>,
    ) -> BoxFuture<'static, Result<Vec<Payload>, PayloadConversionError>> {
        let out = payloads
            .into_iter()
            .map(|p| self.encode_payload(p).map_err(conversion))
            .collect();
        async move { out }.boxed()
    }

    fn decode(
        &self,
        _: &SerializationContextData,
        payloads: Vec<Payload>,
    ) -> BoxFuture<'static, Result<Vec<Payload>, PayloadConversionError>> {
        let out = payloads
            .into_iter()
            .map(|p| self.decode_payload(p).map_err(conversion))
            .collect();
        async move { out }.boxed()
    }
}

/// The data converter of every Souk client and worker: JSON payloads, encrypted.
pub fn data_converter(codec: EncryptionCodec) -> DataConverter {
    DataConverter::new(
        PayloadConverter::default(),
        DefaultFailureConverter::default(),
        codec,
    )
}

/// The key of development stacks and tests. It is public: the production profile refuses it.
pub const DEV_KEYS: &str = "dev:c291ay1kZXYtb25seS1wYXlsb2FkLWtleS0zMmJ5dGU=";

#[cfg(test)]
mod tests {
    use super::*;

    fn json(data: &str) -> Payload {
        Payload {
            metadata: HashMap::from([("encoding".into(), b"json/plain".to_vec())]),
            data: data.as_bytes().to_vec(),
            ..Default::default()
        }
    }

    fn key(id: &str, byte: u8) -> String {
        format!("{id}:{}", STANDARD.encode([byte; 32]))
    }

    #[test]
    fn a_payload_is_encrypted_whole_and_decrypts_to_itself() {
        let codec = EncryptionCodec::new(PayloadKeys::parse(DEV_KEYS).unwrap());
        let plain = json(r#"{"email":"ada@example.com"}"#);
        let sealed = codec.encode_payload(plain.clone()).unwrap();
        assert_eq!(sealed.metadata["encoding"], ENCODING.as_bytes());
        assert_eq!(sealed.metadata[KEY_ID], b"dev");
        assert!(
            !String::from_utf8_lossy(&sealed.data).contains("ada@"),
            "ciphertext only"
        );
        assert!(!sealed.metadata.values().any(|v| v == b"json/plain"));
        assert_eq!(codec.decode_payload(sealed.clone()).unwrap(), plain);
        // Two encryptions of one payload differ (a fresh nonce each time).
        assert_ne!(
            codec.encode_payload(plain.clone()).unwrap().data,
            sealed.data
        );
        // Payloads from before encryption pass through.
        assert_eq!(codec.decode_payload(plain.clone()).unwrap(), plain);
    }

    #[test]
    fn keys_rotate_and_tampering_is_detected() {
        let old = EncryptionCodec::new(PayloadKeys::parse(&key("k1", 1)).unwrap());
        let sealed = old.encode_payload(json("1")).unwrap();
        let rotated = EncryptionCodec::new(
            PayloadKeys::parse(&format!("{},{}", key("k2", 2), key("k1", 1))).unwrap(),
        );
        assert_eq!(rotated.keys.current(), "k2");
        assert_eq!(rotated.decode_payload(sealed.clone()).unwrap(), json("1"));
        assert_eq!(
            rotated.encode_payload(json("1")).unwrap().metadata[KEY_ID],
            b"k2"
        );
        let only_new = EncryptionCodec::new(PayloadKeys::parse(&key("k2", 2)).unwrap());
        assert!(matches!(
            only_new.decode_payload(sealed.clone()),
            Err(CodecError::UnknownKey(_))
        ));
        let mut altered = sealed.clone();
        let last = altered.data.len() - 1;
        altered.data[last] ^= 1;
        assert!(matches!(
            old.decode_payload(altered),
            Err(CodecError::Decrypt)
        ));
        // The key id is bound to the ciphertext.
        let mut relabelled = sealed;
        relabelled.metadata.insert(KEY_ID.into(), b"k2".to_vec());
        let twin = EncryptionCodec::new(
            PayloadKeys::parse(&format!(
                "{},{}",
                key("k1", 1),
                "k2:".to_string() + &STANDARD.encode([1u8; 32])
            ))
            .unwrap(),
        );
        assert!(matches!(
            twin.decode_payload(relabelled),
            Err(CodecError::Decrypt)
        ));
    }

    #[test]
    fn key_specs_are_checked() {
        for bad in [
            "",
            "nokey",
            "a:notbase64!",
            "a:AAAA",
            "a b:AAAA",
            &format!("{},{}", key("a", 1), key("a", 2)),
        ] {
            assert!(PayloadKeys::parse(bad).is_err(), "{bad}");
        }
    }
}
