//! Reading YAML files: documents as values, and a source map from field paths to where
//! they are written.
//!
//! serde gives us typed values and the path of a bad field (through
//! `serde_path_to_error`), but a value tree has no line numbers, and float parsing loses
//! text (`flinkVersion: 1.10` would read back as `1.1`). So each file is read twice: by
//! `yaml_serde` into values, and by `saphyr-parser` into a [`SourceMap`] per document that
//! records every node's line, column and, for scalars, its text as written. Errors then
//! name `FILE:LINE:COL: FIELD.PATH`, and string-typed fields keep the user's text.

use std::collections::HashMap;
use std::fmt;

use saphyr_parser::{Event, Parser, ScalarStyle, SpannedEventReceiver};
use serde::Deserialize;
use serde_yaml::Value;

/// A 1-based line and column in a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, serde::Serialize)]
pub struct Location {
    pub line: usize,
    pub col: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// One step of a field path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Segment {
    Key(String),
    Index(usize),
}

/// A field path such as `spec.template.spec.parallelism`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct FieldPath(pub Vec<Segment>);

impl FieldPath {
    /// Parses a dotted path of plain keys (no keys containing dots).
    pub fn parse(dotted: &str) -> Self {
        FieldPath(
            dotted
                .split('.')
                .filter(|s| !s.is_empty())
                .map(|s| Segment::Key(s.to_string()))
                .collect(),
        )
    }

    pub fn child(&self, key: &str) -> Self {
        let mut v = self.0.clone();
        v.push(Segment::Key(key.to_string()));
        FieldPath(v)
    }

    pub fn parent(&self) -> Option<Self> {
        if self.0.is_empty() {
            None
        } else {
            Some(FieldPath(self.0[..self.0.len() - 1].to_vec()))
        }
    }

    /// Converts the path that `serde_path_to_error` reports.
    pub fn from_serde(path: &serde_path_to_error::Path) -> Self {
        use serde_path_to_error::Segment as S;
        FieldPath(
            path.iter()
                .filter_map(|s| match s {
                    S::Seq { index } => Some(Segment::Index(*index)),
                    S::Map { key } => Some(Segment::Key(key.clone())),
                    S::Enum { variant } => Some(Segment::Key(variant.clone())),
                    S::Unknown => None,
                })
                .collect(),
        )
    }
}

impl fmt::Display for FieldPath {
    /// Keys that are not plain identifiers (such as Flink configuration keys, which hold
    /// dots, or the root logger `""`) are quoted: `flinkConfiguration["a.b"]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(document)");
        }
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Segment::Index(n) => write!(f, "[{n}]")?,
                Segment::Key(k) => {
                    let plain = !k.is_empty()
                        && k.chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                    if !plain {
                        write!(f, "[{k:?}]")?;
                    } else if i == 0 {
                        f.write_str(k)?;
                    } else {
                        write!(f, ".{k}")?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// What the source map knows about one node.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Where the node's key is written (for mapping entries).
    pub key: Option<Location>,
    /// Where the node's value starts.
    pub value: Location,
    /// The scalar's text as written, for unquoted scalars.
    pub plain_text: Option<String>,
}

/// Field path → node, for one YAML document.
#[derive(Debug, Clone, Default)]
pub struct SourceMap {
    nodes: HashMap<FieldPath, Node>,
    /// Where the document starts.
    pub start: Location,
}

impl SourceMap {
    pub fn get(&self, path: &FieldPath) -> Option<&Node> {
        self.nodes.get(path)
    }

    /// The location of `path`, or of its nearest ancestor that is written in the file
    /// (a value that came from defaults has no place of its own).
    pub fn locate(&self, path: &FieldPath) -> Location {
        let mut p = Some(path.clone());
        while let Some(cur) = p {
            if let Some(node) = self.nodes.get(&cur) {
                return node.key.unwrap_or(node.value);
            }
            p = cur.parent();
        }
        self.start
    }

    /// The location of a mapping's key named `key` under `parent` (used for unknown
    /// fields, which serde reports against the parent).
    pub fn locate_key(&self, parent: &FieldPath, key: &str) -> Location {
        self.locate(&parent.child(key))
    }
}

/// A YAML syntax error.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxError {
    pub location: Location,
    pub message: String,
}

/// One document of a file: its value and its source map.
#[derive(Debug, Clone)]
pub struct Document {
    pub value: Value,
    pub map: SourceMap,
}

/// Splits `text` into documents. Empty documents (only comments, or `---` with nothing
/// after it) are dropped.
pub fn parse_documents(text: &str) -> Result<Vec<Document>, SyntaxError> {
    let maps = source_maps(text)?;
    let mut values = Vec::new();
    for de in serde_yaml::Deserializer::from_str(text) {
        let value = Value::deserialize(de).map_err(|e| SyntaxError {
            location: e
                .location()
                .map(|l| Location {
                    line: l.line(),
                    col: l.column(),
                })
                .unwrap_or_default(),
            message: strip_location(&e.to_string()),
        })?;
        values.push(value);
    }
    // Both parsers see the same documents in valid YAML; pair them by position, falling
    // back to an empty map (locations at the document start) should they ever disagree.
    let mut maps = maps.into_iter();
    let docs = values
        .into_iter()
        .map(|value| Document {
            value,
            map: maps.next().unwrap_or_default(),
        })
        .filter(|d| !d.value.is_null())
        .collect();
    Ok(docs)
}

/// yaml_serde appends " at line L column C" to its messages; we print the location in
/// front instead.
fn strip_location(msg: &str) -> String {
    match msg.find(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

fn source_maps(text: &str) -> Result<Vec<SourceMap>, SyntaxError> {
    let mut builder = MapBuilder::default();
    let mut parser = Parser::new_from_str(text);
    parser.load(&mut builder, true).map_err(|e| SyntaxError {
        location: Location {
            line: e.marker().line(),
            col: e.marker().col() + 1,
        },
        message: e.info().to_string(),
    })?;
    Ok(builder.docs)
}

enum Frame {
    Mapping {
        path: FieldPath,
        key: Option<(String, Location)>,
    },
    Sequence {
        path: FieldPath,
        index: usize,
    },
    /// A complex (non-scalar) mapping key: its contents are not mapped.
    Skip {
        depth: usize,
    },
}

#[derive(Default)]
struct MapBuilder {
    docs: Vec<SourceMap>,
    current: SourceMap,
    stack: Vec<Frame>,
}

impl MapBuilder {
    /// Handles the start of a node (scalar, alias, mapping, sequence). Returns the node's
    /// path if it is a value (not a mapping key).
    fn node_path(&mut self, at: Location, scalar: Option<&str>) -> Option<FieldPath> {
        match self.stack.last_mut() {
            None => Some(FieldPath::default()),
            Some(Frame::Skip { .. }) => None,
            Some(Frame::Sequence { path, index }) => {
                let mut p = path.clone();
                p.0.push(Segment::Index(*index));
                *index += 1;
                Some(p)
            }
            Some(Frame::Mapping { path, key }) => match key.take() {
                Some((k, key_at)) => {
                    let p = path.child(&k);
                    self.current.nodes.insert(
                        p.clone(),
                        Node {
                            key: Some(key_at),
                            value: at,
                            plain_text: None,
                        },
                    );
                    Some(p)
                }
                None => {
                    // This node is a key.
                    *key = Some((scalar.unwrap_or("?").to_string(), at));
                    None
                }
            },
        }
    }

    fn record(&mut self, path: FieldPath, at: Location, plain_text: Option<String>) {
        let node = self.current.nodes.entry(path).or_insert(Node {
            key: None,
            value: at,
            plain_text: None,
        });
        node.value = at;
        node.plain_text = plain_text;
    }

    fn open(&mut self, at: Location, sequence: bool) {
        if let Some(Frame::Skip { depth }) = self.stack.last_mut() {
            *depth += 1;
            return;
        }
        let is_key = matches!(self.stack.last(), Some(Frame::Mapping { key: None, .. }));
        if is_key {
            // A complex key: skip it, and give the entry an unnameable key.
            if let Some(Frame::Mapping { key, .. }) = self.stack.last_mut() {
                *key = Some(("?".to_string(), at));
            }
            self.stack.push(Frame::Skip { depth: 1 });
            return;
        }
        let path = self.node_path(at, None).unwrap_or_default();
        self.record(path.clone(), at, None);
        self.stack.push(if sequence {
            Frame::Sequence { path, index: 0 }
        } else {
            Frame::Mapping { path, key: None }
        });
    }

    fn close(&mut self) {
        if let Some(Frame::Skip { depth }) = self.stack.last_mut() {
            *depth -= 1;
            if *depth == 0 {
                self.stack.pop();
            }
            return;
        }
        self.stack.pop();
    }
}

impl<'input> SpannedEventReceiver<'input> for MapBuilder {
    fn on_event(&mut self, ev: Event<'input>, span: saphyr_parser::Span) {
        let at = Location {
            line: span.start.line(),
            col: span.start.col() + 1,
        };
        match ev {
            Event::DocumentStart(_) => {
                self.current = SourceMap {
                    start: at,
                    ..SourceMap::default()
                };
                self.stack.clear();
            }
            Event::DocumentEnd => self.docs.push(std::mem::take(&mut self.current)),
            Event::Scalar(text, style, _, _) => {
                if let Some(path) = self.node_path(at, Some(&text)) {
                    let plain = (style == ScalarStyle::Plain).then(|| text.to_string());
                    self.record(path, at, plain);
                }
            }
            Event::Alias(_) => {
                if let Some(path) = self.node_path(at, Some("*alias")) {
                    self.record(path, at, None);
                }
            }
            Event::MappingStart(..) => self.open(at, false),
            Event::SequenceStart(..) => self.open(at, true),
            Event::MappingEnd | Event::SequenceEnd => self.close(),
            Event::StreamStart | Event::StreamEnd | Event::Nothing => {}
        }
    }
}

/// Replaces non-string scalars (numbers, booleans) with their text as written, at the
/// paths that `is_text_field` selects. `flinkVersion: 1.10`, `taskmanager.numberOfTaskSlots:
/// 1` and `flinkImageTag: 1.11` are text, and must stay as the user wrote them.
pub fn scalars_as_text(doc: &mut Document, is_text_field: &dyn Fn(&FieldPath) -> bool) {
    fn walk(
        value: &mut Value,
        path: &mut FieldPath,
        map: &SourceMap,
        is_text_field: &dyn Fn(&FieldPath) -> bool,
    ) {
        match value {
            Value::Mapping(m) => {
                for (k, v) in m.iter_mut() {
                    let key = match k {
                        Value::String(s) => s.clone(),
                        other => scalar_text(other).unwrap_or_default(),
                    };
                    path.0.push(Segment::Key(key));
                    walk(v, path, map, is_text_field);
                    path.0.pop();
                }
            }
            Value::Sequence(s) => {
                for (i, v) in s.iter_mut().enumerate() {
                    path.0.push(Segment::Index(i));
                    walk(v, path, map, is_text_field);
                    path.0.pop();
                }
            }
            Value::Number(_) | Value::Bool(_) if is_text_field(path) => {
                let written = map.get(path).and_then(|n| n.plain_text.clone());
                if let Some(text) = written.or_else(|| scalar_text(value)) {
                    *value = Value::String(text);
                }
            }
            _ => {}
        }
    }
    // Mapping keys that are numbers (`1: x`) are made text too, so a string map accepts them.
    fn keys_as_text(value: &mut Value) {
        match value {
            Value::Mapping(m) => {
                let needs = m.keys().any(|k| !k.is_string());
                if needs {
                    let old = std::mem::take(m);
                    for (k, v) in old {
                        let k = match k {
                            Value::String(_) => k,
                            other => scalar_text(&other).map(Value::String).unwrap_or(other),
                        };
                        m.insert(k, v);
                    }
                }
                for v in m.values_mut() {
                    keys_as_text(v);
                }
            }
            Value::Sequence(s) => s.iter_mut().for_each(keys_as_text),
            _ => {}
        }
    }
    keys_as_text(&mut doc.value);
    let mut path = FieldPath::default();
    walk(&mut doc.value, &mut path, &doc.map, is_text_field);
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::String(s) => Some(s.clone()),
        Value::Null => Some(String::new()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locates_nested_fields_and_keeps_plain_text() {
        let text = "kind: Deployment\nspec:\n  template:\n    spec:\n      parallelism: 2\n      artifact:\n        flinkVersion: 1.10\n";
        let docs = parse_documents(text).unwrap();
        assert_eq!(docs.len(), 1);
        let map = &docs[0].map;
        let p = FieldPath::parse("spec.template.spec.parallelism");
        assert_eq!(map.locate(&p), Location { line: 5, col: 7 });
        let v = map
            .get(&FieldPath::parse(
                "spec.template.spec.artifact.flinkVersion",
            ))
            .unwrap();
        assert_eq!(v.plain_text.as_deref(), Some("1.10"));
        assert_eq!(v.value, Location { line: 7, col: 23 });
        // A path not written falls back to its nearest written ancestor.
        let missing = FieldPath::parse("spec.template.spec.resources.jobManager.cpu");
        assert_eq!(map.locate(&missing), Location { line: 4, col: 5 });
    }

    #[test]
    fn sequences_and_multiple_documents() {
        let text = "a:\n  - x\n  - y: 1\n---\n# only a comment\n---\nb: 2\n";
        let docs = parse_documents(text).unwrap();
        assert_eq!(docs.len(), 2, "the empty middle document is dropped");
        let first = &docs[0].map;
        let y = FieldPath(vec![
            Segment::Key("a".into()),
            Segment::Index(1),
            Segment::Key("y".into()),
        ]);
        assert_eq!(first.locate(&y), Location { line: 3, col: 5 });
        assert_eq!(
            docs[1].map.locate(&FieldPath::parse("b")),
            Location { line: 7, col: 1 }
        );
    }

    #[test]
    fn syntax_errors_carry_a_location() {
        let err = parse_documents("a: [1, 2\nb: c\n").unwrap_err();
        assert!(err.location.line >= 1, "{err:?}");
        assert!(!err.message.is_empty());
    }

    #[test]
    fn text_fields_keep_their_written_form() {
        let mut docs = parse_documents("v: 1.10\nn: 1.10\nflag: true\n").unwrap();
        scalars_as_text(&mut docs[0], &|p| {
            p == &FieldPath::parse("v") || p == &FieldPath::parse("flag")
        });
        let v = &docs[0].value;
        assert_eq!(v["v"], Value::String("1.10".into()));
        assert_eq!(v["flag"], Value::String("true".into()));
        assert!(v["n"].is_f64(), "fields not selected keep their type");
    }

    #[test]
    fn paths_display_with_quoted_odd_keys() {
        let p = FieldPath(vec![
            Segment::Key("flinkConfiguration".into()),
            Segment::Key("state.savepoints.dir".into()),
        ]);
        assert_eq!(
            p.to_string(),
            "flinkConfiguration[\"state.savepoints.dir\"]"
        );
        let q = FieldPath(vec![
            Segment::Key("log4jLoggers".into()),
            Segment::Key("".into()),
        ]);
        assert_eq!(q.to_string(), "log4jLoggers[\"\"]");
    }
}
