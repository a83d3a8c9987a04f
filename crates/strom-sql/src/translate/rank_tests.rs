//! Which `ROW_NUMBER()` shapes become a `Rank` step (Nexmark q18's deduplication, q19's
//! Top-10 with the row number selected) and which `OVER` forms are refused, with what reason.

#![allow(clippy::unwrap_used)]

use std::path::Path;

use strom_jobgraph::{JobGraph, OperatorSpec, Partitioning};

use crate::compile::compile;
use crate::plan::{SortColumn, Step, VertexPlan};

const TABLES: &str = "\
    CREATE TABLE bid (auction BIGINT, bidder BIGINT, price BIGINT, dateTime TIMESTAMP(3),\n\
      WATERMARK FOR dateTime AS dateTime - INTERVAL '4' SECOND)\n\
      WITH ('connector' = 'nexmark', 'nexmark.table' = 'bid', 'max-events' = '1000');\n";

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

/// The graph's one rank step, its vertex index and the vertex's plan.
fn rank(graph: &JobGraph) -> (usize, VertexPlan) {
    let plans = plans(graph);
    let found: Vec<usize> = (0..plans.len())
        .filter(|&i| matches!(plans[i].steps.first(), Some(Step::Rank { .. })))
        .collect();
    assert_eq!(found.len(), 1, "{plans:#?}");
    (found[0], plans[found[0]].clone())
}

/// The hash keys of the edge into vertex `index`.
fn hash_keys(graph: &JobGraph, index: usize) -> Vec<String> {
    let edges: Vec<_> = graph.inputs_of(&graph.vertices[index].id).collect();
    assert_eq!(edges.len(), 1);
    match &edges[0].partitioning {
        Partitioning::Hash { key } => key.clone(),
        other => panic!("{other:?}"),
    }
}

const Q18: &str = "\
    CREATE TABLE out18 (auction BIGINT, bidder BIGINT, price BIGINT, dateTime TIMESTAMP(3))\n\
      WITH ('connector' = 'blackhole');\n\
    INSERT INTO out18 SELECT auction, bidder, price, dateTime\n\
      FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY bidder, auction ORDER BY dateTime DESC)\n\
        AS rank_number FROM bid)\n\
      WHERE rank_number <= 1;";

#[tokio::test]
async fn rank_q18_is_a_keep_last_row_deduplication_without_the_row_number() {
    let graph = graph(Q18).await;
    let (index, plan) = rank(&graph);
    let Step::Rank {
        input,
        columns,
        keys,
        order,
        limit,
        row_number,
        deduplicate,
        updating,
        output,
    } = &plan.steps[0]
    else {
        unreachable!()
    };
    let key_names: Vec<&str> = keys
        .iter()
        .map(|&k| input.field(k).name().as_str())
        .collect();
    assert_eq!(key_names, ["bidder", "auction"]);
    assert_eq!(hash_keys(&graph, index), ["bidder", "auction"]);
    assert_eq!(input.field(order[0].column).name(), "dateTime");
    assert!(order[0].descending);
    assert_eq!(
        (*limit, *row_number, *deduplicate, *updating),
        (1, None, true, false)
    );
    assert_eq!(*columns, 4);
    // auction, bidder, price, dateTime and the row kind.
    assert_eq!(output.fields().len(), 5);
    assert!(plan.sink.as_ref().unwrap().updating);
    let name = graph.vertices[index].name.as_deref().unwrap();
    assert!(name.contains("Deduplicate(keep=[LastRow]"), "{name}");
}

#[tokio::test]
async fn rank_q19_is_a_top_10_with_the_row_number_selected() {
    let graph = graph(
        "CREATE TABLE out19 (auction BIGINT, bidder BIGINT, price BIGINT, \
           dateTime TIMESTAMP(3), rank_number BIGINT) WITH ('connector' = 'blackhole');\n\
         INSERT INTO out19 SELECT * FROM\n\
         (SELECT *, ROW_NUMBER() OVER (PARTITION BY auction ORDER BY price DESC) AS rank_number\n\
          FROM bid) WHERE rank_number <= 10;",
    )
    .await;
    let (index, plan) = rank(&graph);
    let Step::Rank {
        keys,
        order,
        limit,
        row_number,
        deduplicate,
        output,
        ..
    } = &plan.steps[0]
    else {
        unreachable!()
    };
    assert_eq!(keys, &[0]);
    assert_eq!(
        order,
        &[SortColumn {
            column: 2,
            descending: true,
            nulls_first: order[0].nulls_first,
        }]
    );
    assert_eq!((*limit, *row_number, *deduplicate), (10, Some(4), false));
    assert_eq!(output.field(4).name(), "rank_number");
    assert_eq!(hash_keys(&graph, index), ["auction"]);
}

#[tokio::test]
async fn rank_bounds_and_keys_in_all_their_forms() {
    let query = |inner: &str, condition: &str| {
        format!(
            "SELECT auction, price FROM (SELECT auction, price, {inner} AS rn FROM bid) \
             WHERE {condition};"
        )
    };
    let over = "ROW_NUMBER() OVER (PARTITION BY auction ORDER BY price DESC)";
    for (condition, expected) in [
        ("rn < 4", 3),
        ("4 >= rn", 4),
        ("1 = rn", 1),
        ("rn <= 5 AND rn < 3", 2),
    ] {
        let graph = graph(&query(over, condition)).await;
        let (_, plan) = rank(&graph);
        let Step::Rank {
            limit, deduplicate, ..
        } = &plan.steps[0]
        else {
            unreachable!()
        };
        assert_eq!(*limit, expected, "{condition}");
        // price is no event-time attribute: a Top-1, not a deduplication.
        assert!(!deduplicate);
    }
    // Computed keys are computed before the exchange; other conditions filter the result.
    let graph = graph(&query(
        "ROW_NUMBER() OVER (PARTITION BY auction % 10 ORDER BY dateTime ASC)",
        "rn = 1 AND price > 5",
    ))
    .await;
    let (index, plan) = rank(&graph);
    let Step::Rank {
        input,
        keys,
        deduplicate,
        ..
    } = &plan.steps[0]
    else {
        unreachable!()
    };
    assert!(deduplicate, "keep-first-row on the event time");
    assert_eq!(
        hash_keys(&graph, index),
        [input.field(keys[0]).name().clone()]
    );
    assert!(
        matches!(&plan.steps[1], Step::Calc { filter: Some(f), updating: true, .. }
            if f.contains("price")),
        "{plan:#?}"
    );
}

#[tokio::test]
async fn rank_over_an_updating_input_retracts() {
    let graph = graph(
        "SELECT auction, n FROM (SELECT auction, n, ROW_NUMBER() OVER (ORDER BY n DESC) AS rn \
           FROM (SELECT auction, COUNT(*) AS n FROM bid GROUP BY auction)) WHERE rn <= 3;",
    )
    .await;
    let (index, plan) = rank(&graph);
    let Step::Rank { keys, updating, .. } = &plan.steps[0] else {
        unreachable!()
    };
    assert!(updating);
    assert!(keys.is_empty());
    assert_eq!(graph.vertices[index].parallelism, Some(1), "a global Top-N");
}

#[tokio::test]
async fn rank_other_over_windows_are_refused_by_name() {
    for (query, expected) in [
        (
            "SELECT auction, RANK() OVER (PARTITION BY auction ORDER BY price) FROM bid;",
            "only ROW_NUMBER() is supported",
        ),
        (
            "SELECT auction, SUM(price) OVER (PARTITION BY auction ORDER BY dateTime \
             ROWS BETWEEN CURRENT ROW AND 2 FOLLOWING) FROM bid;",
            "end at CURRENT ROW",
        ),
        (
            "SELECT auction, ROW_NUMBER() OVER (PARTITION BY auction ORDER BY price) FROM bid;",
            "supported only as a Top-N",
        ),
        (
            "SELECT * FROM (SELECT auction, ROW_NUMBER() OVER (PARTITION BY auction ORDER BY \
             price) AS rn FROM bid) WHERE rn > 2;",
            "rank ranges",
        ),
        (
            "SELECT * FROM (SELECT auction, ROW_NUMBER() OVER (PARTITION BY auction) AS rn \
             FROM bid) WHERE rn <= 2;",
            "needs ORDER BY",
        ),
        (
            "SELECT * FROM (SELECT auction, ROW_NUMBER() OVER (PARTITION BY auction ORDER BY \
             price) AS rn FROM bid) WHERE rn < 1;",
            "keeps no row",
        ),
    ] {
        let message = error(query).await;
        assert!(message.contains(expected), "{query}\n{message}");
    }
}

/// The Nexmark files as they are: q18 deduplicates, q19 keeps the top 10 with their rank, q9
/// keeps the highest bid per auction over a join.
#[tokio::test]
async fn rank_nexmark_files_compile_to_rank_steps() {
    let dir = tempfile::tempdir().unwrap();
    for (q, keys, limit, row_number, deduplicate) in [
        (18, vec!["bidder", "auction"], 1, None, true),
        (19, vec!["auction"], 10, Some(7), false),
        (9, vec!["id"], 1, None, false),
    ] {
        let text = crate::nexmark_suite::script(q, 1000, 2, dir.path());
        let compiled = compile(&text, dir.path(), "q").await.unwrap();
        let (index, plan) = rank(&compiled.graph);
        let Step::Rank {
            limit: n,
            row_number: number,
            deduplicate: dedup,
            ..
        } = &plan.steps[0]
        else {
            unreachable!()
        };
        assert_eq!(hash_keys(&compiled.graph, index), keys, "q{q}");
        assert_eq!(
            (*n, *number, *dedup),
            (limit, row_number, deduplicate),
            "q{q}"
        );
    }
}
