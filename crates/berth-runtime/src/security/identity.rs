//! Switching to the container user: supplementary groups, gid, uid, keeping
//! the permitted capabilities across the switch so the spec's sets can be
//! applied after it.

use nix::unistd::{setgroups, setresgid, setresuid, Gid, Uid};
use oci_spec::runtime::User;

use crate::error::{Error, Result};

/// Sets groups, gid and uid. `setgroups_allowed` is false in a user
/// namespace whose setgroups file says "deny".
pub fn switch_user(user: &User, setgroups_allowed: bool) -> Result<()> {
    set_keep_caps(true)?;
    if setgroups_allowed {
        let groups: Vec<Gid> = user
            .additional_gids()
            .iter()
            .flatten()
            .map(|g| Gid::from_raw(*g))
            .collect();
        setgroups(&groups).map_err(|e| Error::sys(format!("setgroups {groups:?}"), e))?;
    }
    let gid = Gid::from_raw(user.gid());
    setresgid(gid, gid, gid).map_err(|e| Error::sys(format!("setgid {gid}"), e))?;
    let uid = Uid::from_raw(user.uid());
    setresuid(uid, uid, uid).map_err(|e| Error::sys(format!("setuid {uid}"), e))?;
    set_keep_caps(false)
}

fn set_keep_caps(keep: bool) -> Result<()> {
    nix::sys::prctl::set_keepcaps(keep).map_err(|e| Error::sys("prctl PR_SET_KEEPCAPS", e))
}
