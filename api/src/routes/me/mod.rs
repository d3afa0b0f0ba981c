//! `/v1/me/*`: the signed-in caller's own account, profile and address book, cart, orders
//! and second factor.

pub mod cart;
pub mod mfa;
pub mod orders;
pub mod profile;

use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(profile::router())
        .merge(orders::router())
        .merge(cart::router())
        .merge(mfa::router())
        .merge(super::returns::me_router())
}
