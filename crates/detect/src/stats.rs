//! The few statistics every detector shares: tail probabilities of counts,
//! the chance of something new (Good–Turing), and p-values mapped to risk.

use statrs::distribution::{DiscreteCDF, NegativeBinomial, Poisson};

/// Smallest rate a count model is given, so "never seen in the baseline"
/// still has a finite (if tiny) probability.
const MIN_RATE: f64 = 1e-9;

/// P(X ≥ k) for a count whose baseline has this mean and variance.
///
/// Poisson when the baseline is not over-dispersed; a negative binomial
/// fitted by moments when it is, so agents with naturally bursty counts
/// are not flagged for their ordinary bursts.
pub fn count_tail(k: u64, mean: f64, var: f64) -> f64 {
    if k == 0 {
        return 1.0;
    }
    let mean = mean.max(MIN_RATE);
    if var > mean * 1.05 {
        let p = mean / var;
        let r = mean * mean / (var - mean);
        if let Ok(nb) = NegativeBinomial::new(r, p) {
            return nb.sf(k - 1).clamp(0.0, 1.0);
        }
    }
    match Poisson::new(mean) {
        Ok(d) => d.sf(k - 1).clamp(0.0, 1.0),
        Err(_) => 1.0,
    }
}

/// Chance that something happening in `hits` of `n` earlier instances
/// happens in the next one (add-one smoothed, so never 0 or 1).
pub fn rate_p(hits: f64, n: f64) -> f64 {
    ((hits + 1.0) / (n + 2.0)).clamp(0.0, 1.0)
}

/// Confidence in `p` as a share of the evidence needed for full confidence:
/// 0 at p = 1, 1 at `full_p` or below, linear in log p between.
pub fn confidence(p: f64, full_p: f64) -> f64 {
    if p.is_nan() || p <= 0.0 {
        return 1.0;
    }
    let full = full_p.clamp(1e-300, 0.5).log10();
    (p.log10() / full).clamp(0.0, 1.0)
}

/// A 0–100 risk from a detector's impact (how bad it is if real) and the
/// statistical confidence that it is unusual.
pub fn risk(impact: u8, p: f64, full_p: f64) -> u8 {
    (f64::from(impact) * confidence(p, full_p))
        .round()
        .clamp(0.0, 100.0) as u8
}

/// A p-value for text: two significant digits.
pub fn fmt_p(p: f64) -> String {
    if p >= 0.01 {
        format!("{p:.2}")
    } else {
        format!("{p:.1e}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poisson_tail_matches_closed_form() {
        // P(X >= 1) = 1 - e^{-λ}.
        let p = count_tail(1, 0.5, 0.5);
        assert!((p - (1.0 - (-0.5f64).exp())).abs() < 1e-9, "{p}");
        assert_eq!(count_tail(0, 3.0, 3.0), 1.0);
    }

    #[test]
    fn overdispersed_counts_have_heavier_tails() {
        let poisson = count_tail(8, 2.0, 2.0);
        let bursty = count_tail(8, 2.0, 10.0);
        assert!(bursty > poisson * 10.0, "{bursty} vs {poisson}");
    }

    #[test]
    fn never_seen_counts_are_tiny_but_finite() {
        let p = count_tail(5, 0.0, 0.0);
        assert!(p > 0.0 && p < 1e-30, "{p}");
    }

    #[test]
    fn confidence_and_risk_are_monotone() {
        assert_eq!(confidence(1.0, 1e-4), 0.0);
        assert_eq!(confidence(1e-6, 1e-4), 1.0);
        assert!((confidence(1e-2, 1e-4) - 0.5).abs() < 1e-12);
        assert!(risk(80, 1e-3, 1e-4) > risk(80, 1e-2, 1e-4));
        assert_eq!(risk(80, 1e-9, 1e-4), 80);
    }

    #[test]
    fn rate_is_smoothed() {
        assert!((rate_p(0.0, 198.0) - 0.005).abs() < 1e-12);
        assert!(rate_p(10.0, 10.0) < 1.0);
    }
}
