//! Dispatch: one match on the iced [`Mnemonic`] (and [`Code`] where a mnemonic names two
//! instructions) sends each instruction to its family's file. Anything not listed is
//! [`Exit::InvalidOpcode`].

use iced_x86::{Code, Mnemonic as M};

use super::operand::{Ctx, Step};
use super::{alu, bits, control, data, muldiv, shift, sse, string};

/// Executes `ctx.ins`; `ctx.cpu.rip` already points at the next instruction.
#[inline]
pub(crate) fn exec(c: &mut Ctx) -> Step {
    let m = c.ins.mnemonic();
    match m {
        M::Mov => data::mov(c),
        M::Add | M::Or | M::Adc | M::Sbb | M::And | M::Sub | M::Xor | M::Cmp | M::Test => {
            alu::binop(c, m)
        }
        M::Inc | M::Dec | M::Neg | M::Not => alu::unop(c, m),
        M::Lea => data::lea(c),
        M::Movzx => data::mov(c),
        M::Movsx | M::Movsxd => data::movsx(c),
        M::Push => control::push(c),
        M::Pop => control::pop(c),
        M::Call => control::call(c),
        M::Ret => control::ret(c),
        M::Jmp => control::jmp(c),
        M::Jo
        | M::Jno
        | M::Jb
        | M::Jae
        | M::Je
        | M::Jne
        | M::Jbe
        | M::Ja
        | M::Js
        | M::Jns
        | M::Jp
        | M::Jnp
        | M::Jl
        | M::Jge
        | M::Jle
        | M::Jg => control::jcc(c),
        M::Cmovo
        | M::Cmovno
        | M::Cmovb
        | M::Cmovae
        | M::Cmove
        | M::Cmovne
        | M::Cmovbe
        | M::Cmova
        | M::Cmovs
        | M::Cmovns
        | M::Cmovp
        | M::Cmovnp
        | M::Cmovl
        | M::Cmovge
        | M::Cmovle
        | M::Cmovg => data::cmov(c),
        M::Seto
        | M::Setno
        | M::Setb
        | M::Setae
        | M::Sete
        | M::Setne
        | M::Setbe
        | M::Seta
        | M::Sets
        | M::Setns
        | M::Setp
        | M::Setnp
        | M::Setl
        | M::Setge
        | M::Setle
        | M::Setg => data::setcc(c),
        M::Loop | M::Loope | M::Loopne | M::Jrcxz | M::Jecxz => control::loop_(c),
        M::Enter => control::enter(c),
        M::Leave => control::leave(c),
        M::Pushf | M::Pushfq => control::pushf(c),
        M::Popf | M::Popfq => control::popf(c),
        M::Xchg => data::xchg(c),
        M::Cmpxchg => data::cmpxchg(c),
        M::Cmpxchg8b | M::Cmpxchg16b => data::cmpxchg_wide(c),
        M::Xadd => data::xadd(c),
        M::Xlatb => {
            let v = c.read_mem(c.ea(), 1)?;
            c.set_reg(iced_x86::Register::AL, v);
            Ok(())
        }
        M::Cbw => data::cbw(c, 2),
        M::Cwde => data::cbw(c, 4),
        M::Cdqe => data::cbw(c, 8),
        M::Cwd => data::cwd(c, 2),
        M::Cdq => data::cwd(c, 4),
        M::Cqo => data::cwd(c, 8),
        M::Shl | M::Sal | M::Shr | M::Sar | M::Rol | M::Ror | M::Rcl | M::Rcr => shift::shift(c, m),
        M::Shld | M::Shrd => shift::double(c, m),
        M::Mul | M::Imul | M::Div | M::Idiv => muldiv::exec(c, m),
        M::Bt | M::Bts | M::Btr | M::Btc => bits::bt(c, m),
        M::Bsf | M::Bsr | M::Tzcnt | M::Lzcnt | M::Popcnt => bits::scan(c, m),
        M::Bswap => bits::bswap(c),
        M::Movbe => bits::movbe(c),
        M::Andn | M::Bextr | M::Blsi | M::Blsmsk | M::Blsr => bits::bmi1(c, m),
        M::Bzhi | M::Mulx | M::Pdep | M::Pext | M::Rorx | M::Sarx | M::Shlx | M::Shrx => {
            bits::bmi2(c, m)
        }
        M::Adcx | M::Adox => alu::adx(c, m),
        M::Movsb
        | M::Movsw
        | M::Movsq
        | M::Stosb
        | M::Stosw
        | M::Stosd
        | M::Stosq
        | M::Lodsb
        | M::Lodsw
        | M::Lodsd
        | M::Lodsq
        | M::Scasb
        | M::Scasw
        | M::Scasd
        | M::Scasq
        | M::Cmpsb
        | M::Cmpsw
        | M::Cmpsq => string::exec(c, m),
        M::Movsd if c.ins.code() == Code::Movsd_m32_m32 => string::exec(c, m),
        M::Cmpsd if c.ins.code() == Code::Cmpsd_m32_m32 => string::exec(c, m),
        _ => sse::exec(c, m),
    }
}
