//! The latency histogram, linear or log bins, with p50 and p99 marked.

use super::*;

/// Binned latencies: `counts[i]` values fall in `edges[i]..edges[i + 1]`.
pub(super) struct Histo {
    pub(super) edges: Vec<f64>,
    pub(super) counts: Vec<u64>,
    pub(super) log: bool,
    pub(super) n: usize,
    pub(super) p50: f64,
    pub(super) p99: f64,
}

impl Histo {
    /// `sorted` is non-empty, finite and ascending.
    pub(super) fn new(sorted: &[f64]) -> Self {
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
pub(super) fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub(super) fn draw_histogram<XS>(area: &Area, x: XS, hist: &Histo, x_desc: &str) -> DrawResult
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
