//! What the watched directory held at its last read, so that a read after a change
//! parses and checks only the files that changed.
//!
//! Per file it keeps a stamp (size, modification and change times, inode) and what
//! the file defined (Deployment identities and ids, whether it holds a
//! DeploymentTarget or DeploymentDefaults); only the files that define targets or
//! defaults are kept whole. A read is then one of:
//!
//! - **unchanged**: no stamp moved (the periodic rescan of a quiet directory: a `stat`
//!   per file, no parsing);
//! - **partial**: only Deployment files changed, none of whose identities another file
//!   also defines: those files are checked together with the target and defaults files,
//!   and only Deployments from them can change;
//! - **full**: anything else (the first read, a target or defaults file changed, an
//!   identity two files define, a config reload): every file is read and checked as one
//!   set, as without the cache.
//!
//! The cache decides nothing a full read would decide differently: a partial read is
//! only taken where the files outside it cannot affect the result.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use uuid::Uuid;

use crate::resources::ReadLimits;
use crate::resources::{self, FileContents, Resource};
use crate::spec::Identity;

/// What tells a file changed without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
    ino: u64,
    dev: u64,
}

impl Stamp {
    /// Of the file a path leads to (symlinks followed, as the directory is read).
    fn of(path: &Path) -> Option<Stamp> {
        let m = std::fs::metadata(path).ok()?;
        m.is_file().then(|| Stamp {
            len: m.len(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
            ino: m.ino(),
            dev: m.dev(),
        })
    }
}

#[derive(Debug, Clone, Default)]
struct Summary {
    identities: Vec<Identity>,
    ids: Vec<Uuid>,
    /// Defines a DeploymentTarget or DeploymentDefaults.
    context: bool,
}

impl Summary {
    fn of(contents: &FileContents) -> Summary {
        let mut s = Summary::default();
        for (r, _) in &contents.resources {
            match r {
                Resource::Deployment(d) => {
                    s.identities.push(d.metadata.identity());
                    s.ids.extend(d.metadata.id);
                }
                Resource::DeploymentTarget(_) | Resource::DeploymentDefaults(_) => s.context = true,
                // Names a Deployment, defines none: read alone when it changes.
                Resource::Savepoint(_) => {}
            }
        }
        s
    }
}

/// The outcome of a read.
#[derive(Debug)]
pub enum Read {
    /// Nothing changed since the last read.
    Unchanged,
    /// Only the files in `scope` changed. `contents` holds those of them that exist, and
    /// every file that defines targets or defaults.
    Partial {
        scope: Vec<PathBuf>,
        contents: Vec<FileContents>,
    },
    /// The whole directory, every file read.
    Full {
        files: Vec<PathBuf>,
        contents: Vec<FileContents>,
    },
}

#[derive(Default)]
pub struct DirCache {
    primed: bool,
    stamps: HashMap<PathBuf, Stamp>,
    summaries: HashMap<PathBuf, Summary>,
    /// How many files define each identity, and each id.
    identities: HashMap<Identity, u32>,
    ids: HashMap<Uuid, u32>,
    /// The files defining targets or defaults, whole.
    context: BTreeMap<PathBuf, FileContents>,
}

impl DirCache {
    /// The next read takes `path` as changed (what it defines could not be recorded).
    pub fn reread(&mut self, path: &Path) {
        self.stamps.remove(path);
    }

    /// The next read is a full one (the config changed, and with it what a check says).
    pub fn invalidate(&mut self) {
        self.primed = false;
    }

    /// Reads `dir`. `hint` names the files a change notification was about; without
    /// one (or with one naming anything but plain resource files of `dir`), every
    /// file's stamp is compared.
    pub fn read(
        &mut self,
        dir: &Path,
        limits: &ReadLimits,
        hint: Option<&[PathBuf]>,
    ) -> std::io::Result<Read> {
        if !self.primed {
            return self.read_all(dir, limits);
        }
        // A directory that is gone or unreadable changes nothing (its files' deletions,
        // named by notifications, must not read as each file deleted).
        std::fs::read_dir(dir)?;
        let hint: Option<Vec<PathBuf>> =
            hint.map(|h| h.iter().filter(|p| !ignorable(p)).cloned().collect());
        if hint.as_ref().is_some_and(Vec::is_empty) {
            // Only temporary files and editors' leftovers came and went.
            return Ok(Read::Unchanged);
        }
        let changed: BTreeSet<PathBuf> = match hint.filter(|h| plain_files_of(dir, h)) {
            Some(paths) => paths
                .iter()
                .filter(|p| self.stamps.get(*p).copied() != Stamp::of(p))
                .cloned()
                .collect(),
            None => {
                let files = resources::list_dir(dir)?;
                let listed: BTreeSet<&PathBuf> = files.iter().collect();
                let mut changed: BTreeSet<PathBuf> = files
                    .iter()
                    .filter(|p| self.stamps.get(*p).copied() != Stamp::of(p))
                    .cloned()
                    .collect();
                changed.extend(self.stamps.keys().filter(|p| !listed.contains(p)).cloned());
                changed
            }
        };
        if changed.is_empty() {
            return Ok(Read::Unchanged);
        }
        let mut fresh = Vec::new();
        for path in &changed {
            let stamp = Stamp::of(path);
            let contents = stamp.map(|_| resources::read_file(path, limits));
            let new = contents.as_ref().map(Summary::of).unwrap_or_default();
            let old = self.summaries.get(path).cloned().unwrap_or_default();
            if new.context || old.context || self.shared_with_others(&old, &new) {
                return self.read_all(dir, limits);
            }
            fresh.push((path.clone(), stamp, old, new, contents));
        }
        let mut contents: Vec<FileContents> = self.context.values().cloned().collect();
        for (path, stamp, old, new, read) in fresh {
            self.forget(&path, &old);
            if let (Some(stamp), Some(read)) = (stamp, read) {
                self.remember(path, stamp, new, &read);
                contents.push(read);
            }
        }
        Ok(Read::Partial {
            scope: changed.into_iter().collect(),
            contents,
        })
    }

    /// Whether an identity or id of the file's old or new contents is also defined by
    /// another file: then which file keeps it is decided over the whole directory.
    fn shared_with_others(&self, old: &Summary, new: &Summary) -> bool {
        let others =
            |count: Option<&u32>, mine: bool| count.copied().unwrap_or(0) > u32::from(mine);
        old.identities
            .iter()
            .chain(&new.identities)
            .any(|i| others(self.identities.get(i), old.identities.contains(i)))
            || old
                .ids
                .iter()
                .chain(&new.ids)
                .any(|i| others(self.ids.get(i), old.ids.contains(i)))
    }

    fn read_all(&mut self, dir: &Path, limits: &ReadLimits) -> std::io::Result<Read> {
        let files = resources::list_dir(dir)?;
        *self = DirCache::default();
        let mut contents = Vec::with_capacity(files.len());
        for path in &files {
            // The stamp is taken before the read: a write during it is seen next time.
            let Some(stamp) = Stamp::of(path) else {
                continue;
            };
            let read = resources::read_file(path, limits);
            self.remember(path.clone(), stamp, Summary::of(&read), &read);
            contents.push(read);
        }
        self.primed = true;
        Ok(Read::Full { files, contents })
    }

    fn remember(&mut self, path: PathBuf, stamp: Stamp, summary: Summary, read: &FileContents) {
        for i in &summary.identities {
            *self.identities.entry(i.clone()).or_default() += 1;
        }
        for i in &summary.ids {
            *self.ids.entry(*i).or_default() += 1;
        }
        if summary.context {
            self.context.insert(path.clone(), read.clone());
        }
        self.stamps.insert(path.clone(), stamp);
        self.summaries.insert(path, summary);
    }

    fn forget(&mut self, path: &Path, old: &Summary) {
        for i in &old.identities {
            decrement(&mut self.identities, i);
        }
        for i in &old.ids {
            decrement(&mut self.ids, i);
        }
        self.context.remove(path);
        self.stamps.remove(path);
        self.summaries.remove(path);
    }
}

fn decrement<K: std::hash::Hash + Eq>(counts: &mut HashMap<K, u32>, key: &K) {
    if let Some(n) = counts.get_mut(key) {
        *n -= 1;
        if *n == 0 {
            counts.remove(key);
        }
    }
}

/// A path a change notification names that cannot change what the directory defines:
/// not a resource file name, and neither a directory nor a symlink (a ConfigMap mount's
/// `..data` is both hidden and a symlink, so it is never ignored; neither is anything
/// named `..*`). Editors' temporary files, written then renamed over a file, are.
fn ignorable(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    !resources::is_resource_file_name(name)
        && !name.starts_with("..")
        && !std::fs::symlink_metadata(path)
            .is_ok_and(|m| m.file_type().is_dir() || m.file_type().is_symlink())
}

/// Whether every path is a resource file directly in `dir` (not `..data`, a
/// subdirectory, or an editor's leftover).
fn plain_files_of(dir: &Path, paths: &[PathBuf]) -> bool {
    !paths.is_empty()
        && paths.iter().all(|p| {
            p.parent() == Some(dir)
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(resources::is_resource_file_name)
                && !std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_symlink())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: &ReadLimits = &ReadLimits {
        max_file_size: crate::quantity::Bytes(1 << 20),
        yaml: crate::source::YamlLimits {
            max_nodes: 100_000,
            max_bytes: 1 << 24,
            max_depth: 64,
        },
    };

    fn deployment(name: &str) -> String {
        format!("kind: Deployment\napiVersion: v1\nmetadata:\n  name: {name}\nspec:\n  template:\n    spec:\n      artifact:\n        jarUri: /j.jar\n")
    }

    fn scope(r: &Read) -> Vec<String> {
        match r {
            Read::Partial { scope, .. } => scope
                .iter()
                .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
                .collect(),
            other => panic!("not partial: {other:?}"),
        }
    }

    #[test]
    fn only_what_changed_is_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for n in ["a", "b", "c"] {
            std::fs::write(d.join(format!("{n}.yaml")), deployment(n)).unwrap();
        }
        let mut cache = DirCache::default();
        assert!(
            matches!(cache.read(d, MAX, None).unwrap(), Read::Full { ref files, .. } if files.len() == 3)
        );
        assert!(matches!(cache.read(d, MAX, None).unwrap(), Read::Unchanged));

        // An edit, found by its stamp or named by a notification.
        std::fs::write(
            d.join("b.yaml"),
            deployment("b").replace("/j.jar", "/k.jar"),
        )
        .unwrap();
        assert_eq!(scope(&cache.read(d, MAX, None).unwrap()), ["b.yaml"]);
        std::fs::write(
            d.join("c.yaml"),
            deployment("c").replace("/j.jar", "/k.jar"),
        )
        .unwrap();
        let hint = [d.join("c.yaml")];
        let read = cache.read(d, MAX, Some(&hint)).unwrap();
        assert_eq!(scope(&read), ["c.yaml"]);
        match read {
            Read::Partial { contents, .. } => assert_eq!(contents.len(), 1),
            _ => unreachable!(),
        }
        // A new file and a deleted one.
        std::fs::write(d.join("e.yaml"), deployment("e")).unwrap();
        std::fs::remove_file(d.join("a.yaml")).unwrap();
        let read = cache.read(d, MAX, None).unwrap();
        assert_eq!(scope(&read), ["a.yaml", "e.yaml"]);
        match read {
            Read::Partial { contents, .. } => assert_eq!(contents.len(), 1, "a.yaml is gone"),
            _ => unreachable!(),
        }
    }

    #[test]
    fn targets_defaults_duplicates_and_reloads_read_everything() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("a.yaml"), deployment("a")).unwrap();
        std::fs::write(
            d.join("t.yaml"),
            "kind: DeploymentTarget\napiVersion: v1\nmetadata:\n  name: t\nspec:\n  local: {}\n",
        )
        .unwrap();
        let mut cache = DirCache::default();
        cache.read(d, MAX, None).unwrap();
        // A Deployment file is checked with the target file.
        std::fs::write(
            d.join("a.yaml"),
            deployment("a").replace("/j.jar", "/k.jar"),
        )
        .unwrap();
        match cache.read(d, MAX, None).unwrap() {
            Read::Partial { contents, .. } => assert_eq!(contents.len(), 2),
            other => panic!("{other:?}"),
        }
        // The target changed: everything.
        std::fs::write(
            d.join("t.yaml"),
            "kind: DeploymentTarget\napiVersion: v1\nmetadata:\n  name: t2\nspec:\n  local: {}\n",
        )
        .unwrap();
        assert!(matches!(
            cache.read(d, MAX, None).unwrap(),
            Read::Full { .. }
        ));
        // A second file defining `a`: which one keeps it is the whole directory's call.
        std::fs::write(d.join("b.yaml"), deployment("a")).unwrap();
        assert!(matches!(
            cache.read(d, MAX, None).unwrap(),
            Read::Full { .. }
        ));
        // Editing either of the two, too.
        std::fs::write(
            d.join("b.yaml"),
            deployment("a").replace("/j.jar", "/x.jar"),
        )
        .unwrap();
        assert!(matches!(
            cache.read(d, MAX, None).unwrap(),
            Read::Full { .. }
        ));
        // Removing the duplicate too; then Deployment files are on their own again.
        std::fs::remove_file(d.join("b.yaml")).unwrap();
        assert!(matches!(
            cache.read(d, MAX, None).unwrap(),
            Read::Full { .. }
        ));
        // A notification about something else than plain files: stamps are compared.
        assert!(matches!(
            cache.read(d, MAX, Some(&[d.join("..data")])).unwrap(),
            Read::Unchanged
        ));
        std::fs::write(d.join("a.yaml"), deployment("a")).unwrap();
        assert_eq!(
            scope(&cache.read(d, MAX, Some(&[d.join("..data")])).unwrap()),
            ["a.yaml"]
        );
        // An editor's temporary file alone changes nothing; beside the file it was
        // renamed to, only that file is read.
        assert!(matches!(
            cache.read(d, MAX, Some(&[d.join(".a.yaml.swp")])).unwrap(),
            Read::Unchanged
        ));
        std::fs::write(
            d.join("a.yaml"),
            deployment("a").replace("/j.jar", "/z.jar"),
        )
        .unwrap();
        let hint = [d.join(".a.tmp"), d.join("a.yaml")];
        assert_eq!(scope(&cache.read(d, MAX, Some(&hint)).unwrap()), ["a.yaml"]);
        cache.invalidate();
        assert!(matches!(
            cache.read(d, MAX, None).unwrap(),
            Read::Full { .. }
        ));
    }

    #[test]
    fn a_directory_that_is_gone_is_an_error_not_deleted_files() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("deployments");
        std::fs::create_dir(&d).unwrap();
        std::fs::write(d.join("a.yaml"), deployment("a")).unwrap();
        let mut cache = DirCache::default();
        cache.read(&d, MAX, None).unwrap();
        std::fs::remove_dir_all(&d).unwrap();
        assert!(cache.read(&d, MAX, Some(&[d.join("a.yaml")])).is_err());
        assert!(cache.read(&d, MAX, None).is_err());
    }
}
