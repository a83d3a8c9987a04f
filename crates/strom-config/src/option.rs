//! Option descriptors: the typed [`ConfigOption<T>`] that callers read with
//! [`crate::Configuration::get`], its type-erased [`OptionSpec`] used for validation and
//! documentation, and the [`OptionValue`] trait implemented by every supported value type.

use std::marker::PhantomData;
use std::time::Duration;

use crate::duration::{format_duration, parse_duration};
use crate::memory::MemorySize;

/// A type an option's value can have: parsed from and rendered to the stored string form.
pub trait OptionValue: Sized + Default {
    /// Type name shown in the reference documentation.
    const TYPE_NAME: &'static str;
    /// What a valid value looks like, completing "expected ..." in error messages.
    const EXPECTED: &'static str;

    /// Parses the stored string form; `None` if it is malformed.
    fn parse_value(raw: &str) -> Option<Self>;

    /// Renders the value to the string form that [`OptionValue::parse_value`] reads back.
    fn render_value(&self) -> String;
}

impl OptionValue for String {
    const TYPE_NAME: &'static str = "String";
    const EXPECTED: &'static str = "a string";

    fn parse_value(raw: &str) -> Option<Self> {
        Some(raw.to_owned())
    }

    fn render_value(&self) -> String {
        self.clone()
    }
}

impl OptionValue for bool {
    const TYPE_NAME: &'static str = "Boolean";
    const EXPECTED: &'static str = "`true` or `false`";

    fn parse_value(raw: &str) -> Option<Self> {
        let raw = raw.trim();
        if raw.eq_ignore_ascii_case("true") {
            Some(true)
        } else if raw.eq_ignore_ascii_case("false") {
            Some(false)
        } else {
            None
        }
    }

    fn render_value(&self) -> String {
        self.to_string()
    }
}

macro_rules! integer_value {
    ($($ty:ty => $expected:literal),* $(,)?) => {$(
        impl OptionValue for $ty {
            const TYPE_NAME: &'static str = "Integer";
            const EXPECTED: &'static str = $expected;

            fn parse_value(raw: &str) -> Option<Self> {
                raw.trim().parse().ok()
            }

            fn render_value(&self) -> String {
                self.to_string()
            }
        }
    )*};
}

integer_value! {
    u16 => "an integer port number (0-65535)",
    u32 => "a non-negative integer",
    u64 => "a non-negative integer",
    usize => "a non-negative integer",
    i32 => "an integer",
    i64 => "an integer",
}

impl OptionValue for f64 {
    const TYPE_NAME: &'static str = "Double";
    const EXPECTED: &'static str = "a number such as `2` or `1.5`";

    fn parse_value(raw: &str) -> Option<Self> {
        raw.trim().parse::<f64>().ok().filter(|v| v.is_finite())
    }

    fn render_value(&self) -> String {
        self.to_string()
    }
}

impl OptionValue for MemorySize {
    const TYPE_NAME: &'static str = "MemorySize";
    const EXPECTED: &'static str = "a memory size such as `1728m`, `1 gb` or `512 kb`";

    fn parse_value(raw: &str) -> Option<Self> {
        MemorySize::parse(raw).ok()
    }

    fn render_value(&self) -> String {
        self.to_string()
    }
}

impl OptionValue for Duration {
    const TYPE_NAME: &'static str = "Duration";
    const EXPECTED: &'static str = "a duration such as `50 s`, `5000 ms` or `10 min`";

    fn parse_value(raw: &str) -> Option<Self> {
        parse_duration(raw).ok()
    }

    fn render_value(&self) -> String {
        format_duration(*self)
    }
}

/// A list: `a;b;c` (Flink's list syntax), or `a,b,c` when the text contains no `;`; a YAML
/// list in a file is stored `;`-joined. Entries are trimmed and empty entries dropped.
impl OptionValue for Vec<String> {
    const TYPE_NAME: &'static str = "List<String>";
    const EXPECTED: &'static str = "a list such as `a;b` or `a,b`";

    fn parse_value(raw: &str) -> Option<Self> {
        let separator = if raw.contains(';') { ';' } else { ',' };
        Some(
            raw.split(separator)
                .map(str::trim)
                .filter(|entry| !entry.is_empty())
                .map(str::to_owned)
                .collect(),
        )
    }

    fn render_value(&self) -> String {
        self.join(";")
    }
}

/// An option without default: empty text means "not set".
impl<T: OptionValue> OptionValue for Option<T> {
    const TYPE_NAME: &'static str = T::TYPE_NAME;
    const EXPECTED: &'static str = T::EXPECTED;

    fn parse_value(raw: &str) -> Option<Self> {
        if raw.trim().is_empty() {
            Some(None)
        } else {
            T::parse_value(raw).map(Some)
        }
    }

    fn render_value(&self) -> String {
        self.as_ref().map(T::render_value).unwrap_or_default()
    }
}

fn is_valid<T: OptionValue>(raw: &str) -> bool {
    T::parse_value(raw).is_some()
}

/// The type-erased description of one registered option.
#[derive(Debug, Clone, Copy)]
pub struct OptionSpec {
    pub(crate) key: &'static str,
    pub(crate) type_name: &'static str,
    pub(crate) expected: &'static str,
    pub(crate) default: Option<&'static str>,
    pub(crate) description: &'static str,
    pub(crate) fallback_keys: &'static [&'static str],
    pub(crate) allowed_values: &'static [&'static str],
    pub(crate) prefix: bool,
    pub(crate) section: &'static str,
    pub(crate) is_valid: fn(&str) -> bool,
}

impl OptionSpec {
    /// The key; for a prefix option, the prefix including its trailing `.`.
    pub fn key(&self) -> &'static str {
        self.key
    }

    /// The value type's name, e.g. `Duration`.
    pub fn type_name(&self) -> &'static str {
        self.type_name
    }

    /// The default in its string form, if the option has one.
    pub fn default_value(&self) -> Option<&'static str> {
        self.default
    }

    /// One sentence describing the option.
    pub fn description(&self) -> &'static str {
        self.description
    }

    /// Older or related keys consulted, in order, when the key itself is not set.
    pub fn fallback_keys(&self) -> &'static [&'static str] {
        self.fallback_keys
    }

    /// For enum-like options, the accepted values (matched case-insensitively).
    pub fn allowed_values(&self) -> &'static [&'static str] {
        self.allowed_values
    }

    /// Whether this option stands for every key starting with [`OptionSpec::key`].
    pub fn is_prefix(&self) -> bool {
        self.prefix
    }

    /// The documentation section the option is listed under.
    pub fn section(&self) -> &'static str {
        self.section
    }

    /// Whether values of this option are secrets to be masked.
    pub fn is_sensitive(&self) -> bool {
        crate::mask::is_sensitive(self.key)
    }

    /// Checks `raw` against the option's type and allowed values, returning the value to store
    /// (allowed values in their canonical spelling) or the "expected ..." description.
    pub(crate) fn validate(&self, raw: &str) -> Result<String, String> {
        if !self.allowed_values.is_empty() {
            let wanted = raw.trim();
            return self
                .allowed_values
                .iter()
                .find(|allowed| allowed.eq_ignore_ascii_case(wanted))
                .map(|allowed| (*allowed).to_owned())
                .ok_or_else(|| {
                    let list: Vec<String> = self
                        .allowed_values
                        .iter()
                        .map(|v| format!("`{v}`"))
                        .collect();
                    format!("one of {}", list.join(", "))
                });
        }
        if (self.is_valid)(raw) {
            Ok(raw.to_owned())
        } else {
            Err(self.expected.to_owned())
        }
    }
}

/// A typed configuration option: key, default, description and fallback keys.
///
/// Built in `const` context by the registry in [`crate::options`].
#[derive(Debug, Clone, Copy)]
pub struct ConfigOption<T> {
    pub(crate) spec: OptionSpec,
    value_type: PhantomData<fn() -> T>,
}

impl<T: OptionValue> ConfigOption<T> {
    const fn build(
        key: &'static str,
        default: Option<&'static str>,
        description: &'static str,
    ) -> Self {
        ConfigOption {
            spec: OptionSpec {
                key,
                type_name: T::TYPE_NAME,
                expected: T::EXPECTED,
                default,
                description,
                fallback_keys: &[],
                allowed_values: &[],
                prefix: false,
                section: "",
                is_valid: is_valid::<T>,
            },
            value_type: PhantomData,
        }
    }

    /// An option with a default given in its string form.
    pub const fn new(key: &'static str, default: &'static str, description: &'static str) -> Self {
        Self::build(key, Some(default), description)
    }

    /// An option without default (use an `Option<_>` type).
    pub const fn without_default(key: &'static str, description: &'static str) -> Self {
        Self::build(key, None, description)
    }

    /// Keys consulted, in order, when the key itself is not set (Flink's fallback and
    /// deprecated keys).
    pub const fn with_fallback_keys(mut self, keys: &'static [&'static str]) -> Self {
        self.spec.fallback_keys = keys;
        self
    }

    /// Restricts the value to `values`, matched case-insensitively and stored as spelled here.
    pub const fn with_allowed_values(mut self, values: &'static [&'static str]) -> Self {
        self.spec.allowed_values = values;
        self.spec.type_name = "Enum";
        self
    }

    pub(crate) const fn in_section(mut self, section: &'static str) -> Self {
        self.spec.section = section;
        self
    }

    /// The option's key.
    pub fn key(&self) -> &'static str {
        self.spec.key
    }

    /// The type-erased descriptor.
    pub fn spec(&self) -> &OptionSpec {
        &self.spec
    }

    /// The default value (the type's empty value if the option has none).
    pub fn default_value(&self) -> T {
        match self.spec.default {
            Some(raw) => T::parse_value(raw).unwrap_or_else(|| {
                tracing::warn!(
                    key = self.spec.key,
                    default = raw,
                    "malformed built-in default"
                );
                T::default()
            }),
            None => T::default(),
        }
    }
}

impl ConfigOption<String> {
    /// An option standing for every key that starts with `prefix` (which ends with `.`); read
    /// it with [`crate::Configuration::with_prefix`].
    pub const fn prefix(prefix: &'static str, description: &'static str) -> Self {
        let mut option = Self::build(prefix, None, description);
        option.spec.prefix = true;
        option
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalar_types_parse_and_render() {
        assert_eq!(u16::parse_value(" 8081 "), Some(8081));
        assert_eq!(u16::parse_value("65536"), None);
        assert_eq!(i32::parse_value("-1"), Some(-1));
        assert_eq!(u32::parse_value("-1"), None);
        assert_eq!(bool::parse_value("TRUE"), Some(true));
        assert_eq!(bool::parse_value("yes"), None);
        assert_eq!(f64::parse_value("1.5"), Some(1.5));
        assert_eq!(f64::parse_value("NaN"), None);
        assert_eq!(
            Duration::parse_value("50 s").map(|d| d.render_value()),
            Some("50 s".into())
        );
    }

    #[test]
    fn lists_split_on_semicolon_or_comma() {
        let semi = Vec::<String>::parse_value("a=1,2; b ;").unwrap();
        assert_eq!(semi, ["a=1,2", "b"]);
        let comma = Vec::<String>::parse_value("x:1, y:2").unwrap();
        assert_eq!(comma, ["x:1", "y:2"]);
        assert_eq!(
            Vec::<String>::parse_value("").unwrap(),
            Vec::<String>::new()
        );
        assert_eq!(comma.render_value(), "x:1;y:2");
    }

    #[test]
    fn optional_values_treat_empty_as_unset() {
        assert_eq!(Option::<MemorySize>::parse_value(" "), Some(None));
        assert_eq!(
            Option::<MemorySize>::parse_value("1m"),
            Some(Some(MemorySize::from_mebibytes(1)))
        );
        assert_eq!(Option::<MemorySize>::parse_value("x"), None);
        assert_eq!(None::<u16>.render_value(), "");
    }

    #[test]
    fn allowed_values_are_canonicalized() {
        const HA: ConfigOption<String> =
            ConfigOption::new("ha", "none", "d").with_allowed_values(&["none", "zookeeper"]);
        assert_eq!(HA.spec().validate("ZOOKEEPER"), Ok("zookeeper".to_owned()));
        assert_eq!(
            HA.spec().validate("kubernetes"),
            Err("one of `none`, `zookeeper`".to_owned())
        );
        assert_eq!(HA.spec().type_name(), "Enum");
    }
}
