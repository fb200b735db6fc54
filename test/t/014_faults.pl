# Faults: hnsw and spann indexes when the disk fills up and when a
# statement is cancelled.
#
# Disk full.  A full filesystem cannot be had without root (no mount, no
# loop device), so the test gives one backend a file size limit instead:
# prlimit(1) lowers the RLIMIT_FSIZE soft limit of the session's backend
# (a process may lower the limits of another process of the same user; as
# root, the test itself runs as the postgres user).  PostgreSQL ignores
# SIGXFSZ, so a write past the limit fails with EFBIG and mdextend raises
# the same ERROR it raises for ENOSPC, "could not extend file ...", from
# the same place: for the index access method it is the extension of the
# relation failing, as on a full disk.  The limit applies to every file the
# backend writes at or beyond that offset, WAL included, so the cluster
# has 1 MB WAL segments and every limit is larger than those, than the
# catalogs and than the heap, and smaller than the index.  Writes of blocks
# that exist never fail on a real full disk, and never reach such offsets
# here: shared_buffers holds everything, so the backend does not evict.
# Builds run without parallel workers there, which would not inherit the
# limit.
# Freeing space is raising the limit again.  Under the limit: CREATE INDEX
# (and CONCURRENTLY), INSERT and VACUUM of both access methods fail with a
# clean ERROR (or succeed without needing space), the backend lives on with
# no lock left, no index is left behind (CONCURRENTLY leaves an invalid
# one, which no plan uses), the index still passes ann_check_index, and
# once the limit is raised the same statements succeed in the same
# session, every committed row reachable.
#
# Cancellation.  statement_timeout and pg_cancel_backend stop CREATE INDEX
# (serial and with a parallel worker), a long INSERT ... SELECT, VACUUM
# (bulk delete and cleanup) and a long run of index scans, for both access
# methods, with SQLSTATE 57014 soon after; no lock or buffer pin is left,
# the index passes ann_check_index(index, true), returns every row, and
# VACUUM, VACUUM FULL, DROP INDEX and CREATE INDEX succeed afterwards.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use AnnTest;

my $DIMS = 32;
my $Q = "ann_test_clustered_vec(-5, $DIMS, 20)::vector";
my %FAST = (
	hnsw => 'hnsw (v vector_l2_ops) WITH (m = 8, ef_construction = 32)',
	spann => 'spann (v vector_l2_ops) WITH (lists = 50, epsilon = 10, replicas = 3)',
);
# builds that take seconds, to be cancelled
my %SLOW = (
	hnsw => 'hnsw (v vector_l2_ops) WITH (m = 48, ef_construction = 1000)',
	spann => 'spann (v vector_l2_ops) WITH (lists = 10000, replicas = 32, epsilon = 10)',
);
# settings with which a scan visits every row
my $EVERY_ROW = 'SET hnsw.ef_search = 1000; SET hnsw.iterative_scan = relaxed_order;
	SET hnsw.max_scan_tuples = 100000000; SET hnsw.scan_mem_multiplier = 1000;
	SET spann.probes = 65536; SET spann.iterative_scan = relaxed_order;';

my $node = PostgreSQL::Test::Cluster->new('faults');
$node->init(extra => ['--wal-segsize=1']);
$node->append_conf('postgresql.conf', "autovacuum = off\nmaintenance_work_mem = '256MB'
max_parallel_maintenance_workers = 0\nshared_buffers = '128MB'");
$node->start;
ann_setup($node, 'postgres');
$node->safe_psql('postgres', "CREATE EXTENSION pg_buffercache;
	CREATE TABLE base (id int, v vector($DIMS), note int);
	INSERT INTO base SELECT i, ann_test_clustered_vec(i, $DIMS, 20), 0 FROM generate_series(1, 20000) i;");

# The server is still up, and the backend of session $s is still $pid.
sub same_backend_ok
{
	my ($s, $pid, $name) = @_;
	my ($out, $err) = session_run($s, 'SELECT pg_backend_pid()');
	is("$out$err", $pid, $name);
	return;
}

# ---------------------------------------------------------------------
# Disk full
# ---------------------------------------------------------------------

# Sets the file size soft limit of process $pid to $limit (bytes or
# 'unlimited'), leaving the hard limit alone.
sub limit_file_size
{
	my ($pid, $limit) = @_;
	system('prlimit', '--pid', $pid, "--fsize=$limit:") == 0
	  or BAIL_OUT("prlimit --pid $pid --fsize=$limit: failed");
	return;
}

# Bytes of relation $rel
sub rel_size
{
	my ($rel) = @_;
	return $node->safe_psql('postgres', "SELECT pg_relation_size('$rel')");
}

# $err is one ERROR: the file of relation $rel (or any file) could not
# be extended.
sub extend_error_ok
{
	my ($err, $rel, $name) = @_;
	my $file = $rel ? quotemeta($node->safe_psql('postgres', "SELECT pg_relation_filepath('$rel')")) : '[^"]+';
	like($err, qr/^(?:psql:\S+ )?ERROR:  \w{5}: could not extend file "$file": File too large\n/, $name);
	unlike($err, qr/(?:PANIC|FATAL|server closed|connection to server)/, "$name: nothing worse");
	return;
}

for my $am ('hnsw', 'spann')
{
	my $t = "df_$am";
	my $idx = "${t}_idx";
	my ($s, $pid) = ann_session($node);
	$node->safe_psql('postgres', "CREATE TABLE $t AS SELECT * FROM base WHERE id <= 10000");

	# CREATE INDEX, then CREATE INDEX CONCURRENTLY, with room for a WAL
	# segment and the catalogs (the heap is only read) but not for the index
	my $limit = 1280 * 1024;
	cmp_ok($node->safe_psql('postgres', 'SELECT max(pg_relation_size(oid)) FROM pg_class
		WHERE relnamespace = \'pg_catalog\'::regnamespace'), '<', $limit - 65536,
		"$am: the catalogs have room to grow");
	limit_file_size($pid, $limit);
	my (undef, $err) = session_run($s, "CREATE INDEX $idx ON $t USING $FAST{$am}");
	extend_error_ok($err, undef, "$am: CREATE INDEX on a full disk fails");
	same_backend_ok($s, $pid, "$am: the backend lives on");
	no_locks_ok($node, $pid, "$am: it holds no lock");
	is($node->safe_psql('postgres', "SELECT count(*) FROM pg_class WHERE relname = '$idx'"), '0',
		"$am: no index is left behind");

	(undef, $err) = session_run($s, "CREATE INDEX CONCURRENTLY $idx ON $t USING $FAST{$am}");
	extend_error_ok($err, undef, "$am: CREATE INDEX CONCURRENTLY on a full disk fails");
	no_locks_ok($node, $pid, "$am: CONCURRENTLY leaves no lock");
	is($node->safe_psql('postgres', "SELECT indisvalid FROM pg_index WHERE indexrelid = '$idx'::regclass"),
		'f', "$am: CONCURRENTLY leaves an invalid index");
	unlike($node->safe_psql('postgres', "SET enable_seqscan = off;
		EXPLAIN (COSTS OFF) SELECT id FROM $t ORDER BY v <-> $Q LIMIT 10"),
		qr/\Q$idx\E/, "$am: which no plan uses");
	(undef, $err) = session_run($s, "DROP INDEX $idx");
	is($err, '', "$am: and DROP INDEX drops it on the full disk");

	# with room again, in the same session
	limit_file_size($pid, 'unlimited');
	(undef, $err) = session_run($s, "CREATE INDEX $idx ON $t USING $FAST{$am}");
	is($err, '', "$am: CREATE INDEX succeeds once there is room");
	cmp_ok(rel_size($idx), '>', $limit, "$am: the index is larger than the limit was");
	index_check_ok($node, 'postgres', $idx, "$am: ann_check_index passes after the build");

	# INSERT: room for the heap to grow, none for the index
	$limit = rel_size($idx);
	cmp_ok(rel_size($t) + 60 * 8192, '<', $limit, "$t: the heap has room to grow");
	limit_file_size($pid, $limit);
	(undef, $err) = session_run($s, "INSERT INTO $t SELECT * FROM base WHERE id BETWEEN 10001 AND 12000");
	extend_error_ok($err, $idx, "$am: INSERT on a full disk fails extending the index");
	same_backend_ok($s, $pid, "$am: the backend lives on after the INSERT");
	no_locks_ok($node, $pid, "$am: it holds no lock after the INSERT");
	index_check_ok($node, 'postgres', $idx, "$am: ann_check_index passes after the failed INSERT");
	all_reachable_ok($node, 'postgres', $t, $Q, "$am: every row is reachable after the failed INSERT",
		set => $EVERY_ROW);

	limit_file_size($pid, 'unlimited');
	(undef, $err) = session_run($s, "INSERT INTO $t SELECT * FROM base WHERE id BETWEEN 10001 AND 12000");
	is($err, '', "$am: INSERT succeeds once there is room");
	# hnsw inserts can leave an element no link leads to (a back link that
	# prunes a neighbour's list can drop another element's last in-link),
	# which ann_check_index reports: VACUUM links them again
	$node->safe_psql('postgres', "VACUUM $t");
	index_check_ok($node, 'postgres', $idx, "$am: ann_check_index passes after the INSERT and a VACUUM");
	all_reachable_ok($node, 'postgres', $t, $Q, "$am: every row is reachable after the INSERT",
		set => $EVERY_ROW);

	# VACUUM after deleting most rows, with no room left for the index
	$node->safe_psql('postgres', "DELETE FROM $t WHERE id % 4 <> 0");
	$limit = rel_size($idx);
	limit_file_size($pid, $limit);
	(undef, $err) = session_run($s, "VACUUM $t");
	if ($am eq 'hnsw')
	{
		# hnsw's VACUUM frees elements in place; it needs no page
		is($err, '', "$am: VACUUM on a full disk succeeds");
	}
	else
	{
		# spann's merges and rewrites need new pages before the old ones are freed
		extend_error_ok($err, $idx, "$am: VACUUM on a full disk fails extending the index");
		same_backend_ok($s, $pid, "$am: the backend lives on after VACUUM");
		no_locks_ok($node, $pid, "$am: it holds no lock after VACUUM");
		index_check_ok($node, 'postgres', $idx, "$am: ann_check_index passes after the failed VACUUM");
		all_reachable_ok($node, 'postgres', $t, $Q, "$am: every row is reachable after the failed VACUUM",
			set => $EVERY_ROW);
		limit_file_size($pid, 'unlimited');
		(undef, $err) = session_run($s, "VACUUM $t");
		is($err, '', "$am: VACUUM succeeds once there is room");
		$limit = rel_size($idx);
		limit_file_size($pid, $limit);
	}
	index_check_ok($node, 'postgres', $idx, "$am: ann_check_index passes after VACUUM");

	# what VACUUM freed takes new rows without extending the index
	(undef, $err) = session_run($s, "INSERT INTO $t SELECT * FROM base WHERE id BETWEEN 12001 AND 13000");
	is($err, '', "$am: INSERT on the full disk reuses the space VACUUM freed");
	limit_file_size($pid, 'unlimited');
	$node->safe_psql('postgres', "VACUUM $t");
	index_check_ok($node, 'postgres', $idx, "$am: ann_check_index passes at the end, after a VACUUM");
	all_reachable_ok($node, 'postgres', $t, $Q, "$am: every row is reachable at the end", set => $EVERY_ROW);
	$s->quit;
}

# ---------------------------------------------------------------------
# Cancellation
# ---------------------------------------------------------------------

# Runs $sql in session $s, stops it with statement_timeout ($how =
# 'timeout': $timeout) or with pg_cancel_backend once $ready (a boolean
# query; $how = 'cancel') holds, and checks that it ends with SQLSTATE
# 57014 soon after, leaving no lock.  $setup and $reset run before and
# after, in the session.
sub cancelled_ok
{
	my ($s, $pid, $name, $how, %o) = @_;
	my ($timeout, $ready) = ($o{timeout} // '500ms', $o{ready} // 'true');
	my (undef, $err) = session_run($s, ($o{setup} // '')
		  . ($how eq 'timeout' ? " SET statement_timeout = '$timeout';" : ''));
	is($err, '', "$name: setup") or diag($err);
	session_start($s, $o{sql});
	my $start = time;
	my ($phase, $wait) = ('', 0);
	if ($how eq 'cancel')
	{
		$node->poll_query_until('postgres', $ready =~ s/\$pid/$pid/gr)
		  or diag("$name: not ready in time");
		$phase = $node->safe_psql('postgres', "SELECT coalesce((SELECT phase FROM pg_stat_progress_create_index
			WHERE pid = $pid), (SELECT phase FROM pg_stat_progress_vacuum WHERE pid = $pid), '')");
		$start = time;
		$node->safe_psql('postgres', "SELECT pg_cancel_backend($pid)");
	}
	$err = session_finish($s);
	$wait = time - $start;
	note(sprintf("%s: ended %.2f s after the %s%s", $name, $wait, $how, $phase ? " (in phase $phase)" : ''));
	my $why = $how eq 'timeout' ? 'statement timeout' : 'user request';
	like($err, qr/^(?:psql:\S+ )?ERROR:  57014: canceling statement due to \Q$why\E\n/, "$name: cancelled");
	cmp_ok($wait, '<', 30, "$name: promptly");
	(undef, $err) = session_run($s, 'RESET statement_timeout;' . ($o{reset} // ''));
	no_locks_ok($node, $pid, "$name: no lock is left");
	return;
}

for my $am ('hnsw', 'spann')
{
	my $t = "c_$am";
	my $idx = "${t}_idx";
	my ($s, $pid) = ann_session($node);
	$node->safe_psql('postgres', "CREATE TABLE $t AS SELECT * FROM base;
		ALTER TABLE $t SET (parallel_workers = 1); VACUUM $t");

	my $building = $am eq 'hnsw' ? 'building graph' : 'assigning rows to lists';
	for my $workers (0, 1)
	{
		for my $how ('timeout', 'cancel')
		{
			my $name = "$am: CREATE INDEX with $workers parallel workers, $how";
			my $ready = "SELECT EXISTS (SELECT FROM pg_stat_progress_create_index
				WHERE pid = \$pid AND phase = 'building index: $building')";
			$ready .= " AND EXISTS (SELECT FROM pg_stat_activity WHERE leader_pid = \$pid)" if $workers;
			cancelled_ok($s, $pid, $name, $how, ready => $ready,
				setup => "SET max_parallel_maintenance_workers = $workers;",
				sql => "CREATE INDEX ${t}_slow ON $t USING $SLOW{$am}",
				reset => 'RESET max_parallel_maintenance_workers;');
			ok($node->poll_query_until('postgres', "SELECT NOT EXISTS (SELECT FROM pg_stat_activity
				WHERE leader_pid = $pid)"), "$name: no parallel worker is left");
			is($node->safe_psql('postgres', "SELECT count(*) FROM pg_class WHERE relname = '${t}_slow'"), '0',
				"$name: no index is left behind");
			no_pins_ok($node, $t, "$name: no buffer is left pinned");
		}
	}

	my (undef, $err) = session_run($s, "CREATE INDEX $idx ON $t USING $FAST{$am}");
	is($err, '', "$am: CREATE INDEX in the session after the cancellations");

	# an INSERT that would run for hours
	for my $how ('timeout', 'cancel')
	{
		cancelled_ok($s, $pid, "$am: INSERT ... SELECT, $how", $how, timeout => '1s',
			ready => "SELECT now() - query_start > '1s' FROM pg_stat_activity WHERE pid = \$pid",
			sql => "INSERT INTO $t SELECT i, ann_test_clustered_vec(i, $DIMS, 20), 1
				FROM generate_series(100001, 100000000) i");
		no_pins_ok($node, $t, "$am: INSERT ... SELECT, $how: no buffer is left pinned");
	}

	# VACUUM slowed down by cost-based delays: with statement_timeout, a
	# VACUUM with nothing to delete spends its time in the index's cleanup
	# (the heap's pages are all visible); with pg_cancel_backend, once it
	# vacuums the index after deletes
	my $slow_vacuum = "SET vacuum_cost_delay = '20ms'; SET vacuum_cost_limit = 1;";
	cancelled_ok($s, $pid, "$am: VACUUM (cleanup), timeout", 'timeout', timeout => '1s',
		setup => $slow_vacuum, sql => "VACUUM $t", reset => 'RESET vacuum_cost_delay; RESET vacuum_cost_limit;');
	no_pins_ok($node, $t, "$am: VACUUM (cleanup), timeout: no buffer is left pinned");
	$node->safe_psql('postgres', "DELETE FROM $t WHERE id % 10 = 0");
	cancelled_ok($s, $pid, "$am: VACUUM (bulk delete), cancel", 'cancel',
		ready => "SELECT EXISTS (SELECT FROM pg_stat_progress_vacuum WHERE pid = \$pid
			AND phase = 'vacuuming indexes')",
		setup => $slow_vacuum, sql => "VACUUM $t", reset => 'RESET vacuum_cost_delay; RESET vacuum_cost_limit;');
	no_pins_ok($node, $t, "$am: VACUUM (bulk delete), cancel: no buffer is left pinned");

	# index scans, each of the whole index (no row passes the filter),
	# one after the other for hours
	for my $how ('timeout', 'cancel')
	{
		cancelled_ok($s, $pid, "$am: index scans, $how", $how, timeout => '1s',
			ready => "SELECT now() - query_start > '1s' FROM pg_stat_activity WHERE pid = \$pid",
			setup => "SET enable_seqscan = off; $EVERY_ROW",
			sql => "SELECT count(*) FROM generate_series(1, 100000000) g,
				LATERAL (SELECT id FROM $t WHERE note < 0
					ORDER BY v <-> ann_test_clustered_vec(g, $DIMS, 20)::vector LIMIT 1) s",
			reset => 'RESET ALL;');
		no_pins_ok($node, $t, "$am: index scans, $how: no buffer is left pinned");
	}

	# the index is whole and the session can do anything with it
	index_check_ok($node, 'postgres', $idx, "$am: ann_check_index passes after the cancellations");
	all_reachable_ok($node, 'postgres', $t, $Q, "$am: every row is reachable after the cancellations",
		set => $EVERY_ROW);
	matches_exact_ok($node, 'postgres', $t, [ map { "ann_test_clustered_vec($_, $DIMS, 20)::vector" } (-1, -2, -3) ],
		"$am: the index answers exactly", set => $EVERY_ROW);
	for my $sql ("VACUUM $t", "VACUUM FULL $t", "DROP INDEX $idx", "CREATE INDEX $idx ON $t USING $FAST{$am}")
	{
		(undef, $err) = session_run($s, $sql);
		is($err, '', "$am: $sql succeeds in the session");
	}
	index_check_ok($node, 'postgres', $idx, "$am: ann_check_index passes on the new index");
	same_backend_ok($s, $pid, "$am: the session's backend lived through it all");
	$s->quit;
}

unlike(slurp_file($node->logfile), qr/PANIC|TRAP:|terminated by signal|server process .* exited/,
	'no crash in the log');
$node->stop;
done_testing();
