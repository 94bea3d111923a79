//! Paths that flinkd hands on: made absolute and normalised once, where they are read.
//!
//! A path from the config, the environment or a Deployment file ends up in places that
//! do not share flinkd's working directory: a generated Flink config (Flink refuses a
//! relative `web.upload.dir`), a `file:` URI (where `file://config/..` names the host
//! `config`), a JVM started elsewhere. So every such path is resolved against the
//! directory it is relative to (the config file's, the working directory for the
//! environment, the Deployment file's) the moment it is read, and every `file:` URI is
//! built from an absolute path by the `url` crate, never by gluing strings.

use std::path::{Component, Path, PathBuf};

/// `p` made absolute against `base` (itself made absolute against the working
/// directory if need be) and normalised: the longest part of it that exists is
/// resolved by the file system (symlinks, `..` across them), the rest lexically.
pub fn resolve(base: &Path, p: &Path) -> PathBuf {
    let joined = if p.is_absolute() {
        p.to_path_buf()
    } else {
        absolute_base(base).join(p)
    };
    for ancestor in joined.ancestors() {
        if let Ok(real) = ancestor.canonicalize() {
            let rest = joined.strip_prefix(ancestor).unwrap_or(Path::new(""));
            return lexical(&real.join(rest));
        }
    }
    lexical(&joined)
}

/// The working directory, for paths given relative to it (the command line, the
/// environment). `/` if it cannot be read.
pub fn cwd() -> PathBuf {
    std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"))
}

fn absolute_base(base: &Path) -> PathBuf {
    if base.is_absolute() {
        base.to_path_buf()
    } else {
        cwd().join(base)
    }
}

/// Removes `.` and resolves `..` without touching the file system.
fn lexical(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push(c);
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// A path that is not absolute, where only an absolute one will do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path} is not an absolute path")]
pub struct NotAbsolute {
    pub path: String,
}

/// The `file:` URI of a directory (`file:///var/lib/flinkd/…/savepoints/`).
pub fn dir_uri(dir: &Path) -> Result<String, NotAbsolute> {
    url::Url::from_directory_path(dir)
        .map(String::from)
        .map_err(|()| NotAbsolute {
            path: dir.display().to_string(),
        })
}

/// The local file a `file:` URI names, if it is one with an absolute path and no host
/// (or `localhost`).
pub fn file_uri_path(uri: &str) -> Option<PathBuf> {
    let u = url::Url::parse(uri).ok()?;
    if u.scheme() != "file" {
        return None;
    }
    u.to_file_path().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_become_absolute_and_normal() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        std::fs::create_dir_all(root.join("config")).unwrap();
        // The bundled config's `state_dir = "../.flinkd/state"`, as named on the
        // command line (`config/flinkd.toml`), before anything of it exists.
        assert_eq!(
            resolve(&root.join("config"), Path::new("../.flinkd/state")),
            root.join(".flinkd/state")
        );
        assert_eq!(
            resolve(&root.join("config/./"), Path::new("./a/../b")),
            root.join("config/b")
        );
        // Absolute paths are normalised too.
        assert_eq!(
            resolve(Path::new("/unused"), &root.join("config/../x")),
            root.join("x")
        );
    }

    #[test]
    fn a_relative_base_is_taken_from_the_working_directory() {
        let got = resolve(Path::new("config"), Path::new("../state"));
        assert!(got.is_absolute(), "{}", got.display());
        assert_eq!(got, lexical(&cwd().join("state")));
    }

    #[test]
    fn symlinks_in_the_existing_part_are_followed() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        std::fs::create_dir_all(root.join("real/conf")).unwrap();
        std::os::unix::fs::symlink(root.join("real/conf"), root.join("link")).unwrap();
        // `link/..` is `real`, not `root`: the link is followed before `..` applies.
        assert_eq!(
            resolve(&root.join("link"), Path::new("../state")),
            root.join("real/state")
        );
    }

    #[test]
    fn file_uris_are_built_from_absolute_paths_only() {
        assert_eq!(
            dir_uri(Path::new("/var/lib/flinkd/sp")).unwrap(),
            "file:///var/lib/flinkd/sp/"
        );
        assert_eq!(
            dir_uri(Path::new("/a dir/x")).unwrap(),
            "file:///a%20dir/x/"
        );
        assert!(dir_uri(Path::new("config/../x")).is_err());
        assert_eq!(
            file_uri_path("file:///opt/a.jar"),
            Some(PathBuf::from("/opt/a.jar"))
        );
        assert_eq!(
            file_uri_path("file://localhost/opt/a.jar"),
            Some(PathBuf::from("/opt/a.jar"))
        );
        assert_eq!(file_uri_path("file://config/a.jar"), None, "a host");
        assert_eq!(file_uri_path("https://h/a.jar"), None);
    }
}
