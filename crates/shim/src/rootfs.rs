//! The container's rootfs, mounted as containerd's mounts say, by the shim process itself.
//!
//! `containerd_shim::mount::mount_rootfs` forks a child for every mount, so that an overlay whose
//! lowerdirs are too long for one page can be shortened to paths relative to a directory the
//! child changes into. Forking the node's shim copies the page tables of every app it runs and
//! makes each app's next write to each of its pages fault: a cost every container's create paid,
//! growing with the apps already running (about 0.3 ms of CPU per create with one, in
//! `benches/shim.sh`'s API runs). Here the creating thread makes the mount(2) calls, with the
//! same reading of the options; only an overlay that needs that shortening is left to the
//! library's child.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt as _;
use std::path::Path;

use containerd_shim::protos::types::mount::Mount;

/// containerd's mount options that are flags, as `mount(8)` reads them (true: the option clears
/// the flag); any other option is the filesystem's data.
const FLAGS: &[(&str, bool, libc::c_ulong)] = &[
    ("async", true, libc::MS_SYNCHRONOUS),
    ("atime", true, libc::MS_NOATIME),
    ("bind", false, libc::MS_BIND),
    ("defaults", false, 0),
    ("dev", true, libc::MS_NODEV),
    ("diratime", true, libc::MS_NODIRATIME),
    ("dirsync", false, libc::MS_DIRSYNC),
    ("exec", true, libc::MS_NOEXEC),
    ("mand", false, libc::MS_MANDLOCK),
    ("noatime", false, libc::MS_NOATIME),
    ("nodev", false, libc::MS_NODEV),
    ("nodiratime", false, libc::MS_NODIRATIME),
    ("noexec", false, libc::MS_NOEXEC),
    ("nomand", true, libc::MS_MANDLOCK),
    ("norelatime", true, libc::MS_RELATIME),
    ("nostrictatime", true, libc::MS_STRICTATIME),
    ("nosuid", false, libc::MS_NOSUID),
    ("rbind", false, libc::MS_BIND | libc::MS_REC),
    ("relatime", false, libc::MS_RELATIME),
    ("remount", false, libc::MS_REMOUNT),
    ("ro", false, libc::MS_RDONLY),
    ("rw", true, libc::MS_RDONLY),
    ("strictatime", false, libc::MS_STRICTATIME),
    ("suid", true, libc::MS_NOSUID),
    ("sync", false, libc::MS_SYNCHRONOUS),
];

/// Mounts one of containerd's rootfs mounts on `target`.
pub(crate) fn mount(mount: &Mount, target: &Path) -> io::Result<()> {
    fn non_empty(s: &str) -> Option<&str> {
        (!s.is_empty()).then_some(s)
    }
    let (kind, source, options) = (
        non_empty(&mount.type_),
        non_empty(&mount.source),
        &mount.options,
    );
    // The library's rule for an overlay it shortens: options within 512 bytes of a page.
    // SAFETY: sysconf reads a constant of the system.
    let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096);
    if kind == Some("overlay") && options.iter().map(String::len).sum::<usize>() >= page - 512 {
        return containerd_shim::mount::mount_rootfs(kind, source, options, target)
            .map_err(io::Error::other);
    }
    let (flags, data) = flags_and_data(options);
    if data.len() > page {
        return Err(io::Error::other(format!(
            "the mount options of {} are longer than a page",
            target.display()
        )));
    }
    let data = (!data.is_empty()).then_some(data);
    if flags & libc::MS_REMOUNT == 0 || data.is_some() {
        mount_call(source, target, kind, flags, data.as_deref())?;
    }
    // A read-only bind mount is read-only only once remounted so.
    if flags & (libc::MS_BIND | libc::MS_RDONLY) == libc::MS_BIND | libc::MS_RDONLY {
        mount_call(None, target, None, flags | libc::MS_REMOUNT, None)?;
    }
    Ok(())
}

/// The flags `options` set, and the rest joined as the filesystem's data.
fn flags_and_data(options: &[String]) -> (libc::c_ulong, String) {
    let mut flags = 0;
    let mut data = Vec::new();
    for option in options {
        match FLAGS.iter().find(|(name, ..)| name == option) {
            Some((_, true, flag)) => flags &= !flag,
            Some((_, false, flag)) => flags |= flag,
            None => data.push(option.as_str()),
        }
    }
    (flags, data.join(","))
}

/// Detaches whatever is mounted on `target` (nothing, fine).
pub(crate) fn unmount(target: &Path) {
    let Ok(target) = c_string(target.as_os_str().as_bytes()) else {
        return;
    };
    // SAFETY: a valid NUL-terminated path; MNT_DETACH only detaches the mount (EINVAL when
    // nothing is mounted there, which is fine).
    unsafe {
        libc::umount2(target.as_ptr(), libc::MNT_DETACH);
    }
}

fn c_string(s: &[u8]) -> io::Result<CString> {
    CString::new(s).map_err(|_| io::Error::other("a mount argument holds a NUL byte"))
}

fn mount_call(
    source: Option<&str>,
    target: &Path,
    kind: Option<&str>,
    flags: libc::c_ulong,
    data: Option<&str>,
) -> io::Result<()> {
    let c = |s: &str| c_string(s.as_bytes());
    let source = source.map(c).transpose()?;
    let target_c = c_string(target.as_os_str().as_bytes())?;
    let kind = kind.map(c).transpose()?;
    let data = data.map(c).transpose()?;
    let ptr = |s: &Option<CString>| s.as_ref().map_or(std::ptr::null(), |s| s.as_ptr());
    // SAFETY: NUL-terminated strings that outlive the call, or null where mount(2) allows it.
    let done = unsafe {
        libc::mount(
            ptr(&source),
            target_c.as_ptr(),
            ptr(&kind),
            flags,
            ptr(&data).cast(),
        )
    };
    if done != 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(
            e.kind(),
            format!("cannot mount the rootfs on {}: {e}", target.display()),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::flags_and_data;

    fn read(options: &[&str]) -> (libc::c_ulong, String) {
        flags_and_data(&options.iter().map(|o| o.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn options_are_flags_or_the_filesystems_data() {
        // A snapshot's bind mount, read-only.
        assert_eq!(
            read(&["rbind", "ro"]),
            (
                libc::MS_BIND | libc::MS_REC | libc::MS_RDONLY,
                String::new()
            )
        );
        // An overlay: its directories are data.
        assert_eq!(
            read(&["index=off", "lowerdir=/a:/b", "nosuid"]),
            (libc::MS_NOSUID, "index=off,lowerdir=/a:/b".to_string())
        );
        // A later option clears what an earlier one set.
        assert_eq!(read(&["ro", "rw", "nodev", "dev"]), (0, String::new()));
    }
}
