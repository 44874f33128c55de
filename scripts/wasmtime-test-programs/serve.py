#!/usr/bin/env python3
# Differential check of the `serve` cli_tests (WasmtimeServe in tests/all/cli_tests.rs): each
# component is served by `wasmtime serve` and by `skiff serve` on 127.0.0.1 (ports from SERVE_PORT+1,
# 19301), sent the same requests; prints SAME or DIFF per component (status codes compared), with
# both sides' responses; V=1 prints the servers' output too.
# usage: serve.py [NAME...]   Env: SKIFF, SKIFF_ROOT, WASMTIME, COMP (as for driver.py), SERVE_PORT.
import subprocess, sys, time, socket, http.client, os, signal
E = os.environ
C = E["COMP"].rstrip("/") + "/"
def start(kind, wasm, flags, port):
    if kind=="wasmtime":
        cmd=[E["WASMTIME"],"serve",f"--addr=127.0.0.1:{port}"]+flags+[C+wasm+".wasm"]
    else:
        cmd=[E["SKIFF"],"serve","--root",E["SKIFF_ROOT"],f"--addr=127.0.0.1:{port}"]+flags+[C+wasm+".wasm"]
    env=dict(os.environ); env.pop("BAR",None)
    p=subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, start_new_session=True)
    for _ in range(200):
        try:
            s=socket.create_connection(("127.0.0.1",port),0.2); s.close(); return p
        except OSError: time.sleep(0.1)
        if p.poll() is not None: break
    return p
def req(port, method="GET", path="/", headers={}, body=None, timeout=10):
    try:
        c=http.client.HTTPConnection("127.0.0.1",port,timeout=timeout)
        c.request(method, path, body=body, headers=headers)
        r=c.getresponse(); b=r.read()
        return (r.status, {k.lower():v for k,v in r.getheaders() if k.lower() in ("env","x-wasmtime-test-method","content-type")}, b[:80])
    except Exception as e:
        return ("ERR", type(e).__name__, str(e)[:80])
def stop(p):
    try: os.killpg(p.pid, signal.SIGINT)
    except Exception: pass
    try: out,err=p.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL); out,err=p.communicate()
    return out.decode(errors='replace'), err.decode(errors='replace')
cases=[
 ("p2_cli_serve_echo_env",["--env=FOO=bar","--env=BAR","-Scli"],[dict(headers={"env":"FOO"}),dict(headers={"env":"BAR"})]),
 ("p2_cli_serve_hello_world",["-Scli"],[{}]),
 ("p2_cli_serve_with_print",["-Scli"],[{},{}]),
 ("p2_cli_serve_authority_and_scheme",["-Scli"],[dict(headers={"Host":"localhost"})]),
 ("p2_cli_serve_config",["-Scli","-Sconfig","-Sconfig-var=hello=world"],[{}]),
 ("p2_cli_serve_keyvalue",["-Scli","-Skeyvalue","-Skeyvalue-in-memory-data=hello=world"],[{}]),
 ("p2_cli_serve_return_before_set",["-Scli"],[{},{}]),
 ("p2_cli_serve_trap_before_set",["-Scli"],[{},{}]),
 ("p2_cli_serve_sleep",["-Scli"],[dict(timeout=3)]),
 ("p3_cli_serve_hello_world",["-Wcomponent-model-async","-Sp3,cli"],[{}]),
 ("p3_cli_serve_post_return",["-Wcomponent-model-async","-Sp3,cli","--max-instance-reuse-count=1"],[{}]),
 ("p3_cli_serve_sleep",["-Wcomponent-model-async","-Sp3,cli"],[dict(timeout=3)]),
 ("p2_api_proxy",["-Scli"],[{}]),
 ("p2_api_proxy_streaming",["-Scli"],[dict(method="POST",body=b"hello world")]),
 ("p3_api_proxy",["-Wcomponent-model-async","-Sp3,cli"],[{}]),
 ("p3_http_echo",["-Wcomponent-model-async","-Sp3,cli"],[dict(method="POST",body=b"hello echo")]),
 ("p3_http_proxy",["-Wcomponent-model-async","-Sp3,cli"],[{}]),
 ("p3_http_middleware",["-Wcomponent-model-async","-Sp3,cli"],[{}]),
]
only=sys.argv[1:]
port=int(E.get("SERVE_PORT", "19300"))
for wasm,flags,reqs in cases:
    if only and wasm not in only: continue
    res={}
    for kind in ("wasmtime","skiff"):
        port+=1
        p=start(kind,wasm,flags,port)
        rs=[req(port,**r) for r in reqs]
        out,err=stop(p)
        res[kind]=(rs,out[-300:],err[-400:])
    same = [r[0] for r in res["wasmtime"][0]]==[r[0] for r in res["skiff"][0]]
    print(("SAME " if same else "DIFF ")+wasm)
    for kind in ("wasmtime","skiff"):
        print("  ",kind,res[kind][0])
        if not same or os.environ.get("V"):
            print("     out:",repr(res[kind][1][-200:])); print("     err:",repr(res[kind][2][-300:]))
