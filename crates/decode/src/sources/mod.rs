//! One module per vendor format, each implementing [`crate::Decoder`] and
//! describing itself in a [`FormatInfo`] (`FORMAT`).

pub mod azure_activity;
mod azure_monitor;
pub mod cloudtrail;
pub mod entra;
pub mod entra_audit;
pub mod entra_risk;
pub mod gcp_audit;
pub mod github;
pub mod google_workspace;
mod jsonrpc;
pub mod m365_audit;
pub mod mcp;
pub mod okta;
pub mod opa;
pub mod otlp;
pub mod task_envelope;
pub mod verified_permissions;

use crate::Decoder;
use crate::format::FormatInfo;

/// Every format, in detection order: formats with a distinctive marker
/// key first, so a looser rule never shadows a precise one.
pub(crate) static FORMATS: &[&FormatInfo] = &[
    &task_envelope::FORMAT,
    &opa::FORMAT,
    &mcp::FORMAT,
    &otlp::FORMAT,
    &cloudtrail::FORMAT,
    &gcp_audit::FORMAT,
    &okta::FORMAT,
    &entra::FORMAT,
    &azure_activity::FORMAT,
    &entra_audit::FORMAT,
    &entra_risk::FORMAT,
    &m365_audit::FORMAT,
    &google_workspace::FORMAT,
    &github::FORMAT,
];

/// A decoder for every format, in detection order.
pub fn all_decoders() -> Vec<Box<dyn Decoder>> {
    FORMATS.iter().map(|f| (f.decoder)()).collect()
}
