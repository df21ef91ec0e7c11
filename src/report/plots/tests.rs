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
    let series = vec![("crash".to_string(), vec![120.0, 400.0, 900.0]), ("partition".to_string(), vec![800.0, 2500.0])];
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
        assert!(recovery_per_seed(&[("a".to_string(), 0, big), ("b".to_string(), u64::MAX, -big)]).starts_with("<svg"));
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
