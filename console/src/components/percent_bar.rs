use leptos::prelude::*;

/// A share as a bar, in basis points (10,000 is 100 %); `off` greys it out (kill
/// switch on). Integers all the way: no float formatting code in the console.
#[component]
pub fn PercentBar(points: u32, #[prop(optional)] off: bool) -> impl IntoView {
    let percentage = percent(points.min(10_000));
    // A CSSOM property, not a `style` attribute: the Content-Security-Policy
    // refuses inline style attributes.
    let width = format!("{percentage}%");
    let label = if off {
        format!("{percentage}% (kill switch on: 0% effective)")
    } else {
        format!("{percentage}%")
    };
    let aria_label = label.clone();
    view! {
        <div class="bar" class:off=off role="img" aria-label=aria_label>
            <div class="bar-fill" style:width=width></div>
            <span class="bar-label">{label}</span>
        </div>
    }
}

/// Basis points as a percentage with at most two decimals: 2500 is "25", 1250
/// "12.5", 29 "0.29".
pub fn percent(points: u32) -> String {
    let (whole, hundredths) = (points / 100, points % 100);
    match hundredths {
        0 => whole.to_string(),
        h if h % 10 == 0 => format!("{whole}.{}", h / 10),
        h => format!("{whole}.{h:02}"),
    }
}

/// `part` of `whole` in basis points, rounded to the nearest.
pub fn share(part: usize, whole: usize) -> u32 {
    let whole = whole.max(1) as u64;
    ((part as u64 * 10_000 + whole / 2) / whole) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_read_as_plans_write_them() {
        for (points, text) in [
            (0, "0"),
            (29, "0.29"),
            (500, "5"),
            (1250, "12.5"),
            (3333, "33.33"),
            (10_000, "100"),
        ] {
            assert_eq!(percent(points), text);
        }
        assert_eq!(share(1, 3), 3333);
        assert_eq!(share(2, 3), 6667);
        assert_eq!(share(0, 0), 0);
    }
}
