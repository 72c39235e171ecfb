//! Python's import-time AST transform, done at compile time.
//!
//! The Python original loads a module through a custom loader that parses its source, inserts
//! `print('enter <name>')` at the top of every function, and executes the rewritten tree:
//!
//! ```python
//! for node in ast.walk(tree):
//!     if isinstance(node, ast.FunctionDef):
//!         node.body.insert(0, ast.parse(f"print('enter {node.name}')").body[0])
//! ```
//!
//! Here `#[keel::instrument]` on an inline module rewrites every function inside it (impl blocks
//! and nested modules included) when the crate compiles. The `Stderr` sink prints the same
//! `enter …` lines; the `Stats` sink turns the same events into a small APM table. Turn it off
//! and the rewritten functions cost one atomic load more than the originals.
//!
//! ```text
//! cargo run --release --example instrument_module
//! KEEL_TRACE=instrument_module::calculator::parser cargo run --example instrument_module
//! ```

#![deny(warnings, clippy::all)]

use keel::trace::{self, Stats, Stderr};
use std::time::Instant;

/// A tiny calculator: every function in here is instrumented, as if loaded through the Python
/// `InstrumentLoader`.
#[keel::instrument]
mod calculator {
    pub mod lexer {
        #[derive(Debug, Clone, Copy, PartialEq)]
        pub enum Token {
            Number(i64),
            Plus,
            Times,
        }

        pub fn tokenize(source: &str) -> Result<Vec<Token>, String> {
            source
                .split_whitespace()
                .map(|word| match word {
                    "+" => Ok(Token::Plus),
                    "*" => Ok(Token::Times),
                    number => number
                        .parse()
                        .map(Token::Number)
                        .map_err(|_| format!("not a number: {number:?}")),
                })
                .collect()
        }
    }

    pub mod parser {
        use super::lexer::Token;

        /// Sum of products, left to right.
        pub fn evaluate(tokens: &[Token]) -> Result<i64, String> {
            let mut sum = 0;
            for term in tokens.split(|t| *t == Token::Plus) {
                sum += product(term)?;
            }
            Ok(sum)
        }

        fn product(factors: &[Token]) -> Result<i64, String> {
            let mut value = 1;
            for factor in factors.split(|t| *t == Token::Times) {
                match factor {
                    [Token::Number(n)] => value *= n,
                    other => return Err(format!("expected a number, got {other:?}")),
                }
            }
            Ok(value)
        }
    }

    pub fn run(source: &str) -> Result<i64, String> {
        let tokens = lexer::tokenize(source)?;
        parser::evaluate(&tokens)
    }

    /// The hot loop opts out, like a targeted Python transform would skip it.
    #[keel::instrument(skip)]
    pub fn run_many(sources: &[&str]) -> usize {
        sources.iter().filter(|s| run(s).is_ok()).count()
    }
}

fn main() {
    let env_filter = std::env::var("KEEL_TRACE").ok();
    // 1. The Python original: print `enter <function>` on every call.
    if env_filter.is_none() {
        trace::add_sink(Stderr::enters_only());
        trace::enable();
    }
    println!("== every function entry, printed by the Stderr sink (on stderr):");
    let answer = calculator::run("2 * 3 + 4");
    println!("2 * 3 + 4 = {answer:?}\n");
    let bad = calculator::run("2 * x");
    println!("2 * x = {bad:?}\n");
    trace::clear_sinks();

    // 2. The same events, aggregated: a small APM.
    let stats = Stats::new();
    trace::add_sink(stats.clone());
    trace::enable();
    let inputs = ["1 + 2 * 3", "4 * 5 * 6 + 7", "8 +", "9 * 9 + 1 * 2 + 3"];
    let start = Instant::now();
    for _ in 0..20_000 {
        for input in inputs {
            let _ = calculator::run(input);
        }
    }
    let traced = start.elapsed();
    println!("== Stats after {} traced runs:", 20_000 * inputs.len());
    println!("{}", stats.report());

    // 3. Switched off: the rewritten functions cost one atomic load more than the originals.
    trace::disable();
    let start = Instant::now();
    let mut ok = 0;
    for _ in 0..20_000 {
        ok += calculator::run_many(&inputs);
    }
    let untraced = start.elapsed();
    println!(
        "{} runs: {:.1} ms traced into Stats, {:.1} ms with tracing off ({ok} succeeded)",
        20_000 * inputs.len(),
        traced.as_secs_f64() * 1e3,
        untraced.as_secs_f64() * 1e3,
    );
}
