//! Hostile YAML files, each under the 1 MiB size cap: a billion laughs, a 600 KB
//! fan-out of aliases, a 200,000-item sequence of aliases and a 10,000-deep nesting.

/// (file name, contents).
pub fn files() -> Vec<(&'static str, String)> {
    let mut laughs = String::from("l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..10 {
        let p = i - 1;
        laughs.push_str(&format!(
            "l{i}: &l{i} [{}]\n",
            vec![format!("*l{p}"); 10].join(", ")
        ));
    }
    let fan_out = format!(
        "a: &x [{}]\nb: [{}]\n",
        vec!["1"; 100_000].join(","),
        vec!["*x"; 100_000].join(",")
    );
    let aliases = format!("- &a x\n- [{}]\n", vec!["*a"; 200_000].join(","));
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    vec![
        ("laughs.yaml", laughs),
        ("fan-out.yaml", fan_out),
        ("aliases.yaml", aliases),
        ("deep.yaml", deep),
    ]
}
