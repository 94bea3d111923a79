//! Java exceptions as Flink reports them, told root cause first.
//!
//! Flink answers a rejected submission or a failed job with a whole stack trace, whose
//! first line is usually a wrapper (`java.util.concurrent.CompletionException: …`) and
//! whose useful sentence hides in the middle. A user reading an event, `flinkd get` or
//! the log wants that sentence first and whole: "The program's entry point class 'X'
//! was not found in the jar file." So a trace is read as its chain of exceptions
//! (`Caused by:` links and wrappers written inline), and the root cause is the
//! innermost message that says more than the messages around it: a
//! `ClassNotFoundException: X` inside "entry point class 'X' was not found" adds
//! nothing, a user's `IllegalStateException: injected failure` inside "Recovery is
//! suppressed" is the reason.

/// One exception of a chain.
#[derive(Debug, Clone, PartialEq)]
struct Link {
    class: String,
    message: String,
}

/// The root cause first and whole, then the chain in short, e.g.
/// "The program's entry point class 'X' was not found in the jar file.
/// (CompletionException \> ProgramInvocationException \> ClassNotFoundException: X)".
/// Text that is not a Java trace comes back as it is, on one line.
pub fn summarize(text: &str) -> String {
    let chain = chain(text);
    let Some(root) = root(&chain) else {
        return one_line(&clean_lines(text).join(" "));
    };
    let links: Vec<String> = chain
        .iter()
        .map(|l| {
            let class = simple_name(&l.class);
            if l.message.is_empty() || l.message == root {
                class.to_string()
            } else {
                format!("{class}: {}", cap(&l.message, 300))
            }
        })
        .collect();
    format!("{} ({})", cap(&root, 2000), cap(&links.join(" > "), 2000))
}

/// The lines of a trace that are not frames, markers or Flink's REST wrapping.
fn clean_lines(text: &str) -> Vec<&str> {
    text.lines()
        .map(|l| {
            l.trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .trim()
        })
        .filter(|t| {
            !(t.is_empty()
                || t.starts_with("at ")
                || t.starts_with("...")
                || t.starts_with("End of exception on server side")
                || *t == "Internal server error."
                || t.starts_with("Exception on server side"))
        })
        .collect()
}

/// The chain of exceptions, outermost first; a wrapper written inline
/// (`A: B: message`) is a link of its own.
fn chain(text: &str) -> Vec<Link> {
    let mut out: Vec<Link> = Vec::new();
    for line in clean_lines(text) {
        let header = line
            .strip_prefix("Caused by:")
            .or_else(|| line.strip_prefix("Suppressed:"))
            .map(str::trim);
        match (header, split_class(line)) {
            (Some(h), _) => push_header(&mut out, h),
            (None, Some(_)) if out.is_empty() || line.contains("Exception") => {
                push_header(&mut out, line)
            }
            // A message that goes on over several lines.
            (None, _) => match out.last_mut() {
                Some(last) => {
                    if !last.message.is_empty() {
                        last.message.push(' ');
                    }
                    last.message.push_str(line);
                }
                None => return Vec::new(),
            },
        }
    }
    out
}

fn push_header(out: &mut Vec<Link>, header: &str) {
    let mut rest = header;
    let mut first = true;
    while let Some((class, message)) = split_class(rest) {
        // After the first class, a bare dotted name is the message (`ClassNotFound
        // Exception: com.example.Nope`), not one more wrapper.
        let wrapper = first || rest.contains(':') || is_throwable_name(class);
        if !wrapper {
            break;
        }
        first = false;
        out.push(Link {
            class: class.to_string(),
            message: String::new(),
        });
        rest = message;
    }
    match out.last_mut() {
        Some(last) => last.message = rest.trim().to_string(),
        None => out.push(Link {
            class: String::new(),
            message: rest.trim().to_string(),
        }),
    }
}

/// `pkg.Class: message` → (`pkg.Class`, `message`); `pkg.SomeException` alone too.
fn split_class(s: &str) -> Option<(&str, &str)> {
    let (class, message) = match s.split_once(':') {
        Some((c, m)) => (c.trim(), m.trim_start()),
        None => (s.trim(), ""),
    };
    let java_name = !class.is_empty()
        && class
            .chars()
            .all(|c| c.is_alphanumeric() || c == '.' || c == '_' || c == '$')
        && class.split('.').all(|p| !p.is_empty());
    let exceptional = class.contains('.') || is_throwable_name(class);
    (java_name && exceptional && !class.ends_with('.')).then_some((class, message))
}

fn is_throwable_name(class: &str) -> bool {
    class.ends_with("Exception") || class.ends_with("Error") || class.ends_with("Throwable")
}

/// The innermost message that no message around it already says (an exception without
/// a message is named by its class).
fn root(chain: &[Link]) -> Option<String> {
    if chain.is_empty() || chain.iter().all(|l| l.class.is_empty()) {
        return None;
    }
    let said = |l: &Link| {
        if l.message.is_empty() {
            simple_name(&l.class).to_string()
        } else {
            l.message.clone()
        }
    };
    let messages: Vec<String> = chain.iter().map(said).collect();
    (0..messages.len())
        .rev()
        .find(|&i| {
            !messages[..i]
                .iter()
                .any(|outer| outer.len() > messages[i].len() && outer.contains(&messages[i]))
        })
        .map(|i| messages[i].clone())
}

fn simple_name(class: &str) -> &str {
    class.rsplit('.').next().unwrap_or(class)
}

fn one_line(s: &str) -> String {
    cap(&s.split_whitespace().collect::<Vec<_>>().join(" "), 4000)
}

fn cap(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut cut = max;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}…", &s[..cut])
}

#[cfg(test)]
mod tests {
    use super::*;

    const MISSING_CLASS: &str = "java.util.concurrent.CompletionException: org.apache.flink.client.program.ProgramInvocationException: The program's entry point class 'com.example.Nope' was not found in the jar file.\n\tat org.apache.flink.runtime.webmonitor.handlers.utils.JarHandlerUtils$JarHandlerContext.toPackagedProgram(JarHandlerUtils.java:204)\n\tat java.base/java.lang.Thread.run(Thread.java:840)\nCaused by: org.apache.flink.client.program.ProgramInvocationException: The program's entry point class 'com.example.Nope' was not found in the jar file.\n\tat org.apache.flink.client.program.PackagedProgram.loadMainClass(PackagedProgram.java:481)\nCaused by: java.lang.ClassNotFoundException: com.example.Nope\n\tat java.base/java.net.URLClassLoader.findClass(URLClassLoader.java:445)\n\t... 7 more\n";

    #[test]
    fn the_sentence_that_names_the_problem_comes_first_and_whole() {
        let s = summarize(MISSING_CLASS);
        assert!(
            s.starts_with(
                "The program's entry point class 'com.example.Nope' was not found in the jar file. ("
            ),
            "{s}"
        );
        assert!(
            s.ends_with("(CompletionException > ProgramInvocationException > ProgramInvocationException > ClassNotFoundException: com.example.Nope)"),
            "{s}"
        );
    }

    #[test]
    fn a_user_exception_inside_flink_wrappers_is_the_root() {
        let trace = "org.apache.flink.runtime.JobException: Recovery is suppressed by NoRestartBackoffTimeStrategy\n\tat org.apache.flink.runtime.X.y(X.java:1)\nCaused by: java.lang.IllegalStateException: injected failure at count 7\n\tat flinkd.examples.Counter$Count.processElement(Counter.java:105)\n";
        let s = summarize(trace);
        assert!(s.starts_with("injected failure at count 7 ("), "{s}");
        assert!(s.contains("JobException: Recovery is suppressed"), "{s}");
    }

    #[test]
    fn an_exception_without_a_message_is_named_by_its_class() {
        let trace = "java.lang.RuntimeException: java.lang.NullPointerException\n\tat a.B.c(B.java:1)\nCaused by: java.lang.NullPointerException\n\tat a.B.d(B.java:2)\n";
        assert!(summarize(trace).starts_with("NullPointerException ("));
    }

    #[test]
    fn messages_over_several_lines_and_plain_text() {
        let trace = "org.apache.flink.table.api.ValidationException: SQL validation failed.\nFrom line 1, column 8 to line 1, column 10: Column 'abc' not found\n\tat x.Y.z(Y.java:1)\n";
        assert!(summarize(trace).starts_with(
            "SQL validation failed. From line 1, column 8 to line 1, column 10: Column 'abc' not found ("
        ));
        assert_eq!(summarize("File upload failed.\n"), "File upload failed.");
        assert_eq!(summarize(""), "");
    }
}
