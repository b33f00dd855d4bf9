//! Summary statistics for timings: the median of a cell's runs, the geometric mean of ratios
//! across workloads, and the human formatting of both.

/// The median of `values` (the mean of the middle two for an even count); `None` when empty.
pub fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    Some(if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    })
}

/// The geometric mean of positive `values`; `None` when there are none (non-positive values
/// have no logarithm and are ignored).
pub fn geomean(values: &[f64]) -> Option<f64> {
    let logs: Vec<f64> = values
        .iter()
        .filter(|v| **v > 0.0)
        .map(|v| v.ln())
        .collect();
    if logs.is_empty() {
        return None;
    }
    Some((logs.iter().sum::<f64>() / logs.len() as f64).exp())
}

/// A slowdown ratio with as many digits as are meaningful: `1.23x`, `12.3x`, `123x`.
pub fn format_ratio(ratio: f64) -> String {
    if ratio < 10.0 {
        format!("{ratio:.2}x")
    } else if ratio < 100.0 {
        format!("{ratio:.1}x")
    } else {
        format!("{ratio:.0}x")
    }
}

/// A duration in seconds, shown in milliseconds below one second: `0.84 ms`, `412 ms`, `2.31 s`.
pub fn format_seconds(seconds: f64) -> String {
    if seconds < 0.01 {
        format!("{:.2} ms", seconds * 1e3)
    } else if seconds < 1.0 {
        format!("{:.0} ms", seconds * 1e3)
    } else {
        format!("{seconds:.2} s")
    }
}

/// A byte count in binary units: `18.2 KiB`, `1.9 MiB`.
pub fn format_bytes(bytes: u64) -> String {
    let b = bytes as f64;
    if b < 1024.0 {
        format!("{bytes} B")
    } else if b < 1024.0 * 1024.0 {
        format!("{:.1} KiB", b / 1024.0)
    } else if b < 1024.0 * 1024.0 * 1024.0 {
        format!("{:.1} MiB", b / (1024.0 * 1024.0))
    } else {
        format!("{:.2} GiB", b / (1024.0 * 1024.0 * 1024.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_odd_even_empty() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[7.5]), Some(7.5));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn median_is_robust_to_one_outlier() {
        assert_eq!(median(&[1.0, 1.1, 100.0, 0.9, 1.05]), Some(1.05));
    }

    #[test]
    fn geomean_of_ratios() {
        let g = geomean(&[2.0, 8.0]).unwrap();
        assert!((g - 4.0).abs() < 1e-12);
        let g = geomean(&[1.0, 10.0, 100.0]).unwrap();
        assert!((g - 10.0).abs() < 1e-9);
        assert_eq!(geomean(&[]), None);
        assert_eq!(geomean(&[0.0, -1.0]), None);
        assert!((geomean(&[0.0, 5.0]).unwrap() - 5.0).abs() < 1e-12);
    }

    #[test]
    fn formatting() {
        assert_eq!(format_ratio(1.234), "1.23x");
        assert_eq!(format_ratio(31.04), "31.0x");
        assert_eq!(format_ratio(265.4), "265x");
        assert_eq!(format_seconds(0.00084), "0.84 ms");
        assert_eq!(format_seconds(0.4123), "412 ms");
        assert_eq!(format_seconds(2.314), "2.31 s");
        assert_eq!(format_bytes(512), "512 B");
        assert_eq!(format_bytes(18_637), "18.2 KiB");
        assert_eq!(format_bytes(2_000_000), "1.9 MiB");
    }
}
