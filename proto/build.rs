//! Compiles the gRPC contracts under `souk/`. Needs `protoc` (Debian: protobuf-compiler).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = [
        "souk/common/v1/common.proto",
        "souk/catalog/v1/catalog.proto",
        "souk/inventory/v1/inventory.proto",
        "souk/pricing/v1/pricing.proto",
        "souk/cart/v1/cart.proto",
        "souk/orders/v1/orders.proto",
        "souk/payments/v1/payments.proto",
        "souk/steps/v1/steps.proto",
        "souk/auth/v1/auth.proto",
        "souk/notifications/v1/notifications.proto",
        "souk/users/v1/users.proto",
        "souk/shipping/v1/shipping.proto",
        "souk/returns/v1/returns.proto",
        "souk/vendors/v1/vendors.proto",
        "souk/ledger/v1/ledger.proto",
    ];
    println!("cargo:rerun-if-changed=build.rs");
    for proto in protos {
        println!("cargo:rerun-if-changed={proto}");
    }
    if std::env::var_os("PROTOC").is_none() && which("protoc").is_none() {
        return Err("protoc not found: install it (apt-get install protobuf-compiler) or set PROTOC; `./dev up` does both".into());
    }
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_protos(&protos, &["."])?;
    Ok(())
}

fn which(bin: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(bin))
            .find(|p| p.is_file())
    })
}
