//! Accumulated risk per instance and per human: each finding adds its risk
//! as an independent chance (1 − Π(1 − rᵢ)), so the total is capped at 100,
//! and it halves every `half_life` of event time without new findings.

use serde::{Deserialize, Serialize};

use delegraph_model::Bounded;

/// Most instances and humans whose risk is tracked.
const MAX_TRACKED: usize = 200_000;

/// Risk books for instances and humans.
#[derive(Debug, Serialize, Deserialize)]
pub struct RiskBook {
    half_life_ns: f64,
    instances: Bounded<(f64, i64)>,
    humans: Bounded<(f64, i64)>,
}

fn add(book: &mut Bounded<(f64, i64)>, key: &str, risk: u8, at: i64, half_life_ns: f64) -> u8 {
    let (old, then) = book.peek(key).copied().unwrap_or((0.0, at));
    let decayed = old * 0.5f64.powf(((at - then).max(0) as f64) / half_life_ns);
    let total = 100.0 - (100.0 - decayed) * (1.0 - f64::from(risk.min(100)) / 100.0);
    book.put(key.to_owned(), (total, at.max(then)));
    total.round().clamp(0.0, 100.0) as u8
}

impl RiskBook {
    /// Empty books with the given half-life (seconds).
    pub fn new(half_life_secs: u64) -> Self {
        Self {
            half_life_ns: (half_life_secs.max(1) as f64) * 1e9,
            instances: Bounded::new(MAX_TRACKED),
            humans: Bounded::new(MAX_TRACKED),
        }
    }

    /// Add a finding's risk; returns the instance's and human's totals.
    pub fn add(
        &mut self,
        instance: Option<&str>,
        human: Option<&str>,
        risk: u8,
        at: i64,
    ) -> (u8, u8) {
        let h = self.half_life_ns;
        let i = instance.map_or(0, |k| add(&mut self.instances, k, risk, at, h));
        let u = human.map_or(0, |k| add(&mut self.humans, k, risk, at, h));
        (i, u)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accumulates_caps_and_decays() {
        let mut r = RiskBook::new(3600);
        assert_eq!(r.add(Some("i"), Some("h"), 50, 0), (50, 50));
        assert_eq!(r.add(Some("i"), None, 50, 0).0, 75);
        for _ in 0..20 {
            r.add(Some("i"), None, 90, 0);
        }
        assert_eq!(r.add(Some("i"), None, 90, 0).0, 100);
        // One half-life later a 0-risk touch shows the decay.
        let hour = 3_600_000_000_000;
        assert_eq!(r.add(None, Some("h"), 0, hour).1, 25);
    }
}
