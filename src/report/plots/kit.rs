//! The shared kit of every plot: rendering into an SVG string, charts, meshes, notes,
//! legends, ranges and number formats.

use super::*;

/// Draws into a fresh SVG string: white background, title, then `draw` on the area below
/// the title. Drawing into a string cannot fail in practice; if plotters reports an error
/// anyway, the result is a plot that says so rather than a panic.
pub(super) fn render(size: (u32, u32), title: &str, draw: impl FnOnce(&Area) -> DrawResult) -> String {
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

pub(super) fn draw_root(
    svg: &mut String,
    size: (u32, u32),
    title: &str,
    draw: impl FnOnce(&Area) -> DrawResult,
) -> DrawResult {
    let root = SVGBackend::with_string(svg, size).into_drawing_area();
    root.fill(&WHITE)?;
    let body = root.titled(title, (FONT, TITLE_SIZE).into_font().color(&INK))?;
    draw(&body)?;
    root.present()?;
    Ok(())
}

/// An empty chart with the axis descriptions and "no data" in its middle.
pub(super) fn draw_no_data(area: &Area, x_desc: &str, y_desc: &str) -> DrawResult {
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

pub(super) fn draw_message(area: &Area, message: &str) -> DrawResult {
    let (w, h) = area.dim_in_pixel();
    let style = (FONT, AXIS_DESC_SIZE).into_font().color(&INK).pos(Pos::new(HPos::Center, VPos::Center));
    area.draw(&Text::new(message, (w as i32 / 2, h as i32 / 2), style))?;
    Ok(())
}

/// The plot on the left, the legend panel on the right.
pub(super) fn split_legend<'a>(area: &Area<'a>) -> (Area<'a>, Area<'a>) {
    let width = area.dim_in_pixel().0;
    area.split_horizontally(width.saturating_sub(LEGEND_WIDTH_PX))
}

pub(super) fn build_chart<'a, 'b, XS, YS>(
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
pub(super) fn draw_mesh<X, Y>(
    chart: &mut Chart<X, Y>,
    x_desc: &str,
    y_desc: &str,
    x_labels: usize,
    y_labels: usize,
) -> DrawResult
where
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let axes = Axes { x_desc: Some(x_desc), y_desc, x_labels, y_labels, x_label: &|v| fmt_num(*v) };
    draw_axes(chart, &axes)
}

/// What `draw_axes` draws: the descriptions (none on an x axis another panel shares), the
/// number of tick labels, and how an x tick reads.
pub(super) struct Axes<'a> {
    pub(super) x_desc: Option<&'a str>,
    pub(super) y_desc: &'a str,
    pub(super) x_labels: usize,
    pub(super) y_labels: usize,
    pub(super) x_label: &'a dyn Fn(&f64) -> String,
}

/// The one mesh style of every plot: fonts, faint grid lines, numbers formatted alike.
pub(super) fn draw_axes<X, Y>(chart: &mut Chart<X, Y>, axes: &Axes) -> DrawResult
where
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let mut mesh = chart.configure_mesh();
    if let Some(x_desc) = axes.x_desc {
        mesh.x_desc(x_desc);
    }
    mesh.y_desc(axes.y_desc)
        .x_labels(axes.x_labels)
        .y_labels(axes.y_labels)
        .x_label_formatter(axes.x_label)
        .y_label_formatter(&|v| fmt_num(*v))
        .axis_desc_style((FONT, AXIS_DESC_SIZE))
        .label_style((FONT, TICK_SIZE))
        .light_line_style(TRANSPARENT)
        .bold_line_style(BLACK.mix(0.08))
        .draw()?;
    Ok(())
}

pub(super) fn draw_vline<X, Y>(chart: &mut Chart<X, Y>, x: f64, y: Range<f64>, colour: RGBColor) -> DrawResult
where
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    let line = [(x, y.start), (x, y.end)];
    chart.draw_series(DashedLineSeries::new(line, 6, 4, colour.stroke_width(2)))?;
    Ok(())
}

/// A label for a vertical marker at data x.
pub(super) struct Note {
    pub(super) x: f64,
    pub(super) text: String,
    pub(super) colour: RGBColor,
}

#[derive(Clone, Copy)]
pub(super) enum Edge {
    Top,
    Bottom,
}

/// Draws labels beside their markers in up to `max_rows` rows at one edge of the plot,
/// each in the first row where it overlaps no other; a label that fits no row is left
/// out (its marker and the legend still show).
pub(super) fn draw_notes<X, Y>(chart: &mut Chart<X, Y>, notes: &[Note], edge: Edge, max_rows: usize) -> DrawResult
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

pub(super) enum Swatch {
    /// A heading over the entries below it.
    None,
    Line,
    Dashed,
    Shade,
    Dot,
}

pub(super) struct LegendEntry {
    pub(super) label: String,
    pub(super) colour: RGBColor,
    pub(super) swatch: Swatch,
}

impl LegendEntry {
    pub(super) fn heading(label: String) -> Self {
        LegendEntry { label, colour: INK, swatch: Swatch::None }
    }
    pub(super) fn line(label: String, colour: RGBColor) -> Self {
        LegendEntry { label, colour, swatch: Swatch::Line }
    }
    pub(super) fn dashed(label: String, colour: RGBColor) -> Self {
        LegendEntry { label, colour, swatch: Swatch::Dashed }
    }
    pub(super) fn shade(label: String, colour: RGBColor) -> Self {
        LegendEntry { label, colour, swatch: Swatch::Shade }
    }
    pub(super) fn dot(label: String, colour: RGBColor) -> Self {
        LegendEntry { label, colour, swatch: Swatch::Dot }
    }
}

/// The legend panel: one row per entry, labels shortened to fit, and "+N more" when the
/// entries outnumber the rows.
pub(super) fn draw_legend(area: &Area, entries: &[LegendEntry]) -> DrawResult {
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
pub(super) fn draw_swatch(area: &Area, entry: &LegendEntry, (x, y): (i32, i32)) -> DrawResult {
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
pub(super) struct KindColours(pub(super) BTreeMap<String, RGBColor>);

impl KindColours {
    pub(super) fn new<'a>(kinds: impl Iterator<Item = &'a str>) -> Self {
        let kinds: BTreeSet<&str> = kinds.collect();
        let colours = kinds.into_iter().enumerate().map(|(i, k)| (k.to_string(), PALETTE[i % PALETTE.len()]));
        KindColours(colours.collect())
    }

    pub(super) fn get(&self, kind: &str) -> RGBColor {
        self.0.get(kind).copied().unwrap_or(INK)
    }
}

/// The unit durations are shown in.
#[derive(Clone, Copy)]
pub(super) struct TimeUnit {
    pub(super) name: &'static str,
    pub(super) ms_per_unit: f64,
}

impl TimeUnit {
    pub(super) fn for_max_ms(max_ms: f64) -> Self {
        if max_ms >= SECONDS_FROM_MS {
            TimeUnit { name: "s", ms_per_unit: 1000.0 }
        } else {
            TimeUnit { name: "ms", ms_per_unit: 1.0 }
        }
    }

    pub(super) fn of(self, ms: f64) -> f64 {
        ms / self.ms_per_unit
    }
}

/// `lo..hi` widened by `pad_frac` of its span, or by at least `pad_min` (or 1 when both
/// are zero) on each side, so the range is never empty.
pub(super) fn padded_range(lo: f64, hi: f64, pad_min: f64, pad_frac: f64) -> Range<f64> {
    let pad = ((hi - lo) * pad_frac).max(pad_min);
    if hi - lo + 2.0 * pad > 1e-9 {
        lo - pad..hi + pad
    } else {
        lo - 0.5..hi + 0.5
    }
}

/// Whether a value can be plotted: finite and within +-`MAX_PLOT_VALUE`, so no range or
/// padding computed from it overflows and a range of one value can still be widened.
pub(super) fn usable(v: f64) -> bool {
    v.is_finite() && v.abs() <= MAX_PLOT_VALUE
}

pub(super) fn sorted_finite(values: &[f64]) -> Vec<f64> {
    let mut finite: Vec<f64> = values.iter().copied().filter(|v| usable(*v)).collect();
    finite.sort_by(f64::total_cmp);
    finite
}

/// A tick or value label: at most 3 decimals, no trailing zeros, no "-0".
pub(super) fn fmt_num(v: f64) -> String {
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
pub(super) fn fmt_value(v: f64) -> String {
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
pub(super) fn text_width_px(text: &str, size: u32) -> i32 {
    let font_px = f64::from(size) / 1.24;
    (text.chars().count() as f64 * font_px * 0.62).ceil() as i32 + 2
}

pub(super) fn shorten(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_string();
    }
    let mut short: String = text.chars().take(max_chars.saturating_sub(1)).collect();
    short.push('…');
    short
}

/// A darker shade of a palette colour, for text on white.
pub(super) fn darken(c: RGBColor) -> RGBColor {
    let d = |v: u8| (f64::from(v) * 0.72) as u8;
    RGBColor(d(c.0), d(c.1), d(c.2))
}
