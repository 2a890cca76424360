//! What must not outlive wirelab when a signal ends it: temporary output
//! files (`.out.txt.wirelab-PID.tmp`, renamed into place only when whole),
//! trace's working directory, and the kernel's trace instances.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

static TEMPORARY: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Remove `path` (a file or a directory) if a signal ends wirelab before
/// [`done`] is called for it.
pub fn remove_on_signal(path: &Path) {
    if let Ok(mut paths) = TEMPORARY.lock() {
        paths.push(path.to_path_buf());
    }
}

/// `path` was renamed into place or removed: nothing left to clean.
pub fn done(path: &Path) {
    if let Ok(mut paths) = TEMPORARY.lock() {
        paths.retain(|p| p != path);
    }
}

/// Remove every temporary path and kernel trace instance of this process.
pub fn remove_all() {
    if let Ok(mut paths) = TEMPORARY.lock() {
        for path in paths.drain(..) {
            if path.is_dir() {
                let _ = std::fs::remove_dir_all(&path);
            } else {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
    crate::kernel::tracefs::remove_all();
}

/// On each of `signals`, clean up ([`remove_all`]), then end as the signal
/// would have. Installed once per signal, for the signals nothing else in
/// the command handles (Ctrl-C stops `watch` and keeps what it captured).
pub fn exit_cleanly_on(signals: &[libc::c_int]) {
    static INSTALLED: Mutex<Vec<libc::c_int>> = Mutex::new(Vec::new());
    let Ok(mut installed) = INSTALLED.lock() else {
        return;
    };
    let new: Vec<libc::c_int> = signals
        .iter()
        .copied()
        .filter(|s| !installed.contains(s))
        .collect();
    if new.is_empty() {
        return;
    }
    let Ok(mut iter) = signal_hook::iterator::Signals::new(&new) else {
        return;
    };
    installed.extend(&new);
    std::thread::spawn(move || {
        if let Some(signal) = iter.forever().next() {
            remove_all();
            let _ = signal_hook::low_level::emulate_default_handler(signal);
        }
    });
}
