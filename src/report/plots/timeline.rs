//! The timeline: throughput and backlog panels with fault windows, leader epochs and a
//! failing seed's first violation.

use super::*;

/// The timeline's input, cleaned: finite, sorted, windows clipped to the time range.
pub(super) struct TimelineData {
    pub(super) throughput: Vec<(f64, f64)>,
    pub(super) backlog: Vec<(f64, f64)>,
    /// (kind, start s, end s), start <= end, within `t`.
    pub(super) faults: Vec<(String, f64, f64)>,
    pub(super) epochs: Vec<(f64, u64)>,
    /// (t s, label), within `t`.
    pub(super) violation: Option<(f64, String)>,
    pub(super) t: Range<f64>,
}

impl TimelineData {
    /// None when there is nothing to draw.
    pub(super) fn new(
        points: &[(f64, f64, f64)],
        faults: &[(String, f64, f64)],
        epochs: &[(f64, u64)],
    ) -> Option<Self> {
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
    pub(super) fn with_violation(mut self, violation: Option<(f64, String)>) -> Self {
        if let Some((at, _)) = &violation {
            self.t = self.t.start.min(*at)..self.t.end.max(*at);
        }
        self.violation = violation;
        self
    }
}

pub(super) fn draw_timeline(area: &Area, data: &TimelineData) -> DrawResult {
    let colours = KindColours::new(data.faults.iter().map(|f| f.0.as_str()));
    let (plot, legend) = split_legend(area);
    let (top, bottom) = plot.split_vertically(plot.dim_in_pixel().1 * 45 / 100);
    draw_throughput_panel(&top, data, &colours)?;
    draw_backlog_panel(&bottom, data, &colours)?;
    draw_legend(&legend, &timeline_legend(data, &colours))
}

/// The upper panel: throughput, fault windows labelled by kind, epoch lines. Its x axis
/// has no tick labels: it shares the lower panel's.
pub(super) fn draw_throughput_panel(area: &Area, data: &TimelineData, colours: &KindColours) -> DrawResult {
    let fault_rows = if data.faults.is_empty() { 0 } else { 3 };
    let y_top = headroom_range(data.throughput.iter().map(|p| p.1), fault_rows.max(data.violation.is_some() as usize));
    let mut chart = build_chart(area, data.t.clone(), y_top.clone(), 8)?;
    // No x descriptions or tick labels: it shares the lower panel's time axis.
    let axes =
        Axes { x_desc: None, y_desc: "throughput (tasks/s)", x_labels: 10, y_labels: 5, x_label: &|_| String::new() };
    draw_axes(&mut chart, &axes)?;
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
pub(super) fn draw_backlog_panel(area: &Area, data: &TimelineData, colours: &KindColours) -> DrawResult {
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

pub(super) fn timeline_legend(data: &TimelineData, colours: &KindColours) -> Vec<LegendEntry> {
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

pub(super) fn draw_fault_windows<X, Y>(
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

pub(super) fn draw_epoch_lines<X, Y>(chart: &mut Chart<X, Y>, epochs: &[(f64, u64)], y: Range<f64>) -> DrawResult
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
pub(super) fn draw_violation_line<X, Y>(
    chart: &mut Chart<X, Y>,
    violation: Option<&(f64, String)>,
    y: Range<f64>,
) -> DrawResult
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
pub(super) fn headroom_range(values: impl Iterator<Item = f64>, note_rows: usize) -> Range<f64> {
    let (min, max) = values.fold((0.0, 0.0), |(lo, hi): (f64, f64), v| (lo.min(v), hi.max(v)));
    let span = if max - min > 0.0 { max - min } else { 1.0 };
    min..min + span * (1.08 + 0.12 * note_rows as f64)
}
