#!/usr/bin/env python3
"""Runs wasmtime 48's test programs under Skiff with wasmtime's own command lines (from
crates/wasi/tests/all, crates/wasi-http/tests/all and tests/all/cli_tests.rs), and each case that
fails under Skiff once more under the reference wasmtime CLI (skiff-only `-v X:G:ro` becomes
`--dir X::G`), so a failure can be told apart from an environment/harness one.

usage: driver.py GROUP [FILTER]   GROUP in harness|cli|fuel|hh|http|all; FILTER: a substring of names
Env: SKIFF, WASMTIME (binaries), MODS (the wasm32-wasip1 modules), COMP (their components),
     OUT (results), SKIFF_ROOT (skiff --root), ECHO_PORT (the echo server, 18089; http group),
     TMO (seconds per run, 45), ALWAYS_WT (set: run wasmtime for passing cases too).
Outputs: OUT/<label>/{cmd,rc,stdout,stderr[,wt.cmd,wt.rc,wt.stdout,wt.stderr]}, one line per case
in OUT/summary.tsv: label, PASS|FAIL, rc, time, [wt_rc= wt=PASS|FAIL].
Scratch directories go to $TMPDIR.
"""
import os, sys, subprocess, tempfile, shutil, glob, shlex, time

def env(k):
    v = os.environ.get(k)
    if not v: sys.exit(f"driver.py: set {k}")
    return v

SKIFF = [env("SKIFF"), "run", "--root", env("SKIFF_ROOT")]
WASMTIME = env("WASMTIME")
WT = [WASMTIME, "run"]
M = env("MODS").rstrip("/") + "/"
C = env("COMP").rstrip("/") + "/"
OUT = env("OUT").rstrip("/") + "/"
TMP = tempfile.gettempdir()
ECHO_PORT = os.environ.get("ECHO_PORT", "18089")
TMO = int(os.environ.get("TMO", "45"))
ALWAYS_WT = bool(os.environ.get("ALWAYS_WT"))
NET = ["-S", "inherit-network", "-S", "allow-ip-name-lookup"]   # Ctx: inherit_network + allow_tcp/udp/ip_name_lookup


def ok_rc(want=0):
    return lambda rc, o, e: rc == want


def err_has(*subs, rc_nonzero=True):
    return lambda rc, o, e: (rc != 0 or not rc_nonzero) and any(s in e for s in subs)


def out_has(s, rc=0):
    return lambda rc_, o, e: rc_ == rc and s in o


def execute(argv, stdin, label_dir, prefix):
    fin = os.open(stdin or "/dev/null", os.O_RDONLY)
    if True:
        t0 = time.time()
        try:
            p = subprocess.run(argv, stdin=fin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=TMO, cwd=TMP)
            rc, o, e = p.returncode, p.stdout, p.stderr
        except subprocess.TimeoutExpired as ex:
            rc, o, e = "timeout", ex.stdout or b"", ex.stderr or b""
        dt = time.time() - t0
    os.close(fin)
    o = o.decode(errors="replace"); e = e.decode(errors="replace")
    open(os.path.join(label_dir, prefix + "cmd"), "w").write(shlex.join(argv) + "\n")
    open(os.path.join(label_dir, prefix + "rc"), "w").write(f"{rc}\n")
    open(os.path.join(label_dir, prefix + "stdout"), "w").write(o)
    open(os.path.join(label_dir, prefix + "stderr"), "w").write(e)
    return rc, o, e, dt


def wt_args(args):
    out = []
    i = 0
    while i < len(args):
        a = args[i]
        if a == "-v" and args[i + 1].endswith(":ro"):
            h, g, _ = args[i + 1].split(":")
            out += ["--dir", f"{h}::{g}"]; i += 2; continue
        out.append(a); i += 1
    return out


def run_case(label, args_fn, check, stdin=None, skiff_only=False):
    d = OUT + label
    shutil.rmtree(d, ignore_errors=True); os.makedirs(d)
    args = args_fn()
    rc, o, e, dt = execute(SKIFF + args, stdin, d, "")
    ok = check(rc, o, e)
    wres = ""
    if (not ok or ALWAYS_WT) and not skiff_only:
        args = args_fn()  # fresh workspace
        wrc, wo, we, _ = execute(WT + wt_args(args), stdin, d, "wt.")
        wok = check(wrc, wo, we)
        wres = f"wt_rc={wrc} wt={'PASS' if wok else 'FAIL'}"
    status = "PASS" if ok else "FAIL"
    line = f"{label}\t{status}\trc={rc}\t{dt:.1f}s\t{wres}"
    print(line, flush=True)
    with open(OUT + "summary.tsv", "a") as f:
        f.write(line + "\n")
    return ok


# ---------------------------------------------------------------- harness (crates/wasi/tests/all)
RO_CASES = ("_truncation_readonly", "_hardlink_across_perms", "_rename_across_perms")


def harness_args(kind, n):
    def fn():
        ws = tempfile.mkdtemp(prefix=f"wasi_components_{n}_")
        extra = []
        if n.endswith(RO_CASES):
            ro = tempfile.mkdtemp(prefix="wasi_components_ro_")
            open(ro + "/test.txt", "w").write("read only test file\n")
            extra = ["-v", f"{ro}:readonly:ro"]
        elif n == "p2_file_stream_not_permitted":
            ro = tempfile.mkdtemp(prefix="wasi_components_stream_np_ro_")
            open(ro + "/stream-perms.txt", "w").write("stream permission test\n")
            extra = ["-v", f"{ro}:readonly:ro"]
        elif n == "p1_stat_extreme_host_mtime":
            open(ws + "/extreme.dat", "w").write("hello")
            os.system(f"touch -d '@-9223372036854775808' {ws}/extreme.dat 2>/dev/null || touch -d '1000-01-01' {ws}/extreme.dat")
        if kind == "mod":
            f, argv0, p3 = M + n + ".wasm", n, []
        else:
            f, argv0 = C + n + ".wasm", n + ".component"
            p3 = ["-W", "component-model-async", "-S", "p3"] if n.startswith("p3_") else []
        return ["--dir", f"{ws}::.", "--env", "ERRNO_MODE_UNIX=1"] + NET + p3 + extra + ["--argv0", argv0, f, "."]
    return fn


def harness_check(n):
    if n == "p2_stream_pollable_traps":
        return err_has("resource has children")
    if n == "p2_pollable_traps":
        return err_has("empty poll list")
    if n == "p2_udp_send_too_much":
        return err_has("unpermitted: argument exceeds permitted size")
    return ok_rc(0)


def names(d, pred):
    return sorted(n[:-5] for n in map(os.path.basename, glob.glob(d + "*.wasm")) if pred(n[:-5]))


def harness_prog(n):
    """The programs crates/wasi/tests/all runs: the p1_/p2_/p3_ ones that are not cli/http/api/tls tests
    (those are the cli and http groups; tls needs the internet; p1_stdio_isatty needs a tty)."""
    return (n.startswith(("p1_", "p2_", "p3_")) and not n[3:].startswith(("cli_", "http_", "api_", "tls_"))
            and n != "p1_stdio_isatty")


def harness(filt):
    for kind, d in (("mod", M), ("comp", C)):
        for n in names(d, lambda n: harness_prog(n) and (kind == "comp" or n.startswith("p1_"))):
            if filt and filt not in n: continue
            run_case(kind + "." + n, harness_args(kind, n), harness_check(n))


# ---------------------------------------------------------------- cli_tests.rs
def fixed(args):
    return lambda: list(args)


def mkd(files=None, dirs=()):
    d = tempfile.mkdtemp()
    for s in dirs:
        os.makedirs(os.path.join(d, s), exist_ok=True)
    for k, v in (files or {}).items():
        open(os.path.join(d, k), "w").write(v)
    return d


def cli(filt):
    W = ["-W", "component-model"]
    P3 = ["-S", "p3", "-W", "component-model-async"]
    stdin1, stdin2, stdin3, eisdir = (os.path.join(TMP, f) for f in ("stdin1", "stdin2", "stdin3", "eisdir"))
    open(stdin1, "w").write("not to be read")
    open(stdin2, "w").write("So rested he by the Tumtum tree")
    open(stdin3, "w").write("hello!")
    os.makedirs(eisdir, exist_ok=True)
    cases = [
        ("p2_cli_hello_stdout", fixed(W + [C + "p2_cli_hello_stdout.wasm"]), out_has("hello, world"), None),
        ("p2_cli_args", fixed(W + [C + "p2_cli_args.wasm", "hello", "this", "", "is an argument", "with 🚩 emoji"]), ok_rc(0), None),
        ("p2_cli_initial_cwd", fixed(W + ["-S", "cwd=/sandbox", C + "p2_cli_initial_cwd.wasm"]), ok_rc(0), None),
        ("p2_cli_stdin_empty", fixed(W + [C + "p2_cli_stdin_empty.wasm"]), ok_rc(0), stdin1),
        ("p2_cli_stdin", fixed(W + [C + "p2_cli_stdin.wasm"]), ok_rc(0), stdin2),
        ("p2_cli_splice_stdin", fixed(W + [C + "p2_cli_splice_stdin.wasm"]), out_has("So rested he by the Tumtum tree"), stdin2),
        ("p2_cli_stdin_eisdir", fixed(W + [C + "p2_cli_stdin_eisdir.wasm"]), ok_rc(0), eisdir),
        ("p2_cli_env", fixed(W + ["--env=frabjous=day", "--env=callooh=callay", C + "p2_cli_env.wasm"]), ok_rc(0), None),
        ("p2_cli_file_read", lambda: W + [f"--dir={mkd({'bar.txt': 'And stood awhile in thought'})}::/", C + "p2_cli_file_read.wasm"], ok_rc(0), None),
        ("p2_cli_file_append", lambda: W + [f"--dir={mkd({'bar.txt': chr(39) + 'Twas brillig, and the slithy toves.' + chr(10)})}::/", C + "p2_cli_file_append.wasm"], ok_rc(0), None),
        ("p2_cli_file_dir_sync", lambda: W + [f"--dir={mkd({'bar.txt': chr(39) + 'Twas brillig, and the slithy toves.' + chr(10)})}::/", C + "p2_cli_file_dir_sync.wasm"], ok_rc(0), None),
        ("p2_cli_exit_success", fixed(W + [C + "p2_cli_exit_success.wasm"]), ok_rc(0), None),
        ("p2_cli_exit_default", fixed(W + [C + "p2_cli_exit_default.wasm"]), ok_rc(0), None),
        ("p2_cli_exit_failure", fixed(W + [C + "p2_cli_exit_failure.wasm"]), ok_rc(1), None),
        ("p2_cli_exit_with_code", fixed(W + ["-S", "cli-exit-with-code", C + "p2_cli_exit_with_code.wasm"]), ok_rc(42), None),
        ("p2_cli_exit_panic", fixed(W + [C + "p2_cli_exit_panic.wasm"]), err_has("Curiouser and curiouser!"), None),
        ("p2_cli_directory_list", lambda: W + [f"--dir={mkd({'foo.txt': '', 'bar.txt': '', 'baz.txt': '', 'sub/wow.txt': '', 'sub/yay.txt': ''}, dirs=['sub'])}::/", C + "p2_cli_directory_list.wasm"], ok_rc(0), None),
        ("p2_cli_default_clocks", fixed(W + [C + "p2_cli_default_clocks.wasm"]), ok_rc(0), None),
        ("p2_cli_export_cabi_realloc", fixed(W + [C + "p2_cli_export_cabi_realloc.wasm"]), ok_rc(0), None),
        ("run_wasi_http_component", fixed(["-C", "cache=no"] + W + ["-S", "cli,http,preview2", C + "p2_http_outbound_request_response_build.wasm"]), ok_rc(0), None),
        ("p2_cli_no_tcp", fixed(W + ["-Sinherit-network,tcp=no", C + "p2_cli_no_tcp.wasm"]), ok_rc(0), None),
        ("p2_cli_no_udp", fixed(W + ["-Sinherit-network,udp=no", C + "p2_cli_no_udp.wasm"]), ok_rc(0), None),
        ("p2_cli_no_ip_name_lookup", fixed(W + ["-Sinherit-network,allow-ip-name-lookup=no", C + "p2_cli_no_ip_name_lookup.wasm"]), ok_rc(0), None),
        ("p2_cli_sleep.mod", fixed([M + "p2_cli_sleep.wasm"]), ok_rc(0), None),
        ("p2_cli_sleep", fixed([C + "p2_cli_sleep.wasm"]), ok_rc(0), None),
        ("p2_cli_sleep_forever.mod.1ns", fixed(["-W", "timeout=1ns", M + "p2_cli_sleep_forever.wasm"]), lambda rc, o, e: rc not in (0, "timeout"), None),
        ("p2_cli_sleep_forever.comp.1ns", fixed(["-W", "timeout=1ns", C + "p2_cli_sleep_forever.wasm"]), lambda rc, o, e: rc not in (0, "timeout"), None),
        ("p2_cli_sleep_forever.mod.250ms", fixed(["-W", "timeout=250ms", M + "p2_cli_sleep_forever.wasm"]), lambda rc, o, e: rc not in (0, "timeout"), None),
        ("p2_cli_sleep_forever.comp.250ms", fixed(["-W", "timeout=250ms", C + "p2_cli_sleep_forever.wasm"]), lambda rc, o, e: rc not in (0, "timeout"), None),
        ("p2_cli_argv0.mod.a", fixed(["--argv0=a", M + "p2_cli_argv0.wasm", "a"]), ok_rc(0), None),
        ("p2_cli_argv0.comp.b", fixed(["--argv0=b", C + "p2_cli_argv0.wasm", "b"]), ok_rc(0), None),
        ("p2_cli_argv0.mod.foo", fixed(["--argv0=foo.wasm", M + "p2_cli_argv0.wasm", "foo.wasm"]), ok_rc(0), None),
        ("p2_cli_config", fixed(["-S", "config", "-S", "config-var=hello=world", C + "config_get.wasm"]), ok_rc(0), None),
        ("p2_cli_keyvalue", fixed(["-S", "keyvalue", "-S", "keyvalue-in-memory-data=atomics_key=5", C + "keyvalue_main.wasm"]), ok_rc(0), None),
        ("p2_cli_multiple_preopens", fixed(["--dir=/::/a", "--dir=/::/b", "--dir=/::/c", C + "p2_cli_multiple_preopens.wasm"]), ok_rc(0), None),
        ("p3_cli_hello_stdout", fixed(["-W", "component-model-async", "-S", "p3", C + "p3_cli_hello_stdout.wasm"]), out_has("hello, world"), None),
        ("p2_cli_hello_stdout_invoke", fixed(W + ["--invoke", "run()", C + "p2_cli_hello_stdout.wasm"]), out_has("hello, world"), None),
        ("p3_cli_hello_stdout_post_return", fixed(["-W", "component-model-async", "-S", "p3", C + "p3_cli_hello_stdout_post_return.wasm"]), out_has("hello, world"), None),
        ("p3_cli_hello_stdout_post_return_invoke", fixed(["-W", "component-model-async", "-S", "p3", "--invoke", "run()", C + "p3_cli_hello_stdout_post_return.wasm"]), out_has("hello, world"), None),
        ("p2_random_limits.1", fixed([C + "p2_random.wasm"]), ok_rc(0), None),
        ("p2_random_limits.2", fixed(["-S", "max-random-size=255", C + "p2_random.wasm"]), lambda rc, o, e: rc != 0 and "lib_generated::random_get" in e and "requested len 256 exceeds limit 255" in e, None),
        ("p2_random_limits.3", fixed(["-S", "max-random-size=255", "--env", "TEST_P1_RANDOM_LEN=255", C + "p2_random.wasm"]), lambda rc, o, e: rc != 0 and "random::random::get_random_bytes" in e and "requested len 256 exceeds limit 255" in e, None),
        ("p2_random_limits.4", fixed(["-S", "max-random-size=255", "--env", "TEST_P1_RANDOM_LEN=255", "--env", "TEST_P2_RANDOM_LEN=255", C + "p2_random.wasm"]), lambda rc, o, e: rc != 0 and "random::insecure::get_insecure_random_bytes" in e and "requested len 256 exceeds limit 255" in e, None),
        ("p2_random_limits.5", fixed(["-S", "max-random-size=255", "--env", "TEST_P1_RANDOM_LEN=255", "--env", "TEST_P2_RANDOM_LEN=255", "--env", "TEST_P2_INSECURE_RANDOM_LEN=255", C + "p2_random.wasm"]), ok_rc(0), None),
        ("p2_cli_invoke_async", fixed(["-W", "component-model-async", "--invoke", 'echo("hello?")', C + "p2_cli_invoke_async.wasm"]), out_has('"hello?"'), None),
        ("p2_cli_max_resources.50", fixed(["-S", "max-resources=50", C + "p2_cli_max_resources.wasm"]), err_has("resource table has no free keys"), None),
        ("p2_cli_max_resources.200", fixed(["-S", "max-resources=200", C + "p2_cli_max_resources.wasm"]), ok_rc(0), None),
        ("p2_cli_many_resources", fixed(["-S", "max-resources=100", C + "p2_cli_many_resources.wasm"]), err_has("resource table has no free keys"), None),
        ("p3_cli_many_tasks", fixed(["-S", "max-resources=100", "-S", "p3", "-W", "component-model-async", C + "p3_cli_many_tasks.wasm"]), err_has("resource table has no free keys"), None),
        ("p1_cli_hostcall_fuel", lambda: [f"--dir={mkd()}::.", "-S", "hostcall-fuel=1000", M + "p1_cli_hostcall_fuel.wasm"], ok_rc(0), None),
        ("p3_cli_read_stdin", fixed(P3 + [C + "p3_cli_read_stdin.wasm"]), ok_rc(0), stdin3),
        ("p3_cli_many_stream", fixed(["-S", "max-resources=100", C + "p3_cli_many_stream.wasm"]), ok_rc(0), None),
        ("p3_cli_deny_listen", fixed(["-Stcp", C + "p3_cli_deny_listen.wasm"]), ok_rc(0), None),
        ("p2_api_read_only", lambda: ["-v", f"{mkd({'bar.txt': 'And stood awhile in thought'}, dirs=['sub'])}:/:ro", C + "p2_api_read_only.wasm"], ok_rc(0), None),
        ("p3_file_write_chunked.timeout", lambda: [f"--dir={mkd()}::.", "-W", "timeout=60s", "-W", "component-model-async", "-S", "p3", C + "p3_file_write_chunked.wasm", "."], ok_rc(0), None),
    ]
    for rand in ("random", "insecure"):
        cases.append((f"p3_cli_random_limits.{rand}.default", fixed(P3 + [C + "p3_cli_random_limits.wasm", rand, "256"]), ok_rc(0), None))
        cases.append((f"p3_cli_random_limits.{rand}.255", fixed(P3 + ["-S", "max-random-size=255", C + "p3_cli_random_limits.wasm", rand, "256"]), ok_rc(0), None))
    for comp, fl in (("p1_cli_much_stdout", []), ("p2_cli_much_stdout", []), ("p3_cli_much_stdout", ["-Wcomponent-model-async", "-Sp3"])):
        for i in range(10, 15):
            cases.append((f"{comp}.{i}", fixed(fl + [C + comp + ".wasm", "a" * (1 << i), str((1 << 18) >> i)]),
                          lambda rc, o, e: rc == 0 and o == "a" * (1 << 18), None))
    # large env: 512 x 1KiB variables inherited
    for k in ("mod", "comp"):
        f = (M if k == "mod" else C) + "p2_cli_large_env.wasm"
        cases.append((f"p2_cli_large_env.{k}", fixed(["-S", "inherit-env", f]), ok_rc(0), None))
    for name, args_fn, check, stdin in cases:
        if filt and filt not in name: continue
        if name.startswith("p2_cli_large_env"):
            saved = dict(os.environ)
            for i in range(512): os.environ[f"KEY{i}"] = "x" * 1024
            run_case("cli." + name, args_fn, check, stdin)
            os.environ.clear(); os.environ.update(saved)
        else:
            run_case("cli." + name, args_fn, check, stdin)


# ---------------------------------------------------------------- hostcall fuel (cli_tests p2_cli_hostcall_fuel)
FUEL = [("poll", "nofuel"), ("read", "ok"), ("write", "nofuel"), ("mkdir", "nofuel"), ("write-stream", "nofuel"),
        ("write-stream-blocking", "nofuel"), ("resolve", "nofuel"), ("udp-send-many", "nofuel"), ("udp-send-big", "nofuel"),
        ("write-zeroes", "zeroes"), ("write-stream-buffer-too-large", "big"), ("write-zeroes-buffer-too-large", "big"),
        ("read-file-big", "ok"), ("read-tcp-big", "ok")]


def fuel(filt):
    d = mkd()
    open(d + "/1mb", "wb").write(b"\0" * (1024 * 1024))
    chk = {"ok": ok_rc(0), "nofuel": err_has("fuel allocated for hostcalls has been exhausted"),
           "zeroes": err_has("cannot write more zeroes than `check_write` allows"), "big": err_has("Buffer too large")}
    for arg, ex in FUEL:
        if filt and filt not in arg: continue
        run_case("fuel." + arg, fixed(["-Shostcall-fuel=5000", "-Sinherit-network", f"--dir={d}::.", C + "p2_cli_hostcall_fuel.wasm", arg]), chk[ex])


# ---------------------------------------------------------------- http_headers
def hh(filt):
    cw = os.path.join(TMP, "p2_cli_http_headers.cwasm")
    if not os.path.exists(cw):
        subprocess.run([WASMTIME, "compile", C + "p2_cli_http_headers.wasm", "-o", cw], check=True)
    p2err = err_has("total size of fields exceeds limit", "too many fields in the field map")
    for t in ("append", "append-empty", "append-same", "append-same-empty"):
        for lim, lab in ((["-Smax-http-fields-size=1048576"], "-lim"), ([], "")):
            if filt and filt not in t: continue
            run_case(f"hh.p2-{t}{lab}", fixed(["-Shttp,p3"] + lim + ["--allow-precompiled", cw, f"p2-{t}"]),
                     p2err if lab else err_has("total size of fields exceeds limit"))
            run_case(f"hh.p3-{t}{lab}", fixed(["-Shttp,p3"] + lim + ["--allow-precompiled", cw, f"p3-{t}"]), out_has("error received"))
    run_case("hh.p2-huge", fixed(["-Shttp,p3", f"-Smax-http-fields-size={1 << 30}", "--allow-precompiled", cw, "p2-append"]), err_has("too many fields in the field map"))
    run_case("hh.p3-huge", fixed(["-Shttp,p3", f"-Smax-http-fields-size={1 << 30}", "--allow-precompiled", cw, "p3-append"]), ok_rc(0))


# ---------------------------------------------------------------- http outbound (wasi-http tests, echo server on ECHO_PORT)
def http(filt):
    for f in sorted(glob.glob(C + "p2_http_outbound_*.wasm") + glob.glob(C + "p3_http_outbound_*.wasm")):
        n = os.path.basename(f)[:-5]
        if filt and filt not in n: continue
        run_case("http." + n, fixed(["-S", "http,inherit-network,allow-ip-name-lookup", "-W", "component-model-async", "-S", "p3",
                                     "--env", f"HTTP_SERVER=localhost:{ECHO_PORT}", f]), ok_rc(0))


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    g = sys.argv[1]; filt = sys.argv[2] if len(sys.argv) > 2 else None
    for name in (["harness", "cli", "fuel", "hh", "http"] if g == "all" else [g]):
        globals()[name](filt)
