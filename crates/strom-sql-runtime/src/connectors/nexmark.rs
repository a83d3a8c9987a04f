//! `nexmark`: the Nexmark benchmark's online auction events — people, auctions and bids.
//!
//! Two table shapes. Flink's (`ddl_gen.sql` of the Nexmark suite): one table of all events with
//! `event_type INT` (0 person, 1 auction, 2 bid) and one `ROW<...>` column per kind, `person`,
//! `auction` and `bid`, of which only the event's own is set; views then select each kind. And
//! strom's: one table per kind (`'nexmark.table' = 'person' | 'auction' | 'bid'`) with the
//! kind's fields as columns. Declared columns and fields are matched by name, case-insensitively
//! (`dateTime` or `datetime`), and may be any subset in any order.
//!
//! Options, with Flink's nexmark connector's names: `first-event.rate` (events per second of
//! event time, default 10,000,000; `first-event-rate` too), `next-event.rate` (must equal the
//! first: strom's generator has one rate), `events.num` (bounded when set and not 0; `max-events`
//! too), `person.proportion`, `auction.proportion`, `bid.proportion` (1, 3, 46), and strom's
//! `rows-per-second` (wall-clock limit over all subtasks, default unlimited) and `base-time`.
//! The values are those of [`events`].
//!
//! State: the subtask's unfinished event-number stripes ([`strom_operators::stripes`]); a
//! restore at any parallelism produces every remaining event exactly once. Stripes that hold no
//! event of the table (with the default proportions a stripe of stride 50 meets one kind only)
//! are dropped.

mod events;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_array::builder::{
    Int32Builder, Int64Builder, StringBuilder, TimestampMillisecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch, StructArray};
use arrow_buffer::NullBuffer;
use arrow_schema::{DataType, Fields, Schema, SchemaRef};
use strom_operators::{
    BATCH_ROWS, OperatorContext, OperatorError, OperatorSnapshot, RestoredState, Source, SourcePoll,
};

use super::{Traits, failure, number};
use events::{Events, Kind, Value};
use strom_operators::stripes::{Stripe, restore_share};

pub(super) const OPTIONS: &[&str] = &[
    "connector",
    "nexmark.table",
    "first-event.rate",
    "first-event-rate",
    "next-event.rate",
    "events.num",
    "max-events",
    "person.proportion",
    "auction.proportion",
    "bid.proportion",
    "rows-per-second",
    "base-time",
];

type OptionError = (String, String);

/// Which events a table holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// One kind, its fields as columns.
    Single(Kind),
    /// Every event: `event_type` and a record column per kind.
    Combined,
}

/// What a declared column is filled with.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Column {
    /// Field `index` of the kind's fields.
    Field(Kind, usize),
    /// `event_type`: 0, 1 or 2.
    EventType,
    /// The kind's record, its declared fields as indices of the kind's fields; null for events
    /// of other kinds.
    Record(Kind, Vec<usize>),
}

fn shape(options: &BTreeMap<String, String>) -> Result<Shape, OptionError> {
    match options.get("nexmark.table").map(String::as_str) {
        None => Ok(Shape::Combined),
        Some(name) => Kind::ALL
            .into_iter()
            .find(|k| k.name() == name)
            .map(Shape::Single)
            .ok_or_else(|| {
                (
                    "nexmark.table".into(),
                    "expected 'person', 'auction' or 'bid'".into(),
                )
            }),
    }
}

/// The field of `kind` named `name` (any case), checked against the declared type.
fn field(kind: Kind, name: &str, data_type: &DataType) -> Result<usize, String> {
    let lower = name.to_ascii_lowercase();
    let fields = kind.fields();
    let index = fields
        .iter()
        .position(|(f, _)| *f == lower)
        .ok_or_else(|| {
            format!(
                "{} has no field `{name}`; its fields: {}",
                kind.name(),
                fields.iter().map(|f| f.0).collect::<Vec<_>>().join(", ")
            )
        })?;
    let compatible = match fields[index].1 {
        Value::Int => data_type.is_integer(),
        Value::Text => matches!(data_type, DataType::Utf8),
        Value::Time => matches!(data_type, DataType::Timestamp(..)),
    };
    if !compatible {
        return Err(format!(
            "`{name}` has type {data_type}, which does not fit the {} field",
            kind.name()
        ));
    }
    Ok(index)
}

/// What fills each declared column.
fn columns(shape: Shape, schema: &Schema) -> Result<Vec<Column>, OptionError> {
    let problem = |message: String| {
        let option = match shape {
            Shape::Single(_) => "nexmark.table",
            Shape::Combined => "connector",
        };
        (option.to_owned(), message)
    };
    schema
        .fields()
        .iter()
        .map(|declared| {
            let name = declared.name();
            match shape {
                Shape::Single(kind) => field(kind, name, declared.data_type())
                    .map(|i| Column::Field(kind, i))
                    .map_err(problem),
                Shape::Combined if name.eq_ignore_ascii_case("event_type") => {
                    if declared.data_type().is_integer() {
                        Ok(Column::EventType)
                    } else {
                        Err(problem(format!(
                            "`{name}` must be an integer, not {}",
                            declared.data_type()
                        )))
                    }
                }
                Shape::Combined => {
                    let kind = Kind::ALL
                        .into_iter()
                        .find(|k| k.name().eq_ignore_ascii_case(name))
                        .ok_or_else(|| {
                            problem(format!(
                                "the table of all events has no column `{name}`; its columns: \
                                 event_type INT, person ROW<...>, auction ROW<...>, bid ROW<...> \
                                 (or set 'nexmark.table' for a table of one kind)"
                            ))
                        })?;
                    let DataType::Struct(fields) = declared.data_type() else {
                        return Err(problem(format!(
                            "`{name}` must be a ROW of {} fields, not {}",
                            kind.name(),
                            declared.data_type()
                        )));
                    };
                    let indices = fields
                        .iter()
                        .map(|f| field(kind, f.name(), f.data_type()))
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(problem)?;
                    Ok(Column::Record(kind, indices))
                }
            }
        })
        .collect()
}

/// The configuration's events, and the number of events when bounded.
fn configuration(options: &BTreeMap<String, String>) -> Result<(Events, Option<u64>), OptionError> {
    let either = |flink: &str, strom: &str| -> Result<Option<f64>, OptionError> {
        match (
            number::<f64>(options, flink)?,
            number::<f64>(options, strom)?,
        ) {
            (Some(_), Some(_)) => Err((
                strom.to_owned(),
                format!("give '{flink}' or '{strom}', not both"),
            )),
            (a, b) => Ok(a.or(b)),
        }
    };
    let rate = either("first-event.rate", "first-event-rate")?.unwrap_or(10_000_000.0);
    if rate <= 0.0 || !rate.is_finite() {
        return Err(("first-event.rate".into(), "must be positive".into()));
    }
    if let Some(next) = number::<f64>(options, "next-event.rate")?
        && next != rate
    {
        return Err((
            "next-event.rate".into(),
            "must equal first-event.rate: strom generates events at one rate".into(),
        ));
    }
    let max = match (
        number::<u64>(options, "events.num")?,
        number::<u64>(options, "max-events")?,
    ) {
        (Some(_), Some(_)) => {
            return Err((
                "max-events".into(),
                "give 'events.num' or 'max-events', not both".into(),
            ));
        }
        // Flink's `events.num` 0 means no end.
        (Some(0), None) => None,
        (a, b) => a.or(b),
    };
    let mut proportions = [1, 3, 46];
    for (i, kind) in Kind::ALL.into_iter().enumerate() {
        let key = format!("{}.proportion", kind.name());
        if let Some(p) = number::<u64>(options, &key)? {
            if p > 1_000_000 {
                return Err((key, "must be at most 1000000".into()));
            }
            proportions[i] = p;
        }
    }
    if proportions.iter().sum::<u64>() == 0 {
        return Err((
            "bid.proportion".into(),
            "the proportions must not all be 0".into(),
        ));
    }
    let base = number::<i64>(options, "base-time")?.unwrap_or(1_704_067_200_000);
    Ok((
        Events {
            proportions,
            base,
            delay: 1000.0 / rate,
        },
        max,
    ))
}

pub(super) fn validate(
    options: &BTreeMap<String, String>,
    schema: &Schema,
) -> Result<Traits, OptionError> {
    let shape = shape(options)?;
    columns(shape, schema)?;
    let (_, max) = configuration(options)?;
    let _ = number::<f64>(options, "rows-per-second")?;
    Ok(Traits {
        bounded: max.is_some(),
        single: false,
        updating: false,
    })
}

/// The generator of one subtask.
pub(crate) struct Nexmark {
    shape: Shape,
    events: Events,
    schema: SchemaRef,
    columns: Vec<Column>,
    max_events: Option<u64>,
    rate: Option<f64>,
    /// The event numbers still to produce.
    stripes: Vec<Stripe>,
    /// The stripe of the next batch.
    turn: usize,
    emitted: u64,
    started: Option<Instant>,
}

impl Nexmark {
    pub(crate) fn new(
        options: &BTreeMap<String, String>,
        schema: SchemaRef,
        ctx: &OperatorContext,
    ) -> Result<Self, OperatorError> {
        let fail = |(key, problem): OptionError| failure(format!("option '{key}': {problem}"));
        let shape = shape(options).map_err(fail)?;
        let columns = columns(shape, &schema).map_err(fail)?;
        let (events, max_events) = configuration(options).map_err(fail)?;
        let parallelism = u64::from(ctx.parallelism.max(1));
        let mut nexmark = Self {
            shape,
            events,
            schema,
            columns,
            max_events,
            rate: number::<f64>(options, "rows-per-second")
                .map_err(fail)?
                .filter(|r| *r > 0.0)
                .map(|r| r / parallelism as f64),
            stripes: vec![Stripe::initial(ctx.subtask, ctx.parallelism)],
            turn: 0,
            emitted: 0,
            started: None,
        };
        nexmark.drop_finished();
        Ok(nexmark)
    }

    /// Whether event `n` belongs to the table.
    fn owns(&self, n: u64) -> bool {
        match self.shape {
            Shape::Single(kind) => self.events.kind(n) == kind,
            Shape::Combined => true,
        }
    }

    /// Forgets the stripes that will produce no event of the table: past `max-events`, or never
    /// of its kind (kinds repeat every `total` numbers).
    fn drop_finished(&mut self) {
        let max = self.max_events;
        let cycle = self.events.total();
        let stripes = std::mem::take(&mut self.stripes);
        self.stripes = stripes
            .into_iter()
            .filter(|s| {
                max.is_none_or(|max| s.remaining(Some(max)) > 0)
                    && (0..cycle).any(|i| self.owns(s.next.wrapping_add(i.wrapping_mul(s.stride))))
            })
            .collect();
    }

    /// Field `index` of `kind` for each event; null for events of another kind.
    fn field_array(&self, kind: Kind, index: usize, events: &[u64]) -> ArrayRef {
        let (name, value) = kind.fields()[index];
        let mine = |n: u64| self.events.kind(n) == kind;
        match value {
            Value::Int => {
                let mut b = Int64Builder::with_capacity(events.len());
                for &n in events {
                    b.append_option(mine(n).then(|| self.events.int(kind, name, n)));
                }
                Arc::new(b.finish())
            }
            Value::Text => {
                let mut b = StringBuilder::new();
                for &n in events {
                    b.append_option(mine(n).then(|| self.events.text(name, n)));
                }
                Arc::new(b.finish())
            }
            Value::Time => {
                let mut b = TimestampMillisecondBuilder::with_capacity(events.len());
                for &n in events {
                    b.append_option(mine(n).then(|| self.events.time_field(name, n)));
                }
                Arc::new(b.finish())
            }
        }
    }

    fn column_array(
        &self,
        column: &Column,
        events: &[u64],
        wanted: &DataType,
    ) -> Result<ArrayRef, OperatorError> {
        let array: ArrayRef = match column {
            Column::Field(kind, index) => self.field_array(*kind, *index, events),
            Column::EventType => {
                let mut b = Int32Builder::with_capacity(events.len());
                for &n in events {
                    b.append_value(self.events.kind(n).event_type());
                }
                Arc::new(b.finish())
            }
            Column::Record(kind, indices) => {
                let DataType::Struct(fields) = wanted else {
                    return Err(failure(format!("a {} record must be a ROW", kind.name())));
                };
                let children = indices
                    .iter()
                    .zip(fields.iter())
                    .map(|(&index, f)| {
                        let array = self.field_array(*kind, index, events);
                        cast_to(array, f.data_type())
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let present: Vec<bool> = events
                    .iter()
                    .map(|&n| self.events.kind(n) == *kind)
                    .collect();
                let record = StructArray::try_new(
                    Fields::from(fields.iter().cloned().collect::<Vec<_>>()),
                    children,
                    Some(NullBuffer::from(present)),
                )?;
                return Ok(Arc::new(record));
            }
        };
        cast_to(array, wanted)
    }
}

fn cast_to(array: ArrayRef, wanted: &DataType) -> Result<ArrayRef, OperatorError> {
    Ok(if array.data_type() == wanted {
        array
    } else {
        arrow_cast::cast(&array, wanted)?
    })
}

impl Source for Nexmark {
    fn poll_next(&mut self) -> Result<SourcePoll, OperatorError> {
        let started = *self.started.get_or_insert_with(Instant::now);
        let mut wanted = BATCH_ROWS as u64;
        if let Some(rate) = self.rate {
            let due = (started.elapsed().as_secs_f64() * rate) as u64;
            let allowed = due.saturating_sub(self.emitted);
            if allowed == 0 {
                return Ok(SourcePoll::Wait(Duration::from_millis(5)));
            }
            wanted = wanted.min(allowed);
        }
        let mut events = Vec::with_capacity(wanted as usize);
        while events.is_empty() {
            if self.stripes.is_empty() {
                return Ok(SourcePoll::Finished);
            }
            let index = self.turn % self.stripes.len();
            let mut stripe = self.stripes[index];
            while (events.len() as u64) < wanted {
                if self.max_events.is_some_and(|max| stripe.next >= max) {
                    break;
                }
                if self.owns(stripe.next) {
                    events.push(stripe.next);
                }
                stripe.next = stripe.next.saturating_add(stripe.stride);
            }
            self.stripes[index] = stripe;
            self.turn = index + 1;
            if events.is_empty() {
                // Past `max-events`.
                self.stripes.remove(index);
            }
        }
        let arrays = self
            .columns
            .iter()
            .zip(self.schema.fields())
            .map(|(column, f)| self.column_array(column, &events, f.data_type()))
            .collect::<Result<Vec<_>, _>>()?;
        self.emitted += events.len() as u64;
        Ok(SourcePoll::Batch(RecordBatch::try_new(
            Arc::clone(&self.schema),
            arrays,
        )?))
    }

    /// One item per unfinished stripe.
    fn snapshot(&mut self, _checkpoint_id: u64) -> Result<OperatorSnapshot, OperatorError> {
        self.drop_finished();
        Ok(strom_operators::stripes::snapshot_of(&self.stripes))
    }

    fn restore(&mut self, state: RestoredState) -> Result<(), OperatorError> {
        self.stripes = restore_share(&state)?;
        self.turn = 0;
        self.drop_finished();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::Int64Array;
    use arrow_schema::{Field, TimeUnit};

    fn bids(parallelism: u32) -> Vec<(i64, i64, i64)> {
        bids_rescaled(parallelism, None)
    }

    /// Bids read at `parallelism`; with `then`, each subtask stops after a batch and the rest
    /// is read by `then` subtasks restored from that checkpoint.
    fn bids_rescaled(parallelism: u32, then: Option<u32>) -> Vec<(i64, i64, i64)> {
        let schema = Arc::new(Schema::new(vec![
            Field::new("auction", DataType::Int64, true),
            Field::new("price", DataType::Int64, true),
            Field::new(
                "dateTime",
                DataType::Timestamp(TimeUnit::Millisecond, None),
                true,
            ),
        ]));
        let options: BTreeMap<String, String> = [
            ("connector", "nexmark"),
            ("nexmark.table", "bid"),
            ("max-events", "20000"),
            ("first-event-rate", "1000"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        assert!(validate(&options, &schema).unwrap().bounded);
        let mut rows = Vec::new();
        let mut take = |b: RecordBatch| {
            let auction = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
            let price = b.column(1).as_any().downcast_ref::<Int64Array>().unwrap();
            let time = arrow_cast::cast(b.column(2), &DataType::Int64).unwrap();
            let time = time.as_any().downcast_ref::<Int64Array>().unwrap();
            for i in 0..b.num_rows() {
                rows.push((time.value(i), auction.value(i), price.value(i)));
            }
        };
        let mut items = Vec::new();
        for subtask in 0..parallelism {
            let ctx = OperatorContext::new("v", subtask, parallelism, Default::default());
            let mut source = Nexmark::new(&options, Arc::clone(&schema), &ctx).unwrap();
            while let SourcePoll::Batch(b) = source.poll_next().unwrap() {
                take(b);
                if then.is_some() {
                    items.extend(source.snapshot(1).unwrap().items);
                    break;
                }
            }
        }
        if let Some(to) = then {
            for subtask in 0..to {
                let ctx = OperatorContext::new("v", subtask, to, Default::default());
                let mut source = Nexmark::new(&options, Arc::clone(&schema), &ctx).unwrap();
                source
                    .restore(strom_operators::RestoredState {
                        checkpoint_id: 1,
                        keyed: Vec::new(),
                        items: items.clone(),
                        subtask,
                        parallelism: to,
                    })
                    .unwrap();
                while let SourcePoll::Batch(b) = source.poll_next().unwrap() {
                    take(b);
                }
            }
        }
        rows.sort_unstable();
        rows
    }

    #[test]
    fn restored_bids_are_each_produced_once() {
        let one = bids(1);
        for (from, to) in [(2, 4), (4, 2), (1, 3)] {
            assert_eq!(bids_rescaled(from, Some(to)), one, "{from} -> {to}");
        }
    }

    #[test]
    fn bids_are_the_same_at_any_parallelism() {
        let one = bids(1);
        assert_eq!(one.len(), 20000 / 50 * 46);
        assert_eq!(one, bids(3));
        // One event per millisecond of event time; auctions exist when bid on.
        assert!(one.iter().all(|(time, auction, price)| {
            let n = (time - 1_704_067_200_000) as u64;
            *auction >= 1000 && *auction <= 1000 + (n / 50) as i64 * 3 + 2 && *price >= 100
        }));
    }

    #[test]
    fn the_table_of_all_events_has_flinks_shape() {
        use arrow_array::{Array, Int32Array};
        let time = DataType::Timestamp(TimeUnit::Millisecond, None);
        let bid = DataType::Struct(Fields::from(vec![
            Field::new("auction", DataType::Int64, true),
            Field::new("price", DataType::Int64, true),
            Field::new("dateTime", time.clone(), true),
        ]));
        let person = DataType::Struct(Fields::from(vec![Field::new("id", DataType::Int64, true)]));
        let schema = Arc::new(Schema::new(vec![
            Field::new("event_type", DataType::Int32, true),
            Field::new("person", person, true),
            Field::new("bid", bid, true),
        ]));
        let options: BTreeMap<String, String> = [
            ("connector", "nexmark"),
            ("first-event.rate", "1000"),
            ("next-event.rate", "1000"),
            ("events.num", "1000"),
            ("person.proportion", "1"),
            ("auction.proportion", "3"),
            ("bid.proportion", "46"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        assert!(validate(&options, &schema).unwrap().bounded);
        let ctx = OperatorContext::new("v", 0, 1, Default::default());
        let mut source = Nexmark::new(&options, Arc::clone(&schema), &ctx).unwrap();
        let (mut bids, mut people, mut rows) = (0, 0, 0);
        while let SourcePoll::Batch(b) = source.poll_next().unwrap() {
            let kinds = b.column(0).as_any().downcast_ref::<Int32Array>().unwrap();
            let person = b.column(1).as_any().downcast_ref::<StructArray>().unwrap();
            let bid = b.column(2).as_any().downcast_ref::<StructArray>().unwrap();
            for i in 0..b.num_rows() {
                rows += 1;
                assert_eq!(person.is_valid(i), kinds.value(i) == 0);
                assert_eq!(bid.is_valid(i), kinds.value(i) == 2);
                bids += usize::from(kinds.value(i) == 2);
                people += usize::from(kinds.value(i) == 0);
            }
        }
        assert_eq!((rows, people, bids), (1000, 20, 920));

        let mut wrong = options.clone();
        wrong.insert("next-event.rate".into(), "5".into());
        assert_eq!(validate(&wrong, &schema).unwrap_err().0, "next-event.rate");
        let odd = Schema::new(vec![Field::new("bids", DataType::Int64, true)]);
        let err = validate(&options, &odd).unwrap_err().1;
        assert!(err.contains("no column `bids`"), "{err}");
    }
}
