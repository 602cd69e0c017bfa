//! Logging in the shape go-plugin's host reads from a plugin's stderr: one
//! JSON object per line with string `@level`, `@message` and `@timestamp`
//! (go-plugin's log_entry.go). The host re-logs each line at that level, so
//! plugin logs show up properly in the Vault server log.
//!
//! The three keys must be strings: a non-string `@message` panics the host.
//! `@timestamp` needs exactly six fractional digits, or the line is logged raw.

use std::fmt;

use serde_json::{Map, Value};
use time::format_description::FormatItem;
use time::macros::format_description;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// Go's `2006-01-02T15:04:05.000000Z07:00`, in UTC.
const TIMESTAMP: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");

/// Environment variable that sets the plugin's log level (`trace` … `error`,
/// `off`); the host still drops lines below its own level.
pub const LEVEL_VAR: &str = "RATLS_LOG_LEVEL";

/// Installs the global subscriber: JSON lines on stderr, this crate's events
/// at `level`, its dependencies' (h2, tonic, rustls…) at `warn` at most, so
/// that `trace` shows the plugin's own work, not every HTTP/2 frame.
pub fn init(level: LevelFilter) {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;

    let targets = tracing_subscriber::filter::Targets::new()
        .with_target(env!("CARGO_CRATE_NAME"), level)
        .with_default(level.min(LevelFilter::WARN));
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(level)
        .event_format(GoPluginJson)
        .finish()
        .with(targets)
        .try_init();
}

/// Parses a level name as [`LEVEL_VAR`] holds it; `None` when it is not one.
pub fn parse_level(name: &str) -> Option<LevelFilter> {
    name.trim().parse().ok()
}

/// The go-plugin JSON line format.
#[derive(Debug, Clone, Copy, Default)]
pub struct GoPluginJson;

impl<S, N> FormatEvent<S, N> for GoPluginJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let timestamp = time::OffsetDateTime::now_utc()
            .format(TIMESTAMP)
            .map_err(|_| fmt::Error)?;
        let line = encode(
            *event.metadata().level(),
            event.metadata().target(),
            &timestamp,
            event,
        );
        writeln!(writer, "{line}")
    }
}

fn encode(level: Level, module: &str, timestamp: &str, event: &Event<'_>) -> String {
    let mut fields = Fields::default();
    event.record(&mut fields);
    let mut line = Map::new();
    line.insert("@level".into(), Value::from(level_name(level)));
    line.insert("@message".into(), Value::from(fields.message));
    line.insert("@module".into(), Value::from(module));
    line.insert("@timestamp".into(), Value::from(timestamp));
    for (key, value) in fields.rest {
        line.entry(key).or_insert(value);
    }
    Value::Object(line).to_string()
}

fn level_name(level: Level) -> &'static str {
    match level {
        Level::TRACE => "trace",
        Level::DEBUG => "debug",
        Level::INFO => "info",
        Level::WARN => "warn",
        Level::ERROR => "error",
    }
}

/// An event's `message` and other fields, each rendered as a JSON value.
#[derive(Default)]
struct Fields {
    message: String,
    rest: Vec<(String, Value)>,
}

impl Fields {
    fn put(&mut self, field: &Field, value: Value) {
        if field.name() == "message" {
            self.message = match value {
                Value::String(text) => text,
                other => other.to_string(),
            };
        } else {
            self.rest.push((field.name().to_owned(), value));
        }
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Value::from(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, Value::from(value));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, Value::from(format!("{value:?}")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_are_what_go_plugin_parses() {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_max_level(LevelFilter::TRACE)
            .event_format(GoPluginJson)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(count = 3, ok = true, "storage is slow");
            tracing::error!(answer = 42);
        });
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["@level"], "warn");
        assert_eq!(lines[0]["@message"], "storage is slow");
        assert_eq!(lines[0]["count"], 3);
        assert_eq!(lines[0]["ok"], true);
        assert_eq!(lines[1]["@level"], "error");
        assert_eq!(lines[1]["@message"], "", "@message must stay a string");
        let timestamp = lines[0]["@timestamp"].as_str().unwrap();
        // 2026-11-28T15:04:05.123456Z
        assert_eq!(timestamp.len(), 27, "{timestamp}");
        assert_eq!(timestamp.split('.').nth(1).unwrap().len(), 7);
        assert!(timestamp.ends_with('Z'));
    }

    #[test]
    fn parses_level_names() {
        assert_eq!(parse_level("trace"), Some(LevelFilter::TRACE));
        assert_eq!(parse_level(" WARN "), Some(LevelFilter::WARN));
        assert_eq!(parse_level("off"), Some(LevelFilter::OFF));
        assert_eq!(parse_level("loud"), None);
    }
}
