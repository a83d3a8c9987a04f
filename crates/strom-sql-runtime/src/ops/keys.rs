//! Group keys in Arrow's row format, so that any key types work. No key columns (a global
//! aggregate) is one group: the row converter cannot count rows without a column, so a
//! placeholder column of nulls stands in.

use arrow::row::{OwnedRow, Row, RowConverter, RowParser, Rows, SortField};
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

    /// A key from the bytes of a row this encoder made (checkpointed state).
    pub(crate) fn row_from_bytes(&self, bytes: &[u8]) -> OwnedRow {
        self.converter.parser().parse(bytes).owned()
    }

    /// Reads keys from the bytes of rows this encoder made, without copying them.
    pub(crate) fn parser(&self) -> RowParser {
        self.converter.parser()
    }

    /// The key group of every key in `rows`, as the upstream hash exchange on the key columns
    /// (in this encoder's column order) routes it.
    pub(crate) fn key_groups<'a>(
        &self,
        rows: impl IntoIterator<Item = Row<'a>>,
        max_parallelism: u32,
    ) -> Result<Vec<u32>, OperatorError> {
        let rows: Vec<Row<'a>> = rows.into_iter().collect();
        let count = rows.len();
        if count == 0 {
            return Ok(Vec::new());
        }
        let columns = self.decode(rows)?;
        crate::state::key_groups(columns, count, max_parallelism)
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
