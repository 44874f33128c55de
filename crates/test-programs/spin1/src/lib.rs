//! What Spin's Go SDK v2 (and Spin 1's SDKs) put in every module, written out as wit-bindgen
//! 0.2's generator writes it: `canonical_abi_realloc` and `canonical_abi_free`, Spin 1's imports by
//! their old module names, and return areas read at the canonical ABI's offsets. The programs are
//! `examples/spin1_http.rs` (an HTTP handler) and `examples/spin1_redis.rs` (a Redis trigger's).

use std::alloc::Layout;

#[unsafe(export_name = "canonical_abi_realloc")]
unsafe extern "C" fn canonical_abi_realloc(
    ptr: *mut u8,
    old: usize,
    align: usize,
    new: usize,
) -> *mut u8 {
    if new == 0 {
        return align as *mut u8;
    }
    unsafe {
        if old == 0 {
            std::alloc::alloc(Layout::from_size_align_unchecked(new, align))
        } else {
            std::alloc::realloc(ptr, Layout::from_size_align_unchecked(old, align), new)
        }
    }
}

#[unsafe(export_name = "canonical_abi_free")]
unsafe extern "C" fn canonical_abi_free(ptr: *mut u8, size: usize, align: usize) {
    if size != 0 {
        unsafe { std::alloc::dealloc(ptr, Layout::from_size_align_unchecked(size, align)) }
    }
}

#[link(wasm_import_module = "spin-config")]
unsafe extern "C" {
    #[link_name = "get-config"]
    pub fn get_config(key: *const u8, key_len: usize, ret: *mut u8);
}

#[link(wasm_import_module = "key-value")]
unsafe extern "C" {
    #[link_name = "open"]
    pub fn kv_open(name: *const u8, name_len: usize, ret: *mut u8);
    #[link_name = "get"]
    pub fn kv_get(store: u32, key: *const u8, key_len: usize, ret: *mut u8);
    #[link_name = "set"]
    pub fn kv_set(
        store: u32,
        key: *const u8,
        key_len: usize,
        v: *const u8,
        v_len: usize,
        ret: *mut u8,
    );
}

#[link(wasm_import_module = "sqlite")]
unsafe extern "C" {
    #[link_name = "open"]
    pub fn sql_open(name: *const u8, name_len: usize, ret: *mut u8);
    #[link_name = "execute"]
    pub fn sql_execute(
        conn: u32,
        s: *const u8,
        s_len: usize,
        p: *const u8,
        p_len: usize,
        ret: *mut u8,
    );
}

#[link(wasm_import_module = "wasi-outbound-http")]
unsafe extern "C" {
    #[link_name = "request"]
    pub fn http_request(
        method: i32,
        uri: *const u8,
        uri_len: usize,
        headers: *const u8,
        headers_len: usize,
        params: *const u8,
        params_len: usize,
        body_is_some: i32,
        body: *const u8,
        body_len: usize,
        ret: *mut u8,
    );
}

#[link(wasm_import_module = "outbound-redis")]
unsafe extern "C" {
    #[link_name = "set"]
    pub fn redis_set(
        a: *const u8,
        a_len: usize,
        k: *const u8,
        k_len: usize,
        v: *const u8,
        v_len: usize,
        ret: *mut u8,
    );
    #[link_name = "get"]
    pub fn redis_get(a: *const u8, a_len: usize, k: *const u8, k_len: usize, ret: *mut u8);
}

/// `query` of `outbound-pg` and `outbound-mysql`: the address, the statement, its parameters.
pub type Query =
    unsafe extern "C" fn(*const u8, usize, *const u8, usize, *const u8, usize, *mut u8);

#[link(wasm_import_module = "outbound-pg")]
unsafe extern "C" {
    #[link_name = "query"]
    pub fn pg_query(
        a: *const u8,
        a_len: usize,
        s: *const u8,
        s_len: usize,
        p: *const u8,
        p_len: usize,
        ret: *mut u8,
    );
}

#[link(wasm_import_module = "outbound-mysql")]
unsafe extern "C" {
    #[link_name = "query"]
    pub fn mysql_query(
        a: *const u8,
        a_len: usize,
        s: *const u8,
        s_len: usize,
        p: *const u8,
        p_len: usize,
        ret: *mut u8,
    );
}

#[link(wasm_import_module = "llm")]
unsafe extern "C" {
    #[link_name = "infer"]
    pub fn llm_infer(
        model: *const u8,
        model_len: usize,
        prompt: *const u8,
        prompt_len: usize,
        params_is_some: i32,
        max_tokens: i32,
        repeat_penalty: f32,
        repeat_penalty_last_n_token_count: i32,
        temperature: f32,
        top_k: i32,
        top_p: f32,
        ret: *mut u8,
    );
}

/// A return area, aligned as the largest of the canonical ABI's types.
#[repr(C, align(8))]
pub struct RetArea([u8; 40]);

impl Default for RetArea {
    fn default() -> Self {
        Self::new()
    }
}

impl RetArea {
    pub fn new() -> Self {
        RetArea([0; 40])
    }
    pub fn ptr(&mut self) -> *mut u8 {
        self.0.as_mut_ptr()
    }
    pub fn u8(&self, at: usize) -> u8 {
        self.0[at]
    }
    pub fn u16(&self, at: usize) -> u16 {
        u16::from_le_bytes(self.0[at..at + 2].try_into().unwrap())
    }
    pub fn u32(&self, at: usize) -> u32 {
        u32::from_le_bytes(self.0[at..at + 4].try_into().unwrap())
    }
    /// The bytes of a list the host allocated at (pointer, length) `at`, taken over.
    pub fn bytes(&self, at: usize) -> Vec<u8> {
        let (ptr, len) = (self.u32(at) as usize, self.u32(at + 4) as usize);
        take(ptr, len)
    }
}

pub fn take(ptr: usize, len: usize) -> Vec<u8> {
    if len == 0 {
        return Vec::new();
    }
    unsafe { Vec::from_raw_parts(ptr as *mut u8, len, len) }
}

/// A failed call's error: its case, and its text where the case has one.
pub type CallError = (u8, Option<Vec<u8>>);

/// Key-value's error at 4 of `ret`, with the text of its `io(string)` case (5).
fn kv_error(ret: &RetArea) -> CallError {
    let tag = ret.u8(4);
    (tag, (tag == 5).then(|| ret.bytes(8)))
}

/// Counts one more in the key `count` of the store `default`: the new count.
pub fn count() -> Result<u64, CallError> {
    let mut ret = RetArea::new();
    unsafe { kv_open(b"default".as_ptr(), 7, ret.ptr()) };
    if ret.u8(0) != 0 {
        return Err(kv_error(&ret));
    }
    let store = ret.u32(4);
    let mut ret = RetArea::new();
    unsafe { kv_get(store, b"count".as_ptr(), 5, ret.ptr()) };
    let count: u64 = match (ret.u8(0), ret.u8(4)) {
        (0, _) => String::from_utf8(ret.bytes(4)).unwrap().parse().unwrap(),
        // no-such-key
        (_, 4) => 0,
        _ => return Err(kv_error(&ret)),
    };
    let next = (count + 1).to_string();
    let mut ret = RetArea::new();
    unsafe {
        kv_set(
            store,
            b"count".as_ptr(),
            5,
            next.as_ptr(),
            next.len(),
            ret.ptr(),
        )
    };
    if ret.u8(0) != 0 {
        return Err(kv_error(&ret));
    }
    Ok(count + 1)
}
