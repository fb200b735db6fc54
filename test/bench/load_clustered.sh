#!/bin/bash
# test/bench/load_clustered.sh: load synthetic clustered vectors for the benchmarks.
#
#   load_clustered.sh [EXTENSION]
#
# Creates EXTENSION (ann, the default, or vector for pgvector) in the
# database that the usual libpq variables name (PGHOST, PGPORT, PGDATABASE,
# PGUSER), then (re)creates and fills
#
#   clustered_base(id, embedding vector(DIM))      CLUSTERED_N points of a Gaussian mixture
#   clustered_queries(id, embedding vector(DIM))   CLUSTERED_QUERIES more from the same mixture
#   clustered_truth(qid, rank, id)                 their CLUSTERED_K exact nearest base
#                                                  points by L2
#
# and vacuums and analyzes them.  Ids count from 1; rank 1 is the nearest.
# The rows come from test/bench/clustered (built here if missing or older
# than its source), piped into COPY; see clustered.c for the mixture, the
# formats and how the neighbours are found.  The same settings give the same
# rows on every machine.
#
# Environment: CLUSTERED_N (default 1000000), CLUSTERED_DIM (128),
# CLUSTERED_CLUSTERS (1000), CLUSTERED_SEED (42), CLUSTERED_QUERIES (1000),
# CLUSTERED_K (10), CLUSTERED_THREADS (threads for the neighbours; default
# one per CPU).
set -euo pipefail

EXT=${1:-ann}
N=${CLUSTERED_N:-1000000}
DIM=${CLUSTERED_DIM:-128}
CLUSTERS=${CLUSTERED_CLUSTERS:-1000}
SEED=${CLUSTERED_SEED:-42}
QUERIES=${CLUSTERED_QUERIES:-1000}
K=${CLUSTERED_K:-10}
BENCH=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$BENCH/../.." && pwd)
CLUSTERED=$BENCH/clustered
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
export PATH="$($PG_CONFIG --bindir):$PATH"

case $EXT in
	ann | vector) ;;
	*) echo "usage: $0 [ann|vector]" >&2; exit 2 ;;
esac

if [ ! -x "$CLUSTERED" ] || [ "$CLUSTERED.c" -nt "$CLUSTERED" ]; then
	make -s -C "$ROOT" PG_CONFIG="$PG_CONFIG" test/bench/clustered
fi

# Check DIM, CLUSTERS, SEED and K before touching the database, with tiny
# runs of the generator, whose usage explains a bad value.  N and QUERIES
# are checked when their steps start.
"$CLUSTERED" base 1 "$DIM" "$CLUSTERS" "$SEED" >/dev/null
"$CLUSTERED" truth "$K" 1 "$K" 1 1 0 >/dev/null

psql_q() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }

# step LABEL COMMAND...: run a step and print one progress line with its time
step() {
	local label=$1 start end
	shift
	printf '%-44s' "$label" >&2
	start=$(date +%s.%N)
	"$@"
	end=$(date +%s.%N)
	awk -v s="$start" -v e="$end" 'BEGIN { printf " %6.1f s\n", e - s }' >&2
}

# copy_in TABLE CLUSTERED-ARGS...: pipe a text COPY stream from clustered into TABLE
copy_in() {
	local table=$1
	shift
	"$CLUSTERED" "$@" | psql_q -c "COPY $table FROM STDIN"
}

echo "loading clustered vectors into database ${PGDATABASE:-(default)} with extension $EXT:" \
	"$N x $DIM, $CLUSTERS clusters, seed $SEED; $QUERIES queries, $K neighbours each" >&2

step "schema" psql_q <<SQL
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS $EXT;
DROP TABLE IF EXISTS clustered_base, clustered_queries, clustered_truth;
CREATE TABLE clustered_base (id int PRIMARY KEY, embedding vector($DIM));
CREATE TABLE clustered_queries (id int PRIMARY KEY, embedding vector($DIM));
CREATE TABLE clustered_truth (qid int, rank int, id int, PRIMARY KEY (qid, rank));
SQL
step "clustered_base ($N rows)" copy_in clustered_base base "$N" "$DIM" "$CLUSTERS" "$SEED"
step "clustered_queries ($QUERIES rows)" copy_in clustered_queries queries "$QUERIES" "$DIM" "$CLUSTERS" "$SEED"
step "clustered_truth ($QUERIES x $K, exact)" copy_in clustered_truth \
	truth "$N" "$QUERIES" "$K" "$DIM" "$CLUSTERS" "$SEED"
step "vacuum analyze" psql_q -c "VACUUM (ANALYZE) clustered_base, clustered_queries, clustered_truth"

psql_q -At -c "SELECT 'loaded: ' || (SELECT count(*) FROM clustered_base) || ' base, ' ||
	(SELECT count(*) FROM clustered_queries) || ' queries, ' ||
	(SELECT count(*) FROM clustered_truth) || ' truth rows; ' ||
	pg_size_pretty(pg_total_relation_size('clustered_base')) || ' base table'" >&2
