//! Bearer tokens with roles. The token file keeps SHA-256 digests, never
//! the tokens themselves. Roles are ordered: a viewer reads; an analyst
//! also triages (status, assignment, notes, silences); an engineer also
//! writes rules.

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::ApiError;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Read findings, graphs, risk, rules, silences and the triage log;
    /// run read-only SQL.
    Viewer,
    /// Also triage: change a finding's status and assignee, add notes,
    /// create and expire silences.
    Analyst,
    /// Also write rules.
    Engineer,
}

impl Role {
    /// Stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Analyst => "analyst",
            Role::Engineer => "engineer",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenEntry {
    name: String,
    role: Role,
    sha256: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenFile {
    #[serde(default)]
    token: Vec<TokenEntry>,
}

/// The accepted tokens.
#[derive(Debug, Clone, Default)]
pub struct Tokens {
    entries: Vec<TokenEntry>,
}

/// Lower-case hex SHA-256 of a token, as the token file stores it.
pub fn digest(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Compare without stopping at the first differing byte.
pub(crate) fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

impl Tokens {
    /// Parse a token file (`[[token]] name, role, sha256`).
    pub fn from_toml(text: &str) -> Result<Self, String> {
        let f: TokenFile = toml::from_str(text).map_err(|e| e.to_string())?;
        for t in &f.token {
            if t.sha256.len() != 64 || !t.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(format!("token {:?}: sha256 must be 64 hex digits", t.name));
            }
        }
        Ok(Self { entries: f.token })
    }

    /// A single token (the demo's), held as its digest.
    pub fn single(name: &str, role: Role, token: &str) -> Self {
        Self {
            entries: vec![TokenEntry {
                name: name.to_owned(),
                role,
                sha256: digest(token),
            }],
        }
    }

    /// Add a token.
    pub fn with(mut self, name: &str, role: Role, token: &str) -> Self {
        self.entries.push(TokenEntry {
            name: name.to_owned(),
            role,
            sha256: digest(token),
        });
        self
    }

    /// The role of the `Authorization` header's bearer token.
    pub fn role(&self, authorization: Option<&str>) -> Result<(Role, String), ApiError> {
        // The scheme's name is case-insensitive (RFC 9110 §11.1).
        let token = authorization
            .and_then(|h| h.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim())
            .filter(|t| !t.is_empty())
            .ok_or(ApiError::Unauthorized)?;
        let d = digest(token);
        self.entries
            .iter()
            .find(|e| same(&e.sha256.to_ascii_lowercase(), &d))
            .map(|e| (e.role, e.name.clone()))
            .ok_or(ApiError::Unauthorized)
    }
}
