//! A problem found in a file, printed as `FILE:LINE:COL: FIELD.PATH: message`.
//!
//! One format for `flinkd validate`, the daemon's log, the event log and `flinkd get`,
//! so a user can jump from any of them to the line in their editor.

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

use crate::source::{FieldPath, Location};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diagnostic {
    pub file: PathBuf,
    pub location: Location,
    /// The field, or `None` for a problem with the file as a whole.
    #[serde(serialize_with = "path_text")]
    pub path: Option<FieldPath>,
    pub severity: Severity,
    pub message: String,
}

fn path_text<S: serde::Serializer>(p: &Option<FieldPath>, s: S) -> Result<S::Ok, S::Error> {
    match p {
        Some(p) => s.serialize_str(&p.to_string()),
        None => s.serialize_none(),
    }
}

impl Diagnostic {
    pub fn error(
        file: impl Into<PathBuf>,
        location: Location,
        path: Option<FieldPath>,
        message: impl Into<String>,
    ) -> Self {
        Diagnostic {
            file: file.into(),
            location,
            path,
            severity: Severity::Error,
            message: message.into(),
        }
    }

    pub fn warning(
        file: impl Into<PathBuf>,
        location: Location,
        path: Option<FieldPath>,
        message: impl Into<String>,
    ) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(file, location, path, message)
        }
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let loc = if self.location.line == 0 {
            Location { line: 1, col: 1 }
        } else {
            self.location
        };
        write!(f, "{}:{}: ", self.file.display(), loc)?;
        match &self.path {
            Some(p) => write!(f, "{p}: ")?,
            None => f.write_str("(file): ")?,
        }
        if self.severity == Severity::Warning {
            f.write_str("warning: ")?;
        }
        f.write_str(&self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_file_line_col_path_message() {
        let d = Diagnostic::error(
            "d/top.yaml",
            Location { line: 7, col: 5 },
            Some(FieldPath::parse("spec.template.spec.parallelism")),
            "must be ≥ 1, not 0",
        );
        assert_eq!(
            d.to_string(),
            "d/top.yaml:7:5: spec.template.spec.parallelism: must be ≥ 1, not 0"
        );
        let w = Diagnostic::warning("a.yaml", Location::default(), None, "odd");
        assert_eq!(w.to_string(), "a.yaml:1:1: (file): warning: odd");
    }
}
