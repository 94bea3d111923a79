//! A snapshot's files on this machine: whether a savepoint or retained checkpoint is
//! there (its `_metadata` file), and their removal when retention disposes of it.
//! Only a directory that is a snapshot (it holds `_metadata`) is ever removed.

use std::path::{Component, PathBuf};

/// The directory of a snapshot at `location`, if it is on this machine's file system
/// (an absolute path or a `file:` URI); a location that names its `_metadata` file
/// gives that file's directory.
pub fn local_dir(location: &str) -> Option<PathBuf> {
    let location = location.trim();
    let path = if location.starts_with('/') {
        PathBuf::from(location)
    } else {
        crate::paths::file_uri_path(location)?
    };
    if path.file_name().is_some_and(|n| n == "_metadata") {
        return path.parent().map(PathBuf::from);
    }
    Some(path)
}

/// Whether `location` is on this machine's file system.
pub fn is_local(location: &str) -> bool {
    local_dir(location).is_some()
}

/// Why the snapshot at `location` cannot be restored from, if its `_metadata` file is
/// not there (a location of another file system is not looked at). The message names
/// the location as missing: the lifecycle takes the snapshot as gone and falls back to
/// the next older one (lifecycle/restore.rs).
pub fn missing(location: &str) -> Option<String> {
    let metadata = local_dir(location)?.join("_metadata");
    // Only "not there" is gone: a permission or I/O error is left for Flink to say
    // (taking it as gone would restore older state in its place).
    match std::fs::metadata(&metadata) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(format!(
            "the snapshot {location} is not there: {} does not exist",
            metadata.display()
        )),
        Ok(m) if !m.is_file() => Some(format!(
            "the snapshot {location} is not there: {} does not exist (not a file)",
            metadata.display()
        )),
        _ => None,
    }
}

/// Removes the snapshot directory at `location`. One already gone is removed; a
/// directory without `_metadata`, or a path too short to be a snapshot's, is not
/// touched.
pub fn remove(location: &str) -> Result<(), String> {
    let Some(dir) = local_dir(location) else {
        return Err(format!("{location} is not on this machine's file system"));
    };
    let depth = dir
        .components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .count();
    if depth < 2 || dir.components().any(|c| matches!(c, Component::ParentDir)) {
        return Err(format!(
            "{} is not a snapshot's directory: not removed",
            dir.display()
        ));
    }
    match std::fs::symlink_metadata(&dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("cannot read {}: {e}", dir.display())),
        Ok(m) if !m.is_dir() => {
            return Err(format!("{} is not a directory: not removed", dir.display()))
        }
        Ok(_) => {}
    }
    if !dir.join("_metadata").is_file() {
        return Err(format!(
            "{} holds no _metadata, so it is not a snapshot: not removed",
            dir.display()
        ));
    }
    std::fs::remove_dir_all(&dir).map_err(|e| format!("removing {}: {e}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_snapshot_directory_is_removed() {
        let tmp = tempfile::tempdir().unwrap();
        let sp = tmp.path().join("savepoints/savepoint-1");
        std::fs::create_dir_all(&sp).unwrap();
        std::fs::write(sp.join("_metadata"), b"m").unwrap();
        std::fs::write(sp.join("data"), b"d").unwrap();
        let uri = format!("file://{}", sp.display());
        assert_eq!(missing(&uri), None);
        remove(&uri).unwrap();
        assert!(!sp.exists());
        assert!(missing(&uri).unwrap().contains("_metadata does not exist"));
        remove(&uri).expect("one already gone is removed");

        // Not a snapshot: kept.
        let other = tmp.path().join("precious");
        std::fs::create_dir_all(&other).unwrap();
        std::fs::write(other.join("keep.txt"), b"k").unwrap();
        let err = remove(other.to_str().unwrap()).unwrap_err();
        assert!(err.contains("holds no _metadata"), "{err}");
        assert!(other.join("keep.txt").exists());
        for short in ["/", "file:///", "/tmp", "/tmp/../etc/x"] {
            assert!(remove(short).is_err(), "{short}");
        }
        assert!(remove("s3://bucket/sp").is_err());
        assert!(!is_local("s3://bucket/sp"));
        assert_eq!(
            local_dir("file:///sp/x/_metadata"),
            Some(PathBuf::from("/sp/x"))
        );
    }
}
