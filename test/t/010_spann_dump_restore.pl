# pg_dump and a parallel pg_restore of a table with spann indexes (one with
# a filter column), and of one with an ivfflat index (pgvector's name for
# spann): the indexes come back with their opclasses and options, valid,
# used by the planner, and, with every list probed, answering exactly as
# the originals do.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use AnnTest;

my $DIMS = 16;
my $ALL = 'SET spann.probes = 65536; SET spann.group_probes = 0;';

my $node = PostgreSQL::Test::Cluster->new('spann_dump');
$node->init;
$node->start;
ann_setup($node, 'postgres');

$node->safe_psql('postgres', "CREATE TABLE docs (id int PRIMARY KEY, v vector($DIMS), h halfvec($DIMS), cat int);
	INSERT INTO docs SELECT i, ann_test_vec(i, $DIMS), ann_test_vec(i, $DIMS), i % 5 FROM generate_series(1, 800) i;
	INSERT INTO docs VALUES (0, NULL, NULL, 0);
	CREATE INDEX docs_v_idx ON docs USING spann (v vector_l2_ops, cat) WITH (lists = 20, epsilon = 0.5, replicas = 4);
	CREATE INDEX docs_h_idx ON docs USING spann (h halfvec_cosine_ops);
	CREATE TABLE ivf (id int PRIMARY KEY, v vector($DIMS));
	INSERT INTO ivf SELECT i, ann_test_vec(i, $DIMS) FROM generate_series(1, 600) i;
	CREATE INDEX ivf_idx ON ivf USING ivfflat (v vector_ip_ops) WITH (lists = 20);");

my $restored = dump_restore_ok($node, 'docs');
like($restored, qr/USING spann \(v, cat\) WITH \(lists='20', epsilon='0.5', replicas='4'\)/, 'with their options');
is($node->safe_psql('restored', q{SELECT string_agg(c.relname || ' ' || i.indisvalid, ', ' ORDER BY c.relname)
	FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam
	WHERE i.indrelid = 'docs'::regclass AND a.amname = 'spann'}),
	'docs_h_idx true, docs_v_idx true', 'the restored spann indexes are valid');
is($node->safe_psql('restored', "SELECT lists FROM spann_index_stats('docs_v_idx')"), '20',
	'the restored index was built with its lists option');

for my $c ([ 'v', '<->', 'vector', 'docs_v_idx' ], [ 'h', '<=>', 'halfvec', 'docs_h_idx' ])
{
	my ($col, $op, $type, $index) = @$c;
	my %o = (column => $col, op => $op, set => $ALL);
	my @queries = map { "ann_test_vec($_, $DIMS)::$type" } (-7, 3, 400, 9999);
	restored_answers_ok($node, 'docs', $index, \@queries, %o);
	my $reach = "$ALL SET enable_seqscan = off; SET spann.iterative_scan = relaxed_order;
		SELECT count(DISTINCT id) FROM (SELECT id FROM docs ORDER BY $col $op $queries[1] LIMIT 100000) s";
	is($node->safe_psql('restored', $reach), $node->safe_psql('postgres', $reach),
		"$index: the restored index reaches as many rows as the original");
	all_reachable_ok($node, 'restored', 'docs', $queries[1], "$index: every row is in the restored index", %o);
}

# the ivfflat index, its lists option and ivfflat.probes
my $ivf = "SELECT indexdef FROM pg_indexes WHERE indexname = 'ivf_idx'";
is($node->safe_psql('restored', $ivf), $node->safe_psql('postgres', $ivf),
	'the restored ivfflat index has the original definition');
like($node->safe_psql('restored', $ivf), qr/USING ivfflat \(v vector_ip_ops\) WITH \(lists='20'\)/,
	'with its opclass and lists');
is($node->safe_psql('restored', "SELECT lists FROM spann_index_stats('ivf_idx')"), '20',
	'the restored ivfflat index was built with its lists');
restored_answers_ok($node, 'ivf', 'ivf_idx', [ map { "ann_test_vec($_, $DIMS)::vector" } (-7, 3, 400) ],
	op => '<#>', set => 'SET ivfflat.probes = 1000;');

# the filter column survives too: a filtered scan of the restored index
# returns the original's rows
my $filtered = "$ALL SET enable_seqscan = off;
	SELECT string_agg(id::text, ',') FROM (SELECT id FROM docs WHERE cat = 3
	ORDER BY v <-> ann_test_vec(5, $DIMS)::vector LIMIT 10) s";
my $orig = $node->safe_psql('postgres', $filtered);
is($node->safe_psql('restored', $filtered), $orig, 'a filtered scan of the restored index returns the original rows');
is(scalar(split /,/, $orig), 10, 'ten of them');

$node->stop;
done_testing();
