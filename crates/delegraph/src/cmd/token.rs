//! `delegraph token`: a new random bearer token and the line that lets
//! `serve --tokens` accept it (only its SHA-256 is stored).

use std::io::Read;
use std::process::ExitCode;

use anyhow::Context;

/// Arguments of `delegraph token`.
#[derive(clap::Args)]
pub struct Args {
    /// Who holds it (shown as a silence's author).
    #[arg(long)]
    name: String,
    /// `viewer` (reads), `analyst` (also triages: status, assignee,
    /// notes, silences) or `engineer` (also writes rules).
    #[arg(long, value_parser = ["viewer", "analyst", "engineer"])]
    role: String,
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let mut bytes = [0u8; 24];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .context("reading /dev/urandom")?;
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let line = format!(
        "[[token]]\nname = {:?}\nrole = {:?}\nsha256 = {:?}\n",
        a.name,
        a.role,
        delegraph_api::digest(&token)
    );
    super::print_stdout(&format!(
        "# token for {} (shown once; keep it secret): {token}\n{line}",
        a.name
    ))?;
    Ok(ExitCode::SUCCESS)
}
