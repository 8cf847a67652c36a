//! Reading the operator's Prometheus text exposition.

/// The admissions counted in `text`, summed over every outcome (or only `outcome`).
pub fn admissions_with(text: &str, outcome: Option<&str>) -> u64 {
    let prefix = match outcome {
        Some(outcome) => format!("openlit_operator_admissions_total{{outcome=\"{outcome}\"}} "),
        None => "openlit_operator_admissions_total{".to_string(),
    };
    text.lines()
        .filter(|l| l.starts_with(&prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// The admissions counted in `text`, every outcome.
pub fn admissions(text: &str) -> u64 {
    admissions_with(text, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# TYPE openlit_operator_admissions_total counter\n\
        openlit_operator_admissions_total{outcome=\"instrumented\"} 3\n\
        openlit_operator_admissions_total{outcome=\"skipped\"} 2\n\
        openlit_operator_reconciles_total 9\n";

    #[test]
    fn sums_every_outcome_or_one() {
        assert_eq!(admissions(TEXT), 5);
        assert_eq!(admissions_with(TEXT, Some("instrumented")), 3);
        assert_eq!(admissions_with(TEXT, Some("refused")), 0);
    }
}
