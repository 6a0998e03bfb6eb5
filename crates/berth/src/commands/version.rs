//! `berth version`: the client's versions, then the daemon's components.

use berth_api::types::{Component, Version};
use berth_api::{Query, API_VERSION};
use serde_json::{json, Value};

use crate::cli::VersionArgs;
use crate::context::Ctx;
use crate::output::format::Template;
use crate::output::table;

pub async fn run(ctx: &Ctx, args: VersionArgs) -> anyhow::Result<i32> {
    // The client part is shown even when the daemon is unreachable.
    let server: anyhow::Result<Value> = async {
        ctx.client.ping().await?;
        Ok(ctx.client.get::<Value>("/version", &Query::new()).await?)
    }
    .await;
    let negotiated = match &server {
        Ok(_) => ctx.client.api_version().await?.to_string(),
        Err(_) => API_VERSION.to_string(),
    };
    let client = client_info(&negotiated);
    if let Some(format) = &args.format {
        let mut server = server?;
        alias_api_fields(&mut server);
        let data = json!({"Client": client, "Server": server});
        println!("{}", Template::parse(format)?.render(&data)?);
        return Ok(0);
    }
    print!(
        "{}",
        table::align(&client_text(&client, &negotiated), 20, 1)
    );
    let server = server?;
    let version: Version = serde_json::from_value(server)?;
    println!();
    print!("{}", table::align(&server_text(&version), 20, 1));
    Ok(0)
}

fn client_info(negotiated: &str) -> Value {
    json!({
        "Version": env!("CARGO_PKG_VERSION"),
        "ApiVersion": negotiated, "APIVersion": negotiated,
        "DefaultAPIVersion": API_VERSION,
        "Os": std::env::consts::OS,
        "Arch": go_arch(),
        "Context": "default",
    })
}

/// Go's names for the fields whose JSON names differ (`.Server.APIVersion`).
fn alias_api_fields(server: &mut Value) {
    if let Some(obj) = server.as_object_mut() {
        for (go, json) in [
            ("APIVersion", "ApiVersion"),
            ("MinAPIVersion", "MinAPIVersion"),
        ] {
            if let Some(v) = obj.get(json).cloned() {
                obj.insert(go.to_string(), v);
            }
        }
    }
}

/// Go's GOARCH names, which docker prints in OS/Arch.
fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    }
}

fn client_text(client: &Value, negotiated: &str) -> String {
    let api = if negotiated == API_VERSION {
        negotiated.to_string()
    } else {
        format!("{negotiated} (downgraded from {API_VERSION})")
    };
    format!(
        "Client:\n Version:\t{}\n API version:\t{api}\n OS/Arch:\t{}/{}\n Context:\t{}\n",
        client["Version"].as_str().unwrap_or_default(),
        std::env::consts::OS,
        go_arch(),
        client["Context"].as_str().unwrap_or_default(),
    )
}

fn server_text(v: &Version) -> String {
    let mut out = format!("Server: {}", v.platform.name)
        .trim_end()
        .to_string()
        + "\n";
    for c in &v.components {
        out.push_str(&format!(" {}:\n  Version:\t{}\n", c.name, c.version));
        if c.name == "Engine" {
            out.push_str(&engine_details(c));
            continue;
        }
        for (key, value) in &c.details {
            out.push_str(&format!("  {key}:\t{}\n", detail(value)));
        }
    }
    if v.components.is_empty() {
        out.push_str(&format!(
            " Engine:\n  Version:\t{}\n  API version:\t{} (minimum version {})\n  OS/Arch:\t{}/{}\n",
            v.version, v.api_version, v.min_api_version, v.os, v.arch
        ));
    }
    out
}

/// The engine's lines in docker's order.
fn engine_details(c: &Component) -> String {
    let d = |key: &str| c.details.get(key).map(detail).unwrap_or_default();
    format!(
        "  API version:\t{} (minimum version {})\n  Go version:\t{}\n  Git commit:\t{}\n  \
         Built:\t{}\n  OS/Arch:\t{}/{}\n  Experimental:\t{}\n",
        d("ApiVersion"),
        d("MinAPIVersion"),
        d("GoVersion"),
        d("GitCommit"),
        d("BuildTime"),
        d("Os"),
        d("Arch"),
        d("Experimental"),
    )
}

fn detail(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
