//! CloudTrail calls a task makes with its credential, including a role
//! chain into another account.

use rand::Rng;
use serde_json::{Value, json};

use crate::emit::{self, Caller};
use crate::logs::Owner;
use crate::task::Task;
use crate::world::{ACCOUNT, Sim};

/// The other AWS account a cross-account role chain reaches.
const OTHER_ACCOUNT: &str = "210987654321";

/// One AWS API call as CloudTrail records it.
struct AwsCall<'c> {
    source: &'c str,
    name: &'c str,
    params: Value,
    response: Value,
}

impl Sim {
    /// A call made in the organisation's account with the task's own
    /// credential (nothing, if it has none).
    pub(crate) fn aws_call(
        &mut self,
        task: &Task<'_>,
        t: f64,
        source: &str,
        name: &str,
        params: Value,
    ) {
        let Some(credential) = &task.credential else {
            return;
        };
        let call = AwsCall {
            source,
            name,
            params,
            response: Value::Null,
        };
        self.record_aws(task, &credential.caller(), ACCOUNT, t, call);
    }

    /// CrossAccount: the task's role session assumes a role in another
    /// account, then reads S3 there. Returns when the last call was made.
    pub(crate) fn cross_account(&mut self, task: &Task<'_>, t: f64) -> f64 {
        let Some(credential) = task.credential.as_ref().filter(|c| c.session.is_some()) else {
            return t;
        };
        let new_key = self.ids.key("ASIA");
        let name = format!("{}-x", task.id);
        let agent = task.agent();
        let target = format!("arn:aws:sts::{OTHER_ACCOUNT}:assumed-role/{agent}-cross/{name}");
        let mut t = t + 2.0;
        let params = json!({"roleArn": format!("arn:aws:iam::{OTHER_ACCOUNT}:role/{agent}-cross"), "roleSessionName": name, "sourceIdentity": task.human});
        let response = json!({"credentials": {"accessKeyId": new_key, "expiration": emit::java_time(t + 900.0), "sessionToken": "IQoJEXAMPLE"},
                       "assumedRoleUser": {"arn": target}, "sourceIdentity": task.human});
        let assume = AwsCall {
            source: "sts.amazonaws.com",
            name: "AssumeRole",
            params,
            response,
        };
        self.record_aws(task, &credential.caller(), ACCOUNT, t, assume);
        let chained = Caller::Session {
            arn: &target,
            key: &new_key,
            created: t,
            source_identity: Some(task.human),
        };
        for op in ["ListBuckets", "GetObject", "ListObjectsV2"] {
            t += self.rng.random_range(2.0..8.0);
            let call = AwsCall {
                source: "s3.amazonaws.com",
                name: op,
                params: json!({}),
                response: Value::Null,
            };
            self.record_aws(task, &chained, OTHER_ACCOUNT, t, call);
        }
        t
    }

    /// The CloudTrail record of a call the task makes as `caller` in
    /// `account`, delivered late like all CloudTrail.
    fn record_aws(
        &mut self,
        task: &Task<'_>,
        caller: &Caller<'_>,
        account: &str,
        t: f64,
        call: AwsCall<'_>,
    ) {
        let ev = self.ids.uuid();
        let rec = emit::cloudtrail(
            &ev,
            t,
            account,
            caller,
            call.source,
            call.name,
            call.params,
            call.response,
        );
        let owner = Owner {
            ambiguous: task.borrowed,
            ..task.owner(&task.id)
        };
        self.logs.cloudtrail(&mut self.rng, t, rec, task, owner);
    }
}
