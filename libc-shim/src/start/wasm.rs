//! The wasm32 entry point: reads the layout `compose` filled in, sets up guest memory and the
//! executor (lifted code where the layout's map has it, the interpreter elsewhere), runs the
//! process, reports `OCI2WASM_STATS`/`OCI2WASM_RECORD_MISSES`, and exits with its status.

use crate::layout::{MAGIC, OCI2WASM_LAYOUT};
use crate::lifted::LiftedExecutor;
use crate::lifted::map::Map;
use crate::lifted::stats;
use crate::lifted::wasm::WasmTable;
use crate::mem::GuestMem;
use crate::mm::LinearMemory;
use crate::platform::Platform;
use crate::platform::wasi::Wasi;
use alloc::boxed::Box;

/// The command entry point: runs the composed image's program and exits with its status.
#[unsafe(no_mangle)]
pub extern "C" fn _start() {
    let mut p = Wasi;
    // SAFETY: a plain read of the exported static; volatile because `compose` overwrites its
    // bytes after compilation.
    let layout = unsafe { core::ptr::read_volatile(&raw const OCI2WASM_LAYOUT) };
    if layout.magic != MAGIC {
        let _ = p.write(
            2,
            b"oci2wasm: this runtime has no image (it was not composed)\n",
        );
        p.exit(125);
    }
    // SAFETY: `compose` placed the filesystem and the config at these linear addresses, in
    // data segments nothing writes to.
    let (image, config) = unsafe {
        (
            core::slice::from_raw_parts(
                layout.fs_offset as usize as *const u8,
                layout.fs_len as usize,
            ),
            core::slice::from_raw_parts(
                layout.config_offset as usize as *const u8,
                layout.config_len as usize,
            ),
        )
    };
    let guest_base = u64::from(layout.guest_base);
    // The p1 adapter grows memory for its own state on the first WASI call: make that call
    // now, so that those pages are known and kept out of the guest's reach.
    let _ = p.now(crate::platform::Clock::Monotonic);
    let size = core::arch::wasm32::memory_size(0) as u64 * 65536;
    // SAFETY: the guest window `[guest_base, size)` is linear memory that only the runtime's
    // guest accesses (through this GuestMem) use.
    let mut mem = unsafe {
        GuestMem::new(
            guest_base as usize as *mut u8,
            size.saturating_sub(guest_base),
        )
    };
    // SAFETY: `compose` placed the lifted-code map here, in a data segment nothing writes
    // to (carved from the top of the heap reservation, above `heap_end`).
    let map_bytes: &'static [u8] = unsafe {
        core::slice::from_raw_parts(
            layout.map_offset as usize as *const u8,
            layout.map_len as usize,
        )
    };
    let map = match Map::parse(map_bytes) {
        Ok(map) => map,
        Err(e) => {
            let _ = p.write(2, alloc::format!("oci2wasm: {e}\n").as_bytes());
            p.exit(125);
        }
    };
    let options = stats::Options::from_env(&p.env());
    let mut exec = LiftedExecutor::new(map, WasmTable, options.track_misses());
    let grow = Box::new(LinearMemory { guest_base });
    let status = super::main(
        &mut p,
        image,
        config,
        &mut mem,
        super::Space {
            grow,
            limit: (1 << 32) - guest_base,
            reserved: size.saturating_sub(guest_base),
        },
        &mut exec,
    );
    if options.stats {
        let line = stats::line(
            exec.lifted,
            exec.interp.executed(),
            exec.calls,
            &exec.misses,
        );
        let _ = p.write(2, line.as_bytes());
    }
    if let Some(path) = &options.record_misses
        && let Err(e) = stats::record(&mut p, path, &exec.misses)
    {
        let path = alloc::string::String::from_utf8_lossy(path);
        let line = alloc::format!("oci2wasm: cannot record misses in {path}: {e}\n");
        let _ = p.write(2, line.as_bytes());
    }
    p.exit(status)
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    struct Buf([u8; 512], usize);
    impl core::fmt::Write for Buf {
        fn write_str(&mut self, s: &str) -> core::fmt::Result {
            let n = s.len().min(self.0.len() - self.1);
            self.0[self.1..self.1 + n].copy_from_slice(&s.as_bytes()[..n]);
            self.1 += n;
            Ok(())
        }
    }
    let mut b = Buf([0; 512], 0);
    let _ = core::fmt::write(&mut b, format_args!("oci2wasm: runtime panic: {info}\n"));
    let mut p = Wasi;
    let _ = p.write(2, &b.0[..b.1]);
    p.exit(134)
}
