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

mod cdf;
mod histogram;
mod kit;
mod per_seed;
mod timeline;

use cdf::*;
use histogram::*;
use kit::*;
use per_seed::*;
use timeline::*;

#[cfg(test)]
mod tests;
