#!/bin/bash
# test/bench/filter_bench.sh: recall and QPS of filtered nearest-neighbour
# search (WHERE column = value ORDER BY embedding <-> query LIMIT 10) on
# Fashion-MNIST, L2.
#
#   filter_bench.sh [KIND...]      KIND: own, random, bucket, rare (default: all)
#
# Runs against the database that PGHOST, PGPORT, PGDATABASE and PGUSER name,
# loaded by load_fmnist.sh with either extension (ann or pgvector's vector).
# Each kind filters the training rows by a value derived from the test query
# q (q.id runs from 1 to the number of queries):
#
#   own      label = q.label                        10%, the query's own class
#                                                   (correlated: easy)
#   random   label = (q.label + 1 + q.id % 9) % 10  10%, another class
#                                                   (anti-correlated: hard)
#   bucket   bucket = q.id % 100                    1%, bucket = id % 100
#   rare     rare = q.id % 1000                     0.1%, rare = id % 1000
#
# The script
#
#   - adds bucket and rare to fmnist_train if they are missing, as stored
#     generated columns (one table rewrite, which rebuilds the indexes; an
#     UPDATE would instead add 60,000 new row versions to every vector index
#     and leave as many dead ones for VACUUM);
#   - computes once the exact filtered 10 nearest neighbours of every query
#     and kind, by sequential scan, into fmnist_filter_truth(kind, qid, rank,
#     id, dist), ordered by distance, then id; a later run reuses them unless
#     the number of queries changed;
#   - if BENCH_INDEX_SQL is set, runs it (say a CREATE INDEX) and prints its
#     time and the size of the vector indexes; otherwise it measures whatever
#     hnsw, spann or ivfflat index the planner picks on fmnist_train;
#   - for each kind, with enable_seqscan off (BENCH_FORCE) and the SET
#     statements of BENCH_SETTINGS: checks with EXPLAIN that the filtered
#     query scans a vector index (and notes what the planner picks with
#     enable_seqscan on: it may find a sequential scan cheaper); runs all
#     queries in one SQL statement (a LATERAL subquery per query) and
#     reports recall@10 against the filtered truth, the mean number of rows
#     a query returned, the share of queries that returned fewer than 10,
#     and the statement's time per query (server latency, no client round
#     trips); then one-client pgbench QPS (filter_query.sql, a random test
#     query and its filter value per transaction), with the median and 99th
#     percentile latency of its transactions (pgbench -l) in the best run;
#   - for the kinds in BENCH_EXACT, measures the same with index scans
#     disabled (a sequential scan and a top-N sort), the exact baseline.
#
# A returned row counts as a hit if it passes the filter and is no farther
# than the true 10th neighbour, so that a tie at rank 10 is not a miss.
# Every query runs without parallel workers, so one client uses one core,
# and without JIT, which would compile each pgbench query anew whenever an
# index's cost estimate exceeds jit_above_cost.  The script prints a
# markdown table.
#
# Environment (defaults): BENCH_SETTINGS (none; SET statements separated by
# semicolons, such as "SET hnsw.iterative_scan = relaxed_order; SET
# hnsw.ef_search = 40", applied to every query, and passed to pgbench through
# PGOPTIONS), BENCH_EXACT ("own bucket"; "" skips the baseline), BENCH_FORCE
# (1; 0 leaves enable_seqscan on, and then a kind fails if the planner picks
# no vector index), BENCH_INDEX_SQL (none), BENCH_SECONDS (10, pgbench -T),
# BENCH_RUNS (1; times and QPS are the best of this many runs),
# BENCH_PROTOCOL (prepared, pgbench -M), BENCH_MWM (2GB, maintenance_work_mem
# for BENCH_INDEX_SQL and for the index rebuild when the columns are added).
set -euo pipefail
shopt -s inherit_errexit # a failure inside $(...) stops the script too

SETTINGS=${BENCH_SETTINGS:-}
EXACT=${BENCH_EXACT-own bucket}
INDEX_SQL=${BENCH_INDEX_SQL:-}
SECONDS_PER_RUN=${BENCH_SECONDS:-10}
RUNS=${BENCH_RUNS:-1}
PROTOCOL=${BENCH_PROTOCOL:-prepared}
MWM=${BENCH_MWM:-2GB}
BENCH=$(cd "$(dirname "$0")" && pwd)
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
export PATH="$($PG_CONFIG --bindir):$PATH"
KINDS=("$@")
[ ${#KINDS[@]} -eq 0 ] && KINDS=(own random bucket rare)

# The settings of every query (see above)
BASE_SETTINGS="SET max_parallel_workers_per_gather = 0; SET jit = off"
# The settings of exact search: no index can be used
EXACT_SETTINGS="SET enable_indexscan = off; SET enable_indexonlyscan = off; SET enable_bitmapscan = off"
# The settings added to BENCH_SETTINGS for the index: measure the index even
# where the planner thinks a sequential scan cheaper
FORCE_SETTINGS="SET enable_seqscan = off"
[ "${BENCH_FORCE:-1}" = 1 ] || FORCE_SETTINGS=

TMP=$(mktemp -d /tmp/filter_bench.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

psql_q() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }
psql_value() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
fail() { echo "filter_bench: $*" >&2; exit 1; }

# The filter of kind $1: FILTER_COLUMN of fmnist_train must equal
# FILTER_VALUE, an expression over the test query q; FILTER_NAME describes it
set_kind() {
	KIND=$1
	case $1 in
		own) FILTER_COLUMN=label FILTER_VALUE='q.label'
			FILTER_NAME='own: label, own class (10%)' ;;
		random) FILTER_COLUMN=label FILTER_VALUE='(q.label + 1 + q.id % 9) % 10'
			FILTER_NAME='random: label, other class (10%)' ;;
		bucket) FILTER_COLUMN=bucket FILTER_VALUE='q.id % 100'
			FILTER_NAME='bucket (1%)' ;;
		rare) FILTER_COLUMN=rare FILTER_VALUE='q.id % 1000'
			FILTER_NAME='rare (0.1%)' ;;
		*) fail "unknown kind \"$1\" (own, random, bucket or rare)" ;;
	esac
}

# Print the statements of the SET list $1 one per line as "name<TAB>value",
# the value unquoted; fail on anything but SET name = value (or TO value)
parse_settings() {
	local stmt re="^[[:space:]]*[Ss][Ee][Tt][[:space:]]+([A-Za-z_][A-Za-z0-9_.]*)[[:space:]]*(=|[Tt][Oo][[:space:]])[[:space:]]*(.*[^[:space:]])[[:space:]]*$"
	local IFS=';'
	for stmt in $1; do
		[[ $stmt =~ ^[[:space:]]*$ ]] && continue
		[[ $stmt =~ $re ]] || fail "BENCH_SETTINGS: not a SET statement: \"$stmt\""
		printf '%s\t%s\n' "${BASH_REMATCH[1]}" "$(sed "s/^'\(.*\)'$/\1/" <<<"${BASH_REMATCH[3]}")"
	done
}

# The SET list $1 for the settings column of the table: "a = 1, b = 2"
settings_label() {
	local label
	label=$(parse_settings "$1" | awk -F '\t' '{ printf "%s%s = %s", (NR > 1 ? ", " : ""), $1, $2 }')
	echo "${label:-defaults}"
}

# The SET list $1 as libpq options for PGOPTIONS: "-c a=1 -c b=2" (a space
# inside a value is escaped with a backslash, as libpq wants)
settings_options() {
	parse_settings "$1" | awk -F '\t' '{ gsub(/ /, "\\ ", $2); printf " -c %s=%s", $1, $2 }'
}

# Add bucket = id % 100 and rare = id % 1000 to fmnist_train unless they are
# there; fail if they are there with other values
add_columns() {
	local have bad
	have=$(psql_value -c "SELECT count(*) FROM pg_attribute WHERE attrelid = 'fmnist_train'::regclass
		AND attname IN ('bucket', 'rare') AND NOT attisdropped")
	if [ "$have" -lt 2 ]; then
		echo "adding bucket and rare to fmnist_train (rewrites the table and its indexes) ..." >&2
		psql_q <<SQL
SET maintenance_work_mem = '$MWM';
ALTER TABLE fmnist_train
	ADD COLUMN IF NOT EXISTS bucket int GENERATED ALWAYS AS (id % 100) STORED,
	ADD COLUMN IF NOT EXISTS rare int GENERATED ALWAYS AS (id % 1000) STORED;
VACUUM ANALYZE fmnist_train;
SQL
	fi
	bad=$(psql_value -c "SELECT count(*) FROM fmnist_train
		WHERE bucket IS DISTINCT FROM id % 100 OR rare IS DISTINCT FROM id % 1000")
	[ "$bad" -eq 0 ] || fail "fmnist_train has $bad rows where bucket <> id % 100 or rare <> id % 1000"
}

# Compute the exact filtered top 10 of every query for the current kind,
# unless fmnist_filter_truth already holds them
make_truth() {
	local have
	psql_q -c "SET client_min_messages = warning" \
		-c "CREATE TABLE IF NOT EXISTS fmnist_filter_truth
			(kind text, qid int, rank int, id int, dist float8, PRIMARY KEY (kind, qid, rank))"
	have=$(psql_value -c "SELECT count(*) FROM fmnist_filter_truth WHERE kind = '$KIND'")
	[ "$have" -eq $((NQUERIES * 10)) ] && return 0
	echo "computing the exact filtered neighbours of kind $KIND (sequential scans) ..." >&2
	psql_q <<SQL
$BASE_SETTINGS;
$EXACT_SETTINGS;
BEGIN;
DELETE FROM fmnist_filter_truth WHERE kind = '$KIND';
INSERT INTO fmnist_filter_truth (kind, qid, rank, id, dist)
SELECT '$KIND', q.id, n.rank, n.id, n.dist
FROM fmnist_test q
CROSS JOIN LATERAL (
	SELECT id, dist, row_number() OVER (ORDER BY dist, id) AS rank
	FROM (SELECT id, embedding <-> q.embedding AS dist
		FROM fmnist_train
		WHERE $FILTER_COLUMN = $FILTER_VALUE
		ORDER BY dist, id LIMIT 10) s) n;
COMMIT;
ANALYZE fmnist_filter_truth;
SQL
	have=$(psql_value -c "SELECT count(*) FROM fmnist_filter_truth WHERE kind = '$KIND'")
	[ "$have" -eq $((NQUERIES * 10)) ] ||
		fail "kind $KIND: $have exact neighbours for $NQUERIES queries, not 10 each"
}

# Run the statements of BENCH_INDEX_SQL and print their total time
build_index() {
	echo "running BENCH_INDEX_SQL ..." >&2
	psql_q >"$TMP/build.out" 2>&1 <<SQL || { cat "$TMP/build.out" >&2; fail "BENCH_INDEX_SQL failed"; }
SET maintenance_work_mem = '$MWM';
\timing on
$INDEX_SQL
SQL
	echo "BENCH_INDEX_SQL: $(awk '/^Time: / { t += $2 } END { printf "%.1f", t / 1000 }' \
		"$TMP/build.out") s"
	echo
}

# The recall statement of the current kind: one LATERAL search per query.
# It returns recall@10, the mean rows per query, the percentage of queries
# with fewer than 10 rows, and the number of queries.
recall_sql() {
	cat <<SQL
WITH res AS MATERIALIZED (
	SELECT q.id AS qid, $FILTER_VALUE AS want, n.id, n.got, n.dist
	FROM fmnist_test q
	LEFT JOIN LATERAL (
		SELECT id, $FILTER_COLUMN AS got, embedding <-> q.embedding AS dist
		FROM fmnist_train
		WHERE $FILTER_COLUMN = $FILTER_VALUE
		ORDER BY embedding <-> q.embedding LIMIT 10) n ON true
), per_query AS (
	SELECT r.qid, count(r.id) AS nrows,
		count(DISTINCT r.id) FILTER (WHERE r.got = r.want AND r.dist <= k.dist) AS hits
	FROM res r
	JOIN fmnist_filter_truth k ON k.kind = '$KIND' AND k.qid = r.qid AND k.rank = 10
	GROUP BY r.qid
)
SELECT round(sum(hits) / (10.0 * count(*)), 4), round(avg(nrows), 2),
	round(100.0 * avg((nrows < 10)::int), 1), count(*)
FROM per_query
SQL
}

# The pgbench script of the current kind, in $TMP
write_pgbench_script() {
	sed "s/FILTER_COLUMN/$FILTER_COLUMN/; s/FILTER_VALUE/$FILTER_VALUE/" \
		"$BENCH/filter_query.sql" >"$TMP/query_$KIND.sql"
}

# The pgbench query of the current kind, runnable by psql (for qid 1)
pgbench_query() {
	grep -v '^[-\\]' "$TMP/query_$KIND.sql" | sed 's/:qid/1/g'
}

# How the plan of the SQL $2 under the SET list $1 scans fmnist_train:
# "Seq Scan", "Index Scan using <index>", ...
scan_of() {
	psql_value -c "$BASE_SETTINGS; $1" -c "EXPLAIN (COSTS OFF) $2" |
		sed -En 's/^[[:space:]]*(->[[:space:]]*)?(.*) on fmnist_train( .*)?$/\2/p' | head -1
}

# Fail unless, under the SET list $1, both the recall statement and the
# pgbench query of the current kind scan fmnist_train with a vector index
# ($2 = index; print its name) or without an index ($2 = exact)
check_plans() {
	local sql scan used=
	for sql in "$(recall_sql)" "$(pgbench_query)"; do
		scan=$(scan_of "$1" "$sql")
		case $2:$scan in
			exact:"Seq Scan") continue ;;
			index:"Index Scan using "*)
				used=${scan#Index Scan using }
				grep -qx "$used" "$TMP/ann_indexes" && continue ;;
		esac
		fail "kind $KIND, $2 search: the plan scans fmnist_train by \"${scan:-?}\"," \
			"not by $([ "$2" = exact ] && echo "a sequential scan" || echo "a vector index")"
	done
	echo "$used"
}

# recall, rows, short and ms per query of the current kind with the SET list
# $1, the best time of RUNS runs: "recall | rows | short% | ms"
recall_at() {
	local run sql
	sql=$(recall_sql)
	for run in $(seq "$RUNS"); do
		psql_value -c "$BASE_SETTINGS; $1" -c '\timing on' -c "$sql"
	done | awk -v n="$NQUERIES" '
		/^Time: / { if (ms == "" || $2 < ms) ms = $2; next }
		r == "" { split($0, f, "|"); r = f[1]; rows = f[2]; short = f[3]; nq = f[4] }
		END {
			if (nq != n)
				printf "filter_bench: the recall statement covered %d of %d queries\n",
					nq, n > "/dev/stderr"
			printf "%s | %s | %s%% | %.3f", r, rows, short, ms / n
		}'
}

# pgbench QPS of the current kind with the SET list $1, the best of RUNS
# runs, and that run's median and 99th percentile latency: "QPS | p50 / p99"
qps_at() {
	local run opts
	opts=$(settings_options "$BASE_SETTINGS; $1")
	for run in $(seq "$RUNS"); do
		rm -f "$TMP"/log.*
		(cd "$TMP" && PGOPTIONS="${PGOPTIONS:-} $opts" pgbench -n -M "$PROTOCOL" -f "query_$KIND.sql" \
			-D nqueries="$NQUERIES" -T "$SECONDS_PER_RUN" -l --log-prefix=log >pgbench.out 2>&1) ||
			{ cat "$TMP/pgbench.out" >&2; fail "pgbench failed"; }
		printf '%s ' "$(awk '/^tps = / { print $3 }' "$TMP/pgbench.out")"
		cat "$TMP"/log.* | awk '{ print $3 / 1000 }' | sort -g | awk '
			{ t[NR] = $1 }
			END { printf "%.2f %.2f\n", t[int(NR * 0.5) + 1], t[int(NR * 0.99) + 1] }'
	done | sort -g | tail -1 | awk '{ printf "%.0f | %s / %s", $1, $2, $3 }'
}

# One table row for the current kind: $1 = index or exact.  For index, also
# note which index was scanned, and how the planner would scan without FORCE.
measure() {
	local settings label used recall qps
	label=$(settings_label "$SETTINGS")
	case $1 in
		exact) settings=$EXACT_SETTINGS label="exact (no index)" ;;
		index) settings="$FORCE_SETTINGS; $SETTINGS" ;;
	esac
	echo "measuring $KIND, $label ..." >&2
	used=$(check_plans "$settings" "$1")
	recall=$(recall_at "$settings")
	qps=$(qps_at "$settings")
	echo "| $FILTER_NAME | $label | $recall | $qps |"
	[ "$1" = exact ] ||
		echo "$KIND: $used (left to itself the planner picks $(scan_of "$SETTINGS" "$(pgbench_query)"))" \
			>>"$TMP/index_used"
}

NQUERIES=$(psql_value -c "SELECT count(*) FROM fmnist_test")
[ "$NQUERIES" -gt 0 ] || fail "fmnist_test is empty: run load_fmnist.sh first"
EXTENSION=$(psql_value -c "SELECT string_agg(extname || ' ' || extversion, ', ')
	FROM pg_extension WHERE extname IN ('ann', 'vector')")
[ -n "$EXTENSION" ] || fail "neither ann nor vector is installed in this database"
for kind in "${KINDS[@]}" $EXACT; do set_kind "$kind"; done
settings_label "$SETTINGS" >/dev/null # fail early on a bad BENCH_SETTINGS

echo "# Filtered search benchmark: Fashion-MNIST, database ${PGDATABASE:-(default)}, extension $EXTENSION"
echo
add_columns
for kind in "${KINDS[@]}" $EXACT; do
	set_kind "$kind"
	make_truth
done
[ -z "$INDEX_SQL" ] || build_index

psql_value -c "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
	JOIN pg_am a ON a.oid = c.relam
	WHERE i.indrelid = 'fmnist_train'::regclass AND a.amname IN ('hnsw', 'spann', 'ivfflat')" \
	>"$TMP/ann_indexes"
[ -s "$TMP/ann_indexes" ] || fail "fmnist_train has no hnsw, spann or ivfflat index (see BENCH_INDEX_SQL)"
echo "$(psql_value -c "SELECT current_setting('server_version')") on $(nproc) cores;" \
	"$(psql_value -c "SELECT count(*) FROM fmnist_train") vectors of 784 dims, $NQUERIES queries, L2;" \
	"shared_buffers = $(psql_value -c "SHOW shared_buffers");" \
	"best of $RUNS run(s); pgbench -M $PROTOCOL -T $SECONDS_PER_RUN, 1 client. Vector indexes:"
echo
psql_value -c "SELECT '- ' || pg_get_indexdef(c.oid) || ': '
		|| pg_size_pretty(pg_relation_size(c.oid))
	FROM pg_class c WHERE c.relname IN ($(sed "s/.*/'&'/" "$TMP/ann_indexes" | paste -sd,))
	ORDER BY 1"

echo
echo "| filter | settings | recall@10 | mean rows of 10 | queries short | ms/query | QPS | p50 / p99 ms |"
echo "|---|---|---:|---:|---:|---:|---:|---:|"
: >"$TMP/index_used"
for kind in "${KINDS[@]}"; do
	set_kind "$kind"
	write_pgbench_script
	measure index
done
for kind in $EXACT; do
	set_kind "$kind"
	write_pgbench_script
	measure exact
done
echo
echo "Index rows: ${FORCE_SETTINGS:-no SET} before BENCH_SETTINGS. Index scanned, per kind:"
echo
sed 's/^/- /' "$TMP/index_used"
