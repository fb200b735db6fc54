#!/bin/bash
# test/bench/spann_bench.sh: SPANN (or pgvector IVFFlat) build time, size,
# recall and QPS on Fashion-MNIST or the clustered set, L2.
#
#   spann_bench.sh [MODE...]     MODE: build (the default), double
#
# Runs against the database that PGHOST, PGPORT, PGDATABASE and PGUSER name,
# loaded by load_fmnist.sh (or, with BENCH_DATA=clustered, by
# load_clustered.sh: tables clustered_base, clustered_queries and
# clustered_truth instead of fmnist_train, fmnist_test, fmnist_truth_l2).
# Each mode builds one index on one table, first dropping every other hnsw,
# spann or ivfflat index on that table (the planner would pick the cheapest):
#
#   build    builds on BENCH_TABLE (fmnist_train or clustered_base; another
#            name is created as a copy of that table), all rows;
#   double   copies the first half of the rows (by id) into <table>_double,
#            builds there, then INSERTs the other half (timed) and queries
#            the index that this doubling left.
#
# For BENCH_AM=spann (ann) the index is built WITH (lists, epsilon,
# replicas, code_bits) and the build is followed by spann_index_stats(); for each
# spann.probes in BENCH_PROBES it prints
# recall@10 over all test queries (one SQL statement, a LATERAL index scan
# per query, so its time per query is the server's latency), and pgbench
# QPS (spann_l2.sql) with one client.  BENCH_AM=ivfflat (pgvector) builds
# WITH (lists) and sweeps ivfflat.probes instead.
#
# Environment (defaults): BENCH_DATA (fmnist; or clustered), BENCH_AM
# (spann), BENCH_TABLE (the data's base table), BENCH_LISTS (0: spann's
# default 4 * sqrt(rows); ivfflat 245), BENCH_EPSILON (0.1),
# BENCH_REPLICAS (8), BENCH_CODE_BITS (1, spann's default), BENCH_PROBES
# ("1 2 4 8 16 32"),
# BENCH_GROUP_PROBES (16: spann.group_probes),
# BENCH_SECONDS (10, pgbench -T), BENCH_RUNS (1; times and QPS are the best
# of this many runs), BENCH_MWM (2GB), BENCH_PROTOCOL (prepared, pgbench
# -M), BENCH_BUILD (1; 0 queries the index an earlier build mode left),
# BENCH_WORKERS (0: max_parallel_maintenance_workers of the builds; spann
# uses them on a table of at least min_parallel_table_scan_size).
set -euo pipefail

case ${BENCH_DATA:-fmnist} in
	fmnist) BASE=fmnist_train QUERIES=fmnist_test TRUTH=fmnist_truth_l2 DIM=784 ;;
	clustered) BASE=clustered_base QUERIES=clustered_queries TRUTH=clustered_truth DIM=128 ;;
	*) echo "spann_bench: unknown BENCH_DATA \"$BENCH_DATA\"" >&2; exit 1 ;;
esac
AM=${BENCH_AM:-spann}
TABLE=${BENCH_TABLE:-$BASE}
EPSILON=${BENCH_EPSILON:-0.1}
REPLICAS=${BENCH_REPLICAS:-8}
CODE_BITS=${BENCH_CODE_BITS:-1}
PROBES=${BENCH_PROBES:-1 2 4 8 16 32}
GROUP_PROBES=${BENCH_GROUP_PROBES:-16}
SECONDS_PER_RUN=${BENCH_SECONDS:-10}
RUNS=${BENCH_RUNS:-1}
MWM=${BENCH_MWM:-2GB}
WORKERS=${BENCH_WORKERS:-0}
PROTOCOL=${BENCH_PROTOCOL:-prepared}
BUILD=${BENCH_BUILD:-1}
BENCH=$(cd "$(dirname "$0")" && pwd)
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
export PATH="$($PG_CONFIG --bindir):$PATH"
MODES=("$@")
[ ${#MODES[@]} -eq 0 ] && MODES=(build)
case $AM in
	spann) LISTS=${BENCH_LISTS:-0}
		WITH="lists = $LISTS, epsilon = $EPSILON, replicas = $REPLICAS, code_bits = $CODE_BITS" ;;
	ivfflat) LISTS=${BENCH_LISTS:-245} WITH="lists = $LISTS" ;;
	*) echo "spann_bench: unknown BENCH_AM \"$AM\" (spann or ivfflat)" >&2; exit 1 ;;
esac

TMP=$(mktemp -d /tmp/spann_bench.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

psql_q() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }
psql_value() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
fail() { echo "spann_bench: $*" >&2; exit 1; }

# The GUCs of probes $1, as SET commands
gucs() {
	if [ "$AM" = spann ]; then
		echo "SET spann.probes = $1; SET spann.group_probes = $GROUP_PROBES;"
	else
		echo "SET ivfflat.probes = $1;"
	fi
}

# Drop the ANN indexes on $TABLE, then (in SQL $1, if any) refill it
prepare_table() {
	psql_q -c "SET client_min_messages = warning" -c "${1:-SELECT}" >/dev/null
	psql_value -c "SELECT string_agg(format('DROP INDEX %s;', i.indexrelid::regclass), ' ')
		FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam
		WHERE i.indrelid = '$TABLE'::regclass AND a.amname IN ('hnsw', 'spann', 'ivfflat')" |
		psql_q -c "SET client_min_messages = warning" -f - -c "CHECKPOINT"
}

# Build $INDEX on $TABLE; sets BUILD_SECONDS
build_index() {
	psql_q >"$TMP/build.out" 2>&1 <<SQL || { cat "$TMP/build.out" >&2; fail "index build failed"; }
SET maintenance_work_mem = '$MWM';
SET max_parallel_maintenance_workers = $WORKERS;
\timing on
CREATE INDEX $INDEX ON $TABLE USING $AM (embedding vector_l2_ops) WITH ($WITH);
SQL
	BUILD_SECONDS=$(awk '/^Time: / { t = $2 } END { printf "%.1f", t / 1000 }' "$TMP/build.out")
}

# Size, size / raw vector bytes and (spann) the index statistics
describe_index() {
	local rows bytes
	rows=$(psql_value -c "SELECT count(*) FROM $TABLE")
	bytes=$(psql_value -c "SELECT pg_relation_size('$INDEX')")
	echo "| $INDEX | $rows rows | $((bytes / 1048576)) MB | $(awk -v b="$bytes" -v r="$rows" -v d="$DIM" \
		'BEGIN { printf "%.2f", b / (r * d * 4) }') x raw |"
	[ "$AM" = spann ] || return 0
	echo
	echo "| lists | groups | entries | mean replicas | list_limit | splits | merges |"
	echo "|---:|---:|---:|---:|---:|---:|---:|"
	psql_value -F ' | ' -c "SELECT lists, groups, entries, round(entries::numeric / $rows, 2),
		list_limit, splits, merges FROM spann_index_stats('$INDEX')" | sed 's/^/| /; s/$/ |/'
}

# recall@10 at probes $1 over all test queries, and the
# statement's time per query in ms, the best of RUNS runs: "recall | ms"
recall_at() {
	local run
	for run in $(seq "$RUNS"); do
		psql_value -c "$(gucs "$1")" -c "SET max_parallel_workers_per_gather = 0" \
			-c '\timing on' -c "$RECALL_SQL"
	done | awk -v n="$NQUERIES" -v name=spann_bench -f "$BENCH/recall.awk"
}

# pgbench QPS with one client at probes $1: the best of RUNS
qps_at() {
	local run opts
	opts=$(gucs "$1" | sed 's/SET \([^ ]*\) = \([^;]*\);/-c \1=\2/g')
	for run in $(seq "$RUNS"); do
		PGOPTIONS="${PGOPTIONS:-} $opts" pgbench -n -M "$PROTOCOL" -f "$TMP/query.sql" \
			-D nqueries="$NQUERIES" -T "$SECONDS_PER_RUN" >"$TMP/pgbench.out" 2>&1 ||
			{ cat "$TMP/pgbench.out" >&2; fail "pgbench failed"; }
		awk '/^tps = / { print $3 }' "$TMP/pgbench.out"
	done | sort -g | tail -1 | awk '{ printf "%.0f", $1 }'
}

NQUERIES=$(psql_value -c "SELECT count(*) FROM $QUERIES")
[ "$NQUERIES" -gt 0 ] || fail "$QUERIES is empty: run load_fmnist.sh or load_clustered.sh first"
echo "# $AM benchmark: $BASE L2, database ${PGDATABASE:-(default)}," \
	"$(psql_value -c "SELECT string_agg(extname || ' ' || extversion, ', ')
		FROM pg_extension WHERE extname IN ('ann', 'vector')")"
echo
echo "$(nproc) cores; WITH ($WITH), maintenance_work_mem = $MWM;" \
	"best of $RUNS run(s); pgbench -M $PROTOCOL -T $SECONDS_PER_RUN, 1 client."

BASE_TABLE=$TABLE
for mode in "${MODES[@]}"; do
	TABLE=$BASE_TABLE SETUP=
	case $mode in
		build) [ "$TABLE" = "$BASE" ] ||
				SETUP="CREATE TABLE IF NOT EXISTS $TABLE AS SELECT id, embedding FROM $BASE" ;;
		double) TABLE=${BASE}_double
			HALF=$(psql_value -c "SELECT max(id) / 2 FROM $BASE")
			SETUP="DROP TABLE IF EXISTS $TABLE;
				CREATE TABLE $TABLE AS SELECT id, embedding FROM $BASE WHERE id <= $HALF" ;;
		*) fail "unknown mode \"$mode\" (build or double)" ;;
	esac
	INDEX=${TABLE}_${AM}
	sed "s/fmnist_train/$TABLE/; s/fmnist_test/$QUERIES/" "$BENCH/spann_l2.sql" >"$TMP/query.sql"
	RECALL_SQL="SELECT round(count(t.id) / (10.0 * $NQUERIES), 4), count(*)
		FROM $QUERIES q
		CROSS JOIN LATERAL (SELECT id FROM $TABLE
			ORDER BY embedding <-> q.embedding LIMIT 10) n
		LEFT JOIN $TRUTH t ON t.qid = q.id AND t.rank <= 10 AND t.id = n.id"

	echo
	echo "## $mode: $TABLE"
	echo
	if [ "$BUILD" != 0 ]; then
		echo "building $INDEX ..." >&2
		prepare_table "${SETUP:-}"
		build_index
		echo "build: $BUILD_SECONDS s"
		if [ "$mode" = double ]; then
			psql_q -c '\timing on' -c "INSERT INTO $TABLE
				SELECT id, embedding FROM $BASE WHERE id > $HALF" >"$TMP/insert.out"
			echo "insert of the other half: $(awk '/^Time: / { printf "%.1f", $2 / 1000 }' \
				"$TMP/insert.out") s"
			psql_q -c "VACUUM ANALYZE $TABLE"
		fi
		echo
	fi
	echo "| index | rows | size | size / raw vectors |"
	echo "|---|---:|---:|---:|"
	describe_index

	psql_value -c "EXPLAIN (COSTS OFF) $RECALL_SQL" >"$TMP/plan.out"
	grep -q "Index Scan using $INDEX" "$TMP/plan.out" ||
		{ cat "$TMP/plan.out" >&2; fail "the plan does not use $INDEX"; }

	echo
	echo "| probes | recall@10 | ms/query in SQL | QPS 1 client |"
	echo "|---:|---:|---:|---:|"
	for p in $PROBES; do
		echo "measuring probes = $p ..." >&2
		echo "| $p | $(recall_at "$p") | $(qps_at "$p") |"
	done
done
