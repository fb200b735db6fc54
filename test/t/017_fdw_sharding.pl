# Sharding on postgres_fdw (the recipe of README "Sharding with
# postgres_fdw"): a coordinator whose table items is partitioned by hash
# on id into three postgres_fdw foreign tables, one on each of three shard
# clusters reached over loopback TCP; each shard has an hnsw index on
# (v, cat) and a spann index on (w, cat), and a fifth cluster holds the
# same rows in one table with the same indexes.
#
# - ORDER BY v <-> q LIMIT 10 (hnsw on the shards) and ORDER BY w <-> q
#   LIMIT 10 (spann), without a filter, with cat = 3 and with
#   cat IN (2, 7), return through the coordinator the ids and distances
#   that one node returns, with its indexes and with an exact scan.
# - With extensions 'ann' on the servers, EXPLAIN VERBOSE shows the WHERE
#   and the ORDER BY ... <-> in the Remote SQL of every shard, under a
#   Merge Append and a Limit on the coordinator: PostgreSQL 15 sends the
#   LIMIT to no shard through the Append.  It does send it in the
#   per-shard form of the query (a UNION ALL of one LIMIT subquery per
#   partition), which also runs the shards at once (Async Foreign Scan).
# - Each shard runs what it is sent (a cursor) with its index:
#   auto_explain on the shards logs the plan of the coordinator's cursor,
#   and EXPLAIN of the same DECLARE CURSOR on a shard shows the index scan
#   with the filter as its Index Cond.
# - Without extensions 'ann' only the WHERE is sent: the coordinator sorts
#   every matching row of every shard, and still answers right.
# - A shard that dies during a query (SQLSTATE 08006) or is down before
#   it (08001) fails the query with an error naming the server and no
#   rows; a query that partition pruning keeps off the down shard answers.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use AnnTest;

my $DIMS = 32;
my $CLUSTERS = 12;
my $ROWS = 3000;
my $SHARDS = 3;

# What the shards search with, given by the servers' options as a
# deployment would give its ef_search: exhaustive (about 1,000 elements a
# shard, every spann list), so that every answer is exact and the
# coordinator's can be compared row for row with one node's; sequential
# scans off because, on shards this small, planning the cursor they are
# sent (no LIMIT) prefers a sort of every row to an index that must visit
# them all; and JIT off, which the cost of a disabled sequential scan
# (without extensions 'ann', the only plan) would otherwise start.
my %SEARCH = (
	'hnsw.ef_search' => 1000,
	'spann.probes' => 65536,
	'spann.group_probes' => 0,
	enable_seqscan => 'off',
	enable_bitmapscan => 'off',
	jit => 'off',
);
my $SEARCH_OPTIONS = join ' ', map { "-c $_=$SEARCH{$_}" } sort keys %SEARCH;
my $SEARCH_SQL = join '', map { "SET $_ = $SEARCH{$_}; " } sort keys %SEARCH;
my $EXACT_SQL = 'SET enable_indexscan = off; SET enable_bitmapscan = off; ';

my %INDEX = (v => 'items_v_cat_idx', w => 'items_w_cat_idx');
my @FILTERS = (undef, 'cat = 3', 'cat IN (2, 7)');
my @QUERIES = map { "ann_test_clustered_vec($_, $DIMS, $CLUSTERS)::vector($DIMS)" } (1000001, 1000002, 1000003, 17);

my $ITEMS = "items (id int, cat int, v vector($DIMS), w vector($DIMS))";
my $LOAD = "INSERT INTO items SELECT i, i % 10, ann_test_clustered_vec(i, $DIMS, $CLUSTERS),
	ann_test_clustered_vec(i + 500000, $DIMS, $CLUSTERS) FROM generate_series(1, $ROWS) i";
my $INDEXES = "CREATE INDEX $INDEX{v} ON items USING hnsw (v vector_l2_ops, cat);
	CREATE INDEX $INDEX{w} ON items USING spann (w vector_l2_ops, cat); ANALYZE items";

my @shards;
for my $i (1 .. $SHARDS)
{
	my $shard = PostgreSQL::Test::Cluster->new("shard$i");
	$shard->init;
	$shard->append_conf('postgresql.conf', "listen_addresses = '127.0.0.1'\nautovacuum = off\n"
		  . "shared_preload_libraries = 'auto_explain'\nauto_explain.log_min_duration = 0");
	$shard->start;
	$shard->safe_psql('postgres', "CREATE EXTENSION ann; CREATE TABLE $ITEMS; ALTER TABLE items ADD PRIMARY KEY (id)");
	push @shards, $shard;
}

my $coord = PostgreSQL::Test::Cluster->new('coordinator');
$coord->init;
$coord->start;
ann_setup($coord, 'postgres');
$coord->safe_psql('postgres', "CREATE EXTENSION postgres_fdw; CREATE TABLE $ITEMS PARTITION BY HASH (id)");
for my $i (1 .. $SHARDS)
{
	my $port = $shards[ $i - 1 ]->port;
	my $remainder = $i - 1;
	$coord->safe_psql('postgres', "
		CREATE SERVER shard$i FOREIGN DATA WRAPPER postgres_fdw
			OPTIONS (host '127.0.0.1', port '$port', dbname 'postgres', extensions 'ann',
					 async_capable 'true', batch_size '500', options '$SEARCH_OPTIONS');
		CREATE USER MAPPING FOR CURRENT_USER SERVER shard$i;
		CREATE FOREIGN TABLE items_$i PARTITION OF items
			FOR VALUES WITH (MODULUS $SHARDS, REMAINDER $remainder)
			SERVER shard$i OPTIONS (table_name 'items')");
}
$coord->safe_psql('postgres', $LOAD);
$_->safe_psql('postgres', $INDEXES) for @shards;
$coord->safe_psql('postgres', 'ANALYZE items');

my $single = PostgreSQL::Test::Cluster->new('single');
$single->init;
$single->start;
ann_setup($single, 'postgres');
$single->safe_psql('postgres', "CREATE TABLE $ITEMS; ALTER TABLE items ADD PRIMARY KEY (id); $LOAD; $INDEXES");

my @counts = map { $_->safe_psql('postgres', 'SELECT count(*) FROM items') } @shards;
ok(!grep({ $_ < $ROWS / $SHARDS / 2 } @counts), "every shard holds its share of the rows (@counts)");
is($coord->safe_psql('postgres', 'SELECT count(*) FROM items'), $ROWS, 'the coordinator sees every row');

# The query: the 10 rows of $table nearest to $q by column $col, where
# $filter (undef: no WHERE)
sub knn_sql
{
	my ($col, $filter, $q, $table) = @_;
	my $where = defined $filter ? "WHERE $filter" : '';
	$table //= 'items';
	return "SELECT id, $col <-> ($q) AS d FROM $table $where ORDER BY $col <-> ($q) LIMIT 10";
}

# The same query asked of each partition with its own LIMIT, the answers
# merged (MATERIALIZED keeps the Append unordered, so it can run async)
sub per_shard_sql
{
	my ($col, $filter, $q) = @_;
	my $union = join ' UNION ALL ', map { '(' . knn_sql($col, $filter, $q, "items_$_") . ')' } 1 .. $SHARDS;
	return "WITH s AS MATERIALIZED ($union) SELECT id, d FROM s ORDER BY d LIMIT 10";
}

# The rows of each query of @$sqls on $node, in order, as "id d, id d, ..."
# (one psql for all: the list of answers)
sub rows_of
{
	my ($node, $sqls, $set) = @_;
	my $out = $node->safe_psql('postgres', ($set // '') . join('', map {
		"SELECT string_agg(id || ' ' || d, ', ' ORDER BY n)
		 FROM (SELECT s.*, row_number() OVER () AS n FROM ($_) s) r;\n" } @$sqls));
	return split /\n/, $out, -1;
}

# For every column, filter and query, $sql_of->(column, filter, q) gives
# on $node (with settings $set) 10 rows, those of one node's exact scan.
sub answers_ok
{
	my ($node, $sql_of, $name, $set) = @_;
	my (@cases, @bad);
	for my $col (sort keys %INDEX)
	{
		for my $filter (@FILTERS)
		{
			push @cases, map { [ $col, $filter, $_ ] } @QUERIES;
		}
	}
	my @want = rows_of($single, [ map { knn_sql(@$_) } @cases ], $EXACT_SQL);
	my @got = rows_of($node, [ map { $sql_of->(@$_) } @cases ], $set);
	for my $i (0 .. $#cases)
	{
		my ($col, $filter, $q) = @{ $cases[$i] };
		my ($got, $want) = ($got[$i] // '', $want[$i] // '');
		my $n = () = $want =~ /,/g;
		push @bad, "$col, " . ($filter // 'no filter') . ", $q:\n  got  $got\n  want $want"
		  if $got ne $want || $n != 9;
	}
	ok(!@bad, $name) or diag(join("\n", @bad));
	return;
}

# EXPLAIN VERBOSE of $sql on the coordinator, and its Remote SQL lines
sub coord_plan
{
	my ($sql) = @_;
	my $plan = $coord->safe_psql('postgres', "EXPLAIN (VERBOSE, COSTS OFF) $sql");
	return ($plan, [ $plan =~ /^\s*Remote SQL: (.*)$/mg ]);
}

# What each shard is sent for the query on column $col with filter
# $filter (undef or 'cat = 3'), followed by $tail, with the query vector
# as '...'; and the Remote SQL lines @$remote of a plan likewise
sub remote_sql
{
	my ($col, $filter, $tail) = @_;
	my $where = defined $filter ? "WHERE (($filter)) " : '';
	return join("\n", ("SELECT id, $col FROM public.items ${where}ORDER BY ($col OPERATOR(public.<->) '...') "
		  . "ASC NULLS LAST$tail") x $SHARDS);
}
sub sent
{
	my ($remote) = @_;
	return join("\n", map { s/'\[[^\]]*\]'/'...'/r } @$remote);
}

# The one node's indexes answer exactly at the shards' settings: any
# difference below is the coordinator's
answers_ok($single, \&knn_sql, 'one node: the hnsw and spann indexes give the exact answers', $SEARCH_SQL);
answers_ok($coord, \&knn_sql, 'coordinator: the answers of one node, with and without filters');

# What the planner ships, and what the shards do with it
for my $col (sort keys %INDEX)
{
	for my $filter (undef, 'cat = 3')
	{
		my $what = "$col, " . ($filter // 'no filter');
		my @offsets = map { -s $_->logfile } @shards;
		my $sql = knn_sql($col, $filter, $QUERIES[0]);
		my ($plan, $remote) = coord_plan($sql);
		like($plan, qr/^Limit\n.*\n\s+->  Merge Append\n/, "$what: a Limit over a Merge Append")
		  or diag($plan);
		unlike($plan, qr/->  (?:Sort|Async)/, "$what: no sort on the coordinator, the shards one after another");
		is(sent($remote), remote_sql($col, $filter, ''),
			"$what: every shard is sent the WHERE and the ORDER BY <->, not the LIMIT");

		rows_of($coord, [$sql]);
		my $cond = defined $filter ? "\\s+Index Cond: \\($filter\\)\\n" : '';
		my $scan = "Index Scan using $INDEX{$col} on items";
		for my $i (1 .. $SHARDS)
		{
			my $shard = $shards[ $i - 1 ];
			like(slurp_file($shard->logfile, $offsets[ $i - 1 ]),
				qr/Query Text: DECLARE c\d+ CURSOR FOR\n\s+\Q$remote->[0]\E\n\s+$scan[^\n]*\n$cond/,
				"$what: shard $i ran the coordinator's cursor with $INDEX{$col}");
			like($shard->safe_psql('postgres', "$SEARCH_SQL BEGIN;
					EXPLAIN (COSTS OFF) DECLARE c CURSOR FOR $remote->[0]; COMMIT"),
				qr/^$scan\n$cond/, "$what: shard $i plans the same DECLARE CURSOR with $INDEX{$col}");
		}
	}
}

# Without extensions 'ann' the operator cannot be sent: every row that
# passes the WHERE comes to the coordinator, which sorts them
$coord->safe_psql('postgres', join(';', map { "ALTER SERVER shard$_ OPTIONS (DROP extensions)" } 1 .. $SHARDS));
my ($plan, $remote) = coord_plan(knn_sql('v', 'cat = 3', $QUERIES[0]));
is(join("\n", @$remote), join("\n", ('SELECT id, v FROM public.items WHERE ((cat = 3))') x $SHARDS),
	'without extensions: the shards are sent the WHERE only');
like($plan, qr/->  Sort\n.*Sort Key: \(\(items\.v <->/s, 'without extensions: the coordinator sorts') or diag($plan);
answers_ok($coord, \&knn_sql, 'without extensions: the answers of one node');
$coord->safe_psql('postgres', join(';', map { "ALTER SERVER shard$_ OPTIONS (ADD extensions 'ann')" } 1 .. $SHARDS));

# The per-shard form: every shard gets the LIMIT too, and the shards work
# at once
($plan, $remote) = coord_plan(per_shard_sql('w', 'cat = 3', $QUERIES[0]));
is(sent($remote), remote_sql('w', 'cat = 3', ' LIMIT 10::bigint'),
	'per shard: every shard is sent the WHERE, the ORDER BY <-> and the LIMIT');
is(scalar(() = $plan =~ /Async Foreign Scan/g), $SHARDS, 'per shard: the shards are asked at once') or diag($plan);
answers_ok($coord, \&per_shard_sql, 'per shard: the answers of one node');

# A shard that dies during a query.  The query vector is row $id2's, on
# shard 2, so its row comes first and the next row the coordinator needs
# is shard 2's second; fetch_size 1 makes the coordinator go back to the
# shard for it.
my $id2 = $shards[1]->safe_psql('postgres', 'SELECT min(id) FROM items');
my $id1 = $shards[0]->safe_psql('postgres', 'SELECT min(id) FROM items');
my $q2 = "ann_test_clustered_vec($id2, $DIMS, $CLUSTERS)::vector($DIMS)";
$coord->safe_psql('postgres', "ALTER FOREIGN TABLE items_2 OPTIONS (ADD fetch_size '1')");
my ($s) = ann_session($coord);
$s->query_safe('BEGIN');
$s->query_safe('DECLARE c CURSOR FOR ' . knn_sql('v', undef, $q2));
is($s->query_safe('FETCH 1 FROM c'), "$id2|0", 'the first row is the one nearest, from shard 2');
is($shards[1]->safe_psql('postgres', "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
	WHERE application_name = 'postgres_fdw'"), '1', "shard 2 ends the coordinator's session");
$shards[1]->poll_query_until('postgres', "SELECT count(*) = 0 FROM pg_stat_activity
	WHERE application_name = 'postgres_fdw'") or die 'the session of shard 2 did not end';
my ($out, $err) = session_run($s, 'FETCH ALL FROM c');
is($out, '', 'a shard dying during the query: no rows');
like($err, qr/ERROR:  08006: .*server closed the connection unexpectedly.*remote SQL command: FETCH/s,
	'a shard dying during the query: SQLSTATE 08006, the connection lost');
session_run($s, 'ROLLBACK');
$coord->safe_psql('postgres', "ALTER FOREIGN TABLE items_2 OPTIONS (DROP fetch_size)");

# A shard that is down before the query: no rows, an error naming it, in a
# new session and in one whose cached connection to the shard is gone
$shards[1]->stop;
my $refused = qr/DETAIL:  connection to server at "127\.0\.0\.1", port \d+ failed: Connection refused/;
for my $filter (undef, 'cat = 3')
{
	my $what = 'shard 2 down, ' . ($filter // 'no filter');
	my ($ret, $out, $err) =
	  $coord->psql('postgres', "\\set VERBOSITY verbose\n" . knn_sql('v', $filter, $QUERIES[0]));
	is($ret . $out, '3', "$what: the query fails with no rows");
	like($err, qr/ERROR:  08001: could not connect to server "shard2"\n$refused/,
		"$what: SQLSTATE 08001, could not connect to server \"shard2\"");
}
($out, $err) = session_run($s, knn_sql('w', 'cat = 3', $QUERIES[0]));
is($out, '', 'shard 2 down, a session that had reached it: no rows');
like($err, qr/ERROR:  08001: could not connect to server "shard2"/,
	'shard 2 down, a session that had reached it: SQLSTATE 08001');
is($coord->safe_psql('postgres', "SELECT id FROM items WHERE id = $id1"), $id1,
	'shard 2 down: a query that partition pruning keeps on shard 1 answers');

$s->quit;
$_->stop for ($coord, $single, $shards[0], $shards[2]);
done_testing();
