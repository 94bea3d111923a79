//! Reading resource files: which files count, and each document of a file as a typed
//! `Deployment`, `DeploymentTarget` or `DeploymentDefaults`.
//!
//! A file may hold several documents; a bad document is reported and the good ones
//! around it are still read. Nothing here panics on what a file holds: empty files,
//! binary junk, files over the size cap and YAML that is not a mapping each become a
//! [`Diagnostic`] naming the file, line and field.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde_yaml::Value;

use crate::diagnostic::Diagnostic;
use crate::quantity::Bytes;
use crate::source::{self, FieldPath, Location, Segment, SourceMap};
use crate::spec::{Deployment, DeploymentDefaults, DeploymentTarget, Kind, SavepointImport};

/// Where a resource was read from.
#[derive(Debug, Clone)]
pub struct Origin {
    pub file: PathBuf,
    /// Index of the document within the file (0-based, empty documents not counted).
    pub document: usize,
    pub map: SourceMap,
}

impl Origin {
    /// An error at `path` of this resource.
    pub fn error(&self, path: FieldPath, message: impl Into<String>) -> Diagnostic {
        Diagnostic::error(&self.file, self.map.locate(&path), Some(path), message)
    }

    /// A warning at `path` of this resource.
    pub fn warning(&self, path: FieldPath, message: impl Into<String>) -> Diagnostic {
        Diagnostic::warning(&self.file, self.map.locate(&path), Some(path), message)
    }

    /// `FILE:LINE:COL` of the resource, for messages that point at it.
    pub fn place(&self) -> String {
        format!("{}:{}", self.file.display(), self.map.start)
    }
}

/// A typed resource as read from a file.
#[derive(Debug, Clone)]
pub enum Resource {
    Deployment(Deployment),
    DeploymentTarget(DeploymentTarget),
    DeploymentDefaults(DeploymentDefaults),
    Savepoint(SavepointImport),
}

/// What one file held.
#[derive(Debug, Clone, Default)]
pub struct FileContents {
    pub file: PathBuf,
    /// SHA-256 of the bytes, so a rescan can skip files that did not change.
    pub hash: String,
    pub resources: Vec<(Resource, Origin)>,
    pub diagnostics: Vec<Diagnostic>,
}

/// Whether a directory entry named `name` is a resource file: `.yaml` or `.yml`, not
/// hidden (which also skips a ConfigMap mount's `..data`), not an editor's leftover.
pub fn is_resource_file_name(name: &str) -> bool {
    let leftover = name.starts_with('.')
        || name.starts_with('#')
        || name.ends_with('~')
        || name.ends_with(".swp")
        || name.ends_with(".swx");
    !leftover && (name.ends_with(".yaml") || name.ends_with(".yml"))
}

/// The resource files of a directory, sorted by name (the order in which duplicate
/// identities are decided: the first file keeps it). Symlinks are followed.
pub fn list_dir(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let path = entry.path();
        if is_resource_file_name(name) && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// What a file may be: its size on disk, and what its YAML may expand to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadLimits {
    pub max_file_size: Bytes,
    pub yaml: source::YamlLimits,
}

impl Default for ReadLimits {
    fn default() -> Self {
        crate::config::FilesConfig::default().read_limits()
    }
}

/// Reads and parses one file, refusing files over the size limit before reading them
/// whole.
pub fn read_file(path: &Path, limits: &ReadLimits) -> FileContents {
    let max_size = limits.max_file_size;
    let file_error = |message: String| FileContents {
        file: path.to_path_buf(),
        diagnostics: vec![Diagnostic::error(path, Location::default(), None, message)],
        ..FileContents::default()
    };
    // Opened without blocking (a FIFO swapped in for a file would block the scan
    // forever), then checked to be a regular file.
    use std::os::unix::fs::OpenOptionsExt;
    let f = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
        .open(path)
    {
        Ok(f) => f,
        Err(e) => return file_error(format!("cannot read: {e}")),
    };
    match f.metadata() {
        Ok(m) if m.is_file() => {}
        Ok(_) => return file_error("not a regular file; not read".to_string()),
        Err(e) => return file_error(format!("cannot read: {e}")),
    }
    let mut bytes = Vec::new();
    // Read one byte past the cap to tell "at the cap" from "over it" without trusting
    // metadata (a FIFO or /proc file has none).
    if let Err(e) = f.take(max_size.0 + 1).read_to_end(&mut bytes) {
        return file_error(format!("cannot read: {e}"));
    }
    if bytes.len() as u64 > max_size.0 {
        return file_error(format!(
            "file is larger than {max_size} (files.max_file_size in the daemon config); not read"
        ));
    }
    parse_bytes(path, &bytes, &limits.yaml)
}

/// Parses a file's bytes.
pub fn parse_bytes(path: &Path, bytes: &[u8], limits: &source::YamlLimits) -> FileContents {
    let hash = crate::spec::content_hash(bytes);
    let mut out = FileContents {
        file: path.to_path_buf(),
        hash,
        ..FileContents::default()
    };
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let line = bytes[..e.valid_up_to()]
                .iter()
                .filter(|b| **b == b'\n')
                .count()
                + 1;
            out.diagnostics.push(Diagnostic::error(
                path,
                Location { line, col: 1 },
                None,
                format!(
                    "not UTF-8 text (invalid byte at offset {}); is this a YAML file?",
                    e.valid_up_to()
                ),
            ));
            return out;
        }
    };
    let docs = match source::parse_documents(text, limits) {
        Ok(d) => d,
        Err(e) => {
            out.diagnostics.push(Diagnostic::error(
                path,
                e.location,
                None,
                format!("invalid YAML: {}", e.message),
            ));
            return out;
        }
    };
    if docs.is_empty() {
        out.diagnostics.push(Diagnostic::error(
            path,
            Location { line: 1, col: 1 },
            None,
            "no resource in file (expected a YAML document with kind, apiVersion, metadata and spec)",
        ));
        return out;
    }
    for (i, doc) in docs.into_iter().enumerate() {
        match parse_document(path, i, doc) {
            Ok(r) => out.resources.push(r),
            Err(d) => out.diagnostics.push(d),
        }
    }
    out
}

fn parse_document(
    path: &Path,
    index: usize,
    mut doc: source::Document,
) -> Result<(Resource, Origin), Diagnostic> {
    let origin = Origin {
        file: path.to_path_buf(),
        document: index,
        map: std::mem::take(&mut doc.map),
    };
    let root = FieldPath::default();
    let Value::Mapping(m) = &doc.value else {
        return Err(origin.error(
            root,
            "expected a mapping with kind, apiVersion, metadata and spec",
        ));
    };
    let kind_path = FieldPath::parse("kind");
    let kind = match m.get("kind") {
        None => return Err(origin.error(root, "missing field `kind`")),
        Some(Value::String(s)) => Kind::parse(s).ok_or_else(|| {
            origin.error(
                kind_path.clone(),
                format!("unknown kind `{s}`, expected one of Deployment, DeploymentTarget, DeploymentDefaults, Savepoint"),
            )
        })?,
        Some(_) => return Err(origin.error(kind_path, "must be a string")),
    };
    doc.map = origin.map.clone();
    source::scalars_as_text(&mut doc, &|p| is_text_field(kind, p));
    let value = doc.value;
    let resource = match kind {
        Kind::Deployment => Resource::Deployment(typed(value, &origin)?),
        Kind::DeploymentTarget => Resource::DeploymentTarget(typed(value, &origin)?),
        Kind::DeploymentDefaults => Resource::DeploymentDefaults(typed(value, &origin)?),
        Kind::Savepoint => Resource::Savepoint(typed(value, &origin)?),
    };
    Ok((resource, origin))
}

/// Deserializes a document, turning serde's error into one at the field's place.
fn typed<T: DeserializeOwned>(value: Value, origin: &Origin) -> Result<T, Diagnostic> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let mut path = FieldPath::from_serde(e.path());
        let message = plain_types(&e.inner().to_string());
        // serde names an unknown field in its message; point at that key.
        if let Some(key) = unknown_field(&message) {
            if path.0.last() != Some(&Segment::Key(key.to_string())) {
                path = path.child(key);
            }
        }
        origin.error(path, message)
    })
}

/// serde speaks Rust (`expected i64`, `expected struct DeploymentSpec`); users read YAML.
fn plain_types(message: &str) -> String {
    let mut m = message.to_string();
    // `expected struct Name` names a Rust type; the field path already says which.
    if let Some(i) = m.find("expected struct ") {
        let end = m[i + 16..]
            .find(|c: char| !c.is_alphanumeric())
            .map_or(m.len(), |e| i + 16 + e);
        m.replace_range(i..end, "expected a mapping");
    }
    [
        ("expected i64", "expected a whole number"),
        ("expected u64", "expected a whole number ≥ 0"),
        ("expected f64", "expected a number"),
        ("expected a boolean", "expected true or false"),
        ("expected a string", "expected text"),
        ("expected a map", "expected a mapping"),
        ("expected a sequence", "expected a list"),
    ]
    .iter()
    .fold(m, |m, (from, to)| {
        // Replace whole phrases only: `expected a map` must not match `expected a mapping`.
        let mut out = String::with_capacity(m.len());
        let mut rest = m.as_str();
        while let Some(i) = rest.find(from) {
            let after = &rest[i + from.len()..];
            out.push_str(&rest[..i]);
            if after.starts_with(|c: char| c.is_alphanumeric()) {
                out.push_str(from);
            } else {
                out.push_str(to);
            }
            rest = after;
        }
        out.push_str(rest);
        out
    })
}

fn unknown_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `")?;
    rest.split('`').next()
}

/// Fields whose type is text: numbers and booleans written there are taken as the text
/// the user wrote (`flinkVersion: 1.10`, `taskmanager.numberOfTaskSlots: 1`).
fn is_text_field(kind: Kind, path: &FieldPath) -> bool {
    const COMMON: &[&str] = &[
        "apiVersion",
        "metadata.name",
        "metadata.namespace",
        "metadata.labels.*",
        "metadata.annotations.*",
    ];
    const SPEC: &[&str] = &[
        "spec.deploymentTargetName",
        "spec.template.metadata.annotations.*",
        "spec.template.spec.artifact.jarUri",
        "spec.template.spec.artifact.entryClass",
        "spec.template.spec.artifact.mainArgs",
        "spec.template.spec.artifact.flinkVersion",
        "spec.template.spec.artifact.additionalDependencies.*",
        "spec.template.spec.artifact.flinkImageRegistry",
        "spec.template.spec.artifact.flinkImageRepository",
        "spec.template.spec.artifact.flinkImageTag",
        "spec.template.spec.resources.*.memory",
        "spec.template.spec.flinkConfiguration.*",
        "spec.template.spec.logging.loggingProfile",
        "spec.template.spec.logging.log4jLoggers.*",
        "spec.template.spec.logging.log4j2ConfigurationTemplate",
    ];
    const TARGET: &[&str] = &["spec.kubernetes.namespace"];
    const SAVEPOINT: &[&str] = &["metadata.deploymentName", "spec.savepointLocation"];
    let kind_specific = match kind {
        Kind::Deployment | Kind::DeploymentDefaults => SPEC,
        Kind::DeploymentTarget => TARGET,
        Kind::Savepoint => SAVEPOINT,
    };
    COMMON
        .iter()
        .chain(kind_specific)
        .any(|pattern| matches_pattern(pattern, path))
}

/// `a.*.c` matches `a.b.c` and `a[0].c`.
fn matches_pattern(pattern: &str, path: &FieldPath) -> bool {
    let parts: Vec<&str> = pattern.split('.').collect();
    parts.len() == path.0.len()
        && parts.iter().zip(&path.0).all(|(p, seg)| match seg {
            _ if *p == "*" => true,
            Segment::Key(k) => k == p,
            Segment::Index(_) => false,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("a.yaml");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        let began = std::time::Instant::now();
        let read = read_file(&fifo, &ReadLimits::default());
        assert!(began.elapsed() < std::time::Duration::from_secs(1));
        assert!(
            read.diagnostics[0]
                .to_string()
                .contains("not a regular file"),
            "{:?}",
            read.diagnostics
        );
    }

    #[test]
    fn serde_messages_in_plain_words() {
        assert_eq!(
            plain_types("invalid type: string \"x\", expected i64"),
            "invalid type: string \"x\", expected a whole number"
        );
        assert_eq!(
            plain_types("invalid type: sequence, expected struct DeploymentTemplate"),
            "invalid type: sequence, expected a mapping"
        );
        assert_eq!(
            plain_types("invalid type: sequence, expected a map"),
            "invalid type: sequence, expected a mapping"
        );
        assert_eq!(plain_types("expected a mapping"), "expected a mapping");
    }

    #[test]
    fn resource_file_names() {
        for ok in ["a.yaml", "top-speed.yml", "x.y.yaml"] {
            assert!(is_resource_file_name(ok), "{ok}");
        }
        for skip in [
            ".a.yaml",
            "..data",
            "..2024_01_01.yaml",
            "a.yaml~",
            ".a.yaml.swp",
            "a.yaml.swp",
            ".#a.yaml",
            "#a.yaml#",
            "a.json",
            "a.yaml.bak",
            "README",
        ] {
            assert!(!is_resource_file_name(skip), "{skip}");
        }
    }

    #[test]
    fn text_field_patterns() {
        let p = |s: &str| FieldPath::parse(s);
        assert!(is_text_field(
            Kind::Deployment,
            &p("spec.template.spec.artifact.flinkVersion")
        ));
        assert!(is_text_field(
            Kind::Deployment,
            &p("spec.template.spec.resources.taskManager.memory")
        ));
        assert!(!is_text_field(
            Kind::Deployment,
            &p("spec.template.spec.parallelism")
        ));
        assert!(!is_text_field(
            Kind::DeploymentTarget,
            &p("spec.template.spec.artifact.flinkVersion")
        ));
        let mut cfg = p("spec.template.spec.flinkConfiguration");
        cfg.0
            .push(Segment::Key("taskmanager.numberOfTaskSlots".into()));
        assert!(is_text_field(Kind::Deployment, &cfg));
    }
}
