# Filtered search on 50,000 clustered vectors, for hnsw and spann indexes
# with filter columns: at 10%, 1% and 0.1% selectivity, with a filter that
# ignores the vectors (label, bucket, rare), one that follows them (the
# query's own cluster) and one that avoids them (another cluster), recall@10
# against the exact filtered answer is at least 0.95 at the default
# settings, and every query gets 10 rows (at least 10 rows match each
# filter).  Then half the rows are inserted after the build, and the same
# holds.  A plain hnsw index, filtered by the executor, gets 10 rows with
# relaxed_order, and rows in order with strict_order.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use AnnTest;

my $DIMS = 16;
my $CLUSTERS = 20;
my $ROWS = 50000;
my $QUERIES = 50;
my $INDEX_MODE = 'SET enable_seqscan = off; SET enable_bitmapscan = off;';
my $EXACT_MODE = 'SET enable_indexscan = off; SET enable_bitmapscan = off;';

# Each filter kind: its condition on items (t), with the query's row (q)
my %FILTERS = (
	label => 't.label = q.qid % 10',                      # 10%
	bucket => 't.bucket = q.qid % 100',                   # 1%
	rare => 't.rare = q.qid % 1000',                      # 0.1%
	own => 't.cluster = q.cluster',                       # 5%, near the query
	other => 't.cluster = (q.cluster + 1 + q.qid % 7) % ' . $CLUSTERS,    # 5%, away from it
	tags => 't.tags && ARRAY[q.qid % 50, 1000]',          # 2%, an array
);

my $node = PostgreSQL::Test::Cluster->new('filter');
$node->init;
$node->append_conf('postgresql.conf', "autovacuum = off\nmaintenance_work_mem = '256MB'");
$node->start;
ann_setup($node, 'postgres');

my $rows = sub {
	my ($from, $to) = @_;
	return "INSERT INTO items SELECT i, ann_test_clustered_vec(i, $DIMS, $CLUSTERS),
		i % 10, i % 100, i % 1000, ann_test_cluster(i, $CLUSTERS), ARRAY[i % 50, i % 7]
		FROM generate_series($from, $to) i;";
};
$node->safe_psql('postgres', "
	CREATE TABLE items (id int PRIMARY KEY, v vector($DIMS), label int, bucket int, rare int8,
						cluster int, tags int4[]);
	CREATE TABLE queries AS SELECT i - 1000000 AS qid,
		ann_test_clustered_vec(i, $DIMS, $CLUSTERS)::vector($DIMS) AS q,
		ann_test_cluster(i, $CLUSTERS) AS cluster
		FROM generate_series(1000001, 1000000 + $QUERIES) i;"
	  . $rows->(1, $ROWS / 2));

# The query of kind $kind: the 10 nearest rows of items under its filter
sub filtered_query
{
	my ($kind) = @_;
	return "SELECT t.id, t.v <-> q.q AS d FROM items t WHERE $FILTERS{$kind}
		ORDER BY t.v <-> q.q LIMIT 10";
}

# Exact answers of every kind into table exact_$tag (kind, qid, id, d)
sub store_exact_filtered
{
	my ($tag) = @_;
	my $sql = "$EXACT_MODE CREATE TABLE exact_$tag (kind text, qid int, id int, d float8);";
	for my $kind (sort keys %FILTERS)
	{
		$sql .= "INSERT INTO exact_$tag SELECT '$kind', q.qid, t.id, t.d
			FROM queries q, LATERAL (" . filtered_query($kind) . ") t;";
	}
	$node->safe_psql('postgres', $sql);
	return;
}

# $sql run in index mode; with $hide, in a transaction that drops index
# $hide first (and rolls back), so that the planner cannot choose it
sub index_psql
{
	my ($sql, $hide) = @_;
	return $node->safe_psql('postgres', "$INDEX_MODE $sql") unless $hide;
	return $node->safe_psql('postgres', "BEGIN; DROP INDEX $hide; $INDEX_MODE $sql; ROLLBACK");
}

# For one kind: recall@10 (a row no farther than the true 10th counts) and
# how many queries came back with fewer rows than the exact answer has.
# $set: settings (SQL) to measure under.
sub measure_with
{
	my ($kind, $tag, $set, $hide) = @_;
	return split /\|/, index_psql("$set
		WITH got AS MATERIALIZED (
			SELECT q.qid, t.id, t.d FROM queries q, LATERAL (" . filtered_query($kind) . ") t),
		tenth AS (SELECT qid, max(d) AS d, count(*) AS n FROM exact_$tag WHERE kind = '$kind' GROUP BY qid)
		SELECT round((SELECT count(*) FROM got JOIN tenth USING (qid) WHERE got.d <= tenth.d + 1e-6)::numeric
					 / (SELECT sum(n) FROM tenth), 4),
			   (SELECT count(*) FROM tenth WHERE n > (SELECT count(*) FROM got WHERE got.qid = tenth.qid))",
		$hide);
}

# Every kind: the plan uses $index and passes the filter to it, recall >=
# 0.95, no query short.  Index $hide is kept out of the plans.
sub filters_ok
{
	my ($index, $tag, $stage, $hide) = @_;
	for my $kind (sort keys %FILTERS)
	{
		my $plan = index_psql("EXPLAIN (COSTS OFF)
			SELECT q.qid, t.id FROM queries q, LATERAL (" . filtered_query($kind) . ") t", $hide);
		like($plan, qr/Index Scan using $index/, "$index, $kind, $stage: the index is used");
		like($plan, qr/Index Cond:/, "$index, $kind, $stage: the index filters");
		my ($recall, $short) = measure_with($kind, $tag, '', $hide);
		note("$index, $kind, $stage: recall\@10 = $recall, $short queries short");
		cmp_ok($recall, '>=', 0.95, "$index, $kind, $stage: recall\@10 >= 0.95");
		is($short, '0', "$index, $kind, $stage: every query gets all its rows");
	}
	return;
}

my @indexes = (
	[ 'items_hnsw', 'hnsw (v vector_l2_ops, label, bucket, rare, cluster, tags)' ],
	[ 'items_spann', 'spann (v vector_l2_ops, label, bucket, rare, cluster, tags)' ],
);

store_exact_filtered('half');
for my $index (@indexes)
{
	my ($name, $def) = @$index;
	$node->safe_psql('postgres', "CREATE INDEX $name ON items USING $def; ANALYZE items");
	filters_ok($name, 'half', 'after the build');
	$node->safe_psql('postgres', "DROP INDEX $name");
}

# the same indexes built on half the rows, then the other half inserted
$node->safe_psql('postgres',
	join(';', map { "CREATE INDEX $_->[0] ON items USING $_->[1]" } @indexes)
	  . ';' . $rows->($ROWS / 2 + 1, $ROWS) . 'ANALYZE items');
store_exact_filtered('full');
filters_ok('items_hnsw', 'full', 'after inserts', 'items_spann');
filters_ok('items_spann', 'full', 'after inserts', 'items_hnsw');

# A plain hnsw index: the executor filters and the iterative scan goes on.
# relaxed_order returns every row; strict_order (the default) returns rows
# in distance order, except rows it finds after a farther one was
# returned, which come last: one step back at most.
$node->safe_psql('postgres', join(';', map { "DROP INDEX $_->[0]" } @indexes)
	  . ";CREATE INDEX items_plain ON items USING hnsw (v vector_l2_ops)");
for my $kind (qw(label own))
{
	my ($recall, $short) = measure_with($kind, 'full', 'SET hnsw.iterative_scan = relaxed_order;');
	note("items_plain, $kind, relaxed_order: recall\@10 = $recall, $short queries short");
	cmp_ok($recall, '>=', 0.9, "items_plain, $kind, relaxed_order: recall\@10 >= 0.9");
	is($short, '0', "items_plain, $kind, relaxed_order: every query gets all its rows");
	my $disorder = $node->safe_psql('postgres', "$INDEX_MODE SET hnsw.iterative_scan = strict_order;
		SET client_min_messages = error;
		SELECT count(*) FROM (SELECT qid, count(*) FILTER (WHERE d < prev) AS steps_back
			FROM (SELECT q.qid, t.d, lag(t.d) OVER (PARTITION BY q.qid ORDER BY t.n) AS prev
				FROM queries q, LATERAL (SELECT row_number() OVER () AS n, s.d FROM ("
		  . filtered_query($kind) . ") s) t) o GROUP BY qid) b WHERE steps_back > 1");
	is($disorder, '0', "items_plain, $kind, strict_order: rows come in distance order, late finds last");
}

$node->stop;
done_testing();
