//! Progress of long operator commands: a bar when stderr is a terminal, and otherwise a plain
//! line now and then, so that logs of scripted runs show how far they got.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// How often a plain line is written when there is no terminal.
const LINE_EVERY: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy)]
pub enum Unit {
    Items,
    Bytes,
}

pub struct Progress {
    label: String,
    total: u64,
    unit: Unit,
    done: u64,
    bar: Option<ProgressBar>,
    last_line: Instant,
}

impl Progress {
    pub fn new(label: &str, total: u64, unit: Unit) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let template = match unit {
                Unit::Items => "{msg} [{bar:40}] {pos}/{len} ({eta} left)",
                Unit::Bytes => {
                    "{msg} [{bar:40}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta} left)"
                }
            };
            let bar = ProgressBar::new(total);
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_message(label.to_owned());
            bar
        });
        Self {
            label: label.to_owned(),
            total,
            unit,
            done: 0,
            bar,
            last_line: Instant::now(),
        }
    }

    /// The total, once it is known (a list that says its size on its first page).
    pub fn set_total(&mut self, total: u64) {
        self.total = total;
        if let Some(bar) = &self.bar {
            bar.set_length(total);
        }
    }

    pub fn advance(&mut self, by: u64) {
        self.done += by;
        match &self.bar {
            Some(bar) => bar.inc(by),
            None if self.last_line.elapsed() >= LINE_EVERY => {
                self.last_line = Instant::now();
                eprintln!("{}", self.line());
            }
            None => {}
        }
    }

    /// Ends the bar, or writes the last plain line.
    pub fn finish(self) {
        match &self.bar {
            Some(bar) => bar.finish_and_clear(),
            None => eprintln!("{}", self.line()),
        }
    }

    fn line(&self) -> String {
        let percent = if self.total == 0 {
            100.0
        } else {
            self.done as f64 * 100.0 / self.total as f64
        };
        match self.unit {
            Unit::Items => format!(
                "{}: {}/{} ({percent:.0}%)",
                self.label, self.done, self.total
            ),
            Unit::Bytes => format!(
                "{}: {} of {} ({percent:.0}%)",
                self.label,
                crate::mail::summary::human_size(self.done as i64),
                crate::mail::summary::human_size(self.total as i64)
            ),
        }
    }
}
