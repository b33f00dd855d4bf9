//! `oci2wasm pack IMAGE -o FILE`: the image's root filesystem in the packed format the runtime
//! serves (see vfs-pack/FORMAT.md).
//!
//! The file is written under a temporary name beside FILE and renamed into place only when
//! complete, so a failure never leaves a partial FILE behind.

use std::io::{BufWriter, Write};
use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::image_args::ImageArgs;
use crate::output::human_bytes;

/// Write an image's root filesystem as a packed filesystem image.
///
/// The output is deterministic: the same image gives the same bytes.
///
/// Example:
///   oci2wasm pack oci:fixtures/out/busybox/oci:latest -o busybox.vfs
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    #[command(flatten)]
    image: ImageArgs,

    /// Where to write the packed filesystem.
    #[arg(short, long, value_name = "FILE")]
    output: PathBuf,
}

pub fn run(args: Args) -> Result<()> {
    let image = args.image.fetch()?;
    let dir = match args.output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let tmp = tempfile::Builder::new()
        .prefix(".oci2wasm-pack-")
        .tempfile_in(&dir)
        .with_context(|| format!("cannot create a file in {}", dir.display()))?;
    let mut out = BufWriter::with_capacity(1 << 20, tmp);
    let stats = vfs_pack::write(&image.rootfs, &mut out)
        .and_then(|stats| out.flush().map(|()| stats))
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    let tmp = out.into_inner().map_err(|e| e.into_error())?;
    tmp.persist(&args.output)
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    if !args.image.quiet {
        eprintln!(
            "packed {} ({} inodes, {} of files stored as {}, image {}) into {}",
            args.image.image,
            stats.inodes,
            human_bytes(stats.file_bytes),
            human_bytes(stats.data_bytes),
            human_bytes(stats.image_bytes),
            args.output.display()
        );
    }
    Ok(())
}
