//! How an agent's requests account for the tools its sessions call: a
//! naive Bayes model of "this session calls tool T" given the words of the
//! human's request, learned per logical agent from its learned sessions.
//!
//! Each distinct request text counts once (a task asked a hundred times is
//! one piece of evidence, so the model learns how words relate to tools
//! rather than memorising recurring tasks), and so does each (request, tool)
//! pair. Words are lower-cased alphanumeric runs with a letter, of two or
//! more characters, with one plural or tense ending dropped; no stopword
//! list: words common to every request weigh both outcomes alike.
//!
//! Everything is counted, never decayed, and bounded: at most
//! [`MAX_WORDS`] words and [`MAX_REQUESTS`] remembered request texts per
//! agent (the oldest forgotten first; a forgotten request seen again counts
//! again, which only makes it a little more familiar).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::{Deserialize, Serialize};

use crate::counted::entry_of;

/// Most distinct words an agent's model keeps (new ones beyond are not
/// learned).
const MAX_WORDS: usize = 4096;
/// Most request texts remembered for counting each only once.
const MAX_REQUESTS: usize = 2048;
/// Laplace smoothing.
const ALPHA: f64 = 1.0;
/// Posterior below which a request does not account for a call.
pub(crate) const UNACCOUNTED_BELOW: f64 = 0.1;

/// A session's request and the tools it called, as the model learns them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IntentSample {
    /// Which request it was ([`request_key`] of its words).
    pub request: u64,
    /// Its words.
    pub words: BTreeSet<String>,
    /// Every tool the session called.
    pub tools: BTreeSet<String>,
}

/// Per agent: distinct requests, and per word and tool how many of them
/// mention the word, called the tool, or both.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IntentModel {
    requests: u32,
    words: BTreeMap<String, u32>,
    tools: BTreeMap<String, u32>,
    /// tool → word → requests that mention the word and called the tool.
    pairs: BTreeMap<String, BTreeMap<String, u32>>,
    /// Remembered requests (oldest first) and the tools counted for each.
    seen: VecDeque<(u64, BTreeSet<String>)>,
}

/// How well a request accounts for one tool.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Accounting {
    /// P(the session calls the tool | the request's words).
    pub p: f64,
    /// Distinct requests learned, and how many of them called the tool.
    pub requests: u32,
    pub with_tool: u32,
    /// The request's words that most speak against the tool: (word,
    /// requests mentioning it, of them calling the tool), at most two.
    pub against: Vec<(String, u32, u32)>,
}

impl Accounting {
    /// Whether the request does not account for the call.
    pub fn unaccounted(&self) -> bool {
        self.p < UNACCOUNTED_BELOW
    }

    /// "sessions of 40 distinct requests called it in 0; requests
    /// mentioning 'inbox' call it in 0 of 6".
    pub fn explain(&self, tool: &str) -> String {
        let mut s = format!(
            "{} of {} distinct earlier requests led to {tool}",
            self.with_tool, self.requests
        );
        for (w, n, k) in &self.against {
            s.push_str(&format!("; requests mentioning '{w}' did in {k} of {n}"));
        }
        s
    }
}

impl IntentModel {
    /// Distinct requests learned.
    pub fn requests(&self) -> u32 {
        self.requests
    }

    /// Learn one session.
    pub fn learn(&mut self, s: &IntentSample) {
        let known = self.seen.iter().position(|(h, _)| *h == s.request);
        let counted = match known {
            Some(i) => &mut self.seen[i].1,
            None => {
                if self.seen.len() == MAX_REQUESTS {
                    self.seen.pop_front();
                }
                self.requests += 1;
                for w in &s.words {
                    if let Some(n) = self.words.get_mut(w) {
                        *n += 1;
                    } else if self.words.len() < MAX_WORDS {
                        self.words.insert(w.clone(), 1);
                    }
                }
                self.seen.push_back((s.request, BTreeSet::new()));
                let last = self.seen.len() - 1;
                &mut self.seen[last].1
            }
        };
        for tool in &s.tools {
            if !counted.insert(tool.clone()) {
                continue;
            }
            *entry_of(&mut self.tools, tool) += 1;
            let pairs = entry_of(&mut self.pairs, tool);
            for w in s.words.iter().filter(|w| self.words.contains_key(*w)) {
                *entry_of(pairs, w) += 1;
            }
        }
    }

    /// How well `words` account for `tool` (naive Bayes, add-one smoothed;
    /// words the model never learned weigh both outcomes alike).
    pub(crate) fn account<'a>(
        &self,
        words: impl IntoIterator<Item = &'a String>,
        tool: &str,
    ) -> Accounting {
        let n = f64::from(self.requests);
        let with_tool = self.tools.get(tool).copied().unwrap_or(0);
        let nt = f64::from(with_tool);
        let pairs = self.pairs.get(tool);
        let mut yes = ((nt + ALPHA) / (n + 2.0 * ALPHA)).ln();
        let mut no = ((n - nt + ALPHA) / (n + 2.0 * ALPHA)).ln();
        let mut against = Vec::new();
        // Words no learned request had say nothing about either outcome.
        for (w, nw) in words
            .into_iter()
            .filter_map(|w| self.words.get(w).map(|n| (w, *n)))
        {
            let both = pairs.and_then(|p| p.get(w)).copied().unwrap_or(0);
            let (fw, fb) = (f64::from(nw), f64::from(both));
            let lift_yes = ((fb + ALPHA) / (nt + 2.0 * ALPHA)).ln();
            let lift_no = ((fw - fb + ALPHA) / (n - nt + 2.0 * ALPHA)).ln();
            yes += lift_yes;
            no += lift_no;
            if nw >= 2 {
                against.push((lift_no - lift_yes, w, nw, both));
            }
        }
        against.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
        Accounting {
            p: 1.0 / (1.0 + (no - yes).exp()),
            requests: self.requests,
            with_tool,
            against: against
                .into_iter()
                .filter(|a| a.0 > 0.0)
                .take(2)
                .map(|(_, w, n, k)| (w.clone(), n, k))
                .collect(),
        }
    }
}

/// The words of a request (see the module docs).
pub(crate) fn words(text: &str) -> BTreeSet<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= 2 && w.chars().any(char::is_alphabetic))
        .map(|w| stem(&w.to_lowercase()))
        .collect()
}

/// One plural or tense ending dropped when three characters stay.
fn stem(w: &str) -> String {
    for end in ["ing", "ed", "es", "s"] {
        if let Some(root) = w.strip_suffix(end)
            && root.chars().count() >= 3
        {
            return root.to_owned();
        }
    }
    w.to_owned()
}

/// What makes two requests the same request: the same words (FNV-1a over
/// them, the same on every machine and run, unlike the std hasher).
pub(crate) fn request_key<'a>(words: impl IntoIterator<Item = &'a String>) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for w in words {
        for b in w.bytes().chain([b' ']) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(request: &str, tools: &[&str]) -> IntentSample {
        IntentSample {
            request: request_key(&words(request)),
            words: words(request),
            tools: tools.iter().map(|t| (*t).to_owned()).collect(),
        }
    }

    fn model() -> IntentModel {
        let mut m = IntentModel::default();
        for i in 0..10 {
            m.learn(&sample(
                &format!("pay the rent bill r{i}"),
                &["read_file", "send_money"],
            ));
            m.learn(&sample(
                &format!("summarise my inbox s{i}"),
                &["read_inbox"],
            ));
        }
        m
    }

    #[test]
    fn words_drop_endings_and_noise() {
        let w = words("Paying the bills, 42 times: e-mails!");
        let w: Vec<&str> = w.iter().map(String::as_str).collect();
        assert_eq!(w, ["bill", "mail", "pay", "the", "tim"]);
    }

    #[test]
    fn a_request_that_asks_for_it_accounts_for_the_call() {
        let m = model();
        let pay = m.account(&words("please pay my water bill"), "send_money");
        assert!(!pay.unaccounted(), "{pay:?}");
        let inbox = m.account(&words("summarise my inbox please"), "send_money");
        assert!(inbox.unaccounted(), "{inbox:?}");
        assert_eq!((inbox.requests, inbox.with_tool), (20, 10));
        assert_eq!(inbox.against[0].0, "inbox");
        assert!(
            inbox
                .explain("send_money")
                .contains("'inbox' did in 0 of 10")
        );
    }

    #[test]
    fn a_request_counts_once_however_often_it_is_asked() {
        let mut m = IntentModel::default();
        for _ in 0..50 {
            m.learn(&sample("Summarise   my inbox", &["read_inbox"]));
        }
        m.learn(&sample("summarise my INBOX", &["read_inbox", "send_email"]));
        assert_eq!(m.requests(), 1);
        assert_eq!(m.tools.get("read_inbox"), Some(&1));
        assert_eq!(m.tools.get("send_email"), Some(&1));
    }

    #[test]
    fn memory_is_bounded() {
        let mut m = IntentModel::default();
        for i in 0..(MAX_REQUESTS + 10) {
            m.learn(&sample(&format!("word{i} and w{i}x"), &["t"]));
        }
        assert_eq!(m.seen.len(), MAX_REQUESTS);
        assert_eq!(m.words.len(), MAX_WORDS);
    }
}
