#!/bin/bash
# test/bench/load_fmnist.sh: load Fashion-MNIST for the HNSW benchmark.
#
#   load_fmnist.sh [EXTENSION]
#
# Creates EXTENSION (ann, the default, or vector for pgvector) in the
# database that the usual libpq variables name (PGHOST, PGPORT, PGDATABASE,
# PGUSER), then (re)creates and fills
#
#   fmnist_train(id, label, embedding vector(784))   the 60,000 training images
#   fmnist_test(id, label, embedding vector(784))    the first FMNIST_QUERIES test images
#   fmnist_truth_l2(qid, rank, id)                   their FMNIST_K exact nearest
#   fmnist_truth_cos(qid, rank, id)                  neighbours by L2 and by cosine
#
# and vacuums and analyzes them.  Ids count from 1; rank 1 is the nearest.
# The rows come from test/bench/fmnist (built here if missing), piped into
# COPY; see fmnist.c for the formats and how the neighbours are found.
#
# Environment: FMNIST_QUERIES (default 1000), FMNIST_K (default 10),
# FMNIST_DIR (where the .gz files are; see fmnist.c).
set -euo pipefail

EXT=${1:-ann}
QUERIES=${FMNIST_QUERIES:-1000}
K=${FMNIST_K:-10}
BENCH=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$BENCH/../.." && pwd)
FMNIST=$BENCH/fmnist
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
export PATH="$($PG_CONFIG --bindir):$PATH"

case $EXT in
	ann | vector) ;;
	*) echo "usage: $0 [ann|vector]" >&2; exit 2 ;;
esac

if [ ! -x "$FMNIST" ] || [ "$FMNIST.c" -nt "$FMNIST" ]; then
	make -s -C "$ROOT" PG_CONFIG="$PG_CONFIG" test/bench/fmnist
fi

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

# copy_in TABLE FORMAT FMNIST-ARGS...: pipe a COPY stream from fmnist into TABLE
copy_in() {
	local table=$1 format=$2
	shift 2
	"$FMNIST" "$@" | psql_q -c "COPY $table FROM STDIN WITH (FORMAT $format)"
}

echo "loading Fashion-MNIST into database ${PGDATABASE:-(default)} with extension $EXT:" \
	"$QUERIES queries, $K neighbours each" >&2

step "schema" psql_q <<SQL
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS $EXT;
DROP TABLE IF EXISTS fmnist_train, fmnist_test, fmnist_truth_l2, fmnist_truth_cos;
CREATE TABLE fmnist_train (id int PRIMARY KEY, label int, embedding vector(784));
CREATE TABLE fmnist_test (id int PRIMARY KEY, label int, embedding vector(784));
CREATE TABLE fmnist_truth_l2 (qid int, rank int, id int, PRIMARY KEY (qid, rank));
CREATE TABLE fmnist_truth_cos (qid int, rank int, id int, PRIMARY KEY (qid, rank));
SQL
step "fmnist_train (60000 rows)" copy_in fmnist_train binary train
step "fmnist_test ($QUERIES rows)" copy_in fmnist_test binary test "$QUERIES"
step "fmnist_truth_l2 ($QUERIES x $K, exact)" copy_in fmnist_truth_l2 text truth "$QUERIES" "$K" l2
step "fmnist_truth_cos ($QUERIES x $K, exact)" copy_in fmnist_truth_cos text truth "$QUERIES" "$K" cosine
step "vacuum analyze" psql_q -c "VACUUM (ANALYZE) fmnist_train, fmnist_test, fmnist_truth_l2, fmnist_truth_cos"

psql_q -At -c "SELECT 'loaded: ' || (SELECT count(*) FROM fmnist_train) || ' train, ' ||
	(SELECT count(*) FROM fmnist_test) || ' test, ' ||
	(SELECT count(*) FROM fmnist_truth_l2) || ' + ' ||
	(SELECT count(*) FROM fmnist_truth_cos) || ' truth rows; ' ||
	pg_size_pretty(pg_total_relation_size('fmnist_train')) || ' train table'" >&2
