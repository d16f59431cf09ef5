//! Charts drawn on the server as SVG, for pages that work without JavaScript: horizontal bars
//! and a Lorenz curve. Each mark carries a `<title>` (hovering shows its value, screen readers
//! read it), the chart a role and a label, and a `viewBox` so it scales down to a phone.

use std::fmt::Write;

/// One bar: what it is, how long it is, and the words its title shows.
#[derive(Debug, Clone)]
pub struct Bar {
    pub label: String,
    pub value: f64,
    pub shown: String,
}

/// Text made safe inside SVG (element text and attribute values).
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
}

const WIDTH: f64 = 640.0;
const LABEL_WIDTH: f64 = 200.0;
const VALUE_WIDTH: f64 = 80.0;
const ROW: f64 = 24.0;

/// Horizontal bars, longest value the full width; negative values are drawn as empty.
pub fn bars(caption: &str, bars: &[Bar]) -> String {
    let height = ROW * bars.len().max(1) as f64 + 8.0;
    let longest = bars.iter().map(|bar| bar.value).fold(0.0_f64, f64::max);
    let room = WIDTH - LABEL_WIDTH - VALUE_WIDTH;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart" role="img" aria-label="{caption}" viewBox="0 0 {WIDTH} {height}" xmlns="http://www.w3.org/2000/svg"><title>{caption}</title>"#,
        caption = escape(caption)
    );
    for (index, bar) in bars.iter().enumerate() {
        let y = 4.0 + ROW * index as f64;
        let length = if longest > 0.0 && bar.value > 0.0 {
            (bar.value / longest * room).max(1.0)
        } else {
            0.0
        };
        let label = escape(&bar.label);
        let shown = escape(&bar.shown);
        let _ = write!(
            svg,
            r#"<g class="bar"><title>{label}: {shown}</title><text x="{text_x}" y="{text_y}" text-anchor="end">{label}</text><rect x="{LABEL_WIDTH}" y="{y}" width="{length:.1}" height="{bar_height}"></rect><text x="{value_x:.1}" y="{text_y}">{shown}</text></g>"#,
            text_x = LABEL_WIDTH - 6.0,
            text_y = y + 15.0,
            bar_height = ROW - 6.0,
            value_x = LABEL_WIDTH + length + 6.0,
        );
    }
    svg.push_str("</svg>");
    svg
}

/// The Lorenz curve of `values` (workloads): reps from the least to the most loaded along the
/// bottom, their cumulative share of the total up the side, the diagonal of perfect equality
/// beside it. `point_title` words a point from (share of reps, share of the total), in percent.
pub fn lorenz(caption: &str, values: &[f64], point_title: impl Fn(f64, f64) -> String) -> String {
    const SIDE: f64 = 300.0;
    const MARGIN: f64 = 20.0;
    let mut sorted: Vec<f64> = values
        .iter()
        .copied()
        .filter(|value| *value >= 0.0)
        .collect();
    sorted.sort_by(f64::total_cmp);
    let total: f64 = sorted.iter().sum();
    let x = |share: f64| MARGIN + share * SIDE;
    let y = |share: f64| MARGIN + SIDE - share * SIDE;
    let mut svg = String::new();
    let size = SIDE + 2.0 * MARGIN;
    let _ = write!(
        svg,
        r#"<svg class="chart lorenz" role="img" aria-label="{caption}" viewBox="0 0 {size} {size}" xmlns="http://www.w3.org/2000/svg"><title>{caption}</title><rect class="frame" x="{MARGIN}" y="{MARGIN}" width="{SIDE}" height="{SIDE}"></rect><line class="equality" x1="{x0}" y1="{y0}" x2="{x1}" y2="{y1}"></line>"#,
        caption = escape(caption),
        x0 = x(0.0),
        y0 = y(0.0),
        x1 = x(1.0),
        y1 = y(1.0),
    );
    let mut points = vec![(0.0, 0.0)];
    let mut running = 0.0;
    for (index, value) in sorted.iter().enumerate() {
        running += value;
        let share_of_total = if total > 0.0 {
            running / total
        } else {
            (index + 1) as f64 / sorted.len() as f64
        };
        points.push(((index + 1) as f64 / sorted.len() as f64, share_of_total));
    }
    let path: Vec<String> = points
        .iter()
        .map(|(reps, share)| format!("{:.1},{:.1}", x(*reps), y(*share)))
        .collect();
    let _ = write!(
        svg,
        r#"<polyline class="curve" points="{}"></polyline>"#,
        path.join(" ")
    );
    for (reps, share) in points.iter().skip(1) {
        let _ = write!(
            svg,
            r#"<circle class="point" cx="{:.1}" cy="{:.1}" r="4"><title>{}</title></circle>"#,
            x(*reps),
            y(*share),
            escape(&point_title(reps * 100.0, share * 100.0))
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(svg: &str, mark: &str) -> usize {
        svg.matches(mark).count()
    }

    #[test]
    fn bars_scale_to_the_longest_and_title_every_mark() {
        let svg = bars(
            "owned <by rep>",
            &[
                Bar {
                    label: "r1".into(),
                    value: 10.0,
                    shown: "10".into(),
                },
                Bar {
                    label: "r2 & co".into(),
                    value: 5.0,
                    shown: "5".into(),
                },
                Bar {
                    label: "r3".into(),
                    value: 0.0,
                    shown: "0".into(),
                },
            ],
        );
        assert_eq!(count(&svg, "<rect "), 3);
        assert_eq!(count(&svg, "<title>"), 4, "the chart's and one per bar");
        assert!(
            svg.contains(r#"width="360.0""#),
            "the longest fills the room: {svg}"
        );
        assert!(svg.contains(r#"width="180.0""#), "half as long: {svg}");
        assert!(svg.contains(r#"width="0.0""#), "{svg}");
        assert!(
            svg.contains("owned &lt;by rep&gt;") && svg.contains("r2 &amp; co: 5"),
            "{svg}"
        );
    }

    #[test]
    fn a_lorenz_curve_climbs_from_nothing_to_everything() {
        let svg = lorenz("workload", &[1.0, 3.0], |reps, share| {
            format!("{reps:.0}% {share:.0}%")
        });
        assert_eq!(count(&svg, "<circle "), 2);
        assert!(svg.contains("<title>50% 25%</title>"), "{svg}");
        assert!(svg.contains("<title>100% 100%</title>"), "{svg}");
        assert!(
            svg.contains(r#"points="20.0,320.0 170.0,245.0 320.0,20.0""#),
            "{svg}"
        );
        // No workload at all: the curve is the diagonal, not a division by zero.
        let even = lorenz("none", &[0.0, 0.0], |reps, share| {
            format!("{reps:.0} {share:.0}")
        });
        assert!(even.contains("<title>50 50</title>"), "{even}");
    }
}
