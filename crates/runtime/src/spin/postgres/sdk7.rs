//! `spin:postgres@4.2.0`, what Spin SDK 7's `pg` module imports (on WASI 0.3): 4.0.0's calls,
//! each also as an `async` function (a query's rows as a stream), and a connection builder that
//! adds a root certificate authority for the server's TLS (`set-ca-root`). Its types are 4.0.0's
//! case for case; the values cross as 4.0.0's do ([`super::values`]).

use std::sync::Arc;

use wasmtime::component::{Accessor, FutureReader, Resource, StreamReader};

use super::v4;
use super::{CaRoot, Connection, OpenPostgres, Options, PostgresBuilder, open};
use crate::spin::bindings3::spin::postgres4_2_0::postgres as v42;
use crate::spin::{Spin, SpinView};

impl SpinView<'_> {
    fn postgres_connection(
        &self,
        connection: &Resource<OpenPostgres>,
    ) -> Result<Arc<Connection>, v42::Error> {
        self.table
            .get(connection)
            .map(|open| Arc::clone(open))
            .map_err(|e| v42::Error::Other(e.to_string()))
    }

    fn builder(
        &self,
        builder: &Resource<PostgresBuilder>,
    ) -> Result<(String, Options), v42::Error> {
        self.table
            .get(builder)
            .map(|b| (b.address.clone(), b.options.clone()))
            .map_err(|e| v42::Error::Other(e.to_string()))
    }
}

/// Opens a connection as `accessor`'s instance: the pool and grants taken from the instance, the
/// network waited on without it.
async fn open_as<T>(
    accessor: &Accessor<T, Spin>,
    address: String,
    options: Options,
) -> Result<Resource<OpenPostgres>, v42::Error> {
    let (pool, connector) = accessor.with(|mut access| access.get().postgres_opener());
    let open = open(&pool, &connector, &address, &options).await?;
    Ok(accessor.with(|mut access| access.get().push_postgres(open))?)
}

impl v42::Host for SpinView<'_> {}

impl v42::HostConnection for SpinView<'_> {
    async fn open(&mut self, address: String) -> Result<Resource<OpenPostgres>, v42::Error> {
        Ok(self.postgres_open(&address, &Options::default()).await?)
    }

    async fn query(
        &mut self,
        connection: Resource<OpenPostgres>,
        statement: String,
        params: Vec<v42::ParameterValue>,
    ) -> Result<v42::RowSet, v42::Error> {
        let connection = self.postgres_connection(&connection)?;
        let params = params.into_iter().map(param).collect();
        Ok(row_set(connection.query(&statement, params).await?))
    }

    async fn execute(
        &mut self,
        connection: Resource<OpenPostgres>,
        statement: String,
        params: Vec<v42::ParameterValue>,
    ) -> Result<u64, v42::Error> {
        let connection = self.postgres_connection(&connection)?;
        let params = params.into_iter().map(param).collect();
        Ok(connection.execute(&statement, params).await?)
    }

    fn drop(&mut self, connection: Resource<OpenPostgres>) -> wasmtime::Result<()> {
        self.table.delete(connection)?;
        Ok(())
    }
}

impl<T> v42::HostConnectionWithStore<T> for Spin {
    async fn open_async(
        accessor: &Accessor<T, Self>,
        address: String,
    ) -> Result<Resource<OpenPostgres>, v42::Error> {
        open_as(accessor, address, Options::default()).await
    }

    async fn query_async(
        accessor: &Accessor<T, Self>,
        connection: Resource<OpenPostgres>,
        statement: String,
        params: Vec<v42::ParameterValue>,
    ) -> wasmtime::Result<
        Result<
            (
                Vec<v42::Column>,
                StreamReader<Vec<v42::DbValue>>,
                FutureReader<Result<(), v42::Error>>,
            ),
            v42::Error,
        >,
    > {
        let connection =
            match accessor.with(|mut access| access.get().postgres_connection(&connection)) {
                Ok(connection) => connection,
                Err(e) => return Ok(Err(e)),
            };
        let params = params.into_iter().map(param).collect();
        // The rows are read whole (bounded, as for every version) and then streamed.
        let set = match connection.query(&statement, params).await {
            Ok(set) => row_set(set),
            Err(e) => return Ok(Err(e.into())),
        };
        accessor.with(|mut access| {
            Ok(Ok((
                set.columns,
                StreamReader::new(&mut access, set.rows)?,
                FutureReader::new(&mut access, async { wasmtime::error::Ok(Ok(())) })?,
            )))
        })
    }

    async fn execute_async(
        accessor: &Accessor<T, Self>,
        connection: Resource<OpenPostgres>,
        statement: String,
        params: Vec<v42::ParameterValue>,
    ) -> Result<u64, v42::Error> {
        let connection =
            accessor.with(|mut access| access.get().postgres_connection(&connection))?;
        let params = params.into_iter().map(param).collect();
        Ok(connection.execute(&statement, params).await?)
    }
}

impl v42::HostConnectionBuilder for SpinView<'_> {
    fn new(&mut self, address: String) -> wasmtime::Result<Resource<PostgresBuilder>> {
        Ok(self.table.push(PostgresBuilder {
            address,
            options: Options::default(),
        })?)
    }

    fn set_ca_root(
        &mut self,
        builder: Resource<PostgresBuilder>,
        certificate: String,
    ) -> Result<(), v42::Error> {
        // Read now, as Spin reads it, so that the guest hears of a bad one here; and once, not
        // per connection.
        let ca_root = CaRoot::new(certificate)?;
        let builder = self
            .table
            .get_mut(&builder)
            .map_err(|e| v42::Error::Other(e.to_string()))?;
        builder.options.ca_root = Some(ca_root);
        Ok(())
    }

    async fn build(
        &mut self,
        builder: Resource<PostgresBuilder>,
    ) -> Result<Resource<OpenPostgres>, v42::Error> {
        let (address, options) = self.builder(&builder)?;
        Ok(self.postgres_open(&address, &options).await?)
    }

    fn drop(&mut self, builder: Resource<PostgresBuilder>) -> wasmtime::Result<()> {
        self.table.delete(builder)?;
        Ok(())
    }
}

impl<T> v42::HostConnectionBuilderWithStore<T> for Spin {
    async fn build_async(
        accessor: &Accessor<T, Self>,
        builder: Resource<PostgresBuilder>,
    ) -> Result<Resource<OpenPostgres>, v42::Error> {
        let (address, options) = accessor.with(|mut access| access.get().builder(&builder))?;
        open_as(accessor, address, options).await
    }
}

// 4.0.0's types and 4.2.0's are the same, case for case.

/// The cases of a value (`DbValue`, `ParameterValue`) from one version to the other: `same`
/// carry the same payload, `ranges` a range's bounds, and `units` none.
macro_rules! value_cases {
    ($value:expr, $from:ident => $to:ident, [$($same:ident),*], [$($range:ident),*], [$($unit:ident),*]) => {
        match $value {
            $($from::$same(x) => $to::$same(x),)*
            $($from::$range((lower, upper)) => $to::$range((
                lower.map(|(v, kind)| (v, bound(kind))),
                upper.map(|(v, kind)| (v, bound(kind))),
            )),)*
            $from::Interval(i) => $to::Interval(interval(i)),
            $($from::$unit => $to::$unit,)*
        }
    };
}

macro_rules! bound_and_interval {
    ($from:ident => $to:ident) => {
        fn bound(kind: $from::RangeBoundKind) -> $to::RangeBoundKind {
            match kind {
                $from::RangeBoundKind::Inclusive => $to::RangeBoundKind::Inclusive,
                $from::RangeBoundKind::Exclusive => $to::RangeBoundKind::Exclusive,
            }
        }

        fn interval(i: $from::Interval) -> $to::Interval {
            $to::Interval {
                micros: i.micros,
                days: i.days,
                months: i.months,
            }
        }
    };
}

/// A guest's parameter as 4.0.0's.
fn param(value: v42::ParameterValue) -> v4::ParameterValue {
    bound_and_interval!(v42 => v4);
    use v4::ParameterValue as To;
    use v42::ParameterValue as From;
    value_cases!(value, From => To,
        [Boolean, Int8, Int16, Int32, Int64, Floating32, Floating64, Str, Binary, Date, Time,
         Datetime, Timestamp, Uuid, Jsonb, Decimal, ArrayInt32, ArrayInt64, ArrayDecimal, ArrayStr],
        [RangeInt32, RangeInt64, RangeDecimal],
        [DbNull])
}

/// A value for the guest, from 4.0.0's.
fn value(value: v4::DbValue) -> v42::DbValue {
    bound_and_interval!(v4 => v42);
    use v4::DbValue as From;
    use v42::DbValue as To;
    value_cases!(value, From => To,
        [Boolean, Int8, Int16, Int32, Int64, Floating32, Floating64, Str, Binary, Date, Time,
         Datetime, Timestamp, Uuid, Jsonb, Decimal, ArrayInt32, ArrayInt64, ArrayDecimal, ArrayStr,
         Unsupported],
        [RangeInt32, RangeInt64, RangeDecimal],
        [DbNull])
}

fn data_type(ty: v4::DbDataType) -> v42::DbDataType {
    use v4::DbDataType as From;
    use v42::DbDataType as To;
    macro_rules! units {
        ($($unit:ident),*) => {
            match ty {
                $(From::$unit => To::$unit,)*
                From::Other(name) => To::Other(name),
            }
        };
    }
    units!(
        Boolean,
        Int8,
        Int16,
        Int32,
        Int64,
        Floating32,
        Floating64,
        Str,
        Binary,
        Date,
        Time,
        Datetime,
        Timestamp,
        Uuid,
        Jsonb,
        Decimal,
        RangeInt32,
        RangeInt64,
        RangeDecimal,
        ArrayInt32,
        ArrayInt64,
        ArrayDecimal,
        ArrayStr,
        Interval
    )
}

fn row_set(set: v4::RowSet) -> v42::RowSet {
    v42::RowSet {
        columns: set
            .columns
            .into_iter()
            .map(|c| v42::Column {
                name: c.name,
                data_type: data_type(c.data_type),
            })
            .collect(),
        rows: set
            .rows
            .into_iter()
            .map(|row| row.into_iter().map(value).collect())
            .collect(),
    }
}

impl From<v4::Error> for v42::Error {
    fn from(error: v4::Error) -> Self {
        use v4::Error as E;
        match error {
            E::ConnectionFailed(m) => Self::ConnectionFailed(m),
            E::BadParameter(m) => Self::BadParameter(m),
            E::ValueConversionFailed(m) => Self::ValueConversionFailed(m),
            E::Other(m) => Self::Other(m),
            E::QueryFailed(v4::QueryError::Text(t)) => Self::QueryFailed(v42::QueryError::Text(t)),
            E::QueryFailed(v4::QueryError::DbError(e)) => {
                Self::QueryFailed(v42::QueryError::DbError(v42::DbError {
                    as_text: e.as_text,
                    severity: e.severity,
                    code: e.code,
                    message: e.message,
                    detail: e.detail,
                    extras: e.extras,
                }))
            }
        }
    }
}
