//! The recovery-time CDF: one step curve per fault kind, with optional bound lines.

use super::*;

pub(super) fn draw_recovery_cdf(
    area: &Area,
    curves: &[(&str, Vec<f64>)],
    bounds: &[(&str, f64)],
    y_desc: &str,
) -> DrawResult {
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
pub(super) fn cdf_steps(sorted: impl ExactSizeIterator<Item = f64>, x_start: f64, x_end: f64) -> Vec<(f64, f64)> {
    let n = sorted.len() as f64;
    let mut steps = vec![(x_start, 0.0)];
    for (i, x) in sorted.enumerate() {
        steps.push((x, i as f64 / n));
        steps.push((x, (i + 1) as f64 / n));
    }
    steps.push((x_end, 1.0));
    steps
}
