//! The compiled form of a SQL vertex, as it travels in the job-graph file.
//!
//! A vertex runs an optional source, a chain of steps and an optional sink. Schemas travel as
//! Arrow schemas (serde), expressions as SQL text over the step's input columns: readable in the
//! job-graph file and in `EXPLAIN`, and planned again by DataFusion on the TaskManager.

use std::collections::BTreeMap;

use arrow_schema::Schema;
use serde::{Deserialize, Serialize};

/// Name of the row-kind column that updating streams carry last (`+I`, `-U`, `+U`, `-D`).
pub const ROW_KIND_COLUMN: &str = "__row_kind";

/// What one SQL vertex runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VertexPlan {
    /// The connector that produces this vertex's records, for source vertices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<SourcePlan>,
    /// Applied in order to every batch.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<Step>,
    /// The connector that consumes the records, for sink vertices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sink: Option<SinkPlan>,
}

/// A table's connector: its name and `WITH` options.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectorPlan {
    /// The table name in the script.
    pub table: String,
    /// The `WITH` options, `connector` included.
    pub options: BTreeMap<String, String>,
}

impl ConnectorPlan {
    /// The `connector` option.
    pub fn connector(&self) -> &str {
        self.options.get("connector").map_or("", String::as_str)
    }
}

/// A source connector and how it derives watermarks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourcePlan {
    /// Connector and options.
    pub connector: ConnectorPlan,
    /// The columns the connector reads.
    pub schema: Schema,
    /// The table's computed columns (`name AS expr`): every column of the table in declared
    /// order, as expressions over the connector's columns, applied to each batch as it is read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub computed: Option<ComputedColumns>,
    /// `WATERMARK FOR column AS column - delay`, on the table's columns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watermark: Option<WatermarkPlan>,
    /// The columns of `schema` the query uses, in order, when the planner pushed the scan's
    /// projection into the connector (`filesystem` only): its batches hold just these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub projection: Option<Vec<usize>>,
    /// Whether the source ends on its own.
    pub bounded: bool,
    /// The table's `PRIMARY KEY` columns (a `jdbc` scan reads in their order, so that a
    /// restored read skips the same rows).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub primary_key: Vec<String>,
    /// The columns filled from the messages' metadata rather than their values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metadata: Vec<MetadataColumn>,
}

/// A `METADATA` column: which column, from which metadata key, read only or written too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetadataColumn {
    /// The column's name.
    pub column: String,
    /// The connector's metadata key (`partition`, `offset`, `timestamp`, ...).
    pub key: String,
    /// `VIRTUAL`: read only; a sink does not receive it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub is_virtual: bool,
}

/// A table's columns computed from the columns its connector reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComputedColumns {
    /// Every column of the table, over the connector's columns.
    pub project: Vec<NamedExpr>,
    /// The table's columns.
    pub output: Schema,
}

/// Bounded out-of-orderness watermarks on an event-time column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatermarkPlan {
    /// Index of the event-time column.
    pub column: usize,
    /// Watermark = largest event time seen minus this.
    pub delay_ms: i64,
}

/// A sink connector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkPlan {
    /// Connector and options.
    pub connector: ConnectorPlan,
    /// The columns written (without the row-kind column).
    pub schema: Schema,
    /// Whether the input is an updating (changelog) stream.
    pub updating: bool,
    /// `PARTITIONED BY` columns: the sink writes each row into the folder of its values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub partition_by: Vec<String>,
    /// The table's `PRIMARY KEY` columns: an updating sink upserts and deletes by them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub primary_key: Vec<String>,
    /// The columns written into the messages' metadata rather than their values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metadata: Vec<MetadataColumn>,
}

/// One transformation of the chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Step {
    /// Filter then project, with DataFusion's expressions.
    Calc {
        /// Columns of the input batches.
        input: Schema,
        /// Rows for which this is not true are dropped.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        filter: Option<String>,
        /// Output columns; the input unchanged when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        project: Option<Vec<NamedExpr>>,
        /// Columns of the output batches (the row-kind column included when updating).
        output: Schema,
        /// The input is a changelog: its last column (the row kind) is passed through.
        #[serde(default)]
        updating: bool,
    },
    /// Window columns (`window_start`, `window_end`, `window_time`) appended to each row; a hop
    /// window repeats the row once per window it belongs to.
    AssignWindows {
        /// Index of the event-time column.
        time_column: usize,
        /// The window.
        window: WindowSpec,
        /// Columns of the output batches.
        output: Schema,
    },
    /// An updating aggregate per key: emits `+I`, `-U`, `+U` rows as results change.
    GroupAggregate {
        /// The first `keys` input columns are the key.
        keys: usize,
        /// One per aggregate; arguments index the input columns.
        aggregates: Vec<AggregateSpec>,
        /// Key columns, aggregate columns, then the row kind.
        output: Schema,
        /// The input is a changelog (its row kind last): every aggregate takes rows back.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        retract: bool,
    },
    /// A windowed aggregate: each window's result once, when the watermark passes its end.
    WindowAggregate {
        /// The first `keys` input columns are the key, window columns included.
        keys: usize,
        /// Index among the keys of `window_start`.
        window_start: usize,
        /// Index among the keys of `window_end`.
        window_end: usize,
        /// The window (session windows merge; tumbling and hopping windows are fixed).
        window: WindowSpec,
        /// One per aggregate; arguments index the input columns.
        aggregates: Vec<AggregateSpec>,
        /// Key columns then aggregate columns.
        output: Schema,
        /// Processing-time windows: each row goes to the window of the wall clock when it
        /// arrives, and windows close as the wall clock passes their end.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        processing_time: bool,
    },
    /// A regular join (gate 0 left, gate 1 right) on equal keys: every row is kept (per key
    /// and input) and joined with the other input's rows as they come, in Flink's changelog
    /// semantics.
    Join {
        /// Which unmatched rows are kept.
        kind: JoinKind,
        /// The left input.
        left: JoinInput,
        /// The right input.
        right: JoinInput,
        /// Pairs for which this is not true do not match (SQL over the output columns).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        condition: Option<String>,
        /// Left columns then right columns (the row kind last when updating).
        output: Schema,
        /// The output is a changelog: an outer join, or an updating input.
        updating: bool,
        /// An interval join on the inputs' event times: rows leave the state with the watermark.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        interval: Option<IntervalBounds>,
    },
    /// A lookup join (`JOIN t FOR SYSTEM_TIME AS OF ...`): each input row joined with the
    /// rows of a bounded table with equal keys, the table read whole by every subtask.
    LookupJoin {
        /// `Inner` or `Left`.
        kind: JoinKind,
        /// The table looked up.
        table: SourcePlan,
        /// Input columns: the columns joined, the key columns, then the row kind when updating.
        input: Schema,
        /// Indices of the input's key columns.
        keys: Vec<usize>,
        /// Indices of the table's key columns, in the same order.
        table_keys: Vec<usize>,
        /// The first `columns` input columns go to the output.
        columns: usize,
        /// Pairs for which this is not true do not match (SQL over the output columns).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        condition: Option<String>,
        /// Input columns then the table's (the row kind last when updating).
        output: Schema,
        /// The input is a changelog.
        updating: bool,
    },
    /// An inner join of two windowed inputs (gate 0 left, gate 1 right) on window and keys.
    WindowJoin {
        /// The left input.
        left: JoinSide,
        /// The right input.
        right: JoinSide,
        /// Left columns then right columns.
        output: Schema,
    },
    /// `OVER` aggregates (`AGG(x) OVER (PARTITION BY ... ORDER BY ... frame)`): each input row
    /// with the aggregates of its frame, an updating result (see `ops::over`).
    OverAggregate {
        /// Columns of the input batches (the row kind last when updating).
        input: Schema,
        /// The first `columns` input columns go to the output.
        columns: usize,
        /// Input columns of the partition key, in the hash exchange's key order.
        keys: Vec<usize>,
        /// The ORDER BY columns, the most significant first.
        order: Vec<SortColumn>,
        /// The frame.
        frame: OverFrame,
        /// One per aggregate; arguments index the input columns.
        aggregates: Vec<AggregateSpec>,
        /// The input is a changelog.
        #[serde(default)]
        updating: bool,
        /// Output columns, the aggregates after the input's, the row kind last.
        output: Schema,
    },
    /// Top-N per key (`ROW_NUMBER() OVER (PARTITION BY ... ORDER BY ...)` filtered by
    /// `rownum <= N`), and deduplication (N = 1 ordered by the event-time attribute): an
    /// updating result in Flink's changelog (see `ops::rank`).
    Rank {
        /// Columns of the input batches (the row kind last when updating).
        input: Schema,
        /// The first `columns` input columns go to the output.
        columns: usize,
        /// Input columns of the partition key, in the hash exchange's key order.
        keys: Vec<usize>,
        /// Sort keys, the most significant first.
        order: Vec<SortColumn>,
        /// N: the rows ranked 1 to `limit` are the result.
        limit: u64,
        /// Where the row number goes among the output columns, when the query selects it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        row_number: Option<usize>,
        /// Deduplication: a replaced row is retracted with `-U` and its successor sent as
        /// `+U`, and a descending order keeps the last of equal rows (Flink's keep-last-row).
        #[serde(default)]
        deduplicate: bool,
        /// The input is a changelog: `-U` and `-D` rows retract earlier rows.
        #[serde(default)]
        updating: bool,
        /// Output columns, the row kind last.
        output: Schema,
    },
}

/// The frame of an `OVER` aggregate, which ends at the current row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum OverFrame {
    /// `ROWS BETWEEN n PRECEDING AND CURRENT ROW` (`None`: `UNBOUNDED PRECEDING`).
    Rows {
        /// Rows before the current one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        preceding: Option<u64>,
    },
    /// `RANGE BETWEEN ... PRECEDING AND CURRENT ROW`: the rows whose order value is at most
    /// `preceding_ms` before the current row's (`None`: unbounded), its peers included.
    Range {
        /// The bound on a timestamp order column, in milliseconds.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        preceding_ms: Option<i64>,
    },
}

/// A sort key of a Top-N.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SortColumn {
    /// Input column.
    pub column: usize,
    /// `DESC`.
    pub descending: bool,
    /// `NULLS FIRST`.
    pub nulls_first: bool,
}

/// Which rows of a regular join are kept without a match (padded with NULLs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JoinKind {
    /// Only matched rows.
    Inner,
    /// Every left row.
    Left,
    /// Every right row.
    Right,
    /// Every row of both.
    Full,
    /// The left rows that have a match (`WHERE x IN (SELECT ...)`, `EXISTS`), left columns only.
    Semi,
    /// The left rows that have no match (`NOT EXISTS`), left columns only.
    Anti,
}

impl JoinKind {
    /// Whether rows of input `side` (0 left, 1 right) are kept without a match.
    pub fn preserves(self, side: usize) -> bool {
        matches!(
            (self, side),
            (Self::Left, 0) | (Self::Right, 1) | (Self::Full, _)
        )
    }

    /// As written in SQL.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Inner => "InnerJoin",
            Self::Left => "LeftOuterJoin",
            Self::Right => "RightOuterJoin",
            Self::Full => "FullOuterJoin",
            Self::Semi => "LeftSemiJoin",
            Self::Anti => "LeftAntiJoin",
        }
    }

    /// Whether the output is the left rows only (semi and anti joins).
    pub fn left_only(self) -> bool {
        matches!(self, Self::Semi | Self::Anti)
    }
}

/// The time bounds of an interval join: `left time - right time` lies in
/// `[lower_ms, upper_ms]` for every pair, so a row can be dropped once the watermark passes the
/// last time a row of the other input could match it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntervalBounds {
    /// The left input's event-time column.
    pub left_time: usize,
    /// The right input's event-time column.
    pub right_time: usize,
    /// The least `left time - right time` of a pair, in milliseconds.
    pub lower_ms: i64,
    /// The greatest `left time - right time` of a pair, in milliseconds.
    pub upper_ms: i64,
}

/// One input of a regular join.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JoinInput {
    /// Columns of this input's batches: the columns joined, the key columns, then the row kind
    /// when the input is updating.
    pub input: Schema,
    /// Indices of the key columns, in the other side's order.
    pub keys: Vec<usize>,
    /// The first `columns` columns go to the output.
    pub columns: usize,
    /// The input is a changelog (its last column is the row kind).
    pub updating: bool,
}

/// One input of a window join.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JoinSide {
    /// Columns of this input's batches: the columns joined, then the key columns.
    pub input: Schema,
    /// Indices of the key columns (window start and end included), in the other side's order.
    pub keys: Vec<usize>,
    /// Index of `window_end`.
    pub window_end: usize,
    /// The first `columns` columns go to the output.
    pub columns: usize,
}

/// An output column and the SQL expression computing it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamedExpr {
    /// Output column name.
    pub name: String,
    /// SQL over the input columns.
    pub sql: String,
}

/// An aggregate function call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AggregateSpec {
    /// The function.
    pub function: AggregateFunction,
    /// Input column of the argument; `COUNT(*)` has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub argument: Option<usize>,
    /// `DISTINCT` arguments only.
    #[serde(default)]
    pub distinct: bool,
}

/// The aggregate functions strom computes incrementally.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AggregateFunction {
    /// `COUNT`.
    Count,
    /// `SUM`.
    Sum,
    /// `MIN`.
    Min,
    /// `MAX`.
    Max,
    /// `AVG`.
    Avg,
}

impl AggregateFunction {
    /// From DataFusion's function name.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name.to_ascii_lowercase().as_str() {
            "count" => Self::Count,
            "sum" => Self::Sum,
            "min" => Self::Min,
            "max" => Self::Max,
            "avg" | "mean" => Self::Avg,
            _ => return None,
        })
    }

    /// SQL name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Count => "COUNT",
            Self::Sum => "SUM",
            Self::Min => "MIN",
            Self::Max => "MAX",
            Self::Avg => "AVG",
        }
    }
}

/// A window of a window table function, sizes in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum WindowSpec {
    /// `TUMBLE`: fixed, non-overlapping windows.
    Tumble {
        /// Window length.
        size_ms: i64,
    },
    /// `HOP`: fixed windows of `size_ms` starting every `slide_ms`.
    Hop {
        /// Distance between window starts.
        slide_ms: i64,
        /// Window length.
        size_ms: i64,
    },
    /// `CUMULATE`: windows of `size_ms` from a fixed start, and every `step_ms` a window from
    /// the same start that ends earlier (`[s, s + step)`, `[s, s + 2 step)`, ...).
    Cumulate {
        /// Distance between window ends.
        step_ms: i64,
        /// Length of the largest window.
        size_ms: i64,
    },
    /// `SESSION`: per key, records closer than `gap_ms` share a window.
    Session {
        /// Inactivity that closes a session.
        gap_ms: i64,
    },
}

impl WindowSpec {
    /// As written in SQL, for plans shown to people.
    pub fn describe(&self) -> String {
        match self {
            Self::Tumble { size_ms } => format!("TUMBLE(size={size_ms}ms)"),
            Self::Hop { slide_ms, size_ms } => {
                format!("HOP(slide={slide_ms}ms, size={size_ms}ms)")
            }
            Self::Cumulate { step_ms, size_ms } => {
                format!("CUMULATE(step={step_ms}ms, size={size_ms}ms)")
            }
            Self::Session { gap_ms } => format!("SESSION(gap={gap_ms}ms)"),
        }
    }
}
