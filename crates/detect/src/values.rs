//! Values a tool call acts on, compared the way an analyst would: which of
//! its arguments name *where* something goes or *what* it touches (an
//! e-mail address, a URL or host, an account or item identifier), and
//! whether such a value appears in a piece of text (the human's request, an
//! earlier tool result).
//!
//! Nothing here knows a vendor, a tool or a wording: values are classified
//! by their shape, tool calls by the generic verb their name starts with.

use std::borrow::Cow;

use serde_json::Value;

/// What kind of value an argument holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Email,
    /// A URL or a bare host, without scheme or `www.`.
    Url,
    /// An account, item or object identifier: letters, digits, `-` and `_`,
    /// with at least one digit.
    Id,
    /// A number with at least four significant digits (an amount, a phone
    /// number); small counts are not kept.
    Number,
}

impl Kind {
    /// Whether values of this kind say who or what a call reaches.
    pub fn is_identifier(self) -> bool {
        matches!(self, Kind::Email | Kind::Url | Kind::Id)
    }

    pub fn label(self) -> &'static str {
        match self {
            Kind::Email => "e-mail address",
            Kind::Url => "URL",
            Kind::Id => "identifier",
            Kind::Number => "number",
        }
    }
}

/// One value an argument holds, in canonical form (lower case, URLs without
/// scheme, `www.` or trailing `/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ArgValue {
    /// Where in the arguments: `to`, `payment.account`, `recipients[]`.
    pub path: String,
    pub kind: Kind,
    pub value: String,
}

/// Longest argument value read as one value; longer ones are free text
/// whose embedded identifiers are taken instead.
const MAX_ATOM: usize = 96;
/// Most values taken from one call's arguments.
const MAX_VALUES: usize = 64;

/// Every classified value in a call's arguments (JSON text).
pub(crate) fn arg_values(arguments: &str) -> Vec<ArgValue> {
    let mut out = Vec::new();
    match serde_json::from_str::<Value>(arguments) {
        Ok(v) => walk(&v, "", &mut out),
        // Not JSON: read it as free text.
        Err(_) => embedded(arguments, "", &mut out),
    }
    out.truncate(MAX_VALUES);
    out
}

fn walk(v: &Value, path: &str, out: &mut Vec<ArgValue>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                walk(x, &p, out);
            }
        }
        Value::Array(a) => {
            let p = format!("{path}[]");
            for x in a {
                walk(x, &p, out);
            }
        }
        Value::String(s) if s.len() > MAX_ATOM || s.trim().contains(char::is_whitespace) => {
            embedded(s, path, out)
        }
        Value::String(s) => push(classify(s), path, out),
        Value::Number(n) => push(classify(&n.to_string()), path, out),
        _ => {}
    }
}

fn push(c: Option<(Kind, String)>, path: &str, out: &mut Vec<ArgValue>) {
    if let Some((kind, value)) = c {
        out.push(ArgValue {
            path: path.to_owned(),
            kind,
            value,
        });
    }
}

/// Identifiers embedded in free text (a message body, a web page).
fn embedded(text: &str, path: &str, out: &mut Vec<ArgValue>) {
    for (kind, value) in identifiers_in(text) {
        out.push(ArgValue {
            path: path.to_owned(),
            kind,
            value,
        });
    }
}

/// The identifiers (e-mail addresses, URLs, ids) written in `text`.
pub(crate) fn identifiers_in(text: &str) -> impl Iterator<Item = (Kind, String)> + use<> {
    // Text that went through JSON twice keeps its escapes (`\n`): they
    // separate words like the characters they stand for.
    let unescaped = if text.contains('\\') {
        Cow::Owned(
            text.replace("\\n", " ")
                .replace("\\t", " ")
                .replace("\\r", " "),
        )
    } else {
        Cow::Borrowed(text)
    };
    let found: Vec<(Kind, String)> = unescaped
        .split(|c: char| !(c.is_alphanumeric() || "@._-/:%+?=&#~".contains(c)))
        .map(|t| t.trim_end_matches(['.', ':', '/', '?']))
        .filter(|t| t.len() >= 6)
        .filter_map(classify)
        .filter(|(k, _)| k.is_identifier())
        .collect();
    found.into_iter()
}

/// The kind and canonical form of one atomic value, if it is one worth
/// tracing.
pub(crate) fn classify(raw: &str) -> Option<(Kind, String)> {
    // Every kind needs one of these (an address its `@`, a host its dot,
    // an id or number a digit): plain words, most of free text, end here
    // without being copied.
    if !raw.contains(|c: char| c == '@' || c == '.' || c.is_ascii_digit()) {
        return None;
    }
    let s = raw
        .trim()
        .trim_matches(['"', '\'', '<', '>'])
        .to_lowercase();
    if s.is_empty() || s.len() > MAX_ATOM || looks_like_date(&s) {
        return None;
    }
    if let Some(n) = number(&s) {
        return n;
    }
    if is_email(&s) {
        return Some((Kind::Email, s));
    }
    if let Some(u) = url(&s) {
        return u;
    }
    let id_chars = s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    (id_chars && s.len() >= 6 && s.chars().any(|c| c.is_ascii_digit())).then_some((Kind::Id, s))
}

/// `Some(None)` for a number too short to trace, `Some(Some(..))` for one
/// worth tracing, `None` for something else.
#[allow(clippy::option_option)]
fn number(s: &str) -> Option<Option<(Kind, String)>> {
    let plain: String = s.chars().filter(|c| *c != ',').collect();
    let x: f64 = plain.parse().ok()?;
    let digits: String = plain.chars().filter(char::is_ascii_digit).collect();
    let significant = digits.trim_start_matches('0').trim_end_matches('0').len();
    Some((significant >= 4 && x.is_finite()).then(|| (Kind::Number, canonical_number(x))))
}

fn canonical_number(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

/// `2024-05-19`, `19/05/24`, `10:30`, `2024-05-19 10:30`: dates and times
/// repeat across unrelated sessions, so they are never traced.
fn looks_like_date(s: &str) -> bool {
    let head: String = s
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != 't')
        .collect();
    let parts: Vec<&str> = head.split(['-', '/', '.', ':']).collect();
    // `1250.5` is a number: a dot alone separates date parts only in three.
    let dotted_pair = parts.len() == 2 && !head.contains(['-', '/', ':']);
    !dotted_pair
        && parts.len() >= 2
        && parts.len() <= 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 4 && p.chars().all(|c| c.is_ascii_digit()))
}

fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._%+-".contains(c))
        && is_host(domain)
}

fn is_host(h: &str) -> bool {
    let Some((_, tld)) = h.rsplit_once('.') else {
        return false;
    };
    tld.len() >= 2
        && tld.chars().all(|c| c.is_ascii_alphabetic())
        && h.split('.').all(|label| {
            !label.is_empty() && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// File names look like hosts (`report.pdf`): a generic document or code
/// extension without a scheme or path is a file, not a URL.
const FILE_EXTENSIONS: [&str; 16] = [
    "txt", "pdf", "doc", "docx", "csv", "json", "xls", "xlsx", "ppt", "pptx", "md", "png", "jpg",
    "jpeg", "zip", "py",
];

/// `Some(Some(url))`, `Some(None)` for a file name, `None` for neither.
#[allow(clippy::option_option)]
fn url(s: &str) -> Option<Option<(Kind, String)>> {
    let (scheme, rest) = match s.split_once("://") {
        Some((sch, rest)) if sch.chars().all(|c| c.is_ascii_alphabetic()) => (true, rest),
        _ => (false, s),
    };
    let rest = rest.strip_prefix("www.").unwrap_or(rest);
    let (host, path) = rest.split_once('/').map_or((rest, ""), |(h, p)| (h, p));
    let host = host.split(':').next().unwrap_or(host);
    if !is_host(host) {
        return None;
    }
    if !scheme && path.is_empty() {
        let ext = host.rsplit('.').next().unwrap_or("");
        if FILE_EXTENSIONS.contains(&ext) {
            return Some(None);
        }
    }
    let canonical = rest.trim_end_matches('/').to_owned();
    Some(Some((Kind::Url, canonical)))
}

/// Whether `text` (lower case) mentions `value` (canonical) as a whole
/// value: not as part of a longer address, host or identifier.
pub(crate) fn mentions(text: &str, value: &str) -> bool {
    if value.is_empty() {
        return false;
    }
    let inner = |c: char| c.is_ascii_alphanumeric() || "@_-".contains(c);
    // memchr's vectorised search, not `str::match_indices`: this runs for
    // every value of every call against the request and each kept tool
    // result. Both report the same non-overlapping matches, left to right,
    // and a match of a whole UTF-8 value starts and ends on char boundaries.
    memchr::memmem::find_iter(text.as_bytes(), value.as_bytes()).any(|at| {
        let (Some(head), Some(tail)) = (text.get(..at), text.get(at + value.len()..)) else {
            return false;
        };
        let starts = match head.chars().next_back() {
            None => true,
            // A URL is written with its scheme or `www.`.
            Some('.') => head.ends_with("www."),
            Some('/') => head.ends_with("//"),
            Some(c) => !inner(c),
        };
        starts && !tail.chars().next().is_some_and(inner)
    })
}

/// Verbs a tool name starts with when the call changes something or sends
/// something somewhere (generic English, not any product's tool names).
const WRITE_VERBS: [&str; 48] = [
    "send",
    "post",
    "create",
    "update",
    "delete",
    "remove",
    "add",
    "invite",
    "schedule",
    "append",
    "share",
    "reserve",
    "set",
    "write",
    "transfer",
    "pay",
    "move",
    "rename",
    "upload",
    "put",
    "patch",
    "insert",
    "book",
    "cancel",
    "reschedule",
    "edit",
    "modify",
    "submit",
    "publish",
    "forward",
    "reply",
    "grant",
    "revoke",
    "kick",
    "execute",
    "run",
    "deploy",
    "order",
    "buy",
    "purchase",
    "email",
    "message",
    "notify",
    "deliver",
    "approve",
    "assign",
    "merge",
    "push",
];

/// The first word of a tool name (`send_money`, `sendMoney`, `send-money`,
/// `mail.send` → `send`, `send`, `send`, `mail`).
fn first_word(tool: &str) -> String {
    let mut word = String::new();
    for (i, c) in tool.chars().enumerate() {
        if "_-. /".contains(c) || (i > 0 && c.is_uppercase()) {
            break;
        }
        word.push(c.to_ascii_lowercase());
    }
    word
}

/// Whether a call is one whose destination matters: a write (by its name's
/// verb) or one that reaches a URL (fetching an address is itself a way
/// out).
pub(crate) fn is_consequential(tool: &str, values: &[ArgValue]) -> bool {
    WRITE_VERBS.contains(&first_word(tool).as_str()) || values.iter().any(|v| v.kind == Kind::Url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(args: &str) -> Vec<(String, Kind, String)> {
        arg_values(args)
            .into_iter()
            .map(|v| (v.path, v.kind, v.value))
            .collect()
    }

    /// Escapes left in twice-encoded text part words; text without them
    /// is read as it is, and plain words are no identifiers.
    #[test]
    fn identifiers_in_text_with_and_without_escapes() {
        let found = |t: &str| -> Vec<String> { identifiers_in(t).map(|(_, v)| v).collect() };
        assert_eq!(
            found(r"Reply to\nBob@B.example\tabout order AB-12345"),
            ["bob@b.example", "ab-12345"]
        );
        assert_eq!(
            found("Reply to Bob@B.example about order AB-12345"),
            ["bob@b.example", "ab-12345"]
        );
        assert!(found("Please summarise yesterday's meeting notes").is_empty());
    }

    #[test]
    fn values_are_classified_by_shape() {
        let got = kinds(
            r#"{"to": ["Mallory@Evil.example"], "url": "https://www.evil.example/x/",
                "iban": "DE89370400440532013000", "amount": 1250.5, "n": 3,
                "file": "report.pdf", "date": "2024-05-19", "when": "10:30",
                "body": "see http://a.example.org/p or mail bob@b.example now"}"#,
        );
        assert!(got.contains(&("to[]".into(), Kind::Email, "mallory@evil.example".into())));
        assert!(got.contains(&("url".into(), Kind::Url, "evil.example/x".into())));
        assert!(got.contains(&("iban".into(), Kind::Id, "de89370400440532013000".into())));
        assert!(got.contains(&("amount".into(), Kind::Number, "1250.5".into())));
        assert!(got.contains(&("body".into(), Kind::Url, "a.example.org/p".into())));
        assert!(got.contains(&("body".into(), Kind::Email, "bob@b.example".into())));
        for skipped in ["n", "file", "date", "when"] {
            assert!(!got.iter().any(|g| g.0 == skipped), "{skipped}: {got:?}");
        }
    }

    #[test]
    fn mentions_need_whole_values() {
        let text = "pay the landlord at uk12345678 and visit https://www.shop.example/a.";
        assert!(mentions(text, "uk12345678"));
        assert!(mentions(text, "shop.example/a"));
        assert!(!mentions("true-shop.example", "shop.example"));
        assert!(!mentions("uk123456789", "uk12345678"));
        assert!(!mentions("x@shop.example", "shop.example"));
        // A later whole mention counts though an earlier one is part of a
        // longer value; text around it may be any UTF-8.
        assert!(mentions("uk123456789 — café: uk12345678.", "uk12345678"));
        assert!(!mentions("über-uk12345678ü", "uk12345678"));
    }

    #[test]
    fn consequential_calls_by_verb_or_url() {
        let none: Vec<ArgValue> = Vec::new();
        assert!(is_consequential("send_money", &none));
        assert!(is_consequential("sendMoney", &none));
        assert!(!is_consequential("get_balance", &none));
        let url = arg_values(r#"{"url": "evil.example"}"#);
        assert!(is_consequential("get_webpage", &url));
    }
}
