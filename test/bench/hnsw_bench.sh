#!/bin/bash
# test/bench/hnsw_bench.sh: HNSW build time, size, recall and QPS on Fashion-MNIST.
#
#   hnsw_bench.sh [METRIC...]          METRIC: l2 (the default), cosine, halfvec
#
# Runs against the database that PGHOST, PGPORT, PGDATABASE and PGUSER name,
# loaded by load_fmnist.sh with either extension (ann or pgvector's vector):
# the script only uses the SQL surface the two share.  For each metric
# (opclass vector_l2_ops or vector_cosine_ops on the column, or
# halfvec_l2_ops on the expression embedding::halfvec(784)) it
#
#   - builds the index USING hnsw ... WITH (m = 16, ef_construction = 64)
#     once per entry of BENCH_WORKERS (max_parallel_maintenance_workers;
#     for a parallel build the table's parallel_workers storage parameter is
#     set too, as pgvector asks for it), timing each build and measuring its
#     size; the last build is the one queried;
#   - for each hnsw.ef_search in BENCH_EF, measures recall@10 of all test
#     queries against the exact neighbours (one SQL statement, a LATERAL
#     index scan per query; its time per query is the server's latency
#     without any client round trip), then QPS with pgbench
#     (hnsw_<metric>.sql: a random test query, ORDER BY ... LIMIT 10) for
#     each client count, with the median and 99th percentile latency of
#     its transactions (pgbench -l) in the best run.
#
# It checks with EXPLAIN that both queries use the index, and prints
# markdown tables.  Each build first drops the indexes of earlier runs; the
# last one is left in place (fmnist_train_hnsw_<metric>).
#
# Environment (defaults): BENCH_EF ("10 20 40 80 200 400"), BENCH_WORKERS
# ("0 2"), BENCH_CLIENTS ("1 2"), BENCH_SECONDS (10, pgbench -T),
# BENCH_RUNS (1; the times and QPS reported are the best of this many
# runs: on a shared machine, other work only ever slows a run down),
# BENCH_M (16), BENCH_EFC (64), BENCH_OPTIONS (more reloptions, such as
# "quantization = none"; empty), BENCH_MWM (2GB, maintenance_work_mem),
# BENCH_PROTOCOL (prepared, pgbench -M), BENCH_BUILD (1; 0 skips the
# builds and queries the index that an earlier run left).
set -euo pipefail

EF_LIST=${BENCH_EF:-10 20 40 80 200 400}
WORKERS=${BENCH_WORKERS:-0 2}
CLIENTS=${BENCH_CLIENTS:-1 2}
SECONDS_PER_RUN=${BENCH_SECONDS:-10}
RUNS=${BENCH_RUNS:-1}
M=${BENCH_M:-16}
EFC=${BENCH_EFC:-64}
MWM=${BENCH_MWM:-2GB}
PROTOCOL=${BENCH_PROTOCOL:-prepared}
BUILD=${BENCH_BUILD:-1}
OPTIONS=${BENCH_OPTIONS:+, $BENCH_OPTIONS}
BENCH=$(cd "$(dirname "$0")" && pwd)
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
export PATH="$($PG_CONFIG --bindir):$PATH"
METRICS=("$@")
[ ${#METRICS[@]} -eq 0 ] && METRICS=(l2)

TMP=$(mktemp -d /tmp/hnsw_bench.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

psql_q() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }
psql_value() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
fail() { echo "hnsw_bench: $*" >&2; exit 1; }

# The SQL of metric $1: opclass, operator and truth table
set_metric() {
	case $1 in
		l2) OPCLASS=vector_l2_ops OP='<->' TRUTH=fmnist_truth_l2 CAST= ;;
		cosine) OPCLASS=vector_cosine_ops OP='<=>' TRUTH=fmnist_truth_cos CAST= ;;
		halfvec) OPCLASS=halfvec_l2_ops OP='<->' TRUTH=fmnist_truth_l2 CAST='::halfvec(784)' ;;
		*) fail "unknown metric \"$1\" (l2, cosine or halfvec)" ;;
	esac
	INDEX=fmnist_train_hnsw_$1
	SCRIPT=$BENCH/hnsw_$1.sql
}

# Build the index with $1 parallel maintenance workers; sets BUILD_SECONDS,
# BUILD_BYTES and BUILD_NOTE (workers launched, if the server says so).
build_index() {
	local workers=$1 reloption
	if [ "$workers" -gt 0 ]; then
		reloption="ALTER TABLE fmnist_train SET (parallel_workers = $workers);"
	else
		reloption="ALTER TABLE fmnist_train RESET (parallel_workers);"
	fi
	psql_q -c "SET client_min_messages = warning" \
		-c "DROP INDEX IF EXISTS fmnist_train_hnsw_l2, fmnist_train_hnsw_cosine, fmnist_train_hnsw_halfvec" \
		-c "$reloption" -c "CHECKPOINT"
	# \timing reports the statement's round trip alone; DEBUG1 lets
	# pgvector say how many workers it launched.
	psql_q >"$TMP/build.out" 2>&1 <<SQL || { cat "$TMP/build.out" >&2; fail "index build failed"; }
SET maintenance_work_mem = '$MWM';
SET max_parallel_maintenance_workers = $workers;
SET client_min_messages = debug1;
\timing on
CREATE INDEX $INDEX ON fmnist_train USING hnsw ((embedding$CAST) $OPCLASS) WITH (m = $M, ef_construction = $EFC$OPTIONS);
SQL
	BUILD_SECONDS=$(awk '/^Time: / { t = $2 } END { printf "%.1f", t / 1000 }' "$TMP/build.out")
	BUILD_NOTE=$(sed -n 's/.*using \([0-9]*\) parallel workers.*/\1 launched/p' "$TMP/build.out" | head -1)
	grep -i 'maintenance_work_mem' "$TMP/build.out" >&2 || true
	BUILD_BYTES=$(psql_value -c "SELECT pg_relation_size('$INDEX')")
}

# Fail unless EXPLAIN of the SQL in $1 shows a scan of the index
check_plan() {
	psql_value -c "SET hnsw.ef_search = 40" -c "EXPLAIN (COSTS OFF) $1" >"$TMP/plan.out"
	grep -q "Index Scan using $INDEX" "$TMP/plan.out" ||
		{ cat "$TMP/plan.out" >&2; fail "the plan does not use $INDEX"; }
}

# recall@10 at ef_search $1 over all test queries, and the statement's
# time per query in ms, the best of RUNS runs: "recall | ms".  Warns when
# the index returned fewer than 10 rows for some query.
recall_at() {
	local run
	for run in $(seq "$RUNS"); do
		psql_value -c "SET hnsw.ef_search = $1" -c "SET max_parallel_workers_per_gather = 0" \
			-c '\timing on' -c "$RECALL_SQL"
	done | awk -v n="$NQUERIES" -v ef="$1" '
		/^Time: / { if (ms == "" || $2 < ms) ms = $2; next }
		r == "" { split($0, f, "|"); r = f[1]; rows = f[2] }
		END {
			if (rows < 10 * n)
				printf "hnsw_bench: ef_search %s: the index returned %d rows for %d queries, not %d\n",
					ef, rows, n, 10 * n > "/dev/stderr"
			printf "%s | %.3f", r, ms / n
		}'
}

# pgbench QPS at ef_search $1 with $2 clients, the best of RUNS runs, and
# that run's median and 99th percentile latency: "QPS (p50 / p99 ms)"
qps_at() {
	local run
	for run in $(seq "$RUNS"); do
		rm -f "$TMP"/log.*
		(cd "$TMP" && PGOPTIONS="${PGOPTIONS:-} -c hnsw.ef_search=$1" \
			pgbench -n -M "$PROTOCOL" -f "$SCRIPT" -D nqueries="$NQUERIES" \
			-c "$2" -j "$2" -T "$SECONDS_PER_RUN" -l --log-prefix=log >pgbench.out 2>&1) ||
			{ cat "$TMP/pgbench.out" >&2; fail "pgbench failed"; }
		printf '%s ' "$(awk '/^tps = / { print $3 }' "$TMP/pgbench.out")"
		cat "$TMP"/log.* | awk '{ print $3 / 1000 }' | sort -g | awk '
			{ t[NR] = $1 }
			END { printf "%.3f %.3f\n", t[int(NR * 0.5) + 1], t[int(NR * 0.99) + 1] }'
	done | sort -g | tail -1 | awk '{ printf "%.0f (%s / %s)", $1, $2, $3 }'
}

NQUERIES=$(psql_value -c "SELECT count(*) FROM fmnist_test")
[ "$NQUERIES" -gt 0 ] || fail "fmnist_test is empty: run load_fmnist.sh first"
EXTENSION=$(psql_value -c "SELECT string_agg(extname || ' ' || extversion, ', ')
	FROM pg_extension WHERE extname IN ('ann', 'vector')")
[ -n "$EXTENSION" ] || fail "neither ann nor vector is installed in this database"

echo "# HNSW benchmark: Fashion-MNIST, database ${PGDATABASE:-(default)}, extension $EXTENSION"
echo
echo "$(psql_value -c "SELECT current_setting('server_version')") on $(nproc) cores;" \
	"$(psql_value -c "SELECT count(*) FROM fmnist_train") vectors of 784 dims, $NQUERIES queries;" \
	"m = $M, ef_construction = $EFC, maintenance_work_mem = $MWM;" \
	"shared_buffers = $(psql_value -c "SHOW shared_buffers");" \
	"best of $RUNS run(s); pgbench -M $PROTOCOL -T $SECONDS_PER_RUN."

for metric in "${METRICS[@]}"; do
	set_metric "$metric"
	RECALL_SQL="SELECT round(count(t.id) / (10.0 * $NQUERIES), 4), count(*)
		FROM fmnist_test q
		CROSS JOIN LATERAL (SELECT id FROM fmnist_train
			ORDER BY embedding$CAST $OP q.embedding$CAST LIMIT 10) n
		LEFT JOIN $TRUTH t ON t.qid = q.id AND t.rank <= 10 AND t.id = n.id"
	[ "$(psql_value -c "SELECT count(*) FROM $TRUTH WHERE rank <= 10")" -eq $((NQUERIES * 10)) ] ||
		fail "$TRUTH needs 10 neighbours for each of the $NQUERIES queries"

	echo
	echo "## $OPCLASS"
	echo
	if [ "$BUILD" = 0 ]; then
		BUILD_BYTES=$(psql_value -c "SELECT pg_relation_size(to_regclass('$INDEX'))")
		[ -n "$BUILD_BYTES" ] || fail "BENCH_BUILD=0 but there is no index $INDEX"
		echo "existing index $INDEX: $((BUILD_BYTES / 1048576)) MB ($BUILD_BYTES bytes)"
	else
		echo "| build | workers | time (s) | index size |"
		echo "|---|---:|---:|---:|"
		for w in $WORKERS; do
			echo "building the $OPCLASS index with $w parallel workers ..." >&2
			build_index "$w"
			echo "| $([ "$w" -gt 0 ] && echo parallel || echo serial) | $w${BUILD_NOTE:+ ($BUILD_NOTE)}" \
				"| $BUILD_SECONDS | $((BUILD_BYTES / 1048576)) MB ($BUILD_BYTES bytes) |"
		done
		psql_q -c "ALTER TABLE fmnist_train RESET (parallel_workers)"
	fi

	check_plan "$RECALL_SQL"
	check_plan "$(grep -v '^[-\\]' "$SCRIPT" | sed 's/:qid/1/g')"

	echo
	printf '| ef_search | recall@10 | ms/query in SQL |'
	for c in $CLIENTS; do printf ' QPS %s client%s (p50 / p99 ms) |' "$c" "$([ "$c" -gt 1 ] && echo s)"; done
	printf '\n|---:|---:|---:|'
	for c in $CLIENTS; do printf -- '---:|'; done
	printf '\n'
	for ef in $EF_LIST; do
		echo "measuring hnsw.ef_search = $ef ..." >&2
		printf '| %s | %s |' "$ef" "$(recall_at "$ef")"
		for c in $CLIENTS; do printf ' %s |' "$(qps_at "$ef" "$c")"; done
		printf '\n'
	done
done
