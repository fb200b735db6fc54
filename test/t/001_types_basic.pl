# A cluster starts, the extension loads, and values of both types survive
# a round trip through a table, a restart and pg_dump/restore.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('primary');
$node->init;
$node->start;

$node->safe_psql('postgres', 'CREATE EXTENSION ann');
like($node->safe_psql('postgres', 'SELECT ann_simd_level()'),
	qr/^(scalar|avx2|avx512)$/, 'a kernel level is chosen');

$node->safe_psql('postgres', q{
	CREATE TABLE t (id int PRIMARY KEY, v vector(3), h halfvec(3));
	INSERT INTO t SELECT i, ARRAY[i, -i, i * 0.5], ARRAY[i, 1, 0.25] FROM generate_series(1, 100) i;
});
is($node->safe_psql('postgres', q{SELECT v, h FROM t WHERE id = 7}),
	'[7,-7,3.5]|[7,1,0.25]', 'values round-trip through a table');

$node->restart;
is($node->safe_psql('postgres', q{SELECT count(*) FROM t WHERE v <-> ARRAY[id, -id, id * 0.5]::vector = 0}),
	'100', 'values survive a restart');

# pg_dump and restore into a new database
my $dump = $node->basedir . '/dump.sql';
$node->command_ok([ 'pg_dump', '-d', $node->connstr('postgres'), '-f', $dump ], 'pg_dump');
$node->safe_psql('postgres', 'CREATE DATABASE restored');
$node->command_ok([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('restored'), '-f', $dump ],
	'restore');
is($node->safe_psql('restored', q{SELECT sum(vector_norm(v)), sum(l2_norm(h)) FROM t}),
	$node->safe_psql('postgres', q{SELECT sum(vector_norm(v)), sum(l2_norm(h)) FROM t}),
	'restored values equal the originals');

$node->stop;
done_testing();
