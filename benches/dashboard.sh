#!/usr/bin/env bash
# Dashboard benchmark: the time from navigation to the first render of the apps list (its first
# page of rows on screen) with N apps (1,000) in the daemon, in a real headless Chromium (Debian's
# `chromium` + `chromium-driver`, driven over WebDriver by Python's standard library). Each load
# is a fresh navigation in one browser session; the figure is the page's own
# `performance.mark("skiff-apps-rendered")` (navigation start -> the list's rows in the DOM; the
# rows arrive with the first server-sent event of /api/stream). The apps are HTTP handlers
# (`programs/http-hello/`), created through the API and scaled to zero, as a dense daemon holds
# them. No peer: neither Docker nor wasmtime ships a browser dashboard to race.
#
# Env: SKIFF (binary), APPS (1000), LOADS (15 page loads; the first is a warm-up, not counted),
#      OUT (benches/results/dashboard.md).
# Exit: 0 done, 1 error, 2 a prerequisite binary is missing.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR
source "$HERE/lib.sh" # log, die, need, machine_info, build_program, start_daemon, report, ...
SKIFF=${SKIFF:-$REPO/target/release/skiff}
APPS=${APPS:-1000}
LOADS=${LOADS:-15}
OUT=${OUT:-$HERE/results/dashboard.md}

[[ -x $SKIFF && $(help_of daemon) == *--admin* ]] || missing_skiff "with the dashboard (\`--admin\`)"
need chromium chromium
need chromedriver chromium-driver
need curl curl

WORK=$(mktemp -d)
on_exit_cleanup "$WORK"
machine_info ram
build_program http-hello wasm32-wasip2

ADMIN_PORT=$(free_port)
start_daemon "$WORK/root" --gateway 127.0.0.1:0 --admin "127.0.0.1:$ADMIN_PORT"
DRIVER_PORT=$(free_port)
chromedriver --port="$DRIVER_PORT" >"$WORK/chromedriver.log" 2>&1 &
SERVER_PID=$!
wait_up chromedriver "$SERVER_PID" "$WORK/chromedriver.log" 100 \
    curl -sf "http://127.0.0.1:$DRIVER_PORT/status"

log "creating $APPS apps, then timing $LOADS loads of the dashboard"
BROWSER="$(chromium --version 2>/dev/null | head -n1)"
report "$SOCK" "$WASM" "$APPS" "$LOADS" "$ADMIN_PORT" "$DRIVER_PORT" "$SKIFF ($("$SKIFF" --version))" "$MACHINE" "$OUT" "$BROWSER" <<'PY'
import http.client, json, socket, statistics, sys, time, urllib.request

sock, wasm, apps, loads, admin_port, driver_port, skiff, machine, out, browser = sys.argv[1:]
apps, loads = int(apps), int(loads)

class Unix(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(sock)

def api(method, path, body=None):
    conn = Unix("skiff")
    conn.request(method, path, json.dumps(body) if body is not None else None,
                 {"content-type": "application/json"})
    response = conn.getresponse()
    data = response.read()
    if response.status >= 300:
        sys.exit(f"{method} {path}: {response.status} {data[:300]!r}")
    return json.loads(data) if data else None

for i in range(apps):
    api("POST", "/apps", {"name": f"app-{i:04}", "source": wasm, "args": None,
                          "grants": {"env": [], "dirs": [], "network": "none"},
                          "limits": {"memory": None, "cpu_time": None, "timeout": None},
                          "restart": {"policy": "no"}})
info = api("GET", "/info")
url, token = info["dashboard"], info["admin_token"]

def wd(method, path, body=None):
    request = urllib.request.Request(f"http://127.0.0.1:{driver_port}{path}", method=method,
                                     data=json.dumps(body or {}).encode() if method == "POST" else None,
                                     headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.load(response)["value"]

session = wd("POST", "/session", {"capabilities": {"alwaysMatch": {"goog:chromeOptions": {
    "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--window-size=1280,900"]}}}})["sessionId"]
base = f"/session/{session}"
try:
    wd("POST", f"{base}/url", {"url": f"{url}?token={token}"})
    times = []
    for load in range(loads):
        wd("POST", f"{base}/url", {"url": url})
        deadline = time.time() + 60
        while True:
            mark = wd("POST", f"{base}/execute/sync", {"script": """
                const m = performance.getEntriesByName('skiff-apps-rendered')[0];
                return m ? [m.startTime, document.querySelectorAll('#apps tbody tr[data-app]').length,
                            document.getElementById('count').textContent] : null;""", "args": []})
            if mark:
                break
            if time.time() > deadline:
                sys.exit("the list never rendered")
            time.sleep(0.02)
        if load:
            times.append(mark[0])
    rows, count = mark[1], mark[2]
finally:
    wd("DELETE", base)

times.sort()
p99 = times[max(0, -(-99 * len(times) // 100) - 1)]
lines = [
    "# Dashboard: time to first render of the apps list",
    "",
    machine,
    f"Skiff: {skiff}; {browser}",
    "",
    "| apps | loads | median ms | p99 ms | min ms | rows on the first page | list says |",
    "| ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    f"| {apps} | {len(times)} | {statistics.median(times):.0f} | {p99:.0f} | {times[0]:.0f} | {rows} | {count} |",
]
finish(lines, out)
PY
