#!/usr/bin/env bash
# Spin apps' databases: what a request of a Spin component costs when it opens a connection and
# runs one statement, on each database Spin gives a component, in one run on one machine, routes
# interleaved (A B C, A B C, ...). The component is the Spin SDK 5 test guest
# (crates/test-programs/spin), served by `skiff serve spin.toml`:
#   sqlite    GET /x/sql: its app's SQLite database, in Skiff's process (a row inserted, counted)
#   postgres  POST /pg4/query `SELECT 1`: a local PostgreSQL server (SCRAM password)
#   mysql     POST /mysql/query `SELECT 1`: a local MariaDB server (password)
# Each request is a fresh instance that opens its connection, as Spin components do: Skiff's pool
# of each app's connections (docs/spin.md) is what the two network databases' figures measure.
# No peer: Spin itself is not installable here, so the figures are Skiff's routes side by side
# (the network databases against SQLite's, in the same rounds). The server on core 0
# (`taskset -c 0`), `wrk -t1 -c$CONNS -d${DURATION}s --latency` on core 1, the database servers
# unpinned. Medians over the rounds.
#
# Env: SKIFF (binary), ROUNDS (3), DURATION (5 s), WARMUP (1 s), CONNS (4),
#      OUT (benches/results/spin-databases.md).
# Exit: 0 done, 1 error, 2 a prerequisite binary is missing. Run as root (PostgreSQL's and
# MariaDB's servers then run as their own users).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR
source "$HERE/lib.sh"
SKIFF=${SKIFF:-$REPO/target/release/skiff}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
CONNS=${CONNS:-4}
OUT=${OUT:-$HERE/results/spin-databases.md}

[[ -x $SKIFF ]] && "$SKIFF" serve --help >/dev/null 2>&1 || missing_skiff "with \`skiff serve\`"
[[ $(id -u) == 0 ]] || die "run as root (the database servers run as their own users)"
need wrk wrk
need taskset util-linux
need curl curl
need mariadbd mariadb-server
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need psql postgresql
PG_BIN=$(find /usr/lib/postgresql -maxdepth 2 -name bin -type d | sort -V | tail -n 1)
[[ -x $PG_BIN/postgres ]] || die "no PostgreSQL server under /usr/lib/postgresql"
machine_info

WORK=$(mktemp -d)
chmod 755 "$WORK"
on_exit_cleanup "$WORK"
DB_PIDS=()
stop_databases() { local pid; for pid in "${DB_PIDS[@]}"; do stop_pid "$pid"; done; }
trap 'stop_databases; cleanup' EXIT

log "building the Spin SDK 5 test component"
cargo build --release --target wasm32-wasip2 --lib -q \
    --manifest-path "$REPO/crates/test-programs/spin/Cargo.toml" --target-dir "$WORK/target"
cp "$WORK/target/wasm32-wasip2/release/spin_sdk_http.wasm" "$WORK/app.wasm"

PASSWORD=s3cret
log "starting PostgreSQL ($PG_BIN)"
mkdir -p "$WORK/pg"
echo "$PASSWORD" >"$WORK/pg/password"
chown -R postgres:postgres "$WORK/pg"
runuser -u postgres -- "$PG_BIN/initdb" -D "$WORK/pg/data" -U postgres --auth-local=trust \
    --auth-host=scram-sha-256 --pwfile="$WORK/pg/password" --no-sync >/dev/null
PG_PORT=$(free_port)
runuser -u postgres -- "$PG_BIN/postgres" -D "$WORK/pg/data" -p "$PG_PORT" -k "$WORK/pg" \
    -c listen_addresses=127.0.0.1 -c fsync=off >"$WORK/pg.log" 2>&1 &
DB_PIDS+=($!)
wait_up PostgreSQL "${DB_PIDS[-1]}" "$WORK/pg.log" 300 bash -c "exec 3<>/dev/tcp/127.0.0.1/$PG_PORT"

log "starting MariaDB"
mkdir -p "$WORK/my"
cat >"$WORK/my/init.sql" <<SQL
CREATE USER IF NOT EXISTS 'spin'@'%' IDENTIFIED BY '$PASSWORD';
GRANT ALL PRIVILEGES ON *.* TO 'spin'@'%';
CREATE DATABASE IF NOT EXISTS app;
SQL
chown -R mysql:mysql "$WORK/my"
mariadb-install-db --no-defaults --datadir="$WORK/my/data" --user=mysql \
    --auth-root-authentication-method=normal --skip-test-db >"$WORK/my-install.log" 2>&1
MY_PORT=$(free_port)
mariadbd --no-defaults --datadir="$WORK/my/data" --socket="$WORK/my/socket" --port="$MY_PORT" \
    --bind-address=127.0.0.1 --user=mysql --init-file="$WORK/my/init.sql" --skip-log-bin \
    --innodb-flush-log-at-trx-commit=0 >"$WORK/my.log" 2>&1 &
DB_PIDS+=($!)
wait_up MariaDB "${DB_PIDS[-1]}" "$WORK/my.log" 300 bash -c "exec 3<>/dev/tcp/127.0.0.1/$MY_PORT"

cat >"$WORK/spin.toml" <<TOML
spin_manifest_version = 2
[application]
name = "databases"
version = "1.0.0"
[[trigger.http]]
route = "/..."
component = "app"
[component.app]
source = "app.wasm"
allowed_outbound_hosts = ["postgres://127.0.0.1:$PG_PORT", "mysql://127.0.0.1:$MY_PORT"]
sqlite_databases = ["default"]
key_value_stores = ["default"]
[component.app.variables]
pg_address = "postgres://postgres:$PASSWORD@127.0.0.1:$PG_PORT/postgres"
mysql_address = "mysql://spin:$PASSWORD@127.0.0.1:$MY_PORT/app"
TOML
printf 'wrk.method = "POST"\nwrk.body = "SELECT 1"\n' >"$WORK/post.lua"

ADDR=127.0.0.1:$(free_port)
log "skiff serve on $ADDR (core 0)"
SKIFF_ROOT=$WORK/root taskset -c 0 "$SKIFF" serve --listen "$ADDR" --network image \
    "$WORK/spin.toml" >"$WORK/serve.log" 2>&1 &
SERVER_PID=$!
wait_up "skiff serve" "$SERVER_PID" "$WORK/serve.log" 1200 curl -sf --max-time 5 "http://$ADDR/x/sql"

declare -A URL=([sqlite]="http://$ADDR/x/sql" [postgres]="http://$ADDR/pg4/query"
    [mysql]="http://$ADDR/mysql/query")
declare -A SCRIPT=([sqlite]="" [postgres]="$WORK/post.lua" [mysql]="$WORK/post.lua")
ROUTES=(sqlite postgres mysql)
for route in postgres mysql; do
    answer=$(curl -s --max-time 10 -d 'SELECT 1' "${URL[$route]}")
    [[ $answer == "rows=1" ]] || die "$route answered '$answer', expected 'rows=1' (see $WORK/serve.log)"
done

: >"$WORK/runs.jsonl"
for ((r = 1; r <= ROUNDS; r++)); do
    for route in "${ROUTES[@]}"; do
        log "round $r/$ROUNDS: $route"
        script=()
        [[ -n ${SCRIPT[$route]} ]] && script=(-s "${SCRIPT[$route]}")
        taskset -c 1 wrk -t1 -c"$CONNS" -d"${WARMUP}s" "${script[@]}" "${URL[$route]}" >/dev/null
        taskset -c 1 wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency --timeout 10s "${script[@]}" \
            "${URL[$route]}" >"$WORK/wrk.$route.$r.txt"
        printf '{"route": "%s", "round": %d, "wrk": "%s"}\n' "$route" "$r" \
            "$WORK/wrk.$route.$r.txt" >>"$WORK/runs.jsonl"
    done
done
# How many connections the servers held at the end: the pool's, bounded.
PG_CONNS=$(PGPASSWORD=$PASSWORD psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -Atc \
    "SELECT count(*) - 1 FROM pg_stat_activity WHERE backend_type = 'client backend'" 2>/dev/null || echo "?")
MY_CONNS=$(mariadb -h 127.0.0.1 -P "$MY_PORT" -u spin -p"$PASSWORD" -N -e \
    "SELECT count(*) - 1 FROM information_schema.processlist WHERE user = 'spin'" 2>/dev/null || echo "?")

report "$WORK/runs.jsonl" "$MACHINE" "$OUT" "$ROUNDS" "$DURATION" "$WARMUP" "$CONNS" \
    "$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)" "$PG_CONNS" "$MY_CONNS" \
    "$("$PG_BIN/postgres" --version)" "$(mariadbd --version)" <<'PY'
import json, statistics

runs_file, machine, out, rounds, duration, warmup, conns, commit, pg_conns, my_conns, pg, my = sys.argv[1:13]
runs = []
for line in open(runs_file):
    run = json.loads(line)
    run.update(parse_wrk(run["wrk"]))
    runs.append(run)
med = statistics.median
lines = ["# Spin apps' databases: a connection and a statement per request", "", machine, "",
         f"`benches/spin-databases.sh` at commit {commit}: the Spin SDK 5 test component "
         f"(crates/test-programs/spin) under `skiff serve spin.toml` on core 0, `wrk -t1 -c{conns} "
         f"-d{duration}s --latency` on core 1 after a {warmup} s warm-up, {rounds} interleaved rounds; "
         f"each request a fresh instance that opens its connection. Servers: {pg.strip()}; "
         f"{my.strip()}. No peer (Spin is not installable here): SQLite's route, in Skiff's "
         "process, is the yardstick. Medians (per-round range).",
         "", "| route | requests/s | vs sqlite | p50 | p99 | errors |",
         "| --- | ---: | ---: | ---: | ---: | ---: |"]
M = {}
for route in dict.fromkeys(r["route"] for r in runs):
    mine = [r for r in runs if r["route"] == route]
    M[route] = {k: med([r[k] for r in mine]) for k in ("rps", "p50", "p99")}
for route, m in M.items():
    mine = [r for r in runs if r["route"] == route]
    lo, hi = min(r["rps"] for r in mine), max(r["rps"] for r in mine)
    lines.append(f"| {route} | {m['rps']:,.0f} ({lo:,.0f}–{hi:,.0f}) | {m['rps'] / M['sqlite']['rps']:.2f}x | "
                 f"{m['p50']:.2f} ms | {m['p99']:.2f} ms | {sum(r['non2xx'] + r['sock_err'] for r in mine)} |")
lines += ["", f"Connections the servers held after the runs (the apps' pools): PostgreSQL {pg_conns}, "
          f"MySQL {my_conns} (at most 16 idle per app and database, each for 60 s)."]
finish(lines, out)
PY
