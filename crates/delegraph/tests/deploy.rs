//! The compose stack cannot be started here (no container engine), so its
//! files are checked instead: the compose file's services, bindings and
//! mounts, the Prometheus scrape target against delegraph's listen address,
//! Grafana's provisioning against the dashboards, and the service config
//! the image runs (`serve --check`).
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use common::{bin, repo, run};
use yaml_rust2::{Yaml, YamlLoader};

fn yaml(path: &Path) -> Yaml {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    YamlLoader::load_from_str(&text)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .remove(0)
}

fn strings(y: &Yaml) -> Vec<String> {
    y.as_vec()
        .map(|v| {
            v.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn compose_services_bind_loopback_and_mount_files_that_exist() {
    let root = repo();
    let compose = yaml(&root.join("docker-compose.yml"));
    let services = &compose["services"];
    for name in ["kafka", "delegraph", "prometheus", "grafana"] {
        assert!(!services[name].is_badvalue(), "service {name} missing");
    }
    // Kafka: the official image in KRaft mode, no ZooKeeper.
    assert!(
        services["kafka"]["image"]
            .as_str()
            .unwrap()
            .starts_with("apache/kafka:")
    );
    let roles = services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"]
        .as_str()
        .unwrap();
    assert!(
        roles.contains("controller") && roles.contains("broker"),
        "{roles}"
    );
    assert!(services["zookeeper"].is_badvalue());
    // Every published port is on 127.0.0.1 only.
    for (name, svc) in services.as_hash().unwrap() {
        for p in strings(&svc["ports"]) {
            assert!(
                p.starts_with("127.0.0.1:"),
                "{:?} publishes {p}",
                name.as_str()
            );
        }
    }
    // Every bind mount names a file or folder of the repository.
    for (name, svc) in services.as_hash().unwrap() {
        for v in strings(&svc["volumes"]) {
            if let Some(rel) = v.strip_prefix("./") {
                let host = rel.split(':').next().unwrap();
                assert!(
                    root.join(host).exists(),
                    "{:?} mounts missing {host}",
                    name.as_str()
                );
            }
        }
    }
    // delegraph is built from the Dockerfile and runs serve with the
    // mounted config; Kafka topics it reads are created first.
    assert!(root.join("Dockerfile").exists());
    let cmd = strings(&services["delegraph"]["command"]);
    assert_eq!(cmd[0], "serve");
    let topics = services["kafka-topics"]["command"][0].as_str().unwrap();
    let config = std::fs::read_to_string(root.join("deploy/delegraph.toml")).unwrap();
    let config: toml::Table = toml::from_str(&config).unwrap();
    let kafka = config["kafka"].as_table().unwrap();
    for t in kafka["topics"].as_array().unwrap() {
        let name = t["name"].as_str().unwrap();
        assert!(topics.contains(name), "topic {name} is not created");
    }
    for key in ["findings_topic", "dead_letter_topic"] {
        let name = kafka[key].as_str().unwrap();
        assert!(topics.contains(name), "topic {name} is not created");
    }
    assert!(kafka["brokers"].as_str().unwrap().starts_with("kafka:"));
}

#[test]
fn prometheus_scrapes_the_port_delegraph_serves_metrics_on() {
    let root = repo();
    let prom = yaml(&root.join("deploy/prometheus.yml"));
    let job = &prom["scrape_configs"][0];
    assert_eq!(job["metrics_path"].as_str(), Some("/metrics"));
    let target = job["static_configs"][0]["targets"][0].as_str().unwrap();
    let config = std::fs::read_to_string(root.join("deploy/delegraph.toml")).unwrap();
    let config: toml::Table = toml::from_str(&config).unwrap();
    let listen = config["api"]["metrics_listen"].as_str().unwrap();
    let port = listen.rsplit(':').next().unwrap();
    assert_eq!(target, format!("delegraph:{port}"));
}

#[test]
fn grafana_provisions_every_dashboard_with_known_datasources() {
    let root = repo();
    let ds = yaml(&root.join("deploy/grafana/provisioning/datasources/datasources.yml"));
    let uids: Vec<&str> = ds["datasources"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|d| d["uid"].as_str().unwrap())
        .collect();
    let dashboards = std::fs::read_dir(root.join("dashboards")).unwrap();
    let mut seen = 0;
    for entry in dashboards.flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|x| x != "json") {
            continue;
        }
        seen += 1;
        let d: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert!(
            d["uid"].is_string() && d["title"].is_string(),
            "{}",
            path.display()
        );
        for panel in d["panels"].as_array().unwrap() {
            let uid = panel["datasource"]["uid"].as_str().unwrap();
            assert!(
                uids.contains(&uid),
                "{}: unknown datasource {uid}",
                path.display()
            );
        }
    }
    assert!(seen >= 2);
}

#[test]
fn the_image_config_and_the_example_pass_serve_check() {
    for file in ["deploy/delegraph.toml", "delegraph.example.toml"] {
        let out = run(bin()
            .args(["serve", "--check", "--config"])
            .arg(repo().join(file)));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("logs.iam, logs.saas, logs.toolcalls"),
            "{file}: {text}"
        );
        assert!(
            text.contains(
                "findings: to delegraph.findings, once their epoch's tables are committed"
            ),
            "{file}: {text}"
        );
    }
}

#[test]
fn serve_check_says_how_findings_are_published_and_wants_a_topic_for_them() {
    let dir = tempfile::tempdir().unwrap();
    let config = |extra: &str| {
        let path = dir.path().join("serve.toml");
        std::fs::write(
            &path,
            format!("data_dir = \"d\"\n[kafka]\nbrokers = \"x\"\n{extra}\n[[kafka.topics]]\nname = \"logs\"\n"),
        )
        .unwrap();
        bin()
            .args(["serve", "--check", "--config"])
            .arg(&path)
            .output()
            .unwrap()
    };
    let out = config("findings_topic = \"f\"\npublish_findings = \"as_found\"");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("findings: to f, as found"), "{text}");

    let out = config("publish_findings = \"as_found\"");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("serve.toml") && err.contains("publish_findings needs a findings_topic"),
        "{err}"
    );
}

#[test]
fn serve_check_names_the_file_of_a_bad_key() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "data_dir = \"d\"\n[kafka]\nbrokers = \"x\"\ntopcs = []\n",
    )
    .unwrap();
    let out = bin()
        .args(["serve", "--check", "--config"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.toml") && err.contains("topcs"), "{err}");
}
