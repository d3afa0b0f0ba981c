//! `souk.auth.v1.AuthService`, served by the auth worker.

use souk_proto::auth::v1 as pb;
use souk_proto::auth::v1::auth_service_server::{AuthService as Rpc, AuthServiceServer};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::service::{AuditRecord, AuthService, Error, Meta, SecondFactor, Tokens, User};
use souk_kit::grpc::{ctx, invalid};

/// Metadata key of the end client's address (set by the API; recorded in the audit trail).
pub const CLIENT_IP: &str = "x-souk-client-ip";

#[derive(Clone)]
pub struct Auth {
    service: AuthService,
}

impl Auth {
    pub fn new(service: AuthService) -> Self {
        Self { service }
    }

    pub fn into_server(self) -> AuthServiceServer<Self> {
        AuthServiceServer::new(self)
    }
}

fn meta<T>(req: &Request<T>) -> Meta {
    let ip = req
        .metadata()
        .get(CLIENT_IP)
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() <= 64)
        .map(str::to_string);
    Meta {
        ctx: ctx(req, "anonymous"),
        ip,
    }
}

fn error(e: Error) -> Status {
    souk_kit::error::status(&e)
}

fn uuid(field: &str, s: &str) -> Result<Uuid, Status> {
    Uuid::parse_str(s).map_err(|_| invalid("invalid_id", format!("{field} is not a UUID")))
}

fn user(u: User) -> pb::User {
    pb::User {
        id: u.id.to_string(),
        email: u.email,
        status: u.status,
        roles: u.roles.iter().map(|r| r.as_str().to_string()).collect(),
        vendor_id: u.vendor_id.map(|v| v.to_string()),
        created_at: u.created_at.to_rfc3339(),
        last_login_at: u.last_login_at.map(|t| t.to_rfc3339()),
        mfa_enabled: u.mfa_enabled,
    }
}

fn second_factor(totp: Option<String>, recovery: Option<String>) -> SecondFactor {
    match (
        totp.filter(|c| !c.is_empty()),
        recovery.filter(|c| !c.is_empty()),
    ) {
        (Some(c), _) => SecondFactor::Totp(c),
        (None, Some(r)) => SecondFactor::Recovery(r),
        (None, None) => SecondFactor::None,
    }
}

/// For a signed-in user a wrong code or password is a mistake in the request (it still
/// counts towards the lockout), not a failed sign-in.
fn code_error(e: Error) -> Status {
    match e {
        Error::InvalidMfaCode => invalid("invalid_mfa_code", e.to_string()),
        Error::InvalidCredentials => invalid("invalid_password", "the password is wrong"),
        other => error(other),
    }
}

fn pair(t: Tokens) -> pb::TokenPair {
    pb::TokenPair {
        access_token: t.access_token,
        expires_in: t.expires_in,
        refresh_token: t.refresh_token,
        refresh_expires_in: t.refresh_expires_in,
        user: Some(user(t.user)),
    }
}

fn record(r: AuditRecord) -> pb::AuditRecord {
    pb::AuditRecord {
        id: r.id,
        at: r.at.to_rfc3339(),
        event: r.event,
        outcome: r.outcome,
        user_id: r.user_id.map(|u| u.to_string()),
        email: r.email,
        actor: r.actor,
        ip: r.ip,
        request_id: r.request_id,
        details_json: r.details.to_string(),
    }
}

#[tonic::async_trait]
impl Rpc for Auth {
    async fn register(
        &self,
        req: Request<pb::RegisterRequest>,
    ) -> Result<Response<pb::User>, Status> {
        let m = meta(&req);
        let r = req.into_inner();
        let u = self
            .service
            .register(&m, &r.email, &r.password)
            .await
            .map_err(error)?;
        Ok(Response::new(user(u)))
    }

    async fn login(
        &self,
        req: Request<pb::LoginRequest>,
    ) -> Result<Response<pb::TokenPair>, Status> {
        let m = meta(&req);
        let r = req.into_inner();
        let second = second_factor(r.totp_code, r.recovery_code);
        let t = self
            .service
            .login_with(&m, &r.email, &r.password, &second)
            .await
            .map_err(error)?;
        Ok(Response::new(pair(t)))
    }

    async fn refresh(
        &self,
        req: Request<pb::RefreshRequest>,
    ) -> Result<Response<pb::TokenPair>, Status> {
        let m = meta(&req);
        let t = self
            .service
            .refresh(&m, &req.into_inner().refresh_token)
            .await
            .map_err(error)?;
        Ok(Response::new(pair(t)))
    }

    async fn logout(
        &self,
        req: Request<pb::LogoutRequest>,
    ) -> Result<Response<pb::LogoutResponse>, Status> {
        let m = meta(&req);
        self.service
            .logout(&m, &req.into_inner().refresh_token)
            .await
            .map_err(error)?;
        Ok(Response::new(pb::LogoutResponse {}))
    }

    async fn get_jwks(
        &self,
        _req: Request<pb::GetJwksRequest>,
    ) -> Result<Response<pb::Jwks>, Status> {
        let jwks = self
            .service
            .keys()
            .jwks()
            .await
            .map_err(|e| error(e.into()))?;
        Ok(Response::new(pb::Jwks {
            json: jwks.to_string(),
        }))
    }

    async fn rotate_signing_key(
        &self,
        req: Request<pb::RotateSigningKeyRequest>,
    ) -> Result<Response<pb::RotateSigningKeyResponse>, Status> {
        let m = meta(&req);
        let r = self.service.rotate_keys(&m).await.map_err(error)?;
        Ok(Response::new(pb::RotateSigningKeyResponse {
            kid: r.kid,
            retired_kids: r.retired,
        }))
    }

    async fn get_user(
        &self,
        req: Request<pb::GetUserRequest>,
    ) -> Result<Response<pb::User>, Status> {
        let id = uuid("user_id", &req.into_inner().user_id)?;
        let u = self.service.user(id).await.map_err(error)?;
        Ok(Response::new(user(u)))
    }

    async fn create_user(
        &self,
        req: Request<pb::CreateUserRequest>,
    ) -> Result<Response<pb::User>, Status> {
        let m = meta(&req);
        let r = req.into_inner();
        let roles = r
            .roles
            .iter()
            .map(|name| {
                souk_domain::identity::Role::parse(name)
                    .ok_or_else(|| invalid("unknown_role", format!("unknown role `{name}`")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let vendor = r
            .vendor_id
            .as_deref()
            .map(|v| uuid("vendor_id", v))
            .transpose()?;
        let u = self
            .service
            .create_user(&m, &r.email, &r.password, &roles, vendor)
            .await
            .map_err(error)?;
        Ok(Response::new(user(u)))
    }

    async fn grant_role(&self, req: Request<pb::RoleChange>) -> Result<Response<pb::User>, Status> {
        let m = meta(&req);
        let r = req.into_inner();
        let id = uuid("user_id", &r.user_id)?;
        let vendor = r
            .vendor_id
            .as_deref()
            .map(|v| uuid("vendor_id", v))
            .transpose()?;
        let u = self
            .service
            .grant_role(&m, id, &r.role, vendor)
            .await
            .map_err(error)?;
        Ok(Response::new(user(u)))
    }

    async fn revoke_role(
        &self,
        req: Request<pb::RoleChange>,
    ) -> Result<Response<pb::User>, Status> {
        let m = meta(&req);
        let r = req.into_inner();
        let id = uuid("user_id", &r.user_id)?;
        let u = self
            .service
            .revoke_role(&m, id, &r.role)
            .await
            .map_err(error)?;
        Ok(Response::new(user(u)))
    }

    async fn unlock(
        &self,
        req: Request<pb::UnlockRequest>,
    ) -> Result<Response<pb::UnlockResponse>, Status> {
        let m = meta(&req);
        self.service
            .unlock(&m, &req.into_inner().token)
            .await
            .map_err(error)?;
        Ok(Response::new(pb::UnlockResponse {}))
    }

    async fn set_user_status(
        &self,
        req: Request<pb::SetUserStatusRequest>,
    ) -> Result<Response<pb::User>, Status> {
        let m = meta(&req);
        let r = req.into_inner();
        let id = uuid("user_id", &r.user_id)?;
        let u = self
            .service
            .set_status(&m, id, &r.status, &r.reason)
            .await
            .map_err(error)?;
        Ok(Response::new(user(u)))
    }

    async fn record_audit(
        &self,
        req: Request<pb::AuditEntry>,
    ) -> Result<Response<pb::RecordAuditResponse>, Status> {
        let m = meta(&req);
        let r = req.into_inner();
        let user_id = r
            .user_id
            .as_deref()
            .map(|v| uuid("user_id", v))
            .transpose()?;
        let details = if r.details_json.is_empty() {
            serde_json::json!({})
        } else {
            serde_json::from_str(&r.details_json)
                .map_err(|_| invalid("invalid_audit_entry", "details_json is not JSON"))?
        };
        self.service
            .record(&m, &r.event, &r.outcome, user_id, details)
            .await
            .map_err(error)?;
        Ok(Response::new(pb::RecordAuditResponse {}))
    }

    async fn list_audit(
        &self,
        req: Request<pb::ListAuditRequest>,
    ) -> Result<Response<pb::ListAuditResponse>, Status> {
        let r = req.into_inner();
        let user_id = r
            .user_id
            .as_deref()
            .map(|v| uuid("user_id", v))
            .transpose()?;
        let before = if r.cursor.is_empty() {
            None
        } else {
            Some(
                r.cursor
                    .parse::<i64>()
                    .map_err(|_| invalid("invalid_cursor", "not a cursor from a previous page"))?,
            )
        };
        let event = r.event.as_deref().filter(|e| !e.is_empty());
        if event.is_some_and(|e| !souk_domain::identity::is_audit_event(e)) {
            return Err(invalid(
                "invalid_event",
                "event is 1 to 64 lower case letters, '_' and '.'",
            ));
        }
        let limit = i64::from(if r.limit == 0 { 50 } else { r.limit.min(200) });
        let rows = self
            .service
            .audit_log(user_id, event, before, limit + 1)
            .await
            .map_err(error)?;
        let more = rows.len() as i64 > limit;
        let records: Vec<_> = rows.into_iter().take(limit as usize).map(record).collect();
        let next_cursor = if more {
            records.last().map(|r| r.id.to_string()).unwrap_or_default()
        } else {
            String::new()
        };
        Ok(Response::new(pb::ListAuditResponse {
            records,
            next_cursor,
        }))
    }

    async fn forgot_password(
        &self,
        req: Request<pb::ForgotPasswordRequest>,
    ) -> Result<Response<pb::ForgotPasswordResponse>, Status> {
        let m = meta(&req);
        self.service
            .forgot_password(&m, &req.into_inner().email)
            .await
            .map_err(error)?;
        Ok(Response::new(pb::ForgotPasswordResponse {}))
    }

    async fn reset_password(
        &self,
        req: Request<pb::ResetPasswordRequest>,
    ) -> Result<Response<pb::ResetPasswordResponse>, Status> {
        let m = meta(&req);
        let r = req.into_inner();
        self.service
            .reset_password(&m, &r.token, &r.new_password)
            .await
            .map_err(error)?;
        Ok(Response::new(pb::ResetPasswordResponse {}))
    }

    async fn enroll_totp(
        &self,
        req: Request<pb::EnrollTotpRequest>,
    ) -> Result<Response<pb::EnrollTotpResponse>, Status> {
        let m = meta(&req);
        let r = req.into_inner();
        let id = uuid("user_id", &r.user_id)?;
        let (otpauth_url, secret) = self
            .service
            .enroll_totp(&m, id, &r.password)
            .await
            .map_err(code_error)?;
        Ok(Response::new(pb::EnrollTotpResponse {
            otpauth_url,
            secret,
        }))
    }

    async fn confirm_totp(
        &self,
        req: Request<pb::ConfirmTotpRequest>,
    ) -> Result<Response<pb::ConfirmTotpResponse>, Status> {
        let m = meta(&req);
        let r = req.into_inner();
        let id = uuid("user_id", &r.user_id)?;
        let recovery_codes = self
            .service
            .confirm_totp(&m, id, &r.code)
            .await
            .map_err(code_error)?;
        Ok(Response::new(pb::ConfirmTotpResponse { recovery_codes }))
    }

    async fn disable_totp(
        &self,
        req: Request<pb::DisableTotpRequest>,
    ) -> Result<Response<pb::DisableTotpResponse>, Status> {
        let m = meta(&req);
        let r = req.into_inner();
        let id = uuid("user_id", &r.user_id)?;
        self.service
            .disable_totp(
                &m,
                id,
                &r.password,
                &second_factor(r.totp_code, r.recovery_code),
            )
            .await
            .map_err(code_error)?;
        Ok(Response::new(pb::DisableTotpResponse {}))
    }
}
