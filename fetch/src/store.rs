//! Read access to the files of a local image: a directory (OCI layout) or a tarball (`docker save`
//! output), behind one interface so the layout and archive readers need not care which.
//!
//! A tarball is scanned once for its member offsets, then members are read with a seek, so a
//! large archive is never held in memory. Symlink members (old `docker save` output links
//! duplicate layers) are followed inside the archive.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::error::{Error, ErrorKind, Result};

/// The most bytes of a JSON document (manifest, index, config) we read into memory.
pub const MAX_JSON: u64 = 64 << 20;

#[derive(Debug)]
pub enum Member {
    File { offset: u64, size: u64 },
    Link(String),
}

/// Files of a local image, addressed by `/`-separated relative paths.
#[derive(Debug)]
pub enum Store {
    Dir(PathBuf),
    Tar {
        file: PathBuf,
        members: HashMap<String, Member>,
    },
}

/// Normalises a member path: no leading `./` or `/`, no empty or `.` components, and `..` applied
/// (never above the archive's top).
fn normalise(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for comp in path.split('/') {
        match comp {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    parts.join("/")
}

impl Store {
    /// A directory store.
    pub fn dir(path: &Path) -> Result<Store> {
        if !path.is_dir() {
            return Err(Error::new(
                ErrorKind::Io,
                format!("{} is not a directory", path.display()),
            ));
        }
        Ok(Store::Dir(path.to_path_buf()))
    }

    /// Scans a tarball's members.
    pub fn tar(path: &Path) -> Result<Store> {
        let file = File::open(path).map_err(|e| Error::io("cannot open", path, e))?;
        let corrupt = |e: std::io::Error| {
            Error::new(
                ErrorKind::Layer,
                format!("{} is not a readable tar archive", path.display()),
            )
            .with_source(e)
        };
        let mut archive = tar::Archive::new(file);
        let mut members = HashMap::new();
        for entry in archive.entries().map_err(corrupt)? {
            let entry = entry.map_err(corrupt)?;
            let name = normalise(&String::from_utf8_lossy(&entry.path_bytes()));
            let member = match entry.header().entry_type() {
                tar::EntryType::Symlink | tar::EntryType::Link => {
                    let target = entry.link_name_bytes().unwrap_or_default();
                    let target = String::from_utf8_lossy(&target).into_owned();
                    if entry.header().entry_type() == tar::EntryType::Symlink {
                        // Relative to the link's directory.
                        let base = name.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
                        Member::Link(normalise(&format!("{base}/{target}")))
                    } else {
                        Member::Link(normalise(&target))
                    }
                }
                _ => Member::File {
                    offset: entry.raw_file_position(),
                    size: entry.size(),
                },
            };
            members.insert(name, member);
        }
        if members.is_empty() {
            return Err(Error::new(
                ErrorKind::Layer,
                format!("{} is an empty archive", path.display()),
            ));
        }
        Ok(Store::Tar {
            file: path.to_path_buf(),
            members,
        })
    }

    /// Where this store is, for messages.
    pub fn location(&self) -> &Path {
        match self {
            Store::Dir(p) => p,
            Store::Tar { file, .. } => file,
        }
    }

    fn member(&self, rel: &str) -> Option<(u64, u64)> {
        let Store::Tar { members, .. } = self else {
            return None;
        };
        let mut name = normalise(rel);
        for _ in 0..16 {
            match members.get(&name)? {
                Member::File { offset, size } => return Some((*offset, *size)),
                Member::Link(target) => name = target.clone(),
            }
        }
        None
    }

    fn missing(&self, rel: &str) -> Error {
        Error::new(
            ErrorKind::NotFound,
            format!("{} has no {rel}", self.location().display()),
        )
    }

    /// Opens a file and returns it with its size.
    pub fn open(&self, rel: &str) -> Result<(Box<dyn Read + Send>, u64)> {
        match self {
            Store::Dir(root) => {
                let path = root.join(rel);
                let file = File::open(&path).map_err(|e| {
                    if e.kind() == std::io::ErrorKind::NotFound {
                        self.missing(rel)
                    } else {
                        Error::io("cannot open", &path, e)
                    }
                })?;
                let size = file
                    .metadata()
                    .map_err(|e| Error::io("cannot stat", &path, e))?
                    .len();
                Ok((Box::new(file), size))
            }
            Store::Tar { file, .. } => {
                let (offset, size) = self.member(rel).ok_or_else(|| self.missing(rel))?;
                let mut f = File::open(file).map_err(|e| Error::io("cannot open", file, e))?;
                f.seek(SeekFrom::Start(offset))
                    .map_err(|e| Error::io("cannot read", file, e))?;
                Ok((Box::new(f.take(size)), size))
            }
        }
    }

    /// Reads a small file (JSON) whole.
    pub fn read(&self, rel: &str) -> Result<Vec<u8>> {
        let (reader, size) = self.open(rel)?;
        if size > MAX_JSON {
            return Err(Error::new(
                ErrorKind::Manifest,
                format!(
                    "{rel} in {} is {size} bytes, too large",
                    self.location().display()
                ),
            ));
        }
        let mut bytes = Vec::with_capacity(size as usize);
        reader
            .take(MAX_JSON)
            .read_to_end(&mut bytes)
            .map_err(|e| Error::io(format!("cannot read {rel} in"), self.location(), e))?;
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tar_members_and_links_are_readable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.tar");
        let mut builder = tar::Builder::new(File::create(&path).unwrap());
        let mut header = tar::Header::new_gnu();
        header.set_size(5);
        header.set_mode(0o644);
        builder
            .append_data(&mut header, "./x/layer.tar", &b"hello"[..])
            .unwrap();
        let mut link = tar::Header::new_gnu();
        link.set_entry_type(tar::EntryType::Symlink);
        link.set_size(0);
        builder
            .append_link(&mut link, "y/layer.tar", "../x/layer.tar")
            .unwrap();
        builder.finish().unwrap();
        drop(builder);
        let store = Store::tar(&path).unwrap();
        assert_eq!(store.read("x/layer.tar").unwrap(), b"hello");
        assert_eq!(store.read("y/layer.tar").unwrap(), b"hello");
        assert_eq!(store.read("nope").unwrap_err().kind(), ErrorKind::NotFound);
    }
}
