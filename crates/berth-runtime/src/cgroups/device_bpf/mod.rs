//! The cgroup v2 device filter: a `BPF_PROG_TYPE_CGROUP_DEVICE` program
//! built from the emulated v1 state (`devices::V1Emulation`), loaded and
//! attached to the container's cgroup2 directory with `BPF_CGROUP_DEVICE`.
//!
//! The kernel calls the program on every open of a device node and every
//! mknod of one, with `struct bpf_cgroup_dev_ctx { u32 access_type; u32
//! major; u32 minor; }`, where `access_type = access << 16 | type` (access:
//! MKNOD 1, READ 2, WRITE 4; type: BLOCK 1, CHAR 2). Returning 0 makes the
//! syscall fail with EPERM. Programs of all ancestors run too, and every
//! one must return 1.
//!
//! The program (the structure runc uses, generated here on our own):
//!
//! ```text
//!     r2 = ctx->access_type; r3 = r2; r2 &= 0xffff; r3 >>= 16   type, access
//!     r4 = ctx->major; r5 = ctx->minor
//!   one block per exception (v1's list after replaying the rules):
//!     if r2 != TYPE goto next                 b or c
//!     if r4 != MAJOR goto next                left out for *
//!     if r5 != MINOR goto next                left out for *
//!     access test, then: r0 = !DEFAULT; exit
//!   next: ...
//!     r0 = DEFAULT; exit
//! ```
//!
//! The access test is v1's: in a default-deny list an exception grants the
//! access only when it covers every requested bit (`r1 = r3 & ACC; if r1
//! != r3 goto next`, left out when the exception has rwm); in a
//! default-allow list an exception refuses the access when it shares any
//! bit with it (`r1 = r3 & ACC; if r1 == 0 goto next`). All exceptions of
//! one list point the same way, so their order does not matter.
//!
//! Majors and minors are compared as 64-bit registers with a sign-extended
//! 32-bit immediate: a rule number of 2^31 or more never equals a real
//! device's (12-bit major, 20-bit minor), which is also what v1 does.

mod insn;
mod sys;

#[cfg(test)]
mod host_tests;

pub use insn::Insn;
pub use sys::attach;
#[cfg(test)]
pub use sys::attached_programs;

use insn::{
    and_imm, exit, jeq_imm, jne_imm, jne_reg, ldx_w, mov_imm, mov_reg, rsh_imm, R0, R1, R2, R3, R4,
    R5,
};

use super::devices::{DevKind, Exception, V1Emulation, ACC_ALL};

/// `BPF_DEVCG_DEV_BLOCK` and `BPF_DEVCG_DEV_CHAR`.
const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;

/// The whole program for `state`.
pub fn program(state: &V1Emulation) -> Vec<Insn> {
    let mut prog = vec![
        ldx_w(R2, R1, 0), // access_type
        mov_reg(R3, R2),
        and_imm(R2, 0xffff), // r2 = type
        rsh_imm(R3, 16),     // r3 = access
        ldx_w(R4, R1, 4),    // major
        ldx_w(R5, R1, 8),    // minor
    ];
    for ex in &state.exceptions {
        prog.extend(block(ex, state.default_allow));
    }
    prog.push(mov_imm(R0, i32::from(state.default_allow)));
    prog.push(exit());
    prog
}

/// The tests of one exception, then its verdict. Every conditional jump
/// skips to the end of the block (the next exception, or the default).
fn block(ex: &Exception, default_allow: bool) -> Vec<Insn> {
    let kind = match ex.kind {
        DevKind::Block => DEV_BLOCK,
        DevKind::Char => DEV_CHAR,
        // The emulation never keeps an `a` exception (an `a` line resets
        // the list); matching nothing is the safe reading anyway.
        DevKind::All => return Vec::new(),
    };
    let mut insns = vec![jne_imm(R2, kind, 0)];
    if let Some(major) = ex.major {
        insns.push(jne_imm(R4, major as i32, 0));
    }
    if let Some(minor) = ex.minor {
        insns.push(jne_imm(R5, minor as i32, 0));
    }
    let access = i32::from(ex.access);
    if default_allow {
        // Refuse when the request shares any bit with the exception.
        insns.extend([mov_reg(R1, R3), and_imm(R1, access), jeq_imm(R1, 0, 0)]);
    } else if ex.access & ACC_ALL != ACC_ALL {
        // Grant only when the exception covers every requested bit.
        insns.extend([mov_reg(R1, R3), and_imm(R1, access), jne_reg(R1, R3, 0)]);
    }
    insns.extend([mov_imm(R0, i32::from(!default_allow)), exit()]);
    let len = insns.len();
    for (i, insn) in insns.iter_mut().enumerate() {
        if insn.is_cond_jump() {
            let off = i16::try_from(len - i - 1).expect("a block is a few instructions");
            *insn = insn.with_off(off);
        }
    }
    insns
}

#[cfg(test)]
mod tests {
    use super::insn::interpret;
    use super::*;
    use crate::cgroups::devices::{effective_rules, ACC_MKNOD, ACC_READ, ACC_WRITE};
    use oci_spec::runtime::LinuxDeviceCgroup;

    fn state(json: &str) -> V1Emulation {
        let rules: Vec<LinuxDeviceCgroup> = serde_json::from_str(json).unwrap();
        V1Emulation::replay(&effective_rules(&rules).unwrap())
    }

    fn verdict(prog: &[Insn], kind: DevKind, major: u32, minor: u32, access: u8) -> bool {
        let kind = match kind {
            DevKind::Block => 1,
            DevKind::Char => 2,
            DevKind::All => unreachable!(),
        };
        match interpret(prog, [u32::from(access) << 16 | kind, major, minor]) {
            0 => false,
            1 => true,
            other => panic!("program returned {other}"),
        }
    }

    const TEST_LIST: &str = r#"[{"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
        {"allow": true, "type": "c", "major": 1, "minor": 5, "access": "r"}]"#;

    #[test]
    fn program_for_deny_all_plus_two_allows() {
        let prog = program(&state(TEST_LIST));
        let expected = vec![
            ldx_w(R2, R1, 0),
            mov_reg(R3, R2),
            and_imm(R2, 0xffff),
            rsh_imm(R3, 16),
            ldx_w(R4, R1, 4),
            ldx_w(R5, R1, 8),
            // c 1:3 rwm: no access test
            jne_imm(R2, DEV_CHAR, 4),
            jne_imm(R4, 1, 3),
            jne_imm(R5, 3, 2),
            mov_imm(R0, 1),
            exit(),
            // c 1:5 r
            jne_imm(R2, DEV_CHAR, 7),
            jne_imm(R4, 1, 6),
            jne_imm(R5, 5, 5),
            mov_reg(R1, R3),
            and_imm(R1, 2),
            jne_reg(R1, R3, 2),
            mov_imm(R0, 1),
            exit(),
            // default: deny
            mov_imm(R0, 0),
            exit(),
        ];
        assert_eq!(prog, expected);
        let c = DevKind::Char;
        assert!(verdict(&prog, c, 1, 3, ACC_READ | ACC_WRITE));
        assert!(verdict(&prog, c, 1, 3, ACC_MKNOD));
        assert!(verdict(&prog, c, 1, 5, ACC_READ));
        assert!(!verdict(&prog, c, 1, 5, ACC_WRITE));
        assert!(!verdict(&prog, c, 1, 5, ACC_READ | ACC_WRITE));
        assert!(!verdict(&prog, c, 1, 5, ACC_MKNOD));
        assert!(!verdict(&prog, c, 1, 7, ACC_READ));
        assert!(!verdict(&prog, DevKind::Block, 1, 3, ACC_READ));
    }

    #[test]
    fn program_for_allow_all_with_wildcard_deny() {
        let prog = program(&state(
            r#"[{"allow": true, "access": "rwm"},
                {"allow": false, "type": "b", "access": "w"}]"#,
        ));
        let expected = vec![
            ldx_w(R2, R1, 0),
            mov_reg(R3, R2),
            and_imm(R2, 0xffff),
            rsh_imm(R3, 16),
            ldx_w(R4, R1, 4),
            ldx_w(R5, R1, 8),
            // b *:* w, partial match refuses
            jne_imm(R2, DEV_BLOCK, 5),
            mov_reg(R1, R3),
            and_imm(R1, 4),
            jeq_imm(R1, 0, 2),
            mov_imm(R0, 0),
            exit(),
            // default: allow
            mov_imm(R0, 1),
            exit(),
        ];
        assert_eq!(prog, expected);
        assert!(verdict(&prog, DevKind::Block, 8, 0, ACC_READ));
        assert!(!verdict(&prog, DevKind::Block, 8, 0, ACC_READ | ACC_WRITE));
        assert!(verdict(&prog, DevKind::Char, 8, 0, ACC_WRITE));
    }

    #[test]
    fn empty_list_is_deny_everything() {
        assert_eq!(program(&state("[]")), {
            let mut p = program(&state(TEST_LIST));
            p.drain(6..19);
            p
        });
    }

    /// The program agrees with the v1 emulation on every access to a grid
    /// of devices, for lists that exercise merging, removal, partial
    /// matches, wildcards and resets.
    #[test]
    fn program_equals_v1_semantics() {
        let lists = [
            TEST_LIST,
            "[]",
            r#"[{"allow": true, "access": "rwm"}]"#,
            r#"[{"allow": false, "access": "rwm"},
                {"allow": true, "type": "c", "access": "m"},
                {"allow": true, "type": "b", "access": "m"},
                {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
                {"allow": true, "type": "c", "major": 136, "access": "rwm"},
                {"allow": true, "type": "c", "major": 5, "minor": 2, "access": "rwm"},
                {"allow": false, "type": "c", "major": 136, "access": "w"}]"#,
            r#"[{"allow": true, "type": "c", "major": 1, "minor": 5, "access": "r"},
                {"allow": true, "type": "c", "major": 1, "minor": 5, "access": "w"},
                {"allow": false, "type": "c", "major": 1, "minor": 5, "access": "r"}]"#,
            r#"[{"allow": true, "access": "rwm"},
                {"allow": false, "type": "b", "major": 8, "access": "rw"},
                {"allow": false, "type": "c", "minor": 3, "access": "m"},
                {"allow": true, "type": "b", "major": 8, "access": "r"}]"#,
            r#"[{"allow": true, "type": "c", "major": 1, "minor": 3},
                {"allow": true, "access": "r"},
                {"allow": false, "type": "c", "major": 1, "minor": 5},
                {"allow": false, "access": "w"},
                {"allow": true, "type": "b", "major": 2147483648, "minor": 0}]"#,
        ];
        for list in lists {
            let state = state(list);
            let prog = program(&state);
            for kind in [DevKind::Block, DevKind::Char] {
                for major in [0, 1, 2, 5, 8, 136, 4095] {
                    for minor in [0, 1, 2, 3, 5, 7, 1 << 19] {
                        for access in 1..=ACC_ALL {
                            assert_eq!(
                                verdict(&prog, kind, major, minor, access),
                                state.allows(kind, major, minor, access),
                                "{kind:?} {major}:{minor} access {access} with {list}"
                            );
                        }
                    }
                }
            }
        }
    }
}
