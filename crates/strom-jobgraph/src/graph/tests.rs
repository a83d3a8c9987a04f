use super::*;
use crate::operator::EmitMode;

pub(crate) fn wordcount(parallelism: u32) -> JobGraph {
    let vertex = |id: &str, operator| Vertex {
        id: id.into(),
        name: None,
        parallelism: Some(parallelism),
        operator,
    };
    let edge = |source: &str, target: &str, partitioning| Edge {
        source: source.into(),
        target: target.into(),
        partitioning,
    };
    JobGraph {
        name: "wordcount".into(),
        config: BTreeMap::new(),
        vertices: vec![
            vertex(
                "source",
                OperatorSpec::FileSource {
                    path: "words.txt".into(),
                },
            ),
            vertex(
                "tokenize",
                OperatorSpec::Tokenize {
                    column: "line".into(),
                },
            ),
            vertex(
                "count",
                OperatorSpec::KeyedCount {
                    key: "word".into(),
                    emit: EmitMode::Final,
                },
            ),
            vertex(
                "sink",
                OperatorSpec::Print {
                    format: Default::default(),
                },
            ),
        ],
        edges: vec![
            edge("source", "tokenize", Partitioning::Forward),
            edge(
                "tokenize",
                "count",
                Partitioning::Hash {
                    key: vec!["word".into()],
                },
            ),
            edge("count", "sink", Partitioning::Forward),
        ],
    }
}

#[test]
fn accepts_wordcount() {
    let graph = wordcount(2);
    assert_eq!(graph.validate(), Ok(()));
    assert_eq!(graph.topological_order().unwrap(), vec![0, 1, 2, 3]);
    assert!(graph.is_bounded());
    assert_eq!(graph.max_parallelism(), 2);
}

#[test]
fn rejects_unknown_hash_key() {
    let mut graph = wordcount(2);
    graph.edges[1].partitioning = Partitioning::Hash {
        key: vec!["wrd".into()],
    };
    let err = graph.validate().unwrap_err();
    assert_eq!(
        err.to_string(),
        "hash edge tokenize -> count uses column `wrd`, but its input has only [word]"
    );
}

#[test]
fn rejects_forward_between_different_parallelism() {
    let mut graph = wordcount(2);
    graph.vertices[1].parallelism = Some(3);
    assert!(matches!(
        graph.validate(),
        Err(GraphError::ForwardParallelism { .. })
    ));
}

#[test]
fn rejects_cycles_and_dangling_edges() {
    let mut graph = wordcount(1);
    graph.edges.push(Edge {
        source: "count".into(),
        target: "tokenize".into(),
        partitioning: Partitioning::Rebalance,
    });
    assert!(matches!(graph.validate(), Err(GraphError::Cycle(_))));

    let mut graph = wordcount(1);
    graph.edges[0].target = "nowhere".into();
    assert_eq!(
        graph.validate().unwrap_err().to_string(),
        "edge source -> nowhere refers to unknown vertex `nowhere`"
    );
}

#[test]
fn rejects_bad_shapes() {
    let mut graph = wordcount(1);
    graph.edges.pop();
    let err = graph.validate().unwrap_err().to_string();
    assert!(
        err.contains("vertex `count` (keyed-count): its output goes nowhere"),
        "{err}"
    );

    let mut graph = wordcount(1);
    graph.vertices[0].parallelism = Some(0);
    assert!(matches!(
        graph.validate(),
        Err(GraphError::BadParallelism { .. })
    ));

    let mut graph = wordcount(1);
    graph.vertices[1].id = "source".into();
    assert_eq!(
        graph.validate(),
        Err(GraphError::BadVertexId("source".into()))
    );
}

#[test]
fn sql_operators_take_several_inputs_with_different_columns() {
    use crate::operator::SqlRole;
    let sql = |role, columns: &[&str]| OperatorSpec::Sql {
        role,
        bounded: true,
        columns: columns.iter().map(|c| (*c).to_owned()).collect(),
        plan: serde_json::Value::Null,
        description: String::new(),
    };
    let vertex = |id: &str, operator| Vertex {
        id: id.into(),
        name: None,
        parallelism: Some(2),
        operator,
    };
    let hash = |key: &str| Partitioning::Hash {
        key: vec![key.into()],
    };
    let edge = |source: &str, target: &str, partitioning| Edge {
        source: source.into(),
        target: target.into(),
        partitioning,
    };
    let mut graph = JobGraph {
        name: "join".into(),
        config: BTreeMap::new(),
        vertices: vec![
            vertex("orders", sql(SqlRole::Source, &["order_id", "customer"])),
            vertex("customers", sql(SqlRole::Source, &["id", "name"])),
            vertex("join", sql(SqlRole::Operator, &["order_id", "name"])),
            vertex("sink", sql(SqlRole::Sink, &[])),
        ],
        edges: vec![
            edge("orders", "join", hash("customer")),
            edge("customers", "join", hash("id")),
            edge("join", "sink", Partitioning::Forward),
        ],
    };
    graph.validate().unwrap();
    assert!(graph.is_bounded());

    // Hash keys are still checked against each input's own columns.
    graph.edges[1].partitioning = hash("customer");
    let err = graph.validate().unwrap_err().to_string();
    assert!(err.contains("uses column `customer`"), "{err}");

    // Built-in operators still require inputs to agree.
    graph.edges[1].partitioning = hash("id");
    graph.vertices[2].operator = OperatorSpec::Print {
        format: Default::default(),
    };
    graph.edges.pop();
    graph.vertices.pop();
    let err = graph.validate().unwrap_err().to_string();
    assert!(err.contains("inputs have different columns"), "{err}");
}
