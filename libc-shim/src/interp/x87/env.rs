//! The FPU environment and state images: fnstenv/fldenv (14 bytes with an operand-size prefix,
//! else 28) and fnsave/frstor (the environment then st(0)..st(7) as 80-bit values).
//!
//! The tag word stored is the full one, computed from the register contents (empty, zero,
//! special, valid) as the hardware does; fldenv/frstor only take empty/non-empty from it. FIP is
//! the last non-control instruction's address (its low 16 or 32 bits); FCS, FOP, FDP and FDS
//! are stored as 0, as Intel processors that deprecate FCS/FDS and update FOP/FDP only on
//! unmasked exceptions do (exceptions are always masked here).

use super::super::operand::{Ctx, Step};
use super::TAG_EMPTY;

/// The full tag of a non-empty physical register from its contents: zero, special (NaN,
/// infinity, denormal, unnormal; an MMX write's all-ones exponent makes it special) or valid.
pub(crate) fn tag_of_contents(r: &[u8; 16]) -> u16 {
    let exp = u16::from_le_bytes([r[8], r[9]]) & 0x7fff;
    let m = u64::from_le_bytes([r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]]);
    match exp {
        0 if m == 0 => 1,
        0 | 0x7fff => 2,
        _ if m >> 63 == 0 => 2,
        _ => 0,
    }
}

/// Whether the environment image is the 14-byte (16-bit operand size) one.
fn short(c: &Ctx) -> bool {
    c.ins.memory_size().size() == 14 || c.ins.memory_size().size() == 94
}

/// The environment image in the first 14 or 28 bytes (the length returned): control, status
/// (with TOP), full tag word, zero pointers; the unused upper halves of the 28-byte format's
/// words read as all ones, as on hardware.
fn env_image(c: &Ctx) -> ([u8; 108], usize) {
    let x = &c.cpu.x87;
    let sw = (x.status & !0x3800) | (x.top as u16) << 11;
    let tag = (0..8).fold(0u16, |t, p| {
        let v = if (x.tag >> (2 * p)) & 3 == TAG_EMPTY {
            TAG_EMPTY
        } else {
            tag_of_contents(&x.regs[p])
        };
        t | v << (2 * p)
    });
    let mut b = [0u8; 108];
    let step = if short(c) { 2 } else { 4 };
    for (k, w) in [x.control, sw, tag].into_iter().enumerate() {
        b[k * step..k * step + 2].copy_from_slice(&w.to_le_bytes());
        if step == 4 {
            b[k * 4 + 2..k * 4 + 4].copy_from_slice(&[0xff, 0xff]);
        }
    }
    // FIP (its low 16 or 32 bits); FCS, FOP, FDP and FDS stay 0.
    b[3 * step..4 * step].copy_from_slice(&x.fip.to_le_bytes()[..step]);
    if step == 4 {
        b[26..28].copy_from_slice(&[0xff, 0xff]);
    }
    (b, 7 * step)
}

/// fnstenv (then masks every exception) and fnsave (then reinitialises, as fninit).
pub(super) fn store(c: &mut Ctx, save: bool) -> Step {
    let (mut img, mut len) = env_image(c);
    if save {
        for i in 0..8 {
            img[len..len + 10].copy_from_slice(&c.cpu.x87.regs[c.phys(i)][..10]);
            len += 10;
        }
    }
    let a = c.ea();
    for (k, b) in img[..len].iter().enumerate() {
        c.mem.write_u8(a.wrapping_add(k as u64), *b)?;
    }
    let x = &mut c.cpu.x87;
    if save {
        x.control = 0x037f;
        x.status = 0;
        x.tag = 0xffff;
        x.top = 0;
        x.fip = 0;
    } else {
        x.control |= 0x3f;
    }
    Ok(())
}

/// fldenv and frstor.
pub(super) fn load(c: &mut Ctx, restore: bool) -> Step {
    let a = c.ea();
    let len = if short(c) { 14 } else { 28 };
    let step = if short(c) { 2 } else { 4 };
    let word = |c: &Ctx, k: u64| -> Result<u16, super::super::Exit> {
        Ok(c.mem.read_u16(a.wrapping_add(k * step))?)
    };
    let (cw, sw, tw) = (word(c, 0)?, word(c, 1)?, word(c, 2)?);
    let fip = if short(c) {
        word(c, 3)? as u64
    } else {
        c.mem.read_u32(a.wrapping_add(12))? as u64
    };
    let mut regs = [[0u8; 10]; 8];
    if restore {
        for (i, r) in regs.iter_mut().enumerate() {
            for (k, b) in r.iter_mut().enumerate() {
                *b = c.mem.read_u8(a.wrapping_add((len + 10 * i + k) as u64))?;
            }
        }
    }
    let x = &mut c.cpu.x87;
    x.control = cw;
    x.status = sw & !0x3800;
    x.top = ((sw >> 11) & 7) as u8;
    x.fip = fip;
    if restore {
        for (i, r) in regs.iter().enumerate() {
            let p = (x.top as usize + i) & 7;
            x.regs[p][..10].copy_from_slice(r);
        }
    }
    x.tag = (0..8).fold(0u16, |t, p| {
        let v = if (tw >> (2 * p)) & 3 == TAG_EMPTY {
            TAG_EMPTY
        } else {
            tag_of_contents(&x.regs[p])
        };
        t | v << (2 * p)
    });
    Ok(())
}
