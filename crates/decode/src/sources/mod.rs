//! One module per vendor format, each implementing [`crate::Decoder`].

pub mod cloudtrail;
pub mod entra;
pub mod github;
pub mod google_workspace;
pub mod mcp;
pub mod okta;
pub mod opa;
pub mod otlp;
pub mod task_envelope;
pub mod verified_permissions;

use crate::Decoder;

/// Every decoder, in detection order: formats with a distinctive marker
/// key first, so a looser rule never shadows a precise one.
pub fn all_decoders() -> Vec<Box<dyn Decoder>> {
    vec![
        Box::new(task_envelope::TaskEnvelopes),
        Box::new(opa::Opa {
            mapping: opa::OpaMapping::default(),
        }),
        Box::new(mcp::Mcp),
        Box::new(otlp::Otlp),
        Box::new(cloudtrail::CloudTrail),
        Box::new(okta::Okta),
        Box::new(entra::Entra),
        Box::new(google_workspace::GoogleWorkspace),
        Box::new(github::Github),
    ]
}
