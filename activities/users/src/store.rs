//! SQL for the users schema, with the rules: a profile's fields, an address's fields, at
//! most [`MAX_ADDRESSES`] addresses, exactly one default while there are any.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use souk_domain::{CountryCode, Currency};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use souk_kit::error::{Described, Kind};
use souk_kit::{Ctx, outbox};

pub const MAX_ADDRESSES: i64 = 20;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{field}: {message}")]
    Invalid {
        reason: &'static str,
        field: &'static str,
        message: String,
    },
    #[error("an address book holds at most {MAX_ADDRESSES} addresses")]
    TooManyAddresses,
    #[error("no such address")]
    AddressNotFound,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

impl Described for Error {
    fn kind(&self) -> Kind {
        match self {
            Error::Invalid { .. } => Kind::Invalid,
            Error::TooManyAddresses => Kind::Conflict,
            Error::AddressNotFound => Kind::NotFound,
            Error::Db(_) => Kind::Internal,
        }
    }

    fn reason(&self) -> &'static str {
        match self {
            Error::Invalid { reason, .. } => reason,
            Error::TooManyAddresses => "too_many_addresses",
            Error::AddressNotFound => "address_not_found",
            Error::Db(_) => "internal",
        }
    }

    fn details(&self) -> Vec<(&'static str, String)> {
        match self {
            Error::Invalid { field, .. } => vec![("field", field.to_string())],
            _ => vec![],
        }
    }

    fn database(&self) -> Option<&sqlx::Error> {
        match self {
            Error::Db(e) => Some(e),
            _ => None,
        }
    }
}

fn invalid(reason: &'static str, field: &'static str, message: impl Into<String>) -> Error {
    Error::Invalid {
        reason,
        field,
        message: message.into(),
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preferences {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub marketing_emails: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub user_id: Uuid,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub preferences: Preferences,
    pub updated_at: Option<DateTime<Utc>>,
}

/// Changes to a profile: `None` keeps a field, `Some("")` clears a name or phone.
#[derive(Debug, Clone, Default)]
pub struct ProfileChanges {
    pub name: Option<String>,
    pub phone: Option<String>,
    pub preferences: Option<Preferences>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressFields {
    pub label: Option<String>,
    pub name: String,
    pub line1: String,
    pub line2: Option<String>,
    pub city: String,
    pub postal_code: String,
    pub country: String,
    pub phone: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub id: Uuid,
    pub fields: AddressFields,
    pub is_default: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A phone number in E.164 (spaces, dashes, dots and parentheses are dropped).
fn phone(raw: &str, field: &'static str) -> Result<String, Error> {
    let p: String = raw
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
        .collect();
    let digits = p.strip_prefix('+').unwrap_or("");
    if !(7..=15).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(
            "invalid_profile",
            field,
            "a phone number in international form: + and 7 to 15 digits",
        ));
    }
    Ok(p)
}

fn text(
    value: &str,
    max: usize,
    reason: &'static str,
    field: &'static str,
) -> Result<String, Error> {
    // Names and address lines end up in mails and pages.
    souk_domain::text::line(value, max).map_err(|e| {
        invalid(
            reason,
            field,
            format!("1 to {max} characters on one line; {e}"),
        )
    })
}

fn optional(
    value: &Option<String>,
    max: usize,
    reason: &'static str,
    field: &'static str,
) -> Result<Option<String>, Error> {
    match value.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => text(v, max, reason, field).map(Some),
    }
}

fn check_preferences(p: &Preferences) -> Result<Preferences, Error> {
    let locale = match p.locale.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(l) => {
            let ok = l.len() <= 35
                && l.split('-').all(|part| {
                    (1..=8).contains(&part.len()) && part.chars().all(|c| c.is_ascii_alphanumeric())
                });
            if !ok {
                return Err(invalid(
                    "invalid_profile",
                    "preferences.locale",
                    "a BCP 47 language tag, for example en-GB",
                ));
            }
            Some(l.to_string())
        }
    };
    let currency = match p.currency.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(c) => Some(
            Currency::parse(c)
                .map_err(|e| invalid("invalid_profile", "preferences.currency", e.to_string()))?
                .code()
                .to_string(),
        ),
    };
    Ok(Preferences {
        locale,
        currency,
        marketing_emails: p.marketing_emails,
    })
}

/// Checks and tidies an address.
pub fn check_address(a: &AddressFields) -> Result<AddressFields, Error> {
    let country = CountryCode::parse(a.country.trim())
        .map_err(|_| invalid("invalid_country", "country", "an ISO 3166-1 alpha-2 code"))?;
    Ok(AddressFields {
        label: optional(&a.label, 40, "invalid_address", "label")?,
        name: text(&a.name, 200, "invalid_address", "name")?,
        line1: text(&a.line1, 200, "invalid_address", "line1")?,
        line2: optional(&a.line2, 200, "invalid_address", "line2")?,
        city: text(&a.city, 100, "invalid_address", "city")?,
        postal_code: text(&a.postal_code, 20, "invalid_address", "postal_code")?,
        country: country.to_string(),
        phone: match a.phone.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(p) => Some(phone(p, "phone").map_err(|_| {
                invalid(
                    "invalid_address",
                    "phone",
                    "a phone number in international form: + and 7 to 15 digits",
                )
            })?),
        },
    })
}

pub async fn profile(pool: &PgPool, user: Uuid) -> Result<Profile, Error> {
    let row = sqlx::query!(
        "SELECT name, phone, preferences, updated_at FROM users.profiles WHERE user_id = $1",
        user
    )
    .fetch_optional(pool)
    .await?;
    Ok(match row {
        None => Profile {
            user_id: user,
            name: None,
            phone: None,
            preferences: Preferences::default(),
            updated_at: None,
        },
        Some(r) => Profile {
            user_id: user,
            name: r.name,
            phone: r.phone,
            preferences: serde_json::from_value(r.preferences).unwrap_or_default(),
            updated_at: Some(r.updated_at),
        },
    })
}

pub async fn update_profile(
    pool: &PgPool,
    ctx: &Ctx,
    user: Uuid,
    c: &ProfileChanges,
) -> Result<Profile, Error> {
    let current = profile(pool, user).await?;
    let name = match c.name.as_deref().map(str::trim) {
        None => current.name,
        Some("") => None,
        Some(n) => Some(text(n, 100, "invalid_profile", "name")?),
    };
    let phone_no = match c.phone.as_deref().map(str::trim) {
        None => current.phone,
        Some("") => None,
        Some(p) => Some(phone(p, "phone")?),
    };
    let preferences = match &c.preferences {
        None => current.preferences,
        Some(p) => check_preferences(p)?,
    };
    let prefs = serde_json::to_value(&preferences).unwrap_or_default();
    let mut tx = pool.begin().await?;
    sqlx::query!(
        "INSERT INTO users.profiles (user_id, name, phone, preferences) VALUES ($1, $2, $3, $4)
         ON CONFLICT (user_id) DO UPDATE
           SET name = EXCLUDED.name, phone = EXCLUDED.phone, preferences = EXCLUDED.preferences,
               updated_at = now()",
        user,
        name,
        phone_no,
        prefs
    )
    .execute(&mut *tx)
    .await?;
    outbox::emit(
        &mut tx,
        &crate::SCHEMA,
        ctx,
        "user.profile_updated",
        serde_json::json!({"user_id": user}),
    )
    .await?;
    tx.commit().await?;
    profile(pool, user).await
}

struct Row {
    id: Uuid,
    label: Option<String>,
    name: String,
    line1: String,
    line2: Option<String>,
    city: String,
    postal_code: String,
    country: String,
    phone: Option<String>,
    is_default: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<Row> for Address {
    fn from(r: Row) -> Self {
        Address {
            id: r.id,
            fields: AddressFields {
                label: r.label,
                name: r.name,
                line1: r.line1,
                line2: r.line2,
                city: r.city,
                postal_code: r.postal_code,
                country: r.country,
                phone: r.phone,
            },
            is_default: r.is_default,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

pub async fn addresses(pool: &PgPool, user: Uuid) -> Result<Vec<Address>, Error> {
    let rows = sqlx::query_as!(
        Row,
        r#"SELECT id, label, name, line1, line2, city, postal_code, country AS "country!: String", phone,
                  is_default, created_at, updated_at
             FROM users.addresses WHERE user_id = $1
            ORDER BY is_default DESC, created_at DESC, id DESC"#,
        user
    )
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(Address::from).collect())
}

async fn address_on(conn: &mut PgConnection, user: Uuid, id: Uuid) -> Result<Address, Error> {
    let row = sqlx::query_as!(
        Row,
        r#"SELECT id, label, name, line1, line2, city, postal_code, country AS "country!: String", phone,
                  is_default, created_at, updated_at
             FROM users.addresses WHERE user_id = $1 AND id = $2"#,
        user,
        id
    )
    .fetch_optional(conn)
    .await?;
    row.map(Address::from).ok_or(Error::AddressNotFound)
}

/// One of the user's addresses (another user's is not found).
pub async fn address(pool: &PgPool, user: Uuid, id: Uuid) -> Result<Address, Error> {
    let mut conn = pool.acquire().await?;
    address_on(&mut conn, user, id).await
}

/// Serialises changes to one user's address book.
async fn lock_book(conn: &mut PgConnection, user: Uuid) -> sqlx::Result<()> {
    sqlx::query!(
        "SELECT pg_advisory_xact_lock(hashtext('souk.users.addresses'), hashtext($1::uuid::text))",
        user
    )
    .execute(conn)
    .await?;
    Ok(())
}

async fn make_default(conn: &mut PgConnection, user: Uuid, id: Uuid) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE users.addresses SET is_default = false, updated_at = now()
          WHERE user_id = $1 AND is_default AND id <> $2",
        user,
        id
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "UPDATE users.addresses SET is_default = true, updated_at = now() WHERE user_id = $1 AND id = $2",
        user,
        id
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn create_address(
    pool: &PgPool,
    ctx: &Ctx,
    user: Uuid,
    fields: &AddressFields,
    default: bool,
) -> Result<Address, Error> {
    let f = check_address(fields)?;
    let mut tx = pool.begin().await?;
    lock_book(&mut tx, user).await?;
    let count = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM users.addresses WHERE user_id = $1"#,
        user
    )
    .fetch_one(&mut *tx)
    .await?;
    if count >= MAX_ADDRESSES {
        return Err(Error::TooManyAddresses);
    }
    let id = Uuid::now_v7();
    sqlx::query!(
        "INSERT INTO users.addresses (id, user_id, label, name, line1, line2, city, postal_code, country, phone)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        id,
        user,
        f.label,
        f.name,
        f.line1,
        f.line2,
        f.city,
        f.postal_code,
        f.country,
        f.phone
    )
    .execute(&mut *tx)
    .await?;
    if default || count == 0 {
        make_default(&mut tx, user, id).await?;
    }
    outbox::emit(
        &mut tx,
        &crate::SCHEMA,
        ctx,
        "user.address_added",
        serde_json::json!({"user_id": user, "address_id": id, "country": f.country}),
    )
    .await?;
    let a = address_on(&mut tx, user, id).await?;
    tx.commit().await?;
    Ok(a)
}

pub async fn update_address(
    pool: &PgPool,
    ctx: &Ctx,
    user: Uuid,
    id: Uuid,
    fields: Option<&AddressFields>,
    default: bool,
) -> Result<Address, Error> {
    let checked = fields.map(check_address).transpose()?;
    let mut tx = pool.begin().await?;
    lock_book(&mut tx, user).await?;
    address_on(&mut tx, user, id).await?;
    if let Some(f) = &checked {
        sqlx::query!(
            "UPDATE users.addresses
                SET label = $3, name = $4, line1 = $5, line2 = $6, city = $7, postal_code = $8,
                    country = $9, phone = $10, updated_at = now()
              WHERE user_id = $1 AND id = $2",
            user,
            id,
            f.label,
            f.name,
            f.line1,
            f.line2,
            f.city,
            f.postal_code,
            f.country,
            f.phone
        )
        .execute(&mut *tx)
        .await?;
    }
    if default {
        make_default(&mut tx, user, id).await?;
    }
    outbox::emit(
        &mut tx,
        &crate::SCHEMA,
        ctx,
        "user.address_updated",
        serde_json::json!({"user_id": user, "address_id": id, "made_default": default}),
    )
    .await?;
    let a = address_on(&mut tx, user, id).await?;
    tx.commit().await?;
    Ok(a)
}

pub async fn delete_address(pool: &PgPool, ctx: &Ctx, user: Uuid, id: Uuid) -> Result<(), Error> {
    let mut tx = pool.begin().await?;
    lock_book(&mut tx, user).await?;
    let was_default = sqlx::query_scalar!(
        "DELETE FROM users.addresses WHERE user_id = $1 AND id = $2 RETURNING is_default",
        user,
        id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(Error::AddressNotFound)?;
    if was_default {
        let next = sqlx::query_scalar!(
            "SELECT id FROM users.addresses WHERE user_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1",
            user
        )
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(n) = next {
            make_default(&mut tx, user, n).await?;
        }
    }
    outbox::emit(
        &mut tx,
        &crate::SCHEMA,
        ctx,
        "user.address_removed",
        serde_json::json!({"user_id": user, "address_id": id}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
