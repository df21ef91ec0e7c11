//! Recovery per seed: one point per firing, coloured by fault kind.

use super::*;

pub(super) fn draw_recovery_per_seed(area: &Area, points: &[(&str, u64, f64)]) -> DrawResult {
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
    let y_desc = format!("recovery time ({})", unit.name);
    let axes = Axes { x_desc: Some("seed"), y_desc: &y_desc, x_labels, y_labels: 6, x_label: &seed_label };
    draw_axes(&mut chart, &axes)?;

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
