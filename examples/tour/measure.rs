//! Tiny timing and printing helpers for the tour (criterion does the careful measuring in
//! `benches/`).

// examples/sensor_readings.rs includes this file too (`#[path]`) and uses only a part of it.
#![allow(dead_code)]

use std::hint::black_box;
use std::time::{Duration, Instant};

/// A time per call, kept to a fraction of a nanosecond (a `Duration` stops at whole ones).
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd)]
pub struct PerCall(f64);

impl PerCall {
    /// Seconds per call.
    pub fn as_secs_f64(self) -> f64 {
        self.0
    }

    /// As a `Duration` (rounded to whole nanoseconds).
    pub fn as_duration(self) -> Duration {
        Duration::from_secs_f64(self.0)
    }
}

/// Median time per call of `f`, over 7 rounds of `iters` calls.
pub fn per_call<R>(iters: u32, mut f: impl FnMut() -> R) -> PerCall {
    let mut rounds: Vec<f64> = (0..7)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..iters {
                black_box(f());
            }
            start.elapsed().as_secs_f64() / f64::from(iters)
        })
        .collect();
    rounds.sort_by(f64::total_cmp);
    PerCall(rounds[rounds.len() / 2])
}

/// The fastest of `rounds` rounds of `iters` calls of `f`: on a shared machine this filters out
/// time the thread spent descheduled, which few-nanosecond differences would drown in.
pub fn fastest_per_call<R>(rounds: u32, iters: u32, mut f: impl FnMut() -> R) -> PerCall {
    let fastest = (0..rounds)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..iters {
                black_box(f());
            }
            start.elapsed().as_secs_f64() / f64::from(iters)
        })
        .fold(f64::INFINITY, f64::min);
    PerCall(fastest)
}

/// A time per call as nanoseconds with one decimal, for tables.
pub fn ns(t: PerCall) -> String {
    format!("{:.1} ns", t.0 * 1e9)
}

/// `a / b`, as `1.23x`.
pub fn ratio(a: PerCall, b: PerCall) -> String {
    format!("{:.2}x", a.0 / b.0)
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
