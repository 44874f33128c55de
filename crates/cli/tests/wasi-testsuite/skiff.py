# Runtime adapter for the WASI testsuite's runner (github.com/WebAssembly/wasi-testsuite,
# test-runner/), modelled on its adapters/wasmtime.py: each test runs as
#
#     skiff run -e K=V... -v HOST_DIR:GUEST_DIR... TEST.wasm ARGS...
#
# each directory granted read-write under the name the test asks for (a relative guest
# directory is the preopen's name as given, as `wasmtime run --dir HOST::GUEST`).
#
# SKIFF names the binary and any options before `run`, e.g.
# SKIFF="target/debug/skiff --root /tmp/skiff-wasi". See docs/conformance.md.
import os
import shlex
import subprocess
from pathlib import Path
from typing import Dict, List, Tuple

# shlex.split() splits according to shell quoting rules
SKIFF = shlex.split(os.getenv("SKIFF", "skiff"), posix=os.name != "nt")


def get_name() -> str:
    return "skiff"


def get_version() -> str:
    # `skiff --version` prints `skiff 0.1.0`; no options, as wasmtime.py asks for its version.
    result = subprocess.run(SKIFF[0:1] + ["--version"],
                            encoding="UTF-8", capture_output=True,
                            check=True)
    output = result.stdout.splitlines()[0].split(" ")
    return output[1]


def get_wasi_versions() -> List[str]:
    # Skiff runs WASI 0.2 and 0.3.0 components, but the testsuite publishes no 0.2 tests, and its
    # wasm32-wasip3 tests import the release candidate 0.3.0-rc-2026-03-15, which neither Skiff
    # nor wasmtime 48 implements (docs/conformance.md).
    return ["wasm32-wasip1"]


def get_wasi_worlds() -> List[str]:
    # `skiff serve` serves wasi:http/proxy (0.2) handlers, not the testsuite's 0.3 service world.
    return ["wasi:cli/command"]


def compute_argv(test_path: str,
                 args_env_dirs: Tuple[List[str], Dict[str, str], List[Tuple[Path, str]]],
                 proposals: List[str],
                 wasi_world: str,
                 wasi_version: str) -> List[str]:
    argv = []
    argv += SKIFF
    argv += ["run"]
    args, env, dirs = args_env_dirs

    for k, v in env.items():
        argv += ["-e", f"{k}={v}"]

    for host, guest in dirs:
        argv += ["-v", f"{host}:{guest}"]  # noqa: E231

    argv += [test_path]

    argv += args
    return argv
