//! The signed-in user's profile and address book (the users domain).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use souk_proto::auth::v1 as auth_pb;
use souk_proto::users::v1 as pb;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::dto::User;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{self, Caller, Path};
use crate::identity::Principal;
use crate::state::AppState;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(me, update_me))
        .routes(routes!(list_addresses, create_address))
        .routes(routes!(update_address, delete_address))
}

fn users_error(e: tonic::Status) -> ApiError {
    ApiError::from_status("users", e)
}

async fn me_of(s: &AppState, caller: &Caller, user_id: &str) -> ApiResult<Me> {
    let (mut auth, mut users) = (s.auth.clone(), s.users.clone());
    let (user, profile) = tokio::join!(
        auth.get_user(caller.request(auth_pb::GetUserRequest {
            user_id: user_id.to_string(),
        })),
        users.get_profile(caller.request(pb::GetProfileRequest {
            user_id: user_id.to_string(),
        })),
    );
    Ok(Me {
        user: user
            .map_err(|e| ApiError::from_status("auth", e))?
            .into_inner()
            .into(),
        profile: profile.map_err(users_error)?.into_inner().into(),
    })
}

/// The signed-in account: e-mail, roles, second factor, and profile.
#[utoipa::path(get, path = "/v1/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = Me), (status = 401, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
async fn me(State(s): State<AppState>, caller: Caller, p: Principal) -> ApiResult<Json<Me>> {
    Ok(Json(me_of(&s, &caller, p.user_id()).await?))
}

/// Changes the profile: name, phone (E.164), preferences (locale, currency, marketing).
#[utoipa::path(patch, path = "/v1/me", tag = "auth", request_body = ProfileUpdate,
    security(("bearer" = [])),
    responses((status = 200, body = Me), (status = 401, body = ErrorBody),
        (status = 422, description = "invalid_profile (details.field)", body = ErrorBody)))]
#[tracing::instrument(skip_all)]
async fn update_me(
    State(s): State<AppState>,
    caller: Caller,
    p: Principal,
    extract::Json(body): extract::Json<ProfileUpdate>,
) -> ApiResult<Json<Me>> {
    s.users
        .clone()
        .update_profile(caller.request(pb::UpdateProfileRequest {
            user_id: p.user_id().to_string(),
            name: body.name,
            phone: body.phone,
            preferences: body.preferences.map(|p| pb::Preferences {
                locale: p.locale,
                currency: p.currency,
                marketing_emails: p.marketing_emails,
            }),
        }))
        .await
        .map_err(users_error)?;
    Ok(Json(me_of(&s, &caller, p.user_id()).await?))
}

/// The address book, default first.
#[utoipa::path(get, path = "/v1/me/addresses", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = AddressBook), (status = 401, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
async fn list_addresses(
    State(s): State<AppState>,
    caller: Caller,
    p: Principal,
) -> ApiResult<Json<AddressBook>> {
    let r = s
        .users
        .clone()
        .list_addresses(caller.request(pb::ListAddressesRequest {
            user_id: p.user_id().to_string(),
        }))
        .await
        .map_err(users_error)?
        .into_inner();
    Ok(Json(AddressBook {
        items: r.items.into_iter().map(SavedAddress::from).collect(),
    }))
}

/// Adds an address (at most 20). The first one is the default.
#[utoipa::path(post, path = "/v1/me/addresses", tag = "auth", request_body = NewAddress,
    security(("bearer" = [])),
    responses((status = 201, body = SavedAddress), (status = 401, body = ErrorBody),
        (status = 422, description = "invalid_address (details.field), invalid_country, too_many_addresses", body = ErrorBody)))]
#[tracing::instrument(skip_all)]
async fn create_address(
    State(s): State<AppState>,
    caller: Caller,
    p: Principal,
    extract::Json(b): extract::Json<NewAddress>,
) -> ApiResult<(StatusCode, Json<SavedAddress>)> {
    let a = s
        .users
        .clone()
        .create_address(caller.request(pb::CreateAddressRequest {
            user_id: p.user_id().to_string(),
            fields: Some(pb::AddressFields {
                label: b.label,
                name: b.name,
                line1: b.line1,
                line2: b.line2,
                city: b.city,
                postal_code: b.postal_code,
                country: b.country,
                phone: b.phone,
            }),
            make_default: b.is_default,
        }))
        .await
        .map_err(users_error)?
        .into_inner();
    Ok((StatusCode::CREATED, Json(a.into())))
}

/// Changes an address, or makes it the default (`is_default: true`).
#[utoipa::path(patch, path = "/v1/me/addresses/{id}", tag = "auth", params(("id" = uuid::Uuid, Path)),
    request_body = AddressPatch, security(("bearer" = [])),
    responses((status = 200, body = SavedAddress), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(address_id = %id))]
async fn update_address(
    State(s): State<AppState>,
    caller: Caller,
    p: Principal,
    Path(id): Path<String>,
    extract::Json(b): extract::Json<AddressPatch>,
) -> ApiResult<Json<SavedAddress>> {
    let user_id = p.user_id().to_string();
    let changes_fields = b.label.is_some()
        || b.name.is_some()
        || b.line1.is_some()
        || b.line2.is_some()
        || b.city.is_some()
        || b.postal_code.is_some()
        || b.country.is_some()
        || b.phone.is_some();
    let fields = if changes_fields {
        let current = s
            .users
            .clone()
            .get_address(caller.request(pb::AddressRef {
                user_id: user_id.clone(),
                address_id: id.clone(),
            }))
            .await
            .map_err(users_error)?
            .into_inner()
            .fields
            .unwrap_or_default();
        Some(pb::AddressFields {
            label: b.label.or(current.label),
            name: b.name.unwrap_or(current.name),
            line1: b.line1.unwrap_or(current.line1),
            line2: b.line2.or(current.line2),
            city: b.city.unwrap_or(current.city),
            postal_code: b.postal_code.unwrap_or(current.postal_code),
            country: b.country.unwrap_or(current.country),
            phone: b.phone.or(current.phone),
        })
    } else {
        None
    };
    let a = s
        .users
        .clone()
        .update_address(caller.request(pb::UpdateAddressRequest {
            user_id,
            address_id: id,
            fields,
            make_default: b.is_default,
        }))
        .await
        .map_err(users_error)?
        .into_inner();
    Ok(Json(a.into()))
}

/// Removes an address. If it was the default, the newest remaining one becomes it.
#[utoipa::path(delete, path = "/v1/me/addresses/{id}", tag = "auth", params(("id" = uuid::Uuid, Path)),
    security(("bearer" = [])),
    responses((status = 204), (status = 404, body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(address_id = %id))]
async fn delete_address(
    State(s): State<AppState>,
    caller: Caller,
    p: Principal,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    s.users
        .clone()
        .delete_address(caller.request(pb::AddressRef {
            user_id: p.user_id().to_string(),
            address_id: id,
        }))
        .await
        .map_err(users_error)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct Preferences {
    /// BCP 47, for example en-GB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<crate::params::OptLocale>)]
    pub locale: Option<String>,
    /// ISO 4217.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<crate::params::OptCurrencyCode>)]
    pub currency: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub marketing_emails: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Profile {
    pub name: Option<String>,
    /// E.164.
    pub phone: Option<String>,
    pub preferences: Preferences,
}

impl From<souk_proto::users::v1::Profile> for Profile {
    fn from(p: souk_proto::users::v1::Profile) -> Self {
        let prefs = p.preferences.unwrap_or_default();
        Profile {
            name: p.name,
            phone: p.phone,
            preferences: Preferences {
                locale: prefs.locale,
                currency: prefs.currency,
                marketing_emails: prefs.marketing_emails,
            },
        }
    }
}

/// The signed-in account with its profile.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    #[serde(flatten)]
    pub user: User,
    pub profile: Profile,
}

/// Changes to the profile; absent fields stay, an empty name or phone clears it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileUpdate {
    #[schema(value_type = Option<crate::params::OptLine200>)]
    pub name: Option<String>,
    #[schema(example = "+442071234567", value_type = Option<crate::params::OptPhoneText>)]
    pub phone: Option<String>,
    #[serde(default, deserialize_with = "crate::dto::object")]
    pub preferences: Option<Preferences>,
}

/// An address in the address book.
#[derive(Debug, Serialize, ToSchema)]
pub struct SavedAddress {
    pub id: String,
    pub label: Option<String>,
    pub name: String,
    pub line1: String,
    pub line2: Option<String>,
    pub city: String,
    pub postal_code: String,
    pub country: String,
    pub phone: Option<String>,
    pub is_default: bool,
    pub created_at: String,
    pub updated_at: String,
}

impl From<souk_proto::users::v1::Address> for SavedAddress {
    fn from(a: souk_proto::users::v1::Address) -> Self {
        let f = a.fields.unwrap_or_default();
        SavedAddress {
            id: a.id,
            label: f.label,
            name: f.name,
            line1: f.line1,
            line2: f.line2,
            city: f.city,
            postal_code: f.postal_code,
            country: f.country,
            phone: f.phone,
            is_default: a.is_default,
            created_at: a.created_at,
            updated_at: a.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AddressBook {
    /// The default first.
    pub items: Vec<SavedAddress>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAddress {
    #[schema(example = "Home", value_type = Option<crate::params::OptLine40>)]
    pub label: Option<String>,
    #[schema(value_type = crate::params::Line200)]
    pub name: String,
    #[schema(value_type = crate::params::Line200)]
    pub line1: String,
    #[schema(value_type = Option<crate::params::OptLine200>)]
    pub line2: Option<String>,
    #[schema(value_type = crate::params::Line100)]
    pub city: String,
    #[schema(value_type = crate::params::Line20)]
    pub postal_code: String,
    /// ISO 3166-1 alpha-2.
    #[schema(value_type = crate::params::CountryText)]
    pub country: String,
    #[schema(value_type = Option<crate::params::OptPhoneText>)]
    pub phone: Option<String>,
    /// Make it the default (the first address always is).
    #[serde(default)]
    pub is_default: bool,
}

/// Changes to an address; absent fields stay.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddressPatch {
    #[schema(value_type = Option<crate::params::OptLine40>)]
    pub label: Option<String>,
    #[schema(value_type = Option<crate::params::Line200>)]
    pub name: Option<String>,
    #[schema(value_type = Option<crate::params::Line200>)]
    pub line1: Option<String>,
    #[schema(value_type = Option<crate::params::OptLine200>)]
    pub line2: Option<String>,
    #[schema(value_type = Option<crate::params::Line100>)]
    pub city: Option<String>,
    #[schema(value_type = Option<crate::params::Line20>)]
    pub postal_code: Option<String>,
    #[schema(value_type = Option<crate::params::CountryText>)]
    pub country: Option<String>,
    #[schema(value_type = Option<crate::params::OptPhoneText>)]
    pub phone: Option<String>,
    /// `true` makes it the default.
    #[serde(default)]
    pub is_default: bool,
}
