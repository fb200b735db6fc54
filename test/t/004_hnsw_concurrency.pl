# Concurrent inserts and index scans on one hnsw index (pgbench, four
# clients), then the same while rows are deleted and VACUUM removes them,
# with ann_check_index running beside them; then random vectors under
# inserts, deletes and queries, checked after the load and after VACUUM.
# Clients insert vectors drawn from a small set, so the same vector often
# arrives from two sessions at once.  Every scan must return ten distinct
# rows; afterwards every row is in the index once and the answers are
# exact.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use AnnTest;

my $DIMS = 16;

my $node = PostgreSQL::Test::Cluster->new('concurrency');
$node->init;
$node->append_conf('postgresql.conf', 'autovacuum = off');
$node->start;
ann_setup($node, 'postgres');

# n: which of the vectors ann_test_vec(n) the row has
$node->safe_psql('postgres', "CREATE TABLE items (id bigserial PRIMARY KEY, n int, v vector($DIMS));
	INSERT INTO items (n, v) SELECT i, ann_test_vec(i, $DIMS) FROM generate_series(1, 300) i;
	CREATE INDEX items_idx ON items USING hnsw (v vector_l2_ops);");

# One transaction: insert a row, then a scan that fails (division by zero)
# unless its rows pass $check.  At most 500 distinct vectors, so the whole
# index stays within one search at ef_search 1000.
sub script
{
	my ($check) = @_;
	return qq{
\\set n random(1, 500)
SET enable_seqscan = off;
SET hnsw.ef_search = 100;
INSERT INTO items (n, v) VALUES (:n, ann_test_vec(:n, $DIMS));
SELECT 1 / ($check)::int
FROM (SELECT id FROM items ORDER BY v <-> ann_test_vec(:n + 1000, $DIMS)::vector LIMIT 10) s;
};
}
my @queries = map { "ann_test_vec($_, $DIMS)::vector" } (-5, 17, 250, 499, 2024);

# The index holds every row once and gives exact distances.  Rows share
# vectors, so which of two equally near rows comes first is open: compare
# distances.
sub index_complete_ok
{
	my ($when) = @_;
	index_used_ok($node, 'postgres', 'items', $queries[0], 'items_idx');
	all_reachable_ok($node, 'postgres', 'items', $queries[0], "$when: every row is in the index, once");
	matches_exact_ok($node, 'postgres', 'items', \@queries, "$when: the top-10 distances are exact",
		ef => 1000);
	index_check_ok($node, 'postgres', 'items_idx', "$when: ann_check_index passes");
	return;
}

pgbench_ok($node, '-c 4 -j 2 -t 300 --random-seed=42', script('count(*) = 10 AND count(DISTINCT id) = 10'),
	'insert_scan', 1200,
	'4 clients insert and scan concurrently, every scan returns 10 distinct rows');
is($node->safe_psql('postgres', 'SELECT count(*) FROM items'), '1500', 'all inserts committed');
index_complete_ok('after concurrent inserts');

# Inserts and scans again while rows are deleted and VACUUM removes them
# from the graph.  Round k deletes every row whose vector number n is k
# modulo 20, so whole elements die while clients keep inserting those
# vectors: a new row may meet an element VACUUM is removing.  No class is
# deleted twice, so a row whose index entry got lost stays missing.
my $bench = pgbench_start($node, '-c 4 -j 2 -t 400 --random-seed=43',
	script('count(*) = 10 AND count(DISTINCT id) = 10'), 'insert_scan_vacuum');
my $rounds = 0;
while (pgbench_running($bench) && $rounds < 20)
{
	$node->safe_psql('postgres', "DELETE FROM items WHERE n % 20 = $rounds; VACUUM items");
	$rounds++;
}
note("$rounds rounds of DELETE and VACUUM ran during the inserts");
pgbench_finish_ok($bench, 1600, '4 clients insert and scan during deletes and VACUUM, every scan returns 10 distinct rows');
$node->safe_psql('postgres', 'VACUUM items');
index_complete_ok('after inserts during VACUUM');

# Random vectors: each transaction inserts 20 rows, deletes up to 10 and
# queries.  Afterwards a scan that may visit everything returns every row
# and every element is reachable (ann_check_index), before VACUUM and
# after.
$node->safe_psql('postgres', q{
	CREATE TABLE rnd (id bigserial PRIMARY KEY, v vector(32));
	CREATE FUNCTION rnd_vec() RETURNS vector LANGUAGE sql VOLATILE
	RETURN (SELECT array_agg(random()::real) FROM generate_series(1, 32))::vector;
	INSERT INTO rnd (v) SELECT rnd_vec() FROM generate_series(1, 5000);
	CREATE INDEX rnd_idx ON rnd USING hnsw (v vector_l2_ops);
});
my $churn = q{
INSERT INTO rnd (v) SELECT rnd_vec() FROM generate_series(1, 20);
DELETE FROM rnd WHERE id IN (SELECT (random() * (SELECT max(id) FROM rnd))::bigint FROM generate_series(1, 10));
SET enable_seqscan = off;
SELECT count(*) FROM (SELECT id FROM rnd ORDER BY v <-> rnd_vec() LIMIT 10) s;
};
pgbench_ok($node, '-c 2 -j 2 -T 15 --random-seed=44', $churn, 'churn', '\\d+', '2 clients insert, delete and query random vectors');
my $every_row = 'SET enable_seqscan = off; SET hnsw.iterative_scan = relaxed_order; SET hnsw.ef_search = 1000;
	SET hnsw.max_scan_tuples = 1000000; SET work_mem = \'1GB\';
	SELECT (SELECT count(DISTINCT id) FROM (SELECT id FROM rnd ORDER BY v <-> rnd_vec() LIMIT 1000000) s)
		= (SELECT count(*) FROM rnd)';
is($node->safe_psql('postgres', $every_row), 't', 'random churn: a scan reaches every row');
index_check_ok($node, 'postgres', 'rnd_idx', 'random churn: every element is reachable before any VACUUM');
$node->safe_psql('postgres', 'VACUUM rnd');
index_check_ok($node, 'postgres', 'rnd_idx', 'random churn, VACUUM: ann_check_index passes');
is($node->safe_psql('postgres', $every_row), 't', 'random churn, VACUUM: a scan reaches every row');

# The same churn, now with non-HOT updates, while VACUUM runs again and
# again beside it (repairing and reconnecting while inserts go on): every
# element stays reachable without a last VACUUM to mend the graph.
$churn .= q{
UPDATE rnd SET v = rnd_vec() WHERE id = (random() * (SELECT max(id) FROM rnd))::bigint;
};
$bench = pgbench_start($node, '-c 2 -j 2 -T 15 --random-seed=45', $churn, 'churn_vacuum');
$rounds = 0;
while (pgbench_running($bench))
{
	$node->safe_psql('postgres', 'VACUUM rnd');
	$rounds++;
}
note("$rounds VACUUMs ran during the churn");
pgbench_finish_ok($bench, '\\d+', '2 clients churn random vectors while VACUUM runs');
index_check_ok($node, 'postgres', 'rnd_idx', 'churn beside VACUUM: ann_check_index passes');
is($node->safe_psql('postgres', $every_row), 't', 'churn beside VACUUM: a scan reaches every row');

# Inserts one by one into a sparse graph of clustered vectors: the back
# links' neighbour selection drops links, and a dropped link may have
# been an element's only one (before witnesses were asked, this left 7
# elements no search could reach until a VACUUM)
$node->safe_psql('postgres', q{
	CREATE TABLE clus (id int, v vector(32));
	CREATE INDEX clus_idx ON clus USING hnsw (v) WITH (m = 8, ef_construction = 32);
	INSERT INTO clus SELECT i, ann_test_clustered_vec(i, 32, 20) FROM generate_series(1, 10000) i;
});
index_check_ok($node, 'postgres', 'clus_idx', 'serial inserts of clustered vectors leave every element reachable');

# Inserts go on while VACUUM works on the index: VACUUM takes the
# index's update lock exclusively only for moments (after its first pass,
# and to free), not through its repair and reconnection passes, as it once
# did.  While a VACUUM slowed by cost delays works on the index, INSERTs
# with a short lock_timeout, one after another, must all succeed.
$node->safe_psql('postgres', q{
	CREATE TABLE vac (id int, v vector(16));
	INSERT INTO vac SELECT i, ann_test_vec(i, 16) FROM generate_series(1, 2000) i;
	CREATE INDEX vac_idx ON vac USING hnsw (v);
	DELETE FROM vac WHERE id % 2 = 0;
});
my ($vacuumer, $vacuum_pid) = ann_session($node);
session_start($vacuumer, "SET vacuum_cost_delay = '10ms'; SET vacuum_cost_limit = 1; VACUUM vac");
my $in_index = "SELECT count(*) FROM pg_stat_progress_vacuum WHERE pid = $vacuum_pid
	AND phase IN ('vacuuming indexes', 'cleaning up indexes')";
ok($node->poll_query_until('postgres', "SELECT ($in_index) = 1"), 'VACUUM reaches the index');
my ($inserts, @failed) = (0);
while ($node->safe_psql('postgres', $in_index) == 1)
{
	my $id = 7001 + $inserts++;
	my ($ret, $out, $err) = $node->psql('postgres', "SET lock_timeout = '3s';
		INSERT INTO vac VALUES ($id, ann_test_vec($id, 16)::vector)");
	push @failed, $err if $ret != 0;
}
note("$inserts INSERTs ran while VACUUM worked on the index");
ok($inserts >= 5 && !@failed, 'INSERTs during VACUUM of the index do not wait for it')
  or diag("$inserts inserts: " . join("\n", @failed));
is(session_finish($vacuumer), '', 'VACUUM ends without error');
$vacuumer->quit;
index_check_ok($node, 'postgres', 'vac_idx', 'the index is sound after VACUUM beside the INSERTs');
is($node->safe_psql('postgres', "SELECT count(*) FROM vac WHERE id > 7000"), $inserts - @failed,
	'every row inserted during VACUUM is there');

$node->stop;
done_testing();
