# ann_check_index beside writes: two pgbench clients insert random rows
# into a table with an hnsw and two spann indexes (one of vectors split
# across pages), delete others and query, while checks of all three and
# VACUUM run one after the other.  Inserts extend the
# index while a check reads it: a link or an entry may lead to a block
# past the size the check saw at its start, or to an element whose
# neighbour tuple was written after the check read that page.  Such a
# check used to report corruption that was not there (and spann's could
# write past its array of pages); now every check passes, during the load
# and after it.  Then checks beside one long VACUUM of an hnsw index.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use AnnTest;

my $node = PostgreSQL::Test::Cluster->new('check_inserts');
$node->init;
$node->start;
ann_setup($node, 'postgres');
$node->safe_psql('postgres', q{
	CREATE FUNCTION rnd_vec() RETURNS vector LANGUAGE sql VOLATILE
	RETURN (SELECT array_agg(random() - 0.5)::vector FROM generate_series(1, 16));
	-- the vector repeated 44 times: 704 dimensions, whose tuples split
	-- across two pages; stored, since computing it for every row would
	-- take each check and the build seconds
	CREATE FUNCTION wide(v vector) RETURNS vector IMMUTABLE LANGUAGE sql
	RETURN ('[' || rtrim(repeat(btrim(v::text, '[]') || ',', 44), ',') || ']')::vector(704);
	CREATE TABLE ci (id bigserial PRIMARY KEY, v vector(16),
		vw vector(704) GENERATED ALWAYS AS (wide(v)::vector(704)) STORED);
	INSERT INTO ci (v) SELECT rnd_vec() FROM generate_series(1, 20000);
	CREATE INDEX ci_spann ON ci USING spann (v vector_l2_ops);
	CREATE INDEX ci_hnsw ON ci USING hnsw (v vector_l2_ops);
	CREATE INDEX ci_split ON ci USING spann (vw vector_l2_ops);
});

# the writers also read split vectors (a scan of every list reranks them)
my $bench = pgbench_start($node, '-c 2 -j 2 -T 12 --random-seed=46', q{
INSERT INTO ci (v) SELECT rnd_vec() FROM generate_series(1, 5);
DELETE FROM ci WHERE id = (random() * (SELECT max(id) FROM ci))::bigint;
SET enable_seqscan = off;
SET spann.probes = 1000;
SELECT count(*) FROM (SELECT id FROM ci ORDER BY vw <-> (SELECT wide(rnd_vec())::vector(704)) LIMIT 20) s;
}, 'writes');
my %checks = (ci_spann => 0, ci_hnsw => 0, ci_split => 0);
my @failures;
while (pgbench_running($bench))
{
	for my $index (sort keys %checks)
	{
		my ($ret, $out, $err) = $node->psql('postgres', "SELECT ann_check_index('$index', true)");
		push @failures, "$index: $err" if $ret != 0;
		$checks{$index}++;
	}
	$node->safe_psql('postgres', 'VACUUM ci');
}
pgbench_finish_ok($bench, '\\d+', '2 clients insert and delete while the indexes are checked and vacuumed');
note("checks during the writes: " . join(", ", map { "$_ $checks{$_}" } sort keys %checks));
ok((grep { $_ >= 2 } values %checks) == keys %checks, 'each index was checked during the writes');
is(join("\n", @failures), '', 'no check during the writes reports corruption');
index_check_ok($node, 'postgres', 'ci_spann', 'spann: ann_check_index passes after the writes');
index_check_ok($node, 'postgres', 'ci_hnsw', 'hnsw: ann_check_index passes after the writes');
index_check_ok($node, 'postgres', 'ci_split', 'spann of split vectors: ann_check_index passes after the writes');
all_reachable_ok($node, 'postgres', 'ci', 'SELECT wide(rnd_vec())::vector(704)',
	'spann of split vectors: every row is in the index, once',
	column => 'vw', set => 'SET spann.probes = 65536;');

# Checks beside a VACUUM that removes many elements: while it repairs
# the lists that led to them, a live element can be left without links
# until it relinks the orphans at its end.  A check that found such an
# element used to report the index corrupted for as long as VACUUM ran.
$node->safe_psql('postgres', q{
	SET max_parallel_maintenance_workers = 0;
	CREATE TABLE cv (id int PRIMARY KEY, cat int, v vector(16)) WITH (autovacuum_enabled = off);
	SELECT setseed(0.5);
	INSERT INTO cv SELECT i, i % 100, (SELECT array_agg(random() + 0 * g + 0 * i)
		FROM generate_series(1, 16) g)::vector FROM generate_series(1, 50000) i;
	CREATE INDEX cv_hnsw ON cv USING hnsw (v vector_l2_ops, cat);
	DELETE FROM cv WHERE id % 7 = 1;
});
my $vacuum = pgbench_start($node, '-c 1 -t 1', 'VACUUM cv;', 'vacuum');
my $vacuum_checks = 0;
my @vacuum_failures;
while (pgbench_running($vacuum))
{
	my ($ret, $out, $err) = $node->psql('postgres', "SELECT ann_check_index('cv_hnsw', true)");
	push @vacuum_failures, $err if $ret != 0;
	$vacuum_checks++;
}
pgbench_finish_ok($vacuum, '1', 'a VACUUM of an hnsw index runs while it is checked');
note("checks during the VACUUM: $vacuum_checks");
ok($vacuum_checks >= 1, 'the index was checked during the VACUUM');
is(join("\n", @vacuum_failures), '', 'no check during the VACUUM reports corruption');
index_check_ok($node, 'postgres', 'cv_hnsw', 'hnsw: ann_check_index passes after the VACUUM');

$node->stop;
done_testing();
