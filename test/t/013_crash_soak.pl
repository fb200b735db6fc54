# Crash soak: pgbench clients insert, update (HOT and not) and delete rows
# of tables with hnsw and spann indexes and query them, while another
# client runs VACUUM, and the postmaster is killed with SIGKILL at random
# moments, round after round.  After each recovery a scan allowed to visit
# everything returns every row, and after a VACUUM (which links what the
# concurrent inserts left unlinked) ann_check_index(..., true) passes on
# every index (structure, reachability, every visible row indexed).
#
# ANN_SOAK_SECONDS makes it run for that long instead of three short
# rounds (test/soak MINUTES does that); ANN_SOAK_SEED seeds the moments
# of the kills and pgbench.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use AnnTest;

my $DIMS = 16;
my $SECONDS = $ENV{ANN_SOAK_SECONDS};
my $SEED = $ENV{ANN_SOAK_SEED} // 7;
srand($SEED);

my $node = PostgreSQL::Test::Cluster->new('soak');
$node->init;
$node->append_conf('postgresql.conf', "autovacuum = off\nrestart_after_crash = off");
$node->start;
ann_setup($node, 'postgres');
$node->safe_psql('postgres', "
	CREATE TABLE ht (id bigserial PRIMARY KEY, v vector($DIMS), note int);
	CREATE TABLE st (id bigserial PRIMARY KEY, v vector($DIMS), note int);
	INSERT INTO ht (v, note) SELECT ann_test_clustered_vec(i, $DIMS, 8), 0 FROM generate_series(1, 2000) i;
	INSERT INTO st (v, note) SELECT ann_test_clustered_vec(i, $DIMS, 8), 0 FROM generate_series(1, 2000) i;
	CREATE INDEX ht_idx ON ht USING hnsw (v vector_l2_ops) WITH (m = 8, ef_construction = 32);
	CREATE INDEX st_idx ON st USING spann (v vector_l2_ops) WITH (lists = 16);");

# One transaction per table: five new rows, an UPDATE that keeps the
# vector (HOT), one that changes it, a DELETE, and a query
my $write = '';
for my $t ('ht', 'st')
{
	$write .= qq{
BEGIN;
INSERT INTO $t (v, note) SELECT ann_test_clustered_vec(:r + i, $DIMS, 8), 0 FROM generate_series(1, 5) i;
UPDATE $t SET note = note + 1 WHERE id = (SELECT max(id) FROM $t) - :r % 50;
UPDATE $t SET v = ann_test_clustered_vec(:r + 7, $DIMS, 8) WHERE id = (SELECT max(id) FROM $t) - :r % 70;
DELETE FROM $t WHERE id = (SELECT max(id) FROM $t) - :r % 90;
SELECT count(*) FROM (SELECT id FROM $t ORDER BY v <-> ann_test_clustered_vec(:r, $DIMS, 8)::vector LIMIT 10) s;
COMMIT;
};
}
$write = "\\set r random(1, 1000000)\n$write";

my $every_row = 'SET enable_seqscan = off; SET hnsw.iterative_scan = relaxed_order;
	SET hnsw.ef_search = 1000; SET hnsw.max_scan_tuples = 10000000; SET work_mem = \'256MB\';
	SET spann.probes = 65536; SET ann.incomplete_scan = error;';

# The checks after a recovery
sub recovered_ok
{
	my ($round) = @_;
	for my $t ('ht', 'st')
	{
		is($node->safe_psql('postgres', "$every_row
			SELECT (SELECT count(DISTINCT id) FROM (SELECT id FROM $t ORDER BY v <-> ann_test_clustered_vec(3, $DIMS, 8)::vector
				LIMIT 100000000) s) = (SELECT count(*) FROM $t)"), 't', "$round: a scan of $t returns every row");
		$node->safe_psql('postgres', "VACUUM $t");
		index_check_ok($node, 'postgres', "${t}_idx", "$round: after VACUUM, ann_check_index($t) passes");
	}
	return;
}

# Start the writers and the VACUUM loop, kill the postmaster after a
# random while, restart it once its children are gone
my $round = 0;
my $start = time;
my $transactions = 0;
while (1)
{
	$round++;
	my $writers = pgbench_start($node, "-c 2 -j 2 -T 600 --random-seed=" . ($SEED + $round), $write,
		"write$round");
	my $vacuum = pgbench_start($node, '-c 1 -T 600', "VACUUM ht;\nVACUUM st;\n", "vacuum$round");
	select(undef, undef, undef, 1 + rand(4));
	my $postmaster = $node->{_pid};
	my @children = split /\s+/, `pgrep -P $postmaster`;
	$node->kill9;
	$writers->[0]->finish;
	$vacuum->[0]->finish;
	$transactions += $1 while ${ $writers->[1] } =~ /transactions actually processed: (\d+)/g;
	# pgbench reports the lost connections; anything else is a failure
	unlike(${ $writers->[2] } =~ s/^.*(?:server closed the connection|terminating connection|connection to server|lost synchronization|pgbench: error: client \d+ aborted|Run was aborted|setting random seed).*\n//mgr,
		qr/ERROR/, "round $round: no statement failed before the crash")
	  or diag(${ $writers->[2] });
	# the server can start again once no process of the old one is left
	for (1 .. 300)
	{
		last unless grep { kill(0, $_) } ($postmaster, @children);
		select(undef, undef, undef, 0.1);
	}
	ok($node->start(fail_ok => 1), "round $round: the server restarts after SIGKILL of the postmaster");
	recovered_ok("round $round");
	last if defined $SECONDS ? time - $start >= $SECONDS : $round >= 3;
}
note("$round rounds, at least $transactions transactions committed between crashes");

unlike(slurp_file($node->logfile), qr/PANIC|TRAP:|terminated by signal (?!9)/,
	'no PANIC, failed assertion or crash other than the kills');
$node->stop;
done_testing();
