# Recall of hnsw at default m and ef_construction and hnsw.ef_search = 100:
# after the build, after inserting 50% more rows, after deleting 30% of
# the rows and VACUUM, and for a build that outgrows maintenance_work_mem
# and finishes on disk.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use AnnTest;

my $DIMS = 32;
my $NQUERIES = 50;
my $K = 10;
my $MIN_RECALL = 0.95;

my $node = PostgreSQL::Test::Cluster->new('recall');
$node->init;
$node->start;
ann_setup($node, 'postgres');

# Rows $from..$to of uniformly random vectors; the seed makes them the same
# on every run.
sub random_rows
{
	my ($table, $from, $to, $seed) = @_;
	return "SELECT setseed($seed);
		INSERT INTO $table SELECT i, (SELECT array_agg(random()::real) FROM generate_series(1, $DIMS)
									  WHERE i > 0)::vector
		FROM generate_series($from, $to) i;";
}

$node->safe_psql('postgres', "CREATE TABLE items (id int PRIMARY KEY, v vector($DIMS));
	CREATE TABLE queries (qid int PRIMARY KEY, q vector($DIMS));"
	  . random_rows('items', 1, 10000, 0.11)
	  . random_rows('queries', 1, $NQUERIES, 0.22));

# The exact k nearest rows of $table (default items) to every query,
# stored in table $exact.
sub exact
{
	my ($exact, $table) = @_;
	store_exact($node, 'postgres', $exact, $table // 'items', 'queries', k => $K);
	return;
}

# Recall@k of the index of $table (default items) over all queries against
# table $exact.
sub recall_ok
{
	my ($exact, $name, $table) = @_;
	return knn_recall_ok($node, 'postgres', $exact, $table // 'items', 'queries', $MIN_RECALL, $name,
		k => $K, set => 'SET hnsw.ef_search = 100;');
}

$node->safe_psql('postgres', 'CREATE INDEX items_idx ON items USING hnsw (v vector_l2_ops)');
index_used_ok($node, 'postgres', 'items', 'SELECT q FROM queries WHERE qid = 1', 'items_idx');
exact('exact_build');
recall_ok('exact_build', 'after the build');

# 5,000 more rows, each inserted into the graph on disk
$node->safe_psql('postgres', random_rows('items', 10001, 15000, 0.33));
exact('exact_insert');
recall_ok('exact_insert', 'after inserting 50% more rows');

# 30% of the rows deleted; VACUUM removes them from the graph
$node->safe_psql('postgres', 'DELETE FROM items WHERE id % 10 < 3; VACUUM items');
is($node->safe_psql('postgres', 'SELECT count(*) FROM items'), '10500', '30% of the rows deleted');
exact('exact_vacuum');
recall_ok('exact_vacuum', 'after deleting 30% of the rows and VACUUM');

# A build in 1MB (the least maintenance_work_mem allows): the graph
# outgrows it after about 2,000 rows, the build says so and inserts the
# rest on disk.  A smaller table keeps the slow part short.
$node->safe_psql('postgres', 'CREATE TABLE spill AS SELECT * FROM items WHERE id <= 5000');
exact('exact_spill', 'spill');
my ($ret, $out, $err) = $node->psql('postgres', "SET maintenance_work_mem = '1MB';
	CREATE INDEX spill_idx ON spill USING hnsw (v vector_l2_ops);");
is($ret, 0, 'build in 1MB of maintenance_work_mem succeeds') or diag($err);
like($err, qr/NOTICE:  hnsw graph no longer fits into maintenance_work_mem after \d+ tuples/,
	'the build reports that it outgrew maintenance_work_mem');
like($err, qr/HINT:  Increase maintenance_work_mem to about \d+ MB/, 'and says how much would do');
# The same build in parallel says so once too (it used to say nothing)
($ret, $out, $err) = $node->psql('postgres', "SET maintenance_work_mem = '1MB';
	SET max_parallel_maintenance_workers = 2; ALTER TABLE spill SET (parallel_workers = 2);
	CREATE INDEX spill_par ON spill USING hnsw (v vector_l2_ops);");
is($ret, 0, 'a parallel build in 1MB succeeds') or diag($err);
is(scalar(() = $err =~ /NOTICE:  hnsw graph no longer fits into maintenance_work_mem after \d+ tuples/g), 1,
	'a parallel build that outgrew maintenance_work_mem says so, once');
index_check_ok($node, 'postgres', 'spill_par', 'the parallel build that spilled passes ann_check_index');
$node->safe_psql('postgres', 'DROP INDEX spill_par');
index_used_ok($node, 'postgres', 'spill', 'SELECT q FROM queries WHERE qid = 1', 'spill_idx');
recall_ok('exact_spill', 'after a build that spilled to disk', 'spill');

# The same table built serially and with two parallel workers (the table's
# parallel_workers asks for them: it is too small to get them otherwise):
# the workers run, and the two graphs are about as good.
$node->safe_psql('postgres', 'CREATE TABLE par AS SELECT * FROM items;
	ALTER TABLE par SET (parallel_workers = 2)');
exact('exact_par', 'par');
$node->safe_psql('postgres', 'SET max_parallel_maintenance_workers = 0;
	CREATE INDEX par_idx ON par USING hnsw (v vector_l2_ops)');
my $serial = recall_ok('exact_par', 'serial build', 'par');
$node->safe_psql('postgres', 'DROP INDEX par_idx');
($ret, $out, $err) = $node->psql('postgres', "SET client_min_messages = debug1;
	SET max_parallel_maintenance_workers = 2;
	CREATE INDEX par_idx ON par USING hnsw (v vector_l2_ops);");
is($ret, 0, 'parallel build succeeds') or diag($err);
like($err, qr/building hnsw index "par_idx" with 2 parallel workers/, 'two workers took part');
my $parallel = recall_ok('exact_par', 'parallel build', 'par');
cmp_ok(abs($serial - $parallel), '<=', 0.02, 'serial and parallel builds give similar recall');

$node->stop;
done_testing();
