//! Where the live users and roles survive a restart: `admin.redb` in
//! `--data-dir` (in memory with `--durability none`), its own file beside
//! the session store and the history. Each command batch that changed
//! something is one write transaction, committed before the change is put
//! in force and answered. Records are JSON, one per user and per role.

use std::path::{Path, PathBuf};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use crate::{
    config::bridge::BridgeConfig,
    security::live::{DefaultAccess, LiveSet, LiveUser, Role},
};

/// The file's name inside `--data-dir`.
pub(crate) const FILE_NAME: &str = "admin.redb";

const USERS: TableDefinition<&str, &str> = TableDefinition::new("users");
const ROLES: TableDefinition<&str, &str> = TableDefinition::new("roles");
const SETTINGS: TableDefinition<&str, &str> = TableDefinition::new("settings");
/// Bridges created on the API, by name (`[[bridge]]` settings as JSON).
const BRIDGES: TableDefinition<&str, &str> = TableDefinition::new("bridges");
/// The key of the default access in `settings`.
const DEFAULTS: &str = "defaultACLAccess";

/// The open `admin.redb`.
pub(crate) struct AdminStore {
    db: Database,
    path: Option<PathBuf>,
}

impl AdminStore {
    /// Open (or create) the file in `dir`, or a database in memory; and
    /// what it holds.
    pub(crate) fn open(dir: Option<&Path>) -> Result<(AdminStore, LiveSet), String> {
        let (db, path) = crate::util::redb_file::open(dir, FILE_NAME, "the admin store")?;
        let store = AdminStore { db, path };
        let live = store
            .load()
            .map_err(|e| format!("cannot read the admin store: {e}"))?;
        Ok((store, live))
    }

    /// Where the file is (`None`: in memory).
    pub(crate) fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    fn load(&self) -> Result<LiveSet, redb::Error> {
        let txn = self.db.begin_write()?;
        txn.open_table(USERS)?;
        txn.open_table(ROLES)?;
        txn.open_table(SETTINGS)?;
        txn.open_table(BRIDGES)?;
        txn.commit()?;
        let txn = self.db.begin_read()?;
        let mut live = LiveSet::default();
        for entry in txn.open_table(USERS)?.iter()? {
            let (name, json) = entry?;
            match serde_json::from_str::<LiveUser>(json.value()) {
                Ok(user) => {
                    live.users.insert(name.value().to_string(), user);
                }
                Err(err) => tracing::warn!(user = name.value(), %err, "live user skipped"),
            }
        }
        for entry in txn.open_table(ROLES)?.iter()? {
            let (name, json) = entry?;
            match serde_json::from_str::<Role>(json.value()) {
                Ok(role) => {
                    live.roles.insert(name.value().to_string(), role);
                }
                Err(err) => tracing::warn!(role = name.value(), %err, "live role skipped"),
            }
        }
        if let Some(json) = txn.open_table(SETTINGS)?.get(DEFAULTS)? {
            match serde_json::from_str::<DefaultAccess>(json.value()) {
                Ok(defaults) => live.defaults = defaults,
                Err(err) => tracing::warn!(%err, "default ACL access skipped"),
            }
        }
        Ok(live)
    }

    /// Write what changed from `old` to `new`, in one transaction.
    pub(crate) fn save(&self, old: &LiveSet, new: &LiveSet) -> Result<(), String> {
        self.write(old, new).map_err(|e| e.to_string())
    }

    fn write(&self, old: &LiveSet, new: &LiveSet) -> Result<(), redb::Error> {
        let txn = self.db.begin_write()?;
        {
            let mut users = txn.open_table(USERS)?;
            for (name, user) in &new.users {
                if old.users.get(name) != Some(user) {
                    users.insert(name.as_str(), json(user).as_str())?;
                }
            }
            for name in old.users.keys().filter(|n| !new.users.contains_key(*n)) {
                users.remove(name.as_str())?;
            }
            let mut roles = txn.open_table(ROLES)?;
            for (name, role) in &new.roles {
                if old.roles.get(name) != Some(role) {
                    roles.insert(name.as_str(), json(role).as_str())?;
                }
            }
            for name in old.roles.keys().filter(|n| !new.roles.contains_key(*n)) {
                roles.remove(name.as_str())?;
            }
            if old.defaults != new.defaults {
                let mut settings = txn.open_table(SETTINGS)?;
                settings.insert(DEFAULTS, json(&new.defaults).as_str())?;
            }
        }
        txn.commit()?;
        Ok(())
    }
}

impl AdminStore {
    /// The bridges created on the API; one that cannot be read is skipped
    /// (and logged).
    pub(crate) fn bridges(&self) -> Result<Vec<BridgeConfig>, String> {
        let read = || -> Result<Vec<BridgeConfig>, redb::Error> {
            let txn = self.db.begin_read()?;
            let mut out = Vec::new();
            for entry in txn.open_table(BRIDGES)?.iter()? {
                let (name, json) = entry?;
                match serde_json::from_str::<BridgeConfig>(json.value()) {
                    Ok(bridge) => out.push(bridge),
                    Err(err) => {
                        tracing::warn!(bridge = name.value(), %err, "stored bridge skipped")
                    }
                }
            }
            Ok(out)
        };
        read().map_err(|e| e.to_string())
    }

    /// Keep a bridge's settings (a new one, or new settings).
    pub(crate) fn put_bridge(&self, bridge: &BridgeConfig) -> Result<(), String> {
        let write = || -> Result<(), redb::Error> {
            let txn = self.db.begin_write()?;
            txn.open_table(BRIDGES)?
                .insert(bridge.name.as_str(), json(bridge).as_str())?;
            txn.commit()?;
            Ok(())
        };
        write().map_err(|e| e.to_string())
    }

    /// Forget a bridge.
    pub(crate) fn delete_bridge(&self, name: &str) -> Result<(), String> {
        let write = || -> Result<(), redb::Error> {
            let txn = self.db.begin_write()?;
            txn.open_table(BRIDGES)?.remove(name)?;
            txn.commit()?;
            Ok(())
        };
        write().map_err(|e| e.to_string())
    }
}

fn json(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).expect("live records serialize")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::live::RoleRef;

    #[test]
    fn what_is_saved_is_loaded_again() {
        let dir = std::env::temp_dir().join(format!("kite-admin-store-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (store, empty) = AdminStore::open(Some(&dir)).unwrap();
        assert_eq!(empty, LiveSet::default());
        let mut live = LiveSet::default();
        live.users.insert(
            "u".into(),
            LiveUser {
                username: "u".into(),
                password_hash: Some("$argon2id$x".into()),
                roles: vec![RoleRef {
                    rolename: "r".into(),
                    priority: 2,
                }],
                ..LiveUser::default()
            },
        );
        live.roles.insert(
            "r".into(),
            Role {
                rolename: "r".into(),
                ..Role::default()
            },
        );
        live.defaults.subscribe = true;
        store.save(&empty, &live).unwrap();
        let mut less = live.clone();
        less.roles.clear();
        store.save(&live, &less).unwrap();
        drop(store);
        let (_, loaded) = AdminStore::open(Some(&dir)).unwrap();
        assert_eq!(loaded, less);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
