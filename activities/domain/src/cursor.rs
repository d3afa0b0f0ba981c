//! Opaque keyset-pagination cursors. Clients pass them back unchanged; the server decodes the
//! sort key of the last row it returned.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid cursor")]
pub struct InvalidCursor;

/// The position after a row sorted by `(created_at DESC, id DESC)` with a uuid id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeCursor {
    pub created_at: DateTime<Utc>,
    pub id: Uuid,
}

impl TimeCursor {
    pub fn encode(&self) -> String {
        encode(self.created_at, &self.id.to_string())
    }

    pub fn decode(s: &str) -> Result<Self, InvalidCursor> {
        let (created_at, id) = decode(s)?;
        Ok(TimeCursor {
            created_at,
            id: Uuid::parse_str(&id).map_err(|_| InvalidCursor)?,
        })
    }
}

/// Cuts `rows`, fetched `limit + 1` in the order of [`TimeCursor`], to a page of `limit`;
/// answers the cursor after its last row when more follow.
pub fn next_page<T>(
    rows: &mut Vec<T>,
    limit: i64,
    at: impl Fn(&T) -> TimeCursor,
) -> Option<String> {
    let limit = usize::try_from(limit).unwrap_or(0);
    let more = rows.len() > limit;
    rows.truncate(limit);
    more.then(|| rows.last().map(|r| at(r).encode())).flatten()
}

/// The position after a row sorted by `(at DESC, key DESC)` with a text key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextCursor {
    pub at: DateTime<Utc>,
    pub key: String,
}

impl TextCursor {
    pub fn encode(&self) -> String {
        encode(self.at, &self.key)
    }

    pub fn decode(s: &str) -> Result<Self, InvalidCursor> {
        let (at, key) = decode(s)?;
        Ok(TextCursor { at, key })
    }
}

fn encode(at: DateTime<Utc>, key: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}:{}", at.timestamp_micros(), key))
}

fn decode(s: &str) -> Result<(DateTime<Utc>, String), InvalidCursor> {
    if s.len() > 512 {
        return Err(InvalidCursor);
    }
    let bytes = URL_SAFE_NO_PAD.decode(s).map_err(|_| InvalidCursor)?;
    let raw = String::from_utf8(bytes).map_err(|_| InvalidCursor)?;
    let (micros, key) = raw.split_once(':').ok_or(InvalidCursor)?;
    let micros: i64 = micros.parse().map_err(|_| InvalidCursor)?;
    let at = DateTime::from_timestamp_micros(micros).ok_or(InvalidCursor)?;
    Ok((at, key.to_string()))
}

/// Clamps a requested page size: 0 means the default.
pub fn page_limit(requested: u32, default: u32, max: u32) -> u32 {
    match requested {
        0 => default,
        n => n.min(max),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let c = TimeCursor {
            created_at: DateTime::from_timestamp_micros(1_780_000_000_123_456).unwrap(),
            id: Uuid::new_v4(),
        };
        assert_eq!(TimeCursor::decode(&c.encode()), Ok(c));
        assert_eq!(TimeCursor::decode("not a cursor"), Err(InvalidCursor));
        assert_eq!(TimeCursor::decode(""), Err(InvalidCursor));
        let t = TextCursor {
            at: c.created_at,
            key: "low-stock-SKU:1".into(),
        };
        assert_eq!(TextCursor::decode(&t.encode()), Ok(t));
    }

    #[test]
    fn page_limits_are_clamped() {
        assert_eq!(page_limit(0, 20, 100), 20);
        assert_eq!(page_limit(500, 20, 100), 100);
        assert_eq!(page_limit(5, 20, 100), 5);
    }

    #[test]
    fn a_page_is_cut_to_its_limit_and_points_past_its_last_row_only_when_more_follow() {
        let at = |n: &i64| TimeCursor {
            created_at: DateTime::from_timestamp_micros(*n).unwrap(),
            id: Uuid::from_u128(*n as u128),
        };
        let mut rows = vec![3, 2, 1];
        let next = next_page(&mut rows, 2, at);
        assert_eq!(rows, [3, 2]);
        assert_eq!(next.map(|c| TimeCursor::decode(&c)), Some(Ok(at(&2))));
        let mut rows = vec![3, 2];
        assert_eq!(next_page(&mut rows, 2, at), None);
        assert_eq!(rows, [3, 2]);
    }
}
