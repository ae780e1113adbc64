//! Guardrail statistics (SPEC.md, "Guardrails → Statistics"): the intervals
//! against numbers computed independently, erfc and the sample-ratio p-value
//! against statrs, each trigger state at its boundary, odd inputs that must not
//! panic or yield NaN, and simulated stages for the false-alarm rate and the
//! sessions a real regression needs.

use evaluator::json::Number;
use evaluator::model::{Compare, RollbackTrigger, ThresholdUnit, TriggerAction};
use evaluator::stats::{
    Cohort, Measure, TriggerState, Verdict, erfc, half_width, judge, sample_ratio,
};
use proptest::prelude::*;
use statrs::distribution::{ChiSquared, ContinuousCDF};

const QUARTER: u16 = 2_500;

fn rate_trigger(
    compare: Compare,
    threshold: f64,
    unit: ThresholdUnit,
    min_sample: u64,
) -> RollbackTrigger {
    RollbackTrigger {
        metric: "crashRate".into(),
        event: "crash".into(),
        per: Some("session".into()),
        compare: Some(compare),
        threshold: Number::from_f64(threshold).unwrap(),
        unit: Some(unit),
        min_sample,
        action: TriggerAction::Rollback,
        description: None,
    }
}

fn control(threshold: f64, min_sample: u64) -> RollbackTrigger {
    rate_trigger(
        Compare::Control,
        threshold,
        ThresholdUnit::Points,
        min_sample,
    )
}

fn ceiling(threshold: f64, min_sample: u64) -> RollbackTrigger {
    let mut trigger = rate_trigger(
        Compare::Ceiling,
        threshold,
        ThresholdUnit::Points,
        min_sample,
    );
    trigger.metric = "syncFailure".into();
    trigger
}

fn count(threshold: f64, min_sample: u64) -> RollbackTrigger {
    RollbackTrigger {
        metric: "dataCorruption".into(),
        event: "dataCorruption".into(),
        per: None,
        compare: None,
        threshold: Number::from_f64(threshold).unwrap(),
        unit: None,
        min_sample,
        action: TriggerAction::Rollback,
        description: None,
    }
}

/// A cohort of `per` sessions with `events` crashes (one exposure a session).
fn sessions(events: u64, per: u64) -> Cohort {
    Cohort {
        events,
        per,
        exposures: per,
    }
}

fn assert_close(actual: f64, expected: f64, relative: f64, what: &str) {
    let error = ((actual - expected) / expected).abs();
    assert!(
        error <= relative,
        "{what}: {actual:e}, expected {expected:e} (relative error {error:e})"
    );
}

// Reference numbers from python3's `math` module, with SPEC.md's formula as written:
//   a = 0.05; r2 = (-2*math.log(a) + math.log(-2*math.log(a) + 1)) / 10000
//   half = lambda N, s2: math.sqrt(s2 * 2*(N*r2 + 1) / (N**2 * r2) * math.log(math.sqrt(N*r2 + 1) / a))
#[test]
fn the_half_width_is_specs_normal_mixture_boundary() {
    // half(10000, 0.25), half(1, 1.0), half(1e6, 0.0196)
    assert_close(
        half_width(10_000.0, 0.25),
        0.015176044951881266,
        1e-13,
        "N = 10,000",
    );
    assert_close(half_width(1.0, 1.0), 86.9285528427718, 1e-13, "N = 1");
    assert_close(
        half_width(1e6, 0.0196),
        0.000498629745728646,
        1e-13,
        "N = 1e6",
    );
    // Narrower with more data, and zero without variance.
    assert!(half_width(40_000.0, 0.25) < half_width(10_000.0, 0.25));
    assert_eq!(half_width(10_000.0, 0.0), 0.0);
    // No observations: no interval to speak of, but still a finite number.
    assert_eq!(half_width(0.0, 0.25), f64::MAX);
}

#[test]
fn the_control_interval_is_the_difference_of_rates_with_the_pooled_n() {
    // pi, po = 204/4000, 727/36000; N = 40000
    // s2 = N*(pi*(1-pi)/4000 + po*(1-po)/36000); d = pi - po; h = half(N, s2)
    // print(d, d - h, d + h)
    let verdict = judge(
        &control(2.0, 1_000),
        QUARTER,
        &sessions(204, 4_000),
        &sessions(727, 36_000),
    );
    let interval = verdict.interval.unwrap();
    assert_close(interval.estimate, 0.03080555555555555, 1e-13, "difference");
    assert_close(interval.low, 0.019683672374128387, 1e-12, "low");
    assert_close(interval.high, 0.041927438736982715, 1e-12, "high");
    assert_eq!(verdict.measure, Measure::Difference);
    assert_eq!(verdict.threshold, 0.02);
    assert_eq!(
        (verdict.rate_in, verdict.rate_out),
        (Some(204.0 / 4_000.0), Some(727.0 / 36_000.0))
    );
    assert_eq!(
        (verdict.sample_in, verdict.sample_out, verdict.count),
        (4_000, 36_000, 204)
    );
    // +3.08 points is above 2, but the interval still reaches down to +1.97.
    assert_eq!(verdict.state, TriggerState::Holding);
    assert_eq!(
        verdict.explain(),
        "crashRate: 5.10% in the rollout vs 2.02% control (n = 4,000 / 36,000): difference \
         +3.08 points, interval +1.97 to +4.19, the estimate above the 2-point threshold but \
         the interval not yet wholly: holding"
    );

    // In percent, the threshold is relative to the control's rate: 50 % of
    // 2.02 % is 1.01 points, which the whole interval is above.
    let relative = rate_trigger(Compare::Control, 50.0, ThresholdUnit::Percent, 1_000);
    let verdict = judge(
        &relative,
        QUARTER,
        &sessions(204, 4_000),
        &sessions(727, 36_000),
    );
    assert_close(
        verdict.threshold,
        0.5 * 727.0 / 36_000.0,
        1e-15,
        "relative threshold",
    );
    assert_eq!(verdict.state, TriggerState::Breached);
    assert_eq!(
        verdict.explain(),
        "crashRate: 5.10% in the rollout vs 2.02% control (n = 4,000 / 36,000): difference \
         +3.08 points, interval +1.97 to +4.19, wholly above the 1.01-point threshold: breached"
    );
}

#[test]
fn the_ceiling_interval_is_the_rollouts_rate_alone() {
    // p = 60/4000; h = half(4000, p*(1-p)); print(p, p - h, p + h)
    let (low, high) = (0.008996368012908634, 0.021003631987091365);
    // The control does not count: it may have no data at all.
    let verdict = judge(
        &ceiling(0.8, 1_000),
        QUARTER,
        &sessions(60, 4_000),
        &Cohort::default(),
    );
    let interval = verdict.interval.unwrap();
    assert_eq!(interval.estimate, 0.015);
    assert_close(interval.low, low, 1e-12, "low");
    assert_close(interval.high, high, 1e-12, "high");
    assert_eq!(verdict.measure, Measure::Rate);
    assert_eq!(verdict.state, TriggerState::Breached, "0.90 % > 0.8 %");
    assert_eq!(
        verdict.explain(),
        "syncFailure: 1.50% in the rollout (n = 4,000), interval 0.90% to 2.10%, wholly above \
         the 0.8% ceiling: breached"
    );
    let holding = judge(
        &ceiling(1.0, 1_000),
        QUARTER,
        &sessions(60, 4_000),
        &Cohort::default(),
    );
    assert_eq!(holding.state, TriggerState::Holding, "0.90 % ≤ 1 % < 1.5 %");
    let healthy = judge(
        &ceiling(2.0, 1_000),
        QUARTER,
        &sessions(60, 4_000),
        &Cohort::default(),
    );
    assert_eq!(healthy.state, TriggerState::Healthy);
    assert_eq!(
        healthy.explain(),
        "syncFailure: 1.50% in the rollout (n = 4,000), interval 0.90% to 2.10%, not above the \
         2% ceiling: healthy"
    );
}

#[test]
fn erfc_agrees_with_statrs_and_libm() {
    // statrs over the whole range where erfc is a normal double. Its own erfc
    // is off by up to ~1e-10 relative (erfc(1): 0.15729920705728503, where the
    // C library has 0.15729920705028513), so the tight check is the table below.
    let (mut x, mut worst) = (-6.0, 0.0f64);
    while x < 27.5 {
        let ours = erfc(x);
        let theirs = statrs::function::erf::erfc(x);
        if theirs > 1e-300 {
            assert_close(ours, theirs, 2e-10, &format!("erfc({x})"));
            worst = worst.max(((ours - theirs) / theirs).abs());
        } else {
            assert!(ours < 1e-300, "erfc({x}) = {ours:e}, expected 0");
        }
        x += 0.001_7;
    }
    println!("erfc: largest relative difference from statrs {worst:e}");
    // The C library's erfc: python3 -c 'import math; print(math.erfc(x))'
    let libm = [
        (-3.0, 1.9999779095030015),
        (-2.5898000000004524, 1.9997502637820828),
        (-1.0, 1.842700792949715),
        (-0.5, 1.5204998778130465),
        (-0.3, 1.3286267594591274),
        (0.1, 0.8875370839817152),
        (0.46875, 0.507386526782062),
        (0.5, 0.4795001221869535),
        (1.0, 0.15729920705028513),
        (1.5, 0.033894853524689274),
        (2.0, 0.004677734981047265),
        (2.3, 0.0011431765973566523),
        (3.0, 2.2090496998585438e-05),
        (3.9, 3.479224859723177e-08),
        (4.0, 1.541725790028002e-08),
        (4.5, 1.9661604415428873e-10),
        (6.0, 2.1519736712498916e-17),
        (10.0, 2.088487583762545e-45),
        (20.0, 5.3958656116079005e-176),
        (26.0, 5.663192408856143e-296),
        // Either side of the three approximations' boundaries, and the last normals.
        (0.46874, 0.5073955847558886),
        (0.46876, 0.5073774688931535),
        (3.99999, 1.5418527774541468e-08),
        (4.00001, 1.5415988127604508e-08),
        (26.5, 2.2109076642637343e-307),
        (26.54, 2.645558174468511e-308),
    ];
    for (x, expected) in libm {
        assert_close(erfc(x), expected, 2e-15, &format!("erfc({x})"));
    }
    assert_eq!(erfc(0.0), 1.0);
    assert_eq!(erfc(30.0), 0.0);
    assert_eq!(erfc(f64::INFINITY), 0.0);
    assert_eq!(erfc(f64::NEG_INFINITY), 2.0);
    assert!(erfc(f64::NAN).is_nan());
}

#[test]
fn the_sample_ratio_p_value_is_the_chi_square_tail_with_one_degree_of_freedom() {
    let chi_square_1 = ChiSquared::new(1.0).unwrap();
    // At a 25 % stage, `e_in` in-rollout exposures of `total`: χ² goes from 0 to
    // far past the mismatch line as `e_in` drifts from 25,000 of 100,000.
    for e_in in (25_000..27_500).step_by(7) {
        let ratio = sample_ratio(e_in, 100_000 - e_in, QUARTER).unwrap();
        let expected = chi_square_1.sf(ratio.chi_square);
        assert_close(
            ratio.p_value,
            expected,
            1e-11,
            &format!("p at χ² = {}", ratio.chi_square),
        );
        assert_eq!(ratio.mismatch, ratio.p_value < 0.001);
    }
    // By hand: 10,000 vs 10,500 at 50 %: E = 20,500, each expects 10,250;
    // χ² = 2 · 250² / 10,250 = 12.195…, z = 250 / sqrt(20,500 / 4) = 3.492, and
    // p = 2(1 − Φ(3.492)) ≈ 0.00048: a mismatch.
    let ratio = sample_ratio(10_000, 10_500, 5_000).unwrap();
    assert_close(
        ratio.chi_square,
        2.0 * 250.0 * 250.0 / 10_250.0,
        1e-15,
        "χ²",
    );
    // python3 -c 'import math; print(math.erfc(math.sqrt(2 * 250**2 / 10250 / 2)))'
    assert_close(ratio.p_value, 0.00047914643458729997, 1e-14, "p");
    assert!(ratio.mismatch);
    // A split as asked, and one just inside the line: p ≥ 0.001.
    let even = sample_ratio(10_000, 10_000, 5_000).unwrap();
    assert_eq!(
        (even.chi_square, even.p_value, even.mismatch),
        (0.0, 1.0, false)
    );
    assert!(!sample_ratio(10_000, 10_400, 5_000).unwrap().mismatch); // χ² = 7.8, p = 0.005
    // No split to check at 0 % or 100 %, nor without exposures.
    assert_eq!(sample_ratio(10, 0, 0), None);
    assert_eq!(sample_ratio(10, 0, 10_000), None);
    assert_eq!(sample_ratio(0, 0, QUARTER), None);
}

#[test]
fn below_min_sample_is_not_enough_data_never_healthy_or_breached() {
    let trigger = control(0.0, 1_000);
    // A regression plain to see, but the rollout has 999 sessions.
    let verdict = judge(&trigger, QUARTER, &sessions(500, 999), &sessions(0, 30_000));
    assert_eq!(verdict.state, TriggerState::NotEnoughData);
    assert!(verdict.interval.is_some(), "the figures are still shown");
    assert_eq!(
        verdict.explain(),
        "crashRate: not enough data: 50.05% in the rollout vs 0.00% control (n = 999 / 30,000, \
         1,000 each needed): difference +50.05 points, interval +45.15 to +54.95"
    );
    let verdict = judge(
        &trigger,
        QUARTER,
        &sessions(500, 1_000),
        &sessions(0, 30_000),
    );
    assert_eq!(verdict.state, TriggerState::Breached);
    // Nothing wrong at all, but the control is one session short.
    let verdict = judge(&trigger, QUARTER, &sessions(0, 30_000), &sessions(0, 999));
    assert_eq!(verdict.state, TriggerState::NotEnoughData);
    // With minSample 0, a cohort with no sessions still has no rate.
    let verdict = judge(
        &control(2.0, 0),
        QUARTER,
        &sessions(0, 0),
        &sessions(10, 1_000),
    );
    assert_eq!(
        (verdict.state, verdict.interval),
        (TriggerState::NotEnoughData, None)
    );
    let verdict = judge(
        &ceiling(2.0, 0),
        QUARTER,
        &sessions(0, 0),
        &Cohort::default(),
    );
    assert_eq!(
        (verdict.state, verdict.interval),
        (TriggerState::NotEnoughData, None)
    );
}

#[test]
fn a_control_comparison_at_a_stage_of_100_percent_never_has_enough_data() {
    // Stray reports for the control at 100 % are ignored.
    let verdict = judge(
        &control(0.0, 0),
        10_000,
        &sessions(5_000, 100_000),
        &sessions(10, 100_000),
    );
    assert_eq!(verdict.state, TriggerState::NotEnoughData);
    assert_eq!(
        (verdict.rate_out, verdict.sample_out, verdict.interval),
        (None, 0, None)
    );
    assert_eq!(
        verdict.explain(),
        "crashRate: not enough data: nothing from the control to compare with (5.00% in the \
         rollout, n = 100,000 / 0)"
    );
    // A ceiling needs no control.
    let verdict = judge(
        &ceiling(1.0, 0),
        10_000,
        &sessions(5_000, 100_000),
        &Cohort::default(),
    );
    assert_eq!(verdict.state, TriggerState::Breached);
}

#[test]
fn a_rate_holds_while_its_estimate_is_above_and_breaches_once_its_interval_is() {
    // 5 % vs 2 %, threshold 2 points: as sessions accrue the state goes from
    // not enough data through holding to breached, and never back.
    let trigger = control(2.0, 1_000);
    let mut seen = Vec::new();
    for per_in in (500..=40_000).step_by(500) {
        let verdict = judge(
            &trigger,
            QUARTER,
            &sessions(per_in / 20, per_in),
            &sessions(per_in * 3 / 50, per_in * 3),
        );
        let interval = verdict.interval.unwrap();
        let expected = if per_in < 1_000 {
            TriggerState::NotEnoughData
        } else if interval.low > 0.02 {
            TriggerState::Breached
        } else {
            assert!(interval.estimate > 0.02);
            TriggerState::Holding
        };
        assert_eq!(verdict.state, expected, "{}", verdict.explain());
        if seen.last() != Some(&verdict.state) {
            seen.push(verdict.state);
        }
    }
    assert_eq!(
        seen,
        [
            TriggerState::NotEnoughData,
            TriggerState::Holding,
            TriggerState::Breached
        ]
    );

    // An estimate exactly at the threshold is not above it.
    let at = judge(
        &ceiling(2.0, 0),
        QUARTER,
        &sessions(20, 1_000),
        &Cohort::default(),
    );
    assert_eq!(at.state, TriggerState::Healthy);
    let above = judge(
        &ceiling(2.0, 0),
        QUARTER,
        &sessions(21, 1_000),
        &Cohort::default(),
    );
    assert_eq!(above.state, TriggerState::Holding);
    // Better than the control is healthy, even with a threshold of 0.
    let better = judge(
        &control(0.0, 0),
        QUARTER,
        &sessions(0, 10_000),
        &sessions(600, 30_000),
    );
    assert_eq!(better.state, TriggerState::Healthy);
    assert_eq!(
        better.explain(),
        "crashRate: 0.00% in the rollout vs 2.00% control (n = 10,000 / 30,000): difference \
         -2.00 points, interval -2.25 to -1.75, not above the 0-point threshold: healthy"
    );
}

#[test]
fn a_count_breaches_on_the_first_event_over_its_threshold() {
    let none = judge(&count(0.0, 0), QUARTER, &sessions(0, 0), &Cohort::default());
    assert_eq!(
        (none.state, none.measure),
        (TriggerState::Healthy, Measure::Count)
    );
    let one = judge(&count(0.0, 0), QUARTER, &sessions(1, 0), &Cohort::default());
    assert_eq!(one.state, TriggerState::Breached);
    let two = judge(
        &count(2.0, 100),
        QUARTER,
        &sessions(2, 100),
        &Cohort::default(),
    );
    assert_eq!(two.state, TriggerState::Healthy);
    let three = judge(
        &count(2.0, 100),
        QUARTER,
        &sessions(3, 100),
        &Cohort::default(),
    );
    assert_eq!(three.state, TriggerState::Breached);
    assert_eq!(
        (
            three.count,
            three.sample_in,
            three.threshold,
            three.interval
        ),
        (3, 100, 2.0, None)
    );
    assert_eq!(
        three.explain(),
        "dataCorruption: 3 events in the rollout (100 exposures), above the threshold of 2: breached"
    );
    // minSample counts the rollout's exposures; under it, even events wait.
    let early = judge(
        &count(2.0, 100),
        QUARTER,
        &sessions(3, 99),
        &Cohort::default(),
    );
    assert_eq!(early.state, TriggerState::NotEnoughData);
    assert_eq!(
        early.explain(),
        "dataCorruption: not enough data: 99 exposures in the rollout of the 100 needed (3 events)"
    );
}

#[test]
fn states_are_named_as_the_api_writes_them() {
    let names: Vec<_> = TriggerState::ALL.iter().map(|state| state.name()).collect();
    assert_eq!(names, ["notEnoughData", "healthy", "holding", "breached"]);
}

fn all_finite(verdict: &Verdict) -> bool {
    let interval = verdict
        .interval
        .map_or(vec![], |i| vec![i.estimate, i.low, i.high]);
    interval
        .into_iter()
        .chain([verdict.threshold])
        .chain(verdict.rate_in)
        .chain(verdict.rate_out)
        .all(f64::is_finite)
}

fn any_count() -> impl Strategy<Value = u64> {
    prop_oneof![0..3u64, 0..2_000u64, any::<u64>(), Just(u64::MAX)]
}

fn any_cohort() -> impl Strategy<Value = Cohort> {
    (any_count(), any_count(), any_count()).prop_map(|(events, per, exposures)| Cohort {
        events,
        per,
        exposures,
    })
}

fn any_trigger() -> impl Strategy<Value = RollbackTrigger> {
    let threshold = prop_oneof![
        Just("0".to_string()),
        (0.0..100.0f64).prop_map(|t| t.to_string()),
        Just("1e308".to_string()),
        Just("1e-300".to_string()),
        Just("-5".to_string()),
        Just("1e999".to_string()),
    ];
    let compare = prop::option::of(prop::sample::select(Compare::ALL));
    let unit = prop::option::of(prop::sample::select(ThresholdUnit::ALL));
    (any::<bool>(), compare, threshold, unit, any_count()).prop_map(
        |(rate, compare, threshold, unit, min_sample)| RollbackTrigger {
            metric: "m".into(),
            event: "e".into(),
            per: rate.then(|| "p".into()),
            compare,
            threshold: Number::from_text(&threshold).unwrap(),
            unit,
            min_sample,
            action: TriggerAction::Hold,
            description: None,
        },
    )
}

proptest! {
    #[test]
    fn no_counts_panic_or_yield_nan_or_infinity(
        trigger in any_trigger(),
        stage in prop_oneof![Just(0u16), Just(10_000u16), any::<u16>()],
        inside in any_cohort(),
        control in any_cohort(),
    ) {
        let verdict = judge(&trigger, stage, &inside, &control);
        prop_assert!(all_finite(&verdict), "{verdict:?}");
        prop_assert!(!verdict.explain().is_empty());
        if verdict.sample_in < trigger.min_sample {
            prop_assert_eq!(verdict.state, TriggerState::NotEnoughData);
        }
        if let Some(interval) = verdict.interval {
            prop_assert!(interval.low <= interval.estimate && interval.estimate <= interval.high);
        }
        if let Some(ratio) = sample_ratio(inside.exposures, control.exposures, stage) {
            prop_assert!(ratio.chi_square.is_finite() && ratio.chi_square >= 0.0, "{ratio:?}");
            prop_assert!((0.0..=1.0).contains(&ratio.p_value), "{ratio:?}");
        }
    }

    #[test]
    fn the_half_width_is_finite_and_not_negative_for_any_input(n in any::<f64>(), variance in any::<f64>()) {
        let half = half_width(n, variance);
        prop_assert!(half.is_finite() && half >= 0.0, "half_width({n}, {variance}) = {half}");
    }
}

/// splitmix64 (Steele, Lea & Flood 2014): a small, well-mixed, seeded generator.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// Runs one stage at 25 % in batches of 500 sessions, judging after each, until
/// the trigger breaches (the sessions it took) or `max_sessions` have passed.
fn sessions_to_breach(
    random: &mut SplitMix64,
    trigger: &RollbackTrigger,
    rate_in: f64,
    rate_out: f64,
    max_sessions: u64,
) -> Option<u64> {
    // One draw a session: its low 2 bits put it in the rollout 1 time in 4, its
    // other 62 bits decide a crash.
    let crash_below = |rate: f64| (rate * (1u64 << 62) as f64) as u64;
    let (crash_in, crash_out) = (crash_below(rate_in), crash_below(rate_out));
    let (mut inside, mut control) = (Cohort::default(), Cohort::default());
    let mut total = 0;
    while total < max_sessions {
        for _ in 0..500 {
            let draw = random.next();
            let (cohort, crash) = if draw & 3 == 0 {
                (&mut inside, crash_in)
            } else {
                (&mut control, crash_out)
            };
            cohort.per += 1;
            cohort.events += u64::from(draw >> 2 < crash);
        }
        total += 500;
        if judge(trigger, QUARTER, &inside, &control).state == TriggerState::Breached {
            return Some(total);
        }
    }
    None
}

#[test]
fn simulated_stages_keep_false_alarms_under_alpha_and_catch_a_real_regression() {
    const STAGES: usize = 1_000;
    let mut random = SplitMix64(0x5eed_5a6e_ca7e);

    // No true difference (2 % in both cohorts), threshold 0 points.
    let null = control(0.0, 1_000);
    let false_alarms = (0..STAGES)
        .filter(|_| sessions_to_breach(&mut random, &null, 0.02, 0.02, 40_000).is_some())
        .count();
    let false_alarm_rate = false_alarms as f64 / STAGES as f64;
    println!(
        "false alarms: {false_alarms} of {STAGES} stages ({:.1} %), watched every 500 sessions to 40,000",
        100.0 * false_alarm_rate
    );
    assert!(
        false_alarm_rate <= 0.05,
        "false-alarm rate {false_alarm_rate} above α = 0.05"
    );

    // A true +3 points (5 % vs 2 %), threshold 2 points.
    let regression = control(2.0, 1_000);
    let mut needed: Vec<u64> = (0..STAGES)
        .filter_map(|_| sessions_to_breach(&mut random, &regression, 0.05, 0.02, 100_000))
        .collect();
    needed.sort_unstable();
    let caught = needed.len();
    let by_40k = needed.iter().filter(|&&n| n <= 40_000).count();
    let median = needed[caught / 2];
    let p95 = needed[caught * 95 / 100];
    println!(
        "+3 points caught in {caught} of {STAGES} stages within 100,000 sessions ({by_40k} within 40,000); sessions needed: median {median}, 95th percentile {p95}"
    );
    assert!(
        caught * 100 >= STAGES * 99,
        "only {caught} of {STAGES} stages breached"
    );
}
