use super::*;

#[test]
fn locates_nested_fields_and_keeps_plain_text() {
    let text = "kind: Deployment\nspec:\n  template:\n    spec:\n      parallelism: 2\n      artifact:\n        flinkVersion: 1.10\n";
    let docs = parse_documents(text, &YamlLimits::default()).unwrap();
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
    let docs = parse_documents(text, &YamlLimits::default()).unwrap();
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

/// Billion laughs: ten aliases of ten aliases of … of a ten-item list.
pub(crate) fn laughs(levels: usize) -> String {
    let mut text = String::from("l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..levels {
        let p = i - 1;
        text.push_str(&format!(
            "l{i}: &l{i} [*l{p}, *l{p}, *l{p}, *l{p}, *l{p}, *l{p}, *l{p}, *l{p}, *l{p}, *l{p}]\n"
        ));
    }
    text
}

#[test]
fn alias_expansion_is_bounded_before_anything_expands() {
    let limits = YamlLimits::default();
    let err = parse_documents(&laughs(9), &limits).unwrap_err();
    assert!(err.message.contains("more than 100000 nodes"), "{err:?}");
    assert_eq!(err.location.line, 5, "where it crossed the bound: {err:?}");
    // A few laughs are fine.
    assert!(parse_documents(&laughs(3), &limits).is_ok());
    // A big scalar aliased many times: bounded by its text.
    let big = format!(
        "a: &a \"{}\"\nb: [{}]\n",
        "y".repeat(100_000),
        "*a, ".repeat(200)
    );
    let err = parse_documents(&big, &limits).unwrap_err();
    assert!(err.message.contains("more than 16m of text"), "{err:?}");
    // Anchors are per file; the count covers every document of it.
    let docs = "a: [x, x]\n---\n".repeat(60_000);
    let err = parse_documents(&docs, &limits).unwrap_err();
    assert!(err.message.contains("nodes"), "{err:?}");
}

#[test]
fn nesting_is_bounded() {
    let limits = YamlLimits::default();
    let deep = format!("{}{}", "[".repeat(100), "]".repeat(100));
    let err = parse_documents(&deep, &limits).unwrap_err();
    assert_eq!(err.location, Location { line: 1, col: 65 }, "{err:?}");
    assert!(err.message.contains("more than 64 levels"), "{err:?}");
    // Deeper still, the scanner stops first (at 256 levels), with a location too.
    let deeper = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let err = parse_documents(&deeper, &limits).unwrap_err();
    assert!(err.location.col > 1, "{err:?}");
    assert!(err.message.contains("more than 64 levels"), "{err:?}");
    let block: String = (0..100)
        .map(|i| format!("{}- \n", "  ".repeat(i)))
        .collect();
    assert!(parse_documents(&block, &limits).is_err());
    let ok = format!("{}1{}", "[".repeat(64), "]".repeat(64));
    assert!(parse_documents(&ok, &limits).is_ok());
}

#[test]
fn syntax_errors_carry_a_location() {
    let err = parse_documents("a: [1, 2\nb: c\n", &YamlLimits::default()).unwrap_err();
    assert!(err.location.line >= 1, "{err:?}");
    assert!(!err.message.is_empty());
}

#[test]
fn text_fields_keep_their_written_form() {
    let mut docs =
        parse_documents("v: 1.10\nn: 1.10\nflag: true\n", &YamlLimits::default()).unwrap();
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
