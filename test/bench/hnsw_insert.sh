#!/bin/bash
# test/bench/hnsw_insert.sh: insert throughput into an hnsw-indexed table.
#
# Against a database loaded by load_fmnist.sh (ann or pgvector): copies the
# first INSERT_BASE (20000) training vectors into a scratch table, indexes
# it (m = 16, ef_construction = 64), then runs pgbench for INSERT_SECONDS
# (10) with INSERT_CLIENTS (1 2) clients, each transaction inserting one
# fashion-mnist test vector.  Prints inserts per second; the scratch table
# is dropped at the end.  INSERT_OPTIONS adds reloptions (for example
# "quantization = none").
set -euo pipefail

BASE=${INSERT_BASE:-20000}
SECONDS_PER_RUN=${INSERT_SECONDS:-10}
CLIENTS=${INSERT_CLIENTS:-1 2}
OPTIONS=${INSERT_OPTIONS:+, $INSERT_OPTIONS}
BENCH=$(cd "$(dirname "$0")" && pwd)
psql_q() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }

psql_q <<SQL
SET client_min_messages = warning;
DROP TABLE IF EXISTS fmnist_insert;
CREATE TABLE fmnist_insert (id bigserial PRIMARY KEY, label int, embedding vector(784));
INSERT INTO fmnist_insert (label, embedding) SELECT label, embedding FROM fmnist_train WHERE id <= $BASE;
SET maintenance_work_mem = '1GB';
CREATE INDEX ON fmnist_insert USING hnsw (embedding vector_l2_ops) WITH (m = 16, ef_construction = 64$OPTIONS);
SQL

echo "| clients | inserts/s |"
echo "|---:|---:|"
for c in $CLIENTS; do
	tps=$(pgbench -n -M prepared -f "$BENCH/hnsw_insert.sql" -c "$c" -j "$c" -T "$SECONDS_PER_RUN" 2>&1 |
		sed -n 's/^tps = \([0-9.]*\) .*/\1/p')
	echo "| $c | ${tps:-failed} |"
done
psql_q -c "DROP TABLE fmnist_insert"
