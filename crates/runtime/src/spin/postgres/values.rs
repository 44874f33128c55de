//! Values as they cross between a guest and PostgreSQL: each column's type as Spin names it,
//! each value decoded from and encoded to PostgreSQL's binary format as Spin converts it
//! (`spin:postgres@4.0.0`'s cases; the older versions' are converted from these in `host.rs`).

use std::fmt::Write as _;

use bytes::BytesMut;
use chrono::{Datelike as _, NaiveDate, NaiveDateTime, TimeDelta, Timelike as _};
use fallible_iterator::FallibleIterator as _;
use postgres_protocol::IsNull as WireNull;
use postgres_protocol::types as wire;
use tokio_postgres::types::{FromSql, IsNull, ToSql, Type};

use super::v4::{self, DbDataType, DbValue, ParameterValue, RangeBoundKind};

type BoxError = Box<dyn std::error::Error + Sync + Send>;

/// What a column of type `ty` holds, as Spin names it.
pub(super) fn data_type(ty: &Type) -> DbDataType {
    match *ty {
        Type::BOOL => DbDataType::Boolean,
        Type::BYTEA => DbDataType::Binary,
        Type::FLOAT4 => DbDataType::Floating32,
        Type::FLOAT8 => DbDataType::Floating64,
        Type::INT2 => DbDataType::Int16,
        Type::INT4 => DbDataType::Int32,
        Type::INT8 => DbDataType::Int64,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => DbDataType::Str,
        Type::TIMESTAMP | Type::TIMESTAMPTZ => DbDataType::Datetime,
        Type::DATE => DbDataType::Date,
        Type::TIME => DbDataType::Time,
        Type::UUID => DbDataType::Uuid,
        Type::JSONB => DbDataType::Jsonb,
        Type::NUMERIC => DbDataType::Decimal,
        Type::INT4_RANGE => DbDataType::RangeInt32,
        Type::INT8_RANGE => DbDataType::RangeInt64,
        Type::NUM_RANGE => DbDataType::RangeDecimal,
        Type::INT4_ARRAY => DbDataType::ArrayInt32,
        Type::INT8_ARRAY => DbDataType::ArrayInt64,
        Type::NUMERIC_ARRAY => DbDataType::ArrayDecimal,
        Type::TEXT_ARRAY | Type::VARCHAR_ARRAY | Type::BPCHAR_ARRAY => DbDataType::ArrayStr,
        Type::INTERVAL => DbDataType::Interval,
        _ => DbDataType::Other(ty.name().to_string()),
    }
}

/// A value as the server sent it (its binary format), for any type.
pub(super) struct Raw<'a>(pub(super) &'a [u8]);

impl<'a> FromSql<'a> for Raw<'a> {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        Ok(Raw(raw))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// A non-null value of a column of type `ty`, from its binary format.
pub(super) fn db_value(ty: &Type, raw: &[u8]) -> Result<DbValue, BoxError> {
    Ok(match *ty {
        Type::BOOL => DbValue::Boolean(wire::bool_from_sql(raw)?),
        Type::BYTEA => DbValue::Binary(wire::bytea_from_sql(raw).to_vec()),
        Type::FLOAT4 => DbValue::Floating32(wire::float4_from_sql(raw)?),
        Type::FLOAT8 => DbValue::Floating64(wire::float8_from_sql(raw)?),
        Type::INT2 => DbValue::Int16(wire::int2_from_sql(raw)?),
        Type::INT4 => DbValue::Int32(wire::int4_from_sql(raw)?),
        Type::INT8 => DbValue::Int64(wire::int8_from_sql(raw)?),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => {
            DbValue::Str(wire::text_from_sql(raw)?.to_string())
        }
        Type::TIMESTAMP | Type::TIMESTAMPTZ => {
            let at = datetime_from_micros(wire::timestamp_from_sql(raw)?)?;
            DbValue::Datetime((
                at.year(),
                at.month() as u8,
                at.day() as u8,
                at.hour() as u8,
                at.minute() as u8,
                at.second() as u8,
                at.nanosecond(),
            ))
        }
        Type::DATE => {
            let days = wire::date_from_sql(raw)?;
            let date = epoch()
                .date()
                .checked_add_signed(TimeDelta::days(days.into()))
                .ok_or("the date is out of range (infinity?)")?;
            DbValue::Date((date.year(), date.month() as u8, date.day() as u8))
        }
        Type::TIME => {
            let micros = wire::time_from_sql(raw)?;
            let seconds = micros.div_euclid(1_000_000);
            DbValue::Time((
                (seconds / 3600) as u8,
                (seconds / 60 % 60) as u8,
                (seconds % 60) as u8,
                (micros.rem_euclid(1_000_000) * 1000) as u32,
            ))
        }
        Type::UUID => DbValue::Uuid(uuid_to_string(wire::uuid_from_sql(raw)?)),
        Type::JSONB => {
            // Version 1, then the text: given as Spin gives it, compact.
            let (1, text) = raw.split_first().ok_or("an empty JSONB value")? else {
                return Err("an unknown JSONB version".into());
            };
            let value: serde_json::Value = serde_json::from_slice(text)?;
            DbValue::Jsonb(serde_json::to_vec(&value)?)
        }
        Type::NUMERIC => DbValue::Decimal(numeric_from_sql(raw)?),
        Type::INT4_RANGE => DbValue::RangeInt32(range_from_sql(raw, wire::int4_from_sql)?),
        Type::INT8_RANGE => DbValue::RangeInt64(range_from_sql(raw, wire::int8_from_sql)?),
        Type::NUM_RANGE => DbValue::RangeDecimal(range_from_sql(raw, numeric_from_sql)?),
        Type::INT4_ARRAY => DbValue::ArrayInt32(array_from_sql(raw, wire::int4_from_sql)?),
        Type::INT8_ARRAY => DbValue::ArrayInt64(array_from_sql(raw, wire::int8_from_sql)?),
        Type::NUMERIC_ARRAY => DbValue::ArrayDecimal(array_from_sql(raw, numeric_from_sql)?),
        Type::TEXT_ARRAY | Type::VARCHAR_ARRAY | Type::BPCHAR_ARRAY => {
            DbValue::ArrayStr(array_from_sql(raw, |raw| {
                Ok(wire::text_from_sql(raw)?.to_string())
            })?)
        }
        Type::INTERVAL => {
            let [micros @ .., d0, d1, d2, d3, m0, m1, m2, m3] = raw else {
                return Err("an interval is 16 bytes".into());
            };
            DbValue::Interval(v4::Interval {
                micros: i64::from_be_bytes(
                    micros.try_into().map_err(|_| "an interval is 16 bytes")?,
                ),
                days: i32::from_be_bytes([*d0, *d1, *d2, *d3]),
                months: i32::from_be_bytes([*m0, *m1, *m2, *m3]),
            })
        }
        _ => DbValue::Unsupported(raw.to_vec()),
    })
}

/// PostgreSQL's epoch for dates and times: 2000-01-01 00:00.
fn epoch() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2000, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .expect("2000-01-01 is a date")
}

fn datetime_from_micros(micros: i64) -> Result<NaiveDateTime, BoxError> {
    epoch()
        .checked_add_signed(TimeDelta::microseconds(micros))
        .ok_or_else(|| "the timestamp is out of range (infinity?)".into())
}

fn micros_from_datetime(at: NaiveDateTime) -> Result<i64, BoxError> {
    (at - epoch())
        .num_microseconds()
        .ok_or_else(|| "the timestamp is out of range".into())
}

fn range_from_sql<T>(
    raw: &[u8],
    bound: impl Fn(&[u8]) -> Result<T, BoxError>,
) -> Result<(Bound<T>, Bound<T>), BoxError> {
    let side = |side: wire::RangeBound<Option<&[u8]>>| -> Result<_, BoxError> {
        Ok(match side {
            wire::RangeBound::Inclusive(Some(raw)) => {
                Some((bound(raw)?, RangeBoundKind::Inclusive))
            }
            wire::RangeBound::Exclusive(Some(raw)) => {
                Some((bound(raw)?, RangeBoundKind::Exclusive))
            }
            wire::RangeBound::Inclusive(None)
            | wire::RangeBound::Exclusive(None)
            | wire::RangeBound::Unbounded => None,
        })
    };
    Ok(match wire::range_from_sql(raw)? {
        // As Spin gives an empty range: no bounds.
        wire::Range::Empty => (None, None),
        wire::Range::Nonempty(lower, upper) => (side(lower)?, side(upper)?),
    })
}

fn array_from_sql<T>(
    raw: &[u8],
    element: impl Fn(&[u8]) -> Result<T, BoxError>,
) -> Result<Vec<Option<T>>, BoxError> {
    let array = wire::array_from_sql(raw)?;
    if array.dimensions().count()? > 1 {
        return Err("an array of more than one dimension".into());
    }
    array
        .values()
        .map(|value| value.map(&element).transpose())
        .collect()
}

fn uuid_to_string(bytes: [u8; 16]) -> String {
    let mut s = String::with_capacity(36);
    for (i, byte) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        let _ = write!(s, "{byte:02x}");
    }
    s
}

fn uuid_from_str(text: &str) -> Result<[u8; 16], BoxError> {
    let invalid = || format!("`{text}` is not a UUID");
    let hex: String = text
        .trim_start_matches('{')
        .trim_end_matches('}')
        .chars()
        .filter(|c| *c != '-')
        .collect();
    if hex.len() != 32 {
        return Err(invalid().into());
    }
    let mut bytes = [0u8; 16];
    for (i, byte) in bytes.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2).ok_or_else(invalid)?, 16)
            .map_err(|_| invalid())?;
    }
    Ok(bytes)
}

const NUMERIC_POSITIVE: u16 = 0x0000;
const NUMERIC_NEGATIVE: u16 = 0x4000;
const NUMERIC_NAN: u16 = 0xC000;
const NUMERIC_INFINITY: u16 = 0xD000;
const NUMERIC_NEGATIVE_INFINITY: u16 = 0xF000;

/// A NUMERIC as decimal text: its digits (base 10,000, the first worth 10,000^weight), then
/// its scale's worth of fraction.
fn numeric_from_sql(raw: &[u8]) -> Result<String, BoxError> {
    let field = |i: usize| -> Result<u16, BoxError> {
        let bytes = raw.get(2 * i..2 * i + 2).ok_or("a NUMERIC cut short")?;
        Ok(u16::from_be_bytes([bytes[0], bytes[1]]))
    };
    let count = usize::from(field(0)?);
    let weight = i64::from(field(1)? as i16);
    let sign = field(2)?;
    let scale = usize::from(field(3)?);
    let digits = (0..count)
        .map(|i| field(4 + i))
        .collect::<Result<Vec<_>, _>>()?;
    let digit = |index: i64| -> u16 {
        usize::try_from(index)
            .ok()
            .and_then(|i| digits.get(i).copied())
            .unwrap_or(0)
    };
    let mut text = String::new();
    match sign {
        NUMERIC_NAN => return Ok("NaN".into()),
        NUMERIC_INFINITY => return Ok("Infinity".into()),
        NUMERIC_NEGATIVE_INFINITY => return Ok("-Infinity".into()),
        NUMERIC_NEGATIVE => text.push('-'),
        NUMERIC_POSITIVE => {}
        _ => return Err("a NUMERIC of unknown sign".into()),
    }
    if weight < 0 {
        text.push('0');
    }
    for index in 0..=weight {
        if index == 0 {
            let _ = write!(text, "{}", digit(index));
        } else {
            let _ = write!(text, "{:04}", digit(index));
        }
    }
    if scale > 0 {
        text.push('.');
        let mut fraction = String::with_capacity(scale + 4);
        let mut index = weight + 1;
        while fraction.len() < scale {
            let _ = write!(fraction, "{:04}", digit(index));
            index += 1;
        }
        fraction.truncate(scale);
        text.push_str(&fraction);
    }
    Ok(text)
}

/// Decimal text (`-12.340`, `NaN`, `Infinity`) as a NUMERIC, its scale the digits given after
/// the point.
fn numeric_to_sql(text: &str, out: &mut BytesMut) -> Result<(), BoxError> {
    let header = |out: &mut BytesMut, count: u16, weight: i16, sign: u16, scale: u16| {
        for field in [count, weight as u16, sign, scale] {
            out.extend_from_slice(&field.to_be_bytes());
        }
    };
    let special = match text.to_ascii_lowercase().as_str() {
        "nan" => Some(NUMERIC_NAN),
        "infinity" | "+infinity" | "inf" | "+inf" => Some(NUMERIC_INFINITY),
        "-infinity" | "-inf" => Some(NUMERIC_NEGATIVE_INFINITY),
        _ => None,
    };
    if let Some(sign) = special {
        header(out, 0, 0, sign, 0);
        return Ok(());
    }
    let invalid = || -> BoxError { format!("`{text}` is not a decimal number").into() };
    let (sign, unsigned) = match text.as_bytes().first() {
        Some(b'-') => (NUMERIC_NEGATIVE, &text[1..]),
        Some(b'+') => (NUMERIC_POSITIVE, &text[1..]),
        _ => (NUMERIC_POSITIVE, text),
    };
    let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && fraction.is_empty()) || !all_digits(whole) || !all_digits(fraction) {
        return Err(invalid());
    }
    let whole = whole.trim_start_matches('0');
    let scale = u16::try_from(fraction.len())
        .ok()
        .filter(|scale| *scale <= 0x3FFF)
        .ok_or("a NUMERIC has at most 16383 digits after the point")?;
    // Both parts padded to whole base-10,000 digits, aligned at the point.
    let mut decimal = "0".repeat((4 - whole.len() % 4) % 4);
    decimal.push_str(whole);
    let whole_digits = decimal.len() / 4;
    decimal.push_str(fraction);
    decimal.push_str(&"0".repeat((4 - fraction.len() % 4) % 4));
    let mut digits = decimal
        .as_bytes()
        .chunks(4)
        .map(|chunk| {
            chunk
                .iter()
                .fold(0u16, |n, digit| n * 10 + u16::from(digit - b'0'))
        })
        .collect::<Vec<_>>();
    let mut weight = whole_digits as i64 - 1;
    let leading = digits.iter().take_while(|d| **d == 0).count();
    digits.drain(..leading);
    weight -= leading as i64;
    while digits.last() == Some(&0) {
        digits.pop();
    }
    if digits.is_empty() {
        weight = 0;
    }
    let count = u16::try_from(digits.len())
        .ok()
        .filter(|count| *count <= i16::MAX as u16)
        .ok_or("the number has too many digits for a NUMERIC")?;
    let weight = i16::try_from(weight).map_err(|_| "the number is too large for a NUMERIC")?;
    let sign = if digits.is_empty() {
        NUMERIC_POSITIVE
    } else {
        sign
    };
    header(out, count, weight, sign, scale);
    for digit in digits {
        out.extend_from_slice(&digit.to_be_bytes());
    }
    Ok(())
}

/// A guest's parameter, sent in the binary format of the type the statement gives it.
#[derive(Debug)]
pub(super) struct Param(pub(super) ParameterValue);

impl Param {
    /// Whether the statement's `ty` takes this value (as the types Spin converts each value to
    /// take it).
    fn fits(&self, ty: &Type) -> bool {
        match &self.0 {
            ParameterValue::Boolean(_) => *ty == Type::BOOL,
            ParameterValue::Int8(_) => *ty == Type::CHAR,
            ParameterValue::Int16(_) => *ty == Type::INT2,
            ParameterValue::Int32(_) => *ty == Type::INT4,
            ParameterValue::Int64(_) => *ty == Type::INT8,
            ParameterValue::Floating32(_) => *ty == Type::FLOAT4,
            ParameterValue::Floating64(_) => *ty == Type::FLOAT8,
            ParameterValue::Str(_) => {
                matches!(
                    *ty,
                    Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN
                ) || matches!(ty.name(), "citext" | "ltree" | "lquery" | "ltxtquery")
            }
            ParameterValue::Binary(_) => *ty == Type::BYTEA,
            ParameterValue::Date(_) => *ty == Type::DATE,
            ParameterValue::Time(_) => *ty == Type::TIME,
            ParameterValue::Datetime(_) | ParameterValue::Timestamp(_) => {
                matches!(*ty, Type::TIMESTAMP | Type::TIMESTAMPTZ)
            }
            ParameterValue::Uuid(_) => *ty == Type::UUID,
            ParameterValue::Jsonb(_) => matches!(*ty, Type::JSONB | Type::JSON),
            ParameterValue::Decimal(_) => *ty == Type::NUMERIC,
            ParameterValue::RangeInt32(_) => *ty == Type::INT4_RANGE,
            ParameterValue::RangeInt64(_) => *ty == Type::INT8_RANGE,
            ParameterValue::RangeDecimal(_) => *ty == Type::NUM_RANGE,
            ParameterValue::ArrayInt32(_) => *ty == Type::INT4_ARRAY,
            ParameterValue::ArrayInt64(_) => *ty == Type::INT8_ARRAY,
            ParameterValue::ArrayDecimal(_) => *ty == Type::NUMERIC_ARRAY,
            ParameterValue::ArrayStr(_) => {
                matches!(
                    *ty,
                    Type::TEXT_ARRAY | Type::VARCHAR_ARRAY | Type::BPCHAR_ARRAY
                )
            }
            ParameterValue::Interval(_) => *ty == Type::INTERVAL,
            ParameterValue::DbNull => true,
        }
    }

    fn kind(&self) -> &'static str {
        match &self.0 {
            ParameterValue::Boolean(_) => "boolean",
            ParameterValue::Int8(_) => "int8",
            ParameterValue::Int16(_) => "int16",
            ParameterValue::Int32(_) => "int32",
            ParameterValue::Int64(_) => "int64",
            ParameterValue::Floating32(_) => "floating32",
            ParameterValue::Floating64(_) => "floating64",
            ParameterValue::Str(_) => "str",
            ParameterValue::Binary(_) => "binary",
            ParameterValue::Date(_) => "date",
            ParameterValue::Time(_) => "time",
            ParameterValue::Datetime(_) => "datetime",
            ParameterValue::Timestamp(_) => "timestamp",
            ParameterValue::Uuid(_) => "uuid",
            ParameterValue::Jsonb(_) => "jsonb",
            ParameterValue::Decimal(_) => "decimal",
            ParameterValue::RangeInt32(_) => "range-int32",
            ParameterValue::RangeInt64(_) => "range-int64",
            ParameterValue::RangeDecimal(_) => "range-decimal",
            ParameterValue::ArrayInt32(_) => "array-int32",
            ParameterValue::ArrayInt64(_) => "array-int64",
            ParameterValue::ArrayDecimal(_) => "array-decimal",
            ParameterValue::ArrayStr(_) => "array-str",
            ParameterValue::Interval(_) => "interval",
            ParameterValue::DbNull => "db-null",
        }
    }
}

impl ToSql for Param {
    /// The value in `ty`'s binary format, or why it cannot be given as a `ty`.
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        if !self.fits(ty) {
            return Err(format!(
                "a `{}` value cannot be given where the statement takes a `{ty}`",
                self.kind()
            )
            .into());
        }
        match &self.0 {
            ParameterValue::Boolean(v) => wire::bool_to_sql(*v, out),
            ParameterValue::Int8(v) => wire::char_to_sql(*v, out),
            ParameterValue::Int16(v) => wire::int2_to_sql(*v, out),
            ParameterValue::Int32(v) => wire::int4_to_sql(*v, out),
            ParameterValue::Int64(v) => wire::int8_to_sql(*v, out),
            ParameterValue::Floating32(v) => wire::float4_to_sql(*v, out),
            ParameterValue::Floating64(v) => wire::float8_to_sql(*v, out),
            ParameterValue::Str(v) => wire::text_to_sql(v, out),
            ParameterValue::Binary(v) => wire::bytea_to_sql(v, out),
            ParameterValue::Date((year, month, day)) => {
                let date = NaiveDate::from_ymd_opt(*year, (*month).into(), (*day).into())
                    .ok_or_else(|| format!("{year}-{month}-{day} is not a date"))?;
                let days = (date - epoch().date()).num_days();
                wire::date_to_sql(i32::try_from(days)?, out);
            }
            ParameterValue::Time((hour, minute, second, nanos)) => {
                if *hour > 23 || *minute > 59 || *second > 59 || *nanos >= 1_000_000_000 {
                    return Err(format!("{hour}:{minute}:{second}.{nanos:09} is not a time").into());
                }
                let seconds =
                    i64::from(*hour) * 3600 + i64::from(*minute) * 60 + i64::from(*second);
                wire::time_to_sql(seconds * 1_000_000 + i64::from(*nanos) / 1000, out);
            }
            ParameterValue::Datetime((year, month, day, hour, minute, second, nanos)) => {
                let at = NaiveDate::from_ymd_opt(*year, (*month).into(), (*day).into())
                    .and_then(|date| {
                        date.and_hms_nano_opt(
                            (*hour).into(),
                            (*minute).into(),
                            (*second).into(),
                            *nanos,
                        )
                    })
                    .ok_or_else(|| {
                        format!(
                            "{year}-{month}-{day} {hour}:{minute}:{second}.{nanos:09} is not a \
                             date and time"
                        )
                    })?;
                wire::timestamp_to_sql(micros_from_datetime(at)?, out);
            }
            ParameterValue::Timestamp(seconds) => {
                let at = chrono::DateTime::from_timestamp(*seconds, 0)
                    .ok_or_else(|| format!("{seconds} is out of range as a Unix timestamp"))?;
                wire::timestamp_to_sql(micros_from_datetime(at.naive_utc())?, out);
            }
            ParameterValue::Uuid(v) => wire::uuid_to_sql(uuid_from_str(v)?, out),
            ParameterValue::Jsonb(v) => {
                serde_json::from_slice::<serde_json::Value>(v)
                    .map_err(|e| format!("not JSON ({e}): {}", String::from_utf8_lossy(v)))?;
                if *ty == Type::JSONB {
                    out.extend_from_slice(&[1]);
                }
                out.extend_from_slice(v);
            }
            ParameterValue::Decimal(v) => numeric_to_sql(v, out)?,
            ParameterValue::RangeInt32((lower, upper)) => {
                range_to_sql(lower, upper, out, |v, out| {
                    wire::int4_to_sql(*v, out);
                    Ok(())
                })?
            }
            ParameterValue::RangeInt64((lower, upper)) => {
                range_to_sql(lower, upper, out, |v, out| {
                    wire::int8_to_sql(*v, out);
                    Ok(())
                })?
            }
            ParameterValue::RangeDecimal((lower, upper)) => {
                range_to_sql(lower, upper, out, |v, out| numeric_to_sql(v, out))?
            }
            ParameterValue::ArrayInt32(values) => {
                array_to_sql(values, Type::INT4, out, |v, out| {
                    wire::int4_to_sql(*v, out);
                    Ok(())
                })?
            }
            ParameterValue::ArrayInt64(values) => {
                array_to_sql(values, Type::INT8, out, |v, out| {
                    wire::int8_to_sql(*v, out);
                    Ok(())
                })?
            }
            ParameterValue::ArrayDecimal(values) => {
                array_to_sql(values, Type::NUMERIC, out, |v, out| numeric_to_sql(v, out))?
            }
            ParameterValue::ArrayStr(values) => {
                let element = match *ty {
                    Type::VARCHAR_ARRAY => Type::VARCHAR,
                    Type::BPCHAR_ARRAY => Type::BPCHAR,
                    _ => Type::TEXT,
                };
                array_to_sql(values, element, out, |v, out| {
                    wire::text_to_sql(v, out);
                    Ok(())
                })?
            }
            ParameterValue::Interval(v) => {
                out.extend_from_slice(&v.micros.to_be_bytes());
                out.extend_from_slice(&v.days.to_be_bytes());
                out.extend_from_slice(&v.months.to_be_bytes());
            }
            ParameterValue::DbNull => return Ok(IsNull::Yes),
        }
        Ok(IsNull::No)
    }

    fn accepts(_: &Type) -> bool {
        // Which types a value fits depends on the value: `to_sql` checks.
        true
    }

    tokio_postgres::types::to_sql_checked!();
}

type Bound<T> = Option<(T, RangeBoundKind)>;

fn range_to_sql<T>(
    lower: &Bound<T>,
    upper: &Bound<T>,
    out: &mut BytesMut,
    value: impl Fn(&T, &mut BytesMut) -> Result<(), BoxError>,
) -> Result<(), BoxError> {
    let side = |bound: &Bound<T>, out: &mut BytesMut| -> Result<_, BoxError> {
        Ok(match bound {
            None => wire::RangeBound::Unbounded,
            Some((v, kind)) => {
                value(v, out)?;
                match kind {
                    RangeBoundKind::Inclusive => wire::RangeBound::Inclusive(WireNull::No),
                    RangeBoundKind::Exclusive => wire::RangeBound::Exclusive(WireNull::No),
                }
            }
        })
    };
    wire::range_to_sql(|out| side(lower, out), |out| side(upper, out), out)
}

fn array_to_sql<T>(
    values: &[Option<T>],
    element: Type,
    out: &mut BytesMut,
    value: impl Fn(&T, &mut BytesMut) -> Result<(), BoxError>,
) -> Result<(), BoxError> {
    let dimension = wire::ArrayDimension {
        len: i32::try_from(values.len())?,
        lower_bound: 1,
    };
    wire::array_to_sql(
        Some(dimension),
        element.oid(),
        values,
        |v, out| match v {
            None => Ok(WireNull::Yes),
            Some(v) => value(v, out).map(|()| WireNull::No),
        },
        out,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric(text: &str) -> String {
        let mut out = BytesMut::new();
        numeric_to_sql(text, &mut out).unwrap();
        numeric_from_sql(&out).unwrap()
    }

    /// Decimal text crosses to NUMERIC's binary form and back as PostgreSQL prints it.
    #[test]
    fn numerics_round_trip() {
        for (given, read) in [
            ("0", "0"),
            ("-0.00", "0.00"),
            ("1", "1"),
            ("12345", "12345"),
            ("-12.340", "-12.340"),
            ("0.0001", "0.0001"),
            ("0.00001", "0.00001"),
            ("10000", "10000"),
            ("99999999.99999999", "99999999.99999999"),
            (".5", "0.5"),
            ("007.10", "7.10"),
            (
                "123456789012345678901234567890.123456789",
                "123456789012345678901234567890.123456789",
            ),
            ("NaN", "NaN"),
            ("-Infinity", "-Infinity"),
        ] {
            assert_eq!(numeric(given), read, "{given}");
        }
        for bad in ["", ".", "1e5", "1.2.3", "abc", "--1"] {
            assert!(numeric_to_sql(bad, &mut BytesMut::new()).is_err(), "{bad}");
        }
    }

    /// NUMERIC's binary form as PostgreSQL sends it: 123.45 is the digits 123 and 4500, weight
    /// 0, scale 2.
    #[test]
    fn a_numeric_from_the_server_reads_as_its_text() {
        let raw = [0, 2, 0, 0, 0, 0, 0, 2, 0, 123, 0x11, 0x94];
        assert_eq!(numeric_from_sql(&raw).unwrap(), "123.45");
        let small = [0, 1, 0xff, 0xfe, 0x40, 0, 0, 6, 0x04, 0xb0];
        assert_eq!(numeric_from_sql(&small).unwrap(), "-0.000012");
    }

    #[test]
    fn uuids_round_trip() {
        let text = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11";
        assert_eq!(uuid_to_string(uuid_from_str(text).unwrap()), text);
        assert_eq!(
            uuid_to_string(uuid_from_str("{A0EEBC999C0B4EF8BB6D6BB9BD380A11}").unwrap()),
            text
        );
        assert!(uuid_from_str("a0eebc99").is_err());
    }

    /// A parameter goes only where the statement takes its type, as Spin's conversions go.
    #[test]
    fn a_parameter_must_fit_its_place() {
        let int = Param(ParameterValue::Int32(1));
        assert!(int.fits(&Type::INT4));
        assert!(!int.fits(&Type::INT8));
        // As the client calls it: through a reference.
        let Err(error) =
            <&Param as ToSql>::to_sql_checked(&&int, &Type::TEXT, &mut BytesMut::new())
        else {
            panic!("an int32 was given for a text");
        };
        assert_eq!(
            error.to_string(),
            "a `int32` value cannot be given where the statement takes a `text`"
        );
        assert!(Param(ParameterValue::DbNull).fits(&Type::INT4));
    }
}
