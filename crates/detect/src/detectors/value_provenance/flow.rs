//! What one instance was asked, what its tools returned and what it did
//! with the values.

use std::collections::VecDeque;

use delegraph_model::Evidence;
use serde::{Deserialize, Serialize};

use crate::detectors::data_flow::ToolResult;
use crate::instance::{MAX_TEXT, clip};
use crate::intent;
use crate::small_set::SmallSet;
use crate::values::{identifiers_in, mentions};

/// Most tool results kept per instance.
const MAX_RESULTS: usize = 64;
/// Most values an instance keeps for its agent's baseline, per kind.
const MAX_LEARNED: usize = 256;
/// Most distinct request words and tools kept per instance.
const MAX_WORDS: usize = 256;
/// Characters of a tool result shown around the value it gave.
pub(super) const EXCERPT: usize = 160;

/// What an instance was asked, what its tools returned and what it did
/// with the values.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct Flow {
    /// The human's request (lower case), and who the human is.
    pub(super) request: String,
    /// Recent tool results, oldest first.
    pub(super) results: VecDeque<ToolResult>,
    /// Non-empty results seen, and whether they were all the same text
    /// (telemetry that repeats one result says nothing about provenance).
    pub(super) nonempty_results: u32,
    pub(super) first_result: Option<String>,
    pub(super) all_results_same: bool,
    /// Identifiers the instance used without being asked to.
    pub(super) chosen: SmallSet,
    /// Every identifier it used.
    pub(super) used: SmallSet,
    /// Identifiers in its request.
    pub(super) asked: SmallSet,
    /// Identifiers in its tool results, collected and learned only in
    /// onboarding and trusted runs, as other results may carry an
    /// attacker's text.
    pub(super) read: SmallSet,
    /// Clues raised so far (bits in [`super::CLUES`] order).
    pub(super) raised: u8,
    /// Values it took from tool output into consequential calls: learned
    /// only from an onboarding, trusted or forgiven run, so a hijack
    /// cannot make its own values familiar.
    pub(super) suspect: SmallSet,
    /// The lowest calibrated probability it reached (see
    /// [`super::LEARN_GATE`]).
    pub(super) lowest_p: Option<f64>,
    /// Whether it raised a finding risky enough to keep it out of the
    /// baseline (learned all the same, it was forgiven).
    pub(super) alerted: bool,
    /// Observed in a trusted run or during the agent's onboarding:
    /// everything it used and read is learned.
    pub(super) trusted: bool,
    /// Whether its values were judged against a baseline with enough
    /// history: novelty against an empty one says nothing, so only judged
    /// instances teach how often benign sessions raise the clues.
    pub(super) judged: bool,
    /// The words of the human's request, and every tool the instance
    /// called: what the agent's intent model learns.
    pub(super) words: SmallSet,
    pub(super) tools: SmallSet,
}

impl Flow {
    /// The human's request (`words`: whether it is the request itself, as
    /// opposed to who asked).
    pub(super) fn add_request(&mut self, text: &str, words: bool) {
        if words {
            remember_capped(&mut self.words, intent::words(text).into_iter(), MAX_WORDS);
        }
        if self.request.len() < MAX_TEXT {
            self.request.push_str(&clip(text).to_lowercase());
            self.request.push('\n');
            remember(&mut self.asked, identifiers_in(text).map(|(_, v)| v));
        }
    }

    /// A tool the instance called.
    pub(super) fn add_tool(&mut self, name: &str) {
        remember_capped(&mut self.tools, std::iter::once(name.to_owned()), MAX_WORDS);
    }

    pub(super) fn add_result(&mut self, tool: &str, text: &str, evidence: Evidence) {
        let text = clip(text).to_lowercase();
        let blank = matches!(text.trim(), "" | "none" | "null" | "[]" | "{}");
        if !blank {
            self.nonempty_results += 1;
            match &self.first_result {
                None => {
                    self.first_result = Some(text.clone());
                    self.all_results_same = true;
                }
                Some(first) => self.all_results_same &= *first == text,
            }
            if self.trusted {
                remember(&mut self.read, identifiers_in(&text).map(|(_, v)| v));
            }
        }
        if self.results.len() == MAX_RESULTS {
            self.results.pop_front();
        }
        self.results.push_back(ToolResult {
            tool: tool.to_owned(),
            text,
            evidence,
        });
    }

    /// Results that cannot show where a value came from: none readable, or
    /// several that are all the same text.
    pub(super) fn blind(&self) -> bool {
        self.nonempty_results == 0 || (self.nonempty_results >= 2 && self.all_results_same)
    }

    /// The earliest result that names `value`.
    pub(super) fn source_of(&self, value: &str) -> Option<&ToolResult> {
        self.results.iter().find(|r| mentions(&r.text, value))
    }
}

/// Add values to an instance's set, up to [`MAX_LEARNED`].
pub(super) fn remember(set: &mut SmallSet, values: impl Iterator<Item = String>) {
    remember_capped(set, values, MAX_LEARNED);
}

fn remember_capped(set: &mut SmallSet, values: impl Iterator<Item = String>, cap: usize) {
    for v in values {
        if set.len() >= cap {
            break;
        }
        set.insert(v);
    }
}

/// Up to [`EXCERPT`] characters of `text` around `value` (its start when
/// `value` is empty or absent), on one line.
pub(super) fn excerpt(text: &str, value: &str) -> String {
    let at = text.find(value).filter(|_| !value.is_empty()).unwrap_or(0);
    let start = at.saturating_sub(EXCERPT / 2);
    text.char_indices()
        .skip_while(|(i, _)| *i < start)
        .take(EXCERPT)
        .map(|(_, c)| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_owned()
}
