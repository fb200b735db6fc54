#!/bin/bash
# test/bench/complete_bench.sh: complete answers of ordered index scans:
# recall@k, rows per query, order and QPS of
#
#   SELECT id FROM base [WHERE id % M = 0] ORDER BY embedding <-> q LIMIT k
#
# for every iterative-scan mode of each index, on Fashion-MNIST and on
# unclustered (uniform random) vectors, L2.
#
#   complete_bench.sh [EXTENSION]      EXTENSION: ann (the default) or vector
#
# Runs against the database that PGHOST, PGPORT, PGDATABASE and PGUSER name,
# in which EXTENSION is installed (ann, or pgvector's vector: they cannot
# share a database, so measure them in two databases of one cluster).  The
# two data sets (BENCH_DATA):
#
#   fmnist   fmnist_train (60,000 x vector(784)) and the first BENCH_QUERIES
#            rows of fmnist_test, loaded by load_fmnist.sh;
#   random   rnd_base (RANDOM_ROWS x vector(RANDOM_DIM), components uniform
#            in [-0.5, 0.5)) and rnd_queries (BENCH_QUERIES more from the
#            same distribution), made here in SQL from setseed(): the same
#            rows in every database of a PostgreSQL version (the script
#            prints a checksum to compare).  No clusters, so list radii and
#            graph neighbourhoods say little.
#
# Filters (BENCH_FILTERS, moduli): 1 is no WHERE clause, 10 is id % 10 = 0
# (10%), 100 is id % 100 = 0 (1%).  The index holds the vector only, so the
# executor applies the filter to the rows the scan returns.  Fashion-MNIST
# has 600 rows with id % 100 = 0: a query asking for 1,000 of them can only
# get 600.
#
# The script
#
#   - computes once, by sequential scan, the exact answer of every query,
#     filter and k: the number of rows it should return, want = min(k,
#     matching rows), and the distance of the want-th nearest matching row,
#     into complete_truth(data, modulus, qid, k, want, kth);
#   - for each index of BENCH_INDEXES (ann: hnsw spann; vector: hnsw
#     ivfflat), drops every hnsw, spann or ivfflat index on the base table,
#     builds this one (timed; maintenance_work_mem BENCH_MWM, no parallel
#     workers unless BENCH_WORKERS) and reports its size;
#   - for each setting of that index (below), filter and k: checks with
#     EXPLAIN that the query scans the index, runs all queries in one SQL
#     statement (a LATERAL index scan per query) and reports
#       recall   returned rows no farther than the exact want-th distance
#                (ties count), over want, summed over the queries;
#       rows     mean and minimum rows a query returned, and how many
#                queries returned fewer than want ("short");
#       unord.   the share of queries whose rows are not in non-decreasing
#                distance order;
#       warn     WARNINGs the statement raised (ann, ann.incomplete_scan: a
#                scan that ended on a budget, or hnsw strict_order returning
#                rows it found too late last), one per query at most;
#     then QPS with one connection over the first N queries, N as many
#     as the recall statement ran in about BENCH_QPS_MS (at least 10, at
#     most all), so that slow settings do not take minutes: with
#     BENCH_QPS=sql (the default) those queries in one statement (SELECT
#     count(*) FROM queries CROSS JOIN LATERAL (...)), run BENCH_RUNS
#     times, QPS = N / median time (the server's time, no client round
#     trips); with BENCH_QPS=pgbench, pgbench -n -M prepared -T
#     BENCH_SECONDS, a random one of the N queries per transaction, the
#     median of BENCH_RUNS runs.
#
# Settings measured per index (all with enable_seqscan off, no parallel
# query, no JIT):
#
#   ann hnsw       hnsw.ef_search = BENCH_EF, hnsw.iterative_scan =
#                  strict_order, relaxed_order
#   ann spann      spann.probes in BENCH_PROBES x spann.iterative_scan =
#                  strict_order, relaxed_order, off
#   vector hnsw    as ann hnsw (hnsw.max_scan_tuples left at its default)
#   vector ivfflat ivfflat.probes in BENCH_PROBES x ivfflat.iterative_scan =
#                  relaxed_order, off (pgvector's ivfflat has no strict_order)
#   exact          with BENCH_EXACT=1, after the indexes: index scans off, a
#                  sequential scan and a top-k sort, the baseline (its
#                  "index" column says "exact")
#
# The indexes: hnsw WITH (m = BENCH_M, ef_construction = BENCH_EFC); spann
# with its defaults (lists = 4 * sqrt(rows)); ivfflat WITH (lists =
# BENCH_IVF_LISTS, default round(sqrt(rows)), as the spann benchmark chose:
# 245 for Fashion-MNIST).  The last index built is left in place.
#
# Output: markdown tables on stdout, progress on stderr; with BENCH_TSV set,
# every measured row is also appended to that file, tab-separated:
# extension, data, index, settings, modulus, k, want, recall, rows mean,
# rows min, short, unordered %, warnings, ms/query, QPS, the QPS of each
# run, the queries of the QPS runs.
#
# Environment (defaults): BENCH_DATA ("fmnist random"), BENCH_INDEXES (see
# above; set and empty: no index, say with BENCH_EXACT=1), BENCH_FILTERS
# ("1 10 100"), BENCH_K ("10 100 1000"), BENCH_QUERIES (200), BENCH_EXACT
# (0), BENCH_EF (40), BENCH_PROBES ("8 16"), BENCH_M (16), BENCH_EFC (64),
# BENCH_IVF_LISTS (0: round(sqrt(rows))), BENCH_QPS (sql or pgbench),
# BENCH_RUNS (3), BENCH_QPS_MS (1500), BENCH_SECONDS (5, pgbench -T),
# BENCH_PROTOCOL (prepared, pgbench -M), BENCH_MWM (2GB), BENCH_WORKERS (0,
# max_parallel_maintenance_workers), BENCH_SETTINGS (extra SET statements
# for every query, such as "SET hnsw.max_scan_tuples = 100000"), BENCH_TSV
# (none), RANDOM_ROWS (100000), RANDOM_DIM (32), RANDOM_SEED (0.42; the
# queries use -RANDOM_SEED).  Delete complete_truth after reloading a table.
set -euo pipefail
shopt -s inherit_errexit # a failure inside $(...) stops the script too

EXT=${1:-ann}
DATA=${BENCH_DATA:-fmnist random}
FILTERS=${BENCH_FILTERS:-1 10 100}
K_LIST=${BENCH_K:-10 100 1000}
NQ=${BENCH_QUERIES:-200}
EF=${BENCH_EF:-40}
PROBES=${BENCH_PROBES:-8 16}
M=${BENCH_M:-16}
EFC=${BENCH_EFC:-64}
IVF_LISTS=${BENCH_IVF_LISTS:-0}
QPS_MODE=${BENCH_QPS:-sql}
RUNS=${BENCH_RUNS:-3}
EXACT=${BENCH_EXACT:-0}
QPS_MS=${BENCH_QPS_MS:-1500}
SECONDS_PER_RUN=${BENCH_SECONDS:-5}
PROTOCOL=${BENCH_PROTOCOL:-prepared}
MWM=${BENCH_MWM:-2GB}
WORKERS=${BENCH_WORKERS:-0}
EXTRA_SETTINGS=${BENCH_SETTINGS:-}
TSV=${BENCH_TSV:-}
RANDOM_ROWS=${RANDOM_ROWS:-100000}
RANDOM_DIM=${RANDOM_DIM:-32}
RANDOM_SEED=${RANDOM_SEED:-0.42}
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
export PATH="$($PG_CONFIG --bindir):$PATH"

case $EXT in
	ann) INDEXES=${BENCH_INDEXES-hnsw spann} ;;
	vector) INDEXES=${BENCH_INDEXES-hnsw ivfflat} ;;
	*) echo "usage: $0 [ann|vector]" >&2; exit 2 ;;
esac
case $QPS_MODE in sql | pgbench) ;; *) echo "complete_bench: BENCH_QPS is sql or pgbench" >&2; exit 2 ;; esac

TMP=$(mktemp -d /tmp/complete_bench.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

psql_q() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }
psql_value() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
fail() { echo "complete_bench: $*" >&2; exit 1; }

# The settings of every query: one core, no JIT, the index even where the
# planner would rather scan the table
BASE_SETTINGS="SET max_parallel_workers_per_gather = 0; SET jit = off; SET enable_seqscan = off"
# Exact search: no index
EXACT_SETTINGS="SET max_parallel_workers_per_gather = 0; SET jit = off;
	SET enable_indexscan = off; SET enable_indexonlyscan = off; SET enable_bitmapscan = off"

# psql_retry ARGS...: psql_value, run again (up to 3 times, 5 s apart) when
# the server could not load a library (another session may be installing
# a new build); stdout to stdout, stderr to $TMP/stderr
psql_retry() {
	local try
	for try in 1 2 3; do
		if psql_value "$@" 2>"$TMP/stderr" </dev/null; then
			return 0
		fi
		grep -qiE 'could not load library|could not access file|undefined symbol' "$TMP/stderr" ||
			return 1
		echo "complete_bench: library load error, retrying in 5 s: $(grep -m1 ERROR "$TMP/stderr")" >&2
		sleep 5
	done
	return 1
}

# Select data set $1: BASE, QTAB, DIM
set_data() {
	case $1 in
		fmnist) BASE=fmnist_train QTAB=fmnist_test DIM=784 ;;
		random) BASE=rnd_base QTAB=rnd_queries DIM=$RANDOM_DIM ;;
		*) fail "unknown data set \"$1\" (fmnist or random)" ;;
	esac
}

# Make rnd_base and rnd_queries unless they hold what the settings ask for
make_random() {
	local have
	if [ "$(psql_value -c "SELECT to_regclass('rnd_base') IS NOT NULL AND to_regclass('rnd_queries') IS NOT NULL")" = t ]; then
		have=$(psql_value -c "SELECT (SELECT count(*) || ' ' || coalesce(max(vector_dims(embedding)), 0) FROM rnd_base)
			|| ' ' || (SELECT count(*) FROM rnd_queries)")
		[ "$have" = "$RANDOM_ROWS $RANDOM_DIM $NQ" ] && return 0
	fi
	echo "making rnd_base ($RANDOM_ROWS x $RANDOM_DIM) and rnd_queries ($NQ) ..." >&2
	# The subquery refers to i, so it is evaluated for every row; setseed
	# makes random() repeat its sequence.
	psql_q <<SQL
SET client_min_messages = warning;
DROP TABLE IF EXISTS rnd_base, rnd_queries;
CREATE TABLE rnd_base (id int PRIMARY KEY, embedding vector($RANDOM_DIM));
CREATE TABLE rnd_queries (id int PRIMARY KEY, embedding vector($RANDOM_DIM));
SELECT setseed($RANDOM_SEED) \\g /dev/null
INSERT INTO rnd_base SELECT i, (SELECT array_agg(random() - 0.5) FROM generate_series(1, $RANDOM_DIM) WHERE i > 0)::vector
	FROM generate_series(1, $RANDOM_ROWS) i;
SELECT setseed(-$RANDOM_SEED) \\g /dev/null
INSERT INTO rnd_queries SELECT i, (SELECT array_agg(random() - 0.5) FROM generate_series(1, $RANDOM_DIM) WHERE i > 0)::vector
	FROM generate_series(1, $NQ) i;
CREATE TABLE IF NOT EXISTS complete_truth
	(data text, modulus int, qid int, k int, want int, kth float8, PRIMARY KEY (data, modulus, qid, k));
DELETE FROM complete_truth WHERE data = 'random';
VACUUM ANALYZE rnd_base, rnd_queries;
SQL
}

# Compute the exact answers of data set $1 (BASE, QTAB) for every filter
# and k that complete_truth lacks
make_truth() {
	local data=$1 mod have nk maxk
	nk=$(wc -w <<<"$K_LIST")
	maxk=$(tr ' ' '\n' <<<"$K_LIST" | sort -n | tail -1)
	psql_q -c "SET client_min_messages = warning" -c "CREATE TABLE IF NOT EXISTS complete_truth
		(data text, modulus int, qid int, k int, want int, kth float8, PRIMARY KEY (data, modulus, qid, k))"
	for mod in $FILTERS; do
		have=$(psql_value -c "SELECT count(*) FROM complete_truth WHERE data = '$data' AND modulus = $mod
			AND qid <= $NQ AND k IN ($(tr ' ' ',' <<<"$K_LIST"))")
		[ "$have" -eq $((NQ * nk)) ] && continue
		echo "computing the exact answers of $data, id % $mod = 0 (sequential scans) ..." >&2
		psql_q <<SQL
$EXACT_SETTINGS;
BEGIN;
DELETE FROM complete_truth WHERE data = '$data' AND modulus = $mod;
INSERT INTO complete_truth (data, modulus, qid, k, want, kth)
SELECT '$data', $mod, q.id, kk.k, least(kk.k, m.n), t.d[least(kk.k, m.n)]
FROM $QTAB q
CROSS JOIN (SELECT count(*) AS n FROM $BASE WHERE id % $mod = 0 AND embedding IS NOT NULL) m
CROSS JOIN LATERAL (SELECT array_agg(d ORDER BY d) AS d
	FROM (SELECT embedding <-> q.embedding AS d FROM $BASE
		WHERE id % $mod = 0 AND embedding IS NOT NULL
		ORDER BY 1 LIMIT $maxk) s) t
CROSS JOIN unnest('{$(tr ' ' ',' <<<"$K_LIST")}'::int[]) kk(k)
WHERE q.id <= $NQ;
COMMIT;
ANALYZE complete_truth;
SQL
	done
}

# A checksum of the rows of data set $1, to compare databases
checksum() {
	psql_value -c "SELECT left(md5(string_agg(md5(id || ':' || embedding::real[]::text), '' ORDER BY id)), 12)
		FROM (SELECT id, embedding FROM $BASE UNION ALL SELECT -id, embedding FROM $QTAB WHERE id <= $NQ) s"
}

# Drop the hnsw, spann and ivfflat indexes on BASE
drop_indexes() {
	psql_value -c "SELECT string_agg(format('DROP INDEX %s;', i.indexrelid::regclass), ' ')
		FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam
		WHERE i.indrelid = '$BASE'::regclass AND a.amname IN ('hnsw', 'spann', 'ivfflat')" |
		psql_q -c "SET client_min_messages = warning" -f - -c "CHECKPOINT"
}

# Build index $1 (hnsw, spann, ivfflat) on BASE as INDEX; print its time,
# size and (spann) statistics as a table row
build_index() {
	local am=$1 with rows lists bytes secs stats=
	rows=$(psql_value -c "SELECT count(*) FROM $BASE")
	case $am in
		hnsw) with="WITH (m = $M, ef_construction = $EFC)" ;;
		spann) with= ;;
		ivfflat) lists=$IVF_LISTS
			[ "$lists" -gt 0 ] || lists=$(awk -v r="$rows" 'BEGIN { printf "%d", sqrt(r) + 0.5 }')
			with="WITH (lists = $lists)" ;;
		*) fail "unknown index \"$am\" (hnsw, spann or ivfflat)" ;;
	esac
	INDEX=${BASE}_cb_$am
	echo "building $INDEX ..." >&2
	drop_indexes
	psql_q >"$TMP/build.out" 2>&1 <<SQL || { cat "$TMP/build.out" >&2; fail "the build of $INDEX failed"; }
SET maintenance_work_mem = '$MWM';
SET max_parallel_maintenance_workers = $WORKERS;
\timing on
CREATE INDEX $INDEX ON $BASE USING $am (embedding vector_l2_ops) $with;
SQL
	secs=$(awk '/^Time: / { t = $2 } END { printf "%.1f", t / 1000 }' "$TMP/build.out")
	bytes=$(psql_value -c "SELECT pg_relation_size('$INDEX')")
	[ "$am" = spann ] && stats=$(psql_value -F ', ' -c "SELECT 'lists ' || lists, 'groups ' || groups,
		'entries ' || entries FROM spann_index_stats('$INDEX')")
	echo "| $DATA_NAME | $EXT $am | ${with:-defaults}${stats:+ ($stats)} | $secs | $((bytes / 1048576)) MB ($bytes) |"
}

# The settings of index $1: one SET list per line
settings_of() {
	local p mode
	case $EXT:$1 in
		*:hnsw) for mode in strict_order relaxed_order; do
				echo "SET hnsw.ef_search = $EF; SET hnsw.iterative_scan = $mode"
			done ;;
		ann:spann) for p in $PROBES; do for mode in strict_order relaxed_order off; do
				echo "SET spann.probes = $p; SET spann.iterative_scan = $mode"
			done; done ;;
		vector:ivfflat) for p in $PROBES; do for mode in relaxed_order off; do
				echo "SET ivfflat.probes = $p; SET ivfflat.iterative_scan = $mode"
			done; done ;;
		*) fail "index $1 is not measured with extension $EXT" ;;
	esac
}

# "a = 1, b = 2" from "SET a = 1; SET b = 2"
settings_label() { sed -E 's/SET //g; s/;/,/g' <<<"$1"; }

# libpq options for PGOPTIONS from a SET list
settings_options() { sed -E 's/SET ([a-z_.]+) = ([^;]*)(;|$)/-c \1=\2/g' <<<"$1"; }

# The WHERE clause of filter modulus $1
where_of() { [ "$1" = 1 ] && echo "" || echo "WHERE id % $1 = 0"; }

# The statement measuring recall, rows, order of data set $1 with modulus
# $2 and limit $3; the lag() over the scan's own output order finds rows
# nearer than the one before
recall_sql() {
	cat <<SQL
WITH res AS MATERIALIZED (
	SELECT q.id AS qid, n.id, n.dist, n.inversion
	FROM $QTAB q
	LEFT JOIN LATERAL (
		SELECT id, dist, dist < lag(dist) OVER () AS inversion
		FROM (SELECT id, embedding <-> q.embedding AS dist FROM $BASE $(where_of "$2")
			ORDER BY embedding <-> q.embedding LIMIT $3) s) n ON true
	WHERE q.id <= $NQ
), per_query AS (
	SELECT r.qid, t.want, count(r.id) AS nrows, count(DISTINCT r.id) AS ndistinct,
		count(DISTINCT r.id) FILTER (WHERE r.dist <= t.kth) AS hits,
		coalesce(bool_or(r.inversion), false) AS unordered
	FROM res r
	JOIN complete_truth t ON t.data = '$1' AND t.modulus = $2 AND t.qid = r.qid AND t.k = $3
	GROUP BY r.qid, t.want
)
SELECT round(sum(hits)::numeric / sum(want), 4), round(avg(nrows), 1), min(nrows),
	count(*) FILTER (WHERE nrows < want), round(100.0 * avg(unordered::int), 1),
	max(want), sum(nrows - ndistinct), count(*)
FROM per_query
SQL
}

# The statement timed for QPS: the first $3 queries, nothing else
batch_sql() {
	echo "SELECT count(*) FROM $QTAB q CROSS JOIN LATERAL (SELECT id FROM $BASE $(where_of "$1")
		ORDER BY embedding <-> q.embedding LIMIT $2) n WHERE q.id <= $3"
}

# The pgbench script of modulus $1 and limit $2, a random one of the first
# $3 queries
pgbench_script() {
	cat <<SQL
\\set qid random(1, $3)
SELECT id FROM $BASE $(where_of "$1")
	ORDER BY embedding <-> (SELECT embedding FROM $QTAB WHERE id = :qid) LIMIT $2;
SQL
}

# Median of the numbers on stdin
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) exit 1; print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }

# Measure data set $1 under SET list $2 with modulus $3 and limit $4 and
# print a table row
measure() {
	local data=$1 settings="$BASE_SETTINGS; $2${EXTRA_SETTINGS:+; $EXTRA_SETTINGS}" mod=$3 k=$4
	local scan="Index Scan using ${INDEX:-} " plan res warn recall rows_mean rows_min short unord want dups nq ms qps qps_nq runs= run err=
	[ "$INDEX_AM" = exact ] && settings=$EXACT_SETTINGS scan="Seq Scan on $BASE( |$)"
	echo "measuring $data, $(settings_label "$2"), filter $mod, k $k ..." >&2
	if ! plan=$(psql_retry -c "$settings" -c "EXPLAIN (COSTS OFF) $(recall_sql "$data" "$mod" "$k")") ||
		! grep -qE "$scan" <<<"$plan"; then
		err="EXPLAIN: $(grep -m1 -E 'ERROR|FATAL' "$TMP/stderr" || echo "the plan has no ${scan%% (*}")"
	fi
	if [ -z "$err" ] && res=$(psql_retry -c "$settings" -c '\timing on' -c "$(recall_sql "$data" "$mod" "$k")"); then
		warn=$(grep -c '^WARNING:' "$TMP/stderr" || true)
		# the first WARNING of the statement and its DETAIL, on one line
		awk '/^WARNING:/ { if (w != "") exit; w = $0; next }
			w != "" && /^DETAIL:/ { w = w " " $0; exit }
			END { if (w != "") print w }' "$TMP/stderr" >"$TMP/warning"
		IFS='|' read -r recall rows_mean rows_min short unord want dups nq <<<"$(head -1 <<<"$res")"
		# QPS over the first qps_nq queries: as many as take about QPS_MS
		qps_nq=$(awk -v n="$NQ" -v target="$QPS_MS" '/^Time: / {
			per = $2 / n; q = per > 0 ? int(target / per) + 1 : n
			print (q < 10 ? 10 : (q > n ? n : q)) }' <<<"$res")
		[ "$nq" -eq "$NQ" ] || err="the recall statement covered $nq of $NQ queries"
		[ "$dups" -eq 0 ] || err="$dups duplicate rows"
	else
		[ -n "$err" ] || err=$(grep -m1 -E 'ERROR|FATAL|server closed' "$TMP/stderr" || echo "psql failed")
	fi
	if [ -n "$err" ] && [ -z "${recall:-}" ]; then
		echo "| $DATA_NAME | $EXT $INDEX_AM | $(settings_label "$2") | $mod | $k | | ERROR: $err | | | | | | | |"
		return 0
	fi
	# QPS
	for run in $(seq "$RUNS"); do
		if [ "$QPS_MODE" = sql ]; then
			psql_retry -c "$settings" -c '\timing on' -c "$(batch_sql "$mod" "$k" "$qps_nq")" |
				awk -v n="$qps_nq" '/^Time: / { printf "%.1f\n", n * 1000 / $2 }'
		else
			pgbench_script "$mod" "$k" "$qps_nq" >"$TMP/query.sql"
			PGOPTIONS="${PGOPTIONS:-} $(settings_options "$settings")" pgbench -n -M "$PROTOCOL" \
				-f "$TMP/query.sql" -T "$SECONDS_PER_RUN" >"$TMP/pgbench.out" 2>&1 ||
				{ cat "$TMP/pgbench.out" >&2; fail "pgbench failed"; }
			awk '/^tps = / { printf "%.1f\n", $3 }' "$TMP/pgbench.out"
		fi
	done >"$TMP/qps" || err="QPS run failed: $(grep -m1 -E 'ERROR|FATAL' "$TMP/stderr" || true)"
	runs=$(paste -sd/ "$TMP/qps")
	qps=$(median <"$TMP/qps" || echo 0)
	ms=$(awk -v q="$qps" 'BEGIN { printf "%.3f", (q > 0 ? 1000 / q : 0) }')
	echo "| $DATA_NAME | $EXT $INDEX_AM | $(settings_label "$2") | $mod | $k | $want | $recall |" \
		"$rows_mean | $rows_min | $short | $unord% | $warn | $ms | $(printf '%.0f' "$qps") ($runs$([ "$qps_nq" = "$NQ" ] || echo "; $qps_nq queries"))${err:+ ERROR: $err} |"
	[ "$warn" -gt 0 ] && echo "- $DATA_NAME, $EXT $INDEX_AM, $(settings_label "$2"), id % $mod, k $k:" \
		"$warn: $(sed 's/  */ /g' "$TMP/warning")" >>"$TMP/warnings_seen"
	[ -z "$TSV" ] || printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
		"$EXT" "$data" "$INDEX_AM" "$(settings_label "$2")" "$mod" "$k" "$want" "$recall" \
		"$rows_mean" "$rows_min" "$short" "$unord" "$warn" "$ms" "$qps" "$runs" "$qps_nq" >>"$TSV"
	return 0
}

HAVE=$(psql_value -c "SELECT extversion FROM pg_extension WHERE extname = '$EXT'")
[ -n "$HAVE" ] || fail "extension $EXT is not installed in database ${PGDATABASE:-(default)}"
for data in $DATA; do set_data "$data"; done

echo "# complete answers benchmark: database ${PGDATABASE:-(default)}, $EXT $HAVE"
echo
echo "$(psql_value -c "SELECT current_setting('server_version')"), $(nproc) cores" \
	"($(lscpu 2>/dev/null | sed -n 's/^Model name: *//p'), $(grep -qw avx512f /proc/cpuinfo && echo AVX-512 || echo no AVX-512))," \
	"shared_buffers = $(psql_value -c "SHOW shared_buffers"); $NQ queries;" \
	"QPS: $([ "$QPS_MODE" = sql ] && echo "all queries in one SQL statement" ||
		echo "pgbench -M $PROTOCOL -T $SECONDS_PER_RUN, 1 client"), median of $RUNS runs;" \
	"${EXTRA_SETTINGS:+extra settings: $EXTRA_SETTINGS; }$(date -u '+%Y-%m-%d %H:%M UTC')"

: >"$TMP/warnings_seen"
for data in $DATA; do
	set_data "$data"
	if [ "$data" = fmnist ]; then
		[ -n "$(psql_value -c "SELECT to_regclass('fmnist_train')")" ] ||
			fail "fmnist_train is missing: run load_fmnist.sh $EXT first"
		have=$(psql_value -c "SELECT count(*) FROM fmnist_test WHERE id <= $NQ")
		[ "$have" -eq "$NQ" ] || fail "fmnist_test has $have of the $NQ queries: FMNIST_QUERIES=$NQ load_fmnist.sh"
		DATA_NAME=fmnist
	else
		make_random
		DATA_NAME=random
	fi
	make_truth "$data"
	echo
	echo "## $data: $BASE ($(psql_value -c "SELECT count(*) FROM $BASE") x $DIM), checksum $(checksum)"
	echo
	for am in $INDEXES; do
		INDEX_AM=$am
		echo "| data | index | WITH | build (s) | size |"
		echo "|---|---|---|---:|---:|"
		build_index "$am"
		echo
		echo "| data | index | settings | id % | k | want | recall | rows mean | rows min | short | unordered | warnings | ms/query | QPS (runs) |"
		echo "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
		while read -r settings; do
			for mod in $FILTERS; do
				for k in $K_LIST; do
					measure "$data" "$settings" "$mod" "$k"
				done
			done
		done < <(settings_of "$am")
		echo
	done
	if [ "$EXACT" = 1 ]; then
		INDEX_AM=exact
		echo "| data | index | settings | id % | k | want | recall | rows mean | rows min | short | unordered | warnings | ms/query | QPS (runs) |"
		echo "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
		for mod in $FILTERS; do
			for k in $K_LIST; do
				measure "$data" "sequential scan" "$mod" "$k"
			done
		done
		echo
	fi
done
if [ -s "$TMP/warnings_seen" ]; then
	echo "WARNINGs (per measurement: how many, and the first):"
	echo
	cat "$TMP/warnings_seen"
fi
