//! gRPC contracts (tonic/prost) between the Souk API and its domain services.
//!
//! Generated from `proto/souk/**`. Messages here are wire contracts: change them additively
//! (new fields, new RPCs), never renumber. Nothing in this crate knows about databases,
//! HTTP or Temporal.

pub mod common {
    pub mod v1 {
        tonic::include_proto!("souk.common.v1");
    }
}

pub mod catalog {
    pub mod v1 {
        tonic::include_proto!("souk.catalog.v1");
    }
}

pub mod inventory {
    pub mod v1 {
        tonic::include_proto!("souk.inventory.v1");
    }
}

pub mod pricing {
    pub mod v1 {
        tonic::include_proto!("souk.pricing.v1");
    }
}

pub mod cart {
    pub mod v1 {
        tonic::include_proto!("souk.cart.v1");
    }
}

pub mod orders {
    pub mod v1 {
        tonic::include_proto!("souk.orders.v1");
    }
}

pub mod payments {
    pub mod v1 {
        tonic::include_proto!("souk.payments.v1");
    }
}

pub mod steps {
    pub mod v1 {
        tonic::include_proto!("souk.steps.v1");
    }
}

pub mod auth {
    pub mod v1 {
        tonic::include_proto!("souk.auth.v1");
    }
}

pub mod notifications {
    pub mod v1 {
        tonic::include_proto!("souk.notifications.v1");
    }
}

pub mod users {
    pub mod v1 {
        tonic::include_proto!("souk.users.v1");
    }
}

pub mod shipping {
    pub mod v1 {
        tonic::include_proto!("souk.shipping.v1");
    }
}

pub mod returns {
    pub mod v1 {
        tonic::include_proto!("souk.returns.v1");
    }
}

pub mod vendors {
    pub mod v1 {
        tonic::include_proto!("souk.vendors.v1");
    }
}

pub mod ledger {
    pub mod v1 {
        tonic::include_proto!("souk.ledger.v1");
    }
}
