//! The handful of eBPF instructions the device filter needs, encoded by
//! hand (`struct bpf_insn` in linux/bpf.h), and, for tests, an interpreter
//! of exactly that subset.
//!
//! Every instruction is 8 bytes: opcode, the two 4-bit register numbers,
//! a signed 16-bit jump offset (counted in instructions from the *next*
//! one) and a signed 32-bit immediate.

/// Registers. r0 holds the return value, r1 the context pointer on entry.
pub const R0: u8 = 0;
pub const R1: u8 = 1;
pub const R2: u8 = 2;
pub const R3: u8 = 3;
pub const R4: u8 = 4;
pub const R5: u8 = 5;

// Opcode = operation | source (K = immediate, X = register) | class.
const CLASS_LDX: u8 = 0x01;
const CLASS_JMP: u8 = 0x05;
const CLASS_ALU64: u8 = 0x07;
const SIZE_W: u8 = 0x00; // 32-bit load
const MODE_MEM: u8 = 0x60;
const SRC_K: u8 = 0x00;
const SRC_X: u8 = 0x08;
const ALU_AND: u8 = 0x50;
const ALU_RSH: u8 = 0x70;
const ALU_MOV: u8 = 0xb0;
const JMP_JEQ: u8 = 0x10;
const JMP_JNE: u8 = 0x50;
const JMP_EXIT: u8 = 0x90;

/// One instruction, laid out as the kernel's `struct bpf_insn`, so a slice
/// of them is passed to BPF_PROG_LOAD as is.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Insn {
    code: u8,
    /// `dst_reg:4, src_reg:4` bit fields: dst is the low nibble on little
    /// endian, the high one on big endian.
    regs: u8,
    off: i16,
    imm: i32,
}

const fn regs(dst: u8, src: u8) -> u8 {
    if cfg!(target_endian = "little") {
        (src << 4) | dst
    } else {
        (dst << 4) | src
    }
}

const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: regs(dst, src),
        off,
        imm,
    }
}

/// `dst = *(u32 *)(src + off)`, zero-extended.
pub const fn ldx_w(dst: u8, src: u8, off: i16) -> Insn {
    insn(CLASS_LDX | MODE_MEM | SIZE_W, dst, src, off, 0)
}

/// `dst = src`
pub const fn mov_reg(dst: u8, src: u8) -> Insn {
    insn(CLASS_ALU64 | ALU_MOV | SRC_X, dst, src, 0, 0)
}

/// `dst = imm`
pub const fn mov_imm(dst: u8, imm: i32) -> Insn {
    insn(CLASS_ALU64 | ALU_MOV | SRC_K, dst, 0, 0, imm)
}

/// `dst &= imm`
pub const fn and_imm(dst: u8, imm: i32) -> Insn {
    insn(CLASS_ALU64 | ALU_AND | SRC_K, dst, 0, 0, imm)
}

/// `dst >>= imm` (logical)
pub const fn rsh_imm(dst: u8, imm: i32) -> Insn {
    insn(CLASS_ALU64 | ALU_RSH | SRC_K, dst, 0, 0, imm)
}

/// `if dst != imm goto +off` (imm sign-extended to 64 bits)
pub const fn jne_imm(dst: u8, imm: i32, off: i16) -> Insn {
    insn(CLASS_JMP | JMP_JNE | SRC_K, dst, 0, off, imm)
}

/// `if dst != src goto +off`
pub const fn jne_reg(dst: u8, src: u8, off: i16) -> Insn {
    insn(CLASS_JMP | JMP_JNE | SRC_X, dst, src, off, 0)
}

/// `if dst == imm goto +off`
pub const fn jeq_imm(dst: u8, imm: i32, off: i16) -> Insn {
    insn(CLASS_JMP | JMP_JEQ | SRC_K, dst, 0, off, imm)
}

/// `return r0`
pub const fn exit() -> Insn {
    insn(CLASS_JMP | JMP_EXIT, 0, 0, 0, 0)
}

impl Insn {
    /// Whether this is a conditional jump (its offset is patched when a
    /// block is laid out).
    pub fn is_cond_jump(&self) -> bool {
        self.code & 0x07 == CLASS_JMP && self.code & 0xf0 != JMP_EXIT
    }

    /// The same instruction jumping `off` instructions ahead.
    pub fn with_off(self, off: i16) -> Insn {
        Insn { off, ..self }
    }

    #[cfg(test)]
    fn dst(&self) -> usize {
        usize::from(if cfg!(target_endian = "little") {
            self.regs & 0x0f
        } else {
            self.regs >> 4
        })
    }

    #[cfg(test)]
    fn src(&self) -> usize {
        usize::from(if cfg!(target_endian = "little") {
            self.regs >> 4
        } else {
            self.regs & 0x0f
        })
    }
}

/// Runs `prog` on a device context (`access_type`, `major`, `minor`) the
/// way the kernel would, for the instructions above only. Panics on
/// anything else, on a backward jump, on a jump out of the program and on
/// a load through a register that is not the untouched context pointer:
/// the verifier would refuse those too.
#[cfg(test)]
pub fn interpret(prog: &[Insn], ctx: [u32; 3]) -> u64 {
    let mut reg = [0u64; 11];
    let mut ctx_reg = Some(R1 as usize);
    let mut pc = 0usize;
    loop {
        let i = *prog.get(pc).expect("ran off the end of the program");
        let (dst, src, imm) = (i.dst(), i.src(), i64::from(i.imm) as u64);
        let mut next = pc + 1;
        let jump = |taken: bool| {
            let off = usize::try_from(i.off).expect("no backward jumps");
            if taken {
                pc + 1 + off
            } else {
                pc + 1
            }
        };
        match i.code {
            0x61 => {
                assert_eq!(Some(src), ctx_reg, "load through a non-context register");
                let field = usize::try_from(i.off).expect("offset") / 4;
                assert_eq!(i.off % 4, 0, "unaligned context load");
                reg[dst] = u64::from(ctx[field]);
            }
            0xbf => reg[dst] = reg[src],
            0xb7 => reg[dst] = imm,
            0x57 => reg[dst] &= imm,
            0x77 => reg[dst] >>= imm,
            0x55 => next = jump(reg[dst] != imm),
            0x5d => next = jump(reg[dst] != reg[src]),
            0x15 => next = jump(reg[dst] == imm),
            0x95 => return reg[R0 as usize],
            other => panic!("unexpected opcode {other:#04x} at {pc}"),
        }
        if i.code != 0x61 && i.code & 0x07 == CLASS_ALU64 && Some(dst) == ctx_reg {
            ctx_reg = None;
        }
        if i.code == 0x61 && Some(dst) == ctx_reg {
            ctx_reg = None;
        }
        assert!(next <= prog.len(), "jump out of the program at {pc}");
        pc = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(i: Insn) -> [u8; 8] {
        // SAFETY: Insn is repr(C), 8 bytes, with no padding (1+1+2+4).
        unsafe { std::mem::transmute::<Insn, [u8; 8]>(i) }
    }

    #[test]
    #[cfg(target_endian = "little")]
    fn encoding_matches_the_kernel_layout() {
        assert_eq!(std::mem::size_of::<Insn>(), 8);
        // r2 = *(u32 *)(r1 + 4)
        assert_eq!(bytes(ldx_w(R2, R1, 4)), [0x61, 0x12, 4, 0, 0, 0, 0, 0]);
        // if r4 != 0x88 goto +3
        assert_eq!(
            bytes(jne_imm(R4, 0x88, 3)),
            [0x55, 0x04, 3, 0, 0x88, 0, 0, 0]
        );
        // if r1 != r3 goto +2
        assert_eq!(bytes(jne_reg(R1, R3, 2)), [0x5d, 0x31, 2, 0, 0, 0, 0, 0]);
        assert_eq!(bytes(mov_imm(R0, 1)), [0xb7, 0, 0, 0, 1, 0, 0, 0]);
        assert_eq!(bytes(mov_reg(R3, R2)), [0xbf, 0x23, 0, 0, 0, 0, 0, 0]);
        assert_eq!(
            bytes(and_imm(R2, 0xffff)),
            [0x57, 0x02, 0, 0, 0xff, 0xff, 0, 0]
        );
        assert_eq!(bytes(rsh_imm(R3, 16)), [0x77, 0x03, 0, 0, 16, 0, 0, 0]);
        assert_eq!(bytes(jeq_imm(R1, 0, 5)), [0x15, 0x01, 5, 0, 0, 0, 0, 0]);
        assert_eq!(bytes(exit()), [0x95, 0, 0, 0, 0, 0, 0, 0]);
        assert!(jne_imm(R2, 1, 0).is_cond_jump() && !exit().is_cond_jump());
    }
}
