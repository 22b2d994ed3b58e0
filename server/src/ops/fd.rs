//! The process's open-file limit.

/// Raise this process's open-file limit to its hard limit: every
/// connection is a file descriptor, and the usual soft limit (1024) is far
/// below what a broker serves. Returns the limit now in force.
#[allow(clippy::unnecessary_cast)] // rlim_t is u64 on Linux, not everywhere
pub fn raise_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
        unsafe {
            let mut limit = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
                return None;
            }
            if limit.rlim_cur < limit.rlim_max {
                let raised = libc::rlimit {
                    rlim_cur: limit.rlim_max,
                    rlim_max: limit.rlim_max,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                    return Some(raised.rlim_cur as u64);
                }
            }
            Some(limit.rlim_cur as u64)
        }
    }
    #[cfg(not(unix))]
    {
        None
    }
}
