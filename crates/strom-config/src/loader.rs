//! Loading: picks the configuration file (explicit file, conf dir, `./conf/strom.yaml`), reads
//! it within a size limit, applies `-D key=value` overrides on top and collects warnings.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::configuration::Configuration;
use crate::error::{ConfigError, Origin};
use crate::yaml::{self, YamlProblem};

/// Files larger than this are refused (16 MiB).
pub const MAX_FILE_SIZE: u64 = 16 << 20;

/// File names looked up in a configuration directory, in order of preference.
pub const CONFIG_FILE_NAMES: [&str; 3] = ["strom.yaml", "config.yaml", "flink-conf.yaml"];

/// Where to load the configuration from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// A configuration file that must exist.
    pub config_file: Option<PathBuf>,
    /// A directory with `strom.yaml` (or `config.yaml`, or `flink-conf.yaml`).
    pub conf_dir: Option<PathBuf>,
    /// `key=value` overrides from `-D` flags; they win over the file.
    pub dynamic: Vec<String>,
}

/// A loaded configuration with the warnings found on the way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    pub config: Configuration,
    /// Unknown or removed keys, keys without value.
    pub warnings: Vec<String>,
    /// The file that was read, if any.
    pub source: Option<PathBuf>,
}

/// Loads the configuration: the selected file (if any), then the `-D` overrides.
pub fn load(options: &LoadOptions) -> Result<Loaded, ConfigError> {
    let mut warnings = Vec::new();
    let source = select_file(options, &mut warnings)?;
    let mut config = Configuration::new();
    if let Some(path) = &source {
        let origin = Origin::File(path.clone());
        for (key, value) in read_file(path)? {
            match value {
                Some(value) => warnings.extend(config.set_from(&key, &value, Some(&origin))?),
                None => warnings.push(format!(
                    "configuration key `{key}` has no value in {}; ignored",
                    path.display()
                )),
            }
        }
    }
    for flag in &options.dynamic {
        let (key, value) = parse_dynamic_flag(flag)?;
        warnings.extend(config.set_from(key, value, Some(&Origin::DynamicFlag))?);
    }
    Ok(Loaded {
        config,
        warnings,
        source,
    })
}

/// Splits a `-D` flag at its first `=`.
pub fn parse_dynamic_flag(flag: &str) -> Result<(&str, &str), ConfigError> {
    let invalid = |reason| ConfigError::InvalidDynamicFlag {
        flag: flag.to_owned(),
        reason,
    };
    let (key, value) = flag.split_once('=').ok_or_else(|| invalid("missing `=`"))?;
    let key = key.trim();
    if key.is_empty() {
        return Err(invalid("the key is empty"));
    }
    Ok((key, value.trim()))
}

fn select_file(
    options: &LoadOptions,
    warnings: &mut Vec<String>,
) -> Result<Option<PathBuf>, ConfigError> {
    if let Some(path) = &options.config_file {
        return match is_file(path)? {
            true => Ok(Some(path.clone())),
            false => Err(ConfigError::FileNotFound { path: path.clone() }),
        };
    }
    if let Some(dir) = &options.conf_dir {
        for name in CONFIG_FILE_NAMES {
            let path = dir.join(name);
            if is_file(&path)? {
                return Ok(Some(path));
            }
        }
        warnings.push(format!(
            "no {} in configuration directory {}; using defaults",
            CONFIG_FILE_NAMES.join(" or "),
            dir.display()
        ));
        return Ok(None);
    }
    let local = Path::new("conf").join(CONFIG_FILE_NAMES[0]);
    Ok(is_file(&local)?.then_some(local))
}

fn is_file(path: &Path) -> Result<bool, ConfigError> {
    match std::fs::metadata(path) {
        Ok(metadata) => Ok(metadata.is_file()),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(ConfigError::Io {
            path: path.to_owned(),
            source,
        }),
    }
}

fn read_file(path: &Path) -> Result<Vec<yaml::FlatEntry>, ConfigError> {
    let io_error = |source| ConfigError::Io {
        path: path.to_owned(),
        source,
    };
    let mut bytes = Vec::new();
    File::open(path)
        .map_err(io_error)?
        .take(MAX_FILE_SIZE + 1)
        .read_to_end(&mut bytes)
        .map_err(io_error)?;
    if bytes.len() as u64 > MAX_FILE_SIZE {
        return Err(ConfigError::FileTooLarge {
            path: path.to_owned(),
            limit: MAX_FILE_SIZE,
        });
    }
    parse_bytes(path, bytes)
}

/// Parses configuration file contents as [`load`] would read them from `path` (without `-D`
/// overrides); `path` only names the origin in errors. Used by the fuzz targets.
pub fn load_bytes(path: &Path, bytes: Vec<u8>) -> Result<Loaded, ConfigError> {
    let origin = Origin::File(path.to_owned());
    let mut config = Configuration::new();
    let mut warnings = Vec::new();
    for (key, value) in parse_bytes(path, bytes)? {
        if let Some(value) = value {
            warnings.extend(config.set_from(&key, &value, Some(&origin))?);
        }
    }
    Ok(Loaded {
        config,
        warnings,
        source: Some(path.to_owned()),
    })
}

fn parse_bytes(path: &Path, bytes: Vec<u8>) -> Result<Vec<yaml::FlatEntry>, ConfigError> {
    let text = String::from_utf8(bytes).map_err(|err| {
        let valid = &err.as_bytes()[..err.utf8_error().valid_up_to()];
        let line = valid.iter().filter(|b| **b == b'\n').count() as u64 + 1;
        let column = valid.iter().rev().take_while(|b| **b != b'\n').count() as u64 + 1;
        ConfigError::Syntax {
            path: path.to_owned(),
            line: Some(line),
            column: Some(column),
            message: "the file is not UTF-8 text".to_owned(),
        }
    })?;
    yaml::parse_flat(&text).map_err(|problem| match problem {
        YamlProblem::Syntax {
            line,
            column,
            message,
        } => ConfigError::Syntax {
            path: path.to_owned(),
            line,
            column,
            message,
        },
        YamlProblem::Structure(problem) => ConfigError::Structure {
            path: path.to_owned(),
            problem,
        },
    })
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::time::Duration;

    use super::*;
    use crate::memory::MemorySize;
    use crate::options::*;

    fn write(dir: &Path, name: &str, content: &[u8]) -> PathBuf {
        let path = dir.join(name);
        fs::write(&path, content).unwrap();
        path
    }

    fn load_file(path: &Path, dynamic: &[&str]) -> Result<Loaded, ConfigError> {
        load(&LoadOptions {
            config_file: Some(path.to_owned()),
            conf_dir: None,
            dynamic: dynamic.iter().map(|d| d.to_string()).collect(),
        })
    }

    #[test]
    fn loads_a_legacy_flink_conf_with_overrides() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "flink-conf.yaml",
            b"jobmanager.rpc.address: am-host # the AM\n\
              taskmanager.numberOfTaskSlots: 4\n\
              taskmanager.memory.process.size: 4 gb\n\
              high-availability: ZOOKEEPER\n\
              heartbeat.timeout: 60000\n\
              rest.prot: 8082\n\
              env.java.opts:\n",
        );
        let loaded = load_file(
            &path,
            &["rest.port=9999", "mesos.master=zk://a:2181,b:2181/mesos"],
        )
        .unwrap();
        let config = &loaded.config;
        assert_eq!(loaded.source.as_deref(), Some(path.as_path()));
        assert_eq!(config.get(&JOBMANAGER_RPC_ADDRESS), "am-host");
        assert_eq!(config.get(&TASKMANAGER_NUMBER_OF_TASK_SLOTS), 4);
        assert_eq!(
            config.get(&TASKMANAGER_MEMORY_PROCESS_SIZE),
            MemorySize::from_mebibytes(4096)
        );
        assert_eq!(config.get(&HIGH_AVAILABILITY_TYPE), "zookeeper");
        assert_eq!(config.get(&HEARTBEAT_TIMEOUT), Duration::from_secs(60));
        assert_eq!(config.get(&REST_PORT), 9999);
        assert_eq!(
            config.get(&MESOS_MASTER).as_deref(),
            Some("zk://a:2181,b:2181/mesos")
        );
        assert_eq!(loaded.warnings.len(), 3, "{:?}", loaded.warnings);
        assert!(loaded.warnings[0].contains(
            "`high-availability` is Flink's deprecated name of `high-availability.type`"
        ));
        assert!(loaded.warnings[1].starts_with(
            "unknown configuration key `rest.prot` (did you mean `rest.port`?), set in"
        ));
        assert!(loaded.warnings[2].contains("`env.java.opts` has no value"));
    }

    #[test]
    fn dynamic_flags_win_over_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "strom.yaml",
            b"rest.port: 1\nparallelism.default: 3\n",
        );
        let loaded = load_file(&path, &["rest.port=2", "pipeline.name=a=b"]).unwrap();
        assert_eq!(loaded.config.get(&REST_PORT), 2);
        assert_eq!(loaded.config.get(&PARALLELISM_DEFAULT), 3);
        assert_eq!(loaded.config.get(&PIPELINE_NAME).as_deref(), Some("a=b"));
    }

    #[test]
    fn nested_config_yaml_and_yaml_lists() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "config.yaml",
            b"rest:\n  port: 8082\nmesos:\n  resourcemanager:\n    tasks:\n      uris: [http://a/x, http://b/y]\n",
        );
        let loaded = load(&LoadOptions {
            conf_dir: Some(dir.path().to_owned()),
            ..LoadOptions::default()
        })
        .unwrap();
        assert_eq!(loaded.source, Some(dir.path().join("config.yaml")));
        assert_eq!(loaded.config.get(&REST_PORT), 8082);
        assert_eq!(
            loaded.config.get(&MESOS_RESOURCEMANAGER_TASKS_URIS),
            ["http://a/x", "http://b/y"]
        );
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    }

    #[test]
    fn conf_dir_prefers_strom_yaml_and_tolerates_absence() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "flink-conf.yaml", b"rest.port: 1\n");
        write(dir.path(), "strom.yaml", b"rest.port: 2\n");
        let options = LoadOptions {
            conf_dir: Some(dir.path().to_owned()),
            ..LoadOptions::default()
        };
        assert_eq!(load(&options).unwrap().config.get(&REST_PORT), 2);

        let empty = tempfile::tempdir().unwrap();
        let loaded = load(&LoadOptions {
            conf_dir: Some(empty.path().to_owned()),
            ..LoadOptions::default()
        })
        .unwrap();
        assert_eq!(loaded.source, None);
        assert_eq!(loaded.config, Configuration::new());
        assert_eq!(loaded.warnings.len(), 1);
    }

    #[test]
    fn explicit_missing_file_is_an_error() {
        let err = load_file(Path::new("/nonexistent/strom.yaml"), &[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "configuration file `/nonexistent/strom.yaml` does not exist"
        );
    }

    #[test]
    fn malformed_values_name_key_and_origin() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "strom.yaml", b"rest.port: abc\n");
        let err = load_file(&path, &[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "invalid value `abc` for configuration key `rest.port` (from {}): \
                 expected an integer port number (0-65535)",
                path.display()
            )
        );
        let empty = write(dir.path(), "empty.yaml", b"");
        let err = load_file(&empty, &["taskmanager.memory.process.size=12xb"]).unwrap_err();
        assert!(err.to_string().contains("(from -D flag)"), "{err}");
    }

    #[test]
    fn bad_files_are_reported_with_position() {
        let dir = tempfile::tempdir().unwrap();
        let tabs = write(dir.path(), "tabs.yaml", b"rest:\n\tport: 1\n");
        let err = load_file(&tabs, &[]).unwrap_err();
        assert!(
            matches!(err, ConfigError::Syntax { line: Some(_), .. }),
            "{err}"
        );
        let message = err.to_string();
        assert!(
            message.contains("tabs.yaml` is not valid YAML at line 2, column 2: "),
            "{message}"
        );
        assert_eq!(message.matches("line 2").count(), 1, "{message}");

        let control = write(dir.path(), "control.yaml", b"\x01\x02 {{{ ]]]");
        let err = load_file(&control, &[]).unwrap_err();
        assert!(err.to_string().contains("at line 1, column 1"), "{err}");

        let binary = write(dir.path(), "bin.yaml", b"a: 1\nb: \xff\xfe\x00garbage");
        let err = load_file(&binary, &[]).unwrap_err();
        assert!(
            err.to_string()
                .contains("at line 2, column 4: the file is not UTF-8"),
            "{err}"
        );

        let list = write(dir.path(), "list.yaml", b"- a\n- b\n");
        assert!(matches!(
            load_file(&list, &[]),
            Err(ConfigError::Structure { .. })
        ));

        let huge = dir.path().join("huge.yaml");
        let file = File::create(&huge).unwrap();
        file.set_len(MAX_FILE_SIZE + 1).unwrap();
        let err = load_file(&huge, &[]).unwrap_err();
        assert!(matches!(err, ConfigError::FileTooLarge { .. }), "{err}");
    }

    #[test]
    fn dynamic_flag_syntax() {
        assert_eq!(parse_dynamic_flag("a.b= c=d ").unwrap(), ("a.b", "c=d"));
        assert_eq!(parse_dynamic_flag("a=").unwrap(), ("a", ""));
        let err = parse_dynamic_flag("rest.port").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid -D flag `rest.port`: missing `=`; expected `key=value`"
        );
        assert!(
            parse_dynamic_flag("=1")
                .unwrap_err()
                .to_string()
                .contains("the key is empty")
        );
    }

    #[test]
    fn to_yaml_round_trips_through_load() {
        let mut config = Configuration::new();
        for (key, value) in [
            ("rest.port", "8082"),
            (
                "pipeline.name",
                "my job: \"quoted\" # not a comment\nsecond line",
            ),
            ("mesos.resourcemanager.framework.role", "*"),
            ("mesos.resourcemanager.tasks.uris", "a;b"),
            ("containerized.taskmanager.env.FOO", "true"),
            ("high-availability.cluster-id", "007"),
            ("taskmanager.memory.process.size", "1728m"),
            ("heartbeat.timeout", "50 s"),
            ("weird key: with colon", ""),
        ] {
            config.set(key, value).unwrap();
        }
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "strom.yaml", config.to_yaml().as_bytes());
        let loaded = load_file(&path, &[]).unwrap();
        assert_eq!(loaded.config, config, "yaml was:\n{}", config.to_yaml());
    }

    proptest::proptest! {
        #[test]
        fn to_yaml_round_trips_any_unknown_entries(
            entries in proptest::collection::btree_map("x\\.[a-z]{1,4}\\PC{0,8}", "\\PC{0,16}", 0..6)
        ) {
            let mut config = Configuration::new();
            for (key, value) in &entries {
                config.set(key, value).unwrap();
            }
            let text = config.to_yaml();
            let flat = yaml::parse_flat(&text).unwrap();
            let mut reloaded = Configuration::new();
            for (key, value) in flat {
                reloaded.set(&key, &value.unwrap_or_default()).unwrap();
            }
            proptest::prop_assert_eq!(reloaded, config, "yaml was:\n{}", text);
        }
    }
}
