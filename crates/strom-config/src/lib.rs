//! strom's configuration, with Apache Flink's flat keys and semantics so that the keys of a
//! user's `flink-conf.yaml` work as they are.
//!
//! Every option is a typed [`ConfigOption`] constant in [`options`]; a [`Configuration`] holds
//! the raw strings set by a YAML file, `-D key=value` flags ([`load`]) or code, validates known
//! keys when they are set and reads options with their defaults and Flink's fallback keys.
//! The registry also renders the reference page `docs/configuration.md`
//! ([`render_docs_markdown`]).
//!
//! ```
//! use std::time::Duration;
//! use strom_config::{Configuration, options};
//!
//! let mut config = Configuration::new();
//! config.set("high-availability", "ZOOKEEPER")?; // Flink's older key and spelling
//! config.set("heartbeat.timeout", "60000")?; // a plain number is milliseconds
//! assert_eq!(config.get(&options::HIGH_AVAILABILITY_TYPE), "zookeeper");
//! assert_eq!(config.get(&options::HEARTBEAT_TIMEOUT), Duration::from_secs(60));
//! assert_eq!(config.get(&options::REST_PORT), 8081);
//! assert!(config.set("rest.port", "abc").is_err());
//! # Ok::<(), strom_config::ConfigError>(())
//! ```

mod configuration;
mod docs;
mod duration;
mod error;
mod loader;
mod mask;
mod memory;
mod option;
pub mod options;
mod ports;
mod quantity;
mod yaml;

pub use configuration::Configuration;
pub use docs::render_docs_markdown;
pub use duration::{format_duration, parse_duration};
pub use error::{ConfigError, Origin, ParseError};
pub use loader::{
    CONFIG_FILE_NAMES, LoadOptions, Loaded, MAX_FILE_SIZE, load, load_bytes, parse_dynamic_flag,
};
pub use mask::{HIDDEN_CONTENT, is_sensitive};
pub use memory::MemorySize;
pub use option::{ConfigOption, OptionSpec, OptionValue};
pub use options::all_options;
pub use ports::{PortRange, PortRangeError};
