//! Registry credentials for pull and push: read from the docker-format
//! `config.json` (berth-image owns the file format) and sent to the
//! daemon as `X-Registry-Auth`.

use berth_api::types::AuthConfig;
use berth_image::reference::Reference;
use berth_image::registry::CredentialStore;

use crate::context::Ctx;

/// The `X-Registry-Auth` header for the registry of `image`. Docker's CLI
/// always sends one (an empty config when it has no credentials).
pub fn registry_auth_header(ctx: &Ctx, image: &Reference) -> (&'static str, String) {
    let registry = image.registry();
    let auth = lookup(ctx, registry).unwrap_or_default();
    ("X-Registry-Auth", auth.header_value())
}

/// The stored credentials for `registry`; an unreadable file is treated
/// as no credentials (the registry then answers with its own error).
fn lookup(ctx: &Ctx, registry: &str) -> Option<AuthConfig> {
    let path = ctx.config_file()?;
    let store = CredentialStore::load(&path).ok()?;
    let creds = store.get(registry).ok()??;
    Some(AuthConfig {
        username: creds.username,
        password: creds.password,
        serveraddress: registry.to_string(),
        ..Default::default()
    })
}
