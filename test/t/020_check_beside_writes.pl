# ann_check_index beside writes: two pgbench clients insert random rows
# into a table with an hnsw and a spann index, and delete others, while
# checks of both and VACUUM run one after the other.  Inserts extend the
# index while a check reads it: a link or an entry may lead to a block
# past the size the check saw at its start, or to an element whose
# neighbour tuple was written after the check read that page.  Such a
# check used to report corruption that was not there (and spann's could
# write past its array of pages); now every check passes, during the load
# and after it.
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
	CREATE TABLE ci (id bigserial PRIMARY KEY, v vector(16));
	INSERT INTO ci (v) SELECT rnd_vec() FROM generate_series(1, 20000);
	CREATE INDEX ci_spann ON ci USING spann (v vector_l2_ops);
	CREATE INDEX ci_hnsw ON ci USING hnsw (v vector_l2_ops);
});

my $bench = pgbench_start($node, '-c 2 -j 2 -T 20 --random-seed=46', q{
INSERT INTO ci (v) SELECT rnd_vec() FROM generate_series(1, 5);
DELETE FROM ci WHERE id = (random() * (SELECT max(id) FROM ci))::bigint;
}, 'writes');
my %checks = (ci_spann => 0, ci_hnsw => 0);
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
note("checks during the writes: ci_spann $checks{ci_spann}, ci_hnsw $checks{ci_hnsw}");
ok($checks{ci_spann} >= 2 && $checks{ci_hnsw} >= 2, 'each index was checked during the writes');
is(join("\n", @failures), '', 'no check during the writes reports corruption');
index_check_ok($node, 'postgres', 'ci_spann', 'spann: ann_check_index passes after the writes');
index_check_ok($node, 'postgres', 'ci_hnsw', 'hnsw: ann_check_index passes after the writes');

$node->stop;
done_testing();
