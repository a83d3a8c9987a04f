//! `nexmark`: the Nexmark benchmark's online auction events — people, auctions and bids — as a
//! table per event kind (`'nexmark.table' = 'person' | 'auction' | 'bid'`).
//!
//! Events follow the Nexmark generator's shape: out of every 50 events 1 is a person, 3 are
//! auctions and 46 are bids; ids start at 1000; half of the bids go to a "hot" recent auction;
//! event time advances by `1000 / first-event-rate` ms per event from `base-time`. Every value is
//! a pure function of the event number, so all tables of one configuration describe the same
//! events at any parallelism. Options: `first-event-rate` (events per second of event time,
//! default 10,000,000), `max-events` (bounded when set; over all kinds), `rows-per-second`
//! (wall-clock limit over all subtasks, default unlimited), `base-time`.
//! Declared columns are matched by name, case-insensitively (`dateTime` or `datetime`).
//!
//! State: the subtask's unfinished event-number stripes ([`strom_operators::stripes`]); a restore at any
//! parallelism produces every remaining event exactly once. Stripes that hold no event of the
//! table (kinds repeat every 50 numbers: a stripe of stride 50 meets one kind only) are dropped.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_array::builder::{Int64Builder, StringBuilder, TimestampMillisecondBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Schema, SchemaRef};
use strom_operators::{
    BATCH_ROWS, OperatorContext, OperatorError, OperatorSnapshot, RestoredState, Source, SourcePoll,
};

use super::{Traits, failure, number};
use strom_operators::stripes::{Stripe, restore_share};

pub(super) const OPTIONS: &[&str] = &[
    "connector",
    "nexmark.table",
    "first-event-rate",
    "max-events",
    "rows-per-second",
    "base-time",
];

const PERSON_FIELDS: &[(&str, Kind)] = &[
    ("id", Kind::Int),
    ("name", Kind::Text),
    ("emailaddress", Kind::Text),
    ("creditcard", Kind::Text),
    ("city", Kind::Text),
    ("state", Kind::Text),
    ("datetime", Kind::Time),
    ("extra", Kind::Text),
];
const AUCTION_FIELDS: &[(&str, Kind)] = &[
    ("id", Kind::Int),
    ("itemname", Kind::Text),
    ("description", Kind::Text),
    ("initialbid", Kind::Int),
    ("reserve", Kind::Int),
    ("datetime", Kind::Time),
    ("expires", Kind::Time),
    ("seller", Kind::Int),
    ("category", Kind::Int),
    ("extra", Kind::Text),
];
const BID_FIELDS: &[(&str, Kind)] = &[
    ("auction", Kind::Int),
    ("bidder", Kind::Int),
    ("price", Kind::Int),
    ("channel", Kind::Text),
    ("url", Kind::Text),
    ("datetime", Kind::Time),
    ("extra", Kind::Text),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Int,
    Text,
    Time,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Table {
    Person,
    Auction,
    Bid,
}

impl Table {
    fn parse(options: &BTreeMap<String, String>) -> Result<Self, (String, String)> {
        match options.get("nexmark.table").map(String::as_str) {
            Some("person") => Ok(Self::Person),
            Some("auction") => Ok(Self::Auction),
            Some("bid") => Ok(Self::Bid),
            _ => Err((
                "nexmark.table".into(),
                "expected 'person', 'auction' or 'bid'".into(),
            )),
        }
    }

    fn fields(self) -> &'static [(&'static str, Kind)] {
        match self {
            Self::Person => PERSON_FIELDS,
            Self::Auction => AUCTION_FIELDS,
            Self::Bid => BID_FIELDS,
        }
    }

    /// Whether event number `n` is of this kind.
    fn owns(self, n: u64) -> bool {
        let offset = n % 50;
        match self {
            Self::Person => offset == 0,
            Self::Auction => (1..4).contains(&offset),
            Self::Bid => offset >= 4,
        }
    }
}

/// The generator's field index for each declared column.
fn columns(table: Table, schema: &Schema) -> Result<Vec<usize>, (String, String)> {
    schema
        .fields()
        .iter()
        .map(|field| {
            let name = field.name().to_ascii_lowercase();
            let index = table
                .fields()
                .iter()
                .position(|(f, _)| *f == name)
                .ok_or_else(|| {
                    (
                        "nexmark.table".to_owned(),
                        format!(
                            "the table has no column `{}`; its columns: {}",
                            field.name(),
                            table
                                .fields()
                                .iter()
                                .map(|f| f.0)
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    )
                })?;
            let compatible = match table.fields()[index].1 {
                Kind::Int => field.data_type().is_integer(),
                Kind::Text => matches!(field.data_type(), DataType::Utf8),
                Kind::Time => matches!(field.data_type(), DataType::Timestamp(..)),
            };
            if !compatible {
                return Err((
                    "nexmark.table".to_owned(),
                    format!(
                        "column `{}` has type {}, which does not fit",
                        field.name(),
                        field.data_type()
                    ),
                ));
            }
            Ok(index)
        })
        .collect()
}

pub(super) fn validate(
    options: &BTreeMap<String, String>,
    schema: &Schema,
) -> Result<Traits, (String, String)> {
    let table = Table::parse(options)?;
    columns(table, schema)?;
    let rate = number::<f64>(options, "first-event-rate")?;
    if rate.is_some_and(|r| r <= 0.0) {
        return Err(("first-event-rate".into(), "must be positive".into()));
    }
    let _ = number::<f64>(options, "rows-per-second")?;
    let _ = number::<i64>(options, "base-time")?;
    Ok(Traits {
        bounded: number::<u64>(options, "max-events")?.is_some(),
        single: false,
    })
}

fn mix(n: u64, salt: u64) -> u64 {
    let mut z = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ salt.wrapping_mul(0xD1B5_4A32_D192_ED03);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

const FIRST_NAMES: &[&str] = &[
    "Peter", "Paul", "Luke", "John", "Saul", "Vicky", "Kate", "Julie", "Sarah", "Deiter", "Walter",
];
const LAST_NAMES: &[&str] = &[
    "Shultz", "Abrams", "Spencer", "White", "Bartels", "Walton", "Smith", "Jones", "Noris",
];
const CITIES: &[&str] = &[
    "Phoenix",
    "Los Angeles",
    "San Francisco",
    "Boise",
    "Portland",
    "Bend",
    "Redmond",
    "Seattle",
    "Kent",
    "Cheyenne",
];
const STATES: &[&str] = &["AZ", "CA", "ID", "OR", "WA", "WY"];
const CHANNELS: &[&str] = &["Google", "Facebook", "Baidu", "Apple"];

fn pick<'a>(list: &[&'a str], n: u64, salt: u64) -> &'a str {
    list[(mix(n, salt) % list.len() as u64) as usize]
}

fn word(n: u64, salt: u64, length: usize) -> String {
    let mut state = mix(n, salt);
    (0..length)
        .map(|i| {
            if i % 12 == 11 {
                state = mix(state, salt);
            }
            (b'a' + ((state >> ((i % 12) * 5)) % 26) as u8) as char
        })
        .collect()
}

/// The generator of one subtask.
pub(crate) struct Nexmark {
    table: Table,
    schema: SchemaRef,
    columns: Vec<usize>,
    base: i64,
    /// Milliseconds of event time per event.
    delay: f64,
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
        let fail = |(key, problem): (String, String)| failure(format!("option '{key}': {problem}"));
        let table = Table::parse(options).map_err(fail)?;
        let columns = columns(table, &schema).map_err(fail)?;
        let rate = number::<f64>(options, "first-event-rate")
            .map_err(fail)?
            .unwrap_or(10_000_000.0);
        let parallelism = u64::from(ctx.parallelism.max(1));
        let mut nexmark = Self {
            table,
            schema,
            columns,
            base: number::<i64>(options, "base-time")
                .map_err(fail)?
                .unwrap_or(1_704_067_200_000),
            delay: 1000.0 / rate,
            max_events: number::<u64>(options, "max-events").map_err(fail)?,
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

    /// Forgets the stripes that will produce no event of the table: past `max-events`, or never
    /// of its kind (kinds repeat every 50 numbers).
    fn drop_finished(&mut self) {
        let (table, max) = (self.table, self.max_events);
        self.stripes.retain(|s| {
            max.is_none_or(|max| s.remaining(Some(max)) > 0)
                && (0..50u64).any(|i| table.owns(s.next.wrapping_add(i.wrapping_mul(s.stride))))
        });
    }

    fn time(&self, n: u64) -> i64 {
        self.base + (n as f64 * self.delay) as i64
    }

    fn int(&self, field: &str, n: u64) -> i64 {
        let epoch = (n / 50) as i64;
        let offset = (n % 50) as i64;
        let last_auction = 1000 + epoch * 3 + (offset - 1).clamp(0, 2);
        let last_person = 1000 + epoch;
        match (self.table, field) {
            (Table::Person, "id") => last_person,
            (Table::Auction, "id") => last_auction,
            (Table::Auction, "initialbid") => {
                (10f64.powf((mix(n, 1) % 1000) as f64 / 1000.0 * 6.0) * 100.0) as i64
            }
            (Table::Auction, "reserve") => {
                self.int("initialbid", n) * (1 + (mix(n, 2) % 10) as i64)
            }
            (Table::Auction, "seller") => {
                if mix(n, 3).is_multiple_of(4) {
                    last_person
                } else {
                    1000 + (mix(n, 4) % (epoch as u64 + 1)) as i64
                }
            }
            (Table::Auction, "category") => 10 + (mix(n, 5) % 5) as i64,
            (Table::Bid, "auction") => {
                if mix(n, 6).is_multiple_of(2) {
                    last_auction - (mix(n, 7) % 100).min(last_auction as u64 - 1000) as i64
                } else {
                    1000 + (mix(n, 8) % (last_auction as u64 - 999)) as i64
                }
            }
            (Table::Bid, "bidder") => {
                if mix(n, 9).is_multiple_of(4) {
                    last_person
                } else {
                    1000 + (mix(n, 10) % (epoch as u64 + 1)) as i64
                }
            }
            (Table::Bid, "price") => {
                (10f64.powf((mix(n, 11) % 1000) as f64 / 1000.0 * 6.0) * 100.0) as i64
            }
            _ => 0,
        }
    }

    fn text(&self, field: &str, n: u64) -> String {
        match field {
            "name" => format!("{} {}", pick(FIRST_NAMES, n, 20), pick(LAST_NAMES, n, 21)),
            "emailaddress" => format!("{}@{}.com", word(n, 22, 7), word(n, 23, 5)),
            "creditcard" => format!(
                "{:04} {:04} {:04} {:04}",
                mix(n, 24) % 10_000,
                mix(n, 25) % 10_000,
                mix(n, 26) % 10_000,
                mix(n, 27) % 10_000
            ),
            "city" => pick(CITIES, n, 28).to_owned(),
            "state" => pick(STATES, n, 29).to_owned(),
            "itemname" => word(n, 30, 20),
            "description" => word(n, 31, 100),
            "channel" => pick(CHANNELS, n, 32).to_owned(),
            "url" => format!(
                "https://www.nexmark.com/{}/item.htm?query=1",
                word(n, 33, 5)
            ),
            _ => String::new(),
        }
    }
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
            let stripe = &mut self.stripes[index];
            while (events.len() as u64) < wanted {
                if self.max_events.is_some_and(|max| stripe.next >= max) {
                    break;
                }
                if self.table.owns(stripe.next) {
                    events.push(stripe.next);
                }
                stripe.next = stripe.next.saturating_add(stripe.stride);
            }
            self.turn = index + 1;
            if events.is_empty() {
                // Past `max-events`.
                self.stripes.remove(index);
            }
        }
        let fields = self.table.fields();
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(self.columns.len());
        for (position, &index) in self.columns.iter().enumerate() {
            let (name, kind) = fields[index];
            let array: ArrayRef = match kind {
                Kind::Int => {
                    let mut b = Int64Builder::with_capacity(events.len());
                    for &n in &events {
                        b.append_value(self.int(name, n));
                    }
                    Arc::new(b.finish())
                }
                Kind::Text => {
                    let mut b = StringBuilder::new();
                    for &n in &events {
                        b.append_value(self.text(name, n));
                    }
                    Arc::new(b.finish())
                }
                Kind::Time => {
                    let mut b = TimestampMillisecondBuilder::with_capacity(events.len());
                    for &n in &events {
                        let time = self.time(n);
                        b.append_value(if name == "expires" {
                            time + 1000 + (mix(n, 34) % 10_000) as i64
                        } else {
                            time
                        });
                    }
                    Arc::new(b.finish())
                }
            };
            let wanted_type = self.schema.field(position).data_type();
            arrays.push(if array.data_type() == wanted_type {
                array
            } else {
                arrow_cast::cast(&array, wanted_type)?
            });
        }
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
}
