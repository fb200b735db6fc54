#!/bin/bash
# test/bench/dims_bench.sh: build time, size, recall, latency and QPS of
# hnsw, spann or ivfflat indexes on the synthetic clustered vectors of
# load_clustered.sh, at any dimension (issue: indexes past 2,000
# dimensions), beside the exact sequential scan.
#
#   dims_bench.sh AM [SETTING...]
#
# AM is hnsw, spann (ann only) or ivfflat (pgvector).  Each SETTING is the
# value of the AM's search knob: hnsw.ef_search, spann.probes or
# ivfflat.probes (defaults: 10 20 40 80 200 for hnsw, 4 8 16 32 64 for
# the others).  Runs against the database that PGHOST, PGPORT, PGDATABASE
# and PGUSER name, filled by load_clustered.sh (clustered_base,
# clustered_queries, clustered_truth) with either extension, or by
# load_scale.sh (scale_base, ...; BENCH_DATA=scale).  The script
#
#   - drops the vector indexes on clustered_base and builds one USING AM
#     (opclass BENCH_OPCLASS, default vector_l2_ops; hnsw WITH (m = 16,
#     ef_construction = 64); spann at its defaults; ivfflat WITH (lists =
#     BENCH_LISTS, default rows / 1000)), with BENCH_WORKERS parallel
#     workers, and prints its build time and size;
#   - for each setting: recall@10 of all queries against clustered_truth
#     (one statement, a LATERAL index scan per query), then pgbench with
#     BENCH_CLIENTS clients (a random query, ORDER BY embedding <-> q
#     LIMIT 10) for QPS and the p50 / p99 latency of its transactions
#     (pgbench -l);
#   - measures the exact search's QPS and latency the same way, with
#     index scans off (its recall is 1 by definition).
#
# A CHECKPOINT before the measurements keeps the build's dirty pages from
# being written by a timed checkpoint in the middle of them.
#
# Parallel query and JIT are off throughout, so one client uses one core.
# Environment (defaults): BENCH_SECONDS (10, pgbench -T), BENCH_CLIENTS (1,
# pgbench -c and -j), BENCH_WORKERS (2,
# max_parallel_maintenance_workers), BENCH_MWM (2GB, maintenance_work_mem),
# BENCH_OPCLASS (vector_l2_ops; its operator must be <->), BENCH_HNSW_OPTIONS
# (more hnsw reloptions, as "quantization = rabitq"), BENCH_SPANN_OPTIONS
# (spann reloptions, as "code_bits = 1"), BENCH_LISTS,
# BENCH_EXACT (1; 0 skips the exact search), BENCH_BUILD (1; 0 measures the
# index an earlier run left), BENCH_DATA (clustered; the tables' prefix).
# Prints markdown.
set -euo pipefail

AM=${1:?usage: dims_bench.sh hnsw|spann|ivfflat [SETTING...]}
shift
SETTINGS=("$@")
SECONDS_PER_RUN=${BENCH_SECONDS:-10}
CLIENTS=${BENCH_CLIENTS:-1}
WORKERS=${BENCH_WORKERS:-2}
MWM=${BENCH_MWM:-2GB}
OPCLASS=${BENCH_OPCLASS:-vector_l2_ops}
EXACT=${BENCH_EXACT:-1}
DATA=${BENCH_DATA:-clustered}
BUILD=${BENCH_BUILD:-1}
BENCH=$(cd "$(dirname "$0")" && pwd)
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
export PATH="$($PG_CONFIG --bindir):$PATH"
export PGOPTIONS="${PGOPTIONS:-} -c max_parallel_workers_per_gather=0 -c jit=off"

TMP=$(mktemp -d /tmp/dims_bench.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

psql_q() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }
psql_value() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
fail() { echo "dims_bench: $*" >&2; exit 1; }

NQUERIES=$(psql_value -c "SELECT count(*) FROM ${DATA}_queries")
ROWS=$(psql_value -c "SELECT count(*) FROM ${DATA}_base")
DIM=$(psql_value -c "SELECT vector_dims(embedding) FROM ${DATA}_base LIMIT 1")
[ "$NQUERIES" -gt 0 ] || fail "${DATA}_queries is empty: run load_clustered.sh first"

case $AM in
	hnsw) KNOB=hnsw.ef_search WITH="WITH (m = 16, ef_construction = 64${BENCH_HNSW_OPTIONS:+, $BENCH_HNSW_OPTIONS})"
		[ ${#SETTINGS[@]} -gt 0 ] || SETTINGS=(10 20 40 80 200) ;;
	spann) KNOB=spann.probes WITH="${BENCH_SPANN_OPTIONS:+WITH ($BENCH_SPANN_OPTIONS)}"
		[ ${#SETTINGS[@]} -gt 0 ] || SETTINGS=(4 8 16 32 64) ;;
	ivfflat) KNOB=ivfflat.probes WITH="WITH (lists = ${BENCH_LISTS:-$((ROWS / 1000))})"
		[ ${#SETTINGS[@]} -gt 0 ] || SETTINGS=(4 8 16 32 64) ;;
	*) fail "unknown AM \"$AM\" (hnsw, spann or ivfflat)" ;;
esac
INDEX=${DATA}_base_$AM

RECALL_SQL="SELECT round(count(t.id) / (10.0 * $NQUERIES), 4), count(*)
	FROM ${DATA}_queries q
	CROSS JOIN LATERAL (SELECT id FROM ${DATA}_base
		ORDER BY embedding <-> q.embedding LIMIT 10) n
	LEFT JOIN ${DATA}_truth t ON t.qid = q.id AND t.rank <= 10 AND t.id = n.id"
cat >"$TMP/query.sql" <<SQL
\\set qid random(1, :nqueries)
SELECT id FROM ${DATA}_base
ORDER BY embedding <-> (SELECT embedding FROM ${DATA}_queries WHERE id = :qid) LIMIT 10;
SQL

build_index() {
	psql_q -c "SET client_min_messages = warning" -At -c "SELECT string_agg(format('DROP INDEX %s;', i.indexrelid::regclass), ' ')
		FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam
		WHERE i.indrelid = '${DATA}_base'::regclass AND a.amname IN ('hnsw', 'spann', 'ivfflat')" |
		psql_q -c "SET client_min_messages = warning" -f - -c "CHECKPOINT"
	psql_q -c "ALTER TABLE ${DATA}_base SET (parallel_workers = $WORKERS)"
	psql_q >"$TMP/build.out" 2>&1 <<SQL || { cat "$TMP/build.out" >&2; fail "index build failed"; }
SET maintenance_work_mem = '$MWM';
SET max_parallel_maintenance_workers = $WORKERS;
\timing on
CREATE INDEX $INDEX ON ${DATA}_base USING $AM (embedding $OPCLASS) $WITH;
SQL
	echo "build: $(awk '/^Time: / { t = $2 } END { printf "%.1f", t / 1000 }' "$TMP/build.out") s" \
		"($WORKERS parallel workers, maintenance_work_mem $MWM)"
}

# "recall | ms per query in one statement" under the SET commands $1
recall_with() {
	psql_value -c "$1" -c '\timing on' -c "$RECALL_SQL" |
		awk -v n="$NQUERIES" -v name=dims_bench -f "$BENCH/recall.awk"
}

# "QPS | p50 ms | p99 ms" of CLIENTS pgbench clients under the options $1
pgbench_with() {
	rm -f "$TMP"/log.*
	(cd "$TMP" && PGOPTIONS="$PGOPTIONS $1" pgbench -n -M prepared -f query.sql -c "$CLIENTS" -j "$CLIENTS" \
		-D nqueries="$NQUERIES" -T "$SECONDS_PER_RUN" -l --log-prefix=log >pgbench.out 2>&1) ||
		{ cat "$TMP/pgbench.out" >&2; fail "pgbench failed"; }
	qps=$(awk '/^tps = / { printf "%.0f", $3 }' "$TMP/pgbench.out")
	cat "$TMP"/log.* | awk '{ print $3 / 1000 }' | sort -g | awk -v qps="$qps" '
		{ t[NR] = $1 }
		END { printf "%s | %.3f | %.3f", qps, t[int(NR * 0.5) + 1], t[int(NR * 0.99) + 1] }'
}

echo "# $AM on ${DATA}_base: $ROWS vectors of $DIM dimensions, $NQUERIES queries, L2"
echo
echo "$(psql_value -c "SELECT string_agg(extname || ' ' || extversion, ', ')
	FROM pg_extension WHERE extname IN ('ann', 'vector')"); $(nproc) cores," \
	"$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'); pgbench -T $SECONDS_PER_RUN, $CLIENTS client(s)."
echo
[ "$BUILD" = 0 ] || build_index
# the build's dirty pages written now, not by a checkpoint during the runs
psql_q -c "CHECKPOINT"
echo "size: $(psql_value -c "SELECT pg_size_pretty(pg_relation_size('$INDEX'))")" \
	"(raw vectors: $(psql_value -c "SELECT pg_size_pretty($ROWS::bigint * $DIM * 4)"))"
psql_value -c "SET $KNOB = ${SETTINGS[0]}" -c "EXPLAIN (COSTS OFF) $RECALL_SQL" >"$TMP/plan.out"
grep -q "Index Scan using $INDEX" "$TMP/plan.out" ||
	{ cat "$TMP/plan.out" >&2; fail "the plan does not use $INDEX"; }
echo
echo "| search | recall@10 | ms/query in SQL | QPS | p50 ms | p99 ms |"
echo "|---|---:|---:|---:|---:|---:|"
for s in "${SETTINGS[@]}"; do
	echo "measuring $KNOB = $s ..." >&2
	echo "| $AM, $KNOB = $s | $(recall_with "SET $KNOB = $s") | $(pgbench_with "-c $KNOB=$s") |"
done
if [ "$EXACT" != 0 ]; then
	echo "measuring the exact search ..." >&2
	echo "| exact (sequential scan) | 1 | - | $(pgbench_with "-c enable_indexscan=off") |"
fi
