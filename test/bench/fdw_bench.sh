#!/bin/bash
# test/bench/fdw_bench.sh: what a postgres_fdw coordinator costs, against
# one node holding every row (README "Sharding with postgres_fdw").
#
# As root on Debian 12 (or as a user who may run initdb), with ann
# installed in ANN_PG_BIN's installation (default Debian's).  Starts five
# throwaway clusters on 127.0.0.1 in a temporary directory: a coordinator
# whose table items is partitioned by hash on id into three postgres_fdw
# foreign tables (servers with extensions 'ann' and async_capable), three
# shards holding them, and a single node holding all rows; BENCH_ROWS rows
# of BENCH_DIMS dimensions (a seeded mixture of 20 clusters, cat = id % 10)
# and an index USING BENCH_INDEX (v vector_l2_ops, cat) on the shards and
# the single node, at their default settings.  Then, for the query
# (200 query vectors, one drawn per transaction)
#
#   SELECT id FROM items [WHERE cat = :cat] ORDER BY v <-> q LIMIT 10
#
# pgbench -M prepared for BENCH_SECONDS with each of BENCH_CLIENTS
# clients against
#
#   single        the single node
#   shard         one shard alone (a third of the rows): what one shard's
#                 part of a coordinator query costs
#   coordinator   the partitioned table (postgres_fdw's fetch_size 100)
#   fetch_size 10 the same with fetch_size 10 on the servers
#   per shard     a UNION ALL of one LIMIT 10 subquery per partition,
#                 merged on the coordinator (the LIMIT reaches the
#                 shards, which are asked at once)
#
# and prints a markdown table: queries per second, mean latency, and the
# index scans the shards (or the single node) ran per query, counted in
# pg_stat_user_indexes.  Before that it prints recall@10 of the unfiltered
# query (200 queries, against an exact scan of the single node) for the
# single node and the coordinator.  Every server runs on this machine, so
# the numbers measure the coordinator's overhead, not what more machines
# would gain.  KEEP_TMP=1 keeps the clusters' directory.
set -euo pipefail

cd "$(dirname "$0")/../.."
. test/lib.sh
ROWS=${BENCH_ROWS:-100000}
DIMS=${BENCH_DIMS:-32}
INDEX=${BENCH_INDEX:-hnsw}
SECONDS_PER_RUN=${BENCH_SECONDS:-10}
CLIENTS=${BENCH_CLIENTS:-1 4}
QUERIES=200

TMP=$(mktemp -d /tmp/ann-fdw-bench.XXXXXX)
chmod 755 "$TMP"
[ "$(id -u)" = 0 ] && chown postgres: "$TMP"
BASE=$((40000 + RANDOM % 20000))
NAMES=(coordinator shard1 shard2 shard3 single)
declare -A PORT
cleanup() {
	for name in "${NAMES[@]}"; do stop_cluster "$TMP/$name"; done
	if [ "${KEEP_TMP:-0}" = 1 ]; then echo "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT

for i in "${!NAMES[@]}"; do
	name=${NAMES[$i]}
	PORT[$name]=$((BASE + i))
	"${AS_PG[@]}" initdb -D "$TMP/$name/data" -U postgres --no-sync >/dev/null 2>&1
	"${AS_PG[@]}" pg_ctl -D "$TMP/$name/data" -l "$TMP/$name/server.log" -w \
		-o "-p ${PORT[$name]} -k $TMP -c listen_addresses=127.0.0.1 -c autovacuum=off -c max_parallel_workers_per_gather=0" \
		start >/dev/null
done

# psql NAME ARGS: psql on cluster NAME
on() {
	local name=$1
	shift
	psql -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "${PORT[$name]}" -U postgres -d postgres "$@"
}

TABLE="items (id int, cat int, v vector($DIMS))"
for name in shard1 shard2 shard3 single; do
	on "$name" -c "CREATE EXTENSION ann; CREATE TABLE $TABLE; ALTER TABLE items ADD PRIMARY KEY (id)"
done
on coordinator <<EOF
CREATE EXTENSION ann;
CREATE EXTENSION postgres_fdw;
CREATE TABLE $TABLE PARTITION BY HASH (id);
CREATE SERVER shard1 FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host '127.0.0.1', port '${PORT[shard1]}',
	dbname 'postgres', extensions 'ann', async_capable 'true', batch_size '1000');
CREATE SERVER shard2 FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host '127.0.0.1', port '${PORT[shard2]}',
	dbname 'postgres', extensions 'ann', async_capable 'true', batch_size '1000');
CREATE SERVER shard3 FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host '127.0.0.1', port '${PORT[shard3]}',
	dbname 'postgres', extensions 'ann', async_capable 'true', batch_size '1000');
CREATE USER MAPPING FOR postgres SERVER shard1 OPTIONS (user 'postgres');
CREATE USER MAPPING FOR postgres SERVER shard2 OPTIONS (user 'postgres');
CREATE USER MAPPING FOR postgres SERVER shard3 OPTIONS (user 'postgres');
CREATE FOREIGN TABLE items_1 PARTITION OF items FOR VALUES WITH (MODULUS 3, REMAINDER 0) SERVER shard1 OPTIONS (table_name 'items');
CREATE FOREIGN TABLE items_2 PARTITION OF items FOR VALUES WITH (MODULUS 3, REMAINDER 1) SERVER shard2 OPTIONS (table_name 'items');
CREATE FOREIGN TABLE items_3 PARTITION OF items FOR VALUES WITH (MODULUS 3, REMAINDER 2) SERVER shard3 OPTIONS (table_name 'items');
-- the data: 20 cluster centres uniform in [-1, 1], each row one of them
-- plus uniform noise of width 0.6, from a seeded random()
SELECT setseed(0.42);
CREATE TABLE centres AS SELECT k, array_agg((random() * 2 - 1)::real ORDER BY j) AS c
	FROM generate_series(0, 19) k, generate_series(1, $DIMS) j GROUP BY k ORDER BY k;
CREATE TABLE src AS SELECT i AS id, i % 10 AS cat,
	(SELECT array_agg((c[j] + 0.6 * (random() - 0.5))::real ORDER BY j) FROM generate_series(1, $DIMS) j)::vector($DIMS) AS v
	FROM generate_series(1, $ROWS + $QUERIES) i JOIN centres ON k = i % 20 ORDER BY i;
CREATE TABLE queries AS SELECT id - $ROWS AS qid, v AS q FROM src WHERE id > $ROWS;
DELETE FROM src WHERE id > $ROWS;
INSERT INTO items SELECT * FROM src;
EOF
on coordinator -c "COPY src TO STDOUT" | on single -c "COPY items FROM STDIN"
on coordinator -c "COPY queries TO STDOUT" >"$TMP/queries.copy"
for name in shard1 single; do
	on "$name" -c "CREATE TABLE queries (qid int, q vector($DIMS))"
	on "$name" -c "COPY queries FROM STDIN" <"$TMP/queries.copy"
done
for name in shard1 shard2 shard3 single; do
	start=$(date +%s.%N)
	on "$name" -c "SET maintenance_work_mem = '512MB';
		CREATE INDEX items_v_idx ON items USING $INDEX (v vector_l2_ops, cat); ANALYZE items"
	echo "$name: $(on "$name" -c 'SELECT count(*) FROM items') rows, index built in" \
		"$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s"
done
on coordinator -c "ANALYZE items"

# recall@10 of the unfiltered query against the single node's exact scan
on single -c "SET enable_indexscan = off; CREATE TABLE truth AS SELECT qid, t.id FROM queries,
	LATERAL (SELECT id FROM items ORDER BY v <-> q LIMIT 10) t"
on coordinator -c "CREATE TABLE truth (qid int, id int)"
on single -c "COPY truth TO STDOUT" | on coordinator -c "COPY truth FROM STDIN"
RECALL="SELECT round(count(truth.id)::numeric / (10 * $QUERIES), 4) FROM queries
	CROSS JOIN LATERAL (SELECT id FROM items ORDER BY v <-> q LIMIT 10) t LEFT JOIN truth ON truth.qid = queries.qid AND truth.id = t.id"
echo
echo "recall@10, no filter: single $(on single -c "$RECALL"), coordinator $(on coordinator -c "$RECALL")"

# The pgbench scripts: knn.sql (no filter) and knn_cat.sql (cat = random)
Q="(SELECT q FROM queries WHERE qid = :qid)"
write_scripts() {
	local dir=$1 from=$2
	printf '\\set qid random(1, %d)\nSELECT id FROM %s ORDER BY v <-> %s LIMIT 10;\n' \
		"$QUERIES" "$from" "$Q" >"$dir/knn.sql"
	printf '\\set qid random(1, %d)\n\\set cat random(0, 9)\nSELECT id FROM %s WHERE cat = :cat ORDER BY v <-> %s LIMIT 10;\n' \
		"$QUERIES" "$from" "$Q" >"$dir/knn_cat.sql"
}
mkdir -p "$TMP/plain" "$TMP/pershard"
write_scripts "$TMP/plain" items
union=
for i in 1 2 3; do
	union="$union${union:+ UNION ALL }(SELECT id, v <-> $Q AS d FROM items_$i WHERE_CAT ORDER BY v <-> $Q LIMIT 10)"
done
printf '\\set qid random(1, %d)\nWITH s AS MATERIALIZED (%s) SELECT id FROM s ORDER BY d LIMIT 10;\n' \
	"$QUERIES" "${union//WHERE_CAT /}" >"$TMP/pershard/knn.sql"
printf '\\set qid random(1, %d)\n\\set cat random(0, 9)\nWITH s AS MATERIALIZED (%s) SELECT id FROM s ORDER BY d LIMIT 10;\n' \
	"$QUERIES" "${union//WHERE_CAT/WHERE cat = :cat}" >"$TMP/pershard/knn_cat.sql"

# index scans of the ann indexes of NAMEs so far
index_scans() {
	local total=0 name
	for name in "$@"; do
		total=$((total + $(on "$name" -c "SELECT coalesce(sum(idx_scan), 0)
			FROM pg_stat_user_indexes WHERE indexrelname = 'items_v_idx'" )))
	done
	echo "$total"
}

# bench LABEL NAME DIR INDEXED...: pgbench on cluster NAME with the scripts
# of DIR; counts the index scans on the clusters INDEXED
bench() {
	local label=$1 name=$2 dir=$3 script clients out before after tps lat txns
	shift 3
	for script in knn knn_cat; do
		for clients in $CLIENTS; do
			before=$(index_scans "$@")
			out=$(pgbench -n -M prepared -c "$clients" -j "$clients" -T "$SECONDS_PER_RUN" -f "$dir/$script.sql" \
				-h 127.0.0.1 -p "${PORT[$name]}" -U postgres postgres 2>&1) || { echo "$out" >&2; exit 1; }
			sleep 1 # the shards' sessions end and report their statistics
			after=$(index_scans "$@")
			tps=$(echo "$out" | sed -n 's/^tps = \([0-9.]*\) .*/\1/p')
			lat=$(echo "$out" | sed -n 's/^latency average = \([0-9.]*\) ms/\1/p')
			txns=$(echo "$out" | sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p')
			printf '| %s | %s | %d | %.0f | %.2f | %.2f |\n' "$label" \
				"$([ $script = knn ] && echo none || echo 'cat = x (10%)')" "$clients" "$tps" "$lat" \
				"$(awk -v a="$after" -v b="$before" -v n="$txns" 'BEGIN { print (a - b) / n }')"
		done
	done
}

echo
echo "$ROWS rows, $DIMS dimensions, $INDEX (v, cat) at its defaults, pgbench -M prepared -T $SECONDS_PER_RUN"
echo
echo "| target | filter | clients | QPS | latency ms | index scans / query |"
echo "| --- | --- | --- | --- | --- | --- |"
bench single single "$TMP/plain" single
bench "one shard alone" shard1 "$TMP/plain" shard1
bench coordinator coordinator "$TMP/plain" shard1 shard2 shard3
on coordinator -c "ALTER SERVER shard1 OPTIONS (ADD fetch_size '10'); ALTER SERVER shard2 OPTIONS (ADD fetch_size '10');
	ALTER SERVER shard3 OPTIONS (ADD fetch_size '10')"
bench "coordinator, fetch_size 10" coordinator "$TMP/plain" shard1 shard2 shard3
on coordinator -c "ALTER SERVER shard1 OPTIONS (DROP fetch_size); ALTER SERVER shard2 OPTIONS (DROP fetch_size);
	ALTER SERVER shard3 OPTIONS (DROP fetch_size)"
bench "coordinator, per shard" coordinator "$TMP/pershard" shard1 shard2 shard3
