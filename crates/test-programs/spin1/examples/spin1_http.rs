//! An HTTP handler as Spin's Go SDK v2 (and Spin 1's SDKs) build one: a core module in
//! wit-bindgen 0.2's canonical ABI exporting `handle-http-request`. By the request's path (after
//! the route's prefix):
//!
//! - `/config`: the Spin variable `greeting` (`spin-config::get-config`);
//! - `/kv`: the number of the request, counted in the key-value store `default`;
//! - `/sqlite`: `SELECT 40 + 2, 'x'` on the database `default`, as `42 x`;
//! - `/outbound?URL`: a GET of URL (`wasi-outbound-http::request`), as `STATUS BODY`;
//! - `/redis?ADDRESS`: `SET spin1 hi` and `GET spin1` at the Redis server at ADDRESS
//!   (`outbound-redis`), as what it got;
//! - `/pg?ADDRESS`, `/mysql?ADDRESS`: `SELECT 42 AS answer` on the server at ADDRESS
//!   (`outbound-pg`, `outbound-mysql`), as `COLUMN TYPE VALUE` (the column's name, its
//!   `db-data-type`'s case, the value);
//! - `/llm`: an inference with the model `llama2-chat` (`llm::infer`), as its text;
//! - `/env`: the environment variable `GREETING`;
//! - anything else: `201`, the header `x-handler: spin1`, the lines `METHOD URI`, `path-info=P`
//!   (the `spin-path-info` header) and `body=B`.
//!
//! A failed call is answered `500` with `error TAG[: MESSAGE]`, its error's case and text.

use skiff_spin1_programs::*;

/// A failed call's answer: its error's case, and its text where the case has one.
fn error(tag: u8, message: Option<Vec<u8>>) -> (u16, String) {
    match message {
        Some(m) => (500, format!("error {tag}: {}", String::from_utf8_lossy(&m))),
        None => (500, format!("error {tag}")),
    }
}

fn failed((tag, message): CallError) -> (u16, String) {
    error(tag, message)
}

fn config() -> (u16, String) {
    let mut ret = RetArea::new();
    unsafe { get_config(b"greeting".as_ptr(), 8, ret.ptr()) };
    match ret.u8(0) {
        0 => (200, String::from_utf8(ret.bytes(4)).unwrap()),
        _ => error(ret.u8(4), Some(ret.bytes(8))),
    }
}

fn sqlite() -> (u16, String) {
    let mut ret = RetArea::new();
    unsafe { sql_open(b"default".as_ptr(), 7, ret.ptr()) };
    if ret.u8(0) != 0 {
        return error(ret.u8(4), None);
    }
    let connection = ret.u32(4);
    let statement = "SELECT 40 + 2, 'x'";
    let mut ret = RetArea::new();
    // No parameters: an empty list, at an address aligned for a value.
    let none: [u64; 0] = [];
    unsafe {
        sql_execute(
            connection,
            statement.as_ptr(),
            statement.len(),
            none.as_ptr().cast(),
            0,
            ret.ptr(),
        )
    };
    if ret.u8(0) != 0 {
        let tag = ret.u8(4);
        return error(tag, (tag == 4).then(|| ret.bytes(8)));
    }
    // query-result { columns: list<string> at 4, rows: list<row-result> at 12 }; a row-result is
    // its values' list (8 bytes), a value 16 bytes: its case, then at 8 an s64 or a string.
    let (rows, row_count) = (ret.u32(12) as usize, ret.u32(16) as usize);
    assert_eq!(row_count, 1);
    let row = unsafe { std::slice::from_raw_parts(rows as *const u32, 2) };
    let values = unsafe { std::slice::from_raw_parts(row[0] as *const u8, 32) };
    let at = |offset: usize| u32::from_le_bytes(values[offset..offset + 4].try_into().unwrap());
    let (integer, text) = match (values[0], values[16]) {
        // integer, text
        (0, 2) => (
            i64::from_le_bytes(values[8..16].try_into().unwrap()),
            String::from_utf8(take(at(24) as usize, at(28) as usize)).unwrap(),
        ),
        cases => return (500, format!("unexpected value cases {cases:?}")),
    };
    (200, format!("{integer} {text}"))
}

fn outbound(url: &str) -> (u16, String) {
    let mut ret = RetArea::new();
    // No headers, no parameters, no body: empty lists, at an address aligned for a string.
    let none: [u32; 0] = [];
    unsafe {
        http_request(
            0, // GET
            url.as_ptr(),
            url.len(),
            none.as_ptr().cast(),
            0,
            none.as_ptr().cast(),
            0,
            0,
            none.as_ptr().cast(),
            0,
            ret.ptr(),
        )
    };
    if ret.u8(0) != 0 {
        return error(ret.u8(4), None);
    }
    // response { status: u16 at 4, headers: option at 8, body: option at 20 }
    let body = if ret.u8(20) == 1 {
        ret.bytes(24)
    } else {
        Vec::new()
    };
    (
        200,
        format!("{} {}", ret.u16(4), String::from_utf8_lossy(&body)),
    )
}

fn redis(address: &str) -> (u16, String) {
    let mut ret = RetArea::new();
    let (key, value) = ("spin1", "hi");
    unsafe {
        redis_set(
            address.as_ptr(),
            address.len(),
            key.as_ptr(),
            key.len(),
            value.as_ptr(),
            value.len(),
            ret.ptr(),
        )
    };
    if ret.u8(0) != 0 {
        return error(ret.u8(1), None);
    }
    let mut ret = RetArea::new();
    unsafe {
        redis_get(
            address.as_ptr(),
            address.len(),
            key.as_ptr(),
            key.len(),
            ret.ptr(),
        )
    };
    // The error after the list's alignment (SET's had none to follow).
    if ret.u8(0) != 0 {
        return error(ret.u8(4), None);
    }
    (200, String::from_utf8(ret.bytes(4)).unwrap())
}

fn rdbms(query: Query, address: &str) -> (u16, String) {
    let mut ret = RetArea::new();
    let statement = "SELECT 42 AS answer";
    // No parameters: an empty list, at an address aligned for a value.
    let none: [u64; 0] = [];
    unsafe {
        query(
            address.as_ptr(),
            address.len(),
            statement.as_ptr(),
            statement.len(),
            none.as_ptr().cast(),
            0,
            ret.ptr(),
        )
    };
    if ret.u8(0) != 0 {
        // The error's case at 4; all but `success` (0) carry a text at 8.
        let tag = ret.u8(4);
        return error(tag, (tag != 0).then(|| ret.bytes(8)));
    }
    // row-set { columns: list<column> at 4, rows: list<list<db-value>> at 12 }; a column is its
    // name (a string) and its type (an enum at 8); a db-value 16 bytes, its case then at 8 its
    // value (int32 is case 3, int64 case 4).
    let columns = ret.u32(4) as usize;
    let rows = ret.u32(12) as usize;
    let column = unsafe { std::slice::from_raw_parts(columns as *const u8, 12) };
    let word = |bytes: &[u8], at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
    let name = String::from_utf8(take(word(column, 0) as usize, word(column, 4) as usize)).unwrap();
    let row = unsafe { std::slice::from_raw_parts(rows as *const u8, 8) };
    let value = unsafe { std::slice::from_raw_parts(word(row, 0) as *const u8, 16) };
    let number = match value[0] {
        3 => i64::from(i32::from_le_bytes(value[8..12].try_into().unwrap())),
        4 => i64::from_le_bytes(value[8..16].try_into().unwrap()),
        case => return (500, format!("unexpected value case {case}")),
    };
    (200, format!("{name} {} {number}", column[8]))
}

fn llm() -> (u16, String) {
    let mut ret = RetArea::new();
    let (model, prompt) = ("llama2-chat", "Say hi");
    unsafe {
        llm_infer(
            model.as_ptr(),
            model.len(),
            prompt.as_ptr(),
            prompt.len(),
            0,
            0,
            0.0,
            0,
            0.0,
            0,
            0.0,
            ret.ptr(),
        )
    };
    if ret.u8(0) != 0 {
        // `error` at 4: `model-not-supported` (0) has no text.
        let tag = ret.u8(4);
        return error(tag, (tag != 0).then(|| ret.bytes(8)));
    }
    (200, String::from_utf8(ret.bytes(4)).unwrap())
}

const METHODS: [&str; 7] = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"];

/// The request as the host lowered it: `method`, `uri`, `headers`, `params` and `body`.
#[unsafe(export_name = "handle-http-request")]
unsafe extern "C" fn handle_http_request(
    method: i32,
    uri: usize,
    uri_len: usize,
    headers: usize,
    headers_len: usize,
    _params: usize,
    _params_len: usize,
    body_is_some: i32,
    body: usize,
    body_len: usize,
) -> *mut u8 {
    let uri = String::from_utf8(take(uri, uri_len)).unwrap();
    // Each header is two strings: (pointer, length) twice.
    let header_words =
        unsafe { std::slice::from_raw_parts(headers as *const u32, headers_len * 4) };
    let headers: Vec<(String, String)> = header_words
        .chunks(4)
        .map(|h| {
            let text = |p: u32, l: u32| String::from_utf8(take(p as usize, l as usize)).unwrap();
            (text(h[0], h[1]), text(h[2], h[3]))
        })
        .collect();
    let body = if body_is_some == 1 {
        take(body, body_len)
    } else {
        Vec::new()
    };
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map_or("", |(_, v)| v.as_str())
    };
    let path_info = header("spin-path-info").to_string();
    let query = uri.split_once('?').map_or("", |(_, q)| q);
    let (status, text) = match path_info.as_str() {
        "/config" => config(),
        "/kv" => count().map_or_else(failed, |n| (200, n.to_string())),
        "/sqlite" => sqlite(),
        "/outbound" => outbound(query),
        "/redis" => redis(query),
        "/llm" => llm(),
        "/pg" => rdbms(pg_query, query),
        "/mysql" => rdbms(mysql_query, query),
        "/env" => (201, std::env::var("GREETING").unwrap_or_default()),
        _ => (
            201,
            format!(
                "{} {uri}\npath-info={path_info}\nbody={}",
                METHODS[method as usize],
                String::from_utf8_lossy(&body),
            ),
        ),
    };
    respond(status, text)
}

/// The response's return area: `status` (u16 at 0), `headers` (option at 4: its case, then the
/// list at 8), `body` (option at 16: its case, then the list at 20); all of it leaked to the host,
/// as wit-bindgen 0.2's guests leave it until `canonical_abi_free`.
fn respond(status: u16, text: String) -> *mut u8 {
    let name = String::from("x-handler").leak();
    let value = String::from("spin1").leak();
    let header: &mut [u32; 4] = Box::leak(Box::new([
        name.as_ptr() as u32,
        name.len() as u32,
        value.as_ptr() as u32,
        value.len() as u32,
    ]));
    let body = format!("{text}\n").leak();
    let area: &mut [u32; 7] = Box::leak(Box::new([
        status as u32,
        1,
        header.as_ptr() as u32,
        1,
        1,
        body.as_ptr() as u32,
        body.len() as u32,
    ]));
    area.as_mut_ptr() as *mut u8
}
