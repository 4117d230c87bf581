//! One calibrated probability from several pieces of a session's own
//! evidence, each weighed by how often the agent's benign sessions showed
//! it.
//!
//! Each clue's tail probability is the add-one rate of benign sessions of
//! the agent that raised it, read at a fixed resolution of [`RESOLUTION`]
//! sessions: once an agent has that much history the same evidence gets the
//! same probability whether it has 100 sessions or 10,000, so scores rank
//! across agents and over time. The clues are combined with Fisher's method
//! (−2 Σ ln pₖ is χ² with 2k degrees of freedom under the benign
//! hypothesis). A clue never seen in benign history scores 1/102 ≈ 0.0098;
//! all three of a detector's clues never seen combine to p ≈ 1e-4.

use super::detectors::Ctx;

/// A piece of evidence a detector weighs; its rate is learned by the
/// baseline from each learned instance ([`crate::baseline::AgentBaseline::clue`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clue {
    /// Its name in the baseline.
    pub flag: &'static str,
    /// How it reads in an explanation.
    pub what: &'static str,
}

/// Benign sessions the calibration resolves (see the module docs).
pub(crate) const RESOLUTION: f64 = 100.0;

/// The combined probability and what it was made of.
pub(crate) struct Calibrated {
    pub p: f64,
    /// (clue, decayed sessions that showed it, sessions judged on it, its
    /// probability), for the clues raised.
    parts: Vec<(Clue, f64, f64, f64)>,
}

impl Calibrated {
    /// The probability of the clues whose bit is set in `raised`, against
    /// the agent's baseline in `ctx`.
    pub fn of(ctx: &Ctx<'_>, clues: &[Clue], raised: u8) -> Self {
        let mut parts = Vec::new();
        let mut x = 0.0;
        for (i, clue) in clues.iter().enumerate() {
            if raised & (1 << i) == 0 {
                continue;
            }
            let (hits, n) = ctx.baseline.map_or((0.0, 0.0), |b| b.clue(clue.flag));
            let p = tail(hits, n);
            x += -2.0 * p.ln();
            parts.push((*clue, hits, n, p));
        }
        Self {
            p: chi_squared_sf(x, clues.len()),
            parts,
        }
    }

    /// "3 of 212 earlier sessions took it from tool output, …".
    pub fn expected(&self, ctx: &Ctx<'_>) -> String {
        let said: Vec<String> = self
            .parts
            .iter()
            .map(|(c, hits, n, _)| format!("{hits:.0} of {n:.0} earlier sessions {}", c.what))
            .collect();
        if said.is_empty() {
            return ctx.history_phrase();
        }
        said.join("; ")
    }

    /// "took it from tool output (p 0.0098), …; combined p 1.1e-4".
    pub fn observed(&self) -> String {
        let said: Vec<String> = self
            .parts
            .iter()
            .map(|(c, _, _, p)| format!("{} (p {})", c.what, crate::stats::fmt_p(*p)))
            .collect();
        format!(
            "{}; combined p {}",
            said.join(", "),
            crate::stats::fmt_p(self.p)
        )
    }
}

/// Add-one tail probability of a clue benign sessions showed `hits` times
/// in `n`, at [`RESOLUTION`].
fn tail(hits: f64, n: f64) -> f64 {
    let rate = if n > 0.0 { (hits / n).min(1.0) } else { 0.0 };
    (rate * RESOLUTION + 1.0) / (RESOLUTION + 2.0)
}

/// P(χ² ≥ x) with 2k degrees of freedom: e^(−x/2) Σᵢ<ₖ (x/2)ⁱ / i!.
fn chi_squared_sf(x: f64, k: usize) -> f64 {
    let half = x / 2.0;
    let mut term = 1.0;
    let mut sum = 1.0;
    for i in 1..k {
        term *= half / i as f64;
        sum += term;
    }
    ((-half).exp() * sum).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fisher_tail_matches_known_values() {
        // χ² with 2 dof is exponential: P(X ≥ x) = e^(−x/2).
        assert!((chi_squared_sf(4.0, 1) - (-2.0f64).exp()).abs() < 1e-12);
        // χ² with 6 dof at its median ≈ 5.348.
        assert!((chi_squared_sf(5.348, 3) - 0.5).abs() < 1e-3);
        assert_eq!(chi_squared_sf(0.0, 3), 1.0);
    }

    #[test]
    fn the_same_rate_scores_the_same_at_any_history() {
        assert_eq!(tail(1.0, 100.0), tail(10.0, 1000.0));
        assert!((tail(0.0, 10_000.0) - 1.0 / 102.0).abs() < 1e-12);
        assert!((tail(50.0, 100.0) - 0.5).abs() < 1e-12);
    }
}
