use leptos::prelude::*;

/// A stage's share of users as a bar; `off` greys it out (kill switch on).
#[component]
pub fn PercentBar(percentage: f64, #[prop(optional)] off: bool) -> impl IntoView {
    // Plan percentages have at most two decimals; computed shares are shown alike.
    let percentage = (percentage * 100.0).round() / 100.0;
    let width = format!("width: {}%", percentage.clamp(0.0, 100.0));
    let label = if off {
        format!("{percentage}% (kill switch on: 0% effective)")
    } else {
        format!("{percentage}%")
    };
    let aria_label = label.clone();
    view! {
        <div class="bar" class:off=off role="img" aria-label=aria_label>
            <div class="bar-fill" style=width></div>
            <span class="bar-label">{label}</span>
        </div>
    }
}
