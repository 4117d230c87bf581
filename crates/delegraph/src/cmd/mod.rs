//! One module per subcommand.

pub mod bench;
mod bench_cycles;
mod bench_detectors;
pub mod bench_epochs;
pub mod bench_kafka;
pub mod graph;
pub mod replay;
pub mod rules;
pub mod serve;
pub mod serve_config;
mod serve_upkeep;
pub mod settings;
pub mod simulate;
pub mod sql;
pub mod store;
pub mod token;

use delegraph_model::Source;

/// A `--format` value: `None` means detect per record (`auto`).
#[derive(Clone, Copy, Debug)]
pub struct FormatArg(pub Option<Source>);

/// Parse `--format` values: `auto` or a source name.
pub fn parse_format(s: &str) -> Result<FormatArg, String> {
    if s == "auto" {
        return Ok(FormatArg(None));
    }
    Source::parse(s).map(|s| FormatArg(Some(s))).ok_or_else(|| {
        let names: Vec<&str> = Source::ALL.iter().map(|s| s.as_str()).collect();
        format!(
            "unknown format {s:?}; expected auto or one of {}",
            names.join(", ")
        )
    })
}

/// Print to stdout; a closed pipe (`delegraph sql ... | head`) ends output
/// quietly instead of panicking.
pub fn print_stdout(text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}
