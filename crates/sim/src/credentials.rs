//! The credentials a task acts with: the AWS role session the runtime
//! assumes for it (or, when it misbehaves, a long-lived key or another
//! task's session), and the Okta token exchange behind its tool calls.

use serde_json::json;

use crate::Scenario;
use crate::emit::{self, Caller};
use crate::logs::Owner;
use crate::task::Task;
use crate::tools::GatewayCall;
use crate::world::{ACCOUNT, Sim};

/// The agent runtime's own role session, which assumes each task's role;
/// it started a day before the window `start`.
fn runtime(start: f64) -> Caller<'static> {
    Caller::Session {
        arn: "arn:aws:sts::123456789012:assumed-role/agent-runtime/runtime-eu-1",
        key: "ASIARUNTIMEEXAMPLE01",
        created: start - 86_400.0,
        source_identity: None,
    }
}

/// An AWS credential a task holds.
pub(crate) struct Credential<'a> {
    /// Access key id.
    pub(crate) key: String,
    /// The role session's or IAM user's ARN.
    pub(crate) arn: String,
    /// A role session's details; `None` for an IAM user's long-lived key.
    pub(crate) session: Option<Session<'a>>,
}

/// When a role session was issued, and the human it names.
#[derive(Clone, Copy)]
pub(crate) struct Session<'a> {
    pub(crate) created: f64,
    pub(crate) source_identity: Option<&'a str>,
}

impl Credential<'_> {
    /// The identity CloudTrail records for calls made with it.
    pub(crate) fn caller(&self) -> Caller<'_> {
        match self.session {
            Some(Session {
                created,
                source_identity,
            }) => Caller::Session {
                arn: &self.arn,
                key: &self.key,
                created,
                source_identity,
            },
            None => Caller::User {
                arn: &self.arn,
                key: &self.key,
            },
        }
    }
}

/// The last task of a kind to assume its role: what a later
/// shared-credential task of that kind borrows.
#[derive(Clone)]
pub(crate) struct Lender {
    pub(crate) key: String,
    pub(crate) session_arn: String,
    /// When the session was issued.
    pub(crate) issued: f64,
    pub(crate) mcp_token: String,
    /// When the lending task started.
    pub(crate) started: f64,
    /// The lending task's instance id.
    pub(crate) instance: String,
}

impl Sim {
    /// Give the task the AWS credential its calls are made with.
    pub(crate) fn issue_credential(&mut self, task: &mut Task<'_>, lender: Option<Lender>) {
        match (task.scenario, lender) {
            (Some(Scenario::LongLivedKey), _) => self.load_long_lived_key(task),
            (Some(Scenario::SharedCredential), Some(lender)) => borrow(task, lender),
            _ => self.assume_role(task),
        }
    }

    /// The normal case: the runtime assumes the agent's role for this task
    /// (session name = instance, source identity = human).
    fn assume_role(&mut self, task: &mut Task<'_>) {
        let (agent, id, human) = (task.agent(), &task.id, task.human);
        let session_arn = format!("arn:aws:sts::{ACCOUNT}:assumed-role/{agent}/{id}");
        let key = self.ids.key("ASIA");
        let ev = self.ids.uuid();
        let issued = task.start + 1.0;
        let params = json!({"roleArn": format!("arn:aws:iam::{ACCOUNT}:role/{agent}"), "roleSessionName": id, "sourceIdentity": human, "durationSeconds": 3600});
        let resp = json!({"credentials": {"accessKeyId": key, "expiration": emit::java_time(task.start + 3601.0), "sessionToken": "IQoJb3JpZ2luX2VjEXAMPLE"},
                           "assumedRoleUser": {"assumedRoleId": format!("AROAEXAMPLE:{id}"), "arn": session_arn}, "sourceIdentity": human});
        let rec = emit::cloudtrail(
            &ev,
            issued,
            ACCOUNT,
            &runtime(self.start),
            "sts.amazonaws.com",
            "AssumeRole",
            params,
            resp,
        );
        self.logs
            .cloudtrail(&mut self.rng, issued, rec, task, Owner::RUNTIME);
        let lender = Lender {
            key: key.clone(),
            session_arn: session_arn.clone(),
            issued,
            mcp_token: task.mcp_token.clone(),
            started: task.start,
            instance: task.id.clone(),
        };
        self.lenders.insert(agent, lender);
        task.credential = Some(Credential {
            key,
            arn: session_arn,
            session: Some(Session {
                created: issued,
                source_identity: Some(human),
            }),
        });
    }

    /// LongLivedKey: the agent loads an IAM user's `AKIA…` key through the
    /// gateway, which sees the key first and so joins the IAM trail to
    /// this task.
    fn load_long_lived_key(&mut self, task: &mut Task<'_>) {
        let key = self.ids.key("AKIA");
        let user = format!(
            "arn:aws:iam::{ACCOUNT}:user/svc-{}-{}",
            task.agent(),
            task.index
        );
        let rpc = task.next_rpc();
        self.gateway_line(
            task,
            &GatewayCall {
                t: task.start + 0.5,
                rpc,
                tool: "load_credentials",
                span: &task.root_span,
                credential: &key,
                decision: None,
                instance: &task.id,
            },
        );
        task.credential = Some(Credential {
            key,
            arn: user,
            session: None,
        });
    }

    /// Okta: the support agent exchanges the user's token for one to the
    /// tools.
    pub(crate) fn grant_okta_token(&mut self, task: &Task<'_>) {
        if task.agent() != "support-agent" {
            return;
        }
        let ev = self.ids.uuid();
        let hash = self.ids.hex(12);
        let t = task.start + 0.2;
        let expires = task.start + 3600.0;
        let grant = emit::okta_grant(&ev, t, task.agent(), task.human, &hash, expires);
        self.logs.okta.push((t, grant));
        let owner = Owner {
            instance: None,
            human: Some(task.human),
            ambiguous: false,
        };
        self.logs.truth(ev, "okta", task, owner);
    }
}

/// SharedCredential: the task acts with an earlier task's role session and
/// gateway token.
fn borrow(task: &mut Task<'_>, lender: Lender) {
    task.borrowed = true;
    task.mcp_token = lender.mcp_token;
    task.credential = Some(Credential {
        key: lender.key,
        arn: lender.session_arn,
        session: Some(Session {
            created: lender.issued,
            source_identity: None,
        }),
    });
}
