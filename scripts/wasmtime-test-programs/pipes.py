#!/usr/bin/env python3
# The interactive-pipe cli_tests (stdio_write_flushes, stdout_epipe, stdout_flush) under wasmtime
# and under Skiff, side by side: compare the two lines of each test by eye.
# Env: SKIFF, SKIFF_ROOT, WASMTIME, MODS, COMP (as for driver.py).
import subprocess, sys, time, threading
import os
E = os.environ
S = [E["SKIFF"], "run", "--root", E["SKIFF_ROOT"]]
W = [E["WASMTIME"], "run"]
C = E["COMP"].rstrip("/") + "/"; M = E["MODS"].rstrip("/") + "/"
def flushes(base, args):
    p=subprocess.Popen(base+args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    res={}
    def rd(): res['d']=p.stdout.read1(10) if hasattr(p.stdout,'read1') else p.stdout.read(2)
    t=threading.Thread(target=rd); t.start(); t.join(10)
    got=res.get('d')
    p.stdout.close(); p.stdin.close()
    try: rc=p.wait(20)
    except: p.kill(); rc='hang'
    return got, rc, p.stderr.read()[-300:]
def epipe(base, args):
    p=subprocess.Popen(base+args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.read(64); p.stdout.close()
    try: rc=p.wait(20)
    except: p.kill(); rc='hang'
    err=p.stderr.read().decode(errors='replace')
    return rc, 'got expected StreamError::Closed' in err, err[-300:]
def stdout_flush(base, args):
    p=subprocess.Popen(base+args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    res={}
    def rd(): res['d']=p.stdout.read(5)
    t=threading.Thread(target=rd); t.start(); t.join(15)
    got=res.get('d')
    try:
        p.stdin.write(b"x"); p.stdin.close()
    except Exception as e: pass
    try: rc=p.wait(20)
    except: p.kill(); rc='hang'
    return got, rc
for name,base in (("wasmtime",W),("skiff",S)):
    print(name, "p2_cli_stdio_write_flushes mod", flushes(base, ["-S","preview2=y",M+"p2_cli_stdio_write_flushes.wasm"]))
    print(name, "p2_cli_stdio_write_flushes comp", flushes(base, ["-W","component-model",C+"p2_cli_stdio_write_flushes.wasm"]))
    print(name, "p2_cli_stdout_epipe", epipe(base, ["-W","component-model",C+"p2_cli_stdout_epipe.wasm"]))
    print(name, "p3_cli_stdout_flush", stdout_flush(base, ["-S","p3","-W","component-model-async",C+"p3_cli_stdout_flush.wasm"]))
