//! `/v1/admin/*`: the back office, behind the operator guard (`crate::auth::require_operator`).

pub mod codec;
pub mod inventory;
pub mod orders;
pub mod refunds;
pub mod security;
pub mod shipments;
pub mod users;

use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

/// A history's payloads come in batches larger than a usual body.
const CODEC_BODY_LIMIT: usize = 4 * 1024 * 1024;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(inventory::router())
        .merge(orders::router())
        .merge(refunds::router())
        .merge(security::router())
        .merge(shipments::router())
        .merge(users::router())
        .merge(crate::routes::returns::admin_router())
        .merge(crate::routes::return_policy::admin_router())
        .merge(codec::router().layer(axum::extract::DefaultBodyLimit::max(CODEC_BODY_LIMIT)))
}
