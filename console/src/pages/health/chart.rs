//! A rate trigger's chart: the cumulative rates per minute in the rollout and in
//! the control, the interval band, and the threshold line, as SVG path data.
//! Each point is judged by `evaluator::stats::judge` on the counts up to that
//! minute, so the band and threshold are those the trigger's state comes from.
//!
//! One axis for both kinds of rate trigger: against control the band is where
//! the in-rollout rate may lie (the control's rate plus the interval of the
//! difference) and the threshold line is the control's rate plus the threshold;
//! under a ceiling both are the in-rollout rate's own. Either way the trigger
//! breaches when the band lies wholly above the line.

use evaluator::model::RollbackTrigger;
use evaluator::stats::{self, Cohort, Measure};

/// The plot area inside the 600 × 200 view box.
const LEFT: f64 = 52.0;
const RIGHT: f64 = 592.0;
const TOP: f64 = 8.0;
const BOTTOM: f64 = 172.0;

/// The figures at the end of one minute, counts cumulated from the start.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point {
    /// Minutes since the Unix epoch.
    pub minute: u64,
    pub rate_in: f64,
    pub rate_out: Option<f64>,
    /// The band: where the in-rollout rate may lie.
    pub low: f64,
    pub high: f64,
    /// The line the band must lie wholly above for a breach.
    pub threshold: f64,
}

/// The chart's points from the report's rows `[minute, event in, per in, event
/// out, per out]` (oldest first); none for a count, or while a compared cohort
/// has no rate.
pub fn points(trigger: &RollbackTrigger, basis_points: u16, minutes: &[[u64; 5]]) -> Vec<Point> {
    let (mut inside, mut control) = (Cohort::default(), Cohort::default());
    let mut points = Vec::new();
    for row in minutes {
        inside.events = inside.events.saturating_add(row[1]);
        inside.per = inside.per.saturating_add(row[2]);
        control.events = control.events.saturating_add(row[3]);
        control.per = control.per.saturating_add(row[4]);
        let verdict = stats::judge(trigger, basis_points, &inside, &control);
        let (Some(rate_in), Some(interval)) = (verdict.rate_in, verdict.interval) else {
            continue;
        };
        // Against control the figures are differences: moved onto the rate axis.
        let base = match verdict.measure {
            Measure::Difference => verdict.rate_out.unwrap_or(0.0),
            Measure::Rate => 0.0,
            Measure::Count => continue,
        };
        points.push(Point {
            minute: row[0],
            rate_in,
            rate_out: verdict.rate_out,
            low: base + interval.low,
            high: base + interval.high,
            threshold: base + verdict.threshold,
        });
    }
    points
}

/// What the SVG draws: path data in view-box units, and the axes' labels.
#[derive(Debug, PartialEq)]
pub struct Drawing {
    pub band: String,
    pub rate_in: String,
    pub rate_out: String,
    pub threshold: String,
    /// The top of the rate axis, in whole percent.
    pub top_percent: u32,
    /// The first and last minutes, as HH:MM (UTC).
    pub from: String,
    pub to: String,
}

/// The drawing of `points`; `None` when there are none.
pub fn draw(points: &[Point]) -> Option<Drawing> {
    let first = points.first()?;
    let last = points.last()?;
    // The axis reaches a quarter above the highest rate or threshold (not the
    // band, which is wide at first and would flatten everything else).
    let highest = points
        .iter()
        .map(|p| p.rate_in.max(p.rate_out.unwrap_or(0.0)).max(p.threshold))
        .fold(0.0, f64::max);
    let top_percent = ((highest * 125.0).ceil() as u32).max(1);
    let top = f64::from(top_percent) / 100.0;
    let span = last.minute.saturating_sub(first.minute) as f64;
    // One minute alone is drawn across the whole width.
    let xs: Vec<f64> = if points.len() == 1 {
        vec![LEFT, RIGHT]
    } else {
        points
            .iter()
            .map(|p| {
                LEFT + (p.minute.saturating_sub(first.minute) as f64 / span.max(1.0))
                    * (RIGHT - LEFT)
            })
            .collect()
    };
    let at = |i: usize| &points[i.min(points.len() - 1)];
    // Not `clamp`: its assertion formats floats, which costs the wasm a float formatter.
    #[allow(clippy::manual_clamp)] // `clamp` asserts with float formatting: wasm bytes
    let y = |v: f64| BOTTOM - (v.max(0.0).min(top) / top) * (BOTTOM - TOP);
    let line = |value: &dyn Fn(&Point) -> Option<f64>| {
        let mut d = String::new();
        for (i, x) in xs.iter().enumerate() {
            if let Some(v) = value(at(i)) {
                let command = if d.is_empty() { 'M' } else { 'L' };
                d.push_str(&format!("{command}{} {}", *x as i32, y(v) as i32));
            }
        }
        d
    };
    let mut band = line(&|p| Some(p.high));
    for (i, x) in xs.iter().enumerate().rev() {
        band.push_str(&format!("L{} {}", *x as i32, y(at(i).low) as i32));
    }
    band.push('Z');
    Some(Drawing {
        band,
        rate_in: line(&|p| Some(p.rate_in)),
        rate_out: line(&|p| p.rate_out),
        threshold: line(&|p| Some(p.threshold)),
        top_percent,
        from: clock(first.minute),
        to: clock(last.minute),
    })
}

/// A minute since the epoch as HH:MM, UTC.
fn clock(minute: u64) -> String {
    format!("{:02}:{:02}", minute / 60 % 24, minute % 60)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test
mod tests {
    use super::*;
    use evaluator::model::{Compare, ThresholdUnit, TriggerAction};

    fn trigger(compare: Compare) -> RollbackTrigger {
        RollbackTrigger {
            metric: "crashRate".into(),
            event: "crash".into(),
            per: Some("session".into()),
            compare: Some(compare),
            threshold: evaluator::json::Number::from(2u32),
            unit: Some(ThresholdUnit::Points),
            min_sample: 1000,
            action: TriggerAction::Rollback,
            description: None,
        }
    }

    #[test]
    fn each_point_is_the_verdict_on_the_counts_so_far() {
        let trigger = trigger(Compare::Control);
        let minutes = [[100, 10, 1000, 5, 1000], [101, 90, 1000, 15, 1000]];
        let points = points(&trigger, 2500, &minutes);
        assert_eq!(points.len(), 2);
        // After the second minute: 100 of 2,000 in, 20 of 2,000 out.
        let last = points[1];
        assert_eq!(last.minute, 101);
        assert!((last.rate_in - 0.05).abs() < 1e-12);
        assert!((last.rate_out.unwrap() - 0.01).abs() < 1e-12);
        assert!((last.threshold - 0.03).abs() < 1e-12, "control + 2 points");
        let verdict = stats::judge(
            &trigger,
            2500,
            &Cohort {
                events: 100,
                per: 2000,
                exposures: 0,
            },
            &Cohort {
                events: 20,
                per: 2000,
                exposures: 0,
            },
        );
        let interval = verdict.interval.unwrap();
        assert!((last.low - (0.01 + interval.low)).abs() < 1e-12);
        assert!((last.high - (0.01 + interval.high)).abs() < 1e-12);
        assert!(last.low <= last.rate_in && last.rate_in <= last.high);
        // Breached exactly when the band lies wholly above the line.
        assert_eq!(
            verdict.state == stats::TriggerState::Breached,
            last.low > last.threshold
        );
    }

    #[test]
    fn a_ceiling_keeps_its_own_line_and_no_control_draws_nothing_against_it() {
        let points_ceiling = points(&trigger(Compare::Ceiling), 2500, &[[7, 3, 100, 0, 0]]);
        assert_eq!(points_ceiling.len(), 1);
        assert!((points_ceiling[0].threshold - 0.02).abs() < 1e-12);
        assert_eq!(points_ceiling[0].rate_out, None);
        // Against control with nothing from the control yet: no point.
        assert!(points(&trigger(Compare::Control), 2500, &[[7, 3, 100, 0, 0]]).is_empty());
        // At 100 % there is no control at all.
        assert!(points(&trigger(Compare::Control), 10_000, &[[7, 3, 100, 1, 100]]).is_empty());
    }

    #[test]
    fn the_drawing_spans_the_plot_and_labels_its_axes() {
        assert_eq!(draw(&[]), None);
        let point = |minute, rate_in| Point {
            minute,
            rate_in,
            rate_out: Some(0.02),
            low: rate_in - 0.01,
            high: rate_in + 0.5,
            threshold: 0.04,
        };
        // 00:00 and 00:10 UTC on 2024-10-04 (day 20,000); the highest figure is 8 %: the axis reaches 10 %.
        let drawing = draw(&[point(20_000 * 1440, 0.01), point(20_000 * 1440 + 10, 0.08)]).unwrap();
        assert_eq!(drawing.top_percent, 10);
        assert_eq!(
            (drawing.from.as_str(), drawing.to.as_str()),
            ("00:00", "00:10")
        );
        assert!(
            drawing.rate_in.starts_with("M52 155L592 40"),
            "{}",
            drawing.rate_in
        );
        assert_eq!(drawing.rate_out, "M52 139L592 139");
        // The band is clipped to the plot and closed.
        assert!(
            drawing.band.starts_with("M52 8L592 8L592 "),
            "{}",
            drawing.band
        );
        assert!(drawing.band.ends_with('Z'));
        // One minute alone spans the width.
        let one = draw(&[point(5, 0.01)]).unwrap();
        assert_eq!(one.threshold, "M52 40L592 40");
        assert_eq!(one.top_percent, 5);
        assert_eq!((one.from.as_str(), one.to.as_str()), ("00:05", "00:05"));
    }
}
