//! [`Configuration`]: the raw `key -> value` strings set by a file, `-D` flags or code, with
//! validation of known keys on the way in and typed, default-aware reads on the way out.

use std::collections::BTreeMap;

use crate::error::{ConfigError, Origin};
use crate::mask::{HIDDEN_CONTENT, is_sensitive};
use crate::option::{ConfigOption, OptionSpec, OptionValue};
use crate::options::{self, KeyMatch};
use crate::yaml;

/// A configuration: explicitly set raw values; everything else reads as the option's default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Configuration {
    values: BTreeMap<String, String>,
}

impl Configuration {
    /// An empty configuration: every option has its default.
    pub fn new() -> Self {
        Self::default()
    }

    /// The option's value: the key's value, else the first set fallback key's, else the
    /// default. Never fails: a stored value that does not parse (only possible through
    /// [`Configuration::set_option`] with an invalid string) yields the default and a warning.
    pub fn get<T: OptionValue>(&self, option: &ConfigOption<T>) -> T {
        self.try_get(option).unwrap_or_else(|err| {
            tracing::warn!(key = option.key(), error = %err, "using the default value");
            option.default_value()
        })
    }

    /// Like [`Configuration::get`], but a value that does not parse is an error.
    pub fn try_get<T: OptionValue>(&self, option: &ConfigOption<T>) -> Result<T, ConfigError> {
        match self.resolve(option.spec()) {
            Some((key, raw)) => T::parse_value(raw).ok_or_else(|| ConfigError::InvalidValue {
                key: key.to_owned(),
                value: raw.to_owned(),
                expected: T::EXPECTED.to_owned(),
                origin: None,
            }),
            None => Ok(option.default_value()),
        }
    }

    /// Sets `key` to `value`. Values of known keys are validated (enum values are stored in
    /// their canonical spelling); unknown keys are stored as they are.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        self.set_from(key, value, None).map(|_warning| ())
    }

    /// Sets an option programmatically, storing the value's rendered string form.
    pub fn set_option<T: OptionValue>(&mut self, option: &ConfigOption<T>, value: T) {
        self.values
            .insert(option.key().to_owned(), value.render_value());
    }

    /// The explicitly set value of `key`, if any (no defaults, no fallback keys).
    pub fn get_raw(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    /// Whether `key` is explicitly set.
    pub fn contains(&self, key: &str) -> bool {
        self.values.contains_key(key)
    }

    /// The explicitly set entries, sorted by key.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &str)> {
        self.values.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The explicitly set entries plus, for every registered option, its resolved value (own
    /// key, fallback keys or non-empty default) when it has one.
    pub fn effective(&self) -> BTreeMap<String, String> {
        let mut effective = self.values.clone();
        for spec in options::all_options().filter(|spec| !spec.is_prefix()) {
            let default = spec.default_value().filter(|default| !default.is_empty());
            let resolved = self.resolve(spec).map(|(_, raw)| raw).or(default);
            if let Some(raw) = resolved {
                effective
                    .entry(spec.key().to_owned())
                    .or_insert_with(|| raw.to_owned());
            }
        }
        effective
    }

    /// [`Configuration::effective`] with the values of sensitive keys replaced by `******`.
    pub fn masked(&self) -> BTreeMap<String, String> {
        let mut masked = self.effective();
        for (key, value) in &mut masked {
            if is_sensitive(key) {
                *value = HIDDEN_CONTENT.to_owned();
            }
        }
        masked
    }

    /// The explicitly set entries under `prefix`, with the prefix stripped:
    /// `containerized.taskmanager.env.FOO: bar` gives `FOO -> bar`.
    pub fn with_prefix(&self, prefix: &str) -> BTreeMap<String, String> {
        self.values
            .range(prefix.to_owned()..)
            .take_while(|(key, _)| key.starts_with(prefix))
            .filter(|(key, _)| key.len() > prefix.len())
            .map(|(key, value)| (key[prefix.len()..].to_owned(), value.clone()))
            .collect()
    }

    /// The explicitly set entries as flat `key: value` YAML that [`crate::load`] reads back.
    pub fn to_yaml(&self) -> String {
        self.values
            .iter()
            .map(|(key, value)| format!("{}: {}\n", yaml::quote(key), yaml::quote(value)))
            .collect()
    }

    /// Copies every explicitly set entry of `other` into `self`; `other` wins.
    pub fn merge(&mut self, other: &Configuration) {
        for (key, value) in &other.values {
            self.values.insert(key.clone(), value.clone());
        }
    }

    /// The key and raw value an option resolves to, if it or a fallback key is set.
    fn resolve(&self, spec: &OptionSpec) -> Option<(&str, &str)> {
        std::iter::once(spec.key())
            .chain(spec.fallback_keys().iter().copied())
            .find_map(|key| self.values.get_key_value(key))
            .map(|(key, value)| (key.as_str(), value.as_str()))
    }

    /// Validates and stores one entry; returns a warning for unknown or removed keys.
    pub(crate) fn set_from(
        &mut self,
        key: &str,
        value: &str,
        origin: Option<&Origin>,
    ) -> Result<Option<String>, ConfigError> {
        let key = key.trim();
        if key.is_empty() {
            return Err(ConfigError::EmptyKey {
                origin: origin.cloned(),
            });
        }
        let from = origin.map(|o| format!(", set in {o}")).unwrap_or_default();
        if let Some((_, new)) = options::RENAMED_KEYS.iter().find(|(old, _)| *old == key) {
            if self.values.contains_key(*new) {
                return Ok(Some(format!(
                    "configuration key `{key}` is Flink's deprecated name of `{new}`, which is set: \
                     ignored{from}"
                )));
            }
            let value = options::renamed_value(key, value);
            self.set_from(new, &value, origin).map_err(|e| match e {
                ConfigError::InvalidValue {
                    value,
                    expected,
                    origin,
                    ..
                } => ConfigError::InvalidValue {
                    key: format!("{key}`, Flink's deprecated name of `{new}"),
                    value,
                    expected,
                    origin,
                },
                other => other,
            })?;
            return Ok(Some(format!(
                "configuration key `{key}` is Flink's deprecated name of `{new}`: read as \
                 `{new}: {value}`{from}"
            )));
        }
        let (stored, warning) = match options::lookup(key) {
            KeyMatch::Option(spec) => {
                let stored =
                    spec.validate(value)
                        .map_err(|expected| ConfigError::InvalidValue {
                            key: key.to_owned(),
                            value: value.to_owned(),
                            expected,
                            origin: origin.cloned(),
                        })?;
                (stored, None)
            }
            KeyMatch::Prefix => (value.to_owned(), None),
            KeyMatch::Removed(hint) => (
                value.to_owned(),
                Some(format!(
                    "configuration key `{key}` is no longer supported and is ignored ({hint}){from}"
                )),
            ),
            KeyMatch::Ignored(why) => (
                value.to_owned(),
                Some(format!(
                    "configuration key `{key}` has no meaning in strom and is ignored ({why}){from}"
                )),
            ),
            KeyMatch::Unknown => {
                let suggestion = options::closest_key(key)
                    .map(|close| format!(" (did you mean `{close}`?)"))
                    .unwrap_or_default();
                (
                    value.to_owned(),
                    Some(format!(
                        "unknown configuration key `{key}`{suggestion}{from}"
                    )),
                )
            }
        };
        self.values.insert(key.to_owned(), stored);
        Ok(warning)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::memory::MemorySize;
    use crate::options::*;

    #[test]
    fn empty_configuration_reads_defaults() {
        let config = Configuration::new();
        assert_eq!(config.get(&REST_PORT), 8081);
        assert_eq!(config.get(&HEARTBEAT_INTERVAL), Duration::from_secs(10));
        assert_eq!(config.get(&MESOS_MASTER), None);
        assert_eq!(config.get(&HIGH_AVAILABILITY_TYPE), "none");
        assert_eq!(config.entries().count(), 0);
    }

    #[test]
    fn set_validates_known_keys() {
        let mut config = Configuration::new();
        config.set("rest.port", "9091").unwrap();
        assert_eq!(config.get(&REST_PORT), 9091);
        let err = config.set("rest.port", "abc").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid value `abc` for configuration key `rest.port`: expected an integer port number (0-65535)"
        );
        let err = config
            .set("taskmanager.memory.process.size", "12xb")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid value `12xb` for configuration key `taskmanager.memory.process.size`: \
             expected a memory size such as `1728m`, `1 gb` or `512 kb`"
        );
        assert_eq!(
            config.get(&REST_PORT),
            9091,
            "a rejected value leaves the old one"
        );
        assert!(config.set("", "x").is_err());
        config.set("some.unknown.key", "anything").unwrap();
        assert_eq!(config.get_raw("some.unknown.key"), Some("anything"));
    }

    #[test]
    fn enum_values_are_case_insensitive_and_canonical() {
        let mut config = Configuration::new();
        config.set("high-availability", "ZOOKEEPER").unwrap();
        assert_eq!(config.get_raw("high-availability.type"), Some("zookeeper"));
        assert_eq!(config.get(&HIGH_AVAILABILITY_TYPE), "zookeeper");
        let err = config
            .set("high-availability.type", "kubernetes")
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("expected one of `none`, `zookeeper`, `file`"),
            "{err}"
        );
        let err = config
            .set("mesos.resourcemanager.tasks.container.type", "rkt")
            .unwrap_err();
        assert!(err.to_string().contains("`mesos`, `docker`"), "{err}");
    }

    #[test]
    fn fallback_keys_apply_only_when_the_key_is_unset() {
        let mut config = Configuration::new();
        assert_eq!(config.get(&REST_ADDRESS), None);
        config.set("jobmanager.rpc.address", "am-host").unwrap();
        assert_eq!(config.get(&REST_ADDRESS).as_deref(), Some("am-host"));
        config.set("rest.address", "rest-host").unwrap();
        assert_eq!(config.get(&REST_ADDRESS).as_deref(), Some("rest-host"));
        config
            .set("taskmanager.registration.timeout", "7 min")
            .unwrap();
        assert_eq!(
            config.get(&RESOURCEMANAGER_TASKMANAGER_REGISTRATION_TIMEOUT),
            Duration::from_secs(420)
        );
    }

    #[test]
    fn set_option_stores_rendered_values() {
        let mut config = Configuration::new();
        config.set_option(
            &TASKMANAGER_MEMORY_PROCESS_SIZE,
            MemorySize::from_mebibytes(2048),
        );
        config.set_option(&HEARTBEAT_TIMEOUT, Duration::from_millis(1500));
        config.set_option(
            &MESOS_RESOURCEMANAGER_TASKS_URIS,
            vec!["a".into(), "b".into()],
        );
        config.set_option(&MESOS_MASTER, Some("zk://zk:2181/mesos".into()));
        assert_eq!(
            config.get_raw("taskmanager.memory.process.size"),
            Some("2g")
        );
        assert_eq!(config.get_raw("heartbeat.timeout"), Some("1500 ms"));
        assert_eq!(config.get(&MESOS_RESOURCEMANAGER_TASKS_URIS), ["a", "b"]);
        assert_eq!(
            config.get(&MESOS_MASTER).as_deref(),
            Some("zk://zk:2181/mesos")
        );
    }

    #[test]
    fn unparsable_stored_value_falls_back_to_default() {
        let mut config = Configuration::new();
        config
            .values
            .insert("rest.port".into(), "not-a-port".into());
        assert_eq!(config.get(&REST_PORT), 8081);
        assert!(config.try_get(&REST_PORT).is_err());
    }

    #[test]
    fn effective_and_masked_views() {
        let mut config = Configuration::new();
        config.set("high-availability", "zookeeper").unwrap();
        config
            .set("mesos.resourcemanager.framework.secret", "hunter2")
            .unwrap();
        config.set("custom.api-key", "k").unwrap();
        let effective = config.effective();
        assert_eq!(effective["rest.port"], "8081");
        assert_eq!(effective["high-availability.type"], "zookeeper");
        assert!(!effective.contains_key("mesos.master"), "no default");
        assert!(!effective.contains_key("mesos.resourcemanager.tasks.uris"));
        let masked = config.masked();
        assert_eq!(masked["mesos.resourcemanager.framework.secret"], "******");
        assert_eq!(masked["custom.api-key"], "******");
        assert_eq!(masked["rest.port"], "8081");
    }

    #[test]
    fn flinks_deprecated_and_meaningless_keys_are_read_or_ignored_with_a_warning() {
        let mut config = Configuration::new();
        let warning = config
            .set_from("state.backend", "filesystem", None)
            .unwrap()
            .unwrap();
        assert!(
            warning.contains("read as `state.backend.type: hashmap`"),
            "{warning}"
        );
        assert_eq!(config.get(&STATE_BACKEND_TYPE), "hashmap");
        config.set("jobmanager.heap.size", "1024m").unwrap();
        assert_eq!(
            config.get(&JOBMANAGER_MEMORY_PROCESS_SIZE),
            MemorySize::parse("1024m").unwrap()
        );
        config.set("restart-strategy.type", "none").unwrap();
        let warning = config.set_from("restart-strategy", "fixed-delay", None);
        assert!(warning.unwrap().unwrap().contains("which is set: ignored"));
        assert_eq!(config.get(&RESTART_STRATEGY_TYPE), "none");
        let err = Configuration::new()
            .set("state.backend", "rocks")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`state.backend`, Flink's deprecated name of `state.backend.type`:"),
            "{err}"
        );
        for key in [
            "env.java.opts",
            "akka.ask.timeout",
            "blob.server.port",
            "taskmanager.memory.managed.fraction",
        ] {
            let warning = config.set_from(key, "x", None).unwrap().unwrap();
            assert!(
                warning.contains("has no meaning in strom"),
                "{key}: {warning}"
            );
        }
        // A registered key under an ignored prefix is read.
        assert_eq!(
            config
                .set_from("taskmanager.memory.process.size", "2g", None)
                .unwrap(),
            None
        );
        config.set("taskmanager.rpc.port", "50100-50200").unwrap();
        assert_eq!(config.get(&TASKMANAGER_RPC_PORT).first(), 50100);
        assert!(config.set("taskmanager.rpc.port", "50200-50100").is_err());
    }

    #[test]
    fn with_prefix_strips_the_prefix() {
        let mut config = Configuration::new();
        config
            .set("containerized.taskmanager.env.FOO", "bar")
            .unwrap();
        config
            .set("containerized.taskmanager.env.LD_PATH", "/x")
            .unwrap();
        config.set("containerized.master.env.OTHER", "y").unwrap();
        let env = config.with_prefix(CONTAINERIZED_TASKMANAGER_ENV.key());
        assert_eq!(env.len(), 2);
        assert_eq!(env["FOO"], "bar");
        assert_eq!(env["LD_PATH"], "/x");
    }

    #[test]
    fn merge_prefers_the_other_configuration() {
        let mut base = Configuration::new();
        base.set("rest.port", "1").unwrap();
        base.set("jobmanager.rpc.port", "2").unwrap();
        let mut other = Configuration::new();
        other.set("rest.port", "3").unwrap();
        base.merge(&other);
        assert_eq!(base.get(&REST_PORT), 3);
        assert_eq!(base.get(&JOBMANAGER_RPC_PORT), 2);
    }

    #[test]
    fn unknown_keys_warn_with_suggestion() {
        let mut config = Configuration::new();
        let warning = config.set_from("rest.prot", "8081", None).unwrap();
        assert_eq!(
            warning.as_deref(),
            Some("unknown configuration key `rest.prot` (did you mean `rest.port`?)")
        );
        let warning = config
            .set_from("mesos.initial-tasks", "3", Some(&Origin::DynamicFlag))
            .unwrap();
        assert!(
            warning.is_some_and(|w| w.contains("no longer supported") && w.ends_with("-D flag"))
        );
        assert_eq!(
            config
                .set_from("metrics.reporter.jmx.port", "1", None)
                .unwrap(),
            None
        );
    }
}
