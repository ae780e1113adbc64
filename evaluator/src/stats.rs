//! Guardrail statistics (SPEC.md, "Guardrails → Statistics"): the confidence
//! sequences that judge a rollback trigger, and the sample-ratio check.
//!
//! Pure arithmetic on counts, the same in the server and the console (no
//! dependencies, no float parsing; float text only in [`Verdict::explain`], and
//! that by integer arithmetic). No input, however odd (no data, events above
//! `per`, counts near `u64::MAX`, a threshold of 0), panics or yields NaN or
//! infinity.

#[cfg(feature = "serde")]
use serde::Serialize;

use crate::bucket::BUCKETS;
use crate::model::{Compare, RollbackTrigger, ThresholdUnit};

/// Error rate of every interval: two-sided, and valid at every look.
pub const ALPHA: f64 = 0.05;
/// The sample size `N*` the confidence sequence is tightest around.
pub const TUNED_FOR: f64 = 10_000.0;
/// A sample-ratio p-value below this is a mismatch.
pub const SAMPLE_RATIO_ALPHA: f64 = 0.001;

/// The counts of one cohort since its stage last became live.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, serde::Deserialize))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Cohort {
    /// Occurrences of the trigger's `event`.
    pub events: u64,
    /// Occurrences of the trigger's `per` event (0 for a count).
    pub per: u64,
    /// Occurrences of `exposure`: units that evaluated the rollout.
    pub exposures: u64,
}

/// A trigger's state, in the order SPEC.md's rules name them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "camelCase"))]
pub enum TriggerState {
    /// A compared cohort is under `minSample` (or there is no control).
    NotEnoughData,
    /// Not above the threshold.
    Healthy,
    /// The estimate is above the threshold, its interval not yet wholly.
    Holding,
    /// The interval lies wholly above the threshold; a count exceeds it.
    Breached,
}

impl TriggerState {
    pub const ALL: &'static [TriggerState] = &[
        TriggerState::NotEnoughData,
        TriggerState::Healthy,
        TriggerState::Holding,
        TriggerState::Breached,
    ];
    pub const NAMES: &'static [&'static str] = &["notEnoughData", "healthy", "holding", "breached"];

    /// The state's name as the API writes it.
    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }
}

/// What a trigger watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "camelCase"))]
pub enum Measure {
    /// A rate, in the rollout minus the control's (`compare: control`).
    Difference,
    /// The in-rollout rate under a ceiling (`compare: ceiling`).
    Rate,
    /// The in-rollout count of an event (no `per`).
    Count,
}

/// An estimate and its confidence-sequence interval, as proportions.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(Serialize))]
pub struct Interval {
    pub estimate: f64,
    pub low: f64,
    pub high: f64,
}

/// A trigger judged on its cohorts' counts, with the figures behind the state.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "camelCase"))]
pub struct Verdict {
    /// The trigger's name.
    pub metric: String,
    pub measure: Measure,
    pub state: TriggerState,
    /// The difference or rate with its interval; `None` for a count, or while a
    /// compared cohort has no `per` events.
    pub interval: Option<Interval>,
    /// For a rate, a proportion (percent of the control's rate already applied;
    /// 0 while the control has no rate); for a count, a number of events.
    pub threshold: f64,
    /// `event / per` of each cohort, when it has `per` events (never for a count;
    /// never for the control at a stage of 100 %, which has none).
    pub rate_in: Option<f64>,
    pub rate_out: Option<f64>,
    /// `per` counts for a rate, exposures for a count.
    pub sample_in: u64,
    pub sample_out: u64,
    /// In-rollout `event` count.
    pub count: u64,
    /// The trigger's `minSample`.
    pub min_sample: u64,
}

/// The sample-ratio check of a stage's exposures.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "camelCase"))]
pub struct SampleRatio {
    pub chi_square: f64,
    pub p_value: f64,
    /// `p_value < 0.001`: reporting or bucketing is broken.
    pub mismatch: bool,
}

/// `ρ²` of the normal mixture, tuned for [`TUNED_FOR`] at [`ALPHA`].
fn rho_squared() -> f64 {
    let log_term = -2.0 * ALPHA.ln();
    (log_term + log_term.ln_1p()) / TUNED_FOR
}

/// Half width of the confidence sequence after `n` observations of variance
/// `variance` (SPEC.md's `half(N, σ²)`); `f64::MAX` when `n` is not positive.
pub fn half_width(n: f64, variance: f64) -> f64 {
    if n.is_nan() || n <= 0.0 {
        return f64::MAX;
    }
    let n = n.min(f64::MAX);
    let variance = if variance > 0.0 {
        variance.min(f64::MAX)
    } else {
        0.0 // also NaN
    };
    // SPEC.md's `2(Nρ² + 1) / (N²ρ²) · ln(sqrt(Nρ² + 1) / α)`, rearranged so that
    // no intermediate overflows for large N.
    let n_rho = n * rho_squared();
    let spread = 2.0 / n * (1.0 + 1.0 / n_rho) * (0.5 * n_rho.ln_1p() - ALPHA.ln());
    let half = (variance * spread).sqrt();
    if half.is_finite() { half } else { f64::MAX }
}

/// Judges `trigger` at a stage of `stage_basis_points` (0..=10,000) on the
/// counts of the in-rollout cohort (`inside`) and the control.
pub fn judge(
    trigger: &RollbackTrigger,
    stage_basis_points: u16,
    inside: &Cohort,
    control: &Cohort,
) -> Verdict {
    // Validation keeps the threshold finite and ≥ 0; an unreadable one never fires.
    let threshold = match trigger.threshold.as_f64() {
        Some(t) if !t.is_nan() => t.clamp(0.0, f64::MAX),
        _ => f64::MAX,
    };
    let needed = trigger.min_sample.max(1); // a cohort with no `per` events has no rate
    let mut verdict = Verdict {
        metric: trigger.metric.clone(),
        measure: Measure::Count,
        state: TriggerState::NotEnoughData,
        interval: None,
        threshold,
        rate_in: None,
        rate_out: None,
        sample_in: inside.exposures,
        sample_out: control.exposures,
        count: inside.events,
        min_sample: trigger.min_sample,
    };

    if trigger.per.is_none() {
        verdict.state = if inside.exposures < trigger.min_sample {
            TriggerState::NotEnoughData
        } else if inside.events as f64 > threshold {
            TriggerState::Breached
        } else {
            TriggerState::Healthy
        };
        return verdict;
    }

    verdict.sample_in = inside.per;
    verdict.rate_in = rate(inside);
    // `compare` is required on a rate; a document without it is read as the
    // common case, against control. `percent` means something only against control.
    if trigger.compare == Some(Compare::Ceiling) {
        verdict.measure = Measure::Rate;
        verdict.sample_out = control.per;
        verdict.rate_out = rate(control);
        verdict.threshold = threshold / 100.0;
        if let Some(p_in) = verdict.rate_in {
            let half = half_width(inside.per as f64, clipped_variance(p_in));
            verdict.interval = Some(around(p_in, half));
        }
        verdict.state = if inside.per < needed {
            TriggerState::NotEnoughData
        } else {
            state_of(verdict.interval, verdict.threshold)
        };
        return verdict;
    }

    verdict.measure = Measure::Difference;
    // At 100 % nobody is out of the rollout: whatever the control reports is noise.
    let has_control = u32::from(stage_basis_points) < BUCKETS;
    if has_control {
        verdict.sample_out = control.per;
        verdict.rate_out = rate(control);
    } else {
        verdict.sample_out = 0;
    }
    verdict.threshold = match (trigger.unit, verdict.rate_out) {
        (Some(ThresholdUnit::Percent), Some(p_out)) => (threshold / 100.0 * p_out).min(f64::MAX),
        (Some(ThresholdUnit::Percent), None) => 0.0,
        _ => threshold / 100.0,
    };
    if let (Some(p_in), Some(p_out)) = (verdict.rate_in, verdict.rate_out) {
        let (n_in, n_out) = (inside.per as f64, control.per as f64);
        let n = n_in + n_out;
        let variance = n * (clipped_variance(p_in) / n_in + clipped_variance(p_out) / n_out);
        verdict.interval = Some(around(p_in - p_out, half_width(n, variance)));
    }
    verdict.state = if !has_control || inside.per < needed || control.per < needed {
        TriggerState::NotEnoughData
    } else {
        state_of(verdict.interval, verdict.threshold)
    };
    verdict
}

/// `events / per`, when there are `per` events.
fn rate(cohort: &Cohort) -> Option<f64> {
    (cohort.per > 0).then(|| cohort.events as f64 / cohort.per as f64)
}

/// `p(1 − p)` with `p` clipped to 1, as SPEC.md says (events may exceed `per`).
fn clipped_variance(p: f64) -> f64 {
    let p = p.min(1.0);
    p * (1.0 - p)
}

fn around(estimate: f64, half: f64) -> Interval {
    Interval {
        estimate,
        low: (estimate - half).max(-f64::MAX),
        high: (estimate + half).min(f64::MAX),
    }
}

/// Rules 2–4 of a rate whose cohorts have enough data.
fn state_of(interval: Option<Interval>, threshold: f64) -> TriggerState {
    match interval {
        Some(interval) if interval.low > threshold => TriggerState::Breached,
        Some(interval) if interval.estimate > threshold => TriggerState::Holding,
        Some(_) => TriggerState::Healthy,
        None => TriggerState::NotEnoughData,
    }
}

/// The χ² test (one degree of freedom) of the cohorts' exposures against the
/// stage's split; `None` at 0 % or 100 %, or with no exposures.
pub fn sample_ratio(
    exposures_in: u64,
    exposures_out: u64,
    stage_basis_points: u16,
) -> Option<SampleRatio> {
    if stage_basis_points == 0 || u32::from(stage_basis_points) >= BUCKETS {
        return None;
    }
    let (e_in, e_out) = (exposures_in as f64, exposures_out as f64);
    let total = e_in + e_out;
    if total == 0.0 {
        return None;
    }
    let q = f64::from(stage_basis_points) / f64::from(BUCKETS);
    let (expected_in, expected_out) = (total * q, total * (1.0 - q));
    let chi_square =
        (e_in - expected_in).powi(2) / expected_in + (e_out - expected_out).powi(2) / expected_out;
    let p_value = erfc((chi_square / 2.0).sqrt());
    Some(SampleRatio {
        chi_square,
        p_value,
        mismatch: p_value < SAMPLE_RATIO_ALPHA,
    })
}

/// The complementary error function, to about 1e-15 relative: W. J. Cody's
/// rational Chebyshev approximations ("Rational Chebyshev approximations for
/// the error function", Math. Comp. 1969; his CALERF). NaN for NaN.
#[allow(clippy::excessive_precision)] // the coefficients as published
pub fn erfc(x: f64) -> f64 {
    const A: [f64; 5] = [
        3.161_123_743_870_565_6e0,
        1.138_641_541_510_501_56e2,
        3.774_852_376_853_020_21e2,
        3.209_377_589_138_469_47e3,
        1.857_777_061_846_031_53e-1,
    ];
    const B: [f64; 4] = [
        2.360_129_095_234_412_09e1,
        2.440_246_379_344_441_73e2,
        1.282_616_526_077_372_28e3,
        2.844_236_833_439_170_62e3,
    ];
    const C: [f64; 9] = [
        5.641_884_969_886_700_89e-1,
        8.883_149_794_388_375_94e0,
        6.611_919_063_714_162_95e1,
        2.986_351_381_974_001_31e2,
        8.819_522_212_417_690_90e2,
        1.712_047_612_634_070_58e3,
        2.051_078_377_826_071_47e3,
        1.230_339_354_797_997_25e3,
        2.153_115_354_744_038_46e-8,
    ];
    const D: [f64; 8] = [
        1.574_492_611_070_983_47e1,
        1.176_939_508_913_124_99e2,
        5.371_811_018_620_098_58e2,
        1.621_389_574_566_690_19e3,
        3.290_799_235_733_459_63e3,
        4.362_619_090_143_247_16e3,
        3.439_367_674_143_721_64e3,
        1.230_339_354_803_749_42e3,
    ];
    const P: [f64; 6] = [
        3.053_266_349_612_323_44e-1,
        3.603_448_999_498_044_39e-1,
        1.257_817_261_112_292_46e-1,
        1.608_378_514_874_227_66e-2,
        6.587_491_615_298_378_03e-4,
        1.631_538_713_730_209_78e-2,
    ];
    const Q: [f64; 5] = [
        2.568_520_192_289_822_42e0,
        1.872_952_849_923_460_47e0,
        5.279_051_029_514_284_12e-1,
        6.051_834_131_244_131_91e-2,
        2.335_204_976_268_691_85e-3,
    ];
    const ONE_OVER_SQRT_PI: f64 = 5.641_895_835_477_562_869_5e-1;
    // Above this erfc(x) underflows to 0 (Cody's XBIG for IEEE doubles).
    const BIG: f64 = 26.543;

    if x.is_nan() {
        return x;
    }
    let y = x.abs();
    if y <= 0.468_75 {
        // erf by a rational function of x²; near 0, 1 − erf loses nothing.
        let ysq = if y > 1.11e-16 { y * y } else { 0.0 };
        let mut num = A[4] * ysq;
        let mut den = ysq;
        for (a, b) in A[..3].iter().zip(&B[..3]) {
            num = (num + a) * ysq;
            den = (den + b) * ysq;
        }
        return 1.0 - x * (num + A[3]) / (den + B[3]);
    }
    let upper = if y <= 4.0 {
        let mut num = C[8] * y;
        let mut den = y;
        for (c, d) in C[..7].iter().zip(&D[..7]) {
            num = (num + c) * y;
            den = (den + d) * y;
        }
        scaled_by_gaussian(y, (num + C[7]) / (den + D[7]))
    } else if y >= BIG {
        0.0
    } else {
        let ysq = 1.0 / (y * y);
        let mut num = P[5] * ysq;
        let mut den = ysq;
        for (p, q) in P[..4].iter().zip(&Q[..4]) {
            num = (num + p) * ysq;
            den = (den + q) * ysq;
        }
        let r = ysq * (num + P[4]) / (den + Q[4]);
        scaled_by_gaussian(y, (ONE_OVER_SQRT_PI - r) / y)
    };
    if x < 0.0 { 2.0 - upper } else { upper }
}

/// `exp(−y²) · r`, with `y²` split so that its rounding error does not reach
/// the exponent (Cody's device: `y² = ysq² + (y − ysq)(y + ysq)`, `ysq` exact).
fn scaled_by_gaussian(y: f64, r: f64) -> f64 {
    let ysq = (y * 16.0).trunc() / 16.0;
    let del = (y - ysq) * (y + ysq);
    (-ysq * ysq).exp() * (-del).exp() * r
}

impl Verdict {
    /// One plain sentence with the figures, for audit entries and alerts
    /// (rates in percent and differences in points, to two decimals).
    pub fn explain(&self) -> String {
        let metric = &self.metric;
        let state = self.state.name();
        let needed = grouped(self.min_sample);
        match self.measure {
            Measure::Count => {
                let events = grouped(self.count);
                let exposures = grouped(self.sample_in);
                let threshold = trimmed(self.threshold);
                match self.state {
                    TriggerState::NotEnoughData => format!(
                        "{metric}: not enough data: {exposures} exposures in the rollout of \
                         the {needed} needed ({events} events)"
                    ),
                    TriggerState::Breached => format!(
                        "{metric}: {events} events in the rollout ({exposures} exposures), \
                         above the threshold of {threshold}: {state}"
                    ),
                    _ => format!(
                        "{metric}: {events} events in the rollout ({exposures} exposures), \
                         not above the threshold of {threshold}: {state}"
                    ),
                }
            }
            Measure::Rate => {
                let rate_in = self.rate_in.map_or("no rate".into(), percent);
                let n = grouped(self.sample_in);
                let ceiling = format!("{}%", trimmed(self.threshold * 100.0));
                let interval = self.interval.map_or(String::new(), |interval| {
                    format!(
                        ", interval {} to {}",
                        percent(interval.low),
                        percent(interval.high)
                    )
                });
                let relation = relation(self.state, &format!("the {ceiling} ceiling"));
                match self.state {
                    TriggerState::NotEnoughData => format!(
                        "{metric}: not enough data: {rate_in} in the rollout (n = {n} of the \
                         {needed} needed){interval}"
                    ),
                    _ => format!(
                        "{metric}: {rate_in} in the rollout (n = {n}){interval}, {relation}: \
                         {state}"
                    ),
                }
            }
            Measure::Difference => {
                let rate_in = self.rate_in.map_or("no rate".into(), percent);
                let rate_out = self.rate_out.map_or("no rate".into(), percent);
                let n = format!(
                    "n = {} / {}",
                    grouped(self.sample_in),
                    grouped(self.sample_out)
                );
                let figures = self.interval.map_or(String::new(), |interval| {
                    format!(
                        ": difference {} points, interval {} to {}",
                        signed(interval.estimate),
                        signed(interval.low),
                        signed(interval.high)
                    )
                });
                let threshold = format!("the {}-point threshold", trimmed(self.threshold * 100.0));
                match self.state {
                    TriggerState::NotEnoughData if self.sample_out == 0 => format!(
                        "{metric}: not enough data: nothing from the control to compare with \
                         ({rate_in} in the rollout, {n})"
                    ),
                    TriggerState::NotEnoughData => format!(
                        "{metric}: not enough data: {rate_in} in the rollout vs {rate_out} \
                         control ({n}, {needed} each needed){figures}"
                    ),
                    _ => format!(
                        "{metric}: {rate_in} in the rollout vs {rate_out} control ({n}){figures}, \
                         {}: {state}",
                        relation(self.state, &threshold)
                    ),
                }
            }
        }
    }
}

/// How an interval stands to `limit` in a given state.
fn relation(state: TriggerState, limit: &str) -> String {
    match state {
        TriggerState::Breached => format!("wholly above {limit}"),
        TriggerState::Holding => {
            format!("the estimate above {limit} but the interval not yet wholly")
        }
        _ => format!("not above {limit}"),
    }
}

/// A proportion as a percentage to two decimals: `0.051` → `5.10%`.
fn percent(proportion: f64) -> String {
    format!("{}%", hundredths(proportion * 100.0))
}

/// A proportion as signed percentage points: `0.0308` → `+3.08`.
fn signed(proportion: f64) -> String {
    let text = hundredths(proportion * 100.0);
    if text.starts_with('-') || text == "0.00" {
        text
    } else {
        format!("+{text}")
    }
}

/// `x` to two decimals, by integer arithmetic (float formatting costs the
/// console's WebAssembly bytes).
pub fn hundredths(x: f64) -> String {
    // `u64`, not `u128`: 128-bit division and formatting cost the console's wasm
    // 3 KB. Beyond ±1.8e17 it saturates; NaN reads 0.00.
    let scaled = (x * 100.0).round();
    let magnitude = scaled.abs() as u64;
    let sign = if scaled < 0.0 && magnitude > 0 {
        "-"
    } else {
        ""
    };
    format!("{sign}{}.{:02}", magnitude / 100, magnitude % 100)
}

/// `x` to at most two decimals, without trailing zeros: `2.00` → `2`.
fn trimmed(x: f64) -> String {
    let text = hundredths(x);
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".into()
    } else {
        text.into()
    }
}

/// A count with thousands separators: `36000` → `36,000`.
pub fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut text = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            text.push(',');
        }
        text.push(digit);
    }
    text
}
