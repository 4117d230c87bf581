//! What a rule file may cost before any YAML loader builds it: its size,
//! its nesting, and how many nodes its aliases expand to. A 600-byte
//! "billion laughs" file (anchors aliased nine times on nine levels) makes
//! every tree-building loader allocate gigabytes; counted from the parser's
//! events, which expand nothing, it is refused in microseconds. Every path
//! that reads rules (compile, the API's summaries, reload) goes through
//! [`guard_yaml`] first.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, Parser};

/// Largest rule file read (SigmaHQ's largest rules are about 20 KiB).
pub const MAX_RULE_FILE_BYTES: usize = 256 * 1024;
/// Most nodes a file may hold once its aliases are expanded.
const MAX_EXPANDED_NODES: u64 = 100_000;
/// Most aliases in one file.
const MAX_ALIASES: u64 = 1_000;
/// Deepest nesting of sequences and mappings.
const MAX_DEPTH: usize = 64;

/// Refuse YAML that is too large, too deep or expands too far; what is
/// wrong, in words.
pub fn guard_yaml(text: &str) -> Result<(), String> {
    if text.len() > MAX_RULE_FILE_BYTES {
        return Err(format!(
            "rule file of {} bytes; the limit is {MAX_RULE_FILE_BYTES}",
            text.len()
        ));
    }
    let mut parser = Parser::new_from_str(text);
    // Open collections: (anchor id, nodes inside so far).
    let mut open: Vec<(usize, u64)> = Vec::new();
    // Anchor id → nodes its value expands to.
    let mut anchored: HashMap<usize, u64> = HashMap::new();
    let (mut nodes, mut aliases) = (0u64, 0u64);
    loop {
        // Syntax errors are the loaders' to report, with their positions.
        let Ok((event, _)) = parser.next_token() else {
            return Ok(());
        };
        // (nodes this event adds to the file, nodes it adds to its parent)
        let (to_file, to_parent) = match event {
            Event::StreamEnd => return Ok(()),
            Event::Scalar(_, _, anchor, _) => {
                if anchor > 0 {
                    anchored.insert(anchor, 1);
                }
                (1, 1)
            }
            Event::Alias(anchor) => {
                aliases += 1;
                if aliases > MAX_ALIASES {
                    return Err(format!("more than {MAX_ALIASES} YAML aliases"));
                }
                let size = anchored.get(&anchor).copied().unwrap_or(1);
                (size, size)
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                if open.len() >= MAX_DEPTH {
                    return Err(format!("YAML nested deeper than {MAX_DEPTH} levels"));
                }
                open.push((anchor, 0));
                continue;
            }
            Event::SequenceEnd | Event::MappingEnd => {
                // Its contents were counted as they came: the file gains
                // the collection node, the parent the whole subtree.
                let (anchor, inside) = open.pop().unwrap_or_default();
                let size = inside.saturating_add(1);
                if anchor > 0 {
                    anchored.insert(anchor, size);
                }
                (1, size)
            }
            _ => continue,
        };
        nodes = nodes.saturating_add(to_file);
        if let Some(top) = open.last_mut() {
            top.1 = top.1.saturating_add(to_parent);
        }
        if nodes > MAX_EXPANDED_NODES {
            return Err(format!(
                "YAML aliases expand to more than {MAX_EXPANDED_NODES} nodes"
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Nine anchors, each a list of nine aliases of the one before.
    fn laughs() -> String {
        let mut s = String::from("a0: &a0 [\"lol\"]\n");
        for i in 1..9 {
            let prev = format!("*a{}", i - 1);
            let list = [prev.as_str(); 9].join(", ");
            s.push_str(&format!("a{i}: &a{i} [{list}]\n"));
        }
        s
    }

    #[test]
    fn a_billion_laughs_is_refused_small_as_it_is() {
        let bomb = laughs();
        assert!(bomb.len() < 700, "{}", bomb.len());
        let err = guard_yaml(&bomb).unwrap_err();
        assert!(err.contains("expand to more than"), "{err}");
    }

    #[test]
    fn ordinary_rules_and_modest_aliases_pass() {
        let rule = "title: t\nlogsource: {product: aws}\ndetection:\n  sel: &s {eventName: [A, B]}\n  again: *s\n  condition: sel or again\n";
        assert_eq!(guard_yaml(rule), Ok(()));
        let dir = std::path::Path::new(
            &std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
        )
        .join("../../rules");
        for f in crate::rule_files(&dir).unwrap() {
            let text = std::fs::read_to_string(&f).unwrap();
            assert_eq!(guard_yaml(&text), Ok(()), "{}", f.display());
        }
    }

    #[test]
    fn size_depth_and_alias_count_are_capped() {
        assert!(guard_yaml(&"x".repeat(MAX_RULE_FILE_BYTES + 1)).is_err());
        let deep = format!("{}1{}", "[".repeat(100), "]".repeat(100));
        assert!(guard_yaml(&deep).unwrap_err().contains("deeper"));
        let many = format!("a: &a 1\nb: [{}]\n", vec!["*a"; 1_001].join(", "));
        assert!(guard_yaml(&many).unwrap_err().contains("aliases"));
    }
}
