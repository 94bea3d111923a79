//! `kind: Savepoint` files: which Deployment they name, and where the savepoint is.
//! Whether that Deployment exists is the Supervisor's to find (a partial read does not
//! hold every Deployment file); a file naming none yet is taken when one appears.

use super::check_name;
use crate::diagnostic::Diagnostic;
use crate::resources::Origin;
use crate::source::FieldPath;
use crate::spec::{SavepointImport, API_VERSION};

pub fn check_import(s: &SavepointImport, origin: &Origin) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    if s.api_version != API_VERSION {
        out.push(origin.error(
            FieldPath::parse("apiVersion"),
            format!(
                "unsupported apiVersion `{}`, expected `{API_VERSION}`",
                s.api_version
            ),
        ));
    }
    let m = &s.metadata;
    for (field, value) in [
        ("metadata.name", &m.name),
        ("metadata.namespace", &m.namespace),
        ("metadata.deploymentName", &m.deployment_name),
    ] {
        if let Some(Err(msg)) = value.as_deref().map(check_name) {
            out.push(origin.error(FieldPath::parse(field), msg));
        }
    }
    match (&m.deployment_id, &m.deployment_name) {
        (None, None) => out.push(origin.error(
            FieldPath::parse("metadata"),
            "say which Deployment the savepoint is for: metadata.deploymentName (or metadata.deploymentId)",
        )),
        (Some(_), Some(_)) => out.push(origin.error(
            FieldPath::parse("metadata.deploymentName"),
            "give metadata.deploymentId or metadata.deploymentName, not both",
        )),
        _ => {}
    }
    if let Err(msg) = check_location(&s.spec.savepoint_location) {
        out.push(origin.error(FieldPath::parse("spec.savepointLocation"), msg));
    }
    out
}

/// A savepoint's location as Flink takes it: an absolute path or a URI with a scheme
/// (`file:`, `s3://`, `hdfs://`, …), on one line.
pub fn check_location(location: &str) -> Result<(), String> {
    let l = location.trim();
    if l.is_empty() {
        return Err("must name the savepoint's directory".into());
    }
    if l.chars().any(char::is_control) {
        return Err("holds a control character".into());
    }
    let scheme = l.split_once(':').map(|(s, _)| s).filter(|s| {
        s.len() > 1
            && s.starts_with(|c: char| c.is_ascii_alphabetic())
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    });
    if l.starts_with('/') || scheme.is_some() {
        Ok(())
    } else {
        Err(format!(
            "`{l}` is neither an absolute path nor a URI (file:///…, s3://…)"
        ))
    }
}
