//! Small durable maps kept beside ldk-node's own store: what ldk-node does not record
//! (invoice labels, the details of channels once they closed).
//!
//! Each is one JSON object in a file, rewritten atomically (temporary file, fsync, rename,
//! fsync of the directory) before the change is acknowledged.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

/// A string-keyed map of JSON values persisted in one file.
pub struct DurableMap {
    path: PathBuf,
    entries: Map<String, Value>,
}

impl DurableMap {
    /// Load `path` (an absent file is an empty map).
    pub fn open(path: PathBuf) -> io::Result<Self> {
        let entries = match fs::read(&path) {
            Ok(bytes) => match serde_json::from_slice::<Value>(&bytes) {
                Ok(Value::Object(map)) => map,
                _ => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("{} is not a JSON object", path.display()),
                    ))
                }
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => Map::new(),
            Err(e) => return Err(e),
        };
        Ok(Self { path, entries })
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.entries.get(key)
    }

    pub fn values(&self) -> impl Iterator<Item = (&String, &Value)> {
        self.entries.iter()
    }

    /// Set `key` and write the file before returning.
    pub fn insert(&mut self, key: String, value: Value) -> io::Result<()> {
        let previous = self.entries.insert(key.clone(), value);
        if let Err(e) = write_atomically(&self.path, &Value::Object(self.entries.clone())) {
            match previous {
                Some(old) => self.entries.insert(key, old),
                None => self.entries.remove(&key),
            };
            return Err(e);
        }
        Ok(())
    }
}

fn write_atomically(path: &Path, value: &Value) -> io::Result<()> {
    let partial = path.with_extension("partial");
    let mut file = File::create(&partial)?;
    file.write_all(&serde_json::to_vec_pretty(value)?)?;
    file.sync_all()?;
    fs::rename(&partial, path)?;
    if let Some(dir) = path.parent() {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn survives_reopening() {
        let dir = std::env::temp_dir().join(format!("lnh-ldkd-store-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("map.json");
        let mut map = DurableMap::open(path.clone()).unwrap();
        assert!(map.get("a").is_none());
        map.insert("a".into(), json!({"n": 1})).unwrap();
        let again = DurableMap::open(path.clone()).unwrap();
        assert_eq!(again.get("a"), Some(&json!({"n": 1})));
        fs::write(&path, b"[1]").unwrap();
        assert!(DurableMap::open(path).is_err());
        fs::remove_dir_all(dir).unwrap();
    }
}
