//! `UNION ALL`: a vertex fed by every input.

use datafusion::logical_expr::Union;

use super::{PendingVertex, Stream, Translator, names, nullable_schema, physical_names};
use crate::error::SqlError;
use crate::plan::{Step, VertexPlan};

impl Translator<'_> {
    pub(super) fn union(&mut self, union: &Union) -> Result<Stream, SqlError> {
        let inputs = union
            .inputs
            .iter()
            .map(|input| self.translate(input))
            .collect::<Result<Vec<_>, _>>()?;
        if inputs.iter().any(|s| s.updating) {
            return Err(self.unsupported("UNION ALL of updating results is not supported"));
        }
        let out_names = physical_names(&union.schema);
        let schema = nullable_schema(
            &out_names,
            union.schema.fields().iter().map(|f| f.data_type().clone()),
        );
        let vertex = self.builder.add(PendingVertex {
            kind: "union",
            names: vec![format!("Union(inputs={})", inputs.len())],
            plan: VertexPlan {
                source: None,
                steps: vec![Step::Calc {
                    input: schema.clone(),
                    filter: None,
                    project: None,
                    output: schema.clone(),
                    updating: false,
                }],
                sink: None,
            },
            parallelism: None,
            bounded: false,
            columns: names(&schema),
        });
        let first_window = inputs.first().and_then(|s| s.window);
        let same_window = inputs.iter().all(|s| {
            matches!((s.window, first_window), (Some(a), Some(b)) if a.start == b.start && a.end == b.end && a.spec == b.spec)
        });
        for input in &inputs {
            self.builder.connect(input.vertex, vertex);
        }
        Ok(Stream {
            vertex,
            schema,
            updating: false,
            window: if same_window { first_window } else { None },
            event_time: None,
            proc_time: None,
        })
    }
}
