//! The contract between `compose` and the runtime: where things are in linear memory and what the
//! image's run configuration is.
//!
//! The runtime exports the static [`OCI2WASM_LAYOUT`] (wasm-ld exports a data symbol as a global
//! holding its address). `compose` reads that address and appends an active data segment there
//! holding a filled-in [`Layout`]; being later in the data section, it overwrites the zeroed
//! default. The same way, `compose` places the packed filesystem and the run configuration at the
//! offsets the layout names. A zero `magic` means the module was not composed (a bare runtime).
//!
//! Linear memory, low to high:
//! `[runtime data and stack | runtime heap, up to heap_end | lifted-code map | packed
//!   filesystem | run config | guest window from guest_base]`. Guest address `g` is linear
//! address `guest_base + g`. The lifted-code map (`lifted::map`) is carved from the top of the
//! heap reservation, so `guest_base`, which lifted code has built in, does not depend on it.

/// `b"O2WL"` little-endian.
pub const MAGIC: u32 = u32::from_le_bytes(*b"O2WL");
/// Version of this layout and of the run-config encoding.
pub const VERSION: u32 = 2;

/// Where `compose` put things. All offsets are linear-memory addresses.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    pub magic: u32,
    pub version: u32,
    /// End of the runtime's heap arena (the arena starts at the linker's `__heap_base`).
    pub heap_end: u32,
    /// The packed filesystem image (vfs-pack format), page-aligned.
    pub fs_offset: u32,
    pub fs_len: u32,
    /// The run configuration, encoded as [`ConfigTag`] records.
    pub config_offset: u32,
    pub config_len: u32,
    /// Linear address of guest address 0 (64 KiB-aligned).
    pub guest_base: u32,
    /// The lifted-code map (`lifted::map` format), 8-aligned; `map_len` 0 when nothing was
    /// lifted.
    pub map_offset: u32,
    pub map_len: u32,
}

impl Layout {
    /// The layout of a module that `compose` has not filled in.
    pub const EMPTY: Layout = Layout {
        magic: 0,
        version: 0,
        heap_end: 0,
        fs_offset: 0,
        fs_len: 0,
        config_offset: 0,
        config_len: 0,
        guest_base: 0,
        map_offset: 0,
        map_len: 0,
    };

    /// Bytes of [`Layout::to_bytes`].
    pub const SIZE: usize = core::mem::size_of::<Layout>();

    /// The layout as bytes, as `compose` writes it into the data segment.
    pub fn to_bytes(&self) -> [u8; Layout::SIZE] {
        let fields = [
            self.magic,
            self.version,
            self.heap_end,
            self.fs_offset,
            self.fs_len,
            self.config_offset,
            self.config_len,
            self.guest_base,
            self.map_offset,
            self.map_len,
        ];
        let mut out = [0u8; Layout::SIZE];
        for (chunk, field) in out.chunks_exact_mut(4).zip(fields) {
            chunk.copy_from_slice(&field.to_le_bytes());
        }
        out
    }
}

/// The exported layout, overwritten by `compose`.
#[unsafe(no_mangle)]
#[used]
pub static OCI2WASM_LAYOUT: Layout = Layout::EMPTY;

/// Record tags of the run configuration: a sequence of `[tag u32 LE][len u32 LE][len bytes]`
/// records, each padded with zeros to a multiple of 4 bytes. Lists keep their record order.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigTag {
    /// One element of the image's Entrypoint.
    Entrypoint = 1,
    /// One element of the image's Cmd.
    Cmd = 2,
    /// One `KEY=VALUE` of the image's Env.
    Env = 3,
    /// The image's WorkingDir.
    WorkingDir = 4,
    /// The image's User (`name`, `uid`, `uid:gid`, ...).
    User = 5,
    /// The container's hostname.
    Hostname = 6,
}

impl ConfigTag {
    pub fn from_u32(tag: u32) -> Option<ConfigTag> {
        Some(match tag {
            1 => ConfigTag::Entrypoint,
            2 => ConfigTag::Cmd,
            3 => ConfigTag::Env,
            4 => ConfigTag::WorkingDir,
            5 => ConfigTag::User,
            6 => ConfigTag::Hostname,
            _ => return None,
        })
    }
}

/// Iterates the records of an encoded run configuration; stops at the first malformed record.
pub fn config_records(mut bytes: &[u8]) -> impl Iterator<Item = (ConfigTag, &[u8])> {
    core::iter::from_fn(move || {
        loop {
            let header = bytes.get(..8)?;
            let tag = u32::from_le_bytes(header[..4].try_into().ok()?);
            let len = u32::from_le_bytes(header[4..].try_into().ok()?) as usize;
            let body = bytes.get(8..8usize.checked_add(len)?)?;
            let padded = 8 + len.div_ceil(4) * 4;
            bytes = bytes.get(padded..).unwrap_or(&[]);
            if let Some(tag) = ConfigTag::from_u32(tag) {
                return Some((tag, body));
            }
        }
    })
}

/// Appends one record to an encoded run configuration (used by `compose` on the host).
pub fn push_config_record(out: &mut alloc::vec::Vec<u8>, tag: ConfigTag, body: &[u8]) {
    out.extend_from_slice(&(tag as u32).to_le_bytes());
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(body);
    out.resize(out.len().div_ceil(4) * 4, 0);
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    #[test]
    fn config_round_trips_and_skips_unknown_tags() {
        let mut out = Vec::new();
        push_config_record(&mut out, ConfigTag::Entrypoint, b"/bin/busybox");
        out.extend_from_slice(&99u32.to_le_bytes());
        out.extend_from_slice(&1u32.to_le_bytes());
        out.extend_from_slice(&[7, 0, 0, 0]);
        push_config_record(&mut out, ConfigTag::Env, b"A=1");
        let got: Vec<_> = config_records(&out).collect();
        assert_eq!(
            got,
            [
                (ConfigTag::Entrypoint, &b"/bin/busybox"[..]),
                (ConfigTag::Env, b"A=1")
            ]
        );
        assert_eq!(config_records(&out[..5]).count(), 0);
        assert_eq!(
            Layout {
                magic: MAGIC,
                ..Layout::EMPTY
            }
            .to_bytes()[..4],
            *b"O2WL"
        );
        assert_eq!(Layout::SIZE, 40);
    }
}
