//! Process-level behaviour shared by the command-line programs (`edgelm`,
//! `edgelm-compress`).

/// Ends the process quietly when the reader of stdout goes away (`... | head`), as C
/// tools do, instead of panicking inside `println!`. Call first thing in `main`.
pub fn default_sigpipe() {
    #[cfg(unix)]
    // SAFETY: meant to be called first thing in main, before any other thread exists;
    // SIG_DFL is a valid disposition for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// The error and its causes on one line, skipping a cause whose text the message
/// already holds (library errors often print their source themselves).
pub fn error_message(e: &(dyn std::error::Error + 'static)) -> String {
    let mut msg = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !msg.contains(&text) {
            msg.push_str(": ");
            msg.push_str(&text);
        }
        cause = c.source();
    }
    msg
}

/// Temporary files to remove if the process is interrupted: NUL-terminated paths,
/// read by the signal handler with atomic loads only (no lock, no allocation: both
/// would be unsafe in a handler).
const TEMP_SLOTS: usize = 16;
static TEMP_FILES: [std::sync::atomic::AtomicPtr<std::ffi::c_char>; TEMP_SLOTS] =
    [const { std::sync::atomic::AtomicPtr::new(std::ptr::null_mut()) }; TEMP_SLOTS];

/// While alive, `path` (a temporary file being written) is removed if SIGINT or SIGTERM
/// ends the process (see [`remove_temp_files_on_signal`]).
pub struct TempFileGuard {
    slot: Option<usize>,
}

impl TempFileGuard {
    /// Registers `path`; with every slot taken it is simply not registered.
    pub fn new(path: &std::path::Path) -> TempFileGuard {
        use std::sync::atomic::Ordering;
        #[cfg(unix)]
        let bytes = {
            use std::os::unix::ffi::OsStrExt;
            path.as_os_str().as_bytes().to_vec()
        };
        #[cfg(not(unix))]
        let bytes = path.to_string_lossy().into_owned().into_bytes();
        let Ok(c) = std::ffi::CString::new(bytes) else {
            return TempFileGuard { slot: None };
        };
        // Never freed: a handler may still hold the pointer while the guard drops.
        let p = c.into_raw();
        let slot = TEMP_FILES.iter().position(|s| {
            s.compare_exchange(std::ptr::null_mut(), p, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
        });
        TempFileGuard { slot }
    }
}

impl Drop for TempFileGuard {
    fn drop(&mut self) {
        if let Some(i) = self.slot {
            TEMP_FILES[i].store(std::ptr::null_mut(), std::sync::atomic::Ordering::SeqCst);
        }
    }
}

/// Makes SIGINT and SIGTERM remove the registered temporary files (see
/// [`TempFileGuard`]) before the process ends as the signal would have ended it. Call
/// first thing in `main` of a program that writes files.
pub fn remove_temp_files_on_signal() {
    #[cfg(unix)]
    {
        extern "C" fn handler(sig: libc::c_int) {
            for slot in &TEMP_FILES {
                let p = slot.load(std::sync::atomic::Ordering::SeqCst);
                if !p.is_null() {
                    // SAFETY: `p` is a NUL-terminated path that is never freed; unlink,
                    // signal and raise are async-signal-safe.
                    unsafe { libc::unlink(p) };
                }
            }
            // SAFETY: as above; the default disposition then ends the process with
            // this signal, as if no handler had been installed.
            unsafe {
                libc::signal(sig, libc::SIG_DFL);
                libc::raise(sig);
            }
        }
        for sig in [libc::SIGINT, libc::SIGTERM] {
            // SAFETY: `handler` only does async-signal-safe work (above).
            unsafe {
                libc::signal(
                    sig,
                    handler as extern "C" fn(libc::c_int) as libc::sighandler_t,
                );
            }
        }
    }
}
