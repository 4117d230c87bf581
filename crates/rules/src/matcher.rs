//! One detection item compiled: a field, how its values are compared, and
//! whether any or all of the rule's values must match.
//!
//! Value transformations (base64, base64offset, windash) run here, once;
//! wildcards become anchored regular expressions only when a value has
//! them, plain values stay plain string comparisons.

use std::net::IpAddr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ipnet::IpNet;
use regex::{Regex, RegexBuilder};
use rsigma_parser::{DetectionItem, Modifier, SigmaString, SigmaValue, SpecialChar, StringPart};

use crate::fields::{EventView, FieldRef, FieldValue};

/// How a string value is placed against the field's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Whole,
    Prefix,
    Suffix,
    Anywhere,
}

/// One compiled value.
#[derive(Debug, Clone)]
enum Pattern {
    /// Plain text (lower-cased unless `cased`).
    Text {
        text: String,
        place: Place,
        cased: bool,
    },
    /// Wildcards or `re`.
    Regex(Regex),
    /// `cidr`.
    Cidr(IpNet),
    /// `gt`, `gte`, `lt`, `lte`.
    Compare(Cmp, f64),
    /// A number compared as a number (or as text when the field is text).
    Number(f64),
    /// A boolean.
    Bool(bool),
    /// `null`: absent or JSON null.
    Null,
    /// `fieldref`: equal to another field of the same event.
    FieldRef(FieldRef),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmp {
    Gt,
    Gte,
    Lt,
    Lte,
}

/// A compiled detection item.
#[derive(Debug, Clone)]
pub struct Item {
    field: Option<FieldRef>,
    patterns: Vec<Pattern>,
    all: bool,
    negate: bool,
    exists: Option<bool>,
}

/// A detection item this engine cannot run, with why.
pub type CompileError = String;

impl Item {
    /// Compile one item of a detection.
    pub fn compile(item: &DetectionItem) -> Result<Self, CompileError> {
        let mods = &item.field.modifiers;
        let has = |m: Modifier| mods.contains(&m);
        let field = match &item.field.name {
            Some(name) => Some(FieldRef::parse(name)?),
            None => None,
        };
        for m in mods {
            if matches!(
                m,
                Modifier::Wide
                    | Modifier::Expand
                    | Modifier::Minute
                    | Modifier::Hour
                    | Modifier::Day
                    | Modifier::Week
                    | Modifier::Month
                    | Modifier::Year
            ) {
                return Err(format!(
                    "modifier `{m:?}` is not supported for JSON audit logs"
                ));
            }
        }
        if has(Modifier::Exists) {
            let want = match item.values.as_slice() {
                [SigmaValue::Bool(b)] => *b,
                _ => return Err("`exists` takes true or false".into()),
            };
            return Ok(Self {
                field,
                patterns: Vec::new(),
                all: false,
                negate: false,
                exists: Some(want),
            });
        }
        let mut patterns = Vec::new();
        for v in &item.values {
            compile_value(v, mods, &mut patterns)?;
        }
        if patterns.is_empty() {
            return Err("a detection item needs at least one value".into());
        }
        Ok(Self {
            field,
            patterns,
            all: has(Modifier::All),
            negate: has(Modifier::Neq),
            exists: None,
        })
    }

    /// The item's field when it is an exact, case-insensitive match of
    /// plain values (for the rule index), with those values.
    pub fn exact_values(&self) -> Option<(&FieldRef, Vec<&str>)> {
        if self.all || self.negate || self.exists.is_some() {
            return None;
        }
        let field = self.field.as_ref()?;
        let mut out = Vec::new();
        for p in &self.patterns {
            match p {
                Pattern::Text {
                    text,
                    place: Place::Whole,
                    cased: false,
                } => out.push(text.as_str()),
                _ => return None,
            }
        }
        Some((field, out))
    }

    /// Whether the event satisfies the item.
    pub fn matches(&self, ev: &EventView<'_>) -> bool {
        let Some(field) = &self.field else {
            return self.matches_keywords(ev);
        };
        let mut values = Vec::new();
        ev.values(field, &mut values);
        if let Some(want) = self.exists {
            let present = values.iter().any(|v| *v != FieldValue::Null);
            return present == want;
        }
        let one = |p: &Pattern| {
            if let Pattern::Null = p {
                return values.iter().all(|v| *v == FieldValue::Null);
            }
            if let Pattern::FieldRef(other) = p {
                let mut theirs = Vec::new();
                ev.values(other, &mut theirs);
                return values
                    .iter()
                    .any(|v| theirs.iter().any(|t| t.text() == v.text()));
            }
            values.iter().any(|v| pattern_matches(p, v))
        };
        let hit = if self.all {
            self.patterns.iter().all(one)
        } else {
            self.patterns.iter().any(one)
        };
        hit != self.negate
    }

    /// Keywords search the whole raw record.
    fn matches_keywords(&self, ev: &EventView<'_>) -> bool {
        let raw = FieldValue::Str(std::borrow::Cow::Borrowed(&ev.event.raw));
        let one = |p: &Pattern| pattern_matches(p, &raw);
        if self.all {
            self.patterns.iter().all(one)
        } else {
            self.patterns.iter().any(one)
        }
    }
}

/// Whether ASCII `hay` holds the lower-cased `text` at `place`, ignoring
/// ASCII case: what lower-casing `hay` and comparing answers (the
/// lower-case of ASCII text is its ASCII lower-case), without copying it
/// (a keyword is looked for in the whole raw record).
fn ascii_matches_ignoring_case(hay: &[u8], text: &[u8], place: Place) -> bool {
    let n = text.len();
    match place {
        Place::Whole => hay.eq_ignore_ascii_case(text),
        Place::Prefix => hay.len() >= n && hay[..n].eq_ignore_ascii_case(text),
        Place::Suffix => hay.len() >= n && hay[hay.len() - n..].eq_ignore_ascii_case(text),
        Place::Anywhere => {
            let Some((&first, rest)) = text.split_first() else {
                return true;
            };
            memchr::memchr2_iter(first.to_ascii_lowercase(), first.to_ascii_uppercase(), hay).any(
                |at| {
                    hay.get(at + 1..at + 1 + rest.len())
                        .is_some_and(|after| after.eq_ignore_ascii_case(rest))
                },
            )
        }
    }
}

fn pattern_matches(p: &Pattern, v: &FieldValue<'_>) -> bool {
    match p {
        Pattern::Text { text, place, cased } => {
            if *v == FieldValue::Null {
                return false;
            }
            let t = v.text();
            if !*cased && t.is_ascii() {
                return ascii_matches_ignoring_case(t.as_bytes(), text.as_bytes(), *place);
            }
            let hay: std::borrow::Cow<'_, str> = if *cased {
                t
            } else {
                std::borrow::Cow::Owned(t.to_lowercase())
            };
            match place {
                Place::Whole => hay == text.as_str(),
                Place::Prefix => hay.starts_with(text.as_str()),
                Place::Suffix => hay.ends_with(text.as_str()),
                Place::Anywhere => hay.contains(text.as_str()),
            }
        }
        Pattern::Regex(re) => *v != FieldValue::Null && re.is_match(&v.text()),
        Pattern::Cidr(net) => match v {
            FieldValue::Str(s) => s.trim().parse::<IpAddr>().is_ok_and(|ip| net.contains(&ip)),
            _ => false,
        },
        Pattern::Compare(cmp, want) => v.number().is_some_and(|n| match cmp {
            Cmp::Gt => n > *want,
            Cmp::Gte => n >= *want,
            Cmp::Lt => n < *want,
            Cmp::Lte => n <= *want,
        }),
        Pattern::Number(want) => v.number().is_some_and(|n| n == *want),
        Pattern::Bool(want) => match v {
            FieldValue::Bool(b) => b == want,
            FieldValue::Str(s) => s.eq_ignore_ascii_case(if *want { "true" } else { "false" }),
            _ => false,
        },
        Pattern::Null => *v == FieldValue::Null,
        Pattern::FieldRef(_) => false,
    }
}

/// Compile one value under the item's modifiers into one or more patterns.
fn compile_value(
    v: &SigmaValue,
    mods: &[Modifier],
    out: &mut Vec<Pattern>,
) -> Result<(), CompileError> {
    let has = |m: Modifier| mods.contains(&m);
    let cmp = [
        (Modifier::Gt, Cmp::Gt),
        (Modifier::Gte, Cmp::Gte),
        (Modifier::Lt, Cmp::Lt),
        (Modifier::Lte, Cmp::Lte),
    ]
    .into_iter()
    .find(|(m, _)| has(*m));
    if let Some((_, c)) = cmp {
        let n = match v {
            SigmaValue::Integer(i) => *i as f64,
            SigmaValue::Float(f) => *f,
            SigmaValue::String(s) => s
                .original
                .trim()
                .parse()
                .map_err(|_| format!("`{}` is not a number", s.original))?,
            _ => return Err("numeric comparison needs a number".into()),
        };
        out.push(Pattern::Compare(c, n));
        return Ok(());
    }
    if has(Modifier::FieldRef) {
        let SigmaValue::String(s) = v else {
            return Err("`fieldref` takes a field name".into());
        };
        out.push(Pattern::FieldRef(FieldRef::parse(&s.original)?));
        return Ok(());
    }
    if has(Modifier::Cidr) {
        let SigmaValue::String(s) = v else {
            return Err("`cidr` takes a network".into());
        };
        let net: IpNet = s
            .original
            .trim()
            .parse()
            .map_err(|e| format!("bad network `{}`: {e}", s.original))?;
        out.push(Pattern::Cidr(net));
        return Ok(());
    }
    let s = match v {
        SigmaValue::String(s) => s,
        SigmaValue::Integer(i) if !has(Modifier::Re) => {
            out.push(Pattern::Number(*i as f64));
            return Ok(());
        }
        SigmaValue::Float(f) if !has(Modifier::Re) => {
            out.push(Pattern::Number(*f));
            return Ok(());
        }
        SigmaValue::Bool(b) => {
            out.push(Pattern::Bool(*b));
            return Ok(());
        }
        SigmaValue::Null => {
            out.push(Pattern::Null);
            return Ok(());
        }
        SigmaValue::Integer(i) => {
            return compile_string(&SigmaString::new(&i.to_string()), mods, out);
        }
        SigmaValue::Float(f) => {
            return compile_string(&SigmaString::new(&f.to_string()), mods, out);
        }
    };
    compile_string(s, mods, out)
}

fn compile_string(
    s: &SigmaString,
    mods: &[Modifier],
    out: &mut Vec<Pattern>,
) -> Result<(), CompileError> {
    let has = |m: Modifier| mods.contains(&m);
    if has(Modifier::Re) {
        let re = RegexBuilder::new(&s.original)
            .case_insensitive(has(Modifier::IgnoreCase))
            .multi_line(has(Modifier::Multiline))
            .dot_matches_new_line(has(Modifier::DotAll))
            .build()
            .map_err(|e| format!("bad regular expression `{}`: {e}", s.original))?;
        out.push(Pattern::Regex(re));
        return Ok(());
    }
    let mut place = if has(Modifier::Contains) {
        Place::Anywhere
    } else if has(Modifier::StartsWith) {
        Place::Prefix
    } else if has(Modifier::EndsWith) {
        Place::Suffix
    } else {
        Place::Whole
    };
    // Encodings turn the value into other plain strings.
    let variants: Vec<Vec<StringPart>> = if has(Modifier::Base64) || has(Modifier::Base64Offset) {
        let plain = plain_text(s).ok_or("base64 of a value with wildcards")?;
        if has(Modifier::Base64Offset) {
            if place == Place::Whole {
                place = Place::Anywhere;
            }
            base64_offsets(plain.as_bytes())
        } else {
            vec![B64.encode(plain.as_bytes())]
        }
        .into_iter()
        .map(|t| vec![StringPart::Plain(t)])
        .collect()
    } else if has(Modifier::WindAsh) {
        windash(&s.parts)
    } else {
        vec![s.parts.clone()]
    };
    // base64 output is case-sensitive.
    let cased = has(Modifier::Cased) || has(Modifier::Base64) || has(Modifier::Base64Offset);
    for parts in variants {
        out.push(compile_parts(&parts, place, cased)?);
    }
    Ok(())
}

fn plain_text(s: &SigmaString) -> Option<String> {
    let mut out = String::new();
    for p in &s.parts {
        match p {
            StringPart::Plain(t) => out.push_str(t),
            StringPart::Special(_) => return None,
        }
    }
    Some(out)
}

/// Plain parts become a text comparison; wildcards an anchored regex.
fn compile_parts(parts: &[StringPart], place: Place, cased: bool) -> Result<Pattern, CompileError> {
    if parts.iter().all(|p| matches!(p, StringPart::Plain(_))) {
        let mut text: String = parts
            .iter()
            .map(|p| match p {
                StringPart::Plain(t) => t.as_str(),
                StringPart::Special(_) => "",
            })
            .collect();
        if !cased {
            text = text.to_lowercase();
        }
        return Ok(Pattern::Text { text, place, cased });
    }
    let mut re = String::from("^");
    if matches!(place, Place::Suffix | Place::Anywhere) {
        re.push_str(".*");
    }
    for p in parts {
        match p {
            StringPart::Plain(t) => re.push_str(&regex::escape(t)),
            StringPart::Special(SpecialChar::WildcardMulti) => re.push_str(".*"),
            StringPart::Special(SpecialChar::WildcardSingle) => re.push('.'),
        }
    }
    if matches!(place, Place::Prefix | Place::Anywhere) {
        re.push_str(".*");
    }
    re.push('$');
    let re = RegexBuilder::new(&re)
        .case_insensitive(!cased)
        .dot_matches_new_line(true)
        .build()
        .map_err(|e| e.to_string())?;
    Ok(Pattern::Regex(re))
}

/// The three base64 encodings of `value` at byte offsets 0, 1 and 2 of a
/// larger encoded text, without the characters the neighbours change.
fn base64_offsets(value: &[u8]) -> Vec<String> {
    const START: [usize; 3] = [0, 2, 3];
    const END_TRIM: [usize; 3] = [0, 3, 2];
    (0..3)
        .map(|i| {
            let mut padded = vec![b' '; i];
            padded.extend_from_slice(value);
            let enc = B64.encode(&padded);
            let trim = END_TRIM[(value.len() + i) % 3];
            enc[START[i]..enc.len().saturating_sub(trim).max(START[i])].to_owned()
        })
        .collect()
}

/// Dash characters Windows command lines accept where `-` is written.
const DASHES: [char; 5] = ['-', '/', '\u{2013}', '\u{2014}', '\u{2015}'];

/// Every variant of the value with each `-` replaced by each dash
/// character (all combinations up to three dashes; beyond, all alike).
fn windash(parts: &[StringPart]) -> Vec<Vec<StringPart>> {
    let dashes: usize = parts
        .iter()
        .map(|p| match p {
            StringPart::Plain(t) => t.matches('-').count(),
            StringPart::Special(_) => 0,
        })
        .sum();
    let combos: Vec<Vec<char>> = if dashes <= 3 {
        let mut all = vec![Vec::new()];
        for _ in 0..dashes {
            all = all
                .into_iter()
                .flat_map(|prefix: Vec<char>| {
                    DASHES.iter().map(move |d| {
                        let mut p = prefix.clone();
                        p.push(*d);
                        p
                    })
                })
                .collect();
        }
        all
    } else {
        DASHES.iter().map(|d| vec![*d; dashes]).collect()
    };
    combos
        .into_iter()
        .map(|choice| {
            let mut next = choice.into_iter();
            parts
                .iter()
                .map(|p| match p {
                    StringPart::Plain(t) => StringPart::Plain(
                        t.chars()
                            .map(|c| {
                                if c == '-' {
                                    next.next().unwrap_or('-')
                                } else {
                                    c
                                }
                            })
                            .collect(),
                    ),
                    other => other.clone(),
                })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_offsets_are_found_inside_encoded_text() {
        let needle = b"http://";
        for prefix in ["", "a", "ab", "abc"] {
            let mut text = prefix.as_bytes().to_vec();
            text.extend_from_slice(needle);
            text.extend_from_slice(b"example.com");
            let enc = B64.encode(&text);
            assert!(
                base64_offsets(needle)
                    .iter()
                    .any(|v| enc.contains(v.as_str())),
                "{prefix:?}: {enc} lacks all of {:?}",
                base64_offsets(needle)
            );
        }
    }

    /// Without copying, ASCII text matches exactly where lower-casing it
    /// and comparing does, at every place, for needles of every kind
    /// (empty, longer than the text, not ASCII, starting with a symbol).
    #[test]
    fn ascii_matching_agrees_with_lower_casing() {
        let hays = [
            "",
            "a",
            "CreateAccessKey",
            "s3.AMAZONAWS.com",
            "aaAb",
            "-x -X--x",
            "{\"eventName\":\"StopLogging\",\"x\":1}",
        ];
        let needles = [
            "",
            "a",
            "ab",
            "aab",
            "create",
            "key",
            "amazonaws",
            "-x",
            "x--",
            "stoplogging",
            "é",
            "createaccesskeyz",
            "\"x\"",
        ];
        for hay in hays {
            let lower = hay.to_lowercase();
            for text in needles {
                for (place, want) in [
                    (Place::Whole, lower == text),
                    (Place::Prefix, lower.starts_with(text)),
                    (Place::Suffix, lower.ends_with(text)),
                    (Place::Anywhere, lower.contains(text)),
                ] {
                    assert_eq!(
                        ascii_matches_ignoring_case(hay.as_bytes(), text.as_bytes(), place),
                        want,
                        "{hay:?} {place:?} {text:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn windash_makes_every_dash_variant() {
        let v = windash(&[StringPart::Plain("-a -b".into())]);
        assert_eq!(v.len(), 25);
        assert!(v.contains(&vec![StringPart::Plain("/a \u{2013}b".into())]));
    }
}
