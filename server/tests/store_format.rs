//! A data dir this broker does not understand stops it with a clear message
//! naming the file, and nothing in it is changed.

use std::process::Command;

use redb::{Database, ReadableDatabase, TableDefinition};

const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

fn data_dir(name: &str) -> std::path::PathBuf {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_store_from_a_newer_version_is_refused_and_left_alone() {
    let dir = data_dir("kite-newer");
    let file = dir.join("kite.redb");
    {
        let db = Database::create(&file).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(META).unwrap().insert("format", 99).unwrap();
        txn.commit().unwrap();
    }
    let out = Command::new(env!("CARGO_BIN_EXE_kite-server"))
        .args(["--tcp", "127.0.0.1:0"])
        .args(["--http", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(&dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains(&file.display().to_string()), "{stderr}");
    assert!(stderr.contains("newer"), "{stderr}");
    let db = Database::open(&file).unwrap();
    let txn = db.begin_read().unwrap();
    let format = txn
        .open_table(META)
        .unwrap()
        .get("format")
        .unwrap()
        .unwrap()
        .value();
    assert_eq!(
        format, 99,
        "the broker changed a store it does not understand"
    );
    drop(txn);
    drop(db);
    let _ = std::fs::remove_dir_all(&dir);
}
