use super::*;

fn config(entries: &[(&str, &str)]) -> Configuration {
    let mut config = Configuration::new();
    for (key, value) in entries {
        config.set(key, value).unwrap();
    }
    config
}

fn params(entries: &[(&str, &str)]) -> TaskManagerParameters {
    TaskManagerParameters::from_config(&config(entries)).unwrap()
}

fn error(entries: &[(&str, &str)]) -> String {
    TaskManagerParameters::from_config(&config(entries))
        .unwrap_err()
        .to_string()
}

#[test]
fn defaults() {
    let params = params(&[]);
    assert_eq!(params.cpus, 1.0, "one slot");
    assert_eq!(params.mem_mib, 1728);
    assert_eq!(
        (params.disk_mb, params.gpus, params.network_mbps),
        (0, 0, 0)
    );
    assert_eq!(params.network_resource_name, "network");
    assert_eq!(params.port_keys, DEFAULT_PORT_KEYS);
    assert_eq!(params.container, ContainerKind::Mesos);
    assert_eq!(params.image, None);
    assert_eq!(params.taskmanager_cmd, DEFAULT_TASKMANAGER_CMD);
    assert!(params.volumes.is_empty() && params.labels.is_empty() && params.env.is_empty());
    assert_eq!(params.hostname_for("tm-1"), None);
}

#[test]
fn cpu_fallback_chain() {
    let cases: &[(&[(&str, &str)], f64)] = &[
        (&[("taskmanager.numberOfTaskSlots", "4")], 4.0),
        (
            &[
                ("taskmanager.numberOfTaskSlots", "4"),
                ("mesos.resourcemanager.tasks.cpus", "2.5"),
            ],
            2.5,
        ),
        (
            &[
                ("mesos.resourcemanager.tasks.cpus", "0"),
                ("taskmanager.numberOfTaskSlots", "3"),
            ],
            3.0,
        ),
        (
            &[
                ("taskmanager.cpu.cores", "0.5"),
                ("mesos.resourcemanager.tasks.cpus", "2.5"),
            ],
            0.5,
        ),
    ];
    for (entries, cpus) in cases {
        assert_eq!(params(entries).cpus, *cpus, "{entries:?}");
    }
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("taskmanager.cpu.cores", "0")], "`taskmanager.cpu.cores`"),
        (&[("taskmanager.cpu.cores", "-1")], "`-1`"),
        (
            &[("mesos.resourcemanager.tasks.cpus", "-2")],
            "`mesos.resourcemanager.tasks.cpus`: must not be negative",
        ),
        (
            &[("taskmanager.numberOfTaskSlots", "0")],
            "`taskmanager.numberOfTaskSlots`",
        ),
    ];
    for (entries, expected) in cases {
        let message = error(entries);
        assert!(message.contains(expected), "{entries:?}: {message}");
    }
}

#[test]
fn scalar_options() {
    let params = params(&[
        ("taskmanager.memory.process.size", "2g"),
        ("mesos.resourcemanager.tasks.disk", "1024"),
        ("mesos.resourcemanager.tasks.gpus", "2"),
        ("mesos.resourcemanager.tasks.network.bandwidth", "100"),
        ("mesos.resourcemanager.network.resource.name", "net"),
    ]);
    assert_eq!(params.mem_mib, 2048);
    assert_eq!(
        (params.disk_mb, params.gpus, params.network_mbps),
        (1024, 2, 100)
    );
    let requirements = params.requirements();
    assert_eq!(requirements.mem_mib, 2048.0);
    assert_eq!(requirements.gpus, 2.0);
    assert_eq!(requirements.network_resource_name, "net");
    assert!(error(&[("taskmanager.memory.process.size", "1k")]).contains("at least 1 MiB"));
    // Negative GPUs are refused when set; the message names key and value.
    let err = Configuration::new()
        .set("mesos.resourcemanager.tasks.gpus", "-1")
        .unwrap_err();
    assert!(err.to_string().contains("`-1`") && err.to_string().contains("tasks.gpus"));
}

#[test]
fn port_keys_in_order_without_duplicates() {
    let params = params(&[(
        "mesos.resourcemanager.tasks.port-assignments",
        "metrics.reporter.prom.port, taskmanager.rpc.port,rest.port",
    )]);
    assert_eq!(
        params.port_keys,
        [
            "taskmanager.rpc.port",
            "taskmanager.data.port",
            "metrics.reporter.prom.port",
            "rest.port"
        ]
    );
    let message = error(&[(
        "mesos.resourcemanager.tasks.port-assignments",
        "my.secret.port",
    )]);
    assert!(message.contains("`my.secret.port`"), "{message}");
}

#[test]
fn containers() {
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
    ]);
    assert_eq!(docker.container, ContainerKind::Docker);
    assert_eq!(docker.image.as_deref(), Some("strom:1"));
    assert!(docker.force_pull_image);
    let ucr = params(&[(
        "mesos.resourcemanager.tasks.container.image.name",
        "strom:1",
    )]);
    assert_eq!(ucr.container, ContainerKind::Mesos);
    assert_eq!(ucr.image.as_deref(), Some("strom:1"));
    let message = error(&[("mesos.resourcemanager.tasks.container.type", "docker")]);
    assert_eq!(
        message,
        "configuration key `mesos.resourcemanager.tasks.container.image.name` must be set when \
         `mesos.resourcemanager.tasks.container.type` is `docker`"
    );
}

#[test]
fn docker_parameters() {
    let cases: &[(&str, &[(&str, &str)])] = &[
        ("a=b", &[("a", "b")]),
        ("env=X=1,label=k=v", &[("env", "X=1"), ("label", "k=v")]),
        (" a = b ; c= ", &[("a", "b"), ("c", "")]),
    ];
    for (text, expected) in cases {
        let params = params(&[(
            "mesos.resourcemanager.tasks.container.docker.parameters",
            text,
        )]);
        let got: Vec<(&str, &str)> = params
            .docker_parameters
            .iter()
            .map(|p| (p.key.as_str(), p.value.as_str()))
            .collect();
        assert_eq!(got, *expected, "{text}");
    }
    for bad in ["a=b,novalue", "=x"] {
        let message = error(&[(
            "mesos.resourcemanager.tasks.container.docker.parameters",
            bad,
        )]);
        let entry = bad.split(',').next_back().unwrap();
        assert!(
            message.contains(&format!("`{entry}`"))
                && message.contains("container.docker.parameters"),
            "{message}"
        );
    }
}

#[test]
fn volumes_follow_flinks_rules() {
    use VolumeMode::{Ro, Rw};
    let cases: &[(&str, Option<&str>, &str, VolumeMode)] = &[
        ("/data", None, "/data", Rw),
        ("/data:RO", None, "/data", Ro),
        ("/data:RW", None, "/data", Rw),
        ("/host:/data", Some("/host"), "/data", Rw),
        // `valueOf` is case-sensitive: `ro` is a container path.
        ("/host:ro", Some("/host"), "ro", Rw),
        ("/host:/data:RO", Some("/host"), "/data", Ro),
        // Java's split drops trailing empty parts.
        ("/data:", None, "/data", Rw),
        ("/host:/data::", Some("/host"), "/data", Rw),
    ];
    for (text, host, container, mode) in cases {
        let volume = parse_volume(text).unwrap();
        assert_eq!(volume.host_path.as_deref(), *host, "{text}");
        assert_eq!(volume.container_path, *container, "{text}");
        assert_eq!(volume.mode.as_ref(), Some(mode), "{text}");
    }
    for bad in ["/a:/b:ro", "/a:/b:RO:x", ":/data", "/a:/b:XX"] {
        assert!(parse_volume(bad).is_err(), "{bad}");
    }
    let params = params(&[(
        "mesos.resourcemanager.tasks.container.volumes",
        "/a,/h:/c:RO",
    )]);
    assert_eq!(params.volumes.len(), 2);
    let message = error(&[(
        "mesos.resourcemanager.tasks.container.volumes",
        "/ok,/a:/b:RO:x",
    )]);
    assert!(
        message.contains("`/a:/b:RO:x`") && message.contains("container.volumes"),
        "{message}"
    );
}

#[test]
fn labels_constraints_and_simple_strings() {
    let params = params(&[
        (
            "mesos.resourcemanager.tasks.labels",
            "team:data, url:http://x",
        ),
        (
            "mesos.constraints.hard.hostattribute",
            "az:eu-1a,HOSTNAME:agent-1",
        ),
        (
            "mesos.resourcemanager.tasks.uris",
            "http://a/x.tgz, http://b/y",
        ),
        ("mesos.resourcemanager.tasks.hostname", "_TASK_.strom.mesos"),
        ("mesos.resourcemanager.tasks.user", "strom"),
        ("mesos.resourcemanager.tasks.bootstrap-cmd", "sleep 1"),
        (
            "mesos.resourcemanager.tasks.taskmanager-cmd",
            "/opt/strom/bin/strom mesos-taskmanager",
        ),
        ("containerized.taskmanager.env.JAVA_HOME", "/jdk"),
    ]);
    assert_eq!(
        params.labels,
        [
            ("team".to_owned(), "data".to_owned()),
            ("url".to_owned(), "http://x".to_owned())
        ]
    );
    assert_eq!(
        params.constraints,
        [
            HostConstraint {
                attribute: "az".into(),
                value: "eu-1a".into()
            },
            HostConstraint {
                attribute: "HOSTNAME".into(),
                value: "agent-1".into()
            }
        ]
    );
    assert_eq!(params.uris, ["http://a/x.tgz", "http://b/y"]);
    assert_eq!(
        params.hostname_for("tm-7").as_deref(),
        Some("tm-7.strom.mesos")
    );
    assert_eq!(params.user.as_deref(), Some("strom"));
    assert_eq!(params.bootstrap_cmd.as_deref(), Some("sleep 1"));
    assert_eq!(
        params.taskmanager_cmd,
        "/opt/strom/bin/strom mesos-taskmanager"
    );
    assert_eq!(params.env["JAVA_HOME"], "/jdk");
    assert_eq!(params.requirements().constraints, params.constraints);
}

#[test]
fn malformed_entries_name_key_and_entry() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "mesos.resourcemanager.tasks.labels",
            "a:b,nolabel",
            "nolabel",
        ),
        ("mesos.resourcemanager.tasks.labels", ":v", ":v"),
        ("mesos.constraints.hard.hostattribute", "az", "az"),
        ("mesos.constraints.hard.hostattribute", "az:a:b", "az:a:b"),
        ("mesos.constraints.hard.hostattribute", "az:", "az:"),
    ];
    for (key, value, entry) in cases {
        let message = error(&[(key, value)]);
        assert!(
            message.starts_with(&format!(
                "invalid value `{entry}` for configuration key `{key}`"
            )),
            "{message}"
        );
    }
}

#[test]
fn docker_networks() {
    fn docker(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
        let mut entries = vec![
            ("mesos.resourcemanager.tasks.container.type", "docker"),
            (
                "mesos.resourcemanager.tasks.container.image.name",
                "strom:1",
            ),
        ];
        entries.extend_from_slice(extra);
        entries
    }
    assert_eq!(params(&docker(&[])).docker_network, DockerNetworkMode::Host);
    assert_eq!(params(&[]).docker_network, DockerNetworkMode::Host);
    let key = "mesos.resourcemanager.tasks.container.docker.network";
    let name_key = "mesos.resourcemanager.tasks.container.docker.network.name";
    // The registry's allowed values are case-insensitive.
    let bridge = params(&docker(&[(key, "bridge")]));
    assert_eq!(bridge.docker_network, DockerNetworkMode::Bridge);
    assert!(bridge.docker_network.publishes_ports());
    let user = params(&docker(&[(key, "USER"), (name_key, " strom-net ")]));
    assert_eq!(
        user.docker_network,
        DockerNetworkMode::User("strom-net".into())
    );
    assert!(!DockerNetworkMode::Host.publishes_ports());

    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            &docker(&[(key, "USER")]),
            "configuration key `mesos.resourcemanager.tasks.container.docker.network.name` must \
             be set when `mesos.resourcemanager.tasks.container.docker.network` is `USER`",
        ),
        (
            &docker(&[(key, "USER"), (name_key, " ")]),
            "must be set when `mesos.resourcemanager.tasks.container.docker.network` is `USER`",
        ),
        (
            &docker(&[(key, "BRIDGE"), (name_key, "strom-net")]),
            "invalid value `strom-net` for configuration key \
             `mesos.resourcemanager.tasks.container.docker.network.name`: only used when \
             `mesos.resourcemanager.tasks.container.docker.network` is `USER`",
        ),
        (
            &[(key, "BRIDGE")],
            "invalid value `BRIDGE` for configuration key \
             `mesos.resourcemanager.tasks.container.docker.network`: only Docker containers \
             have a Docker network: set `mesos.resourcemanager.tasks.container.type` to `docker`",
        ),
    ];
    for (entries, expected) in cases {
        let message = error(entries);
        assert!(message.contains(expected), "{entries:?}: {message}");
    }
    let err = Configuration::new().set(key, "overlay").unwrap_err();
    assert!(
        err.to_string().contains("`overlay`") && err.to_string().contains(key),
        "{err}"
    );
}
