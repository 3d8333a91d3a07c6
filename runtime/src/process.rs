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
