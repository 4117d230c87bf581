//! The format registry: everything delegraph knows about one log format,
//! in one descriptor that its module defines.
//!
//! Each format module (`sources::*`) exports a `FORMAT`: its decoder, the
//! link pass that states its identity knowledge as [`LinkHints`], the Sigma
//! log sources its records answer to and how rule field names map onto
//! them. The graph, the rules' log-source table and their field resolution
//! read these descriptors, so adding a format means adding its module and
//! listing it in [`formats`], not editing them.

use delegraph_model::{NormEvent, Source};

use crate::Decoder;

/// One log format.
pub struct FormatInfo {
    /// The format's source value (tables, metrics, `--format`).
    pub source: Source,
    /// A decoder for it (with default settings).
    pub decoder: fn() -> Box<dyn Decoder>,
    /// States the format's identity knowledge on a decoded event as link
    /// hints, from the event's own fields (so it can run again after those
    /// fields change: [`relink`]).
    pub link: fn(&mut NormEvent),
    /// The Sigma `logsource`s that mean this format.
    pub sigma: &'static [SigmaLogSource],
    /// How rules' vendor field names read its records.
    pub fields: RuleFields,
}

impl std::fmt::Debug for FormatInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FormatInfo")
            .field("source", &self.source)
            .field("sigma", &self.sigma)
            .field("fields", &self.fields)
            .finish_non_exhaustive()
    }
}

/// A Sigma `logsource` (product and service) that names a format.
/// SigmaHQ's names are used as they are, so its rules load unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SigmaLogSource {
    /// `product` values (lower case).
    pub products: &'static [&'static str],
    /// `service` values (lower case); a trailing `*` matches any rest.
    pub services: &'static [&'static str],
    /// Whether the product without a service means this format.
    pub product_alone: bool,
}

impl SigmaLogSource {
    /// Whether a rule's (lower-cased) product and service mean this format.
    pub fn matches(&self, product: &str, service: Option<&str>) -> bool {
        if !self.products.contains(&product) {
            return false;
        }
        let Some(service) = service else {
            return self.product_alone;
        };
        self.services.iter().any(|s| match s.strip_suffix('*') {
            Some(prefix) => service.starts_with(prefix),
            None => service == *s,
        })
    }

    /// `product[/service|…]` for error messages.
    pub fn describe(&self) -> String {
        let products = self.products.join("|");
        let services = self.services.join("|");
        match (services.is_empty(), self.product_alone) {
            (true, _) => products,
            (false, true) => format!("{products}[/{services}]"),
            (false, false) => format!("{products}/{services}"),
        }
    }
}

/// How rule field names read a format's records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RuleFields {
    /// Top-level vendor fields (matched ignoring ASCII case) whose value the
    /// decoder copies into the normalized event: rules anchored on them
    /// match without parsing the raw record.
    pub promoted: &'static [(&'static str, Promoted)],
    /// Keys that wrap the whole record in some deliveries (Azure diagnostic
    /// logs put it under `properties`): a field not found at the top is
    /// looked for under them.
    pub wrappers: &'static [&'static str],
    /// Rule field names other tools give the format's fields: a rule
    /// field that starts with the first (whole dot-separated segments,
    /// exact case) reads the second in its place (an empty second: the
    /// record's top). Tried in order before the name as written; the
    /// first that finds a value wins.
    pub aliases: &'static [(&'static str, &'static str)],
}

/// Where in the normalized event a promoted vendor field's value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Promoted {
    /// `source_event_type`.
    EventType,
    /// `operation` before its first `:` (CloudTrail's `eventSource`).
    OperationPrefix,
}

impl Promoted {
    /// The value in `e`, when there is one.
    pub fn value(self, e: &NormEvent) -> Option<&str> {
        match self {
            Promoted::EventType => Some(e.source_event_type.as_str()),
            Promoted::OperationPrefix => e.operation.split_once(':').map(|(p, _)| p),
        }
    }
}

/// Every format, in detection order: formats with a distinctive marker key
/// first, so a looser rule never shadows a precise one.
pub fn formats() -> &'static [&'static FormatInfo] {
    crate::sources::FORMATS
}

/// The descriptor of `source`'s format.
pub fn format_info(source: Source) -> Option<&'static FormatInfo> {
    formats().iter().copied().find(|f| f.source == source)
}

/// State `e`'s link hints again from its fields, after changing them (tests
/// and benchmarks that stamp out variants of one decoded event).
pub fn relink(e: &mut NormEvent) {
    if let Some(f) = format_info(e.source) {
        (f.link)(e);
    }
    crate::links::implied_identities(e);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_source_has_one_format_and_its_decoder_reads_it() {
        for s in Source::ALL {
            let n = formats().iter().filter(|f| f.source == s).count();
            assert_eq!(n, 1, "{s}");
        }
        for f in formats() {
            assert_eq!((f.decoder)().source(), f.source);
        }
    }

    #[test]
    fn sigma_names_match_by_product_and_service() {
        let gws = SigmaLogSource {
            products: &["google_workspace"],
            services: &["google_workspace*", "gworkspace"],
            product_alone: true,
        };
        assert!(gws.matches("google_workspace", None));
        assert!(gws.matches("google_workspace", Some("google_workspace.admin")));
        assert!(!gws.matches("google_workspace", Some("drive")));
        assert!(!gws.matches("gcp", None));
        assert_eq!(
            gws.describe(),
            "google_workspace[/google_workspace*|gworkspace]"
        );
    }
}
