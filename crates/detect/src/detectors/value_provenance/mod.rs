//! `value_provenance` (see docs/detectors.md for its measured figures): a
//! consequential tool call (a write, a send, a fetch of an address) that
//! acts on an identifier — an e-mail address, a URL, an account or item id
//! — the human's request never named but an earlier tool result did, or
//! that the request does not account for: the footprints of an indirect
//! prompt injection.
//!
//! Agents copy values out of tool results all the time, so that alone
//! proves little. Four pieces of evidence are weighed, each against how
//! often the agent's own benign sessions showed it (see
//! [`crate::calibration`]):
//! 1. **taken from tool output**: the value is in an earlier result, not in
//!    the request (or the session's results are unreadable, so provenance
//!    cannot be checked);
//! 2. **a value the agent never chose**: it never used this value itself,
//!    in any earlier session, without being asked to;
//! 3. **a value from outside its world**: it appears in none of the
//!    agent's earlier requests and arguments, nor in the tool results of
//!    its onboarding and trusted runs;
//! 4. **a call its request does not account for**, by the agent's intent
//!    model ([`crate::intent`]).
//!
//! No tool name, argument name or wording is listed: calls are
//! consequential by the generic verb their name starts with or because
//! they reach a URL, values are identifiers by their shape.

use delegraph_model::{EventSignals, NormEvent, ToolRef, ValueOrigin};

use super::Ctx;
use super::data_flow::{INJECTION_TAGS, ToolResult};
use crate::DetectorId;
use crate::baseline::Observation;
use crate::calibration::{Calibrated, Clue};
use crate::detector::{Detector, EventCx, PerInstance, Signal, SlotId, per_instance_state};
use crate::features::dim;
use crate::instance::{Instance, evidence};
use crate::intent::{Accounting, IntentSample, request_key};
use crate::values::{ArgValue, arg_values, is_consequential, mentions};
use flow::{Flow, excerpt, remember};

mod flow;

/// Sessions' worth of history a value needs to count as known: one
/// learned session (instances learned at a forgiven weight count less).
const KNOWN_WEIGHT: f64 = 1.0;
/// Calibrated probability at or below which an instance does not count
/// towards the clue rates (unless trusted or forgiven): a hijack campaign
/// must not make its own clues look common. Without it, hijacks that
/// scored just under `learn_below_risk` were learned and taught the rates
/// of "a value absent from history" until later hijacks of the same
/// campaign scored as benign (AgentDojo slack: 0 of 153 earlier sessions
/// rose to 58 of 430).
const LEARN_GATE: f64 = 0.1;

/// The four pieces of evidence, as baseline flags.
const FROM_OUTPUT: Clue = Clue {
    flag: "value_from_tool_output",
    what: "took it from tool output",
};
const NEVER_CHOSEN: Clue = Clue {
    flag: "value_never_chosen",
    what: "a value the agent never chose itself",
};
const OUTSIDE_WORLD: Clue = Clue {
    flag: "value_outside_history",
    what: "a value absent from all its earlier sessions",
};
const UNACCOUNTED: Clue = Clue {
    flag: "call_unaccounted",
    what: "a call its request does not account for",
};
const CLUES: [Clue; 4] = [FROM_OUTPUT, NEVER_CHOSEN, OUTSIDE_WORLD, UNACCOUNTED];
/// Bits of the clues in [`CLUES`].
const FROM_OUTPUT_BIT: u8 = 1;
const NEVER_CHOSEN_BIT: u8 = 2;
const OUTSIDE_WORLD_BIT: u8 = 4;
const UNACCOUNTED_BIT: u8 = 8;

/// How the detector stands towards the agent in `ctx`, which decides how
/// its fixed-list stand-in `data_flow` speaks.
pub(crate) enum Standing {
    /// Turned off: `data_flow` is the only judge of provenance.
    Off,
    /// Still learning the agent's world or how often its sessions raise
    /// the clues: `sessions` judged so far of the `needed`.
    Learning { sessions: f64, needed: u64 },
    /// Judging: `data_flow` stays quiet.
    Judging,
}

/// Sessions the agent's clue rates rest on (every judged instance counts
/// towards all four clues at once, so one clue's count serves).
fn clue_sessions(ctx: &Ctx<'_>) -> f64 {
    ctx.baseline.map_or(0.0, |b| b.clue(FROM_OUTPUT.flag).1)
}

/// See [`Standing`].
pub(crate) fn standing(ctx: &Ctx<'_>) -> Standing {
    let s = ctx.settings(DetectorId::ValueProvenance);
    let sessions = clue_sessions(ctx);
    if !s.enabled {
        Standing::Off
    } else if sessions < s.min_history as f64 {
        Standing::Learning {
            sessions,
            needed: s.min_history,
        }
    } else {
        Standing::Judging
    }
}

/// One argument value that came from somewhere other than the request.
struct Traced<'a> {
    value: &'a ArgValue,
    source: Option<&'a ToolResult>,
    clues: u8,
}

/// The clues one value of a consequential call raises.
fn trace<'a>(ctx: &Ctx<'_>, own: &'a Flow, v: &'a ArgValue, blind: bool) -> Option<Traced<'a>> {
    if !v.kind.is_identifier() || mentions(&own.request, &v.value) {
        return None;
    }
    let source = own.source_of(&v.value);
    if source.is_none() && !blind {
        return None;
    }
    let b = ctx.baseline;
    let known = |d: &str| b.is_some_and(|b| b.item_weight(d, &v.value) >= KNOWN_WEIGHT);
    let mut clues = FROM_OUTPUT_BIT;
    if !known(dim::VALUE_CHOSEN) {
        clues |= NEVER_CHOSEN_BIT;
    }
    if !known(dim::VALUE_ASKED) && !known(dim::VALUE_USED) && !known(dim::VALUE_READ) {
        clues |= OUTSIDE_WORLD_BIT;
    }
    Some(Traced {
        value: v,
        source,
        clues,
    })
}

/// What one call showed: the clues it raises (counted whether or not they
/// alert), the values it took from tool output, the signal when the clues
/// add to what the instance had raised, and the facts rules see.
#[derive(Default)]
struct Outcome {
    raised: u8,
    /// Values it took from tool output into a consequential call.
    suspects: Vec<String>,
    /// The instance's calibrated probability, when the clues grew.
    p: Option<f64>,
    signal: Option<Signal>,
    facts: EventSignals,
}

/// Judge one tool call against the instance's flow so far; `min_history`
/// is the detector's, `judged` whether the agent's history reaches it.
fn provenance(
    ctx: &Ctx<'_>,
    own: &Flow,
    call: (&ToolRef, &[ArgValue]),
    min_history: u64,
    judged: bool,
) -> Outcome {
    let (tool, values) = call;
    let blind = own.blind();
    let traced: Vec<Traced<'_>> = values
        .iter()
        .filter_map(|v| trace(ctx, own, v, blind))
        .collect();
    let consequential = is_consequential(&tool.name, values);
    let intent = ctx
        .baseline
        .filter(|_| consequential && judged)
        .map(|b| b.intent().account(&own.words, &tool.name));
    let worst = traced.iter().max_by_key(|t| t.clues.count_ones());
    let facts = EventSignals {
        from_tool_result: traced
            .iter()
            .filter_map(|t| {
                t.source.map(|r| ValueOrigin {
                    argument: t.value.path.clone(),
                    value: t.value.value.clone(),
                    source_tool: r.tool.clone(),
                    source_event: r.evidence.event_id.clone(),
                })
            })
            .collect(),
        value_new: (judged && !traced.is_empty())
            .then(|| traced.iter().any(|t| t.clues & OUTSIDE_WORLD_BIT != 0)),
        intent_mismatch: intent.as_ref().map(Accounting::unaccounted),
    };
    if !consequential {
        return Outcome {
            facts,
            ..Outcome::default()
        };
    }
    let unaccounted = intent.as_ref().filter(|a| a.unaccounted());
    let clues = worst.map_or(0, |t| t.clues) | unaccounted.map_or(0, |_| UNACCOUNTED_BIT);
    let suspects = traced.iter().map(|t| t.value.value.clone()).collect();
    let raised = own.raised | clues;
    let calibrated = Calibrated::of(ctx, &CLUES, raised);
    // No signal unless the call adds to what the instance raised, nor
    // while the rates are still being learned (the instance then counts
    // towards them whatever it raised).
    let judging = raised != own.raised && clue_sessions(ctx) >= min_history as f64;
    let signal = judging
        .then(|| {
            let call = Call {
                event: ctx.event?,
                tool,
                worst,
                intent: unaccounted,
            };
            signal(ctx, own, &call, &calibrated)
        })
        .flatten();
    Outcome {
        raised,
        suspects,
        p: judging.then_some(calibrated.p),
        signal,
        facts,
    }
}

/// The call a signal is about, and what it showed.
struct Call<'a> {
    event: &'a NormEvent,
    tool: &'a ToolRef,
    /// Its value with the most clues, if any came from tool output.
    worst: Option<&'a Traced<'a>>,
    /// How its request accounts for it, when it does not.
    intent: Option<&'a Accounting>,
}

fn signal(ctx: &Ctx<'_>, own: &Flow, call: &Call<'_>, calibrated: &Calibrated) -> Option<Signal> {
    let mut s = ctx.statistical(DetectorId::ValueProvenance, calibrated.p)?;
    let (e, tool) = (call.event, call.tool);
    s.subject = tool.call_id.clone().unwrap_or_else(|| e.event_id.clone());
    s.what = match call.worst {
        Some(t) => {
            let v = t.value;
            let origin = match t.source {
                Some(r) => format!(
                    "first seen in the output of {} ({}: \"{}\")",
                    r.tool,
                    r.evidence.event_id,
                    excerpt(&r.text, &v.value)
                ),
                None => "from tool output that telemetry did not carry readably".to_owned(),
            };
            format!(
                "called {} with {} = {:?}, {} the human's request never named, {origin}",
                tool.name,
                v.path,
                v.value,
                v.kind.label()
            )
        }
        None => format!(
            "called {}, which the human's request does not account for",
            tool.name
        ),
    };
    let mut expected = format!(
        "values of consequential calls come from the request or the agent's own habits, and requests account for the calls; {}",
        calibrated.expected(ctx)
    );
    if let Some(a) = call.intent {
        expected.push_str(&format!("; {}", a.explain(&tool.name)));
    }
    s.expected = expected;
    s.observed = format!(
        "{}; request: \"{}\"",
        calibrated.observed(),
        excerpt(&own.request, "")
    );
    s.evidence = call
        .worst
        .and_then(|t| t.source)
        .map(|r| r.evidence.clone())
        .into_iter()
        .chain([evidence(e)])
        .collect();
    s.tags = INJECTION_TAGS;
    Some(s)
}

/// Traces the values of consequential calls back to tool output.
#[derive(Default)]
pub(crate) struct ValueProvenance {
    by_instance: PerInstance<Flow>,
    /// What the last event observed showed, for rules (not saved: it
    /// describes one event).
    last: Option<(SlotId, EventSignals)>,
}

impl Detector for ValueProvenance {
    fn id(&self) -> DetectorId {
        DetectorId::ValueProvenance
    }

    fn observe(&mut self, cx: &EventCx<'_>, out: &mut Vec<Signal>) {
        self.last = None;
        let ctx = cx.ctx();
        let settings = ctx.settings(self.id());
        if !settings.enabled {
            return;
        }
        let e = cx.event;
        let mut own = self.by_instance.slot(cx.instance.slot, cx.is_open);
        if let Some(req) = &e.input_messages {
            own.add_request(req, true);
        }
        if let Some(h) = &e.on_behalf_of
            && !mentions(&own.request, &h.to_lowercase())
        {
            // Who asked is part of what they asked (their own address).
            own.add_request(h, false);
        }
        let Some(tool) = &e.tool else { return };
        if e.echoes_span() {
            return;
        }
        let values = tool
            .arguments
            .as_deref()
            .map(arg_values)
            .unwrap_or_default();
        let judged = ctx.history() >= settings.min_history;
        // An agent's first sessions are its onboarding, as for every
        // baseline: what they read and use is learned as its world.
        own.trusted |= cx.cfg.trusted || !judged;
        let outcome = provenance(&ctx, &own, (tool, &values), settings.min_history, judged);
        self.last = Some((cx.instance.slot, outcome.facts));
        own.add_tool(&tool.name);
        own.raised |= outcome.raised;
        if let Some(p) = outcome.p {
            own.lowest_p = Some(own.lowest_p.map_or(p, |q| q.min(p)));
        }
        own.alerted |= outcome
            .signal
            .as_ref()
            .is_some_and(|s| s.risk >= cx.cfg.learn_below_risk);
        remember(&mut own.suspect, outcome.suspects.into_iter());
        own.judged |= judged;
        out.extend(outcome.signal);
        for v in values.iter().filter(|v| v.kind.is_identifier()) {
            if !mentions(&own.request, &v.value) {
                remember(&mut own.chosen, std::iter::once(v.value.clone()));
            }
            remember(&mut own.used, std::iter::once(v.value.clone()));
        }
        // A result is traced only for later calls, never the one returning it.
        if let Some(result) = tool.result.as_deref() {
            own.add_result(&tool.name, result, evidence(e));
        }
    }

    fn learn(&self, instance: &Instance, obs: &mut Observation) {
        let Some(own) = self.by_instance.get(instance.slot) else {
            return;
        };
        // Learned although it alerted: forgiven (the engine learns such an
        // instance only with forgiveness on, and at the forgiven weight), so
        // it teaches what it did like a trusted one, at that weight.
        let vouched = own.trusted || own.alerted;
        for (d, set) in [
            (dim::VALUE_CHOSEN, &own.chosen),
            (dim::VALUE_USED, &own.used),
            (dim::VALUE_ASKED, &own.asked),
        ] {
            let kept = if vouched {
                set.to_btree()
            } else {
                set.difference(&own.suspect)
            };
            if !kept.is_empty() {
                obs.items.insert(d, kept);
            }
        }
        if own.trusted && !own.read.is_empty() {
            obs.items.insert(dim::VALUE_READ, own.read.to_btree());
        }
        if !own.words.is_empty() && !own.tools.is_empty() {
            obs.intent = Some(IntentSample {
                request: request_key(&own.words),
                words: own.words.to_btree(),
                tools: own.tools.to_btree(),
            });
        }
        let alarmed = !vouched && own.lowest_p.is_some_and(|p| p <= LEARN_GATE);
        if own.judged && !alarmed {
            for (i, clue) in CLUES.iter().enumerate() {
                obs.clues.insert(clue.flag, own.raised & (1 << i) != 0);
            }
        }
    }

    fn describe(&self, slot: SlotId, signals: &mut EventSignals) {
        if let Some((s, facts)) = &self.last
            && *s == slot
        {
            signals.clone_from(facts);
        }
    }

    per_instance_state!(by_instance);
}

#[cfg(test)]
mod tests;
