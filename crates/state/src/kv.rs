//! An app's Spin key-value stores on disk: one redb file per app (`<root>/daemon/kv/<app>.redb`,
//! owner-only), every change committed before it is answered, so what a guest stored is there
//! after the app or the daemon restarts, as `spin up` keeps its default store in a file.

use std::path::Path;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use crate::{StateError, open_file, read, write};

/// (store label, key) -> value.
const ENTRIES: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("entries");

pub struct KvFile {
    db: Database,
}

/// One entry: its store's label, its key, its value.
pub type Entry = (String, String, Vec<u8>);

impl KvFile {
    /// Opens the file at `path`, creating it (0600) if there is none.
    pub fn open(path: &Path) -> Result<KvFile, StateError> {
        let db = open_file(path, |file| file)?;
        let txn = db.begin_write().map_err(write)?;
        txn.open_table(ENTRIES).map_err(write)?;
        txn.commit().map_err(write)?;
        Ok(KvFile { db })
    }

    /// Every entry of every store.
    pub fn entries(&self) -> Result<Vec<Entry>, StateError> {
        let txn = self.db.begin_read().map_err(read)?;
        let table = txn.open_table(ENTRIES).map_err(read)?;
        let mut entries = Vec::new();
        for entry in table.iter().map_err(read)? {
            let (key, value) = entry.map_err(read)?;
            let (label, key) = key.value();
            entries.push((label.to_string(), key.to_string(), value.value().to_vec()));
        }
        Ok(entries)
    }

    /// Sets `key` of store `label` to `value`, or removes it (`None`); committed on return.
    pub fn put(&self, label: &str, key: &str, value: Option<&[u8]>) -> Result<(), StateError> {
        let txn = self.db.begin_write().map_err(write)?;
        {
            let mut table = txn.open_table(ENTRIES).map_err(write)?;
            match value {
                Some(value) => table.insert((label, key), value).map(drop),
                None => table.remove((label, key)).map(drop),
            }
            .map_err(write)?;
        }
        txn.commit().map_err(write)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_outlive_the_file_being_closed_and_only_the_owner_reads_them() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.redb");
        let file = KvFile::open(&path).unwrap();
        file.put("default", "a", Some(b"1")).unwrap();
        file.put("default", "b", Some(b"2")).unwrap();
        file.put("other", "a", Some(b"3")).unwrap();
        file.put("default", "b", None).unwrap();
        drop(file);
        let file = KvFile::open(&path).unwrap();
        assert_eq!(
            file.entries().unwrap(),
            [
                ("default".into(), "a".into(), b"1".to_vec()),
                ("other".into(), "a".into(), b"3".to_vec())
            ]
        );
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
