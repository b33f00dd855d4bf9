//! The PNG bar chart: slowdown vs native per workload (groups) and executor (bars), on a log
//! scale, with a line at 1x; a capped cell's bar stops at its lower bound, paler, under a `>`. Text is drawn with DejaVu Sans (Debian `fonts-dejavu-core`),
//! loaded at run time so the bench links no system font libraries.

use std::path::Path;

use anyhow::{Context, Result, anyhow};
use plotters::prelude::*;
use plotters::style::FontStyle;
use plotters::style::text_anchor;

use crate::measure::Row;
use crate::report::{Slowdown, slowdown};

/// Where Debian's fonts-dejavu-core puts the font.
const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

const PALETTE: [RGBColor; 5] = [
    RGBColor(0x4c, 0x72, 0xb0),
    RGBColor(0xdd, 0x84, 0x52),
    RGBColor(0x55, 0xa8, 0x68),
    RGBColor(0xc4, 0x4e, 0x52),
    RGBColor(0x81, 0x72, 0xb3),
];

/// Draws the chart of `rows` (start-up rows left out) for executors `1..` into `path`.
pub fn draw(rows: &[Row], executors: &[&str], path: &Path) -> Result<()> {
    let font = std::fs::read(FONT)
        .with_context(|| format!("reading {FONT} (sudo apt-get install -y fonts-dejavu-core)"))?;
    plotters::style::register_font(
        "sans-serif",
        FontStyle::Normal,
        Box::leak(font.into_boxed_slice()),
    )
    .map_err(|_| anyhow!("{FONT} is not a usable TrueType font"))?;
    let rows: Vec<&Row> = rows.iter().filter(|r| !r.workload.startup).collect();
    let series: Vec<usize> = (1..executors.len()).collect();
    let ratios: Vec<f64> = rows
        .iter()
        .flat_map(|r| series.iter().filter_map(|&c| slowdown(r, c)))
        .map(Slowdown::value)
        .collect();
    let (lo, hi) = bounds(&ratios);

    let root = BitMapBackend::new(path, (1400, 700)).into_drawing_area();
    root.fill(&WHITE).map_err(draw_error)?;
    let groups = rows.len().max(1) as f64;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Slowdown vs native (median wall time, log scale; lower is better)",
            ("sans-serif", 26),
        )
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..groups, (lo..hi).log_scale())
        .map_err(draw_error)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .y_desc("x native")
        .y_label_formatter(&|v| {
            if *v >= 1.0 {
                format!("{v:.0}x")
            } else {
                format!("{v:.1}x")
            }
        })
        .light_line_style(TRANSPARENT)
        .label_style(("sans-serif", 16))
        .draw()
        .map_err(draw_error)?;

    let width = 0.8 / series.len().max(1) as f64;
    for (s, &c) in series.iter().enumerate() {
        let color = PALETTE[s % PALETTE.len()];
        let bars = rows.iter().enumerate().filter_map(|(g, row)| {
            let x0 = g as f64 + 0.1 + s as f64 * width;
            slowdown(row, c).map(|s| {
                let fill = match s {
                    Slowdown::Exact(_) => color.filled(),
                    Slowdown::AtLeast(_) => color.mix(0.4).filled(),
                };
                Rectangle::new([(x0, lo), (x0 + width * 0.9, s.value())], fill)
            })
        });
        chart
            .draw_series(bars)
            .map_err(draw_error)?
            .label(executors[c])
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 12, y + 6)], color.filled()));
    }
    chart
        .draw_series(LineSeries::new(
            [(0.0, 1.0), (groups, 1.0)],
            BLACK.stroke_width(1),
        ))
        .map_err(draw_error)?
        .label("native (1x)")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 12, y)], BLACK));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font(("sans-serif", 16))
        .draw()
        .map_err(draw_error)?;

    // Workload names under each group, "n/a" where an executor has no ratio, ">" over a bound.
    let label = ("sans-serif", 16)
        .into_font()
        .color(&BLACK)
        .pos(text_anchor::Pos::new(
            text_anchor::HPos::Center,
            text_anchor::VPos::Top,
        ));
    let note = ("sans-serif", 11)
        .into_font()
        .color(&RGBColor(0x88, 0x88, 0x88));
    for (g, row) in rows.iter().enumerate() {
        let (x, y) = chart.backend_coord(&(g as f64 + 0.5, lo));
        root.draw(&Text::new(row.workload.name, (x, y + 8), label.clone()))
            .map_err(draw_error)?;
        for (s, &c) in series.iter().enumerate() {
            let x0 = g as f64 + 0.1 + s as f64 * width;
            let (text, at) = match slowdown(row, c) {
                None => ("n/a", lo),
                Some(Slowdown::AtLeast(v)) => (">", v),
                Some(Slowdown::Exact(_)) => continue,
            };
            let (x, y) = chart.backend_coord(&(x0, at));
            root.draw(&Text::new(text, (x, y - 14), note.clone()))
                .map_err(draw_error)?;
        }
    }
    root.present().map_err(draw_error)?;
    Ok(())
}

/// The y range: a little below the smallest ratio (at most 0.5x) to a little above the largest.
fn bounds(ratios: &[f64]) -> (f64, f64) {
    let min = ratios.iter().copied().fold(f64::INFINITY, f64::min);
    let max = ratios.iter().copied().fold(0.0, f64::max);
    let lo = if min.is_finite() {
        (min * 0.7).min(0.5)
    } else {
        0.5
    };
    let hi = (max * 1.5).max(10.0);
    (lo, hi)
}

fn draw_error<E: std::error::Error + Send + Sync>(e: DrawingAreaErrorKind<E>) -> anyhow::Error {
    anyhow!("drawing the chart: {e}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_cover_the_ratios() {
        assert_eq!(bounds(&[]), (0.5, 10.0));
        let (lo, hi) = bounds(&[1.1, 31.0, 4.0]);
        assert!(lo <= 0.5 && hi >= 31.0 * 1.5 - 1e-9);
        let (lo, _) = bounds(&[0.2]);
        assert!(lo < 0.2);
    }
}
