# Indexes with filter columns replicate through generic WAL: a streaming
# standby replays hnsw's signature directory (its build, appends that fill
# new directory pages, slots reused after VACUUM) and spann's list
# summaries (appends, splits, merges), with wal_consistency_checking
# comparing every replayed page with the primary's image; the standby's
# filtered scans then return what the primary's return.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use AnnTest;

my $DIMS = 8;

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf',
	"wal_consistency_checking = 'generic'\nautovacuum = off\nwal_keep_size = '1GB'");
$primary->start;
ann_setup($primary, 'postgres');
$primary->backup('backup');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'backup', has_streaming => 1);
$standby->start;

my %INDEX = (
	f_hnsw => 'hnsw (v vector_l2_ops, cat, tags) WITH (m = 8, ef_construction = 32)',
	f_spann => 'spann (v vector_l2_ops, cat, tags) WITH (lists = 4)',
);

# INSERT of rows $from..$to into $table
sub rows
{
	my ($table, $from, $to) = @_;
	return "INSERT INTO $table SELECT i, ann_test_vec(i, $DIMS), i % 20, ARRAY[i % 7, i % 11]
		FROM generate_series($from, $to) i;";
}

for my $table (sort keys %INDEX)
{
	$primary->safe_psql('postgres', "CREATE TABLE $table (id int PRIMARY KEY, v vector($DIMS), cat int,
			tags int4[]);"
		  . rows($table, 1, 300)
		  . "CREATE INDEX ${table}_idx ON $table USING $INDEX{$table};"
		  . rows($table, 301, 3000)
		  . "DELETE FROM $table WHERE id % 4 = 0; VACUUM $table;"
		  . rows($table, 3001, 3500));
}
cmp_ok($primary->safe_psql('postgres', "SELECT splits FROM spann_index_stats('f_spann_idx')"), '>', 0,
	'the spann inserts split lists');
$primary->wait_for_catchup($standby);

# The same filtered queries, with every candidate visited, on both nodes
my $SET = 'SET enable_seqscan = off; SET hnsw.ef_search = 1000; SET spann.probes = 65536;';
for my $table (sort keys %INDEX)
{
	for my $cond ('cat = 7', 'cat IN (1, 2, 3)', 'tags && ARRAY[5]', 'tags @> ARRAY[3, 4]')
	{
		my $sql = "$SET SELECT string_agg(id::text, ',') FROM (SELECT id FROM $table WHERE $cond
			ORDER BY v <-> ann_test_vec(77, $DIMS)::vector LIMIT 20) s";
		my $p = $primary->safe_psql('postgres', $sql);
		my $s = $standby->safe_psql('postgres', $sql);
		my $exact = $primary->safe_psql('postgres', "SET enable_indexscan = off;
			SELECT string_agg(id::text, ',') FROM (SELECT id FROM $table WHERE $cond
			ORDER BY v <-> ann_test_vec(77, $DIMS)::vector LIMIT 20) s");
		is($s, $p, "$table, $cond: the standby's rows equal the primary's");
		is($p, $exact, "$table, $cond: and they are the exact rows");
	}
}

is($standby->safe_psql('postgres', 'SELECT pg_is_in_recovery()'), 't', 'the standby is still replaying');
for my $node ($primary, $standby)
{
	unlike(slurp_file($node->logfile), qr/inconsistent page found|PANIC|TRAP:|terminated by signal/,
		$node->name . ': no WAL consistency failure or crash in the log');
}

$standby->stop;
$primary->stop;
done_testing();
