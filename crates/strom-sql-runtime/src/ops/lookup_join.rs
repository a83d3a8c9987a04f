//! Lookup join (`JOIN t FOR SYSTEM_TIME AS OF s.proc_time ON s.k = t.k`): each input row looks
//! up the rows of a bounded table with equal keys, as Flink's lookup join against a
//! filesystem table does (Nexmark q13 enriches bids from a side-input file).
//!
//! Like Flink's filesystem lookup function, every subtask reads the whole table when it starts
//! and keeps it in memory, hashed on the key columns; after `lookup.join.cache.ttl` (the
//! table's option, as Flink's filesystem connector names it; default one hour) the table is
//! read again, at the next batch. A `jdbc` table is asked for the keys of each batch instead
//! (with its lookup cache, [`crate::connectors::jdbc::lookup`]).
//! Input rows are joined as they come and not kept: the join has no state to checkpoint, and
//! the input needs no exchange. An input row's matches are those of the table when it arrives;
//! an updating input's row kinds carry over to its joined rows. Inner and left joins.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::row::{RowConverter, SortField};
use arrow_array::{Array, ArrayRef, BooleanArray, RecordBatch, UInt32Array, new_null_array};
use arrow_schema::{Schema, SchemaRef};
use datafusion::physical_expr::PhysicalExpr;
use strom_operators::{OperatorContext, OperatorError, SourcePoll};

use super::Step;
use crate::connectors::{self, failure};
use crate::exprs;
use crate::plan::{JoinKind, SourcePlan};

/// Flink's filesystem table option: how long a lookup table is kept before it is read again.
pub(crate) const CACHE_TTL_KEY: &str = "lookup.join.cache.ttl";

/// What [`LookupJoin::new`] builds: the fields of [`crate::plan::Step::LookupJoin`].
pub(crate) struct LookupSpec<'a> {
    pub(crate) kind: JoinKind,
    pub(crate) table: &'a SourcePlan,
    pub(crate) input: &'a Schema,
    pub(crate) keys: &'a [usize],
    pub(crate) table_keys: &'a [usize],
    pub(crate) columns: usize,
    pub(crate) condition: Option<&'a str>,
    pub(crate) output: &'a Schema,
    pub(crate) updating: bool,
}

/// The table, read whole, and its rows by key.
struct Loaded {
    rows: RecordBatch,
    by_key: HashMap<Box<[u8]>, Vec<u32>>,
    at: Instant,
}

pub(crate) struct LookupJoin {
    kind: JoinKind,
    table: SourcePlan,
    keys: Vec<usize>,
    table_keys: Vec<usize>,
    columns: usize,
    condition: Option<(String, Arc<dyn PhysicalExpr>)>,
    /// The joined columns (input's, then the table's), which the condition reads.
    joined: SchemaRef,
    output: SchemaRef,
    updating: bool,
    converter: RowConverter,
    /// The context the table is read in: one reader that reads everything.
    ctx: OperatorContext,
    ttl: Duration,
    loaded: Option<Loaded>,
    /// A `jdbc` table, asked for the keys of each batch instead of read whole.
    jdbc: Option<connectors::jdbc::lookup::JdbcLookup>,
}

impl LookupJoin {
    pub(crate) fn new(spec: LookupSpec<'_>, ctx: &OperatorContext) -> Result<Self, OperatorError> {
        if spec.keys.len() != spec.table_keys.len() || spec.keys.is_empty() {
            return Err(failure("a lookup join needs equal keys on both sides"));
        }
        let (inputs, table_columns) = (spec.input.fields().len(), spec.table.schema.fields().len());
        if spec.keys.iter().any(|&k| k >= inputs)
            || spec.table_keys.iter().any(|&k| k >= table_columns)
            || spec.columns > inputs
        {
            return Err(failure("a lookup join's key columns are out of range"));
        }
        let converter = RowConverter::new(
            spec.table_keys
                .iter()
                .map(|&k| SortField::new(spec.table.schema.field(k).data_type().clone()))
                .collect(),
        )?;
        let width = spec.columns + spec.table.schema.fields().len();
        let joined = Schema::new(spec.output.fields()[..width].to_vec());
        let condition = spec
            .condition
            .map(|sql| {
                exprs::physical(&exprs::session(), sql, &joined)
                    .map(|e| (sql.to_owned(), e))
                    .map_err(failure)
            })
            .transpose()?;
        let ttl = match spec.table.connector.options.get(CACHE_TTL_KEY) {
            None => Duration::from_secs(3600),
            Some(text) => strom_config::parse_duration(text).map_err(|e| {
                OperatorError::Parameter(format!("'{CACHE_TTL_KEY}' = '{text}': {e}"))
            })?,
        };
        let jdbc = (spec.table.connector.connector() == "jdbc")
            .then(|| connectors::jdbc::lookup::JdbcLookup::new(spec.table, spec.table_keys))
            .transpose()?;
        let mut reader = ctx.clone();
        reader.subtask = 0;
        reader.parallelism = 1;
        reader.checkpointing = false;
        Ok(Self {
            kind: spec.kind,
            table: spec.table.clone(),
            keys: spec.keys.to_vec(),
            table_keys: spec.table_keys.to_vec(),
            columns: spec.columns,
            condition,
            joined: Arc::new(joined),
            output: Arc::new(spec.output.clone()),
            updating: spec.updating,
            converter,
            ctx: reader,
            ttl,
            loaded: None,
            jdbc,
        })
    }

    /// Reads the whole table and hashes its rows on the key columns.
    fn load(&self) -> Result<Loaded, OperatorError> {
        let mut source = connectors::open_source(&self.table, &self.ctx)?;
        let schema = Arc::new(self.table.schema.clone());
        let mut batches = Vec::new();
        loop {
            match source.poll_next()? {
                SourcePoll::Batch(batch) => batches.push(batch),
                SourcePoll::Watermark(_) | SourcePoll::Idle => {}
                SourcePoll::Wait(pause) => std::thread::sleep(pause.max(Duration::from_millis(1))),
                SourcePoll::Finished => break,
            }
        }
        let rows = arrow_select::concat::concat_batches(&schema, &batches)?;
        self.index(rows)
    }

    /// Hashes the table's rows on the key columns.
    fn index(&self, rows: RecordBatch) -> Result<Loaded, OperatorError> {
        let key_columns: Vec<ArrayRef> = self
            .table_keys
            .iter()
            .map(|&k| Arc::clone(rows.column(k)))
            .collect();
        let keys = self.converter.convert_columns(&key_columns)?;
        let mut by_key: HashMap<Box<[u8]>, Vec<u32>> = HashMap::new();
        for i in 0..rows.num_rows() {
            // SQL: a NULL key matches nothing.
            if key_columns.iter().any(|c| c.is_null(i)) {
                continue;
            }
            let index = u32::try_from(i).map_err(|_| failure("a lookup table too large"))?;
            by_key
                .entry(keys.row(i).as_ref().into())
                .or_default()
                .push(index);
        }
        Ok(Loaded {
            rows,
            by_key,
            at: Instant::now(),
        })
    }
}

impl Step for LookupJoin {
    fn process(
        &mut self,
        batch: RecordBatch,
        out: &mut Vec<RecordBatch>,
    ) -> Result<(), OperatorError> {
        let n = batch.num_rows();
        if n == 0 {
            return Ok(());
        }
        let key_columns: Vec<ArrayRef> = self
            .keys
            .iter()
            .zip(&self.table_keys)
            .map(|(&k, &t)| {
                let column = Arc::clone(batch.column(k));
                let wanted = self.table.schema.field(t).data_type();
                if column.data_type() == wanted {
                    Ok(column)
                } else {
                    arrow_cast::cast(&column, wanted)
                }
            })
            .collect::<Result<_, _>>()?;
        let asked;
        let loaded = match self.jdbc.as_mut() {
            Some(jdbc) => {
                let rows = jdbc.rows_for(&key_columns)?;
                asked = self.index(rows)?;
                &asked
            }
            None => {
                if self
                    .loaded
                    .as_ref()
                    .is_none_or(|l| l.at.elapsed() >= self.ttl)
                {
                    self.loaded = Some(self.load()?);
                }
                let Some(loaded) = &self.loaded else {
                    return Ok(());
                };
                loaded
            }
        };
        let keys = self.converter.convert_columns(&key_columns)?;
        // Candidate pairs (input row, table row).
        let mut probe = Vec::new();
        let mut found = Vec::new();
        for i in 0..n {
            if key_columns.iter().any(|c| c.is_null(i)) {
                continue;
            }
            if let Some(rows) = loaded.by_key.get(keys.row(i).as_ref()) {
                for &row in rows {
                    probe.push(i as u32);
                    found.push(Some(row));
                }
            }
        }
        let mut probe = UInt32Array::from(probe);
        let mut found = UInt32Array::from(found);
        if let Some((sql, condition)) = &self.condition
            && !probe.is_empty()
        {
            let pairs = self.pairs(&batch, &loaded.rows, &probe, &found)?;
            let result = condition
                .evaluate(&pairs)
                .and_then(|v| v.into_array(pairs.num_rows()))
                .map_err(|e| failure(format!("join condition `{sql}`: {e}")))?;
            let mask = result
                .as_any()
                .downcast_ref::<BooleanArray>()
                .ok_or_else(|| failure(format!("join condition `{sql}` is not a boolean")))?;
            // A NULL condition is no match: `filter` drops rows whose mask is NULL.
            probe = downcast(arrow_select::filter::filter(&probe, mask)?)?;
            found = downcast(arrow_select::filter::filter(&found, mask)?)?;
        }
        if self.kind == JoinKind::Left {
            // Input rows without a match, padded with NULLs, in input order.
            let mut matched = vec![false; n];
            for i in probe.values() {
                matched[*i as usize] = true;
            }
            let mut all_probe: Vec<u32> = Vec::with_capacity(probe.len());
            let mut all_found: Vec<Option<u32>> = Vec::with_capacity(probe.len());
            let mut next = 0;
            for (i, was) in matched.iter().enumerate() {
                while next < probe.len() && probe.value(next) as usize == i {
                    all_probe.push(i as u32);
                    all_found.push(found.is_valid(next).then(|| found.value(next)));
                    next += 1;
                }
                if !was {
                    all_probe.push(i as u32);
                    all_found.push(None);
                }
            }
            probe = UInt32Array::from(all_probe);
            found = UInt32Array::from(all_found);
        }
        if probe.is_empty() {
            return Ok(());
        }
        let pairs = self.pairs(&batch, &loaded.rows, &probe, &found)?;
        let mut columns = pairs.columns().to_vec();
        if self.updating {
            let kind = batch
                .columns()
                .last()
                .ok_or_else(|| failure("an updating input without its row kind"))?;
            columns.push(arrow_select::take::take(kind.as_ref(), &probe, None)?);
        }
        for (column, field) in columns.iter_mut().zip(self.output.fields()) {
            if column.data_type() != field.data_type() {
                *column = arrow_cast::cast(column, field.data_type())?;
            }
        }
        out.push(RecordBatch::try_new(Arc::clone(&self.output), columns)?);
        Ok(())
    }
}

fn downcast(array: ArrayRef) -> Result<UInt32Array, OperatorError> {
    array
        .as_any()
        .downcast_ref::<UInt32Array>()
        .cloned()
        .ok_or_else(|| failure("row indices of another type"))
}

impl LookupJoin {
    /// The joined columns of each pair: the input row's columns, then the table row's (NULLs
    /// where `found` is NULL).
    fn pairs(
        &self,
        batch: &RecordBatch,
        table: &RecordBatch,
        probe: &UInt32Array,
        found: &UInt32Array,
    ) -> Result<RecordBatch, OperatorError> {
        let mut columns = Vec::with_capacity(self.joined.fields().len());
        for column in &batch.columns()[..self.columns] {
            columns.push(arrow_select::take::take(column.as_ref(), probe, None)?);
        }
        for column in table.columns() {
            columns.push(if table.num_rows() == 0 {
                new_null_array(column.data_type(), probe.len())
            } else {
                arrow_select::take::take(column.as_ref(), found, None)?
            });
        }
        for (column, field) in columns.iter_mut().zip(self.joined.fields()) {
            if column.data_type() != field.data_type() {
                *column = arrow_cast::cast(column, field.data_type())?;
            }
        }
        Ok(RecordBatch::try_new(Arc::clone(&self.joined), columns)?)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::BTreeMap;

    use arrow_array::Int64Array;
    use arrow_schema::{DataType, Field};

    use super::*;
    use crate::plan::ConnectorPlan;
    use crate::state::testing::sorted_rows;

    fn table(dir: &std::path::Path) -> SourcePlan {
        std::fs::write(dir.join("side.csv"), "1,one\n2,two\n2,deux\n,none\n").unwrap();
        SourcePlan {
            connector: ConnectorPlan {
                table: "side_input".into(),
                options: BTreeMap::from([
                    ("connector".to_owned(), "filesystem".to_owned()),
                    (
                        "path".to_owned(),
                        dir.join("side.csv").display().to_string(),
                    ),
                    ("format".to_owned(), "csv".to_owned()),
                ]),
            },
            schema: Schema::new(vec![
                Field::new("key", DataType::Int64, true),
                Field::new("value", DataType::Utf8, true),
            ]),
            computed: None,
            watermark: None,
            projection: None,
            bounded: true,
            primary_key: Vec::new(),
            metadata: Vec::new(),
        }
    }

    fn input() -> Schema {
        Schema::new(vec![
            Field::new("auction", DataType::Int64, true),
            Field::new("_k0", DataType::Int64, true),
        ])
    }

    fn output() -> Schema {
        Schema::new(vec![
            Field::new("auction", DataType::Int64, true),
            Field::new("key", DataType::Int64, true),
            Field::new("value", DataType::Utf8, true),
        ])
    }

    fn run(kind: JoinKind, condition: Option<&str>) -> Vec<String> {
        let dir = tempfile::tempdir().unwrap();
        let table = table(dir.path());
        let mut join = LookupJoin::new(
            LookupSpec {
                kind,
                table: &table,
                input: &input(),
                keys: &[1],
                table_keys: &[0],
                columns: 1,
                condition,
                output: &output(),
                updating: false,
            },
            &OperatorContext::new("v", 1, 2, BTreeMap::new()),
        )
        .unwrap();
        let batch = RecordBatch::try_new(
            Arc::new(input()),
            vec![
                Arc::new(Int64Array::from(vec![Some(10001), Some(3), Some(2), None])),
                Arc::new(Int64Array::from(vec![Some(1), Some(3), Some(2), None])),
            ],
        )
        .unwrap();
        let mut out = Vec::new();
        join.process(batch, &mut out).unwrap();
        sorted_rows(&out)
    }

    #[test]
    fn every_subtask_reads_the_whole_table_and_joins_each_row_as_it_comes() {
        let inner = run(JoinKind::Inner, None);
        assert_eq!(inner.len(), 3, "{inner:?}");
        let left = run(JoinKind::Left, None);
        assert_eq!(left.len(), 5, "{left:?}");
        let filtered = run(JoinKind::Left, Some("value <> 'two'"));
        assert_eq!(filtered.len(), 4, "{filtered:?}");
        assert!(!filtered.iter().any(|r| r.contains("two")), "{filtered:?}");
        assert!(filtered.iter().any(|r| r.contains("deux")), "{filtered:?}");
        assert!(inner.iter().any(|r| r.contains("one")), "{inner:?}");
    }
}
