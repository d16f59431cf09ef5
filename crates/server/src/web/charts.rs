//! Charts drawn on the server as SVG, for pages that work without JavaScript: horizontal bars,
//! a line, a scatter and a Lorenz curve. Each mark carries a `<title>` (hovering shows its value, screen readers
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

/// One point of a line or a scatter: where it lies and the words its title shows.
#[derive(Debug, Clone)]
pub struct Point {
    pub x: f64,
    pub y: f64,
    pub shown: String,
}

const PLOT_WIDTH: f64 = 640.0;
const PLOT_HEIGHT: f64 = 220.0;
const PLOT_MARGIN: f64 = 36.0;

/// Where a plot's points land: each axis stretched over its values' range (a single value
/// sits in the middle).
struct Axes {
    x: (f64, f64),
    y: (f64, f64),
}

impl Axes {
    fn over(points: &[Point], y_floor: Option<f64>) -> Axes {
        let range = |values: &mut dyn Iterator<Item = f64>| {
            values.fold((f64::INFINITY, f64::NEG_INFINITY), |(low, high), value| {
                (low.min(value), high.max(value))
            })
        };
        let x = range(&mut points.iter().map(|point| point.x));
        let mut y = range(&mut points.iter().map(|point| point.y));
        if let Some(floor) = y_floor {
            y.0 = y.0.min(floor);
        }
        Axes { x, y }
    }

    fn place(&self, point: &Point) -> (f64, f64) {
        let stretch = |value: f64, (low, high): (f64, f64), length: f64| {
            if high > low {
                (value - low) / (high - low) * length
            } else {
                length / 2.0
            }
        };
        let room_x = PLOT_WIDTH - 2.0 * PLOT_MARGIN;
        let room_y = PLOT_HEIGHT - 2.0 * PLOT_MARGIN;
        (
            PLOT_MARGIN + stretch(point.x, self.x, room_x),
            PLOT_HEIGHT - PLOT_MARGIN - stretch(point.y, self.y, room_y),
        )
    }
}

/// The frame of a line or scatter with its axes' names and ranges.
fn plot_frame(
    svg: &mut String,
    class: &str,
    caption: &str,
    names: (&str, &str),
    ticks: (&str, &str, &str, &str),
) {
    let _ = write!(
        svg,
        r#"<svg class="chart {class}" role="img" aria-label="{caption}" viewBox="0 0 {PLOT_WIDTH} {PLOT_HEIGHT}" xmlns="http://www.w3.org/2000/svg"><title>{caption}</title><rect class="frame" x="{PLOT_MARGIN}" y="{PLOT_MARGIN}" width="{w}" height="{h}"></rect><text x="{PLOT_MARGIN}" y="{bottom}">{x_low}</text><text x="{right}" y="{bottom}" text-anchor="end">{x_high}</text><text x="{mid_x}" y="{bottom}" text-anchor="middle">{x_name}</text><text x="4" y="{top}">{y_high}</text><text x="4" y="{low_y}">{y_low}</text><text x="4" y="16">{y_name}</text>"#,
        caption = escape(caption),
        w = PLOT_WIDTH - 2.0 * PLOT_MARGIN,
        h = PLOT_HEIGHT - 2.0 * PLOT_MARGIN,
        bottom = PLOT_HEIGHT - 8.0,
        right = PLOT_WIDTH - PLOT_MARGIN,
        mid_x = PLOT_WIDTH / 2.0,
        top = PLOT_MARGIN + 4.0,
        low_y = PLOT_HEIGHT - PLOT_MARGIN,
        x_name = escape(names.0),
        y_name = escape(names.1),
        x_low = escape(ticks.0),
        x_high = escape(ticks.1),
        y_low = escape(ticks.2),
        y_high = escape(ticks.3),
    );
}

/// How a plot joins its points.
#[derive(Clone, Copy, PartialEq, Eq)]
enum PlotKind {
    Line,
    Scatter,
}

/// A line or a scatter of `points`, every point a titled mark; the axes' ends written by
/// `x_tick` and `y_tick`.
fn plot(
    kind: PlotKind,
    caption: &str,
    points: &[Point],
    names: (&str, &str),
    x_tick: impl Fn(f64) -> String,
    y_tick: impl Fn(f64) -> String,
) -> String {
    let axes = Axes::over(points, Some(0.0));
    let ticks = if points.is_empty() {
        Default::default()
    } else {
        (
            x_tick(axes.x.0),
            x_tick(axes.x.1),
            y_tick(axes.y.0),
            y_tick(axes.y.1),
        )
    };
    let (class, radius) = match kind {
        PlotKind::Line => ("line", 4),
        PlotKind::Scatter => ("scatter", 5),
    };
    let mut svg = String::new();
    plot_frame(
        &mut svg,
        class,
        caption,
        names,
        (&ticks.0, &ticks.1, &ticks.2, &ticks.3),
    );
    let placed: Vec<(f64, f64)> = points.iter().map(|point| axes.place(point)).collect();
    if kind == PlotKind::Line {
        let path: Vec<String> = placed
            .iter()
            .map(|(x, y)| format!("{x:.1},{y:.1}"))
            .collect();
        let _ = write!(
            svg,
            r#"<polyline class="curve" points="{}"></polyline>"#,
            path.join(" ")
        );
    }
    for (point, (x, y)) in points.iter().zip(placed) {
        let _ = write!(
            svg,
            r#"<circle class="point" cx="{x:.1}" cy="{y:.1}" r="{radius}"><title>{}</title></circle>"#,
            escape(&point.shown)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// A line through `points` in their order (a value over time), each point a titled mark.
/// `names` are the axes' names; the ranges' ends are written by `x_tick` and `y_tick`.
pub fn line(
    caption: &str,
    points: &[Point],
    names: (&str, &str),
    x_tick: impl Fn(f64) -> String,
    y_tick: impl Fn(f64) -> String,
) -> String {
    plot(PlotKind::Line, caption, points, names, x_tick, y_tick)
}

/// A scatter of `points`, each a titled mark; `names` are the axes' names.
pub fn scatter(
    caption: &str,
    points: &[Point],
    names: (&str, &str),
    tick: impl Fn(f64) -> String,
) -> String {
    plot(PlotKind::Scatter, caption, points, names, &tick, &tick)
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

    #[test]
    fn a_line_and_a_scatter_place_every_point_inside_the_frame() {
        let points = vec![
            Point {
                x: 0.0,
                y: 10.0,
                shown: "first <10>".into(),
            },
            Point {
                x: 5.0,
                y: 40.0,
                shown: "second".into(),
            },
            Point {
                x: 10.0,
                y: 20.0,
                shown: "third".into(),
            },
        ];
        let svg = line(
            "score",
            &points,
            ("day", "score"),
            |x| format!("{x:.0}"),
            |y| format!("{y:.0}"),
        );
        assert_eq!(count(&svg, "<circle "), 3);
        assert!(svg.contains("<title>first &lt;10&gt;</title>"), "{svg}");
        // x from 0 to 10 over 36..604; y from 0 (the floor) to 40 over 184..36.
        assert!(
            svg.contains(r#"points="36.0,147.0 320.0,36.0 604.0,110.0""#),
            "{svg}"
        );
        let one = scatter("one", &points[..1], ("a", "b"), |v| format!("{v}"));
        assert_eq!(count(&one, "<circle "), 1);
        assert!(
            one.contains(r#"cx="320.0""#),
            "a single x sits in the middle: {one}"
        );
        let none = line(
            "none",
            &[],
            ("a", "b"),
            |v| format!("{v}"),
            |v| format!("{v}"),
        );
        assert_eq!(count(&none, "<circle "), 0);
        assert!(!none.contains("NaN") && !none.contains("inf"), "{none}");
    }
}
