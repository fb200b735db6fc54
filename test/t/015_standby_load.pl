# Replication under load: pgbench clients insert, update (HOT and not)
# and delete rows of tables with hnsw and spann indexes (vector and
# halfvec, l2 and cosine; spann lists small enough to split) on a primary
# while another client runs VACUUM, and clients on a streaming standby
# query the same tables meanwhile, with wal_consistency_checking comparing
# every replayed page with the primary's image.  Once the standby has
# caught up it returns exactly the primary's answers (ids and distances)
# at the same settings, and ann_check_index passes on it; promoted, it
# takes inserts and updates, every row stays reachable and
# ann_check_index(index, true) passes.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use AnnTest;

my $DIMS = 16;
my $SECONDS = 10;

my @cases = (
	{ t => 'h_vec_l2', type => 'vector', using => 'hnsw (v vector_l2_ops) WITH (m = 8, ef_construction = 32)', op => '<->' },
	{ t => 'h_half_cos', type => 'halfvec', using => 'hnsw (v halfvec_cosine_ops) WITH (m = 8, ef_construction = 32)', op => '<=>' },
	{ t => 's_vec_cos', type => 'vector', using => 'spann (v vector_cosine_ops) WITH (lists = 8)', op => '<=>' },
	{ t => 's_half_l2', type => 'halfvec', using => 'spann (v halfvec_l2_ops) WITH (lists = 8)', op => '<->' },
);

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', "wal_consistency_checking = 'generic'\nautovacuum = off
wal_keep_size = '1GB'\nshared_buffers = '64MB'\nmax_connections = 30");
$primary->start;
ann_setup($primary, 'postgres');

# row $i's vector (SQL) for case $c
sub row_vec
{
	my ($c, $i) = @_;
	return "ann_test_clustered_vec($i, $DIMS, 8)::$c->{type}($DIMS)";
}

for my $c (@cases)
{
	$primary->safe_psql('postgres', "CREATE TABLE $c->{t} (id bigserial PRIMARY KEY, v $c->{type}($DIMS), note int)
		WITH (fillfactor = 80);
		INSERT INTO $c->{t} (v, note) SELECT " . row_vec($c, 'i') . ", 0 FROM generate_series(1, 1500) i;
		CREATE INDEX $c->{t}_idx ON $c->{t} USING $c->{using};");
}
$primary->backup('backup');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'backup', has_streaming => 1);
$standby->start;

# For each table: five new rows, an UPDATE that keeps the vector (HOT:
# fillfactor leaves room), one that changes it, a DELETE; each a
# transaction of its own, one row each, so clients cannot deadlock
my $write = "\\set r random(1, 1000000)\n";
my $read = "\\set r random(1, 1000000)\n";
for my $c (@cases)
{
	my $t = $c->{t};
	$write .= "INSERT INTO $t (v, note) SELECT " . row_vec($c, ':r + i') . ", 0 FROM generate_series(1, 5) i;
UPDATE $t SET note = note + 1 WHERE id = (SELECT max(id) FROM $t) - :r % 50;
UPDATE $t SET v = " . row_vec($c, ':r + 7') . " WHERE id = (SELECT max(id) FROM $t) - :r % 70;
DELETE FROM $t WHERE id = (SELECT max(id) FROM $t) - :r % 90;
";
	# relaxed_order: strict_order warns of the rows a filtered scan finds late
	$read .= "SET enable_seqscan = off; SET hnsw.iterative_scan = relaxed_order;
SELECT count(*) FROM (SELECT id FROM $t ORDER BY v $c->{op} " . row_vec($c, ':r') . " LIMIT 10) s;
SELECT count(*) FROM (SELECT id FROM $t WHERE note > 0 ORDER BY v $c->{op} " . row_vec($c, ':r') . " LIMIT 10) s;
";
}
my $vacuum = join('', map { "VACUUM $_->{t};\n" } @cases);

my $writers = pgbench_start($primary, "-c 3 -j 3 -T $SECONDS --random-seed=7", $write, 'write');
my $vacuums = pgbench_start($primary, "-c 1 -T $SECONDS", $vacuum, 'vacuum');
my $readers = pgbench_start($standby, "-c 2 -j 2 -T $SECONDS --random-seed=8", $read, 'read');
pgbench_finish_ok($writers, '\d+', 'the writers on the primary ran without an error');
pgbench_finish_ok($vacuums, '\d+', 'VACUUM ran beside them without an error');
pgbench_finish_ok($readers, '\d+', 'the queries on the standby ran beside replay without an error');

for my $c (@cases)
{
	ok($primary->poll_query_until('postgres', "SELECT n_tup_hot_upd > 0 AND n_tup_upd > n_tup_hot_upd
		AND n_tup_del > 0 FROM pg_stat_user_tables WHERE relname = '$c->{t}'"),
		"$c->{t}: the load made HOT and non-HOT updates and deletes");
}
for my $c (grep { $_->{using} =~ /^spann/ } @cases)
{
	cmp_ok($primary->safe_psql('postgres', "SELECT splits FROM spann_index_stats('$c->{t}_idx')"), '>', 0,
		"$c->{t}: lists split under the load");
}

# VACUUM links what the inserts left unlinked (hnsw: see 014_faults.pl)
$primary->safe_psql('postgres', join('', map { "VACUUM $_->{t};" } @cases));
$primary->wait_for_catchup($standby);

my $EVERY_ROW = 'SET hnsw.ef_search = 1000; SET hnsw.iterative_scan = relaxed_order;
	SET hnsw.max_scan_tuples = 100000000; SET spann.probes = 65536;';
for my $c (@cases)
{
	my $t = $c->{t};
	my @queries = map { row_vec($c, $_) } (-1, -2, -3, 17, 123456);
	index_used_ok($standby, 'postgres', $t, $queries[0], "${t}_idx", op => $c->{op});
	for my $set ('', $EVERY_ROW)
	{
		my @bad;
		for my $q (@queries)
		{
			for my $k (10, 100)
			{
				my $p = knn_rows($primary, 'postgres', $t, $q, op => $c->{op}, k => $k, set => $set);
				my $s = knn_rows($standby, 'postgres', $t, $q, op => $c->{op}, k => $k, set => $set);
				push @bad, "$q, LIMIT $k: primary $p->[0] ($p->[1]), standby $s->[0] ($s->[1])"
				  if "@$p" ne "@$s" || $p->[0] eq '';
			}
		}
		ok(!@bad, "$t: the standby returns the primary's ids and distances"
			  . ($set ? ' (every row reachable)' : ' (default settings)'))
		  or diag(join("\n", @bad));
	}
	my ($ret, $out, $err) = $standby->psql('postgres', "SELECT ann_check_index('${t}_idx', false)");
	is($ret . $err, '0', "$t: ann_check_index passes on the standby");
	index_check_ok($standby, 'postgres', "${t}_idx", "$t: ann_check_index(index, true) passes on the standby");
	all_reachable_ok($standby, 'postgres', $t, $queries[3], "$t: every row is reachable on the standby",
		op => $c->{op}, set => $EVERY_ROW);
}

is($standby->safe_psql('postgres', 'SELECT pg_is_in_recovery()'), 't', 'the standby is still replaying');
for my $node ($primary, $standby)
{
	unlike(slurp_file($node->logfile), qr/inconsistent page found|PANIC|TRAP:|terminated by signal/,
		$node->name . ': no WAL consistency failure or crash in the log');
}

# The promoted standby writes to the indexes it replayed
$primary->stop;
$standby->promote;
$standby->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()')
  or die 'the standby did not leave recovery';
for my $c (@cases)
{
	my $t = $c->{t};
	$standby->safe_psql('postgres', "UPDATE $t SET note = note + 1 WHERE id % 5 = 0;
		UPDATE $t SET v = " . row_vec($c, 'id::int + 3000000') . " WHERE id % 7 = 0;
		DELETE FROM $t WHERE id % 11 = 0;
		INSERT INTO $t (v, note) SELECT " . row_vec($c, 'i') . ", 0 FROM generate_series(2000001, 2000300) i;");
	my $new = $standby->safe_psql('postgres', "SELECT id FROM $t WHERE v = " . row_vec($c, 2000123));
	my $r = knn_rows($standby, 'postgres', $t, row_vec($c, 2000123), op => $c->{op});
	like(",$r->[0],", qr/,$new,/, "$t: the promoted standby finds a new row among the nearest to its vector");
	all_reachable_ok($standby, 'postgres', $t, row_vec($c, 5), "$t: every row is reachable after promotion and writes",
		op => $c->{op}, set => $EVERY_ROW);
	$standby->safe_psql('postgres', "VACUUM $t");
	index_check_ok($standby, 'postgres', "${t}_idx", "$t: ann_check_index(index, true) passes after promotion");
}
unlike(slurp_file($standby->logfile), qr/PANIC|TRAP:|terminated by signal/, 'standby: no crash after promotion');

$standby->stop;
done_testing();
