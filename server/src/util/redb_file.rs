//! A small `redb` database of its own beside the session store (the
//! history's, the admin store's): a file in `--data-dir`, or in memory
//! with `--durability none`.

use std::path::{Path, PathBuf};

use redb::{backends::InMemoryBackend, Database};

/// Open (or create) `file` in `dir`, or a database in memory without a
/// `dir`; `what` names it in errors ("the history"). Also where it is.
pub(crate) fn open(
    dir: Option<&Path>,
    file: &str,
    what: &str,
) -> Result<(Database, Option<PathBuf>), String> {
    match dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            let path = dir.join(file);
            let db = Database::create(&path)
                .map_err(|e| format!("cannot open {what} {}: {e}", path.display()))?;
            Ok((db, Some(path)))
        }
        None => {
            let db = Database::builder()
                .create_with_backend(InMemoryBackend::new())
                .map_err(|e| format!("cannot create {what} in memory: {e}"))?;
            Ok((db, None))
        }
    }
}
