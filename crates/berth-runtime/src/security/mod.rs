//! Process security settings applied just before the container process
//! starts: rlimits, user and groups, capabilities, no_new_privileges and
//! seccomp, in the order the kernel needs them.

pub mod capabilities;
pub mod identity;
pub mod rlimits;
pub mod seccomp;

use oci_spec::runtime::Process;

use crate::error::{Error, Result};
use capabilities::CapabilitySets;
use seccomp::SeccompProgram;

/// Everything security-related about one process, prepared before fork.
pub struct ProcessSecurity {
    pub capabilities: CapabilitySets,
    pub seccomp: Option<SeccompProgram>,
    pub no_new_privileges: bool,
}

impl ProcessSecurity {
    pub fn prepare(process: &Process, seccomp: Option<SeccompProgram>) -> Result<Self> {
        rlimits::validate(process.rlimits().as_deref().unwrap_or_default())?;
        Ok(ProcessSecurity {
            capabilities: CapabilitySets::from_spec(process.capabilities().as_ref())?,
            seccomp,
            no_new_privileges: process.no_new_privileges().unwrap_or(false),
        })
    }

    /// Applies it all to the calling process, which then only has to exec.
    ///
    /// Order matters: rlimits and the bounding set need privileges we are
    /// about to drop; without no_new_privileges seccomp must be loaded while
    /// we still hold CAP_SYS_ADMIN (as runc does), with it as late as
    /// possible so the filter sees the fewest runtime syscalls.
    pub fn apply(&self, process: &Process, setgroups_allowed: bool) -> Result<()> {
        rlimits::apply(process.rlimits().as_deref().unwrap_or_default())?;
        if let Some(umask) = process.user().umask() {
            nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(umask));
        }
        if !self.no_new_privileges {
            self.load_seccomp()?;
        }
        self.capabilities.drop_bounding()?;
        identity::switch_user(process.user(), setgroups_allowed)?;
        self.capabilities.apply()?;
        if self.no_new_privileges {
            crate::syscall::set_no_new_privs().map_err(|e| Error::sys("set no_new_privs", e))?;
            self.load_seccomp()?;
        }
        Ok(())
    }

    fn load_seccomp(&self) -> Result<()> {
        match &self.seccomp {
            Some(program) => program.load().map_err(Error::from),
            None => Ok(()),
        }
    }
}
