# pg_dump and a parallel pg_restore of a table with hnsw indexes: the
# indexes come back with their opclasses and options, valid, used by the
# planner, and answering as the originals do.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use AnnTest;

my $DIMS = 16;

my $node = PostgreSQL::Test::Cluster->new('dump');
$node->init;
$node->start;
ann_setup($node, 'postgres');

$node->safe_psql('postgres', "CREATE TABLE docs (id int PRIMARY KEY, v vector($DIMS), h halfvec($DIMS));
	INSERT INTO docs SELECT i, ann_test_vec(i, $DIMS), ann_test_vec(i, $DIMS) FROM generate_series(1, 800) i;
	INSERT INTO docs VALUES (0, NULL, NULL);
	CREATE INDEX docs_v_idx ON docs USING hnsw (v vector_l2_ops) WITH (m = 8, ef_construction = 40);
	CREATE INDEX docs_h_idx ON docs USING hnsw (h halfvec_cosine_ops);");

my $restored = dump_restore_ok($node, 'docs');
like($restored, qr/USING hnsw \(v\) WITH \(m='8', ef_construction='40'\)/, 'with their options');
my $opclasses = q{SELECT string_agg(c.relname || ' ' || o.opcname, ', ' ORDER BY c.relname)
	FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_opclass o ON o.oid = i.indclass[0]
	WHERE i.indrelid = 'docs'::regclass};
is($node->safe_psql('restored', $opclasses), 'docs_h_idx halfvec_cosine_ops, docs_pkey int4_ops, docs_v_idx vector_l2_ops',
	'and their opclasses');
is($node->safe_psql('restored', q{SELECT string_agg(c.relname || ' ' || i.indisvalid, ', ' ORDER BY c.relname)
	FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam
	WHERE i.indrelid = 'docs'::regclass AND a.amname = 'hnsw'}),
	'docs_h_idx true, docs_v_idx true', 'the restored hnsw indexes are valid');

for my $c ([ 'v', '<->', 'vector', 'docs_v_idx' ], [ 'h', '<=>', 'halfvec', 'docs_h_idx' ])
{
	my ($col, $op, $type, $index) = @$c;
	my %o = (column => $col, op => $op);
	my @queries = map { "ann_test_vec($_, $DIMS)::$type" } (-7, 3, 400, 9999);
	restored_answers_ok($node, 'docs', $index, \@queries, %o, ef => 1000);
	all_reachable_ok($node, 'restored', 'docs', $queries[1], "$index: every row is in the restored index", %o);
}

$node->stop;
done_testing();
