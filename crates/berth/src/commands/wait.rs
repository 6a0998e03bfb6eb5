//! `berth wait`: block until containers stop; print their exit codes.

use berth_api::types::WaitResponse;
use berth_api::Query;

use crate::cli::ContainersArgs;
use crate::context::{seg, Ctx};
use crate::error::{is_connect, Exit};

pub async fn run(ctx: &Ctx, args: ContainersArgs) -> anyhow::Result<i32> {
    let mut errors = Vec::new();
    for c in &args.containers {
        let path = format!("/containers/{}/wait", seg(c));
        match ctx
            .client
            .post::<(), WaitResponse>(&path, &Query::new(), None)
            .await
        {
            Ok(w) => println!("{}", w.status_code),
            Err(e) => {
                let e = anyhow::Error::from(e);
                if is_connect(&e) {
                    return Err(e);
                }
                errors.push(format!("{e:#}"));
            }
        }
    }
    if errors.is_empty() {
        Ok(0)
    } else {
        Err(Exit::msg(1, errors.join("\n")))
    }
}
