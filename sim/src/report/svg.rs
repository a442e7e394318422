//! `throughput.svg`: acknowledged sends and successful deliveries per second over simulated
//! time, with fault and downtime intervals shaded behind the lines, crashes as vertical lines and
//! the moment every fault was healed as a dashed line. Self-contained: no script, no external
//! reference, inline attributes only. Every coordinate is rounded to one decimal.

use super::analysis::{crash_kind_name, Analysis, Bucket, Interval, IntervalKind};
use super::{one_line, secs, verdict_word, RunMeta};

/// Width of the picture, px.
const WIDTH: f64 = 960.0;
/// Height of the picture, px.
const HEIGHT: f64 = 440.0;
/// Left edge of the plot area (the y axis).
const LEFT: f64 = 70.0;
/// Right edge of the plot area.
const RIGHT: f64 = 940.0;
/// Top edge of the plot area.
const TOP: f64 = 50.0;
/// Bottom edge of the plot area (the x axis).
const BOTTOM: f64 = 350.0;
/// Baseline of the x axis's title.
const X_TITLE_Y: f64 = 385.0;
/// Vertical middle of the legend row.
const LEGEND_Y: f64 = 414.0;
/// At most this many intervals between x ticks.
const X_TICKS: u64 = 10;
/// At most this many intervals between y ticks.
const Y_TICKS: u64 = 6;
/// Longest text taken from the inputs into the picture, in characters.
const TEXT_MAX: usize = 120;

/// Colour of the acknowledged-sends line.
const ACKS_COLOUR: &str = "#1f77b4";
/// Colour of the successful-deliveries line.
const DELIVERIES_COLOUR: &str = "#2ca02c";
/// Colour of fault intervals.
const FAULT_COLOUR: &str = "#ff9f1c";
/// Colour of crash and failed-start intervals and of crash instants.
const CRASH_COLOUR: &str = "#d62728";
/// Colour of clean-stop intervals.
const STOP_COLOUR: &str = "#7f7f7f";
/// Colour of the healed line.
const HEALED_COLOUR: &str = "#17becf";
/// Colour of axes, ticks and labels.
const INK: &str = "#333333";
/// Colour of grid lines.
const GRID_COLOUR: &str = "#e5e5e5";

/// Maps simulated time and rates to picture coordinates.
#[derive(Debug, Clone, Copy)]
struct Frame {
    /// Simulated ms at the right edge of the plot (at least 1000).
    domain_ms: u64,
    /// Messages per second at the top of the plot (at least 1).
    y_max: u64,
}

impl Frame {
    /// The x coordinate of simulated time `ms` (clamped to the plot).
    fn x(&self, ms: u64) -> f64 {
        LEFT + (RIGHT - LEFT) * (ms.min(self.domain_ms) as f64 / self.domain_ms.max(1) as f64)
    }

    /// The y coordinate of `rate` messages per second (clamped to the plot).
    fn y(&self, rate: f64) -> f64 {
        BOTTOM - (BOTTOM - TOP) * (rate / self.y_max.max(1) as f64).clamp(0.0, 1.0)
    }
}

/// The SVG document, ended by a newline.
pub(super) fn render(meta: &RunMeta, analysis: &Analysis, pass: bool) -> String {
    let throughput = &analysis.throughput;
    let bucket_ms = throughput.bucket_ms.max(1);
    let buckets_len = u64::try_from(throughput.buckets.len()).unwrap_or(u64::MAX);
    let domain_ms = analysis.end_ms.max(buckets_len.saturating_mul(bucket_ms)).max(1000);
    let peak = throughput
        .buckets
        .iter()
        .map(|bucket| rate_ceil(bucket.acks.max(bucket.deliveries), bucket_ms))
        .fold(0, u64::max);
    // Some headroom, so that a steady rate is not drawn on the plot's top edge.
    let top = peak.saturating_add(peak / 20).saturating_add(1);
    let y_step = nice_step(top, Y_TICKS);
    let frame = Frame { domain_ms, y_max: top.div_ceil(y_step).saturating_mul(y_step) };

    let mut out = Vec::new();
    out.push(format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">"#,
        w = WIDTH,
        h = HEIGHT
    ));
    out.push(r#"<rect x="0" y="0" width="100%" height="100%" fill="white"/>"#.to_owned());
    let title = format!("{} seed {}: {}", one_line(&meta.scenario, TEXT_MAX), meta.seed, verdict_word(pass));
    let title_colour = if pass { INK } else { CRASH_COLOUR };
    out.push(format!(
        r#"<text x="{}" y="26" text-anchor="middle" font-size="16" font-weight="bold" fill="{title_colour}">{}</text>"#,
        f1(WIDTH / 2.0),
        escape(&title)
    ));

    for interval in &analysis.intervals {
        out.push(interval_rect(&frame, interval));
    }
    axes(&frame, y_step, &mut out);

    if !throughput.buckets.is_empty() {
        let series = |count: fn(&Bucket) -> u64| {
            let mut points = Vec::with_capacity(throughput.buckets.len() * 2);
            for bucket in &throughput.buckets {
                let rate = count(bucket) as f64 * 1000.0 / bucket_ms as f64;
                let y = f1(frame.y(rate));
                points.push(format!("{},{y}", f1(frame.x(bucket.start_ms))));
                points.push(format!("{},{y}", f1(frame.x(bucket.start_ms.saturating_add(bucket_ms)))));
            }
            points.join(" ")
        };
        out.push(format!(
            r#"<polyline class="deliveries" fill="none" stroke="{DELIVERIES_COLOUR}" stroke-width="3" stroke-opacity="0.8" stroke-linejoin="round" points="{}"/>"#,
            series(|bucket| bucket.deliveries)
        ));
        out.push(format!(
            r#"<polyline class="acks" fill="none" stroke="{ACKS_COLOUR}" stroke-width="1.5" stroke-linejoin="round" points="{}"/>"#,
            series(|bucket| bucket.acks)
        ));
    }

    for crash in &analysis.crashes {
        let x = f1(frame.x(crash.at_ms));
        let tip = format!(
            "crash {} ({}) at {}",
            one_line(&crash.node, TEXT_MAX),
            crash_kind_name(crash.kind),
            secs(crash.at_ms)
        );
        out.push(format!(
            r#"<line class="crash" x1="{x}" y1="{}" x2="{x}" y2="{}" stroke="{CRASH_COLOUR}" stroke-width="1.5"><title>{}</title></line>"#,
            f1(TOP),
            f1(BOTTOM),
            escape(&tip)
        ));
    }
    for &at_ms in &analysis.producers_stopped_ms {
        let x = frame.x(at_ms);
        let (label_x, anchor) = if x > RIGHT - 120.0 { (x - 4.0, "end") } else { (x + 4.0, "start") };
        out.push(format!(
            r#"<line class="producers-stopped" x1="{x}" y1="{}" x2="{x}" y2="{}" stroke="{STOP_COLOUR}" stroke-width="1" stroke-dasharray="2 3"><title>producers stopped at {}</title></line>"#,
            f1(TOP),
            f1(BOTTOM),
            secs(at_ms),
            x = f1(x)
        ));
        out.push(format!(
            r#"<text x="{}" y="{}" text-anchor="{anchor}" font-size="11" fill="{STOP_COLOUR}">producers stopped</text>"#,
            f1(label_x),
            f1(TOP + 12.0)
        ));
    }
    for &at_ms in &analysis.healed_ms {
        let x = f1(frame.x(at_ms));
        out.push(format!(
            r#"<line class="healed" x1="{x}" y1="{}" x2="{x}" y2="{}" stroke="{HEALED_COLOUR}" stroke-width="1.5" stroke-dasharray="6 4"><title>every fault healed at {}</title></line>"#,
            f1(TOP - 2.0),
            f1(BOTTOM),
            secs(at_ms)
        ));
        out.push(format!(
            r#"<text x="{x}" y="{}" text-anchor="middle" font-size="11" fill="{HEALED_COLOUR}">healed</text>"#,
            f1(TOP - 6.0)
        ));
    }
    legend(&mut out);
    out.push("</svg>".to_owned());
    let mut svg = out.join("\n");
    svg.push('\n');
    svg
}

/// The shaded rectangle of an interval, full plot height; an open interval runs to the right
/// edge, and an instant is drawn one pixel wide.
fn interval_rect(frame: &Frame, interval: &Interval) -> String {
    let (class, colour, opacity) = match interval.kind {
        IntervalKind::Fault => ("fault", FAULT_COLOUR, "0.25"),
        IntervalKind::Crash => ("crash", CRASH_COLOUR, "0.15"),
        IntervalKind::StartFailed => ("start-failed", CRASH_COLOUR, "0.15"),
        IntervalKind::Stop => ("stop", STOP_COLOUR, "0.15"),
    };
    let start = frame.x(interval.start_ms);
    let end = frame.x(interval.end_ms.unwrap_or(frame.domain_ms));
    let (left, right) = if end < start { (end, start) } else { (start, end) };
    let width = (right - left).max(1.0);
    let nodes: Vec<String> = interval.nodes.iter().map(|node| one_line(node, TEXT_MAX)).collect();
    let until = match interval.end_ms {
        Some(end_ms) => format!("to {}", secs(end_ms)),
        None => "to the end".to_owned(),
    };
    let tip = format!(
        "{class} {}: {} from {} {until}",
        one_line(&interval.name, TEXT_MAX),
        nodes.join(", "),
        secs(interval.start_ms)
    );
    format!(
        r#"<rect class="{class}" x="{}" y="{}" width="{}" height="{}" fill="{colour}" fill-opacity="{opacity}"><title>{}</title></rect>"#,
        f1(left),
        f1(TOP),
        f1(width),
        f1(BOTTOM - TOP),
        escape(&tip)
    )
}

/// Grid lines, the two axes, their ticks with labels, and the axis titles.
fn axes(frame: &Frame, y_step: u64, out: &mut Vec<String>) {
    for value in ticks(frame.y_max, y_step) {
        let y = f1(frame.y(value as f64));
        if value > 0 {
            out.push(format!(
                r#"<line class="grid" x1="{}" y1="{y}" x2="{}" y2="{y}" stroke="{GRID_COLOUR}" stroke-width="1"/>"#,
                f1(LEFT),
                f1(RIGHT)
            ));
        }
        out.push(format!(
            r#"<line x1="{}" y1="{y}" x2="{}" y2="{y}" stroke="{INK}" stroke-width="1"/>"#,
            f1(LEFT - 5.0),
            f1(LEFT)
        ));
        out.push(format!(
            r#"<text x="{}" y="{}" text-anchor="end" fill="{INK}">{value}</text>"#,
            f1(LEFT - 8.0),
            f1(frame.y(value as f64) + 4.0)
        ));
    }
    // Fewer ticks when their labels are long (only for absurdly long runs).
    let label_chars = u64::try_from((frame.domain_ms / 1000).to_string().len()).unwrap_or(u64::MAX).saturating_add(2);
    let room = ((RIGHT - LEFT) as u64) / label_chars.saturating_mul(8).saturating_add(16);
    let x_step = nice_step(frame.domain_ms, room.clamp(1, X_TICKS));
    for value in ticks(frame.domain_ms, x_step) {
        let x = f1(frame.x(value));
        out.push(format!(
            r#"<line x1="{x}" y1="{}" x2="{x}" y2="{}" stroke="{INK}" stroke-width="1"/>"#,
            f1(BOTTOM),
            f1(BOTTOM + 5.0)
        ));
        out.push(format!(
            r#"<text x="{x}" y="{}" text-anchor="middle" fill="{INK}">{}</text>"#,
            f1(BOTTOM + 19.0),
            seconds_label(value, x_step)
        ));
    }
    out.push(format!(
        r#"<line class="axis" x1="{}" y1="{}" x2="{}" y2="{}" stroke="{INK}" stroke-width="1"/>"#,
        f1(LEFT),
        f1(TOP),
        f1(LEFT),
        f1(BOTTOM)
    ));
    out.push(format!(
        r#"<line class="axis" x1="{}" y1="{}" x2="{}" y2="{}" stroke="{INK}" stroke-width="1"/>"#,
        f1(LEFT),
        f1(BOTTOM),
        f1(RIGHT),
        f1(BOTTOM)
    ));
    out.push(format!(
        r#"<text x="{}" y="{}" text-anchor="middle" fill="{INK}">simulated time (s)</text>"#,
        f1((LEFT + RIGHT) / 2.0),
        f1(X_TITLE_Y)
    ));
    let (label_x, label_y) = (f1(18.0), f1((TOP + BOTTOM) / 2.0));
    out.push(format!(
        r#"<text x="{label_x}" y="{label_y}" text-anchor="middle" fill="{INK}" transform="rotate(-90 {label_x} {label_y})">messages per second</text>"#
    ));
}

/// The legend row under the x axis.
fn legend(out: &mut Vec<String>) {
    let y = f1(LEGEND_Y);
    let text_y = f1(LEGEND_Y + 4.0);
    let line = |x: f64, colour: &str, width: &str, dash: &str, label: &str| {
        let dash = if dash.is_empty() { String::new() } else { format!(r#" stroke-dasharray="{dash}""#) };
        format!(
            r#"<line x1="{}" y1="{y}" x2="{}" y2="{y}" stroke="{colour}" stroke-width="{width}"{dash}/><text x="{}" y="{text_y}" fill="{INK}">{label}</text>"#,
            f1(x),
            f1(x + 25.0),
            f1(x + 30.0)
        )
    };
    let swatch = |x: f64, colour: &str, opacity: &str, label: &str| {
        format!(
            r#"<rect x="{}" y="{}" width="14" height="12" fill="{colour}" fill-opacity="{opacity}"/><text x="{}" y="{text_y}" fill="{INK}">{label}</text>"#,
            f1(x),
            f1(LEGEND_Y - 6.0),
            f1(x + 19.0)
        )
    };
    out.push(r#"<g class="legend">"#.to_owned());
    out.push(line(LEFT, ACKS_COLOUR, "1.5", "", "acknowledged sends/s"));
    out.push(line(260.0, DELIVERIES_COLOUR, "3", "", "successful deliveries/s"));
    out.push(swatch(460.0, FAULT_COLOUR, "0.25", "fault"));
    out.push(swatch(530.0, CRASH_COLOUR, "0.15", "node down"));
    out.push(swatch(650.0, STOP_COLOUR, "0.15", "stopped"));
    out.push(line(740.0, CRASH_COLOUR, "1.5", "", "crash"));
    out.push(line(820.0, HEALED_COLOUR, "1.5", "6 4", "healed"));
    out.push("</g>".to_owned());
}

/// `count` messages in a bucket of `bucket_ms` as a whole rate per second, rounded up.
fn rate_ceil(count: u64, bucket_ms: u64) -> u64 {
    count.saturating_mul(1000).div_ceil(bucket_ms.max(1))
}

/// The smallest step of the form 1, 2 or 5 times a power of ten that divides `[0, max]` into at
/// most `intervals` intervals (`u64::MAX` when none fits in a `u64`).
pub(super) fn nice_step(max: u64, intervals: u64) -> u64 {
    let intervals = intervals.max(1);
    let mut magnitude: u64 = 1;
    loop {
        for factor in [1, 2, 5] {
            let Some(step) = magnitude.checked_mul(factor) else {
                return u64::MAX;
            };
            if max.div_ceil(step) <= intervals {
                return step;
            }
        }
        let Some(next) = magnitude.checked_mul(10) else {
            return u64::MAX;
        };
        magnitude = next;
    }
}

/// The multiples of `step` from 0 up to `max` (bounded, whatever the arguments).
fn ticks(max: u64, step: u64) -> Vec<u64> {
    let step = step.max(1);
    (0..=X_TICKS.max(Y_TICKS) + 1)
        .map_while(|index| index.checked_mul(step))
        .take_while(|value| *value <= max)
        .collect()
}

/// A tick at `ms` as seconds, with as many decimals as `step_ms` needs: `12`, `0.5`, `1.25`.
pub(super) fn seconds_label(ms: u64, step_ms: u64) -> String {
    let (whole, millis) = (ms / 1000, ms % 1000);
    if step_ms.is_multiple_of(1000) {
        whole.to_string()
    } else if step_ms.is_multiple_of(100) {
        format!("{whole}.{}", millis / 100)
    } else if step_ms.is_multiple_of(10) {
        format!("{whole}.{:02}", millis / 10)
    } else {
        format!("{whole}.{millis:03}")
    }
}

/// A coordinate with one decimal (`-0.0` and non-finite values written as `0.0`).
pub(super) fn f1(value: f64) -> String {
    if !value.is_finite() {
        return "0.0".to_owned();
    }
    let text = format!("{value:.1}");
    if text == "-0.0" {
        "0.0".to_owned()
    } else {
        text
    }
}

/// `text` escaped for XML character data and attribute values.
pub(super) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}
