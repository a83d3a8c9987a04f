//! Group keys in Arrow's row format, so that any key types work. No key columns (a global
//! aggregate) is one group: the row converter cannot count rows without a column, so a
//! placeholder column of nulls stands in.

use arrow::row::{Row, RowConverter, Rows, SortField};
use arrow_array::{ArrayRef, new_null_array};
use arrow_schema::DataType;
use strom_operators::OperatorError;

pub(crate) struct KeyEncoder {
    converter: RowConverter,
    empty: bool,
}

impl KeyEncoder {
    pub(crate) fn new(types: Vec<DataType>) -> Result<Self, OperatorError> {
        let empty = types.is_empty();
        let fields = if empty {
            vec![SortField::new(DataType::Null)]
        } else {
            types.into_iter().map(SortField::new).collect()
        };
        Ok(Self {
            converter: RowConverter::new(fields)?,
            empty,
        })
    }

    /// The keys of `rows` rows given their key columns.
    pub(crate) fn encode(&self, columns: &[ArrayRef], rows: usize) -> Result<Rows, OperatorError> {
        if self.empty {
            return Ok(self
                .converter
                .convert_columns(&[new_null_array(&DataType::Null, rows)])?);
        }
        Ok(self.converter.convert_columns(columns)?)
    }

    /// The key columns of `rows`.
    pub(crate) fn decode<'a>(
        &self,
        rows: impl IntoIterator<Item = Row<'a>>,
    ) -> Result<Vec<ArrayRef>, OperatorError> {
        let columns = self.converter.convert_rows(rows)?;
        Ok(if self.empty { Vec::new() } else { columns })
    }
}
