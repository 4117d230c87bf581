//! Log content made safe to print. Agent names, users, tool names and
//! arguments are written by whoever produced the logs; an escape sequence
//! among them (set the window title, clear the screen, move the cursor, a
//! carriage return that overwrites the line, a right-to-left override that
//! reverses what follows) would act on the analyst's terminal. Every text
//! output for people (tables, CSV, DOT, summaries, error messages) passes
//! log-derived text through [`printable`]; JSON stays exact, escaped by its
//! own rules.

use std::borrow::Cow;

/// `s` with control characters (C0 including newline and tab, DEL, C1)
/// and Unicode direction controls written as visible escapes (`\n`,
/// `\u{1b}`, `\u{202e}`); borrowed when there is nothing to escape.
pub fn printable(s: &str) -> Cow<'_, str> {
    if !s.chars().any(needs_escape) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if needs_escape(c) => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_are_made_visible_and_clean_text_is_untouched() {
        assert!(matches!(printable("agent-7 ✓ naïve"), Cow::Borrowed(_)));
        let hostile = "a\u{1b}]0;pwned\u{7}b\u{1b}[2J\rc\u{9b}d\u{202e}e\tf\ng";
        let shown = printable(hostile);
        assert_eq!(
            shown,
            "a\\u{1b}]0;pwned\\u{7}b\\u{1b}[2J\\rc\\u{9b}d\\u{202e}e\\tf\\ng"
        );
        assert!(!shown.chars().any(needs_escape));
    }
}
