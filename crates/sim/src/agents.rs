//! The kinds of agents the simulated organisation runs.

/// A tool and what it does in AWS, if anything (`eventSource`, `eventName`).
pub struct Tool {
    pub name: &'static str,
    pub aws: Option<(&'static str, &'static str)>,
    /// Routed through the MCP gateway rather than called in-process.
    pub via_mcp: bool,
}

/// One kind of agent: its tools and how it usually chains them.
pub struct AgentKind {
    pub name: &'static str,
    pub tools: &'static [Tool],
    /// `next[i]` lists the tool indexes that may follow tool `i`.
    pub next: &'static [&'static [usize]],
    /// Chance a task delegates to a sub-agent.
    pub sub_agent: Option<(&'static str, f64)>,
    /// Acts on GitHub (coding agents).
    pub github: bool,
    /// Relative share of tasks.
    pub weight: u32,
}

const fn t(name: &'static str, aws: Option<(&'static str, &'static str)>, via_mcp: bool) -> Tool {
    Tool { name, aws, via_mcp }
}

pub const KINDS: &[AgentKind] = &[
    AgentKind {
        name: "support-agent",
        tools: &[
            t("search_kb", None, true),
            t(
                "get_customer",
                Some(("dynamodb.amazonaws.com", "GetItem")),
                false,
            ),
            t(
                "get_order",
                Some(("dynamodb.amazonaws.com", "Query")),
                false,
            ),
            t(
                "get_zendesk_key",
                Some(("secretsmanager.amazonaws.com", "GetSecretValue")),
                false,
            ),
            t("reply_ticket", None, true),
            t(
                "send_email",
                Some(("ses.amazonaws.com", "SendEmail")),
                false,
            ),
        ],
        next: &[&[1, 2, 4], &[2, 3], &[3, 4, 5], &[4], &[5, 0], &[0]],
        sub_agent: Some(("refund-agent", 0.35)),
        github: false,
        weight: 4,
    },
    AgentKind {
        name: "code-agent",
        tools: &[
            t("search_code", None, true),
            t("read_file", None, true),
            t(
                "fetch_artifact",
                Some(("s3.amazonaws.com", "GetObject")),
                false,
            ),
            t(
                "run_tests",
                Some(("codebuild.amazonaws.com", "StartBuild")),
                false,
            ),
            t("create_pull_request", None, true),
        ],
        next: &[&[1], &[1, 2, 3], &[3], &[1, 4], &[0]],
        sub_agent: Some(("test-writer", 0.2)),
        github: true,
        weight: 3,
    },
    AgentKind {
        name: "data-analyst",
        tools: &[
            t(
                "get_schema",
                Some(("glue.amazonaws.com", "GetTable")),
                false,
            ),
            t(
                "get_db_credentials",
                Some(("secretsmanager.amazonaws.com", "GetSecretValue")),
                false,
            ),
            t(
                "run_query",
                Some(("athena.amazonaws.com", "StartQueryExecution")),
                false,
            ),
            t(
                "read_results",
                Some(("s3.amazonaws.com", "GetObject")),
                false,
            ),
            t("make_chart", None, true),
        ],
        next: &[&[1, 2], &[2], &[3], &[4, 2], &[0]],
        sub_agent: None,
        github: false,
        weight: 2,
    },
    AgentKind {
        name: "ops-agent",
        tools: &[
            t(
                "describe_instances",
                Some(("ec2.amazonaws.com", "DescribeInstances")),
                false,
            ),
            t(
                "get_logs",
                Some(("logs.amazonaws.com", "FilterLogEvents")),
                false,
            ),
            t(
                "get_metrics",
                Some(("monitoring.amazonaws.com", "GetMetricData")),
                false,
            ),
            t("page_oncall", None, true),
        ],
        next: &[&[1, 2], &[2, 3], &[1, 3], &[0]],
        sub_agent: Some(("log-summarizer", 0.25)),
        github: false,
        weight: 2,
    },
];

/// Tools a sub-agent calls (through the MCP gateway).
pub const SUB_AGENT_TOOLS: &[&str] = &["lookup", "summarize", "draft", "check_policy"];

/// Operations a scope-growing agent reaches for.
pub const SCOPE_GROWTH_OPS: &[(&str, &str)] = &[
    ("iam.amazonaws.com", "ListUsers"),
    ("iam.amazonaws.com", "ListRoles"),
    ("s3.amazonaws.com", "ListBuckets"),
    ("ec2.amazonaws.com", "DescribeSecurityGroups"),
    ("kms.amazonaws.com", "ListKeys"),
    ("lambda.amazonaws.com", "ListFunctions"),
    ("rds.amazonaws.com", "DescribeDBInstances"),
    ("organizations.amazonaws.com", "ListAccounts"),
    ("secretsmanager.amazonaws.com", "ListSecrets"),
    ("cloudtrail.amazonaws.com", "DescribeTrails"),
];
