//! Filter and projection with DataFusion's vectorized physical expressions.

use std::sync::Arc;

use arrow_array::{BooleanArray, RecordBatch};
use arrow_schema::{Schema, SchemaRef};
use datafusion::physical_expr::PhysicalExpr;
use strom_operators::OperatorError;

use super::Step;
use crate::connectors::failure;
use crate::exprs;
use crate::plan::NamedExpr;

pub(crate) struct Calc {
    filter: Option<(String, Arc<dyn PhysicalExpr>)>,
    project: Option<Vec<(String, Arc<dyn PhysicalExpr>)>>,
    output: SchemaRef,
    updating: bool,
}

impl Calc {
    pub(crate) fn new(
        input: &Schema,
        filter: Option<&str>,
        project: Option<&[NamedExpr]>,
        output: &Schema,
        updating: bool,
    ) -> Result<Self, OperatorError> {
        let session = exprs::session();
        let plan = |sql: &str| {
            exprs::physical(&session, sql, input)
                .map(|e| (sql.to_owned(), e))
                .map_err(failure)
        };
        Ok(Self {
            filter: filter.map(plan).transpose()?,
            project: project
                .map(|p| {
                    p.iter()
                        .map(|e| plan(&e.sql))
                        .collect::<Result<Vec<_>, _>>()
                })
                .transpose()?,
            output: Arc::new(output.clone()),
            updating,
        })
    }
}

impl Step for Calc {
    fn process(
        &mut self,
        batch: RecordBatch,
        out: &mut Vec<RecordBatch>,
    ) -> Result<(), OperatorError> {
        let rows = batch.num_rows();
        let batch = match &self.filter {
            None => batch,
            Some((sql, filter)) => {
                let mask = filter
                    .evaluate(&batch)
                    .and_then(|v| v.into_array(rows))
                    .map_err(|e| failure(format!("WHERE `{sql}`: {e}")))?;
                let mask = mask
                    .as_any()
                    .downcast_ref::<BooleanArray>()
                    .ok_or_else(|| failure("a filter that is not a boolean expression"))?;
                arrow_select::filter::filter_record_batch(&batch, mask)?
            }
        };
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let Some(project) = &self.project else {
            out.push(RecordBatch::try_new(
                Arc::clone(&self.output),
                batch.columns().to_vec(),
            )?);
            return Ok(());
        };
        let rows = batch.num_rows();
        let mut columns = project
            .iter()
            .map(|(sql, e)| {
                e.evaluate(&batch)
                    .and_then(|v| v.into_array(rows))
                    .map_err(|e| failure(format!("expression `{sql}`: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if self.updating
            && let Some(kind) = batch.columns().last()
        {
            columns.push(Arc::clone(kind));
        }
        // Expressions may produce a type that differs only in nullability or view encoding.
        for (column, field) in columns.iter_mut().zip(self.output.fields()) {
            if column.data_type() != field.data_type() {
                *column = arrow_cast::cast(column, field.data_type())?;
            }
        }
        out.push(RecordBatch::try_new(Arc::clone(&self.output), columns)?);
        Ok(())
    }
}
