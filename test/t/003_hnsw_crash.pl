# Crash recovery: an immediate shutdown (no checkpoint) while clients
# insert into a table with five hnsw indexes (vector keys with codes of
# their layer-0 neighbours, bit keys of binary_quantize, sparse keys of
# varying size, keys too large for a page, and halfvec keys with codes of
# four bits a dimension).  Replay must give back an
# index that
# holds every committed row once, answers exactly at ef_search 1000, and
# takes new rows, deletes and VACUUM.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use AnnTest;

my $DIMS = 16;
# keys of the fourth index take five pages of their own (long keys)
my $LONG_DIMS = 9000;
my $CLIENTS = 2;
my $TXNS = 200;		# per client and round: the table stays under 1000 rows

my $node = PostgreSQL::Test::Cluster->new('crash');
$node->init;
# replay compares every generic WAL record's result with the page image
$node->append_conf('postgresql.conf', "wal_consistency_checking = 'generic'");
$node->start;
ann_setup($node, 'postgres');

# the long keys are a stored column: an expression of 9000 dimensions
# costs seconds each time a scan or check of every row computes it
$node->safe_psql('postgres', "CREATE TABLE items (id int PRIMARY KEY, v vector($DIMS),
		vlong vector($LONG_DIMS) GENERATED ALWAYS AS (ann_test_vec(id, $LONG_DIMS)::vector($LONG_DIMS)) STORED);
	CREATE SEQUENCE items_seq;
	INSERT INTO items SELECT n, ann_test_vec(n, $DIMS) FROM (SELECT nextval('items_seq')::int AS n
		FROM generate_series(1, 300)) s;
	CREATE INDEX items_idx ON items USING hnsw (v vector_l2_ops) WITH (quantization = rabitq);
	CREATE INDEX items_bits ON items USING hnsw ((binary_quantize(v)::bit($DIMS)) bit_hamming_ops);
	CREATE INDEX items_sparse ON items USING hnsw ((ann_test_sparsify(v)::sparsevec($DIMS)) sparsevec_l2_ops);
	CREATE INDEX items_long ON items USING hnsw (vlong vector_l2_ops);
	CREATE INDEX items_half4 ON items USING hnsw ((v::halfvec($DIMS)) halfvec_l2_ops)
		WITH (quantization = rabitq, code_bits = 4);
	CHECKPOINT;");

my @queries = map { "ann_test_vec($_, $DIMS)::vector" } (-1, 42, 777, 31337);

# The second index: quantized keys, so many rows share one (an element
# holds up to 10)
my %bits = (column => "binary_quantize(v)::bit($DIMS)", op => '<~>');
my $bits_query = "binary_quantize(ann_test_vec(42, $DIMS)::vector)::bit($DIMS)";

# The third: sparse keys of varying size
my %sparse = (column => "ann_test_sparsify(v)::sparsevec($DIMS)", op => '<->');
my $sparse_query = "ann_test_sparse(42, $DIMS)::sparsevec($DIMS)";

# The fourth: long keys, on key pages written in WAL records of their own
my %long = (column => 'vlong', op => '<->');
my $long_query = "ann_test_vec(42, $LONG_DIMS)::vector($LONG_DIMS)";

# The fifth: halfvec keys, their neighbours' codes of four bits
my %half4 = (column => "v::halfvec($DIMS)", op => '<->');
my $half4_query = "ann_test_vec(42, $DIMS)::halfvec($DIMS)";

# Clients insert rows, one per transaction, pausing so that they are still
# busy when, $min_new rows later, the server stops without a checkpoint.
# After restart every committed row must be in the index.
my $rounds = 0;

sub crash_during_inserts
{
	my ($round, $min_new) = @_;
	my $before = $node->safe_psql('postgres', 'SELECT count(*) FROM items');
	my $bench = pgbench_start($node, "-c $CLIENTS -j $CLIENTS -t $TXNS", qq{
INSERT INTO items SELECT n, ann_test_vec(n, $DIMS) FROM (SELECT nextval('items_seq')::int AS n) s;
\\sleep 2 ms
}, 'insert' . ++$rounds);
	ok(wait_for_query_while_running($node, $bench, "SELECT count(*) >= $before + $min_new FROM items"),
		"$round: $min_new rows inserted before the crash");
	$node->stop('immediate');
	my $finished = $bench->[0]->finish;
	note("$round: pgbench " . ($finished ? 'had finished' : 'was interrupted') . ' when the server stopped');
	unlike(${ $bench->[2] }, qr/ERROR:/, "$round: no insert failed before the crash")
	  or diag("pgbench: ${ $bench->[1] }${ $bench->[2] }");
	$node->start;

	my $rows = $node->safe_psql('postgres', 'SELECT count(*) FROM items');
	note("$round: $rows rows after recovery, $before before the inserts");
	cmp_ok($rows, '>=', $before + $min_new, "$round: committed rows survived the crash");
	index_used_ok($node, 'postgres', 'items', $queries[0], 'items_idx');
	all_reachable_ok($node, 'postgres', 'items', $queries[0], "$round: every row is in the index, once");
	matches_exact_ok($node, 'postgres', 'items', \@queries, "$round: the top-10 are exact at ef_search 1000",
		ef => 1000, ids => 1);
	# VACUUM links what the concurrent inserts may have left unlinked
	$node->safe_psql('postgres', 'VACUUM items');
	index_check_ok($node, 'postgres', 'items_idx', "$round: ann_check_index passes after recovery and VACUUM");
	all_reachable_ok($node, 'postgres', 'items', $bits_query,
		"$round: every row is in the bit index, once", %bits);
	index_check_ok($node, 'postgres', 'items_bits', "$round: ann_check_index passes on the bit index");
	all_reachable_ok($node, 'postgres', 'items', $sparse_query,
		"$round: every row is in the sparse index, once", %sparse);
	index_check_ok($node, 'postgres', 'items_sparse', "$round: ann_check_index passes on the sparse index");
	all_reachable_ok($node, 'postgres', 'items', $long_query,
		"$round: every row is in the index of long keys, once", %long);
	index_check_ok($node, 'postgres', 'items_long', "$round: ann_check_index passes on the index of long keys");
	all_reachable_ok($node, 'postgres', 'items', $half4_query,
		"$round: every row is in the index with 4-bit codes, once", %half4);
	index_check_ok($node, 'postgres', 'items_half4', "$round: ann_check_index passes on the index with 4-bit codes");
	return;
}

crash_during_inserts('crash during inserts', 150);

# new rows, deletes and VACUUM on the recovered index
$node->safe_psql('postgres', "INSERT INTO items VALUES (100000, ann_test_vec(100000, $DIMS))");
is(knn_rows($node, 'postgres', 'items', "ann_test_vec(100000, $DIMS)::vector", k => 1)->[0],
	'100000', 'a row inserted after recovery is found');
$node->safe_psql('postgres', 'DELETE FROM items WHERE id % 4 = 0; VACUUM items');
all_reachable_ok($node, 'postgres', 'items', $queries[1], 'after delete and VACUUM every row is in the index, once');
matches_exact_ok($node, 'postgres', 'items', \@queries, 'after delete and VACUUM the top-10 are exact',
	ef => 1000, ids => 1);
index_check_ok($node, 'postgres', 'items_idx', 'after delete and VACUUM ann_check_index passes');

# again, now that inserts reuse the space VACUUM freed
crash_during_inserts('crash during inserts into freed space', 150);

unlike(slurp_file($node->logfile), qr/inconsistent page found/, 'replay found no inconsistent page');

$node->stop;
done_testing();
