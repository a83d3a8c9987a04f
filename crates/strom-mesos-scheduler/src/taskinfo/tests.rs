use std::process::Command;

use serde_json::Value;
use strom_config::Configuration;
use strom_mesos::types::Resource;

use super::*;

fn params(entries: &[(&str, &str)]) -> TaskManagerParameters {
    TaskManagerParameters::from_config(&config(entries)).unwrap()
}

fn config(entries: &[(&str, &str)]) -> Configuration {
    let mut config = Configuration::new();
    for (key, value) in entries {
        config.set(key, value).unwrap();
    }
    config
}

fn matched() -> MatchedResources {
    MatchedResources {
        resources: vec![
            Resource::scalar("cpus", 1.0),
            Resource::scalar("mem", 1728.0),
            Resource::ranges("ports", [(31000, 31001)]),
        ],
        ports: BTreeMap::from([
            ("taskmanager.data.port".to_owned(), 31001),
            ("taskmanager.rpc.port".to_owned(), 31000),
        ]),
    }
}

fn artifact() -> FetchUri {
    FetchUri {
        value: "http://am:7000/strom".into(),
        executable: true,
        cache: true,
        extract: false,
        output_file: Some("strom".into()),
    }
}

fn build(params: &TaskManagerParameters, overlay: &Overlay) -> Value {
    let info = build_task_info(
        params,
        &TaskId::new("taskmanager-00001"),
        &AgentId::new("agent-1"),
        &matched(),
        &[artifact()],
        overlay,
    );
    serde_json::to_value(&info).unwrap()
}

fn env(json: &Value) -> BTreeMap<String, String> {
    json["command"]["environment"]["variables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["name"].as_str().unwrap().to_owned(),
                v["value"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn default_task_info() {
    let json = build(&params(&[]), &Overlay::new("strom"));
    assert_eq!(json["name"], "taskmanager-00001");
    assert_eq!(json["task_id"]["value"], "taskmanager-00001");
    assert_eq!(json["agent_id"]["value"], "agent-1");
    assert_eq!(json["resources"].as_array().unwrap().len(), 3);
    assert_eq!(json["resources"][2]["ranges"]["range"][0]["begin"], 31000);
    assert_eq!(
        json["command"]["value"],
        "./strom mesos-taskmanager -Dtaskmanager.data.port=31001 \
         -Dtaskmanager.resource-id=taskmanager-00001 -Dtaskmanager.rpc.port=31000"
    );
    assert!(
        json["command"].get("shell").is_none(),
        "the default: through /bin/sh"
    );
    assert!(json["command"].get("user").is_none());
    assert_eq!(
        json["command"]["uris"][0],
        serde_json::json!({
            "value": "http://am:7000/strom", "executable": true, "extract": false,
            "cache": true, "output_file": "strom"
        })
    );
    assert_eq!(
        env(&json),
        BTreeMap::from([
            ("FRAMEWORK_NAME".to_owned(), "strom".to_owned()),
            ("STROM_CONF_DIR".to_owned(), "conf".to_owned()),
            ("TASK_NAME".to_owned(), "taskmanager-00001".to_owned()),
        ])
    );
    assert_eq!(json["container"], serde_json::json!({"type": "MESOS"}));
    assert!(json.get("labels").is_none());
}

#[test]
fn configured_task_info() {
    let params = params(&[
        (
            "mesos.resourcemanager.tasks.bootstrap-cmd",
            "until host x; do sleep 1; done",
        ),
        ("mesos.resourcemanager.tasks.hostname", "_TASK_.strom.mesos"),
        ("mesos.resourcemanager.tasks.user", "etl"),
        ("mesos.resourcemanager.tasks.labels", "team:data"),
        ("mesos.resourcemanager.tasks.uris", "http://x/creds.tgz"),
        ("mesos.resourcemanager.tasks.container.volumes", "/h:/c:RO"),
        ("containerized.taskmanager.env.JAVA_HOME", "/jdk"),
        ("containerized.taskmanager.env.STROM_CONF_DIR", "ignored"),
    ]);
    let json = build(&params, &Overlay::new("fw"));
    let command = json["command"]["value"].as_str().unwrap();
    assert!(
        command.starts_with("until host x; do sleep 1; done && ./strom mesos-taskmanager "),
        "{command}"
    );
    assert!(
        command.contains(" -Dtaskmanager.host=taskmanager-00001.strom.mesos"),
        "{command}"
    );
    assert_eq!(json["command"]["user"], "etl");
    assert_eq!(
        json["command"]["uris"][1],
        serde_json::json!({"value": "http://x/creds.tgz"})
    );
    assert_eq!(
        json["labels"]["labels"][0],
        serde_json::json!({"key": "team", "value": "data"})
    );
    let env = env(&json);
    assert_eq!(env["JAVA_HOME"], "/jdk");
    assert_eq!(env["STROM_CONF_DIR"], "conf", "the overlay wins");
    assert_eq!(env["FRAMEWORK_NAME"], "fw");
    assert_eq!(
        json["container"],
        serde_json::json!({
            "type": "MESOS",
            "volumes": [{"container_path": "/c", "host_path": "/h", "mode": "RO"}]
        })
    );
}

#[test]
fn docker_and_ucr_containers() {
    let docker = params(&[
        ("mesos.resourcemanager.tasks.container.type", "docker"),
        (
            "mesos.resourcemanager.tasks.container.image.name",
            "strom:1",
        ),
        (
            "mesos.resourcemanager.tasks.container.docker.force-pull-image",
            "true",
        ),
        (
            "mesos.resourcemanager.tasks.container.docker.parameters",
            "memory-swap=-1",
        ),
    ]);
    let json = build(&docker, &Overlay::new("strom"));
    assert_eq!(
        json["container"],
        serde_json::json!({
            "type": "DOCKER",
            "docker": {
                "image": "strom:1", "network": "HOST", "force_pull_image": true,
                "parameters": [{"key": "memory-swap", "value": "-1"}]
            }
        })
    );
    let ucr = params(&[(
        "mesos.resourcemanager.tasks.container.image.name",
        "strom:1",
    )]);
    let json = build(&ucr, &Overlay::new("strom"));
    assert_eq!(
        json["container"],
        serde_json::json!({
            "type": "MESOS",
            "mesos": {"image": {"type": "DOCKER", "docker": {"name": "strom:1"}}}
        })
    );
}

#[test]
fn secrets_never_reach_the_task_info() {
    let config = config(&[
        (
            "mesos.resourcemanager.framework.secret",
            "hunter2-framework",
        ),
        ("s3.secret-key", "hunter2-s3"),
        ("security.cluster.secret", "hunter2-cluster"),
        (
            "mesos.resourcemanager.tasks.taskmanager-cmd",
            "./strom mesos-taskmanager",
        ),
    ]);
    let params = TaskManagerParameters::from_config(&config).unwrap();
    let mut overlay = Overlay::new("strom");
    // Even a careless overlay cannot put a secret on the command line.
    overlay
        .properties
        .insert("s3.secret-key".into(), "hunter2-overlay".into());
    overlay
        .properties
        .insert("jobmanager.rpc.address".into(), "am-host".into());
    let json = build(&params, &overlay).to_string();
    assert!(!json.contains("hunter2"), "{json}");
    assert!(json.contains("-Djobmanager.rpc.address=am-host"), "{json}");
}

#[test]
fn per_task_properties_override_the_overlay() {
    let params = params(&[]);
    let mut overlay = Overlay::new("strom");
    overlay
        .properties
        .insert("taskmanager.resource-id".into(), "wrong".into());
    let properties = dynamic_properties(&params, &TaskId::new("tm-1"), &matched(), &overlay);
    assert_eq!(properties["taskmanager.resource-id"], "tm-1");
}

#[test]
fn shell_quoting() {
    let cases = [
        ("plain-word_1.0:/x=y,z@h+%", "plain-word_1.0:/x=y,z@h+%"),
        ("", "''"),
        ("a b", "'a b'"),
        ("it's", r"'it'\''s'"),
        ("$HOME `id` \"q\" \\ ;|&*?", "'$HOME `id` \"q\" \\ ;|&*?'"),
        ("new\nline", "'new\nline'"),
    ];
    for (word, quoted) in cases {
        assert_eq!(shell_quote(word), quoted, "{word:?}");
    }
}

#[test]
fn quoted_command_lines_round_trip_through_sh() {
    let nasty = "a b 'c' \"d\" $HOME `id` \\ ; | & * ? ~ # ! é\n\t end'";
    let mut params = params(&[]);
    params.taskmanager_cmd = "printf '%s\\n'".into();
    let properties = BTreeMap::from([("k".to_owned(), nasty.to_owned())]);
    let line = command_line(&params, &properties);
    let Ok(output) = Command::new("/bin/sh").arg("-c").arg(&line).output() else {
        return; // no shell in this environment
    };
    assert!(output.status.success(), "{line}");
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        format!("-Dk={nasty}\n")
    );
}

fn docker(extra: &[(&str, &str)]) -> TaskManagerParameters {
    let mut entries = vec![
        ("mesos.resourcemanager.tasks.container.type", "docker"),
        (
            "mesos.resourcemanager.tasks.container.image.name",
            "strom:1",
        ),
    ];
    entries.extend_from_slice(extra);
    params(&entries)
}

/// The overlay of a launch on `agent-1.example`, as the driver makes it.
fn agent_overlay() -> Overlay {
    let mut overlay = Overlay::new("strom");
    overlay
        .env
        .insert(AGENT_HOST_ENV.to_owned(), "agent-1.example".to_owned());
    overlay
}

#[test]
fn docker_host_network_runs_from_the_sandbox() {
    let json = build(&docker(&[]), &agent_overlay());
    assert_eq!(
        json["command"]["value"],
        "cd \"${MESOS_SANDBOX:-.}\" && ./strom mesos-taskmanager \
         -Dtaskmanager.data.port=31001 -Dtaskmanager.resource-id=taskmanager-00001 \
         -Dtaskmanager.rpc.port=31000"
    );
    assert_eq!(
        json["container"],
        serde_json::json!({
            "type": "DOCKER",
            "docker": {"image": "strom:1", "network": "HOST", "force_pull_image": false}
        })
    );
    assert_eq!(
        env(&json)["STROM_CONF_DIR"],
        "conf",
        "relative to the sandbox"
    );
    let with_bootstrap = docker(&[("mesos.resourcemanager.tasks.bootstrap-cmd", "ls conf")]);
    let json = build(&with_bootstrap, &agent_overlay());
    let command = json["command"]["value"].as_str().unwrap();
    assert!(
        command.starts_with("cd \"${MESOS_SANDBOX:-.}\" && ls conf && ./strom "),
        "the bootstrap command runs in the sandbox too: {command}"
    );
    // The Mesos containerizer starts commands in the sandbox already.
    let json = build(&params(&[]), &agent_overlay());
    assert!(
        json["command"]["value"]
            .as_str()
            .unwrap()
            .starts_with("./strom mesos-taskmanager "),
        "{json}"
    );
}

#[test]
fn docker_bridge_publishes_every_assigned_port_under_its_own_number() {
    let bridge = docker(&[
        (
            "mesos.resourcemanager.tasks.container.docker.network",
            "BRIDGE",
        ),
        (
            "mesos.resourcemanager.tasks.port-assignments",
            "metrics.reporter.prom.port",
        ),
    ]);
    let mut matched = matched();
    matched
        .ports
        .insert("metrics.reporter.prom.port".into(), 30999);
    let info = build_task_info(
        &bridge,
        &TaskId::new("taskmanager-00001"),
        &AgentId::new("agent-1"),
        &matched,
        &[artifact()],
        &agent_overlay(),
    );
    let json = serde_json::to_value(&info).unwrap();
    let mapping = |port: u32| serde_json::json!({"host_port": port, "container_port": port, "protocol": "tcp"});
    assert_eq!(
        json["container"],
        serde_json::json!({
            "type": "DOCKER",
            "docker": {
                "image": "strom:1", "network": "BRIDGE", "force_pull_image": false,
                "port_mappings": [mapping(30999), mapping(31000), mapping(31001)]
            }
        })
    );
    let command = json["command"]["value"].as_str().unwrap();
    for property in [
        " -Dtaskmanager.host=agent-1.example",
        " -Dtaskmanager.bind-host=0.0.0.0",
        " -Dmetrics.reporter.prom.port=30999",
        " -Dtaskmanager.data.port=31001",
    ] {
        assert!(command.contains(property), "{property}: {command}");
    }
    assert!(command.starts_with(DOCKER_SANDBOX_CD), "{command}");
}

#[test]
fn docker_bridge_host_comes_from_the_pattern_when_one_is_set() {
    let bridge = docker(&[
        (
            "mesos.resourcemanager.tasks.container.docker.network",
            "BRIDGE",
        ),
        ("mesos.resourcemanager.tasks.hostname", "_TASK_.strom.mesos"),
    ]);
    let properties =
        dynamic_properties(&bridge, &TaskId::new("tm-1"), &matched(), &agent_overlay());
    assert_eq!(properties["taskmanager.host"], "tm-1.strom.mesos");
    // Without an agent host (a caller other than the driver) nothing is invented.
    let properties = dynamic_properties(
        &docker(&[(
            "mesos.resourcemanager.tasks.container.docker.network",
            "BRIDGE",
        )]),
        &TaskId::new("tm-1"),
        &matched(),
        &Overlay::new("strom"),
    );
    assert!(!properties.contains_key("taskmanager.host"));
    assert_eq!(properties["taskmanager.bind-host"], "0.0.0.0");
    // On the host network the TaskManager binds and advertises as configured.
    let properties = dynamic_properties(
        &docker(&[]),
        &TaskId::new("tm-1"),
        &matched(),
        &agent_overlay(),
    );
    assert!(!properties.contains_key("taskmanager.host"));
    assert!(!properties.contains_key("taskmanager.bind-host"));
}

#[test]
fn docker_user_network_names_its_network() {
    let user = docker(&[
        (
            "mesos.resourcemanager.tasks.container.docker.network",
            "USER",
        ),
        (
            "mesos.resourcemanager.tasks.container.docker.network.name",
            "strom-net",
        ),
        ("mesos.resourcemanager.tasks.container.volumes", "/h:/c:RO"),
    ]);
    let json = build(&user, &agent_overlay());
    let mapping = |port: u32| serde_json::json!({"host_port": port, "container_port": port, "protocol": "tcp"});
    assert_eq!(
        json["container"],
        serde_json::json!({
            "type": "DOCKER",
            "docker": {
                "image": "strom:1", "network": "USER", "force_pull_image": false,
                "port_mappings": [mapping(31000), mapping(31001)]
            },
            "volumes": [{"container_path": "/c", "host_path": "/h", "mode": "RO"}],
            "network_infos": [{"name": "strom-net"}]
        })
    );
    let command = json["command"]["value"].as_str().unwrap();
    assert!(
        command.contains(" -Dtaskmanager.host=agent-1.example"),
        "{command}"
    );
}

#[test]
fn docker_command_changes_into_the_sandbox_under_sh() {
    let sandbox = std::env::temp_dir().canonicalize().unwrap();
    let mut docker = docker(&[]);
    docker.taskmanager_cmd = "pwd; echo".into();
    let line = command_line(&docker, &BTreeMap::new());
    let run = |sandbox: Option<&std::path::Path>| {
        let mut sh = Command::new("/bin/sh");
        sh.arg("-c").arg(&line).current_dir("/");
        match sandbox {
            Some(dir) => sh.env("MESOS_SANDBOX", dir),
            None => sh.env_remove("MESOS_SANDBOX"),
        };
        sh.output()
    };
    let Ok(output) = run(Some(&sandbox)) else {
        return; // no shell in this environment
    };
    assert!(output.status.success(), "{line}");
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        format!("{}\n\n", sandbox.display())
    );
    let output = run(None).unwrap();
    assert_eq!(String::from_utf8(output.stdout).unwrap(), "/\n\n");
}
