//! What is known about each credential across instances: who used it first,
//! when it expires, and from which kinds of client it was used. These are
//! facts, derived once per event by the engine and handed to every detector
//! ([`CredentialFacts`]); several detectors read them, none owns them.

use delegraph_model::{Evidence, NormEvent, PackedBounded, Seen};
use serde::{Deserialize, Serialize};

use crate::instance::evidence;

/// Most credentials remembered.
const MAX_CREDENTIALS: usize = 500_000;

/// Who used a credential first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Owner {
    /// Not used yet (only issued).
    #[default]
    Nobody,
    /// A delegation chain, by its root instance.
    Chain(String),
    /// A human acting directly.
    Human(String),
}

/// One credential.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialUse {
    /// Its first user.
    pub owner: Owner,
    /// The event of its first use (or its issuance, before any use).
    pub first: Evidence,
    /// When it expires (ns), when its issuance was seen.
    pub expires_at: Option<i64>,
    /// Used from a program's client.
    pub program_client: bool,
    /// Used from a person's client (browser, console, CLI).
    pub human_client: bool,
    /// Event time it was last issued or used (ns), for the idle sweep.
    pub last_seen: i64,
}

/// What one event tells about the credential it used.
#[derive(Debug, Clone, Default)]
pub struct CredentialFacts {
    /// The credential was first used by someone else: that first use.
    pub other_owner: Option<CredentialUse>,
    /// This event is the first time both a program and a person used it.
    pub switched: bool,
    /// When it expires, if its issuance was seen.
    pub expires_at: Option<i64>,
}

/// Every credential seen, bounded (least recently used forgotten first);
/// a credential idle for a round is kept packed (most are: a token is
/// remembered for days after its task).
#[derive(Debug, Serialize, Deserialize)]
pub struct CredentialBook {
    by_id: PackedBounded<CredentialUse>,
}

impl Default for CredentialBook {
    fn default() -> Self {
        Self {
            by_id: PackedBounded::new(MAX_CREDENTIALS),
        }
    }
}

/// Whether a user agent is a person's client (`Some(true)`), a program's
/// (`Some(false)`), or unknown.
pub fn human_client(user_agent: Option<&str>) -> Option<bool> {
    let ua = user_agent?;
    const HUMAN: [&str; 4] = [
        "Mozilla/",
        "console.amazonaws.com",
        "signin.amazonaws.com",
        "aws-cli/",
    ];
    Some(HUMAN.iter().any(|h| ua.contains(h)) && !ua.contains("exec-env/"))
}

impl CredentialBook {
    /// Record a credential the event issued (its expiry).
    pub fn note_issue(&mut self, e: &NormEvent) {
        let Some(c) = &e.credential_issued else {
            return;
        };
        let expires = c.expires_at.map(|x| x.nanos());
        let t = e.event_time.nanos();
        match self.by_id.get_mut(&c.id) {
            Some(u) => {
                u.expires_at = u.expires_at.or(expires);
                u.last_seen = u.last_seen.max(t);
            }
            None => {
                self.by_id.put(
                    c.id.clone(),
                    CredentialUse {
                        owner: Owner::Nobody,
                        first: evidence(e),
                        expires_at: expires,
                        program_client: false,
                        human_client: false,
                        last_seen: t,
                    },
                );
            }
        }
    }

    /// `user` used the event's credential: record it as the first user
    /// when none yet; returns the first use when it was someone else.
    pub fn claim(&mut self, cred: &str, user: Owner, e: &NormEvent) -> Option<CredentialUse> {
        let t = e.event_time.nanos();
        match self.by_id.get_mut(cred) {
            Some(u) => {
                u.last_seen = u.last_seen.max(t);
                if u.owner == Owner::Nobody {
                    u.owner = user;
                    u.first = evidence(e);
                    None
                } else if u.owner != user {
                    Some(u.clone())
                } else {
                    None
                }
            }
            None => {
                self.by_id.put(
                    cred.to_owned(),
                    CredentialUse {
                        owner: user,
                        first: evidence(e),
                        expires_at: None,
                        program_client: false,
                        human_client: false,
                        last_seen: t,
                    },
                );
                None
            }
        }
    }

    /// Record which kind of client used the credential; true the first
    /// time both kinds have.
    pub fn note_client(&mut self, cred: &str, e: &NormEvent) -> bool {
        let Some(human) = human_client(e.user_agent.as_deref()) else {
            return false;
        };
        let Some(u) = self.by_id.get_mut(cred) else {
            return false;
        };
        let before = u.program_client && u.human_client;
        if human {
            u.human_client = true;
        } else {
            u.program_client = true;
        }
        !before && u.program_client && u.human_client
    }

    /// The facts of an instance's event that used a credential, in the
    /// order the engine has always derived them: ownership, then client.
    pub fn observe_use(&mut self, e: &NormEvent, root: &str) -> Option<CredentialFacts> {
        let c = e.credential_used.as_ref()?;
        let other_owner = self.claim(&c.id, Owner::Chain(root.to_owned()), e);
        let switched = self.note_client(&c.id, e);
        Some(CredentialFacts {
            other_owner,
            switched,
            expires_at: self.by_id.peek(&c.id).and_then(|u| u.expires_at),
        })
    }

    /// Look up without touching recency.
    pub fn peek(&self, cred: &str) -> Option<Seen<'_, CredentialUse>> {
        self.by_id.peek(cred)
    }

    /// Pack every credential unused since the last round.
    pub fn pack_idle(&mut self) {
        self.by_id.pack_idle();
    }

    /// Forget credentials last issued or used before `horizon` (ns): the
    /// least recently used come first, so this stops at the first one
    /// still in use.
    pub fn sweep(&mut self, horizon: i64) {
        self.by_id.pop_lru_while(|u| u.last_seen < horizon);
    }
}
