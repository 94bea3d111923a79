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

use saphyr_parser::{Event, Parser, ScalarStyle};
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

/// Field path → node, for one YAML document. Kept as a tree (each node knows its
/// parent and its own segment), so a node costs the same however deep it sits: a map
/// of whole paths would copy every ancestor's key for every node.
#[derive(Debug, Clone, Default)]
pub struct SourceMap {
    nodes: Vec<Node>,
    /// (parent node, segment) → node; the root is the node with no parent.
    children: HashMap<(Option<usize>, Segment), usize>,
    /// Where the document starts.
    pub start: Location,
}

impl SourceMap {
    fn id(&self, path: &FieldPath) -> Option<usize> {
        let mut id = *self.children.get(&(None, Segment::Key(String::new())))?;
        for seg in &path.0 {
            id = *self.children.get(&(Some(id), seg.clone()))?;
        }
        Some(id)
    }

    pub fn get(&self, path: &FieldPath) -> Option<&Node> {
        self.id(path).map(|i| &self.nodes[i])
    }

    /// The node at (`parent`, `segment`), created if need be.
    fn child(&mut self, parent: Option<usize>, segment: Segment, at: Location) -> usize {
        let next = self.nodes.len();
        let id = *self.children.entry((parent, segment)).or_insert(next);
        if id == next {
            self.nodes.push(Node {
                key: None,
                value: at,
                plain_text: None,
            });
        }
        id
    }

    /// The location of `path`, or of its nearest ancestor that is written in the file
    /// (a value that came from defaults has no place of its own).
    pub fn locate(&self, path: &FieldPath) -> Location {
        let mut p = Some(path.clone());
        while let Some(cur) = p {
            if let Some(node) = self.get(&cur) {
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

/// Bounds on what a file's YAML may become once read: a document small on disk can
/// grow without bound through aliases (`&a [*b, *b, …]`, the "billion laughs"), and
/// deep nesting costs every reader along the way. Checked while the file is parsed,
/// before anything expands it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct YamlLimits {
    /// Nodes (scalars, sequences, mappings) of the whole file, each alias counted as
    /// everything it stands for.
    pub max_nodes: u64,
    /// Bytes of scalar text of the whole file, aliases expanded.
    pub max_bytes: u64,
    /// Sequences and mappings nested in one another.
    pub max_depth: usize,
}

impl Default for YamlLimits {
    fn default() -> Self {
        YamlLimits {
            max_nodes: 100_000,
            max_bytes: 16 * 1024 * 1024,
            max_depth: 64,
        }
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
pub fn parse_documents(text: &str, limits: &YamlLimits) -> Result<Vec<Document>, SyntaxError> {
    // The source maps are built first, by a parser that counts as it goes: nothing
    // expands an alias until the file is known to stay within its limits.
    let maps = source_maps(text, limits)?;
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

/// Reads the source maps with the parser's events one by one (its own `load` recurses
/// as deep as the document nests), counting what the file expands to.
fn source_maps(text: &str, limits: &YamlLimits) -> Result<Vec<SourceMap>, SyntaxError> {
    let mut builder = MapBuilder::default();
    let mut size = Expansion::default();
    for event in Parser::new_from_str(text) {
        let (ev, span) = event.map_err(|e| SyntaxError {
            location: Location {
                line: e.marker().line(),
                col: e.marker().col() + 1,
            },
            // The scanner's own bound (256 levels) is past ours: say it as ours.
            message: if e.info().contains("recursion limit") {
                depth_message(limits)
            } else {
                e.info().to_string()
            },
        })?;
        let at = Location {
            line: span.start.line(),
            col: span.start.col() + 1,
        };
        size.count(&ev, at, limits)?;
        builder.on_event(ev, span);
    }
    Ok(builder.docs)
}

fn depth_message(limits: &YamlLimits) -> String {
    format!(
        "nested more than {} levels deep (files.max_yaml_depth in the daemon config)",
        limits.max_depth
    )
}

/// What a file expands to, counted event by event.
#[derive(Default)]
struct Expansion {
    nodes: u64,
    bytes: u64,
    /// Open sequences and mappings: their anchor, and the counts when they opened.
    open: Vec<(usize, u64, u64)>,
    /// Each anchor's size: what an alias of it adds.
    anchors: HashMap<usize, (u64, u64)>,
}

impl Expansion {
    fn count(
        &mut self,
        ev: &Event<'_>,
        at: Location,
        limits: &YamlLimits,
    ) -> Result<(), SyntaxError> {
        match ev {
            Event::Scalar(text, _, anchor, _) => {
                self.nodes = self.nodes.saturating_add(1);
                self.bytes = self.bytes.saturating_add(text.len() as u64);
                if *anchor > 0 {
                    self.anchors.insert(*anchor, (1, text.len() as u64));
                }
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                self.nodes = self.nodes.saturating_add(1);
                self.open.push((*anchor, self.nodes - 1, self.bytes));
                if self.open.len() > limits.max_depth {
                    return Err(SyntaxError {
                        location: at,
                        message: depth_message(limits),
                    });
                }
            }
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some((anchor, nodes, bytes)) = self.open.pop() {
                    if anchor > 0 {
                        self.anchors
                            .insert(anchor, (self.nodes - nodes, self.bytes - bytes));
                    }
                }
            }
            Event::Alias(anchor) => {
                let (nodes, bytes) = self.anchors.get(anchor).copied().unwrap_or((1, 0));
                self.nodes = self.nodes.saturating_add(nodes);
                self.bytes = self.bytes.saturating_add(bytes);
            }
            _ => {}
        }
        if self.nodes > limits.max_nodes {
            return Err(SyntaxError {
                location: at,
                message: format!(
                    "expands to more than {} nodes, aliases counted as what they stand for (files.max_yaml_nodes in the daemon config)",
                    limits.max_nodes
                ),
            });
        }
        if self.bytes > limits.max_bytes {
            return Err(SyntaxError {
                location: at,
                message: format!(
                    "expands to more than {} of text, aliases counted as what they stand for (files.max_yaml_size in the daemon config)",
                    crate::quantity::Bytes(limits.max_bytes)
                ),
            });
        }
        Ok(())
    }
}

enum Frame {
    Mapping {
        id: usize,
        key: Option<(String, Location)>,
    },
    Sequence {
        id: usize,
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
    /// id if it is a value (not a mapping key).
    fn node(&mut self, at: Location, scalar: Option<&str>) -> Option<usize> {
        match self.stack.last_mut() {
            None => Some(self.current.child(None, Segment::Key(String::new()), at)),
            Some(Frame::Skip { .. }) => None,
            Some(Frame::Sequence { id, index }) => {
                let (parent, i) = (*id, *index);
                *index += 1;
                Some(self.current.child(Some(parent), Segment::Index(i), at))
            }
            Some(Frame::Mapping { id, key }) => match key.take() {
                Some((k, key_at)) => {
                    let parent = *id;
                    let child = self.current.child(Some(parent), Segment::Key(k), at);
                    self.current.nodes[child].key = Some(key_at);
                    Some(child)
                }
                None => {
                    // This node is a key.
                    *key = Some((scalar.unwrap_or("?").to_string(), at));
                    None
                }
            },
        }
    }

    fn record(&mut self, id: usize, at: Location, plain_text: Option<String>) {
        let node = &mut self.current.nodes[id];
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
        let Some(id) = self.node(at, None) else {
            return;
        };
        self.record(id, at, None);
        self.stack.push(if sequence {
            Frame::Sequence { id, index: 0 }
        } else {
            Frame::Mapping { id, key: None }
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

impl MapBuilder {
    fn on_event(&mut self, ev: Event<'_>, span: saphyr_parser::Span) {
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
                if let Some(id) = self.node(at, Some(&text)) {
                    let plain = (style == ScalarStyle::Plain).then(|| text.to_string());
                    self.record(id, at, plain);
                }
            }
            Event::Alias(_) => {
                if let Some(id) = self.node(at, Some("*alias")) {
                    self.record(id, at, None);
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
mod tests;
