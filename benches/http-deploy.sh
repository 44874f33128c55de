#!/usr/bin/env bash
# HTTP deploy benchmark: the time from starting a deploy until the first successful HTTP response
# of the deployed hello handler (`programs/http-hello/`: 200, text/plain, `hello from skiff\n`), in
# one run on one machine, peers interleaved per round (skiff, skiff-api, docker, skiff, ...):
#   skiff      `SKIFF_HOST=unix://SOCK skiff run -d --name NAME -p PORT http-hello.wasm` against a
#              running `skiff daemon` (wasm32-wasip2 component served on its own loopback port)
#   skiff-api  the same deploy as one `POST /apps` on the daemon's socket from the measuring
#              process (`"http": {"ports": ["PORT"]}`): the daemon's own pace, without the CLI's
#              process start
#   docker-api the same container through the Engine API from the measuring process, as the
#              CLI does it (`POST /containers/create` then `POST /containers/ID/start` on
#              dockerd's socket), so neither side's CLI process start-up is in the time
#   docker     `docker run -d --name NAME -p 127.0.0.1:PORT:8080` of a FROM scratch image holding
#              the same handler as a static native hyper server (dockerd of this script's own)
# Skiff's compile cache is warmed first (the same wasm deployed once, answered, then `skiff rm -f`),
# and Docker's image is local; every measured deploy has a fresh name and a fresh port. One Python
# process starts each deploy (the command, or the API request) and, once the command has returned
# (POLL_FROM=return, the default) or at once (POLL_FROM=start), polls 127.0.0.1:PORT with `GET /`
# every POLL_MS (1 ms) until it answers 200 with the expected body; the clock runs from the start
# of the deploy. The app is removed (`skiff rm -f` / `docker rm -f`, not timed) before the next.
# Why not poll from the start by default: docker-proxy listens before the container's network is
# up, so an early probe makes it connect to an address with no neighbour yet; the failed ARP then
# holds every later connection about 1 s (seen here: 1070 ms to first response polling from the
# start, 270 ms polling after `docker run -d` returned). The same rule applies to every peer.
#
# Docker networking: `-p` needs a bridge and docker-proxy. The script creates its own Linux bridge
# (skbNNNNN, a free 172.31.X.0/24 inside this machine) and starts dockerd with `--bridge=THAT
# --iptables=false` (no host firewall changes; the userland docker-proxy publishes the loopback
# port). If that bridge cannot be made, or a published port does not answer, it falls back to
# `--network host` with the server listening on 127.0.0.1:PORT, and says so in the table.
#
# Env: SKIFF (binary), PEERS ("skiff skiff-api docker docker-api"), ROUNDS (3), DEPLOYS (10 per peer per
#      round), POLL_MS (1), POLL_FROM (return | start), TIMEOUT (30 s for one deploy to answer),
#      SETTLE_MS (100 ms after each removal), DOCKER_NET (auto | publish | host),
#      OUT (benches/results/http-deploy.md),
#      STRICT=1 to exit 1 when a goal is missed.
# Exit: 0 done, 1 error (or missed goal with STRICT=1), 2 a prerequisite binary is missing.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR
source "$HERE/lib.sh" # log, die, need, machine_info, build_program, start_dockerd, report, ...
SKIFF=${SKIFF:-$REPO/target/release/skiff}
PEERS=${PEERS:-skiff skiff-api docker docker-api}
ROUNDS=${ROUNDS:-5}
DEPLOYS=${DEPLOYS:-10}
POLL_MS=${POLL_MS:-1}
POLL_FROM=${POLL_FROM:-return}
TIMEOUT=${TIMEOUT:-30}
SETTLE_MS=${SETTLE_MS:-100}
DOCKER_NET=${DOCKER_NET:-auto}
OUT=${OUT:-$HERE/results/http-deploy.md}
STRICT=${STRICT:-0}
IMAGE=skiff-bench-http-hello:latest

check_peers "skiff skiff-api docker docker-api"
case $DOCKER_NET in auto | publish | host) ;; *) die "DOCKER_NET must be auto, publish or host" ;; esac
case $POLL_FROM in return | start) ;; *) die "POLL_FROM must be return or start" ;; esac
WANT_SKIFF=0
if has_peer skiff || has_peer skiff-api; then WANT_SKIFF=1; fi
WANT_DOCKER=0
if has_peer docker || has_peer docker-api; then WANT_DOCKER=1; fi

# --- prerequisites that this script will not build itself -------------------------------------
if ((WANT_SKIFF)) && [[ ! -x $SKIFF || $(help_of daemon) != *--gateway* || $(help_of run) != *--publish* ]]; then
    missing_skiff "with HTTP apps (\`skiff daemon --gateway\`, \`skiff run -d -p PORT\`)" \
        "(or run Docker alone: PEERS=docker $0)"
fi
if ((WANT_DOCKER)); then
    need dockerd docker.io
    need docker docker.io
    need ip iproute2
    [[ $(id -u) == 0 ]] || die "run as root (own dockerd and bridge), or PEERS without docker"
fi
need curl curl
need python3 python3
machine_info

# --- temp dirs, the daemon, dockerd, the bridge, and their cleanup -----------------------------
WORK=$(mktemp -d)
on_exit_cleanup "$WORK"

# --- the hello handler: wasm32-wasip2 component and static native server ----------------------
build_program http-hello wasm32-wasip2 static
plain_paths "used inside JSON" "$WASM"

# --- skiff daemon ---------------------------------------------------------------------------------
SOCK=
if ((WANT_SKIFF)); then
    mkdir -p "$WORK/skiff"
    GATEWAY=127.0.0.1:$(free_port)
    METRICS=127.0.0.1:$(free_port)
    log "starting skiff daemon (root $WORK/skiff, gateway $GATEWAY, metrics $METRICS)"
    start_daemon "$WORK/skiff" --gateway "$GATEWAY" --metrics "$METRICS"
fi

# --- Docker engine of our own, with its own bridge (or host networking) -----------------------
NET_MODE=-
NET_WHY=
if ((WANT_DOCKER)); then
    dockerd_bridge=none
    NET_MODE=host
    NET_WHY="DOCKER_NET=host"
    if [[ $DOCKER_NET != host ]]; then
        # A bridge of our own (not docker0: another engine may own that), on a /24 no route uses.
        BRIDGE=skb$(($$ % 100000))
        subnet=
        for x in $(seq 200 254); do
            ip -4 route show | grep -q "^172\.31\.$x\." && continue
            ip -4 addr show | grep -q "inet 172\.31\.$x\." && continue
            subnet=$x
            break
        done
        if [[ -n $subnet ]] && ip link add "$BRIDGE" type bridge 2>"$WORK/bridge.err" &&
            ip addr add "172.31.$subnet.1/24" dev "$BRIDGE" 2>>"$WORK/bridge.err" &&
            ip link set "$BRIDGE" up 2>>"$WORK/bridge.err"; then
            dockerd_bridge=$BRIDGE
            NET_MODE=publish
        else
            log "could not make a bridge ($(head -c 200 "$WORK/bridge.err" 2>/dev/null)): using --network host"
            NET_WHY="no bridge could be made here"
            ip link del "$BRIDGE" 2>/dev/null || true
            BRIDGE=
            [[ $DOCKER_NET == publish ]] && die "DOCKER_NET=publish but no bridge could be made"
        fi
    fi
    # --iptables=false (start_dockerd): leave the host's firewall alone; docker-proxy (userland)
    # publishes ports.
    start_dockerd --bridge="$dockerd_bridge" --ip-masq=false
    build_scratch_image "$IMAGE" '["0.0.0.0:8080"]'
    # Does a published port answer here? If not, fall back to host networking.
    if [[ $NET_MODE == publish ]]; then
        port=$(free_port)
        ok=0
        if docker run -d --name probe -p "127.0.0.1:$port:8080" "$IMAGE" >/dev/null 2>"$WORK/probe.err"; then
            for ((i = 0; i < 100; i++)); do
                if [[ $(curl -s --max-time 1 "http://127.0.0.1:$port/" 2>/dev/null) == 'hello from skiff' ]]; then
                    ok=1
                    break
                fi
                sleep 0.1
            done
        fi
        docker rm -f probe >/dev/null 2>&1 || true
        if ((!ok)); then
            [[ $DOCKER_NET == publish ]] && die "docker run -p 127.0.0.1:$port:8080 did not answer: $(head -c 300 "$WORK/probe.err")"
            log "docker run -p did not answer here ($(head -c 200 "$WORK/probe.err")): using --network host"
            NET_MODE=host
            NET_WHY="\`docker run -p\` port publishing did not answer here"
        fi
    fi
fi

# --- the measuring process ------------------------------------------------------------------------
cat >"$WORK/deploy.py" <<'PY'
# Deploys, times and removes; one JSON line per measured deploy on stdout.
import http.client, json, os, socket, subprocess, sys, threading, time

cfg = json.loads(sys.argv[1])
EXPECTED = b"hello from skiff\n"
POLL = cfg["poll_ms"] / 1000.0
env = dict(os.environ)
if cfg["sock"]:
    env["SKIFF_HOST"] = "unix://" + cfg["sock"]

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port

def get_once(port):  # True when GET / answers 200 with the expected body
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
    except OSError:
        return False
    head, _, body = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        return False
    if b"transfer-encoding: chunked" in head.lower():  # one chunk is all the handler sends
        body = b"".join(body.split(b"\r\n")[1::2])
    return body == EXPECTED

class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path, host="skiff"):
        super().__init__(host, timeout=120)
        self.unix_path = path
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(120)
        self.sock.connect(self.unix_path)

def api(method, path, body=None, sock=None, host="skiff"):
    conn = UnixConnection(sock or cfg["sock"], host)
    try:
        conn.request(method, path, body=body, headers={"content-type": "application/json"} if body else {})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()

def create_body(name, port):
    return json.dumps({
        "name": name, "source": cfg["wasm"], "args": None,
        "grants": {"env": [], "dirs": [], "network": "none"}, "network": None,
        "limits": {"memory": None, "cpu_time": None, "timeout": None},
        "restart": {"policy": "no"},
        "http": {"ports": [str(port)], "routes": []},
    }).encode()

def docker_create_body(port):  # what `docker run -d` sends for this script's two network modes
    if cfg["net"] == "publish":
        return json.dumps({"Image": cfg["image"], "ExposedPorts": {"8080/tcp": {}},
                           "HostConfig": {"PortBindings": {"8080/tcp": [
                               {"HostIp": "127.0.0.1", "HostPort": str(port)}]}}}).encode()
    return json.dumps({"Image": cfg["image"], "Cmd": [f"127.0.0.1:{port}"],
                       "HostConfig": {"NetworkMode": "host"}}).encode()

def docker_api_run(name, port):  # -> (rc, err): create, then start, as `docker run -d` does
    sock = cfg["docker_sock"]
    st, data = api("POST", f"/containers/create?name={name}", docker_create_body(port), sock, "docker")
    if st != 201:
        return st, data[:300].decode(errors="replace")
    cid = json.loads(data)["Id"]
    st, data = api("POST", f"/containers/{cid}/start", None, sock, "docker")
    return (0, "") if st == 204 else (st, data[:300].decode(errors="replace"))

def start(peer, name, port):  # -> (wait() -> (rc, err text), t_returned holder)
    if peer in ("skiff-api", "docker-api"):
        result = {}
        def post():
            try:
                if peer == "docker-api":
                    result["rc"], result["err"] = docker_api_run(name, port)
                else:
                    st, data = api("POST", "/apps", create_body(name, port))
                    result["rc"], result["err"] = (0, "") if st == 201 else (st, data[:300].decode(errors="replace"))
            except Exception as e:
                result["rc"], result["err"] = 1, f"{type(e).__name__}: {e}"
            result["t"] = time.perf_counter()
        th = threading.Thread(target=post)
        th.start()
        def wait():
            th.join()
            return result["rc"], result["err"], result["t"]
        return wait
    if peer == "skiff":
        cmd = [cfg["skiff"], "run", "-d", "--name", name, "-p", str(port), cfg["wasm"]]
    elif cfg["net"] == "publish":
        cmd = ["docker", "run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:8080", cfg["image"]]
    else:
        cmd = ["docker", "run", "-d", "--name", name, "--network", "host", cfg["image"], f"127.0.0.1:{port}"]
    proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    box = {}
    def reap():  # the command's exit time, while the main thread polls
        err = proc.stderr.read()
        proc.wait()
        box["t"] = time.perf_counter()
        box["rc"], box["err"] = proc.returncode, err[:300].decode(errors="replace")
    th = threading.Thread(target=reap)
    th.start()
    def wait():
        th.join()
        return box["rc"], box["err"], box["t"]
    return wait

def remove(peer, name):
    if peer.startswith("docker"):
        subprocess.run(["docker", "rm", "-f", name], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    else:
        subprocess.run([cfg["skiff"], "rm", "-f", name], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

def deploy(peer, name):
    port = free_port()
    t0 = time.perf_counter()
    wait = start(peer, name, port)
    polls, first = 0, None
    if cfg["poll_from"] == "return":
        rc, err, t_ret = wait()
    deadline = t0 + cfg["timeout"]
    while time.perf_counter() < deadline:
        polls += 1
        if get_once(port):
            first = time.perf_counter()
            break
        time.sleep(POLL)
    if cfg["poll_from"] != "return":
        rc, err, t_ret = wait()
    remove(peer, name)
    time.sleep(cfg["settle_ms"] / 1000.0)
    ok = first is not None and rc == 0
    return {"ok": ok, "first_ms": (first - t0) * 1000 if first else None,
            "returned_ms": (t_ret - t0) * 1000, "polls": polls, "rc": rc,
            "err": "" if ok else (err.strip() or ("no answer within %ss" % cfg["timeout"]))}

seq = 0
for peer in cfg["peers"]:  # warm-up: compile cache, image, daemon paths; not recorded
    seq += 1
    r = deploy(peer, f"warm-{seq}")
    if not r["ok"]:
        sys.exit(f"{peer}: warm-up deploy failed: rc={r['rc']} {r['err']}")
    print(f"[http-deploy] warm-up {peer}: {r['first_ms']:.1f} ms", file=sys.stderr, flush=True)
for rnd in range(1, cfg["rounds"] + 1):
    for peer in cfg["peers"]:
        xs = []
        for i in range(cfg["deploys"]):
            seq += 1
            r = deploy(peer, f"d{seq}")
            r.update(peer=peer, round=rnd, i=i)
            print(json.dumps(r), flush=True)
            if r["ok"]:
                xs.append(r["first_ms"])
            else:
                print(f"[http-deploy]   {peer} deploy failed: rc={r['rc']} {r['err']}", file=sys.stderr, flush=True)
        xs.sort()
        med = xs[len(xs) // 2] if xs else float("nan")
        print(f"[http-deploy] round {rnd}/{cfg['rounds']}: {peer}: {len(xs)}/{cfg['deploys']} ok, "
              f"median {med:.1f} ms to first response", file=sys.stderr, flush=True)
PY

read -r -a peer_list <<<"$PEERS"
CFG=$(python3 -c 'import json, sys; a = sys.argv
print(json.dumps({"peers": a[1].split(), "rounds": int(a[2]), "deploys": int(a[3]), "poll_ms": float(a[4]),
    "timeout": float(a[5]), "settle_ms": float(a[6]), "skiff": a[7], "wasm": a[8], "sock": a[9],
    "image": a[10], "net": a[11], "poll_from": a[12], "docker_sock": a[13]}))' "${peer_list[*]}" "$ROUNDS" \
    "$DEPLOYS" "$POLL_MS" "$TIMEOUT" "$SETTLE_MS" "$SKIFF" "$WASM" "$SOCK" "$IMAGE" "$NET_MODE" "$POLL_FROM" \
    "${DOCKER_HOST#unix://}")
log "measuring: $ROUNDS rounds x $DEPLOYS deploys per peer ($PEERS); docker networking: $NET_MODE"
python3 "$WORK/deploy.py" "$CFG" >"$WORK/runs.jsonl" || {
    [[ -n $DAEMON_PID ]] && { log "the daemon's log ends:"; tail -n 20 "$DAEMON_ROOT.log" >&2 || true; }
    die "deploy measurement failed"
}

# --- report ------------------------------------------------------------------------------------
report "$WORK/runs.jsonl" "$MACHINE" "$OUT" "$ROUNDS" "$DEPLOYS" "$POLL_MS" "$NET_MODE" "$POLL_FROM" \
    "$NET_WHY" <<'PY'
import json, statistics, sys

runs_file, machine, out, rounds, deploys, poll_ms, net, poll_from, net_why = sys.argv[1:10]
runs = [json.loads(l) for l in open(runs_file) if l.strip()]
peers = [p for p in ("skiff", "skiff-api", "docker", "docker-api") if any(r["peer"] == p for r in runs)]
med = statistics.median

desc = {
    "skiff": "`skiff run -d --name N -p PORT http-hello.wasm`",
    "skiff-api": "`POST /apps` on the daemon's socket, `\"http\": {\"ports\": [\"PORT\"]}`",
    "docker": ("`docker run -d --name N -p 127.0.0.1:PORT:8080` (scratch image, static hyper)" if net == "publish"
               else "`docker run -d --name N --network host IMAGE 127.0.0.1:PORT` (scratch image, static hyper)"),
    "docker-api": "the same container through the Engine API from the measuring process: "
                  "`POST /containers/create`, `POST /containers/ID/start`",
}
S = {}
lines = [
    "# HTTP deploy: deploy command to first response",
    "",
    machine,
    "",
    "The hello handler (`benches/programs/http-hello`) deployed as a wasm32-wasip2 component on a running "
    "`skiff daemon` (its own loopback port, compile cache warmed by one deploy + `skiff rm -f` first) and as "
    "a static native hyper server in a `FROM scratch` image (dockerd of the script's own, image local, one "
    "warm-up container first). Time from starting the deploy (the command, or the API request) until "
    f"`GET /` on 127.0.0.1:PORT first answers 200 with the body, polled every {poll_ms} ms from the same "
    "process " + ("once the deploy command (or API call) had returned (polling docker-proxy before the "
    "container's network is up costs Docker about 1 s of ARP retry)" if poll_from == "return" else
    "from the moment the deploy started, concurrently with it") +
    "; \"returned\" is when the deploy command (or API call) finished. Every deploy has a fresh name "
    f"and port and is removed (not timed) before the next. {rounds} rounds interleaving the peers "
    f"({', '.join(peers)}), {deploys} deploys per peer per round; p99 is nearest-rank (the max below 100 "
    "samples).",
]
if any(p.startswith("docker") for p in peers) and net != "publish":
    lines += ["", f"**Docker used `--network host`** (the server listening on 127.0.0.1:PORT; {net_why}): "
              "Docker's time has no bridge, veth or docker-proxy set-up in it."]
lines += [
    "",
    "| peer | deploy | ok | median ms | p99 ms | min ms | max ms | returned, median ms | vs skiff |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
]
for p in peers:
    rs = [r for r in runs if r["peer"] == p]
    ok = [r for r in rs if r["ok"]]
    xs = sorted(r["first_ms"] for r in ok)
    if not xs:
        lines.append(f"| {p} | {desc[p]} | 0/{len(rs)} | | | | | | |")
        continue
    S[p] = med(xs)
    ret = med([r["returned_ms"] for r in ok])
    cmp = "-"
    if p == "docker-api" and "skiff-api" in S:  # API against API
        cmp = f"{p}/skiff-api = {S[p] / S['skiff-api']:.1f}x"
    elif p != "skiff" and "skiff" in S:
        cmp = f"{p}/skiff = {S[p] / S['skiff']:.1f}x"
    lines.append(f"| {p} | {desc[p]} | {len(xs)}/{len(rs)} | {S[p]:.1f} | {p99(xs):.1f} | {xs[0]:.1f} | {xs[-1]:.1f} "
                 f"| {ret:.1f} | {cmp} |")
failed = [r for r in runs if not r["ok"]]
if failed:
    lines += ["", "Failed deploys (not in the statistics):", ""]
    lines += [f"- {r['peer']} round {r['round']} #{r['i']}: rc={r['rc']} {r['err']}" for r in failed[:20]]
goals = []
if "skiff" in S:
    goals.append(("skiff deploy to first response < 10 ms (`skiff run -d -p`)", S["skiff"] < 10, f"{S['skiff']:.1f} ms"))
    if "docker" in S:
        goals.append(("skiff >= 50x faster than docker", S["docker"] / S["skiff"] >= 50, f"{S['docker'] / S['skiff']:.0f}x"))
elif any(p.startswith("skiff") for p in peers):
    goals.append(("skiff deploys answered", False, "no successful skiff deploy"))
if "skiff-api" in S:
    lines += ["", f"Without the CLI process (API): {S['skiff-api']:.1f} ms"
              + (f", docker/skiff-api = {S['docker'] / S['skiff-api']:.0f}x" if "docker" in S else "")
              + (f", docker-api/skiff-api = {S['docker-api'] / S['skiff-api']:.0f}x (both through their API "
                 "from one client)" if "docker-api" in S else "") + "."]
    if "docker-api" in S:
        goals.append(("skiff >= 50x faster than docker, both through their API from one client",
                      S["docker-api"] / S["skiff-api"] >= 50, f"{S['docker-api'] / S['skiff-api']:.0f}x"))
if not goals:
    lines += ["", "skiff was not run (PEERS): no goals checked."]
finish(lines, out, goals)
PY
