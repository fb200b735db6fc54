#!/bin/bash
# test/bench/load_scale.sh: load the synthetic embeddings of the scale
# benchmarks (issue 16) with binary COPY, and their exact neighbours.
#
#   load_scale.sh [EXTENSION]
#
# Works in the database that the usual libpq variables name (PGHOST,
# PGPORT, PGDATABASE, PGUSER).  Only the vector type is needed: if no
# extension provides it yet, EXTENSION (ann, the default, or vector for
# pgvector) is created.  Then (re)creates and fills
#
#   scale_base(id, embedding vector(DIM))      SCALE_ROWS points of a Gaussian mixture
#   scale_queries(id, embedding vector(DIM))   SCALE_QUERIES more from the same mixture
#   scale_truth(qid, rank, id, distance)       their SCALE_K exact nearest base
#                                              points by L2
#
# and vacuums and analyzes them.  Ids count from 1; rank 1 is the nearest.
# The rows come from test/bench/scale (built here if missing or older than
# its sources), piped into COPY ... (FORMAT binary); see scale.c for the
# mixture and how the neighbours are found.  The same settings give the
# same rows on every machine.
#
# SCALE_JOBS COPY commands load scale_base side by side, each one part of
# the ids (the server's side of COPY, one core per command, is the slower
# half).  With SCALE_JOBS = 1 the table is created in the transaction that
# loads it, with COPY FREEZE: no later vacuum has to mark its rows visible
# to all, and with wal_level = minimal the load writes no WAL.  The primary
# key on id is added after the load.  The neighbours are computed first,
# before the database is touched, once per setting: they are kept in
# SCALE_CACHE, and a later load with the same settings reads them back.
# test/bench/README.md ("scale data") has rates and times.
#
# Environment: SCALE_ROWS (default 1000000), SCALE_DIM (128),
# SCALE_CLUSTERS (1000), SCALE_SEED (42), SCALE_QUERIES (1000), SCALE_K
# (10), SCALE_JOBS (2), SCALE_CACHE (test/bench/out/scale), SCALE_THREADS
# (threads for the neighbours; default one per CPU).
set -euo pipefail

EXT=${1:-ann}
ROWS=${SCALE_ROWS:-1000000}
DIM=${SCALE_DIM:-128}
CLUSTERS=${SCALE_CLUSTERS:-1000}
SEED=${SCALE_SEED:-42}
QUERIES=${SCALE_QUERIES:-1000}
K=${SCALE_K:-10}
JOBS=${SCALE_JOBS:-2}
BENCH=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$BENCH/../.." && pwd)
CACHE=${SCALE_CACHE:-$BENCH/out/scale}
SCALE=$BENCH/scale
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
export PATH="$($PG_CONFIG --bindir):$PATH"

case $EXT in
	ann | vector) ;;
	*) echo "usage: $0 [ann|vector]" >&2; exit 2 ;;
esac
case $JOBS in
	[1-9] | [1-9][0-9]) ;;
	*) echo "load_scale: SCALE_JOBS must be an integer from 1 to 99, not \"$JOBS\"" >&2; exit 2 ;;
esac

make -s -C "$ROOT" PG_CONFIG="$PG_CONFIG" test/bench/scale

TMP=$(mktemp -d /tmp/load_scale.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

psql_q() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }

# step LABEL COMMAND...: run a step and print one progress line with its
# time, which it also leaves in STEP_SECONDS
step() {
	local label=$1 start
	shift
	printf '%-44s' "$label" >&2
	start=$(date +%s.%N)
	"$@"
	STEP_SECONDS=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.3f", e - s }')
	awk -v s="$STEP_SECONDS" 'BEGIN { printf " %6.1f s\n", s }' >&2
}

# load_base: COPY the base rows in one transaction that creates the table
# (FREEZE), or in JOBS parts side by side into a table made beforehand
load_base() {
	local columns="id int, embedding vector($DIM)" pids=() part
	if [ "$JOBS" -eq 1 ]; then
		"$SCALE" base "$ROWS" "$DIM" "$CLUSTERS" "$SEED" |
			psql_q -c "BEGIN" -c "CREATE TABLE scale_base ($columns)" \
				-c "COPY scale_base FROM STDIN (FORMAT binary, FREEZE)" -c "COMMIT"
		return
	fi
	psql_q -c "CREATE TABLE scale_base ($columns)"
	for part in $(seq 1 "$JOBS"); do
		"$SCALE" base "$ROWS" "$DIM" "$CLUSTERS" "$SEED" "$part" "$JOBS" |
			psql_q -c "COPY scale_base FROM STDIN (FORMAT binary)" &
		pids+=($!)
	done
	for part in "${pids[@]}"; do
		wait "$part"
	done
}

load_queries() {
	"$SCALE" queries "$QUERIES" "$DIM" "$CLUSTERS" "$SEED" |
		psql_q -c "COPY scale_queries FROM STDIN (FORMAT binary)"
}

echo "scale vectors for database ${PGDATABASE:-(default)}: $ROWS x $DIM, $CLUSTERS clusters," \
	"seed $SEED; $QUERIES queries, $K neighbours each; $JOBS COPY stream(s)" >&2

# The neighbours first: this also checks every setting but SCALE_JOBS (the
# generator's usage explains a bad value) before the database is touched.
mkdir -p "$CACHE"
"$SCALE" truth "$ROWS" "$QUERIES" "$K" "$DIM" "$CLUSTERS" "$SEED" "$CACHE" >"$TMP/truth"
if [ "$JOBS" -gt "$ROWS" ]; then
	echo "load_scale: SCALE_JOBS ($JOBS) must not exceed SCALE_ROWS ($ROWS)" >&2
	exit 2
fi

# vector_provider: the extension and version that own the vector type, if any
vector_provider() {
	psql_q -At -c "SELECT e.extname || ' ' || e.extversion FROM pg_depend d
		JOIN pg_extension e ON e.oid = d.refobjid
		WHERE d.classid = 'pg_type'::regclass AND d.objid = to_regtype('vector')
			AND d.deptype = 'e'"
}

PROVIDER=$(vector_provider)
step "schema" psql_q <<SQL
SET client_min_messages = warning;
$([ -n "$PROVIDER" ] || echo "CREATE EXTENSION $EXT;")
DROP TABLE IF EXISTS scale_base, scale_queries, scale_truth;
CREATE TABLE scale_queries (id int PRIMARY KEY, embedding vector($DIM));
CREATE TABLE scale_truth (qid int, rank int, id int, distance float8, PRIMARY KEY (qid, rank));
SQL
echo "    vector type of $(vector_provider)" >&2
step "scale_base ($ROWS rows)" load_base
awk -v n="$ROWS" -v d="$DIM" -v s="$STEP_SECONDS" 'BEGIN {
	printf "    %.0f rows/s, %.1f MB/s of vectors\n", n / s, n * 4 * d / s / 1e6 }' >&2
step "primary key" psql_q -c "ALTER TABLE scale_base ADD PRIMARY KEY (id)"
step "scale_queries ($QUERIES rows)" load_queries
step "scale_truth ($QUERIES x $K)" psql_q -c "COPY scale_truth FROM STDIN (FORMAT binary)" <"$TMP/truth"
step "vacuum analyze" psql_q -c "VACUUM (ANALYZE) scale_base, scale_queries, scale_truth"

psql_q -At -c "SELECT 'loaded: ' || (SELECT count(*) FROM scale_base) || ' base, ' ||
	(SELECT count(*) FROM scale_queries) || ' queries, ' ||
	(SELECT count(*) FROM scale_truth) || ' truth rows; base table ' ||
	pg_size_pretty(pg_table_size('scale_base')) || ', its primary key ' ||
	pg_size_pretty(pg_indexes_size('scale_base'))" >&2
