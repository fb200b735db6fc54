#!/bin/bash
# test/bench/sparse_bench.sh: build time, size, recall, latency and QPS of
# an hnsw index on sparsevec rows, in a database with ann or pgvector.
#
#   sparse_bench.sh [EF_SEARCH...]        (default 10 20 40 80 200)
#
# Runs against the database that PGHOST, PGPORT, PGDATABASE and PGUSER
# name.  The first run fills it (the same rows with either extension):
#
#   - sparse_base: BENCH_ROWS (default 100,000) rows shaped like learned
#     sparse text embeddings (SPLADE): 30,000 dimensions; each row has 20
#     to 99 positive weights (0.01 to 3), three in four on the 300
#     dimensions of its topic (one of 100), the rest anywhere;
#   - sparse_queries: 200 rows made the same way from other seeds;
#   - sparse_truth: their exact top 10 (index scans off) under the metric.
#
# Then it builds USING hnsw (sparse BENCH_OPCLASS) WITH (m = 16,
# ef_construction = 64), BENCH_WORKERS parallel workers, prints build
# time and size, and for each ef_search the recall@10 of all queries
# against sparse_truth and one client's QPS and p50 / p99 latency (pgbench
# -T BENCH_SECONDS, a random query per transaction).  BENCH_OPCLASS is
# sparsevec_ip_ops (default; operator <#>), sparsevec_cosine_ops (<=>) or
# sparsevec_l2_ops (<->); the truth is computed per operator.  Parallel
# query and JIT are off, so one client uses one core.  Prints markdown.
set -euo pipefail

EF_SEARCHES=("$@")
[ ${#EF_SEARCHES[@]} -gt 0 ] || EF_SEARCHES=(10 20 40 80 200)
ROWS=${BENCH_ROWS:-100000}
SECONDS_PER_RUN=${BENCH_SECONDS:-10}
WORKERS=${BENCH_WORKERS:-2}
OPCLASS=${BENCH_OPCLASS:-sparsevec_ip_ops}
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
export PATH="$($PG_CONFIG --bindir):$PATH"
export PGOPTIONS="${PGOPTIONS:-} -c max_parallel_workers_per_gather=0 -c jit=off"

case $OPCLASS in
	sparsevec_ip_ops) OP='<#>' ;;
	sparsevec_cosine_ops) OP='<=>' ;;
	sparsevec_l2_ops) OP='<->' ;;
	*) echo "sparse_bench: unknown opclass $OPCLASS" >&2; exit 1 ;;
esac

TMP=$(mktemp -d /tmp/sparse_bench.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
psql_q() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }
psql_value() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }

# Row n of seed s: a deterministic SPLADE-like sparsevec(30000)
load_rows() {
	psql_q <<SQL
CREATE OR REPLACE FUNCTION sparse_bench_uniform(n bigint, k int) RETURNS float8
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN ((hashint8extended(n * 1024 + k, 7) & 1048575) + 0.5) / 1048576;
CREATE OR REPLACE FUNCTION sparse_bench_row(n bigint) RETURNS sparsevec
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN (SELECT ('{' || string_agg(pos || ':' || w, ',') || '}/30000')::sparsevec
	FROM (SELECT DISTINCT ON (pos) pos, w FROM (
		SELECT 1 + CASE WHEN k % 4 = 0 THEN floor(sparse_bench_uniform(n, k) * 30000)::int
			ELSE (floor(sparse_bench_uniform(n, 0) * 100)::int * 300 +
				  floor(sparse_bench_uniform(n, k) * 300)::int) END AS pos,
			round((0.01 + 2.99 * sparse_bench_uniform(n, k + 512) ^ 3)::numeric, 3) AS w
		FROM generate_series(1, 20 + floor(sparse_bench_uniform(n, 1023) * 80)::int) k) e) d);
CREATE TABLE IF NOT EXISTS sparse_base (id int PRIMARY KEY, sparse sparsevec(30000));
CREATE TABLE IF NOT EXISTS sparse_queries (id int PRIMARY KEY, sparse sparsevec(30000));
INSERT INTO sparse_base SELECT n, sparse_bench_row(n) FROM generate_series(1, $ROWS) n
	WHERE NOT EXISTS (SELECT FROM sparse_base LIMIT 1);
INSERT INTO sparse_queries SELECT n, sparse_bench_row(1000000000 + n) FROM generate_series(1, 200) n
	WHERE NOT EXISTS (SELECT FROM sparse_queries LIMIT 1);
CREATE TABLE IF NOT EXISTS sparse_truth (op text, qid int, rank int, id int);
VACUUM ANALYZE sparse_base;
SQL
	if [ "$(psql_value -c "SELECT count(*) FROM sparse_truth WHERE op = '$OP'")" = 0 ]; then
		psql_q -c "SET enable_indexscan = off" -c "INSERT INTO sparse_truth
			SELECT '$OP', q.id, n.rank, n.id FROM sparse_queries q CROSS JOIN LATERAL
				(SELECT id, row_number() OVER (ORDER BY sparse $OP q.sparse, id) AS rank
				 FROM sparse_base ORDER BY sparse $OP q.sparse, id LIMIT 10) n"
	fi
}

build() {
	psql_q -c "DROP INDEX IF EXISTS sparse_base_hnsw"
	local start end
	start=$(date +%s.%N)
	psql_q -c "SET max_parallel_maintenance_workers = $WORKERS" -c "SET maintenance_work_mem = '2GB'" \
		-c "CREATE INDEX sparse_base_hnsw ON sparse_base USING hnsw (sparse $OPCLASS) WITH (m = 16, ef_construction = 64)"
	end=$(date +%s.%N)
	BUILD_SECONDS=$(echo "$end - $start" | bc)
	SIZE=$(psql_value -c "SELECT pg_size_pretty(pg_relation_size('sparse_base_hnsw'))")
}

recall() {
	psql_value -c "SET hnsw.ef_search = $1" -c "SELECT round(count(t.id) / 2000.0, 4)
		FROM sparse_queries q CROSS JOIN LATERAL (SELECT id FROM sparse_base
			ORDER BY sparse $OP q.sparse LIMIT 10) n
		LEFT JOIN sparse_truth t ON t.op = '$OP' AND t.qid = q.id AND t.rank <= 10 AND t.id = n.id" | tail -1
}

# one client for BENCH_SECONDS: "QPS p50_ms p99_ms"
speed() {
	cat >"$TMP/query.sql" <<SQL
\\set qid random(1, 200)
SELECT id FROM sparse_base ORDER BY sparse $OP (SELECT sparse FROM sparse_queries WHERE id = :qid) LIMIT 10;
SQL
	rm -f "$TMP"/pgbench_log.*
	(cd "$TMP" && PGOPTIONS="$PGOPTIONS -c hnsw.ef_search=$1" \
		pgbench -n -c 1 -T "$SECONDS_PER_RUN" -f query.sql -l >"$TMP/pgbench.out" 2>&1)
	local qps
	qps=$(awk '/^tps/ { printf "%.0f", $3 }' "$TMP/pgbench.out")
	cat "$TMP"/pgbench_log.* | awk '{ print $3 / 1000.0 }' | sort -n |
		awk -v qps="$qps" '{ l[NR] = $1 } END { printf "%s %.2f %.2f\n", qps, l[int(NR * 0.5)], l[int(NR * 0.99)] }'
}

load_rows
EXT=$(psql_value -c "SELECT extname || ' ' || extversion FROM pg_extension WHERE extname IN ('ann', 'vector')")
NNZ=$(psql_value -c "SELECT round(avg(length(sparse::text) - length(replace(sparse::text, ':', ''))), 1)
	FROM sparse_base")
build
echo "## hnsw on sparsevec ($EXT, $OPCLASS, $ROWS rows, 30,000 dims, $NNZ non-zero on average)"
echo
printf 'build %.1f s with %s workers, index %s\n' "$BUILD_SECONDS" "$WORKERS" "$SIZE"
echo
echo "| ef_search | recall@10 | QPS | p50 ms | p99 ms |"
echo "| --- | --- | --- | --- | --- |"
for ef in "${EF_SEARCHES[@]}"; do
	read -r qps p50 p99 < <(speed "$ef")
	echo "| $ef | $(recall "$ef") | $qps | $p50 | $p99 |"
done
