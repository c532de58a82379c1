//! Ctrl-C and SIGTERM. The first one sets the run's cancel flag: commands that are running
//! finish, their results are journaled, no new host, batch or step starts, and the run is
//! recorded as interrupted (resumable). The second one ends the process at once with exit
//! code 130; the run then looks killed, which is resumable too.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use signal_hook::consts::{SIGINT, SIGTERM};

use crate::report::Reporter;

/// The exit code of an interrupted run, as shells report a process ended by SIGINT.
pub const EXIT_CODE: i32 = crate::error::exit::INTERRUPTED;

pub fn install(cancel: Arc<AtomicBool>, reporter: Arc<Reporter>) -> std::io::Result<()> {
    for sig in [SIGINT, SIGTERM] {
        // Handlers run in registration order: on the first signal the flag is still unset,
        // so only the second handler acts (sets it); on the next one the first exits.
        signal_hook::flag::register_conditional_shutdown(sig, EXIT_CODE, cancel.clone())?;
        signal_hook::flag::register(sig, cancel.clone())?;
    }
    // Saying what happens is not async-signal-safe work: a thread does it.
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
    std::thread::spawn(move || {
        if let Some(sig) = signals.forever().next() {
            let name = if sig == SIGINT { "Ctrl-C" } else { "SIGTERM" };
            reporter.note(&format!(
                "{name}: letting the commands that are running finish, then stopping (the run can be resumed); \
                 press Ctrl-C again to abort at once"
            ));
        }
    });
    Ok(())
}
