//! JSON and JSON-lines reports: the contract's finding, one per element or per line.

use std::io::{self, Write};

use crate::finding::Finding;

/// One JSON array, pretty-printed.
pub fn write_array(out: &mut dyn Write, findings: &[&Finding]) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, findings)?;
    writeln!(out)
}

/// One compact JSON object per line.
pub fn write_lines(out: &mut dyn Write, findings: &[&Finding]) -> io::Result<()> {
    for f in findings {
        serde_json::to_writer(&mut *out, f)?;
        writeln!(out)?;
    }
    Ok(())
}
