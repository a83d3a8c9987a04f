//! Nexmark q8 and q5 (Flink's texts) and their neighbours: which shapes become window
//! aggregates and window joins, and what is refused with which reason.

use std::path::Path;

use strom_jobgraph::{JobGraph, OperatorSpec, Partitioning};

use crate::compile::compile;
use crate::plan::{Step, VertexPlan, WindowSpec};

const TABLES: &str = "\
    CREATE TABLE person (id BIGINT, name STRING, dateTime TIMESTAMP(3),\n\
      WATERMARK FOR dateTime AS dateTime - INTERVAL '4' SECOND)\n\
      WITH ('connector' = 'nexmark', 'nexmark.table' = 'person', 'max-events' = '1000');\n\
    CREATE TABLE auction (id BIGINT, seller BIGINT, dateTime TIMESTAMP(3),\n\
      WATERMARK FOR dateTime AS dateTime - INTERVAL '4' SECOND)\n\
      WITH ('connector' = 'nexmark', 'nexmark.table' = 'auction', 'max-events' = '1000');\n\
    CREATE TABLE bid (auction BIGINT, price BIGINT, dateTime TIMESTAMP(3),\n\
      WATERMARK FOR dateTime AS dateTime - INTERVAL '4' SECOND)\n\
      WITH ('connector' = 'nexmark', 'nexmark.table' = 'bid', 'max-events' = '1000');\n";

/// Nexmark q8 and q5 as the benchmark runs them (Flink's Nexmark texts, into `sink`).
const Q8: &str = include_str!("../../../../bench/strom/nexmark-q8.sql");
const Q5: &str = include_str!("../../../../bench/strom/nexmark-q5.sql");

async fn graph(query: &str) -> JobGraph {
    let compiled = compile(&format!("{TABLES}{query}"), Path::new("/tmp"), "t")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    compiled.graph.validate().unwrap_or_else(|e| panic!("{e}"));
    compiled.graph
}

async fn error(query: &str) -> String {
    compile(&format!("{TABLES}{query}"), Path::new("/tmp"), "t")
        .await
        .map(|c| format!("compiled: {:#?}", c.graph))
        .unwrap_or_else(|e| e.to_string())
}

fn plans(graph: &JobGraph) -> Vec<VertexPlan> {
    graph
        .vertices
        .iter()
        .map(|v| {
            let OperatorSpec::Sql { plan, .. } = &v.operator else {
                panic!("not sql: {v:?}")
            };
            serde_json::from_value(plan.clone()).unwrap()
        })
        .collect()
}

/// The window aggregates of the graph: (keys, window_start, window_end, window, aggregates).
fn window_aggregates(plans: &[VertexPlan]) -> Vec<(usize, usize, usize, WindowSpec, usize)> {
    plans
        .iter()
        .flat_map(|p| &p.steps)
        .filter_map(|s| match s {
            Step::WindowAggregate {
                keys,
                window_start,
                window_end,
                window,
                aggregates,
                ..
            } => Some((*keys, *window_start, *window_end, *window, aggregates.len())),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn q8_joins_two_window_aggregates_in_a_window_join() {
    let graph = graph(Q8).await;
    let plans = plans(&graph);
    assert!(
        plans
            .iter()
            .flat_map(|p| &p.steps)
            .all(|s| !matches!(s, Step::GroupAggregate { .. })),
        "no updating aggregate"
    );
    let tumble = WindowSpec::Tumble { size_ms: 10_000 };
    // GROUP BY id, name, window_start, window_end and GROUP BY seller, window_start,
    // window_end: window aggregates without aggregate functions.
    assert_eq!(
        window_aggregates(&plans),
        vec![(4, 2, 3, tumble, 0), (3, 1, 2, tumble, 0)]
    );
    let (index, join) = plans
        .iter()
        .enumerate()
        .find(|(_, p)| matches!(p.steps.first(), Some(Step::WindowJoin { .. })))
        .expect("a window join");
    let Step::WindowJoin { left, right, .. } = &join.steps[0] else {
        unreachable!()
    };
    // On id = seller, starttime and endtime; window_end is the projected endtime.
    assert_eq!((left.keys.len(), right.keys.len()), (3, 3));
    assert_eq!(left.input.field(left.window_end).name(), "endtime");
    assert_eq!(right.input.field(right.window_end).name(), "endtime");
    let sink = join
        .sink
        .as_ref()
        .expect("the sink is chained into the join");
    assert!(!sink.updating, "window join results are append-only");
    let inputs: Vec<_> = graph.inputs_of(&graph.vertices[index].id).collect();
    assert_eq!(inputs.len(), 2);
    for edge in inputs {
        assert!(
            matches!(&edge.partitioning, Partitioning::Hash { key } if key.len() == 3),
            "{edge:?}"
        );
    }
}

#[tokio::test]
async fn q5_is_a_window_aggregate_over_a_window_aggregate_then_a_window_join() {
    let graph = graph(Q5).await;
    let plans = plans(&graph);
    assert!(
        plans
            .iter()
            .flat_map(|p| &p.steps)
            .all(|s| !matches!(s, Step::GroupAggregate { .. })),
        "no updating aggregate"
    );
    let hop = WindowSpec::Hop {
        slide_ms: 2_000,
        size_ms: 10_000,
    };
    // COUNT(*) per auction and window (once, though AuctionBids and CountBids both compute
    // it), then MAX(num) per window over its results.
    assert_eq!(
        window_aggregates(&plans),
        vec![(3, 1, 2, hop, 1), (2, 0, 1, hop, 1)]
    );
    let sources = plans.iter().filter(|p| p.source.is_some()).count();
    assert_eq!(sources, 1, "bid is read once");
    let counts = plans
        .iter()
        .position(|p| matches!(p.steps.first(), Some(Step::WindowAggregate { .. })))
        .unwrap();
    let consumers: Vec<_> = graph.outputs_of(&graph.vertices[counts].id).collect();
    assert_eq!(consumers.len(), 2, "{consumers:?}");
    assert!(
        consumers
            .iter()
            .all(|e| e.partitioning == Partitioning::Forward)
    );
    let join = plans
        .iter()
        .find(|p| matches!(p.steps.first(), Some(Step::WindowJoin { .. })))
        .expect("a window join");
    let Step::WindowJoin { left, .. } = &join.steps[0] else {
        unreachable!()
    };
    assert_eq!(left.keys.len(), 2, "on starttime and endtime");
    // num >= maxn filters the joined rows.
    assert!(
        matches!(&join.steps[1], Step::Calc { filter: Some(f), .. } if f.contains(">=")),
        "{:?}",
        join.steps
    );
    assert!(!join.sink.as_ref().unwrap().updating);
}

#[tokio::test]
async fn window_aggregate_results_keep_their_window_through_projections() {
    // A window aggregate over window aggregate results, the window columns renamed.
    let maxima = graph(
        "CREATE TABLE top (ws TIMESTAMP(3), we TIMESTAMP(3), best BIGINT) WITH ('connector' = 'blackhole');\n\
         INSERT INTO top SELECT s, e, MAX(n) FROM (\n\
           SELECT auction, window_start AS s, window_end AS e, COUNT(*) AS n\n\
           FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(dateTime), INTERVAL '1' SECOND))\n\
           GROUP BY auction, window_start, window_end) AS c GROUP BY s, e;",
    )
    .await;
    let plans = plans(&maxima);
    let tumble = WindowSpec::Tumble { size_ms: 1_000 };
    assert_eq!(
        window_aggregates(&plans),
        vec![(3, 1, 2, tumble, 1), (2, 0, 1, tumble, 1)]
    );
    assert!(!plans.last().unwrap().sink.as_ref().unwrap().updating);
    // Grouped by other columns, window aggregate results give an updating aggregate, as
    // before.
    let totals = graph(
        "CREATE TABLE per_auction (auction BIGINT, total BIGINT) WITH ('connector' = 'blackhole');\n\
         INSERT INTO per_auction SELECT auction, SUM(n) FROM (\n\
           SELECT auction, window_start, window_end, COUNT(*) AS n\n\
           FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(dateTime), INTERVAL '1' SECOND))\n\
           GROUP BY auction, window_start, window_end) AS c GROUP BY auction;",
    )
    .await;
    assert!(
        plans_of_kind(&totals, |s| matches!(s, Step::GroupAggregate { .. })),
        "updating"
    );
    // Session aggregate results are final rows too: they can be written out.
    graph(
        "CREATE TABLE sessions (auction BIGINT, ws TIMESTAMP(3), we TIMESTAMP(3), n BIGINT) WITH ('connector' = 'blackhole');\n\
         INSERT INTO sessions SELECT auction, window_start, window_end, COUNT(*)\n\
         FROM TABLE(SESSION(TABLE bid, DESCRIPTOR(dateTime), INTERVAL '1' SECOND))\n\
         GROUP BY auction, window_start, window_end;",
    )
    .await;
}

#[tokio::test]
async fn a_csv_scan_reads_only_the_columns_the_query_uses() {
    let words = "CREATE TABLE words (word STRING, ts_ms BIGINT, n INT)\n\
          WITH ('connector' = 'filesystem', 'path' = '/tmp/w.csv', 'format' = 'csv');\n\
        CREATE TABLE counts (word STRING, cnt BIGINT) WITH ('connector' = 'blackhole');\n";
    let wc = graph(&format!(
        "{words}INSERT INTO counts SELECT word, COUNT(*) FROM words GROUP BY word;"
    ))
    .await;
    let reader = plans(&wc).into_iter().find(|p| p.source.is_some()).unwrap();
    let source = reader.source.unwrap();
    assert_eq!(source.projection, Some(vec![0]));
    assert_eq!(
        source.schema.fields().len(),
        3,
        "the connector still parses by position"
    );
    assert!(
        reader.steps.is_empty(),
        "no Calc left to cut the columns: {:?}",
        reader.steps
    );
    // All columns, or a watermark on them: nothing to push down.
    let all = graph(&format!(
        "{words}CREATE TABLE copy (word STRING, ts_ms BIGINT, n INT) WITH ('connector' = 'blackhole');\n\
         INSERT INTO copy SELECT * FROM words;"
    ))
    .await;
    assert_eq!(projection(&all), None);
    let nexmark = graph(&format!(
        "{words}INSERT INTO counts SELECT name, COUNT(*) FROM person GROUP BY name;"
    ))
    .await;
    assert_eq!(
        projection(&nexmark),
        None,
        "only the filesystem connector projects"
    );
}

/// The projection pushed into the graph's first source.
fn projection(graph: &JobGraph) -> Option<Vec<usize>> {
    plans(graph).into_iter().find_map(|p| p.source)?.projection
}

fn plans_of_kind(graph: &JobGraph, kind: impl Fn(&Step) -> bool) -> bool {
    plans(graph).iter().flat_map(|p| &p.steps).any(kind)
}

#[tokio::test]
async fn unsupported_joins_and_aggregates_say_what_and_why() {
    let per_window = |table: &str, key: &str, window: &str| {
        format!(
            "SELECT {key}, window_start, window_end FROM TABLE({window}(TABLE {table}, DESCRIPTOR(dateTime), INTERVAL '10' SECOND)) GROUP BY {key}, window_start, window_end"
        )
    };
    let persons = per_window("person", "id", "TUMBLE");
    // What is not a window join is a regular join: an updating input (a GROUP BY without the
    // window columns), an input without window columns, window columns projected away, or
    // inputs not joined on window_end.
    for (query, updating) in [
        (
            format!(
                "SELECT P.id FROM ({persons}) P JOIN (SELECT seller, COUNT(*) AS n FROM auction GROUP BY seller) A ON P.id = A.seller;"
            ),
            true,
        ),
        (
            format!("SELECT P.id FROM ({persons}) P JOIN auction A ON P.id = A.seller;"),
            false,
        ),
        (
            format!(
                "SELECT P.id FROM (SELECT id, window_start FROM ({persons}) X) P JOIN ({}) A ON P.id = A.seller AND P.window_start = A.window_start;",
                per_window("auction", "seller", "TUMBLE")
            ),
            false,
        ),
        (
            format!(
                "SELECT P.id FROM ({persons}) P LEFT JOIN ({}) A ON P.id = A.seller AND P.window_start = A.window_start;",
                per_window("auction", "seller", "TUMBLE")
            ),
            true,
        ),
    ] {
        let graph = graph(&query).await;
        assert!(
            plans_of_kind(
                &graph,
                |s| matches!(s, Step::Join { updating: u, .. } if *u == updating)
            ),
            "{query}"
        );
    }
    // Different windows.
    let err = error(&format!(
        "SELECT P.id FROM ({persons}) P JOIN (SELECT seller, window_start, window_end FROM TABLE(TUMBLE(TABLE auction, DESCRIPTOR(dateTime), INTERVAL '5' SECOND)) GROUP BY seller, window_start, window_end) A \
         ON P.id = A.seller AND P.window_start = A.window_start AND P.window_end = A.window_end;"
    ))
    .await;
    assert!(err.contains("different windows"), "{err}");
    // Session results: not joined, not window-aggregated again.
    let sessions = per_window("person", "id", "SESSION");
    let err = error(&format!(
        "SELECT P.id FROM ({sessions}) P JOIN ({sessions}) Q ON P.id = Q.id AND P.window_start = Q.window_start AND P.window_end = Q.window_end;"
    ))
    .await;
    assert!(err.contains("SESSION window results"), "{err}");
    let err = error(&format!(
        "SELECT window_start, window_end, COUNT(*) FROM ({sessions}) AS s GROUP BY window_start, window_end;"
    ))
    .await;
    assert!(
        err.contains("SESSION window aggregate") && err.contains("not supported"),
        "{err}"
    );
}
