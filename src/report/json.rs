//! JSON and JSON-lines reports: the contract's finding, one per element or per line.

use std::io::{self, Write};

use super::Sink;
use crate::finding::Finding;
use crate::stats::Stats;

/// One JSON array, pretty-printed: written whole at the end.
pub struct Array<'a> {
    out: &'a mut dyn Write,
    findings: Vec<&'a Finding>,
}

impl<'a> Array<'a> {
    /// An array report to `out`.
    pub fn new(out: &'a mut dyn Write) -> Self {
        Array {
            out,
            findings: Vec::new(),
        }
    }
}

impl<'a> Sink<'a> for Array<'a> {
    fn finding(&mut self, f: &'a Finding) -> io::Result<()> {
        self.findings.push(f);
        Ok(())
    }

    fn finish(&mut self, _: &Stats) -> io::Result<()> {
        serde_json::to_writer_pretty(&mut *self.out, &self.findings)?;
        writeln!(self.out)
    }
}

/// One compact JSON object per line, written as each finding comes.
pub struct Lines<'a> {
    out: &'a mut dyn Write,
}

impl<'a> Lines<'a> {
    /// A JSON-lines report to `out`.
    pub fn new(out: &'a mut dyn Write) -> Self {
        Lines { out }
    }
}

impl<'a> Sink<'a> for Lines<'a> {
    fn finding(&mut self, f: &'a Finding) -> io::Result<()> {
        serde_json::to_writer(&mut *self.out, f)?;
        writeln!(self.out)
    }

    fn finish(&mut self, _: &Stats) -> io::Result<()> {
        Ok(())
    }
}
