//! What a run cost this process: CPU (`/proc/self/stat`, every thread,
//! so an engine's background threads count), bytes it caused to be
//! written to the disk (`/proc/self/io`, `write_bytes`), and the size of
//! the engine's files.

use std::{io, path::Path, time::Instant};

use crate::procstat;

/// One reading of this process's counters.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    pub at: Instant,
    pub cpu_s: f64,
    pub write_bytes: u64,
}

/// Bytes this process caused to be sent to the storage layer so far.
pub fn write_bytes() -> io::Result<u64> {
    let io = std::fs::read_to_string("/proc/self/io")?;
    io.lines()
        .find_map(|line| line.strip_prefix("write_bytes:")?.trim().parse().ok())
        .ok_or_else(|| io::Error::other("no write_bytes in /proc/self/io"))
}

impl Sample {
    pub fn now() -> io::Result<Sample> {
        Ok(Sample {
            at: Instant::now(),
            cpu_s: procstat::cpu_seconds(std::process::id())?,
            write_bytes: write_bytes()?,
        })
    }
}

/// The bytes of every file under `dir`.
pub fn dir_bytes(dir: &Path) -> io::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() {
            dir_bytes(&entry.path())?
        } else {
            meta.len()
        };
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_synced_file_counts_as_written() {
        let dir = std::env::temp_dir().join(format!("kite-measure-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let before = Sample::now().unwrap();
        let file = dir.join("f");
        std::fs::write(&file, vec![7u8; 1 << 20]).unwrap();
        std::fs::File::open(&file).unwrap().sync_all().unwrap();
        let after = Sample::now().unwrap();
        assert_eq!(dir_bytes(&dir).unwrap(), 1 << 20);
        // A file system that does not account I/O (tmpfs) reports 0: allow it.
        let written = after.write_bytes - before.write_bytes;
        assert!(written == 0 || written >= 1 << 20, "{written}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
