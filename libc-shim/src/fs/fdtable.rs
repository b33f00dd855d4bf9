//! The file-descriptor table: fd numbers to shared open file descriptions, with the per-fd
//! close-on-exec flag; lowest-free allocation, `dup`/`dup2`/`dup3`, `F_DUPFD` and a limit.

use super::file::{FileRef, OpenFile};
use crate::abi::*;
use crate::platform::Platform;
use alloc::rc::Rc;
use alloc::vec::Vec;
use core::cell::RefCell;

/// `RLIMIT_NOFILE`.
pub const MAX_FDS: usize = 1024;

#[derive(Debug, Clone)]
struct Slot {
    file: FileRef,
    cloexec: bool,
}

/// The table.
#[derive(Debug, Default)]
pub struct FdTable {
    slots: Vec<Option<Slot>>,
}

impl FdTable {
    /// Installs `file` at the lowest free fd at or above `min`.
    pub fn install(&mut self, file: OpenFile, cloexec: bool) -> SysResult<u32> {
        self.install_ref(Rc::new(RefCell::new(file)), cloexec, 0)
    }

    fn install_ref(&mut self, file: FileRef, cloexec: bool, min: usize) -> SysResult<u32> {
        let fd = (min..MAX_FDS)
            .find(|&i| self.slots.get(i).is_none_or(Option::is_none))
            .ok_or(EMFILE)?;
        if self.slots.len() <= fd {
            self.slots.resize(fd + 1, None);
        }
        self.slots[fd] = Some(Slot { file, cloexec });
        Ok(fd as u32)
    }

    pub fn get(&self, fd: i64) -> SysResult<FileRef> {
        usize::try_from(fd)
            .ok()
            .and_then(|fd| self.slots.get(fd)?.as_ref())
            .map(|s| s.file.clone())
            .ok_or(EBADF)
    }

    fn slot_mut(&mut self, fd: i64) -> SysResult<&mut Slot> {
        usize::try_from(fd)
            .ok()
            .and_then(|fd| self.slots.get_mut(fd)?.as_mut())
            .ok_or(EBADF)
    }

    pub fn cloexec(&self, fd: i64) -> SysResult<bool> {
        usize::try_from(fd)
            .ok()
            .and_then(|fd| self.slots.get(fd)?.as_ref())
            .map(|s| s.cloexec)
            .ok_or(EBADF)
    }

    pub fn set_cloexec(&mut self, fd: i64, on: bool) -> SysResult<()> {
        self.slot_mut(fd)?.cloexec = on;
        Ok(())
    }

    /// Closes `fd`, releasing its description if it was the last reference.
    pub fn close(&mut self, fd: i64, p: &mut dyn Platform) -> SysResult<()> {
        let i = usize::try_from(fd).map_err(|_| EBADF)?;
        let slot = self.slots.get_mut(i).and_then(Option::take).ok_or(EBADF)?;
        if Rc::strong_count(&slot.file) == 1 {
            slot.file.borrow_mut().release(p);
        }
        Ok(())
    }

    /// `dup` / `F_DUPFD`: the lowest free fd at or above `min`.
    pub fn dup(&mut self, fd: i64, min: usize, cloexec: bool) -> SysResult<u32> {
        if min >= MAX_FDS {
            return Err(EINVAL);
        }
        let file = self.get(fd)?;
        self.install_ref(file, cloexec, min)
    }

    /// `dup2`/`dup3`: makes `new` refer to what `old` does, closing `new` first.
    pub fn dup_to(
        &mut self,
        old: i64,
        new: i64,
        cloexec: bool,
        p: &mut dyn Platform,
    ) -> SysResult<u32> {
        let file = self.get(old)?;
        let n = usize::try_from(new)
            .ok()
            .filter(|&n| n < MAX_FDS)
            .ok_or(EBADF)?;
        if old == new {
            return Ok(n as u32);
        }
        let _ = self.close(new, p);
        if self.slots.len() <= n {
            self.slots.resize(n + 1, None);
        }
        self.slots[n] = Some(Slot { file, cloexec });
        Ok(n as u32)
    }

    /// The open fds, ascending.
    pub fn fds(&self) -> Vec<u32> {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.is_some())
            .map(|(i, _)| i as u32)
            .collect()
    }

    /// Closes every fd in `[first, last]` (`close_range`).
    pub fn close_range(&mut self, first: u64, last: u64, p: &mut dyn Platform) {
        for fd in self.fds() {
            if (first..=last).contains(&u64::from(fd)) {
                let _ = self.close(i64::from(fd), p);
            }
        }
    }
}
