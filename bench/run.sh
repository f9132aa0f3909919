#!/usr/bin/env bash
# The benchmark suite in one command: bash bench/run.sh [S0|S1|all]   (default S0)
#   S0  — 200k events, a quick run (~3 min)
#   S1q — S1/4: 1.3M events (~9 min)
#   S1  — 5.2M events: one big tenant + 200 small ones (the target scale; ~27 min)
#   all — S0, S1/4 and S1, for the cost-growth table
# Installs what it needs (wrk and redis-server from Debian, the `bench` extra from PyPI),
# runs on private servers (Tansu, two private Redis servers; MariaDB at 127.0.0.1:3306 as
# root for the legacy baseline; DuckDB in-process as the embedded-engine peer), and writes
# bench/results/<scale>.json and BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
target="${1:-S0}"
case "$target" in S0|S1|S1q|all) ;; *) echo "usage: bash bench/run.sh [S0|S1q|S1|all]" >&2; exit 2;; esac

missing=""
command -v wrk >/dev/null || missing="$missing wrk"
# the projection's private store: a real Redis (jemalloc), as in production
command -v redis-server >/dev/null || missing="$missing redis-server"
if [ -n "$missing" ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q -e '.[bench]'
if ! .venv/bin/python - <<'PY'
import pymysql
pymysql.connect(host="127.0.0.1", port=3306, user="root", password="").close()
PY
then
  echo "MariaDB is not reachable at 127.0.0.1:3306 as root: the legacy baseline needs it" >&2
  exit 2
fi

run() {
  case "$1" in
    # S0 stays near 5 minutes: 2 projector runs, one pass of 1,000 requests per class, then
    # 200 per class interleaved with DuckDB (and MariaDB within its budget)
    # DuckDB: requests per class interleaved with custstats (issue 14 measured 1,500 at S1q)
    S0)  .venv/bin/python -m bench.suite S0 --repeats 2 --legacy-per-class 50 --legacy-budget 5 \
           --duckdb-per-class 200 ;;
    S1q) .venv/bin/python -m bench.suite S1q --repeats 1 --legacy-per-class 50 --legacy-budget 30 \
           --duckdb-per-class 1500 ;;
    S1)  .venv/bin/python -m bench.suite S1 --repeats 1 --legacy-per-class 30 --legacy-budget 60 \
           --duckdb-per-class 1000 --rebuild-timeout 900 ;;
  esac
}
if [ "$target" = all ]; then
  for scale in S0 S1q S1; do run "$scale"; done
else
  run "$target"
fi
.venv/bin/python -m bench.report
