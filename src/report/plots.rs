//! SVG plots for reports: pure functions from plain data to one self-contained SVG string
//! each, drawn with plotters' SVG backend (`SVGBackend::with_string`).
//!
//! Fonts: plotters is built without its `ttf` and `ab_glyph` features, so it uses its
//! built-in "naive" font. That font reads no font file: it only estimates text extents from
//! character counts for layout, and the SVG backend writes every label as a real
//! `<text font-family="sans-serif">` element that the viewer (a browser) renders with its own
//! sans-serif font. So nothing is embedded at build time and no system font is needed at run
//! time, and text stays selectable and searchable. (The naive font cannot rasterise glyphs, so
//! this module must stay on the SVG backend; a bitmap backend would need a real font.)
//! Because text widths are estimates, the plots leave slack: the legend sits in its own
//! panel beside the plot, tick labels are thinned, and annotation labels are placed in rows
//! so that their estimated boxes, with a margin, never overlap.
//!
//! Invariants: no I/O, no clock, no randomness; the same input gives byte-identical SVG.
//! Non-finite values (and absurd ones, beyond +-1e15) are dropped; empty input gives a
//! "no data" plot, never a panic.
//! Colours come from a fixed palette, given to fault kinds in sorted name order.

use plotters::coord::ranged1d::{AsRangedCoord, Ranged, ValueFormatter};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
type Chart<'a, 'b, X, Y> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<X, Y>>;
type DrawResult = Result<(), Box<dyn std::error::Error>>;

/// Size of the one-panel plots, pixels.
const SIZE: (u32, u32) = (900, 450);
/// Size of the two-panel timeline, pixels.
const TIMELINE_SIZE: (u32, u32) = (900, 600);
/// Width of the legend panel on the right of every plot, pixels.
const LEGEND_WIDTH_PX: u32 = 210;
/// Width of the y tick label area, pixels.
const Y_LABEL_AREA_PX: u32 = 78;
/// Height of the x tick label area, pixels.
const X_LABEL_AREA_PX: u32 = 52;

const FONT: &str = "sans-serif";
/// Font sizes in plotters units (the SVG font-size is this / 1.24).
const TITLE_SIZE: u32 = 24;
const AXIS_DESC_SIZE: u32 = 17;
const TICK_SIZE: u32 = 14;
const LEGEND_SIZE: u32 = 15;
const NOTE_SIZE: u32 = 14;
/// Height of one row of annotation labels and of one legend entry, pixels.
const NOTE_ROW_PX: i32 = 17;
const LEGEND_ROW_PX: i32 = 22;

/// Values beyond this magnitude are dropped like NaN (1e15 ms is 31 700 years).
const MAX_PLOT_VALUE: f64 = 1e15;
/// The smallest latency a log axis starts from (1 us); below it bins are linear.
const MIN_LOG_MS: f64 = 1e-3;
/// A recovery time at or above this is shown in seconds rather than milliseconds.
const SECONDS_FROM_MS: f64 = 10_000.0;

/// Tableau 10: distinct, colour-blind tolerant, fixed.
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];
const INK: RGBColor = RGBColor(33, 33, 33);
const EPOCH_COLOUR: RGBColor = RGBColor(90, 90, 90);
/// The first violation of a failing seed on the timeline.
const VIOLATION_COLOUR: RGBColor = RGBColor(200, 30, 30);
const BACKLOG_COLOUR: RGBColor = RGBColor(84, 48, 140);

/// Recovery times per fault kind as empirical CDFs, one line per kind, with optional
/// per-kind reference lines (dashed, labelled "{kind} bound": reports draw each row's
/// recovery bound, the backlog model). `series` is (kind, recovery times in ms), `bounds`
/// is (kind, ms). The x unit is ms, or s when the data reach 10 s.
pub fn recovery_cdf(series: &[(String, Vec<f64>)], bounds: &[(String, f64)]) -> String {
    let curves: Vec<(&str, Vec<f64>)> =
        series.iter().map(|(kind, ms)| (kind.as_str(), sorted_finite(ms))).filter(|(_, ms)| !ms.is_empty()).collect();
    let bounds: Vec<(&str, f64)> =
        bounds.iter().filter(|(_, ms)| usable(*ms)).map(|(kind, ms)| (kind.as_str(), *ms)).collect();
    let title = "Recovery time by fault kind (CDF)";
    let y_desc = "fraction of faults recovered";
    render(SIZE, title, |area| {
        if curves.is_empty() {
            return draw_no_data(area, "recovery time (ms)", y_desc);
        }
        draw_recovery_cdf(area, &curves, &bounds, y_desc)
    })
}

/// Throughput and backlog over time in two stacked panels sharing the time axis, with
/// fault windows shaded per kind, leader epoch changes as labelled dashed lines, and a
/// failing seed's first violation as a labelled solid red line. `points` is (t in s,
/// throughput in tasks/s, backlog in tasks), `faults` is (kind, start s, end s; an
/// infinite end means never healed), `epochs` is (t in s, epoch), `violation` is (t in s,
/// label).
pub fn timeline(
    points: &[(f64, f64, f64)],
    faults: &[(String, f64, f64)],
    epochs: &[(f64, u64)],
    violation: Option<&(f64, String)>,
) -> String {
    let violation = violation.filter(|v| usable(v.0)).cloned();
    let data = TimelineData::new(points, faults, epochs).map(|d| d.with_violation(violation));
    render(TIMELINE_SIZE, "Throughput and backlog over time", |area| match &data {
        Some(data) => draw_timeline(area, data),
        None => draw_no_data(area, "time (s)", "throughput (tasks/s)"),
    })
}

/// Histogram of submit-to-success latencies in ms with p50 and p99 marked. Bins are equal
/// in width, or equal in log width on a log axis when the data span 50x or more (and are
/// all positive), so both the bulk and the tail stay visible.
pub fn latency_histogram(latencies_ms: &[f64]) -> String {
    let sorted = sorted_finite(latencies_ms);
    let title = "Submit-to-success latency";
    render(SIZE, title, |area| {
        if sorted.is_empty() {
            return draw_no_data(area, "latency (ms)", "tasks (count)");
        }
        let hist = Histo::new(&sorted);
        if hist.log {
            let x = (hist.edges[0] / 1.15..hist.edges[hist.counts.len()] * 1.15).log_scale();
            draw_histogram(area, x, &hist, "latency (ms, log scale)")
        } else {
            let pad = (hist.edges[hist.counts.len()] - hist.edges[0]) * 0.03;
            let x = hist.edges[0] - pad..hist.edges[hist.counts.len()] + pad;
            draw_histogram(area, x, &hist, "latency (ms)")
        }
    })
}

/// Recovery time per seed as a scatter, one colour per fault kind. `points` is
/// (kind, seed, recovery ms). The y unit is ms, or s when the data reach 10 s.
pub fn recovery_per_seed(points: &[(String, u64, f64)]) -> String {
    let points: Vec<(&str, u64, f64)> =
        points.iter().filter(|(_, _, ms)| usable(*ms)).map(|(kind, seed, ms)| (kind.as_str(), *seed, *ms)).collect();
    render(SIZE, "Recovery time per seed", |area| {
        if points.is_empty() {
            return draw_no_data(area, "seed", "recovery time (ms)");
        }
        draw_recovery_per_seed(area, &points)
    })
}

// ---------------------------------------------------------------------------------------
// recovery_cdf

fn draw_recovery_cdf(area: &Area, curves: &[(&str, Vec<f64>)], bounds: &[(&str, f64)], y_desc: &str) -> DrawResult {
    let colours = KindColours::new(curves.iter().map(|c| c.0).chain(bounds.iter().map(|b| b.0)));
    let max_ms = curves.iter().flat_map(|c| c.1.iter().copied()).chain(bounds.iter().map(|b| b.1));
    let max_ms = max_ms.fold(f64::MIN, f64::max);
    let unit = TimeUnit::for_max_ms(max_ms);
    let min = curves.iter().map(|c| c.1[0]).fold(0.0, f64::min);
    let x = padded_range(unit.of(min), unit.of(max_ms), 0.0, 0.04);

    let (plot, legend) = split_legend(area);
    let mut chart = build_chart(&plot, x.clone(), 0.0..1.02, X_LABEL_AREA_PX)?;
    let x_desc = format!("recovery time ({})", unit.name);
    draw_mesh(&mut chart, &x_desc, y_desc, 8, 6)?;

    let mut entries = Vec::new();
    for (kind, ms) in curves {
        let colour = colours.get(kind);
        let steps = cdf_steps(ms.iter().map(|v| unit.of(*v)), x.start, x.end);
        chart.draw_series(LineSeries::new(steps, colour.stroke_width(2)))?;
        entries.push(LegendEntry::line(format!("{kind} (n={})", ms.len()), colour));
    }
    let mut labels = Vec::new();
    for (kind, ms) in bounds {
        let colour = colours.get(kind);
        draw_vline(&mut chart, unit.of(*ms), 0.0..1.02, colour)?;
        let text = format!("{kind} bound {} {}", fmt_value(unit.of(*ms)), unit.name);
        labels.push(Note { x: unit.of(*ms), text, colour: darken(colour) });
    }
    draw_notes(&mut chart, &labels, Edge::Bottom, 4)?;
    if !bounds.is_empty() {
        entries.push(LegendEntry::dashed("recovery bound".to_string(), EPOCH_COLOUR));
    }
    draw_legend(&legend, &entries)
}

/// The empirical CDF of sorted values as a step line from (x_start, 0) to (x_end, 1).
fn cdf_steps(sorted: impl ExactSizeIterator<Item = f64>, x_start: f64, x_end: f64) -> Vec<(f64, f64)> {
    let n = sorted.len() as f64;
    let mut steps = vec![(x_start, 0.0)];
    for (i, x) in sorted.enumerate() {
        steps.push((x, i as f64 / n));
        steps.push((x, (i + 1) as f64 / n));
    }
    steps.push((x_end, 1.0));
    steps
}

// ---------------------------------------------------------------------------------------
// timeline

/// The timeline's input, cleaned: finite, sorted, windows clipped to the time range.
struct TimelineData {
    throughput: Vec<(f64, f64)>,
    backlog: Vec<(f64, f64)>,
    /// (kind, start s, end s), start <= end, within `t`.
    faults: Vec<(String, f64, f64)>,
    epochs: Vec<(f64, u64)>,
    /// (t s, label), within `t`.
    violation: Option<(f64, String)>,
    t: Range<f64>,
}

impl TimelineData {
    /// None when there is nothing to draw.
    fn new(points: &[(f64, f64, f64)], faults: &[(String, f64, f64)], epochs: &[(f64, u64)]) -> Option<Self> {
        let mut points: Vec<_> = points.iter().filter(|p| usable(p.0)).copied().collect();
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        let throughput = points.iter().filter(|p| usable(p.1)).map(|p| (p.0, p.1)).collect();
        let backlog = points.iter().filter(|p| usable(p.2)).map(|p| (p.0, p.2)).collect();
        let faults: Vec<_> = faults
            .iter()
            .filter(|(_, start, end)| usable(*start) && !end.is_nan() && *end >= *start)
            .cloned()
            .collect();
        let mut epochs: Vec<_> = epochs.iter().filter(|e| usable(e.0)).copied().collect();
        epochs.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));

        let times = points.iter().map(|p| p.0);
        let times = times.chain(faults.iter().flat_map(|f| [f.1, f.2]).filter(|t| usable(*t)));
        let times: Vec<f64> = times.chain(epochs.iter().map(|e| e.0)).collect();
        if times.is_empty() {
            return None;
        }
        let lo = times.iter().copied().fold(f64::MAX, f64::min);
        let hi = times.iter().copied().fold(f64::MIN, f64::max);
        let t = padded_range(lo, hi, 0.0, 0.0);
        let faults = faults.into_iter().map(|(kind, start, end)| (kind, start.max(t.start), end.min(t.end))).collect();
        Some(TimelineData { throughput, backlog, faults, epochs, violation: None, t })
    }

    /// Marks `violation`, widening the time range to reach it.
    fn with_violation(mut self, violation: Option<(f64, String)>) -> Self {
        if let Some((at, _)) = &violation {
            self.t = self.t.start.min(*at)..self.t.end.max(*at);
        }
        self.violation = violation;
        self
    }
}

fn draw_timeline(area: &Area, data: &TimelineData) -> DrawResult {
    let colours = KindColours::new(data.faults.iter().map(|f| f.0.as_str()));
    let (plot, legend) = split_legend(area);
    let (top, bottom) = plot.split_vertically(plot.dim_in_pixel().1 * 45 / 100);
    draw_throughput_panel(&top, data, &colours)?;
    draw_backlog_panel(&bottom, data, &colours)?;
    draw_legend(&legend, &timeline_legend(data, &colours))
}

/// The upper panel: throughput, fault windows labelled by kind, epoch lines. Its x axis
/// has no tick labels: it shares the lower panel's.
fn draw_throughput_panel(area: &Area, data: &TimelineData, colours: &KindColours) -> DrawResult {
    let fault_rows = if data.faults.is_empty() { 0 } else { 3 };
    let y_top = headroom_range(data.throughput.iter().map(|p| p.1), fault_rows.max(data.violation.is_some() as usize));
    let mut chart = build_chart(area, data.t.clone(), y_top.clone(), 8)?;
    chart
        .configure_mesh()
        .x_label_formatter(&|_| String::new())
        .y_desc("throughput (tasks/s)")
        .y_labels(5)
        .y_label_formatter(&|v| fmt_num(*v))
        .axis_desc_style((FONT, AXIS_DESC_SIZE))
        .label_style((FONT, TICK_SIZE))
        .light_line_style(TRANSPARENT)
        .bold_line_style(BLACK.mix(0.08))
        .draw()?;
    draw_fault_windows(&mut chart, &data.faults, colours, y_top.clone())?;
    draw_epoch_lines(&mut chart, &data.epochs, y_top.clone())?;
    draw_violation_line(&mut chart, data.violation.as_ref(), y_top)?;
    chart.draw_series(LineSeries::new(data.throughput.clone(), INK.stroke_width(2)))?;
    let mut notes: Vec<Note> = data
        .faults
        .iter()
        .map(|(kind, start, _)| Note { x: *start, text: kind.clone(), colour: darken(colours.get(kind)) })
        .collect();
    notes.extend(data.violation.iter().map(|(at, text)| Note { x: *at, text: text.clone(), colour: VIOLATION_COLOUR }));
    draw_notes(&mut chart, &notes, Edge::Top, fault_rows.max(data.violation.is_some() as usize))
}

/// The lower panel: backlog, fault windows, epoch lines labelled "epoch N", the time axis.
fn draw_backlog_panel(area: &Area, data: &TimelineData, colours: &KindColours) -> DrawResult {
    let epoch_rows = if data.epochs.is_empty() { 0 } else { 2 };
    let y_bottom = headroom_range(data.backlog.iter().map(|p| p.1), epoch_rows);
    let mut chart = build_chart(area, data.t.clone(), y_bottom.clone(), X_LABEL_AREA_PX)?;
    draw_mesh(&mut chart, "time (s)", "backlog (tasks)", 10, 5)?;
    draw_fault_windows(&mut chart, &data.faults, colours, y_bottom.clone())?;
    draw_epoch_lines(&mut chart, &data.epochs, y_bottom.clone())?;
    draw_violation_line(&mut chart, data.violation.as_ref(), y_bottom)?;
    let backlog = AreaSeries::new(data.backlog.clone(), 0.0, BACKLOG_COLOUR.mix(0.2));
    chart.draw_series(backlog.border_style(BACKLOG_COLOUR.stroke_width(2)))?;
    let notes: Vec<Note> = data
        .epochs
        .iter()
        .map(|(t, epoch)| Note { x: *t, text: format!("epoch {epoch}"), colour: EPOCH_COLOUR })
        .collect();
    draw_notes(&mut chart, &notes, Edge::Top, epoch_rows)
}

fn timeline_legend(data: &TimelineData, colours: &KindColours) -> Vec<LegendEntry> {
    let mut entries = vec![
        LegendEntry::line("throughput".to_string(), INK),
        LegendEntry::line("backlog".to_string(), BACKLOG_COLOUR),
    ];
    if !data.epochs.is_empty() {
        entries.push(LegendEntry::dashed("leader epoch".to_string(), EPOCH_COLOUR));
    }
    if data.violation.is_some() {
        entries.push(LegendEntry::line("first violation".to_string(), VIOLATION_COLOUR));
    }
    if !colours.0.is_empty() {
        entries.push(LegendEntry::heading("fault windows:".to_string()));
    }
    for (kind, colour) in &colours.0 {
        entries.push(LegendEntry::shade(kind.clone(), *colour));
    }
    entries
}

fn draw_fault_windows<X, Y>(
    chart: &mut Chart<X, Y>,
    faults: &[(String, f64, f64)],
    colours: &KindColours,
    y: Range<f64>,
) -> DrawResult
where
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    chart.draw_series(faults.iter().map(|(kind, start, end)| {
        Rectangle::new([(*start, y.start), (*end, y.end)], colours.get(kind).mix(0.2).filled())
    }))?;
    Ok(())
}

fn draw_epoch_lines<X, Y>(chart: &mut Chart<X, Y>, epochs: &[(f64, u64)], y: Range<f64>) -> DrawResult
where
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    for (t, _) in epochs {
        draw_vline(chart, *t, y.clone(), EPOCH_COLOUR)?;
    }
    Ok(())
}

/// A solid red line at a failing seed's first violation.
fn draw_violation_line<X, Y>(chart: &mut Chart<X, Y>, violation: Option<&(f64, String)>, y: Range<f64>) -> DrawResult
where
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    if let Some((at, _)) = violation {
        chart.draw_series(LineSeries::new([(*at, y.start), (*at, y.end)], VIOLATION_COLOUR.stroke_width(3)))?;
    }
    Ok(())
}

/// From 0 (or the minimum, if negative) to the maximum, with room above the data for
/// `note_rows` rows of labels.
fn headroom_range(values: impl Iterator<Item = f64>, note_rows: usize) -> Range<f64> {
    let (min, max) = values.fold((0.0, 0.0), |(lo, hi): (f64, f64), v| (lo.min(v), hi.max(v)));
    let span = if max - min > 0.0 { max - min } else { 1.0 };
    min..min + span * (1.08 + 0.12 * note_rows as f64)
}

// ---------------------------------------------------------------------------------------
// latency_histogram

/// Binned latencies: `counts[i]` values fall in `edges[i]..edges[i + 1]`.
struct Histo {
    edges: Vec<f64>,
    counts: Vec<u64>,
    log: bool,
    n: usize,
    p50: f64,
    p99: f64,
}

impl Histo {
    /// `sorted` is non-empty, finite and ascending.
    fn new(sorted: &[f64]) -> Self {
        let (lo, hi) = (sorted[0], sorted[sorted.len() - 1]);
        let log = lo >= MIN_LOG_MS && hi / lo >= 50.0;
        let bins = ((sorted.len() as f64).sqrt().ceil() as usize).clamp(5, 40);
        let (a, b) = if log { (lo.ln(), hi.ln()) } else { (lo, hi) };
        let (a, b) = if b - a > 1e-9 { (a, b) } else { (a - 0.5, b + 0.5) };
        let width = (b - a) / bins as f64;
        let edges = (0..=bins).map(|i| a + width * i as f64);
        let edges: Vec<f64> = edges.map(|e| if log { e.exp() } else { e }).collect();
        let mut counts = vec![0; bins];
        for v in sorted {
            let pos = if log { v.ln() } else { *v };
            let bin = ((pos - a) / width).floor().clamp(0.0, (bins - 1) as f64);
            counts[bin as usize] += 1;
        }
        let p50 = percentile(sorted, 0.50);
        let p99 = percentile(sorted, 0.99);
        Histo { edges, counts, log, n: sorted.len(), p50, p99 }
    }
}

/// Nearest-rank percentile of non-empty ascending values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn draw_histogram<XS>(area: &Area, x: XS, hist: &Histo, x_desc: &str) -> DrawResult
where
    XS: AsRangedCoord<Value = f64>,
    XS::CoordDescType: ValueFormatter<f64>,
{
    let (plot, legend) = split_legend(area);
    let max_count = hist.counts.iter().copied().max().unwrap_or(0).max(1) as f64;
    let y = 0.0..max_count * 1.3;
    let mut chart = build_chart(&plot, x, y.clone(), X_LABEL_AREA_PX)?;
    let y_labels = (max_count as usize + 1).min(6);
    draw_mesh(&mut chart, x_desc, "tasks (count)", 8, y_labels)?;
    let bar = PALETTE[0];
    chart.draw_series(hist.counts.iter().enumerate().filter(|(_, c)| **c > 0).map(|(i, c)| {
        Rectangle::new([(hist.edges[i], 0.0), (hist.edges[i + 1], *c as f64)], bar.mix(0.75).filled())
    }))?;
    let (p50, p99) = (PALETTE[1], PALETTE[3]);
    draw_vline(&mut chart, hist.p50, y.clone(), p50)?;
    draw_vline(&mut chart, hist.p99, y, p99)?;
    let notes = [
        Note { x: hist.p50, text: format!("p50 {} ms", fmt_value(hist.p50)), colour: darken(p50) },
        Note { x: hist.p99, text: format!("p99 {} ms", fmt_value(hist.p99)), colour: darken(p99) },
    ];
    draw_notes(&mut chart, &notes, Edge::Top, 2)?;
    let entries = [
        LegendEntry::shade(format!("tasks (n={})", hist.n), bar),
        LegendEntry::dashed(format!("p50 = {} ms", fmt_value(hist.p50)), p50),
        LegendEntry::dashed(format!("p99 = {} ms", fmt_value(hist.p99)), p99),
    ];
    draw_legend(&legend, &entries)
}

// ---------------------------------------------------------------------------------------
// recovery_per_seed

fn draw_recovery_per_seed(area: &Area, points: &[(&str, u64, f64)]) -> DrawResult {
    let colours = KindColours::new(points.iter().map(|p| p.0));
    let unit = TimeUnit::for_max_ms(points.iter().map(|p| p.2).fold(f64::MIN, f64::max));
    let seed_lo = points.iter().map(|p| p.1).min().unwrap_or(0);
    let seed_hi = points.iter().map(|p| p.1).max().unwrap_or(0);
    // x is the offset from the lowest seed: seeds near u64::MAX do not survive f64.
    let span = (seed_hi - seed_lo) as f64;
    let x = padded_range(0.0, span, 0.5, 0.03);
    let y_lo = unit.of(points.iter().map(|p| p.2).fold(0.0, f64::min));
    let y_hi = unit.of(points.iter().map(|p| p.2).fold(f64::MIN, f64::max));
    let y = padded_range(y_lo, y_hi, 0.0, 0.08);
    let y = if y_lo >= 0.0 { 0.0..y.end } else { y };
    let seed_label = |v: &f64| {
        let whole = v.round();
        if (v - whole).abs() < 1e-6 && whole >= 0.0 {
            seed_lo.saturating_add(whole as u64).to_string()
        } else {
            String::new()
        }
    };

    let (plot, legend) = split_legend(area);
    let mut chart = build_chart(&plot, x, y, X_LABEL_AREA_PX)?;
    let label_px = text_width_px(&seed_hi.to_string(), TICK_SIZE) + 24;
    let plot_px = (SIZE.0 - LEGEND_WIDTH_PX - Y_LABEL_AREA_PX) as i32;
    let x_labels = (plot_px / label_px).clamp(2, 10) as usize;
    chart
        .configure_mesh()
        .x_desc("seed")
        .y_desc(format!("recovery time ({})", unit.name))
        .x_labels(x_labels)
        .y_labels(6)
        .x_label_formatter(&seed_label)
        .y_label_formatter(&|v| fmt_num(*v))
        .axis_desc_style((FONT, AXIS_DESC_SIZE))
        .label_style((FONT, TICK_SIZE))
        .light_line_style(TRANSPARENT)
        .bold_line_style(BLACK.mix(0.08))
        .draw()?;

    let kinds = colours.0.len();
    let mut entries = Vec::new();
    for (k, (kind, colour)) in colours.0.iter().enumerate() {
        // Side by side within a seed when seeds are few enough for that to be visible.
        let offset = if span <= 200.0 { (k as f64 - (kinds - 1) as f64 / 2.0) * (0.5 / kinds as f64) } else { 0.0 };
        let mine: Vec<(f64, f64)> =
            points.iter().filter(|p| p.0 == kind).map(|p| ((p.1 - seed_lo) as f64 + offset, unit.of(p.2))).collect();
        let style = colour.filled();
        chart.draw_series(mine.iter().map(|p| Circle::new(*p, 4, style)))?;
        entries.push(LegendEntry::dot(format!("{kind} (n={})", mine.len()), *colour));
    }
    draw_legend(&legend, &entries)
}

// ---------------------------------------------------------------------------------------
// shared pieces

/// Draws into a fresh SVG string: white background, title, then `draw` on the area below
/// the title. Drawing into a string cannot fail in practice; if plotters reports an error
/// anyway, the result is a plot that says so rather than a panic.
fn render(size: (u32, u32), title: &str, draw: impl FnOnce(&Area) -> DrawResult) -> String {
    let mut svg = String::new();
    match draw_root(&mut svg, size, title, draw) {
        Ok(()) => svg,
        Err(error) => {
            let mut fallback = String::new();
            let message = format!("plot failed: {error}");
            let drawn = draw_root(&mut fallback, size, title, |area| draw_message(area, &message));
            drawn.map(|()| fallback).unwrap_or_default()
        }
    }
}

fn draw_root(svg: &mut String, size: (u32, u32), title: &str, draw: impl FnOnce(&Area) -> DrawResult) -> DrawResult {
    let root = SVGBackend::with_string(svg, size).into_drawing_area();
    root.fill(&WHITE)?;
    let body = root.titled(title, (FONT, TITLE_SIZE).into_font().color(&INK))?;
    draw(&body)?;
    root.present()?;
    Ok(())
}

/// An empty chart with the axis descriptions and "no data" in its middle.
fn draw_no_data(area: &Area, x_desc: &str, y_desc: &str) -> DrawResult {
    let (plot, _) = split_legend(area);
    let mut chart = build_chart(&plot, 0.0..1.0, 0.0..1.0, X_LABEL_AREA_PX)?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .x_labels(0)
        .y_labels(0)
        .disable_mesh()
        .axis_desc_style((FONT, AXIS_DESC_SIZE))
        .draw()?;
    let style = (FONT, TITLE_SIZE).into_font().color(&EPOCH_COLOUR).pos(Pos::new(HPos::Center, VPos::Center));
    chart.draw_series(std::iter::once(Text::new("no data", (0.5, 0.5), style)))?;
    Ok(())
}

fn draw_message(area: &Area, message: &str) -> DrawResult {
    let (w, h) = area.dim_in_pixel();
    let style = (FONT, AXIS_DESC_SIZE).into_font().color(&INK).pos(Pos::new(HPos::Center, VPos::Center));
    area.draw(&Text::new(message, (w as i32 / 2, h as i32 / 2), style))?;
    Ok(())
}

/// The plot on the left, the legend panel on the right.
fn split_legend<'a>(area: &Area<'a>) -> (Area<'a>, Area<'a>) {
    let width = area.dim_in_pixel().0;
    area.split_horizontally(width.saturating_sub(LEGEND_WIDTH_PX))
}

fn build_chart<'a, 'b, XS, YS>(
    area: &'a Area<'b>,
    x: XS,
    y: YS,
    x_label_area_px: u32,
) -> Result<Chart<'a, 'b, XS::CoordDescType, YS::CoordDescType>, Box<dyn std::error::Error>>
where
    XS: AsRangedCoord,
    YS: AsRangedCoord,
{
    let chart = ChartBuilder::on(area)
        .margin_top(8)
        .margin_left(6)
        .margin_right(12)
        .x_label_area_size(x_label_area_px)
        .y_label_area_size(Y_LABEL_AREA_PX)
        .build_cartesian_2d(x, y)?;
    Ok(chart)
}

/// Axes with descriptions, at most `x_labels`/`y_labels` tick labels, faint grid lines.
fn draw_mesh<X, Y>(chart: &mut Chart<X, Y>, x_desc: &str, y_desc: &str, x_labels: usize, y_labels: usize) -> DrawResult
where
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .x_labels(x_labels)
        .y_labels(y_labels)
        .x_label_formatter(&|v| fmt_num(*v))
        .y_label_formatter(&|v| fmt_num(*v))
        .axis_desc_style((FONT, AXIS_DESC_SIZE))
        .label_style((FONT, TICK_SIZE))
        .light_line_style(TRANSPARENT)
        .bold_line_style(BLACK.mix(0.08))
        .draw()?;
    Ok(())
}

fn draw_vline<X, Y>(chart: &mut Chart<X, Y>, x: f64, y: Range<f64>, colour: RGBColor) -> DrawResult
where
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    let line = [(x, y.start), (x, y.end)];
    chart.draw_series(DashedLineSeries::new(line, 6, 4, colour.stroke_width(2)))?;
    Ok(())
}

/// A label for a vertical marker at data x.
struct Note {
    x: f64,
    text: String,
    colour: RGBColor,
}

#[derive(Clone, Copy)]
enum Edge {
    Top,
    Bottom,
}

/// Draws labels beside their markers in up to `max_rows` rows at one edge of the plot,
/// each in the first row where it overlaps no other; a label that fits no row is left
/// out (its marker and the legend still show).
fn draw_notes<X, Y>(chart: &mut Chart<X, Y>, notes: &[Note], edge: Edge, max_rows: usize) -> DrawResult
where
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    let y_range = chart.y_range();
    let y_edge = match edge {
        Edge::Top => y_range.end,
        Edge::Bottom => y_range.start,
    };
    let (x_px, _) = chart.plotting_area().get_pixel_range();
    let mut order: Vec<(i32, &Note)> = notes.iter().map(|n| (chart.backend_coord(&(n.x, y_edge)).0, n)).collect();
    order.sort_by_key(|(px, note)| (*px, note.text.clone()));
    let mut row_ends: Vec<i32> = vec![i32::MIN; max_rows];
    for (px, note) in order {
        let width = text_width_px(&note.text, NOTE_SIZE);
        let right = if px + 4 + width <= x_px.end { px + 4 } else { px - 4 - width };
        let left = right.max(x_px.start + 2);
        let Some(row) = row_ends.iter().position(|end| *end + 8 <= left) else { continue };
        row_ends[row] = left + width;
        let dy = match edge {
            Edge::Top => 4 + NOTE_ROW_PX * row as i32,
            Edge::Bottom => -4 - NOTE_ROW_PX * (row as i32 + 1),
        };
        let dx = left - px;
        let style = (FONT, NOTE_SIZE).into_font().color(&note.colour);
        let background = Rectangle::new([(dx - 2, dy), (dx + width, dy + NOTE_ROW_PX - 2)], WHITE.mix(0.85).filled());
        let label = EmptyElement::at((note.x, y_edge)) + background + Text::new(note.text.clone(), (dx, dy + 1), style);
        chart.draw_series(std::iter::once(label))?;
    }
    Ok(())
}

enum Swatch {
    /// A heading over the entries below it.
    None,
    Line,
    Dashed,
    Shade,
    Dot,
}

struct LegendEntry {
    label: String,
    colour: RGBColor,
    swatch: Swatch,
}

impl LegendEntry {
    fn heading(label: String) -> Self {
        LegendEntry { label, colour: INK, swatch: Swatch::None }
    }
    fn line(label: String, colour: RGBColor) -> Self {
        LegendEntry { label, colour, swatch: Swatch::Line }
    }
    fn dashed(label: String, colour: RGBColor) -> Self {
        LegendEntry { label, colour, swatch: Swatch::Dashed }
    }
    fn shade(label: String, colour: RGBColor) -> Self {
        LegendEntry { label, colour, swatch: Swatch::Shade }
    }
    fn dot(label: String, colour: RGBColor) -> Self {
        LegendEntry { label, colour, swatch: Swatch::Dot }
    }
}

/// The legend panel: one row per entry, labels shortened to fit, and "+N more" when the
/// entries outnumber the rows.
fn draw_legend(area: &Area, entries: &[LegendEntry]) -> DrawResult {
    let (w, h) = area.dim_in_pixel();
    let text_x = 44;
    let max_chars = ((w as i32 - text_x - 6) * 10 / text_width_px(&"x".repeat(10), LEGEND_SIZE)).max(4) as usize;
    let rows = ((h as i32 - 24) / LEGEND_ROW_PX).max(1) as usize;
    let shown = if entries.len() > rows { rows - 1 } else { entries.len() };
    let style = (FONT, LEGEND_SIZE).into_font().color(&INK).pos(Pos::new(HPos::Left, VPos::Center));
    for (i, entry) in entries.iter().take(shown).enumerate() {
        let y = 20 + LEGEND_ROW_PX * i as i32;
        draw_swatch(area, entry, (10, y))?;
        area.draw(&Text::new(shorten(&entry.label, max_chars), (text_x, y), style.clone()))?;
    }
    if shown < entries.len() {
        let y = 20 + LEGEND_ROW_PX * shown as i32;
        let more = format!("+{} more", entries.len() - shown);
        area.draw(&Text::new(more, (text_x, y), style))?;
    }
    Ok(())
}

/// A 26 px wide sample of an entry's mark, centred vertically on `(x, y)`.
fn draw_swatch(area: &Area, entry: &LegendEntry, (x, y): (i32, i32)) -> DrawResult {
    let colour = entry.colour;
    match entry.swatch {
        Swatch::None => {}
        Swatch::Line => area.draw(&PathElement::new([(x, y), (x + 26, y)], colour.stroke_width(2)))?,
        Swatch::Dashed => {
            for dash in [0, 10, 20] {
                area.draw(&PathElement::new([(x + dash, y), (x + dash + 6, y)], colour.stroke_width(2)))?;
            }
        }
        Swatch::Shade => area.draw(&Rectangle::new([(x, y - 7), (x + 26, y + 7)], colour.mix(0.45).filled()))?,
        Swatch::Dot => area.draw(&Circle::new((x + 13, y), 5, colour.filled()))?,
    }
    Ok(())
}

/// Fault kind -> palette colour, in sorted kind order.
struct KindColours(BTreeMap<String, RGBColor>);

impl KindColours {
    fn new<'a>(kinds: impl Iterator<Item = &'a str>) -> Self {
        let kinds: BTreeSet<&str> = kinds.collect();
        let colours = kinds.into_iter().enumerate().map(|(i, k)| (k.to_string(), PALETTE[i % PALETTE.len()]));
        KindColours(colours.collect())
    }

    fn get(&self, kind: &str) -> RGBColor {
        self.0.get(kind).copied().unwrap_or(INK)
    }
}

/// The unit durations are shown in.
#[derive(Clone, Copy)]
struct TimeUnit {
    name: &'static str,
    ms_per_unit: f64,
}

impl TimeUnit {
    fn for_max_ms(max_ms: f64) -> Self {
        if max_ms >= SECONDS_FROM_MS {
            TimeUnit { name: "s", ms_per_unit: 1000.0 }
        } else {
            TimeUnit { name: "ms", ms_per_unit: 1.0 }
        }
    }

    fn of(self, ms: f64) -> f64 {
        ms / self.ms_per_unit
    }
}

/// `lo..hi` widened by `pad_frac` of its span, or by at least `pad_min` (or 1 when both
/// are zero) on each side, so the range is never empty.
fn padded_range(lo: f64, hi: f64, pad_min: f64, pad_frac: f64) -> Range<f64> {
    let pad = ((hi - lo) * pad_frac).max(pad_min);
    if hi - lo + 2.0 * pad > 1e-9 {
        lo - pad..hi + pad
    } else {
        lo - 0.5..hi + 0.5
    }
}

/// Whether a value can be plotted: finite and within +-`MAX_PLOT_VALUE`, so no range or
/// padding computed from it overflows and a range of one value can still be widened.
fn usable(v: f64) -> bool {
    v.is_finite() && v.abs() <= MAX_PLOT_VALUE
}

fn sorted_finite(values: &[f64]) -> Vec<f64> {
    let mut finite: Vec<f64> = values.iter().copied().filter(|v| usable(*v)).collect();
    finite.sort_by(f64::total_cmp);
    finite
}

/// A tick or value label: at most 3 decimals, no trailing zeros, no "-0".
fn fmt_num(v: f64) -> String {
    if v.abs() >= 1000.0 {
        return format!("{v:.0}");
    }
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".to_string()
    } else {
        s.to_string()
    }
}

/// A measured value for a label: 3 significant digits below 100, whole numbers above.
fn fmt_value(v: f64) -> String {
    let magnitude = v.abs();
    let decimals = if magnitude >= 100.0 {
        0
    } else if magnitude >= 10.0 {
        1
    } else if magnitude >= 1.0 {
        2
    } else {
        3
    };
    fmt_num(format!("{v:.decimals$}").parse().unwrap_or(v))
}

/// A generous estimate of a text's rendered width: plotters' naive font only estimates, and
/// the viewer's sans-serif may be wider.
fn text_width_px(text: &str, size: u32) -> i32 {
    let font_px = f64::from(size) / 1.24;
    (text.chars().count() as f64 * font_px * 0.62).ceil() as i32 + 2
}

fn shorten(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_string();
    }
    let mut short: String = text.chars().take(max_chars.saturating_sub(1)).collect();
    short.push('…');
    short
}

/// A darker shade of a palette colour, for text on white.
fn darken(c: RGBColor) -> RGBColor {
    let d = |v: u8| (f64::from(v) * 0.72) as u8;
    RGBColor(d(c.0), d(c.1), d(c.2))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The contents of every `<text>` element, unescaped, with its x and y attributes.
    fn texts(svg: &str) -> Vec<(String, i32, i32)> {
        let attr = |tag: &str, name: &str| {
            let start = tag.find(&format!(" {name}=\"")).expect("attribute") + name.len() + 3;
            tag[start..].split('"').next().unwrap().parse::<i32>().unwrap()
        };
        svg.split("<text")
            .skip(1)
            .map(|rest| {
                let (tag, body) = rest.split_once('>').expect("text tag closes");
                let content = body.split("</text>").next().unwrap().trim();
                let content = content.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"");
                let content = content.replace("&apos;", "'").replace("&amp;", "&");
                (content, attr(tag, "x"), attr(tag, "y"))
            })
            .collect()
    }

    fn has_text(svg: &str, wanted: &str) -> bool {
        texts(svg).iter().any(|(t, _, _)| t == wanted)
    }

    fn assert_well_formed(svg: &str) {
        assert!(svg.starts_with("<svg"), "starts with {:?}", &svg[..svg.len().min(40)]);
        assert!(svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<text").count(), svg.matches("</text>").count());
        assert!(!svg.contains("NaN") && !svg.contains("inf"), "a non-finite number leaked into the svg");
    }

    /// Stroke colours of the data lines: 2 px polylines with more than two points (dashed
    /// markers and legend swatches are two-point segments).
    fn data_lines(svg: &str) -> Vec<String> {
        svg.lines()
            .filter(|l| l.starts_with("<polyline") && l.contains("stroke-width=\"2\""))
            .filter(|l| {
                l.split("points=\"").nth(1).is_some_and(|p| p.split('"').next().unwrap().split_whitespace().count() > 2)
            })
            .map(|l| l.split("stroke=\"").nth(1).unwrap().split('"').next().unwrap().to_string())
            .collect()
    }

    fn hex(c: RGBColor) -> String {
        format!("#{:02X}{:02X}{:02X}", c.0, c.1, c.2)
    }

    fn legend_x_px() -> i32 {
        (SIZE.0 - LEGEND_WIDTH_PX) as i32
    }

    fn sample_cdf() -> String {
        let series =
            vec![("crash".to_string(), vec![120.0, 400.0, 900.0]), ("partition".to_string(), vec![800.0, 2500.0])];
        let bounds = vec![("crash".to_string(), 1000.0), ("partition".to_string(), 3000.0)];
        recovery_cdf(&series, &bounds)
    }

    #[test]
    fn cdf_has_one_line_per_kind_axes_bounds_and_legend() {
        let svg = sample_cdf();
        assert_well_formed(&svg);
        for label in ["Recovery time by fault kind (CDF)", "recovery time (ms)", "fraction of faults recovered"] {
            assert!(has_text(&svg, label), "missing {label:?}");
        }
        assert_eq!(data_lines(&svg), vec![hex(PALETTE[0]), hex(PALETTE[1])]);
        assert!(has_text(&svg, "crash bound 1000 ms"));
        assert!(has_text(&svg, "partition bound 3000 ms"));
        let legend: Vec<_> = texts(&svg).into_iter().filter(|(_, x, _)| *x >= legend_x_px()).collect();
        let legend: Vec<_> = legend.iter().map(|(t, _, _)| t.as_str()).collect();
        assert_eq!(legend, vec!["crash (n=3)", "partition (n=2)", "recovery bound"]);
    }

    #[test]
    fn cdf_switches_to_seconds_for_long_recoveries() {
        let series = vec![("crash".to_string(), vec![3_000.0, 15_000.0])];
        let svg = recovery_cdf(&series, &[("crash".to_string(), 12_500.0)]);
        assert!(has_text(&svg, "recovery time (s)"));
        assert!(has_text(&svg, "crash bound 12.5 s"));
    }

    #[test]
    fn cdf_drops_non_finite_values_and_empty_kinds() {
        let series = vec![
            ("crash".to_string(), vec![f64::NAN, 100.0, f64::INFINITY, 200.0]),
            ("ghost".to_string(), vec![f64::NAN, f64::NEG_INFINITY]),
        ];
        let svg = recovery_cdf(&series, &[("crash".to_string(), f64::NAN)]);
        assert_well_formed(&svg);
        assert!(has_text(&svg, "crash (n=2)"));
        assert!(!svg.contains("ghost") && !svg.contains("bound"));
        assert_eq!(data_lines(&svg).len(), 1);
    }

    #[test]
    fn bound_labels_at_one_spot_go_to_separate_rows() {
        let series: Vec<_> = (0..3).map(|k| (format!("kind{k}"), vec![100.0])).collect();
        let bounds: Vec<_> = (0..3).map(|k| (format!("kind{k}"), 500.0)).collect();
        let svg = recovery_cdf(&series, &bounds);
        let labels: Vec<_> = texts(&svg).into_iter().filter(|(t, _, _)| t.contains(" bound ")).collect();
        assert_eq!(labels.len(), 3);
        let mut rows: Vec<i32> = labels.iter().map(|(_, _, y)| *y).collect();
        rows.sort();
        rows.dedup();
        assert_eq!(rows.len(), 3, "labels share a row: {labels:?}");
    }

    fn sample_timeline() -> String {
        let points: Vec<_> = (0..60).map(|i| (f64::from(i), 100.0 + f64::from(i % 3), f64::from(i * 2))).collect();
        let faults = vec![
            ("crash".to_string(), 10.0, 20.0),
            ("partition".to_string(), 30.0, f64::INFINITY),
            ("skew".to_string(), f64::NAN, 5.0),
        ];
        timeline(&points, &faults, &[(0.0, 1), (15.0, 3)], None)
    }

    #[test]
    fn a_failing_seed_has_its_first_violation_marked() {
        let points: Vec<_> = (0..60).map(|i| (f64::from(i), 100.0, f64::from(i))).collect();
        let violation = (42.5, "lost_task on t1-188".to_string());
        let svg = timeline(&points, &[], &[(0.0, 1)], Some(&violation));
        assert_well_formed(&svg);
        assert!(has_text(&svg, "lost_task on t1-188"), "the violation is labelled");
        assert!(has_text(&svg, "first violation"), "and in the legend");
        // A solid red line in each panel, besides the legend's sample.
        assert_eq!(svg.matches("stroke=\"#C81E1E\"").count(), 3, "{svg}");
        assert!(!timeline(&points, &[], &[], None).contains("#C81E1E"));
    }

    #[test]
    fn timeline_has_both_axes_fault_windows_epochs_and_legend() {
        let svg = sample_timeline();
        assert_well_formed(&svg);
        for label in ["throughput (tasks/s)", "backlog (tasks)", "time (s)", "epoch 1", "epoch 3"] {
            assert!(has_text(&svg, label), "missing {label:?}");
        }
        // Each window is shaded in both panels; the window without a start is dropped.
        assert_eq!(svg.matches("opacity=\"0.2\" fill=\"#1F77B4\"").count(), 2);
        assert_eq!(svg.matches("opacity=\"0.2\" fill=\"#FF7F0E\"").count(), 2);
        assert!(!svg.contains("skew"));
        let legend: Vec<_> = texts(&svg).into_iter().filter(|(_, x, _)| *x >= legend_x_px()).collect();
        let legend: Vec<_> = legend.iter().map(|(t, _, _)| t.as_str()).collect();
        assert_eq!(legend, ["throughput", "backlog", "leader epoch", "fault windows:", "crash", "partition"]);
        // Fault windows are labelled by kind in the plot as well.
        assert_eq!(texts(&svg).iter().filter(|(t, x, _)| t == "crash" && *x < legend_x_px()).count(), 1);
        assert_eq!(data_lines(&svg), vec![hex(INK), hex(BACKLOG_COLOUR)]);
    }

    #[test]
    fn histogram_marks_p50_and_p99() {
        let latencies: Vec<f64> = (50..150).map(f64::from).collect();
        let svg = latency_histogram(&latencies);
        assert_well_formed(&svg);
        for label in ["Submit-to-success latency", "latency (ms)", "tasks (count)", "p50 99 ms", "p99 148 ms"] {
            assert!(has_text(&svg, label), "missing {label:?}");
        }
        assert!(has_text(&svg, "tasks (n=100)"));
        assert!(has_text(&svg, "p50 = 99 ms") && has_text(&svg, "p99 = 148 ms"));
        // 100 values fall in 10 bins of 10, each drawn as one bar (and one legend swatch).
        assert_eq!(svg.matches(&format!("fill=\"{}\"", hex(PALETTE[0]))).count(), 10 + 1);
    }

    #[test]
    fn histogram_uses_log_bins_for_wide_spans() {
        let latencies: Vec<f64> = (0..200).map(|i| 2.0 + f64::from(i * i)).collect();
        let svg = latency_histogram(&latencies);
        assert_well_formed(&svg);
        assert!(has_text(&svg, "latency (ms, log scale)"));
        assert!(latency_histogram(&[0.0, 1.0, 1000.0]).contains("latency (ms)"));
    }

    #[test]
    fn per_seed_has_one_colour_per_kind_and_a_legend() {
        let points = vec![
            ("crash".to_string(), 1, 300.0),
            ("crash".to_string(), 2, 350.0),
            ("partition".to_string(), 1, 900.0),
            ("partition".to_string(), 3, f64::NAN),
        ];
        let svg = recovery_per_seed(&points);
        assert_well_formed(&svg);
        for label in ["Recovery time per seed", "seed", "recovery time (ms)", "crash (n=2)", "partition (n=1)"] {
            assert!(has_text(&svg, label), "missing {label:?}");
        }
        let dots = |c: RGBColor| svg.matches(&format!("r=\"4\" opacity=\"1\" fill=\"{}\"", hex(c))).count();
        assert_eq!((dots(PALETTE[0]), dots(PALETTE[1])), (2, 1));
    }

    #[test]
    fn per_seed_labels_seeds_exactly_even_near_u64_max() {
        let points: Vec<_> = (0..3).map(|i| ("crash".to_string(), u64::MAX - 2 + i, 100.0)).collect();
        let svg = recovery_per_seed(&points);
        assert!(has_text(&svg, &(u64::MAX - 2).to_string()), "{:?}", texts(&svg));
    }

    #[test]
    fn empty_or_all_non_finite_input_gives_a_no_data_plot() {
        let nan = f64::NAN;
        let svgs = [
            recovery_cdf(&[], &[]),
            recovery_cdf(&[("crash".to_string(), vec![nan])], &[("crash".to_string(), 5.0)]),
            timeline(&[], &[], &[], None),
            timeline(&[(nan, 1.0, 1.0)], &[("crash".to_string(), nan, nan)], &[(nan, 1)], Some(&(nan, "x".into()))),
            latency_histogram(&[]),
            latency_histogram(&[nan, f64::INFINITY]),
            recovery_per_seed(&[]),
            recovery_per_seed(&[("crash".to_string(), 1, nan)]),
        ];
        for svg in &svgs {
            assert_well_formed(svg);
            assert!(has_text(svg, "no data"));
        }
        assert!(has_text(&svgs[2], "time (s)") && has_text(&svgs[2], "throughput (tasks/s)"));
    }

    #[test]
    fn extreme_values_do_not_panic_or_hang() {
        for big in [f64::MAX, MAX_PLOT_VALUE] {
            assert!(recovery_cdf(&[("a".to_string(), vec![-big, big])], &[]).starts_with("<svg"));
            assert!(timeline(&[(0.0, big, -big), (big, 0.0, 0.0)], &[], &[(big, u64::MAX)], None).starts_with("<svg"));
            assert!(latency_histogram(&[f64::MIN_POSITIVE, big]).starts_with("<svg"));
            assert!(latency_histogram(&[7.0; 50]).starts_with("<svg"));
            assert!(
                recovery_per_seed(&[("a".to_string(), 0, big), ("b".to_string(), u64::MAX, -big)]).starts_with("<svg")
            );
        }
        assert!(latency_histogram(&[f64::MIN_POSITIVE, 1.0, 1e9]).starts_with("<svg"));
    }

    #[test]
    fn many_kinds_fit_the_legend_with_a_count_of_the_rest() {
        let points: Vec<_> = (0..40u64).map(|k| (format!("kind-{k:02}"), k, 10.0)).collect();
        let svg = recovery_per_seed(&points);
        let legend: Vec<_> = texts(&svg).into_iter().filter(|(_, x, _)| *x >= legend_x_px()).collect();
        let last = &legend.last().unwrap().0;
        assert!(last.starts_with('+') && last.ends_with(" more"), "{last:?}");
        let shown = legend.len() - 1;
        assert_eq!(last, &format!("+{} more", 40 - shown));
        assert!(legend.iter().all(|(_, _, y)| *y < SIZE.1 as i32));
    }

    #[test]
    fn text_is_escaped_and_output_is_deterministic() {
        let series = vec![("a<b&\"c\"".to_string(), vec![1.0, 2.0])];
        let svg = recovery_cdf(&series, &[]);
        assert!(svg.contains("a&lt;b&amp;&quot;c&quot; (n=2)"));
        assert_eq!(svg, recovery_cdf(&series, &[]));
        assert_eq!(sample_timeline(), sample_timeline());
    }
}
