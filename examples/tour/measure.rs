//! Tiny timing and printing helpers for the tour (criterion does the careful measuring in
//! `benches/`).

use std::hint::black_box;
use std::time::{Duration, Instant};

/// Median time per call of `f`, over several rounds of `iters` calls.
pub fn per_call<R>(iters: u32, mut f: impl FnMut() -> R) -> Duration {
    let mut rounds: Vec<Duration> = (0..7)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..iters {
                black_box(f());
            }
            start.elapsed() / iters
        })
        .collect();
    rounds.sort();
    rounds[rounds.len() / 2]
}

/// `Duration` as nanoseconds with one decimal, for tables.
pub fn ns(d: Duration) -> String {
    format!("{:.1} ns", d.as_secs_f64() * 1e9)
}

/// A duration in the unit that suits it (ns, µs, ms, s), three significant digits or so.
pub fn dur(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 1e-6 {
        format!("{:.1} ns", s * 1e9)
    } else if s < 1e-3 {
        format!("{:.2} µs", s * 1e6)
    } else if s < 1.0 {
        format!("{:.2} ms", s * 1e3)
    } else {
        format!("{s:.2} s")
    }
}

/// The median of `samples` (sorted in place).
pub fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// A table printed with aligned columns: the first column left-aligned, the others right-aligned
/// (figures), indented by two spaces.
pub struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headings.
    pub fn new(header: &[&str]) -> Self {
        Self {
            rows: vec![header.iter().map(|h| h.to_string()).collect()],
        }
    }

    /// Appends a row (as many cells as headings).
    pub fn row(&mut self, cells: &[&dyn std::fmt::Display]) -> &mut Self {
        self.rows
            .push(cells.iter().map(|c| c.to_string()).collect());
        self
    }

    /// Prints the table.
    pub fn print(&self) {
        let columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let width: Vec<usize> = (0..columns)
            .map(|i| {
                self.rows
                    .iter()
                    .filter_map(|r| r.get(i))
                    .map(|c| c.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        for (n, row) in self.rows.iter().enumerate() {
            let mut line = String::from(" ");
            for (i, cell) in row.iter().enumerate() {
                let pad = width[i] - cell.chars().count();
                line.push(' ');
                if i == 0 {
                    line.push_str(cell);
                    line.extend(std::iter::repeat_n(' ', pad));
                } else {
                    line.push(' ');
                    line.extend(std::iter::repeat_n(' ', pad));
                    line.push_str(cell);
                }
            }
            println!("{}", line.trim_end());
            if n == 0 {
                let total = width.iter().sum::<usize>() + 3 * columns.saturating_sub(1);
                println!("  {}", "-".repeat(total));
            }
        }
    }
}
