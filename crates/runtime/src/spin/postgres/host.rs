//! The guest's calls: 4.0.0's as they are; 3.0.0's and 2.0.0's are 4.0.0's with their values
//! converted as Spin converts them (what an older version has no case for is its `unsupported`
//! value, its `other` type).

use std::sync::Arc;

use wasmtime::component::Resource;

use super::v4::{self, DbDataType, DbValue, ParameterValue};
use super::{OpenPostgres, open};
use crate::egress::Connector;
use crate::spin::SpinView;
use crate::spin::bindings::fermyon::spin2_0_0::{postgres as pg2, rdbms_types as v2};
use crate::spin::bindings::spin::postgres3_0_0::postgres as v3;

impl SpinView<'_> {
    /// A connection to `address` made with `options`, as this instance's handle.
    pub(super) async fn postgres_open(
        &mut self,
        address: &str,
        options: &super::Options,
    ) -> Result<Resource<OpenPostgres>, v4::Error> {
        let (pool, connector) = self.postgres_opener();
        let open = open(&pool, &connector, address, options).await?;
        self.push_postgres(open)
    }

    /// The pool and grants an `open` of this instance connects with.
    pub(super) fn postgres_opener(&self) -> (Arc<super::PostgresPool>, Connector) {
        (self.stores.postgres.clone(), self.egress.connector())
    }

    pub(super) fn push_postgres(
        &mut self,
        open: OpenPostgres,
    ) -> Result<Resource<OpenPostgres>, v4::Error> {
        self.table
            .push(open)
            .map_err(|_| v4::Error::Other(crate::spin::TOO_MANY_HANDLES.into()))
    }

    fn postgres(&self, connection: &Resource<OpenPostgres>) -> Result<&OpenPostgres, v4::Error> {
        self.table
            .get(connection)
            .map_err(|e| v4::Error::Other(e.to_string()))
    }
}

impl v4::Host for SpinView<'_> {}

impl v2::Host for SpinView<'_> {}

impl v4::HostConnection for SpinView<'_> {
    async fn open(&mut self, address: String) -> Result<Resource<OpenPostgres>, v4::Error> {
        self.postgres_open(&address, &Default::default()).await
    }

    async fn query(
        &mut self,
        connection: Resource<OpenPostgres>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> Result<v4::RowSet, v4::Error> {
        self.postgres(&connection)?.query(&statement, params).await
    }

    async fn execute(
        &mut self,
        connection: Resource<OpenPostgres>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> Result<u64, v4::Error> {
        self.postgres(&connection)?
            .execute(&statement, params)
            .await
    }

    async fn drop(&mut self, connection: Resource<OpenPostgres>) -> wasmtime::Result<()> {
        self.table.delete(connection)?;
        Ok(())
    }
}

/// A 4.0.0 query error as the text older versions give.
fn error_text(error: v4::QueryError) -> String {
    match error {
        v4::QueryError::Text(text) => text,
        v4::QueryError::DbError(db) => db.as_text,
    }
}

/// An older version's `connection`, `error` and `row-set`: `$values` converts its parameters
/// (fallibly) and 4.0.0's values and types back.
macro_rules! older_version {
    ($version:ident, $host:ident, $param:path, $value:path, $data_type:path) => {
        impl From<v4::Error> for $version::Error {
            fn from(error: v4::Error) -> Self {
                match error {
                    v4::Error::ConnectionFailed(e) => Self::ConnectionFailed(e),
                    v4::Error::BadParameter(e) => Self::BadParameter(e),
                    v4::Error::QueryFailed(e) => Self::QueryFailed(error_text(e)),
                    v4::Error::ValueConversionFailed(e) => Self::ValueConversionFailed(e),
                    v4::Error::Other(e) => Self::Other(e),
                }
            }
        }

        impl From<v4::RowSet> for $version::RowSet {
            fn from(set: v4::RowSet) -> Self {
                Self {
                    columns: set
                        .columns
                        .into_iter()
                        .map(|column| $version::Column {
                            name: column.name,
                            data_type: $data_type(column.data_type),
                        })
                        .collect(),
                    rows: set
                        .rows
                        .into_iter()
                        .map(|row| row.into_iter().map($value).collect())
                        .collect(),
                }
            }
        }

        impl $host::Host for SpinView<'_> {}

        impl $host::HostConnection for SpinView<'_> {
            async fn open(
                &mut self,
                address: String,
            ) -> Result<Resource<OpenPostgres>, $version::Error> {
                Ok(self.postgres_open(&address, &Default::default()).await?)
            }

            async fn query(
                &mut self,
                connection: Resource<OpenPostgres>,
                statement: String,
                params: Vec<$version::ParameterValue>,
            ) -> Result<$version::RowSet, $version::Error> {
                let params = params.into_iter().map($param).collect::<Result<_, _>>()?;
                let set = self
                    .postgres(&connection)?
                    .query(&statement, params)
                    .await?;
                Ok(set.into())
            }

            async fn execute(
                &mut self,
                connection: Resource<OpenPostgres>,
                statement: String,
                params: Vec<$version::ParameterValue>,
            ) -> Result<u64, $version::Error> {
                let params = params.into_iter().map($param).collect::<Result<_, _>>()?;
                Ok(self
                    .postgres(&connection)?
                    .execute(&statement, params)
                    .await?)
            }

            async fn drop(&mut self, connection: Resource<OpenPostgres>) -> wasmtime::Result<()> {
                self.table.delete(connection)?;
                Ok(())
            }
        }
    };
}

older_version!(v3, v3, param3, value3, data_type3);
older_version!(v2, pg2, param2, value2, data_type2);

fn param3(value: v3::ParameterValue) -> Result<ParameterValue, v3::Error> {
    use v3::ParameterValue as P;
    Ok(match value {
        P::Boolean(v) => ParameterValue::Boolean(v),
        P::Int8(v) => ParameterValue::Int8(v),
        P::Int16(v) => ParameterValue::Int16(v),
        P::Int32(v) => ParameterValue::Int32(v),
        P::Int64(v) => ParameterValue::Int64(v),
        P::Floating32(v) => ParameterValue::Floating32(v),
        P::Floating64(v) => ParameterValue::Floating64(v),
        P::Str(v) => ParameterValue::Str(v),
        P::Binary(v) => ParameterValue::Binary(v),
        P::Date(v) => ParameterValue::Date(v),
        P::Time(v) => ParameterValue::Time(v),
        P::Datetime(v) => ParameterValue::Datetime(v),
        P::Timestamp(v) => ParameterValue::Timestamp(v),
        P::DbNull => ParameterValue::DbNull,
    })
}

fn value3(value: DbValue) -> v3::DbValue {
    use v3::DbValue as V;
    match value {
        DbValue::Boolean(v) => V::Boolean(v),
        DbValue::Int8(v) => V::Int8(v),
        DbValue::Int16(v) => V::Int16(v),
        DbValue::Int32(v) => V::Int32(v),
        DbValue::Int64(v) => V::Int64(v),
        DbValue::Floating32(v) => V::Floating32(v),
        DbValue::Floating64(v) => V::Floating64(v),
        DbValue::Str(v) => V::Str(v),
        DbValue::Binary(v) => V::Binary(v),
        DbValue::Date(v) => V::Date(v),
        DbValue::Time(v) => V::Time(v),
        DbValue::Datetime(v) => V::Datetime(v),
        DbValue::Timestamp(v) => V::Timestamp(v),
        DbValue::DbNull => V::DbNull,
        _ => V::Unsupported,
    }
}

fn data_type3(ty: DbDataType) -> v3::DbDataType {
    use v3::DbDataType as T;
    match ty {
        DbDataType::Boolean => T::Boolean,
        DbDataType::Int8 => T::Int8,
        DbDataType::Int16 => T::Int16,
        DbDataType::Int32 => T::Int32,
        DbDataType::Int64 => T::Int64,
        DbDataType::Floating32 => T::Floating32,
        DbDataType::Floating64 => T::Floating64,
        DbDataType::Str => T::Str,
        DbDataType::Binary => T::Binary,
        DbDataType::Date => T::Date,
        DbDataType::Time => T::Time,
        DbDataType::Datetime => T::Datetime,
        DbDataType::Timestamp => T::Timestamp,
        _ => T::Other,
    }
}

fn param2(value: v2::ParameterValue) -> Result<ParameterValue, v2::Error> {
    use v2::ParameterValue as P;
    Ok(match value {
        P::Boolean(v) => ParameterValue::Boolean(v),
        P::Int8(v) => ParameterValue::Int8(v),
        P::Int16(v) => ParameterValue::Int16(v),
        P::Int32(v) => ParameterValue::Int32(v),
        P::Int64(v) => ParameterValue::Int64(v),
        P::Uint8(_) | P::Uint16(_) | P::Uint32(_) | P::Uint64(_) => {
            return Err(v2::Error::ValueConversionFailed(
                "Postgres does not support unsigned integers".into(),
            ));
        }
        P::Floating32(v) => ParameterValue::Floating32(v),
        P::Floating64(v) => ParameterValue::Floating64(v),
        P::Str(v) => ParameterValue::Str(v),
        P::Binary(v) => ParameterValue::Binary(v),
        P::DbNull => ParameterValue::DbNull,
    })
}

fn value2(value: DbValue) -> v2::DbValue {
    use v2::DbValue as V;
    match value {
        DbValue::Boolean(v) => V::Boolean(v),
        DbValue::Int8(v) => V::Int8(v),
        DbValue::Int16(v) => V::Int16(v),
        DbValue::Int32(v) => V::Int32(v),
        DbValue::Int64(v) => V::Int64(v),
        DbValue::Floating32(v) => V::Floating32(v),
        DbValue::Floating64(v) => V::Floating64(v),
        DbValue::Str(v) => V::Str(v),
        DbValue::Binary(v) => V::Binary(v),
        DbValue::DbNull => V::DbNull,
        _ => V::Unsupported,
    }
}

fn data_type2(ty: DbDataType) -> v2::DbDataType {
    use v2::DbDataType as T;
    match ty {
        DbDataType::Boolean => T::Boolean,
        DbDataType::Int8 => T::Int8,
        DbDataType::Int16 => T::Int16,
        DbDataType::Int32 => T::Int32,
        DbDataType::Int64 => T::Int64,
        DbDataType::Floating32 => T::Floating32,
        DbDataType::Floating64 => T::Floating64,
        DbDataType::Str => T::Str,
        DbDataType::Binary => T::Binary,
        _ => T::Other,
    }
}
