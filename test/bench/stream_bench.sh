#!/bin/bash
# test/bench/stream_bench.sh: an index under a stream of inserts and
# deletes while clients query it (issue 16, "streaming at that size"):
# recall, size and query latency over time, and beside them a fresh build
# of the rows left at the end.
#
#   stream_bench.sh [AM [SETTING]]
#
# AM is spann (the default) or hnsw; SETTING is the value of its search
# knob, the same for the whole run: spann.probes (default 8) or
# hnsw.ef_search (default 80).  Runs against the database that PGHOST,
# PGPORT, PGDATABASE and PGUSER name, loaded by load_scale.sh (scale_base,
# scale_queries) with ann.  The script
#
#   - builds the index: drops every hnsw, spann or ivfflat index on
#     scale_base and creates scale_base_AM USING AM (embedding
#     vector_l2_ops) WITH (STREAM_WITH); or, with STREAM_BUILD=0, takes the
#     one AM index that scale_base has;
#   - makes the rows the run will insert, in an unlogged table stream_rows:
#     the ids after the largest in scale_base, from test/bench/scale with
#     the load's settings, so they are new rows of the same mixture
#     (SCALE_DIM is read from the table; SCALE_CLUSTERS and SCALE_SEED must
#     be the load's, which is checked on the rows the two have in common);
#   - finds the exact neighbours of the first STREAM_QUERIES queries of
#     scale_queries (see below);
#   - measures the queries' latency with no writes (STREAM_QUIET seconds);
#   - then, for STREAM_SECONDS, runs side by side:
#       * STREAM_CLIENTS pgbench clients querying: a random query of
#         scale_queries, ORDER BY embedding <-> q LIMIT 10, each
#         transaction's latency logged (pgbench -l);
#       * a writer: every STREAM_BATCH seconds one transaction inserts the
#         next new rows and deletes as many rows, the oldest (smallest ids)
#         or, with STREAM_DELETE=random, random ones, so that the table
#         keeps its size and STREAM_RATE percent of it is replaced per hour;
#       * VACUUM scale_base every STREAM_VACUUM seconds (0: never).
#         Autovacuum, off on the benchmark clusters, would not help: at 1%
#         an hour the dead rows stay far below its threshold (20% of the
#         table).  Every 300 s keeps them under 0.1% of the table at the
#         default rate, for a VACUUM pass over the whole index each time;
#       * every STREAM_SAMPLE seconds a sample: rows inserted and deleted so
#         far, VACUUMs done, recall@10 of the STREAM_QUERIES queries, index
#         and table size, and for spann spann_index_stats (lists, entries,
#         splits, merges);
#   - ends with a VACUUM and one more sample, ann_check_index(index, true)
#     (STREAM_CHECK=0 skips it), the exact neighbours checked against
#     sequential scans, the latency with no writes again, and a fresh build
#     of the same index on a copy of the final rows (table scale_fresh):
#     its build time, recall, size and latency with no writes.
#
# The exact neighbours: a sequential scan of 1M x 128 takes about 0.4 s a
# query, so 100 of them at every sample would take a core from the query
# clients.  Instead each query's STREAM_DEPTH nearest rows are found once
# by a sequential scan and the list is kept up to date: the writer adds
# every new row nearer than the query's STREAM_DEPTH-th was, in the
# transaction that inserts it, and deleted rows drop out by a join with
# scale_base (ids are never reused).  So the list holds every current row
# within that distance, and its 10 nearest current rows are the exact
# answer on the current rows.  New rows come from the mixture the deleted
# ones came from, so about STREAM_DEPTH stay current; a query left with
# fewer than 10 stops the run.  At the end, sequential scans (index scans
# off) must give the same answers.
#
# Prints markdown: the samples with the query clients' QPS, p50 and p99
# latency over each interval, then the index before, during and after the
# writes beside the fresh build, with the recall difference and the p99
# ratio.  Writes an SVG plot of recall, index size and p99 over time to
# STREAM_PLOT, and its data beside it (the same name, .csv).  Progress
# goes to stderr.  Parallel query and JIT are off throughout.
#
# Environment (defaults): STREAM_SECONDS (3600), STREAM_RATE (1, percent
# of the table per hour), STREAM_BATCH (10), STREAM_SAMPLE (120),
# STREAM_VACUUM (300), STREAM_DELETE (oldest; or random), STREAM_CLIENTS
# (2), STREAM_QUERIES (100), STREAM_DEPTH (100), STREAM_QUIET (60; 0 skips
# the measurements with no writes), STREAM_BUILD (1), STREAM_WITH (spann:
# none, its defaults; hnsw: m = 16, ef_construction = 64), STREAM_WORKERS
# (2, max_parallel_maintenance_workers), STREAM_MWM (2GB,
# maintenance_work_mem), STREAM_CHECK (1), STREAM_PLOT
# (test/bench/out/stream.svg), STREAM_KEEP (0; 1 keeps scale_fresh and the
# stream_* tables), SCALE_CLUSTERS (1000) and SCALE_SEED (42) as given to
# load_scale.sh.
set -euo pipefail

AM=${1:-spann}
SETTING=${2:-}
DURATION=${STREAM_SECONDS:-3600}
RATE=${STREAM_RATE:-1}
BATCH=${STREAM_BATCH:-10}
SAMPLE=${STREAM_SAMPLE:-120}
VACUUM_EVERY=${STREAM_VACUUM:-300}
DELETE=${STREAM_DELETE:-oldest}
CLIENTS=${STREAM_CLIENTS:-2}
NQ=${STREAM_QUERIES:-100}
DEPTH=${STREAM_DEPTH:-100}
QUIET=${STREAM_QUIET:-60}
BUILD=${STREAM_BUILD:-1}
WORKERS=${STREAM_WORKERS:-2}
MWM=${STREAM_MWM:-2GB}
CHECK=${STREAM_CHECK:-1}
KEEP=${STREAM_KEEP:-0}
CLUSTERS=${SCALE_CLUSTERS:-1000}
SEED=${SCALE_SEED:-42}
BENCH=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$BENCH/../.." && pwd)
PLOT=${STREAM_PLOT:-$BENCH/out/stream.svg}
CSV=${PLOT%.svg}.csv
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
PATH="$($PG_CONFIG --bindir):$PATH"
export PATH
export PGOPTIONS="${PGOPTIONS:-} -c max_parallel_workers_per_gather=0 -c jit=off"

psql_q() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }
psql_value() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
fail() { echo "stream_bench: $*" >&2; exit 1; }
now() { date +%s.%N; }
# calc EXPR [VAR=VALUE...]: an awk expression's value (fractions to the
# microsecond: awk's default of 6 digits would round a time in seconds
# since 1970 to the 1,000 s)
calc() {
	local expr=$1 args=(-v OFMT=%.6f -v CONVFMT=%.6f) v
	shift
	for v in "$@"; do
		args+=(-v "$v")
	done
	awk "${args[@]}" "BEGIN { print ($expr) }"
}
# sleep_until EPOCH: sleep until that time (at once if it has passed)
sleep_until() {
	local left
	left=$(calc 'e - n > 0 ? e - n : 0' e="$1" n="$(now)")
	sleep "$left"
}

case $AM in
	spann) KNOB=spann.probes SETTING=${SETTING:-8} WITH=${STREAM_WITH-} ;;
	hnsw) KNOB=hnsw.ef_search SETTING=${SETTING:-80} WITH=${STREAM_WITH-m = 16, ef_construction = 64} ;;
	*) fail "unknown AM \"$AM\" (spann or hnsw)" ;;
esac
for v in DURATION BATCH SAMPLE VACUUM_EVERY CLIENTS NQ DEPTH QUIET SETTING; do
	[[ ${!v} =~ ^[0-9]+$ ]] || fail "$v must be a whole number, not \"${!v}\""
done
[[ $RATE =~ ^[0-9]*\.?[0-9]+$ ]] || fail "STREAM_RATE must be a number, not \"$RATE\""
for v in DURATION BATCH SAMPLE CLIENTS NQ; do
	[ "${!v}" -gt 0 ] || fail "$v must be positive"
done
[ "$DEPTH" -ge 10 ] || fail "STREAM_DEPTH must be at least 10"
case $DELETE in
	oldest) DELETE_SQL="SELECT id FROM scale_base ORDER BY id LIMIT :n" ;;
	random) DELETE_SQL="SELECT DISTINCT b.id
		FROM (SELECT min(id) AS lo, max(id) AS hi FROM scale_base) m,
			LATERAL (SELECT m.lo + floor(random() * (m.hi - m.lo + 1))::int AS id
					 FROM generate_series(1, 4 * :n)) c
			JOIN scale_base b ON b.id = c.id
		LIMIT :n" ;;
	*) fail "STREAM_DELETE must be oldest or random, not \"$DELETE\"" ;;
esac
mkdir -p "$(dirname "$PLOT")"

TMP=$(mktemp -d /tmp/stream_bench.XXXXXX)
PIDS=()
cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	rm -rf "$TMP"
}
trap cleanup EXIT

# ---------------------------------------------------------------------
# The index and the data
# ---------------------------------------------------------------------

[ "$(psql_value -c "SELECT to_regclass('scale_base') IS NOT NULL AND to_regclass('scale_queries') IS NOT NULL")" = t ] ||
	fail "no scale_base or scale_queries: run load_scale.sh first"
ROWS=$(psql_value -c "SELECT count(*) FROM scale_base")
START=$(psql_value -c "SELECT coalesce(max(id), 0) FROM scale_base")
DIM=$(psql_value -c "SELECT vector_dims(embedding) FROM scale_base LIMIT 1")
NQUERIES=$(psql_value -c "SELECT count(*) FROM scale_queries")
[ "$NQUERIES" -ge "$NQ" ] || fail "STREAM_QUERIES ($NQ) must not exceed the $NQUERIES rows of scale_queries"
[ "$ROWS" -ge "$DEPTH" ] || fail "scale_base has fewer rows than STREAM_DEPTH ($DEPTH)"
TOTAL=$(calc 'int(r * rate / 100 * d / 3600)' r="$ROWS" rate="$RATE" d="$DURATION")
[ "$TOTAL" -ge 1 ] || fail "STREAM_RATE $RATE% of $ROWS rows over $DURATION s is no row at all"
[ $((START + TOTAL)) -le 2147483647 ] || fail "the new ids would pass the int range"

# the vector indexes on table $1, one "name am" a line
vector_indexes() {
	psql_value -F ' ' -c "SELECT i.indexrelid::regclass, a.amname
		FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam
		WHERE i.indrelid = '$1'::regclass AND a.amname IN ('hnsw', 'spann', 'ivfflat')"
}

# Drops the vector indexes on scale_base and builds INDEX; prints its time
build_index() {
	local drops
	drops=$(vector_indexes scale_base | awk '{ printf "DROP INDEX %s; ", $1 }')
	[ -z "$drops" ] || psql_q -c "SET client_min_messages = warning; $drops"
	psql_q -c "ALTER TABLE scale_base SET (parallel_workers = $WORKERS)"
	psql_q >"$TMP/build.out" 2>&1 <<SQL || { cat "$TMP/build.out" >&2; fail "index build failed"; }
SET maintenance_work_mem = '$MWM';
SET max_parallel_maintenance_workers = $WORKERS;
\\timing on
CREATE INDEX $INDEX ON scale_base USING $AM (embedding vector_l2_ops) ${WITH:+WITH ($WITH)};
SQL
	awk '/^Time: / { printf "%.1f", $2 / 1000 }' "$TMP/build.out"
}

# The one index of AM on scale_base, which must have no other vector index
find_index() {
	vector_indexes scale_base >"$TMP/indexes"
	[ "$(awk '{ print $2 }' "$TMP/indexes" | tr '\n' ' ')" = "$AM " ] ||
		fail "STREAM_BUILD=0 needs exactly one vector index on scale_base, of $AM; there are: $(tr '\n' ';' <"$TMP/indexes")"
	INDEX=$(awk '{ print $1 }' "$TMP/indexes")
}

if [ "$BUILD" != 0 ]; then
	INDEX=scale_base_$AM
	echo "building $INDEX ..." >&2
	BUILD_TIME="built in $(build_index) s"
else
	find_index
	BUILD_TIME="an index the database had"
fi
# the CREATE INDEX of the fresh build: the same definition on scale_fresh
FRESH_DDL=$(psql_value -c "SELECT regexp_replace(pg_get_indexdef('$INDEX'::regclass),
	'^CREATE INDEX \S+ ON \S+ ', 'CREATE INDEX scale_fresh_idx ON scale_fresh ')")

# the rows to insert: the last part of the generator's stream ending at
# START + TOTAL that holds all the new ids (about TOTAL to 2 TOTAL rows)
echo "making $TOTAL new rows ..." >&2
make -s -C "$ROOT" PG_CONFIG="$PG_CONFIG" test/bench/scale
PARTS=$(((START + TOTAL) / TOTAL))
psql_q -c "SET client_min_messages = warning" -c "DROP TABLE IF EXISTS stream_rows, stream_queries,
		stream_exact, stream_writes, stream_vacuums, scale_fresh" \
	-c "CREATE UNLOGGED TABLE stream_rows (id int, embedding vector($DIM))"
"$BENCH/scale" base $((START + TOTAL)) "$DIM" "$CLUSTERS" "$SEED" "$PARTS" "$PARTS" |
	psql_q -c "COPY stream_rows FROM STDIN (FORMAT binary)"
read -r SHARED SAME <<<"$(psql_value -F ' ' -c "SELECT count(*), count(*) FILTER (WHERE r.embedding = b.embedding)
	FROM stream_rows r JOIN scale_base b USING (id)")"
[ "$SHARED" = "$SAME" ] ||
	fail "scale_base holds other rows than SCALE_CLUSTERS=$CLUSTERS SCALE_SEED=$SEED make ($SAME of $SHARED alike): set those of the load"
[ "$SHARED" -gt 0 ] || echo "stream_bench: no row to check the generator's settings against" >&2
psql_q -c "DELETE FROM stream_rows WHERE id <= $START" -c "ALTER TABLE stream_rows ADD PRIMARY KEY (id)"

# the exact neighbours' lists, and the tables of the writes and VACUUMs
echo "finding the $DEPTH nearest rows of $NQ queries by sequential scans ..." >&2
psql_q <<SQL
SET enable_indexscan = off;
SET enable_bitmapscan = off;
CREATE UNLOGGED TABLE stream_queries AS
	SELECT id AS qid, embedding, 0::float8 AS radius FROM scale_queries WHERE id <= $NQ;
CREATE UNLOGGED TABLE stream_exact AS
	SELECT q.qid, n.id, n.distance FROM stream_queries q CROSS JOIN LATERAL (
		SELECT id, embedding <-> q.embedding AS distance FROM scale_base
		ORDER BY embedding <-> q.embedding LIMIT $DEPTH) n;
UPDATE stream_queries q SET radius = e.radius
	FROM (SELECT qid, max(distance) AS radius FROM stream_exact GROUP BY qid) e WHERE e.qid = q.qid;
CREATE INDEX ON stream_exact (qid);
CREATE UNLOGGED TABLE stream_writes (at timestamptz DEFAULT clock_timestamp(), inserted int, deleted int);
CREATE UNLOGGED TABLE stream_vacuums (at timestamptz DEFAULT clock_timestamp(), seconds float8);
VACUUM ANALYZE stream_rows, stream_queries, stream_exact;
CHECKPOINT;
SQL

# One batch of the writer (variables from, to, n): the rows with ids in
# (from, to], each also into the lists of the queries it is near enough
# to, and n rows deleted; returns the number deleted
cat >"$TMP/write.sql" <<SQL
BEGIN;
INSERT INTO scale_base SELECT id, embedding FROM stream_rows WHERE id > :from AND id <= :to;
INSERT INTO stream_exact
	SELECT q.qid, r.id, r.embedding <-> q.embedding FROM stream_rows r CROSS JOIN stream_queries q
	WHERE r.id > :from AND r.id <= :to AND r.embedding <-> q.embedding <= q.radius;
WITH d AS (DELETE FROM scale_base WHERE id IN ($DELETE_SQL) RETURNING 1)
INSERT INTO stream_writes (inserted, deleted) SELECT :to - :from, count(*) FROM d RETURNING deleted;
COMMIT;
SQL

# The query clients' script on table $1
query_script() {
	cat >"$TMP/query_$1.sql" <<SQL
\\set qid random(1, $NQUERIES)
SELECT id FROM $1 ORDER BY embedding <-> (SELECT embedding FROM scale_queries WHERE id = :qid) LIMIT 10;
SQL
}
query_script scale_base

# SQL whose output is "recall@10|queries with 10 current rows in their
# lists" of the index on table $1
recall_sql() {
	cat <<SQL
SET enable_seqscan = off;
SET $KNOB = $SETTING;
WITH truth AS MATERIALIZED (
	SELECT qid, id FROM (
		SELECT e.qid, e.id, row_number() OVER (PARTITION BY e.qid ORDER BY e.distance, e.id) AS rank
		FROM stream_exact e WHERE EXISTS (SELECT FROM $1 b WHERE b.id = e.id)) s
	WHERE rank <= 10),
found AS MATERIALIZED (
	SELECT q.qid, n.id FROM stream_queries q CROSS JOIN LATERAL (
		SELECT id FROM $1 ORDER BY embedding <-> q.embedding LIMIT 10) n)
SELECT round((SELECT count(*) FROM found JOIN truth USING (qid, id)) / (10.0 * $NQ), 4),
	(SELECT count(*) FROM (SELECT qid FROM truth GROUP BY qid HAVING count(*) = 10) c)
SQL
}

# the spann statistics of index $1, "lists|entries|splits|merges"
stats_sql() {
	if [ "$AM" = spann ]; then
		echo "(SELECT lists || '|' || entries || '|' || splits || '|' || merges FROM spann_index_stats('$1'))"
	else
		echo "'-|-|-|-'"
	fi
}

psql_value -c "SET $KNOB = $SETTING" -c "SET enable_seqscan = off" -c "EXPLAIN (COSTS OFF)
	SELECT id FROM scale_base ORDER BY embedding <-> (SELECT embedding FROM scale_queries WHERE id = 1) LIMIT 10" >"$TMP/plan.out"
grep -q "Index Scan using $INDEX " "$TMP/plan.out" ||
	{ cat "$TMP/plan.out" >&2; fail "the plan does not use $INDEX"; }

# ---------------------------------------------------------------------
# Measurements
# ---------------------------------------------------------------------

# sample LABEL: appends one line to $TMP/samples, "label|elapsed s|epoch|
# recall|inserted|deleted|VACUUMs|index bytes|table bytes|lists|entries|
# splits|merges" (the last four "-" for hnsw)
sample() {
	local at out recall complete rest
	at=$(now)
	out=$(recall_sql scale_base | psql_value -F '|' -f - -c "SELECT
		coalesce((SELECT sum(inserted) || '|' || sum(deleted) FROM stream_writes), '0|0'),
		(SELECT count(*) FROM stream_vacuums),
		pg_relation_size('$INDEX'), pg_table_size('scale_base'), $(stats_sql "$INDEX")" | tr '\n' '|')
	IFS='|' read -r recall complete rest <<<"${out%|}"
	[ "$complete" = "$NQ" ] ||
		fail "only $complete of $NQ queries have 10 current rows in their lists of exact neighbours: raise STREAM_DEPTH"
	echo "$1|$(calc 'a - t' a="$at" t="$T0")|$at|$recall|$rest" >>"$TMP/samples"
	tail -1 "$TMP/samples" | awk -F'|' '{ printf "%-18s %6.0f s: %s inserted, %s deleted, %s VACUUMs, recall %s, index %.1f MB, lists %s, splits %s, merges %s\n",
		$1, $2, $5, $6, $7, $4, $8 / 1048576, $10, $12, $13 }' >&2
}

# pgbench_start PREFIX TABLE SECONDS: STREAM_CLIENTS query clients on
# TABLE for SECONDS in the background, their log files $TMP/PREFIX.*;
# sets PGBENCH_PID
pgbench_start() {
	[ -f "$TMP/query_$2.sql" ] || query_script "$2"
	(cd "$TMP" && exec env PGOPTIONS="$PGOPTIONS -c $KNOB=$SETTING" pgbench -n -M prepared \
		-f "query_$2.sql" -c "$CLIENTS" -j "$CLIENTS" -T "$3" -l --log-prefix="$1" >"$1.out" 2>&1) &
	PGBENCH_PID=$!
	PIDS+=("$PGBENCH_PID")
}

# pgbench_check PREFIX: its run ended well
pgbench_check() {
	grep -q '^number of failed transactions: 0 ' "$TMP/$1.out" ||
		{ cat "$TMP/$1.out" >&2; fail "pgbench ($1) failed"; }
}

# latency PREFIX: "QPS|p50 ms|p99 ms" of all transactions of a run
latency() {
	local qps
	qps=$(awk '/^tps = / { printf "%.0f", $3 }' "$TMP/$1.out")
	cat "$TMP/$1".[0-9]* | awk '{ print $3 / 1000 }' | sort -g | awk -v qps="$qps" '
		{ t[NR] = $1 }
		END { if (NR == 0) print qps "|-|-"; else printf "%s|%.2f|%.2f\n", qps, t[int(NR * 0.5) + 1], t[int(NR * 0.99) + 1] }'
}

# quiet PREFIX TABLE: the latency with no writes, "QPS|p50|p99" in
# $TMP/PREFIX.latency, or "-|-|-" when STREAM_QUIET is 0
quiet() {
	if [ "$QUIET" -eq 0 ]; then
		echo "-|-|-" >"$TMP/$1.latency"
		return
	fi
	echo "querying $2 for $QUIET s with no writes ..." >&2
	pgbench_start "$1" "$2" "$QUIET"
	wait "$PGBENCH_PID" || true
	pgbench_check "$1"
	latency "$1" >"$TMP/$1.latency"
}

# The writer: a batch every BATCH seconds until DURATION, inserting the
# new rows due by then and deleting as many as were inserted in all
writer() {
	local k=0 at inserted=0 deleted=0 target got
	while :; do
		at=$((k * BATCH < DURATION ? k * BATCH : DURATION))
		sleep_until "$(calc 't + a' t="$T0" a="$at")"
		target=$(calc 'int(total * a / d)' total="$TOTAL" a="$at" d="$DURATION")
		if [ "$target" -gt "$inserted" ] || [ "$deleted" -lt "$inserted" ]; then
			got=$(psql_value -v from=$((START + inserted)) -v to=$((START + target)) \
				-v n=$((target - deleted)) -f "$TMP/write.sql")
			inserted=$target deleted=$((deleted + got))
		fi
		[ "$at" -lt "$DURATION" ] || break
		k=$((k + 1))
	done
}

# VACUUM every VACUUM_EVERY seconds until DURATION, each one's time noted
vacuumer() {
	local k=1 start
	[ "$VACUUM_EVERY" -gt 0 ] || return 0
	while [ $((k * VACUUM_EVERY)) -lt "$DURATION" ]; do
		sleep_until "$(calc 't + a' t="$T0" a=$((k * VACUUM_EVERY)))"
		start=$(now)
		psql_q -c "VACUUM scale_base"
		psql_q -c "INSERT INTO stream_vacuums (seconds) VALUES ($(calc 'n - s' n="$(now)" s="$start"))"
		k=$((k + 1))
	done
}

# check_jobs: fail if a background job of JOBS ended badly; forget those
# that ended well
check_jobs() {
	local name
	for name in "${!JOBS[@]}"; do
		if ! kill -0 "${JOBS[$name]}" 2>/dev/null; then
			wait "${JOBS[$name]}" || fail "the $name failed (see above)"
			unset "JOBS[$name]"
		fi
	done
}

HEADER="# streaming: $AM on scale_base ($ROWS rows of $DIM dimensions), $KNOB = $SETTING"
if [ "$VACUUM_EVERY" -gt 0 ]; then
	VACUUMING="VACUUM every $VACUUM_EVERY s"
else
	VACUUMING="no VACUUM"
fi
SUBTITLE="$CLIENTS query clients; $RATE% of the rows replaced per hour ($DELETE deleted), every $BATCH s; $VACUUMING; recall@10 of $NQ queries"
DESCRIPTION="$(psql_value -c "SELECT string_agg(extname || ' ' || extversion, ', ') FROM pg_extension WHERE extname = 'ann'"),
shared_buffers $(psql_value -c "SHOW shared_buffers"); $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //');
index $INDEX ($BUILD_TIME).
$DURATION s: $CLIENTS query clients; $RATE% of the rows per hour ($TOTAL rows in all) inserted
and as many deleted ($DELETE rows), every $BATCH s; $VACUUMING;
recall@10 of $NQ queries against the exact answer on the current rows, every $SAMPLE s."
echo "$HEADER" >&2

quiet quiet_start scale_base
T0=$(now)
sample "before"

echo "streaming for $DURATION s ..." >&2
T0=$(now)
echo "$T0" >"$TMP/epochs"
pgbench_start stream scale_base "$DURATION"
declare -A JOBS=(["query clients"]=$PGBENCH_PID)
writer &
JOBS[writer]=$!
vacuumer &
JOBS["VACUUM loop"]=$!
PIDS+=("${JOBS[writer]}" "${JOBS[VACUUM loop]}")

k=1
while [ $((k * SAMPLE)) -lt "$DURATION" ]; do
	sleep_until "$(calc 't + a' t="$T0" a=$((k * SAMPLE)))"
	check_jobs
	[ -n "${JOBS[query clients]:-}" ] || { cat "$TMP/stream.out" >&2; fail "the query clients ended early"; }
	sample "$((k * SAMPLE)) s"
	tail -1 "$TMP/samples" | cut -d'|' -f3 >>"$TMP/epochs"
	k=$((k + 1))
done
for name in "${!JOBS[@]}"; do
	wait "${JOBS[$name]}" || fail "the $name failed (see above)"
done
PIDS=()
pgbench_check stream
sample "end"
calc 't + d' t="$T0" d="$DURATION" >>"$TMP/epochs"

echo "VACUUM after the writes ..." >&2
psql_q -c "VACUUM scale_base"
sample "after VACUUM"

CHECKED="ann_check_index($INDEX, true): not run (STREAM_CHECK=0)"
if [ "$CHECK" != 0 ]; then
	echo "ann_check_index($INDEX, true) ..." >&2
	start=$(now)
	psql_q -c "SELECT ann_check_index('$INDEX', true)" >/dev/null
	CHECKED="ann_check_index($INDEX, true): passed ($(calc 'sprintf("%.1f", n - s)' n="$(now)" s="$start") s)"
fi

echo "checking the exact neighbours against sequential scans ..." >&2
read -r SAME_IDS SAME_DISTANCES <<<"$(psql_value -F ' ' <<SQL
SET enable_indexscan = off;
SET enable_bitmapscan = off;
WITH kept AS (
	SELECT qid, string_agg(id::text, ',' ORDER BY distance, id) AS ids,
		string_agg(distance::text, ',' ORDER BY distance, id) AS distances
	FROM (SELECT e.*, row_number() OVER (PARTITION BY e.qid ORDER BY e.distance, e.id) AS rank
		  FROM stream_exact e WHERE EXISTS (SELECT FROM scale_base b WHERE b.id = e.id)) s
	WHERE rank <= 10 GROUP BY qid),
scanned AS (
	SELECT q.qid, string_agg(n.id::text, ',' ORDER BY n.distance, n.id) AS ids,
		string_agg(n.distance::text, ',' ORDER BY n.distance, n.id) AS distances
	FROM stream_queries q CROSS JOIN LATERAL (
		SELECT id, embedding <-> q.embedding AS distance FROM scale_base
		ORDER BY embedding <-> q.embedding LIMIT 10) n
	GROUP BY q.qid)
SELECT count(*) FILTER (WHERE k.ids = s.ids), count(*) FILTER (WHERE k.distances = s.distances)
FROM kept k JOIN scanned s USING (qid)
SQL
)"
[ "$SAME_DISTANCES" = "$NQ" ] ||
	fail "the exact neighbours kept up to date differ from a sequential scan's for $((NQ - SAME_DISTANCES)) of $NQ queries"
EXACT="exact neighbours kept up to date: the same distances as sequential scans for all $NQ queries ($SAME_IDS with the same ids)"

quiet quiet_end scale_base

echo "fresh build on a copy of the final rows ..." >&2
psql_q -c "CREATE TABLE scale_fresh AS SELECT id, embedding FROM scale_base ORDER BY id" \
	-c "ALTER TABLE scale_fresh ADD PRIMARY KEY (id), SET (parallel_workers = $WORKERS)" \
	-c "VACUUM ANALYZE scale_fresh"
psql_q >"$TMP/fresh.out" 2>&1 <<SQL || { cat "$TMP/fresh.out" >&2; fail "the fresh build failed"; }
SET maintenance_work_mem = '$MWM';
SET max_parallel_maintenance_workers = $WORKERS;
\\timing on
$FRESH_DDL;
SQL
FRESH_SECONDS=$(awk '/^Time: / { printf "%.1f", $2 / 1000 }' "$TMP/fresh.out")
psql_q -c "CHECKPOINT"
FRESH=$(recall_sql scale_fresh | psql_value -F '|' -f - -c "SELECT pg_relation_size('scale_fresh_idx'),
	$(stats_sql scale_fresh_idx)" | tr '\n' '|')
quiet quiet_fresh scale_fresh

# ---------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------

# The streaming run's latency by interval, in $TMP/intervals: "k|QPS|p50
# ms|p99 ms" for interval k, from the k-th epoch of $TMP/epochs to the
# next (the first is the start, the last the end of the query clients'
# run); a transaction counts in the interval in which it ended
awk 'NR == FNR { e[++n] = $1; next }
	FNR == 1 { k = 2 }
	{ t = $5 + $6 / 1e6; while (k < n && t >= e[k]) k++; print k - 1, $3 / 1000 }' \
	"$TMP/epochs" "$TMP"/stream.[0-9]* | sort -k1,1n -k2,2g |
	awk -v epochs="$(tr '\n' ' ' <"$TMP/epochs")" '
		function flush() {
			if (c) printf "%d|%.0f|%.2f|%.2f\n", k, c / (e[k + 1] - e[k]), t[int(c * 0.5) + 1], t[int(c * 0.99) + 1]
		}
		BEGIN { split(epochs, e, " ") }
		$1 != k { flush(); k = $1; c = 0 }
		{ t[++c] = $2 }
		END { flush() }' >"$TMP/intervals"

# The samples with the latency of the interval each ends, as CSV
{
	echo "label,elapsed_s,inserted,deleted,vacuums,recall,index_bytes,table_bytes,lists,entries,splits,merges,qps,p50_ms,p99_ms"
	awk -F'|' 'NR == FNR { l[$1] = $2 "," $3 "," $4; next }
		{ i = FNR - 1; printf "\"%s\",%.1f,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s\n", $1, $2, $5, $6, $7, $4, $8, $9,
			$10, $11, $12, $13, (i in l) ? l[i] : "-,-,-" }' "$TMP/intervals" "$TMP/samples"
} >"$CSV"

echo "$HEADER"
echo
echo "$DESCRIPTION"
echo
echo "| sample | elapsed s | inserted | deleted | VACUUMs | recall@10 | index MB | table MB | lists | entries | splits | merges | QPS | p50 ms | p99 ms |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
tail -n +2 "$CSV" | awk -F, '{ gsub(/"/, "", $1)
	printf "| %s | %.0f | %s | %s | %s | %s | %.1f | %.1f | %s | %s | %s | %s | %s | %s | %s |\n",
		$1, $2, $3, $4, $5, $6, $7 / 1048576, $8 / 1048576, $9, $10, $11, $12, $13, $14, $15 }'
echo
echo "QPS, p50 and p99 are the query clients' over the interval that ends at the sample."
echo

# The comparison: the samples before the writes and after the last
# VACUUM, the lowest recall and largest size between, the latency of each
# run, and the fresh build's
IFS='|' read -r FRESH_RECALL _ FRESH_BYTES FRESH_LISTS FRESH_ENTRIES _ <<<"${FRESH%|}"
VACUUMS=$(psql_value -c "SELECT count(*) || ', ' || coalesce(round(avg(seconds)::numeric, 1) || ' s on average, the longest '
	|| round(max(seconds)::numeric, 1) || ' s', 'none') FROM stream_vacuums")
awk -F'|' -v index_name="$INDEX" -v fresh="$FRESH_RECALL|$FRESH_BYTES|$FRESH_LISTS|$FRESH_ENTRIES|$FRESH_SECONDS" \
	-v lat_start="$(cat "$TMP/quiet_start.latency")" -v lat_stream="$(latency stream)" \
	-v lat_end="$(cat "$TMP/quiet_end.latency")" -v lat_fresh="$(cat "$TMP/quiet_fresh.latency")" '
	function mb(b) { return sprintf("%.1f", b / 1048576) }
	function row(name, recall, bytes, lists, entries, lat) {
		gsub(/\|/, " | ", lat)
		printf "| %s | %s | %s | %s | %s | %s |\n", name, recall, mb(bytes), lists, entries, lat
	}
	FILENAME ~ /samples$/ {
		if ($1 == "before") { s_recall = $4; s_bytes = $8; s_lists = $10; s_entries = $11 }
		else if ($1 != "after VACUUM") {
			if (low == "" || $4 < low) { low = $4; low_at = $2 }
			if ($8 > big) big = $8
		}
		if ($1 == "after VACUUM") { e_recall = $4; e_bytes = $8; e_lists = $10; e_entries = $11 }
		at[FNR] = $2
		next
	}
	$4 > worst { worst = $4; worst_at = at[$1 + 1] }
	END {
		split(fresh, f, "|")
		print "| index | recall@10 | index MB | lists | entries | QPS | p50 ms | p99 ms |"
		print "|---|---:|---:|---:|---:|---:|---:|---:|"
		row("streamed: before the writes, no writes running", s_recall, s_bytes, s_lists, s_entries, lat_start)
		row("streamed: during the writes (lowest recall, largest size)", low, big, "", "", lat_stream)
		row("streamed: after the writes and a VACUUM, no writes running", e_recall, e_bytes, e_lists, e_entries, lat_end)
		row("fresh build of the final rows (" f[5] " s), no writes running", f[1], f[2], f[3], f[4], lat_fresh)
		print ""
		printf "- recall@10 of %s after the writes and a VACUUM minus the fresh build\047s: %+.4f (target: -0.01 or more: %s); lowest during the writes %s, at %.0f s\n",
			index_name, e_recall - f[1], (e_recall - f[1] >= -0.01) ? "met" : "not met", low, low_at
		split(lat_stream, s, "|"); split(lat_fresh, q, "|")
		if (q[3] != "-")
			printf "- p99 during the writes over the fresh build\047s with no writes: %.2f / %.2f ms = %.2fx (target: 2x or less: %s); the worst interval %.2f ms (%.2fx), ending at %.0f s\n",
				s[3], q[3], s[3] / q[3], (s[3] <= 2 * q[3]) ? "met" : "not met", worst, worst / q[3], worst_at
		printf "- index size: %s MB before the writes, at most %s MB during them, %s MB after a VACUUM at the end: %.2fx the fresh build\047s %s MB\n",
			mb(s_bytes), mb(big), mb(e_bytes), e_bytes / f[2], mb(f[2])
	}' "$TMP/samples" "$TMP/intervals"
echo "- VACUUMs during the writes: $VACUUMS"
echo "- $EXACT"
echo "- $CHECKED"

python3 "$BENCH/stream_plot.py" --title "${HEADER#\# }" --subtitle "$SUBTITLE" --fresh-recall "$FRESH_RECALL" --fresh-bytes "$FRESH_BYTES" \
	--fresh-p99 "$(cut -d'|' -f3 "$TMP/quiet_fresh.latency")" \
	--vacuums "$(psql_value -c "SELECT string_agg(round((extract(epoch FROM at) - $T0)::numeric, 1)::text, ','
		ORDER BY at) FROM stream_vacuums")" "$CSV" "$PLOT"
echo
echo "Plot: $PLOT (data: $CSV)"

if [ "$KEEP" = 0 ]; then
	psql_q -c "DROP TABLE stream_rows, stream_queries, stream_exact, stream_writes, stream_vacuums, scale_fresh"
fi
