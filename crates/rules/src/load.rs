//! Reading rule files: parse with rsigma-parser, compile, and point every
//! error at its file and line.

use std::path::{Path, PathBuf};

use rsigma_parser::{FilterRuleTarget, SigmaCollection, parse_sigma_yaml};

use crate::correlation::Correlation;
use crate::detection::Logic;
use crate::rule::Rule;
use crate::sequence::{Sequence, SequenceDoc};
use crate::{RuleError, RuleSet};

/// Whether `path` is a rule file (`.yml` / `.yaml`, not hidden).
pub fn is_rule_file(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    !name.starts_with('.') && (name.ends_with(".yml") || name.ends_with(".yaml"))
}

/// Every rule file under `dir`, recursively, in name order.
pub fn rule_files(dir: &Path) -> Result<Vec<PathBuf>, RuleError> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(|e| RuleError {
            file: d.display().to_string(),
            line: 0,
            message: e.to_string(),
        })?;
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if is_rule_file(&path) {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Load and compile every rule file under `dir`; all errors, or the set.
pub fn load_dir(dir: &Path) -> Result<RuleSet, Vec<RuleError>> {
    let files = rule_files(dir).map_err(|e| vec![e])?;
    let mut texts = Vec::with_capacity(files.len());
    let mut errors = Vec::new();
    for path in files {
        match std::fs::read_to_string(&path) {
            Ok(text) => texts.push((path.display().to_string(), text)),
            Err(e) => errors.push(RuleError {
                file: path.display().to_string(),
                line: 0,
                message: e.to_string(),
            }),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    compile_texts(&texts)
}

/// Compile rule files given as (name, text); all errors, or the set.
pub fn compile_texts(files: &[(String, String)]) -> Result<RuleSet, Vec<RuleError>> {
    let mut errors = Vec::new();
    let mut rules: Vec<Rule> = Vec::new();
    // Rule id -> the file that defined it first.
    let mut ids: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    let mut parsed_correlations = Vec::new();
    let mut filters = Vec::new();
    let mut sequence_docs = Vec::new();
    for (file, text) in files {
        if let Err(message) = crate::guard_yaml(text) {
            errors.push(RuleError {
                file: file.clone(),
                line: 1,
                message,
            });
            continue;
        }
        let err = |message: String, hint: Option<&str>| RuleError {
            file: file.clone(),
            line: locate(text, &message, hint),
            message,
        };
        let (sigma, extensions) = split_extensions(text);
        let only_extensions = !extensions.is_empty()
            && sigma
                .lines()
                .all(|l| l.starts_with('#') || l.trim().is_empty());
        for (first_line, doc) in extensions {
            match yaml_serde::from_str::<SequenceDoc>(&doc) {
                Ok(d) => sequence_docs.push((file.clone(), text.clone(), d)),
                Err(e) => errors.push(RuleError {
                    file: file.clone(),
                    line: first_line + e.location().map_or(0, |l| l.line().saturating_sub(1)),
                    message: format!("sequence: {}", without_location(&e.to_string())),
                }),
            }
        }
        if only_extensions {
            continue;
        }
        let collection: SigmaCollection = match parse_sigma_yaml(&sigma) {
            Ok(c) => c,
            Err(e) => {
                errors.push(err(e.to_string(), None));
                continue;
            }
        };
        for e in &collection.errors {
            errors.push(err(e.clone(), None));
        }
        if collection.is_empty() && collection.errors.is_empty() {
            errors.push(err("no rule in file".into(), None));
        }
        for r in &collection.rules {
            match Rule::compile(r) {
                // The second definition of an id is the error, at its line.
                Ok(rule) => match ids.get(&rule.id) {
                    Some(first) => errors.push(err(
                        format!("rule id {} is used twice (first in {first})", rule.id),
                        Some(&r.title),
                    )),
                    None => {
                        ids.insert(rule.id.clone(), file.clone());
                        rules.push(rule);
                    }
                },
                Err(e) => errors.push(err(format!("rule {:?}: {e}", r.title), Some(&r.title))),
            }
        }
        for c in collection.correlations {
            parsed_correlations.push((file.clone(), text.clone(), c));
        }
        for f in collection.filters {
            let logic = Logic::compile(&f.detection.named, &f.detection.conditions);
            match logic {
                Ok(l) => filters.push((f.rules.clone(), l)),
                Err(e) => errors.push(err(format!("filter {:?}: {e}", f.title), Some(&f.title))),
            }
        }
    }
    for (target, logic) in filters {
        for r in rules.iter_mut() {
            let applies = match &target {
                FilterRuleTarget::Any => true,
                FilterRuleTarget::Specific(refs) => refs.iter().any(|x| r.is(x)),
            };
            if applies {
                r.filters.push(logic.clone());
            }
        }
    }
    // Sigma v2.2 conditions that negate a rule run on the sequence engine.
    let (absences, parsed_correlations): (Vec<_>, Vec<_>) = parsed_correlations
        .into_iter()
        .partition(|(_, _, c)| crate::temporal_condition::negates(c));
    let correlations = compile_against(
        &parsed_correlations,
        "correlation",
        |c| &c.title,
        |c| Correlation::compile(c, &rules),
        &mut errors,
    );
    let mut sequences = compile_against(
        &sequence_docs,
        "sequence",
        |d| &d.title,
        |d| Sequence::compile(d, &rules),
        &mut errors,
    );
    sequences.extend(compile_against(
        &absences,
        "correlation",
        |c| &c.title,
        |c| Sequence::from_correlation(c, &rules),
        &mut errors,
    ));
    if !errors.is_empty() {
        return Err(errors);
    }
    // A rule that only feeds correlations raises no finding of its own,
    // unless a correlation asks for it (`generate: true`).
    for (i, r) in rules.iter_mut().enumerate() {
        let used: Vec<bool> = correlations
            .iter()
            .filter(|c| c.uses(i))
            .map(|c| c.generate)
            .chain(sequences.iter().filter(|s| s.uses(i)).map(|s| s.generate))
            .collect();
        if !used.is_empty() {
            r.generate = used.contains(&true);
        }
    }
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    for (name, text) in files {
        hasher.update(name.as_bytes());
        hasher.update(&[0]);
        hasher.update(text.as_bytes());
    }
    let digest = if files.is_empty() { 0 } else { hasher.digest() };
    Ok(RuleSet::new(
        rules,
        correlations,
        sequences,
        files.len(),
        digest,
    ))
}

/// Compile documents that reference detection rules (correlations,
/// sequences), each kept with its file and text; errors point at the line.
fn compile_against<D, T>(
    docs: &[(String, String, D)],
    kind: &str,
    title: impl Fn(&D) -> &str,
    compile: impl Fn(&D) -> Result<T, String>,
    errors: &mut Vec<RuleError>,
) -> Vec<T> {
    let mut out = Vec::new();
    for (file, text, doc) in docs {
        match compile(doc) {
            Ok(t) => out.push(t),
            Err(e) => errors.push(RuleError {
                file: file.clone(),
                line: locate(text, &e, Some(title(doc))),
                message: format!("{kind} {:?}: {e}", title(doc)),
            }),
        }
    }
    out
}

/// Split a rule file into the Sigma text rsigma-parser reads and the
/// extension documents (top-level `sequence:` key), each with its first
/// line. In the Sigma text an extension document and its `---` become
/// comment lines, so YAML errors keep their line numbers.
fn split_extensions(text: &str) -> (String, Vec<(usize, String)>) {
    let lines: Vec<&str> = text.lines().collect();
    // Document boundaries: (separator line or none, first line, end).
    let mut docs: Vec<(Option<usize>, usize, usize)> = Vec::new();
    let mut start = 0;
    let mut sep = None;
    for (i, l) in lines.iter().enumerate() {
        if l.trim_end() == "---" {
            docs.push((sep, start, i));
            sep = Some(i);
            start = i + 1;
        }
    }
    docs.push((sep, start, lines.len()));
    let mut out: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
    let mut extensions = Vec::new();
    for (sep, first, end) in docs {
        if !lines[first..end].iter().any(|l| l.starts_with("sequence:")) {
            continue;
        }
        extensions.push((first + 1, lines[first..end].join("\n")));
        for line in out.iter_mut().take(end).skip(sep.unwrap_or(first)) {
            *line = "#".to_owned();
        }
    }
    (out.join("\n"), extensions)
}

/// A YAML error message without its trailing " at line L column C".
fn without_location(message: &str) -> &str {
    message.find(" at line ").map_or(message, |i| &message[..i])
}

/// The 1-based line an error is about: a line number the message states,
/// else the first line (from the rule's title on) holding a quoted token
/// of the message, else the title's line, else 1.
fn locate(text: &str, message: &str, title: Option<&str>) -> usize {
    if let Some(pos) = message.find("line ") {
        let digits: String = message[pos + 5..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        if let Ok(n) = digits.parse::<usize>() {
            return n;
        }
    }
    let lines: Vec<&str> = text.lines().collect();
    let start = title
        .and_then(|t| {
            lines
                .iter()
                .position(|l| l.starts_with("title:") && l.contains(t))
        })
        .unwrap_or(0);
    let tokens = quoted_tokens(message);
    for token in tokens {
        if token.is_empty() || title.is_some_and(|t| t == token) {
            continue;
        }
        if let Some(i) = lines[start..]
            .iter()
            .position(|l| l.contains(token.as_str()))
        {
            return start + i + 1;
        }
    }
    start + 1
}

/// Text between backticks or quotes in an error message.
fn quoted_tokens(message: &str) -> Vec<String> {
    let mut out = Vec::new();
    for quote in ['`', '\'', '"'] {
        let mut parts = message.split(quote);
        parts.next();
        while let (Some(inside), _) = (parts.next(), parts.next()) {
            // Field specs are written with modifiers; the YAML key has them too.
            out.push(inside.to_owned());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_point_at_the_offending_line() {
        let text = "title: Bad\nlogsource:\n  product: aws\ndetection:\n  sel:\n    eventName|nosuch: x\n  condition: sel\n";
        let errors = compile_texts(&[("bad.yml".into(), text.into())]).unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].line, 6, "{}", errors[0]);
        assert!(
            errors[0].to_string().starts_with("bad.yml:6: "),
            "{}",
            errors[0]
        );
    }

    #[test]
    fn unknown_context_fields_and_sources_are_errors_with_lines() {
        let text = "title: Ctx\nlogsource:\n  product: aws\ndetection:\n  sel:\n    delegraph.nosuch: x\n  condition: sel\n---\ntitle: Src\nlogsource:\n  product: windows\ndetection:\n  sel:\n    a: b\n  condition: sel\n";
        let errors = compile_texts(&[("two.yml".into(), text.into())]).unwrap_err();
        let lines: Vec<usize> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, [6, 11], "{errors:?}");
    }

    #[test]
    fn sequence_documents_load_beside_rules_and_their_errors_have_lines() {
        let rule = "title: A\nid: a\nlogsource:\n  product: aws\ndetection:\n  sel:\n    eventName: X\n  condition: sel\n";
        let good = format!(
            "{rule}---\ntitle: S\nid: s\nsequence:\n  maxspan: 5m\n  by: userIdentity.arn\n  steps:\n    - rule: a\n    - absent: a\n"
        );
        let set = compile_texts(&[("s.yml".into(), good)]).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(set.rules().len(), 1);
        assert_eq!(set.sequences().len(), 1);
        assert_eq!(set.sequences()[0].id, "s");
        // Unknown key in a step: YAML error at its line.
        let typo = format!(
            "{rule}---\ntitle: S\nsequence:\n  maxspan: 5m\n  steps:\n    - rule: a\n    - rulez: a\n"
        );
        let errors = compile_texts(&[("t.yml".into(), typo)]).unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].line, 15, "{}", errors[0]);
        assert!(errors[0].message.contains("rulez"), "{}", errors[0]);
        // Unknown rule: the line naming it.
        let missing = format!(
            "{rule}---\ntitle: S\nsequence:\n  maxspan: 5m\n  steps:\n    - rule: a\n    - rule: nope\n"
        );
        let errors = compile_texts(&[("m.yml".into(), missing)]).unwrap_err();
        assert_eq!(errors[0].line, 15, "{}", errors[0]);
        // An absent step first, a bad span.
        let first = "title: S\nsequence:\n  maxspan: 5x\n  steps:\n    - absent: a\n".to_owned();
        let errors = compile_texts(&[("r.yml".into(), rule.to_owned()), ("f.yml".into(), first)])
            .unwrap_err();
        assert_eq!(errors[0].file, "f.yml");
        assert!(errors[0].message.contains("maxspan"), "{}", errors[0]);
        // A Sigma document after a sequence keeps its own line numbers.
        let after = format!(
            "title: S\nsequence:\n  maxspan: 5m\n  steps:\n    - rule: a\n    - absent: a\n---\n{}",
            rule.replace("eventName: X", "eventName|nosuch: X")
        );
        let errors = compile_texts(&[("n.yml".into(), after)]).unwrap_err();
        assert!(errors.iter().any(|e| e.line == 14), "{errors:?}");
    }
}
