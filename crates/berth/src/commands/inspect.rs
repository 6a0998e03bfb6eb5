//! `berth inspect`: the daemon's JSON documents for containers or
//! images, whole (a JSON array indented like docker's) or through a
//! `--format` template.

use berth_api::Query;
use clap::Args;
use serde::Serialize as _;
use serde_json::Value;

use crate::context::{seg, Ctx};
use crate::error::{is_connect, Exit};
use crate::output::format::Template;

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    /// Return JSON for specified type (container or image)
    #[arg(long = "type", value_parser = ["container", "image"])]
    pub kind: Option<String>,
    /// Display total file sizes if the type is container
    #[arg(short = 's', long)]
    pub size: bool,
    #[arg(required = true, value_name = "NAME|ID")]
    pub names: Vec<String>,
}

/// `kind` is fixed by the management form (`container inspect`).
pub async fn run(ctx: &Ctx, args: InspectArgs, kind: Option<&str>) -> anyhow::Result<i32> {
    let kind = kind.or(args.kind.as_deref());
    let template = args.format.as_deref().map(Template::parse).transpose()?;
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for name in &args.names {
        match lookup(ctx, name, kind, args.size).await {
            Ok(Some(v)) => found.push(v),
            // docker's wording: the management forms name the kind.
            Ok(None) => errors.push(match kind {
                Some("container") => {
                    format!("Error response from daemon: No such container: {name}")
                }
                Some("image") => format!("Error response from daemon: No such image: {name}"),
                _ => format!("Error: No such object: {name}"),
            }),
            Err(e) if is_connect(&e) => return Err(e),
            Err(e) => errors.push(format!("{e:#}")),
        }
    }
    print_found(found, template.as_ref(), errors)
}

/// docker's inspect output: the documents found (a JSON array, or each
/// through the template), then the errors for the others (exit 1).
pub fn print_found(
    found: Vec<Value>,
    template: Option<&Template>,
    errors: Vec<String>,
) -> anyhow::Result<i32> {
    match template {
        Some(t) => {
            for v in &found {
                println!("{}", t.render(v)?);
            }
        }
        None => println!("{}", indent4(&Value::Array(found))?),
    }
    if errors.is_empty() {
        Ok(0)
    } else {
        Err(Exit::msg(1, errors.join("\n")))
    }
}

/// The container, else the image, named `name`; `None` when neither exists.
async fn lookup(
    ctx: &Ctx,
    name: &str,
    kind: Option<&str>,
    size: bool,
) -> anyhow::Result<Option<Value>> {
    let paths = [
        ("container", format!("/containers/{}/json", seg(name))),
        ("image", format!("/images/{}/json", seg(name))),
    ];
    let q = Query::new().flag("size", size);
    for (k, path) in paths {
        if kind.is_some_and(|want| want != k) {
            continue;
        }
        match ctx.client.get::<Value>(&path, &q).await {
            Ok(v) => return Ok(Some(v)),
            Err(e) if e.api().is_some_and(|a| a.is_not_found()) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(None)
}

/// JSON with docker's four-space indentation.
fn indent4(v: &Value) -> anyhow::Result<String> {
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    v.serialize(&mut ser)?;
    Ok(String::from_utf8(buf)?)
}
