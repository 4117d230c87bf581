//! Rule files (Sigma YAML) as the API lists and stores them. An upload is
//! compiled by the rules engine together with the rest of the directory,
//! as the service will load it, and stored only if all of it compiles: a
//! broken upload never replaces a working file, and the uploader hears of
//! a bad reference or a duplicate id now rather than at the next reload.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use yaml_rust2::{Yaml, YamlLoader};

use crate::ApiError;

/// Where rule files are kept when no directory is configured: the API
/// lists and stores uploads there, and `serve` runs them from there.
pub fn default_rules_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("rules")
}

/// Longest rule file name (the store's temporary names add to it, and
/// file systems stop at 255 bytes).
pub(crate) const MAX_NAME: usize = 128;

/// Whether `name` is a plain rule file name (no directories, `.yml`, at
/// most [`MAX_NAME`] bytes).
pub fn valid_name(name: &str) -> bool {
    if name.len() > MAX_NAME {
        return false;
    }
    let stem_ok = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    stem_ok && !name.starts_with('.') && (name.ends_with(".yml") || name.ends_with(".yaml"))
}

fn text(doc: &Yaml, key: &str) -> Value {
    doc[key].as_str().map_or(Value::Null, |s| json!(s))
}

/// Check a rule file's text; the summary of its documents, or what is
/// wrong and where (line numbers are 1-based).
pub fn check(source: &str) -> Result<Vec<Value>, String> {
    // Before any tree is built: a few hundred bytes of aliases can expand
    // to gigabytes.
    delegraph_rules::guard_yaml(source)?;
    let docs = YamlLoader::load_from_str(source).map_err(|e| e.to_string())?;
    if docs.is_empty() {
        return Err("no YAML document".into());
    }
    let mut out = Vec::new();
    for (i, doc) in docs.iter().enumerate() {
        let n = i + 1;
        if doc.as_hash().is_none() {
            return Err(format!("document {n}: not a mapping"));
        }
        if doc["title"].as_str().is_none() {
            return Err(format!("document {n}: no title"));
        }
        let kind = if !doc["correlation"].is_badvalue() {
            "correlation"
        } else if !doc["sequence"].is_badvalue() {
            "sequence"
        } else if doc["detection"]["condition"].is_badvalue() {
            return Err(format!("document {n}: no detection.condition"));
        } else {
            "rule"
        };
        out.push(json!({
            "kind": kind,
            "title": text(doc, "title"),
            "id": text(doc, "id"),
            "status": text(doc, "status"),
            "level": text(doc, "level"),
            "logsource": {
                "product": text(&doc["logsource"], "product"),
                "service": text(&doc["logsource"], "service"),
                "category": text(&doc["logsource"], "category"),
            },
        }));
    }
    Ok(out)
}

/// Every rule file under `dir` (recursively), with its documents or its
/// errors (from compiling the whole directory, as the service does).
pub fn list(dir: &Path) -> Result<Vec<Value>, ApiError> {
    let files = read_dir_files(dir)?;
    let errors = delegraph_rules::compile_texts(&files)
        .err()
        .unwrap_or_default();
    Ok(files
        .into_iter()
        .map(|(name, source)| {
            let mine: Vec<String> = errors
                .iter()
                .filter(|e| e.file == name)
                .map(ToString::to_string)
                .collect();
            match check(&source) {
                Ok(docs) if mine.is_empty() => json!({"name": name, "rules": docs}),
                Ok(_) => json!({"name": name, "error": mine.join("\n")}),
                Err(e) => json!({"name": name, "error": e}),
            }
        })
        .collect())
}

/// Check an upload of `name` as the directory would be with it: its
/// documents' summary, or every error (`FILE:LINE: message`, one a line).
pub fn check_upload(dir: &Path, name: &str, source: &str) -> Result<Vec<Value>, ApiError> {
    let docs = check(source).map_err(|e| ApiError::BadRequest(format!("{name}: {e}")))?;
    let mut files = read_dir_files(dir)?;
    files.retain(|(n, _)| n != name);
    files.push((name.to_owned(), source.to_owned()));
    match delegraph_rules::compile_texts(&files) {
        Ok(_) => Ok(docs),
        Err(errors) => Err(ApiError::BadRequest(
            errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n"),
        )),
    }
}

/// (name relative to `dir`, text) of every rule file, in name order.
fn read_dir_files(dir: &Path) -> Result<Vec<(String, String)>, ApiError> {
    let mut files = Vec::new();
    collect(dir, dir, &mut files)?;
    files.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(files)
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) -> Result<(), ApiError> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(root, &path, out)?;
        } else if delegraph_rules::is_rule_file(&path) {
            let source = std::fs::read_to_string(&path)
                .map_err(|e| ApiError::Internal(format!("{}: {e}", path.display())))?;
            let name = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .to_string_lossy()
                .into_owned();
            out.push((name, source));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_rules_and_correlations_and_points_at_yaml_errors() {
        let rule = "title: t\nlogsource: {product: aws}\ndetection:\n  sel: {eventName: X}\n  condition: sel\n";
        let docs = check(rule).unwrap_or_default();
        assert_eq!(docs[0]["kind"], "rule");
        assert_eq!(docs[0]["logsource"]["product"], "aws");
        let corr = format!("{rule}---\ntitle: c\ncorrelation: {{type: event_count}}\n");
        assert_eq!(check(&corr).map(|d| d.len()), Ok(2));
        assert!(check("title: t\ndetection: {sel: {a: 1}}\n").is_err());
        let bad = check("title: t\ndetection:\n  sel: [unclosed\n").unwrap_err();
        assert!(bad.contains("line"), "{bad}");
        assert!(valid_name("aws_access_key.yml"));
        assert!(!valid_name("../x.yml") && !valid_name("x.txt") && !valid_name(".x.yml"));
    }
}
