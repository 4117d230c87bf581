//! One module per subcommand.

pub mod bench;
pub mod replay;
pub mod sql;

use delegraph_model::Source;

/// Parse `--format` values: `auto` or a source name.
pub fn parse_format(s: &str) -> Result<Option<Source>, String> {
    if s == "auto" {
        return Ok(None);
    }
    Source::parse(s).map(Some).ok_or_else(|| {
        let names: Vec<&str> = Source::ALL.iter().map(|s| s.as_str()).collect();
        format!("unknown format {s:?}; expected auto or one of {}", names.join(", "))
    })
}
