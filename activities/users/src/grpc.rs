//! `souk.users.v1.UserService`, served by the users worker.

use souk_proto::users::v1 as pb;
use souk_proto::users::v1::user_service_server::{UserService, UserServiceServer};
use sqlx::PgPool;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::store::{self, Error};
use souk_kit::grpc::{ctx, invalid, not_found};

#[derive(Clone)]
pub struct Users {
    pool: PgPool,
}

impl Users {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    pub fn into_server(self) -> UserServiceServer<Self> {
        UserServiceServer::new(self)
    }
}

fn error(e: Error) -> Status {
    souk_kit::error::status(&e)
}

fn user(s: &str) -> Result<Uuid, Status> {
    Uuid::parse_str(s).map_err(|_| invalid("invalid_id", "user_id is not a UUID"))
}

fn address_id(s: &str) -> Result<Uuid, Status> {
    Uuid::parse_str(s).map_err(|_| not_found("address_not_found", "no such address"))
}

fn profile(p: store::Profile) -> pb::Profile {
    pb::Profile {
        user_id: p.user_id.to_string(),
        name: p.name,
        phone: p.phone,
        preferences: Some(pb::Preferences {
            locale: p.preferences.locale,
            currency: p.preferences.currency,
            marketing_emails: p.preferences.marketing_emails,
        }),
        updated_at: p.updated_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
    }
}

fn fields_in(f: pb::AddressFields) -> store::AddressFields {
    store::AddressFields {
        label: f.label,
        name: f.name,
        line1: f.line1,
        line2: f.line2,
        city: f.city,
        postal_code: f.postal_code,
        country: f.country,
        phone: f.phone,
    }
}

fn address(a: store::Address) -> pb::Address {
    let f = a.fields;
    pb::Address {
        id: a.id.to_string(),
        fields: Some(pb::AddressFields {
            label: f.label,
            name: f.name,
            line1: f.line1,
            line2: f.line2,
            city: f.city,
            postal_code: f.postal_code,
            country: f.country,
            phone: f.phone,
        }),
        is_default: a.is_default,
        created_at: a.created_at.to_rfc3339(),
        updated_at: a.updated_at.to_rfc3339(),
    }
}

#[tonic::async_trait]
impl UserService for Users {
    async fn get_profile(
        &self,
        req: Request<pb::GetProfileRequest>,
    ) -> Result<Response<pb::Profile>, Status> {
        let id = user(&req.into_inner().user_id)?;
        let p = store::profile(&self.pool, id).await.map_err(error)?;
        Ok(Response::new(profile(p)))
    }

    async fn update_profile(
        &self,
        req: Request<pb::UpdateProfileRequest>,
    ) -> Result<Response<pb::Profile>, Status> {
        let ctx = ctx(&req, "system");
        let r = req.into_inner();
        let id = user(&r.user_id)?;
        let changes = store::ProfileChanges {
            name: r.name,
            phone: r.phone,
            preferences: r.preferences.map(|p| store::Preferences {
                locale: p.locale,
                currency: p.currency,
                marketing_emails: p.marketing_emails,
            }),
        };
        let p = store::update_profile(&self.pool, &ctx, id, &changes)
            .await
            .map_err(error)?;
        Ok(Response::new(profile(p)))
    }

    async fn list_addresses(
        &self,
        req: Request<pb::ListAddressesRequest>,
    ) -> Result<Response<pb::ListAddressesResponse>, Status> {
        let id = user(&req.into_inner().user_id)?;
        let items = store::addresses(&self.pool, id).await.map_err(error)?;
        Ok(Response::new(pb::ListAddressesResponse {
            items: items.into_iter().map(address).collect(),
        }))
    }

    async fn get_address(
        &self,
        req: Request<pb::AddressRef>,
    ) -> Result<Response<pb::Address>, Status> {
        let r = req.into_inner();
        let a = store::address(&self.pool, user(&r.user_id)?, address_id(&r.address_id)?)
            .await
            .map_err(error)?;
        Ok(Response::new(address(a)))
    }

    async fn create_address(
        &self,
        req: Request<pb::CreateAddressRequest>,
    ) -> Result<Response<pb::Address>, Status> {
        let ctx = ctx(&req, "system");
        let r = req.into_inner();
        let fields = fields_in(r.fields.unwrap_or_default());
        let a = store::create_address(&self.pool, &ctx, user(&r.user_id)?, &fields, r.make_default)
            .await
            .map_err(error)?;
        Ok(Response::new(address(a)))
    }

    async fn update_address(
        &self,
        req: Request<pb::UpdateAddressRequest>,
    ) -> Result<Response<pb::Address>, Status> {
        let ctx = ctx(&req, "system");
        let r = req.into_inner();
        let fields = r.fields.map(fields_in);
        let a = store::update_address(
            &self.pool,
            &ctx,
            user(&r.user_id)?,
            address_id(&r.address_id)?,
            fields.as_ref(),
            r.make_default,
        )
        .await
        .map_err(error)?;
        Ok(Response::new(address(a)))
    }

    async fn delete_address(
        &self,
        req: Request<pb::AddressRef>,
    ) -> Result<Response<pb::DeleteAddressResponse>, Status> {
        let ctx = ctx(&req, "system");
        let r = req.into_inner();
        store::delete_address(
            &self.pool,
            &ctx,
            user(&r.user_id)?,
            address_id(&r.address_id)?,
        )
        .await
        .map_err(error)?;
        Ok(Response::new(pb::DeleteAddressResponse {}))
    }
}
