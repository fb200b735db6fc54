# spann: a streaming standby replays a build, inserts that split lists,
# deletes, VACUUM that merges lists and the reuse of freed pages, with
# wal_consistency_checking comparing every replayed page with the
# primary's image (vector and halfvec keys in spann indexes, keys too
# large for a page in another, vectors split across two pages in
# another, bit keys in an ivfflat one); crash
# recovery during inserts that split lists (an immediate shutdown, then a
# backend killed by SIGKILL; an ivfflat index of bit keys, a spann index
# of long keys and one of vectors split across pages beside the spann
# one); concurrent inserts
# and scans through pgbench, also during deletes and VACUUM; and recall@10
# on clustered data after the build (also built by parallel workers),
# after doubling the table by inserts, and after deletes and VACUUM.
#
# A scan with every list probed is exact, so the index is checked against
# sequential scans: the same top-10 rows, and every row returned once by a
# scan whose LIMIT exceeds the table.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use AnnTest;

my $DIMS = 16;
my $SPREAD = 0.6;	# clusters overlap: many vectors go to two lists or more

# Every list probed at once: spann.probes (ivfflat.probes for ivfflat
# indexes) above the number of lists, every group of centroids searched.
my $ALL = 'SET spann.probes = 65536; SET ivfflat.probes = 32768; SET spann.group_probes = 0;';

# Pages of $index on $node flagged retired (pageinspect)
sub retired_pages
{
	my ($node, $index) = @_;
	return $node->safe_psql('postgres', "SELECT count(*)
		FROM generate_series(1, pg_relation_size('$index') / 8192 - 1) b,
			 LATERAL get_raw_page('$index', b::int) raw
		WHERE get_byte(raw, 8188) & 8 <> 0");
}

# spann_index_stats of $index on $node as a hash reference
sub stats
{
	my ($node, $index) = @_;
	my @names = qw(lists entries list_limit splits merges groups);
	my @values = split /\|/,
	  $node->safe_psql('postgres', "SELECT " . join(', ', @names) . " FROM spann_index_stats('$index')");
	my %s;
	@s{@names} = @values;
	return \%s;
}

# The same, as text for messages and comparisons
sub stats_text
{
	my ($s) = @_;
	return join(', ', map { "$_ $s->{$_}" } qw(lists entries list_limit splits merges groups));
}

# No replay mismatch, crash or failed assertion in $node's log
sub log_clean_ok
{
	my ($node) = @_;
	unlike(slurp_file($node->logfile), qr/inconsistent page found|PANIC|TRAP:|terminated by signal 11/,
		$node->name . ': no WAL consistency failure, PANIC or failed assertion in the log');
	return;
}

# ---------------------------------------------------------------------
# 1. A streaming standby, with wal_consistency_checking on the primary
# ---------------------------------------------------------------------
{
	my $primary = PostgreSQL::Test::Cluster->new('primary');
	$primary->init(allows_streaming => 1);
	$primary->append_conf('postgresql.conf', "wal_consistency_checking = 'generic'");
	$primary->start;
	ann_setup($primary, 'postgres');
	$primary->backup('backup');
	my $standby = PostgreSQL::Test::Cluster->new('standby');
	$standby->init_from_backup($primary, 'backup', has_streaming => 1);
	$standby->start;

	# One table per key type, with other opclasses and assignment options;
	# bit keys (64 bits of quantized clustered vectors) in an ivfflat
	# index.  key is the SQL of the key of seed %s.  Exact: the same rows;
	# for halfvec keys normalised (for cosine) to half precision, distances
	# within 0.0002 of the exact ones; for bit keys, which tie, the same
	# distances.
	my @cases = (
		{ type => 'vector', column => "vector($DIMS)", ops => 'vector_l2_ops', op => '<->',
		  am => 'spann', with => 'lists = 10, epsilon = 1.0, replicas = 8', exact => { ids => 1 },
		  parallel => 1,
		  key => "ann_test_clustered_vec(%s, $DIMS, 10, $SPREAD)::vector" },
		{ type => 'halfvec', column => "halfvec($DIMS)", ops => 'halfvec_cosine_ops', op => '<=>',
		  am => 'spann', with => 'lists = 10, epsilon = 0.5, replicas = 2',
		  exact => { tolerance => 0.0002 },
		  key => "ann_test_clustered_vec(%s, $DIMS, 10, $SPREAD)::halfvec" },
		{ type => 'bit', column => 'bit(64)', ops => 'bit_hamming_ops', op => '<~>',
		  am => 'ivfflat', with => 'lists = 10', exact => {},
		  key => "binary_quantize(ann_test_clustered_vec(%s, 64, 10, $SPREAD)::vector)::bit(64)" },
		# keys too large for a page (two key pages each): the clustered
		# vector repeated 132 times, which keeps its clusters
		{ type => 'long', column => 'vector(2112)', ops => 'vector_l2_ops', op => '<->',
		  am => 'spann', with => 'lists = 10, epsilon = 1.0, replicas = 2', exact => { ids => 1 },
		  key => "('[' || rtrim(repeat(array_to_string(ann_test_clustered_vec(%s, $DIMS, 10, $SPREAD), ',') || ',',
			132), ',') || ']')::vector" },
		# vectors split across two pages (two whole ones leave 2.4 kB of a
		# page): the clustered vector repeated 44 times, under inner product
		{ type => 'split', column => 'vector(704)', ops => 'vector_ip_ops', op => '<#>',
		  am => 'spann', with => 'lists = 10, epsilon = 1.0, replicas = 2', exact => { ids => 1 },
		  parallel => 1,
		  key => "('[' || rtrim(repeat(array_to_string(ann_test_clustered_vec(%s, $DIMS, 10, $SPREAD), ',') || ',',
			44), ',') || ']')::vector" },
	);
	my $key_of = sub {
		my ($c, $seed) = @_;
		return sprintf($c->{key}, $seed);
	};
	my $rows = sub {
		my ($c, $from, $to) = @_;
		return "INSERT INTO t_$c->{type} SELECT i, " . $key_of->($c, 'i') . "
			FROM generate_series($from, $to) i;";
	};

	for my $c (@cases)
	{
		my $t = "t_$c->{type}";
		# the inserts triple the lists' mean size (the limit is twice it);
		# the deletes all but empty cluster 0's lists, which VACUUM merges
		# away; the second VACUUM frees the pages that splits and merges
		# retired, and the last inserts take them.  Cases marked parallel
		# are built by two workers and the leader, each filling vector pages
		# of its own.
		my $parallel = $c->{parallel}
		  ? "ALTER TABLE $t SET (parallel_workers = 2); SET max_parallel_maintenance_workers = 2;
			 SET client_min_messages = debug1;"
		  : '';
		my ($ret, $out, $err) = $primary->psql('postgres', "CREATE TABLE $t (id int PRIMARY KEY, v $c->{column});"
			  . $rows->($c, 1, 1000)
			  . "INSERT INTO $t VALUES (0, NULL); $parallel
			CREATE INDEX ${t}_idx ON $t USING $c->{am} (v $c->{ops}) WITH ($c->{with});
			RESET client_min_messages;"
			  . $rows->($c, 1001, 3000)
			  . "DELETE FROM $t WHERE id % 3 = 0 OR ann_test_cluster(id, 10) = 0;
			VACUUM $t;"
			  . $rows->($c, 3001, 3500)
			  . "VACUUM $t;"
			  . $rows->($c, 3501, 4500));
		is($ret, 0, "$t: built, then split and merged") or diag($err);
		like($err, qr/building spann index "${t}_idx" with 2 parallel workers/,
			"$t: two parallel workers took part in the build") if $c->{parallel};
		my $s = stats($primary, "${t}_idx");
		note("$t: " . stats_text($s));
		cmp_ok($s->{splits}, '>', 0, "$t: inserts split lists");
		cmp_ok($s->{merges}, '>', 0, "$t: VACUUM merged emptied lists away");
	}

	# VACUUM frees the chains it replaces at once only when no query can
	# be reading them; the primary cannot see a standby's queries
	# without hot_standby_feedback, so with one connected it retires them
	# (section 3 has no standby, and sees them freed at once)
	$primary->safe_psql('postgres', "CREATE EXTENSION pageinspect;
		CREATE TABLE seen (id int, v vector($DIMS));
		INSERT INTO seen SELECT i, ann_test_clustered_vec(i, $DIMS, 10, $SPREAD) FROM generate_series(1, 2000) i;
		CREATE INDEX seen_idx ON seen USING spann (v vector_l2_ops) WITH (lists = 10, replicas = 1);
		DELETE FROM seen WHERE ann_test_cluster(id, 10) = 0;
		VACUUM seen;");
	cmp_ok(stats($primary, 'seen_idx')->{merges}, '>', 0, 'VACUUM merged a list away with a standby connected');
	cmp_ok(retired_pages($primary, 'seen_idx'), '>', 0, 'and retired its chain instead of freeing it at once');

	$primary->wait_for_catchup($standby);

	for my $c (@cases)
	{
		my $t = "t_$c->{type}";
		my %o = (op => $c->{op});
		my @queries = map { $key_of->($c, $_) } (-3, 7, 100000, 5555, 123457);

		is(stats_text(stats($standby, "${t}_idx")), stats_text(stats($primary, "${t}_idx")),
			"$t: the standby's index has the primary's lists and counters");
		index_used_ok($standby, 'postgres', $t, $queries[0], "${t}_idx", %o);
		for my $set ('', $ALL)
		{
			my @bad;
			for my $q (@queries)
			{
				my $p = knn_rows($primary, 'postgres', $t, $q, %o, set => $set);
				my $s = knn_rows($standby, 'postgres', $t, $q, %o, set => $set);
				push @bad, "$q: primary $p->[0], standby $s->[0]"
				  if "@$p" ne "@$s" || $p->[0] eq '';
			}
			ok(!@bad, "$t: the standby's top-10 equal the primary's, "
				  . ($set ? 'every list probed' : 'default probes'))
			  or diag(join("\n", @bad));
		}
		matches_exact_ok($standby, 'postgres', $t, \@queries,
			"$t: the standby's top-10 are exact with every list probed",
			%o, set => $ALL, %{ $c->{exact} });
		all_reachable_ok($standby, 'postgres', $t, $queries[1],
			"$t: the standby's index returns every row once", %o, set => $ALL);
	}

	is($standby->safe_psql('postgres', 'SELECT pg_is_in_recovery()'), 't', 'the standby is still replaying');
	log_clean_ok($_) for ($primary, $standby);

	# The promoted standby splits lists of the index it replayed.
	$standby->promote;
	$standby->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()')
	  or die 'the standby did not leave recovery';
	for my $c (@cases)
	{
		my $t = "t_$c->{type}";
		my $before = stats($standby, "${t}_idx")->{splits};
		$standby->safe_psql('postgres', $rows->($c, 4501, 6000));
		cmp_ok(stats($standby, "${t}_idx")->{splits}, '>', $before, "$t: the promoted standby splits lists");
		all_reachable_ok($standby, 'postgres', $t, $key_of->($c, -1),
			"$t: after promotion and inserts every row is in the index, once", op => $c->{op}, set => $ALL);
	}

	$standby->stop;
	$primary->stop;
}

# ---------------------------------------------------------------------
# 2. Crash recovery during inserts that split lists
# ---------------------------------------------------------------------
{
	my $node = PostgreSQL::Test::Cluster->new('crash');
	$node->init;
	# replay compares every generic WAL record's result with the page
	# image; a killed backend makes the postmaster restart (the test
	# framework turns that off)
	$node->append_conf('postgresql.conf', "wal_consistency_checking = 'generic'
		restart_after_crash = on");
	$node->start;
	ann_setup($node, 'postgres');

	# 8 lists for 160 rows: a list splits past about 50 entries, so that
	# splits are frequent and a crash may well interrupt one.  Beside it an
	# ivfflat index of bit keys (binary_quantize, many rows sharing a key),
	# whose lists split too.
	$node->safe_psql('postgres', "CREATE TABLE items (id int PRIMARY KEY, v vector($DIMS),
			vlong vector(2100) GENERATED ALWAYS AS (ann_test_vec(id, 2100)::vector(2100)) STORED,
			vsplit vector(704) GENERATED ALWAYS AS (ann_test_vec(id, 704)::vector(704)) STORED);
		CREATE SEQUENCE items_seq;
		INSERT INTO items SELECT n, ann_test_clustered_vec(n, $DIMS, 8, $SPREAD)
		FROM (SELECT nextval('items_seq')::int AS n FROM generate_series(1, 160)) s;
		CREATE INDEX items_idx ON items USING spann (v vector_l2_ops) WITH (lists = 8, epsilon = 0.5);
		CREATE INDEX items_bits ON items USING ivfflat ((binary_quantize(v)::bit($DIMS)) bit_hamming_ops)
			WITH (lists = 8);
		CREATE INDEX items_long ON items USING spann (vlong vector_l2_ops)
			WITH (lists = 8);
		CREATE INDEX items_split ON items USING spann (vsplit vector_l2_ops)
			WITH (lists = 8);
		CHECKPOINT;");
	my @queries = map { "ann_test_clustered_vec($_, $DIMS, 8, $SPREAD)::vector" } (-1, 42, 777, 31337);
	my %bits = (column => "binary_quantize(v)::bit($DIMS)", op => '<~>');
	my @bit_queries = map { "binary_quantize($_)::bit($DIMS)" } @queries;
	# the third index: keys too large for a page, on key pages of their own
	my %long = (column => 'vlong');
	# the fourth: vectors split across two pages
	my %split = (column => 'vsplit');

	# After recovery: every committed row is in the index once, and scans
	# of every list are exact.
	my $recovered_ok = sub {
		my ($round) = @_;
		index_used_ok($node, 'postgres', 'items', $queries[0], 'items_idx');
		all_reachable_ok($node, 'postgres', 'items', $queries[0], "$round: every row is in the index, once",
			set => $ALL);
		matches_exact_ok($node, 'postgres', 'items', \@queries,
			"$round: the top-10 are exact with every list probed", set => $ALL, ids => 1);
		index_check_ok($node, 'postgres', 'items_idx', "$round: ann_check_index passes");
		index_used_ok($node, 'postgres', 'items', $bit_queries[0], 'items_bits', %bits);
		all_reachable_ok($node, 'postgres', 'items', $bit_queries[0],
			"$round: every row is in the bit index, once", %bits, set => $ALL);
		matches_exact_ok($node, 'postgres', 'items', \@bit_queries,
			"$round: the bit index's top-10 distances are exact with every list probed",
			%bits, set => $ALL);
		index_check_ok($node, 'postgres', 'items_bits', "$round: ann_check_index passes on the bit index");
		all_reachable_ok($node, 'postgres', 'items', 'ann_test_vec(42, 2100)::vector(2100)',
			"$round: every row is in the index of long keys, once", %long, set => $ALL);
		index_check_ok($node, 'postgres', 'items_long', "$round: ann_check_index passes on the index of long keys");
		all_reachable_ok($node, 'postgres', 'items', 'ann_test_vec(42, 704)::vector(704)',
			"$round: every row is in the index of split vectors, once", %split, set => $ALL);
		matches_exact_ok($node, 'postgres', 'items', ['ann_test_vec(42, 704)::vector(704)'],
			"$round: the index of split vectors' top-10 are exact with every list probed",
			%split, set => $ALL, ids => 1);
		index_check_ok($node, 'postgres', 'items_split', "$round: ann_check_index passes on the index of split vectors");
	};

	# Two clients insert rows, one per transaction, pausing so that they
	# are still busy when, $min_new rows and three splits later, $crash
	# stops the server.
	my $rounds = 0;
	my $crash_during_inserts = sub {
		my ($round, $min_new, $crash) = @_;
		my $before = $node->safe_psql('postgres', 'SELECT count(*) FROM items');
		my $splits = stats($node, 'items_idx')->{splits};
		my $bench = pgbench_start($node, '-c 2 -j 2 -t 1000', qq{
INSERT INTO items SELECT n, ann_test_clustered_vec(n, $DIMS, 8, $SPREAD) FROM (SELECT nextval('items_seq')::int AS n) s;
\\sleep 1 ms
}, 'insert' . ++$rounds);
		ok(wait_for_query_while_running($node, $bench,
				"SELECT count(*) >= $before + $min_new AND (SELECT splits >= $splits + 3
					FROM spann_index_stats('items_idx')) FROM items"),
			"$round: $min_new rows inserted and lists split before the crash");
		$crash->($bench);
		my $finished = $bench->[0]->finish;
		note("$round: pgbench " . ($finished ? 'had finished' : 'was interrupted') . ' by the crash');
		unlike(${ $bench->[2] }, qr/ERROR:/, "$round: no insert failed before the crash")
		  or diag("pgbench: ${ $bench->[1] }${ $bench->[2] }");

		my $rows = $node->safe_psql('postgres', 'SELECT count(*) FROM items');
		my $s = stats($node, 'items_idx');
		note("$round: $rows rows after recovery, $before before the inserts; " . stats_text($s));
		cmp_ok($rows, '>=', $before + $min_new, "$round: committed rows survived the crash");
		cmp_ok($s->{splits}, '>', $splits, "$round: lists split during the inserts");
		# every row in one list at least, many in two or more: scans must
		# return those once
		cmp_ok($s->{entries}, '>', $rows, "$round: the lists hold more entries than rows");
		$recovered_ok->($round);
	};

	# an immediate shutdown: no checkpoint, replay from the last one
	$crash_during_inserts->('immediate shutdown during inserts', 300, sub {
		$node->stop('immediate');
		$node->start;
	});

	# new rows, deletes and VACUUM on the recovered index
	$node->safe_psql('postgres', "INSERT INTO items VALUES (100000, ann_test_clustered_vec(100000, $DIMS, 8, $SPREAD))");
	is(knn_rows($node, 'postgres', 'items', "ann_test_clustered_vec(100000, $DIMS, 8, $SPREAD)::vector", k => 1)->[0],
		'100000', 'a row inserted after recovery is found');
	# what a split cut short left no list reaches: VACUUM frees it
	note('unreachable posting pages after the crash: '
		  . $node->safe_psql('postgres', "SELECT unreachable_pages FROM spann_index_stats('items_idx')"));
	$node->safe_psql('postgres', 'DELETE FROM items WHERE id % 4 = 0; VACUUM items');
	$recovered_ok->('after delete and VACUUM');
	is($node->safe_psql('postgres', "SELECT unreachable_pages FROM spann_index_stats('items_idx')"), '0',
		'VACUUM freed every posting page no list reaches');

	# A backend killed in the middle of its work: the postmaster ends the
	# others and replays WAL; the inserts reuse the space VACUUM freed.
	$crash_during_inserts->('SIGKILL of an inserting backend', 300, sub {
		my $pid = $node->safe_psql('postgres', "SELECT pid FROM pg_stat_activity
			WHERE query LIKE 'INSERT INTO items%' AND pid <> pg_backend_pid()
			ORDER BY state = 'active' DESC, pid LIMIT 1");
		die 'no inserting backend' unless $pid =~ /^\d+$/;
		my $offset = -s $node->logfile;
		ok(kill('KILL', $pid), 'an inserting backend killed');
		$node->wait_for_log(
			qr/server process \(PID $pid\) was terminated by signal 9.*all server processes terminated; reinitializing/s,
			$offset);
		$node->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()')
		  or die 'the server did not recover';
	});
	log_clean_ok($node);
	$node->stop;
}

# ---------------------------------------------------------------------
# 3. Concurrent inserts and scans
# ---------------------------------------------------------------------
{
	my $node = PostgreSQL::Test::Cluster->new('concurrency');
	$node->init;
	$node->append_conf('postgresql.conf', 'autovacuum = off');
	$node->start;
	ann_setup($node, 'postgres');

	# n: the row is ann_test_clustered_vec(n); 10 lists for 500 rows
	$node->safe_psql('postgres', "CREATE TABLE items (id bigserial PRIMARY KEY, n int, v vector($DIMS));
		INSERT INTO items (n, v) SELECT i, ann_test_clustered_vec(i, $DIMS, 10, $SPREAD) FROM generate_series(1, 500) i;
		CREATE INDEX items_idx ON items USING spann (v vector_l2_ops) WITH (lists = 10, epsilon = 0.5);");
	my $insert = qq{
\\set n random(1, 1000000)
INSERT INTO items (n, v) VALUES (:n, ann_test_clustered_vec(:n, $DIMS, 10, $SPREAD));
};
	# Scans that fail (division by zero) unless they return 10 distinct
	# rows, in distance order for strict_order: one plain, one whose WHERE
	# clause (a row in 7) makes it probe further lists, and that one in
	# relaxed_order, probing 2 lists at a time.
	my $q = "ann_test_clustered_vec(:n + 2000000, $DIMS, 10, $SPREAD)::vector";
	my $checked_scan = sub {
		my ($where, $ordered) = @_;
		my $check = 'count(*) = 10 AND count(DISTINCT id) = 10' . ($ordered ? ' AND bool_and(d >= prev)' : '');
		return "SELECT 1 / ($check)::int
			FROM (SELECT id, d, lag(d, 1, 0::float8) OVER (ORDER BY r) AS prev
				  FROM (SELECT s.*, row_number() OVER () AS r
						FROM (SELECT id, v <-> $q AS d FROM items $where ORDER BY v <-> $q LIMIT 10) s) s) s;";
	};
	my $scan = join("\n", '\set n random(1, 1000000)', 'SET enable_seqscan = off;',
		'SET spann.iterative_scan = strict_order;',
		$checked_scan->('', 1), $checked_scan->('WHERE n % 7 = 0', 1),
		'BEGIN;', 'SET LOCAL spann.iterative_scan = relaxed_order;', 'SET LOCAL spann.probes = 2;',
		$checked_scan->('WHERE n % 7 = 0', 0), 'COMMIT;') . "\n";
	my @queries = map { "ann_test_clustered_vec($_, $DIMS, 10, $SPREAD)::vector" } (-5, 17, 250, 499, 2024);

	# Rows may share vectors (n repeats): compare distances.
	my $consistent_ok = sub {
		my ($when) = @_;
		index_used_ok($node, 'postgres', 'items', $queries[0], 'items_idx');
		all_reachable_ok($node, 'postgres', 'items', $queries[0], "$when: every row is in the index, once",
			set => $ALL);
		matches_exact_ok($node, 'postgres', 'items', \@queries,
			"$when: the top-10 distances are exact with every list probed", set => $ALL);
		note("$when: " . stats_text(stats($node, 'items_idx')));
	};

	my $inserts = pgbench_start($node, '-c 2 -j 2 -t 500 --random-seed=42', $insert, 'insert');
	my $scans = pgbench_start($node, '-c 2 -j 2 -t 500 --random-seed=43', $scan, 'scan');
	pgbench_finish_ok($inserts, 1000, '2 clients insert while 2 scan');
	pgbench_finish_ok($scans, 1000, '2 clients scan while 2 insert, every scan returns 10 distinct rows in order');
	is($node->safe_psql('postgres', 'SELECT count(*) FROM items'), '1500', 'all inserts committed');
	cmp_ok(stats($node, 'items_idx')->{splits}, '>', 0, 'the inserts split lists');
	$consistent_ok->('after concurrent inserts and scans');

	# The same while rows are deleted and VACUUM runs: round k deletes the
	# rows of cluster k, whose lists VACUUM may merge away while clients
	# insert rows of that cluster again, and a row in 20 of the others.  No
	# row is deleted twice, and half of the clusters stay, so that the
	# scans always find 10 rows.
	$inserts = pgbench_start($node, '-c 2 -j 2 -t 800 --random-seed=44', $insert, 'insert_vacuum');
	$scans = pgbench_start($node, '-c 2 -j 2 -t 500 --random-seed=45', $scan, 'scan_vacuum');
	my $rounds = 0;
	while (pgbench_running($inserts) && $rounds < 5)
	{
		$node->safe_psql('postgres', "DELETE FROM items WHERE ann_test_cluster(n, 10) = $rounds OR n % 20 = $rounds;
			VACUUM items");
		$rounds++;
		select(undef, undef, undef, 0.1);
	}
	note("$rounds rounds of DELETE and VACUUM ran during the inserts");
	pgbench_finish_ok($inserts, 1600, '2 clients insert during deletes and VACUUM');
	pgbench_finish_ok($scans, 1000, '2 clients scan during inserts, deletes and VACUUM, every scan returns 10 distinct rows in order');
	my ($ret, $out, $err) = $node->psql('postgres', 'VACUUM (VERBOSE) items');
	is($ret, 0, 'VACUUM after the concurrent work succeeds') or diag($err);
	unlike($err, qr/WARNING|ERROR/, 'VACUUM reports no problem');
	$consistent_ok->('after inserts and scans during VACUUM');

	# A scan that read the directory before VACUUM rewrote lists goes on
	# reading their old chains: VACUUM must leave those pages as they are
	# (retired) while the scan's snapshot lives, although new rows then
	# want pages, and frees them at once when no snapshot is left.  The
	# cursor probes one list at a time, as FETCH wants rows, and each row
	# is in one list; READ COMMITTED, so that only the cursor's own
	# snapshot keeps its backend's xmin between statements.
	$node->safe_psql('postgres', "CREATE EXTENSION pageinspect;
		CREATE TABLE old_chains (id int PRIMARY KEY, v vector($DIMS));
		INSERT INTO old_chains SELECT i, ann_test_clustered_vec(i, $DIMS, 10, $SPREAD) FROM generate_series(1, 3000) i;
		CREATE INDEX old_chains_idx ON old_chains USING spann (v vector_l2_ops) WITH (lists = 10, replicas = 1);
		DELETE FROM old_chains WHERE ann_test_cluster(id, 10) = 0;
		VACUUM old_chains;");
	cmp_ok(stats($node, 'old_chains_idx')->{merges}, '>', 0, 'VACUUM merged a list away');
	is(retired_pages($node, 'old_chains_idx'), '0',
		'with no other snapshot, VACUUM frees the chains it replaced at once');
	# two rows in three go; the lists left hold a third of what their
	# pages could, and VACUUM compacts them into the pages it freed
	$node->safe_psql('postgres', 'DELETE FROM old_chains WHERE id % 3 <> 0');
	my $visible = $node->safe_psql('postgres', 'SELECT count(*) FROM old_chains');
	my ($c) = ann_session($node);
	my ($out, $err) = session_run($c, "SET enable_seqscan = off; SET spann.probes = 1;
		SET spann.iterative_scan = relaxed_order; SET spann.max_probes = -1;
		BEGIN;
		DECLARE c CURSOR FOR SELECT id FROM old_chains ORDER BY v <-> $queries[1];
		FETCH 10 FROM c;");
	is($err, '', 'a cursor reads the first rows') or diag($err);
	my @ids = split /\n/, $out;
	$node->safe_psql('postgres', 'VACUUM old_chains');
	cmp_ok(retired_pages($node, 'old_chains_idx'), '>', 0,
		'VACUUM retires the chains it replaced while the cursor lives');
	$node->safe_psql('postgres', "INSERT INTO old_chains SELECT i, ann_test_clustered_vec(i, $DIMS, 10, $SPREAD)
		FROM generate_series(3001, 6000) i;");
	($out, $err) = session_run($c, 'FETCH ALL FROM c');
	is($err, '', 'the cursor reads the rest') or diag($err);
	push @ids, split /\n/, $out;
	my %seen = map { $_ => 1 } @ids;
	is(scalar(@ids) . '/' . scalar(keys %seen), "$visible/$visible",
		'the cursor returns every row of its snapshot once, from the old chains, after inserts took new pages');
	session_run($c, 'COMMIT');
	$c->quit;
	$node->safe_psql('postgres', 'VACUUM old_chains');
	is(retired_pages($node, 'old_chains_idx'), '0',
		'the next VACUUM frees them');
	index_check_ok($node, 'postgres', 'old_chains_idx', 'ann_check_index passes after it');
	log_clean_ok($node);
	$node->stop;
}

# ---------------------------------------------------------------------
# 4. Recall at the default settings
# ---------------------------------------------------------------------
{
	my $RDIMS = 32;
	my $CLUSTERS = 50;
	my $node = PostgreSQL::Test::Cluster->new('recall');
	$node->init;
	$node->append_conf('postgresql.conf', 'autovacuum = off');
	$node->start;
	ann_setup($node, 'postgres');

	my $rows = sub {
		my ($table, $from, $to) = @_;
		return "INSERT INTO $table SELECT i, ann_test_clustered_vec(i, $RDIMS, $CLUSTERS, $SPREAD)
			FROM generate_series($from, $to) i;";
	};
	$node->safe_psql('postgres', "CREATE TABLE items (id int PRIMARY KEY, v vector($RDIMS));
		CREATE TABLE queries (qid int PRIMARY KEY, q vector($RDIMS));"
		  . $rows->('items', 1, 20000)
		  . $rows->('queries', 1000001, 1000100)
		  . 'CREATE INDEX items_idx ON items USING spann (v vector_l2_ops);');
	index_used_ok($node, 'postgres', 'items', 'SELECT q FROM queries WHERE qid = 1000001', 'items_idx');
	my $s = stats($node, 'items_idx');
	note('after the build: ' . stats_text($s));
	is($s->{splits}, '0', 'a build splits no list');
	# so the recall below is that of a scan through the nearest groups only
	cmp_ok($s->{groups}, '>', 16, 'more groups of centroids than spann.group_probes opens');

	store_exact($node, 'postgres', 'exact_build', 'items', 'queries');
	knn_recall_ok($node, 'postgres', 'exact_build', 'items', 'queries', 0.90, 'after the build');

	# The same rows built with two parallel workers (the table's
	# parallel_workers asks for them: it is too small to get them
	# otherwise): the workers run, and since each row's lists depend on the
	# centroids only, the index holds the same entries and finds the same
	# rows.
	$node->safe_psql('postgres', 'CREATE TABLE par AS SELECT * FROM items;
		ALTER TABLE par SET (parallel_workers = 2)');
	my ($ret, $out, $err) = $node->psql('postgres', "SET client_min_messages = debug1;
		SET max_parallel_maintenance_workers = 2;
		CREATE INDEX par_idx ON par USING spann (v vector_l2_ops);");
	is($ret, 0, 'parallel build succeeds') or diag($err);
	like($err, qr/building spann index "par_idx" with 2 parallel workers/, 'two workers took part');
	is(stats_text(stats($node, 'par_idx')), stats_text(stats($node, 'items_idx')),
		'the parallel build has the same lists and entries as the serial one');
	is($node->safe_psql('postgres', "SET enable_seqscan = off;
		SELECT count(*) FROM queries, LATERAL (SELECT id FROM par ORDER BY v <-> q LIMIT 10) t
		WHERE (qid, id) NOT IN (SELECT qid, id FROM exact_build)"),
		$node->safe_psql('postgres', "SET enable_seqscan = off;
		SELECT count(*) FROM queries, LATERAL (SELECT id FROM items ORDER BY v <-> q LIMIT 10) t
		WHERE (qid, id) NOT IN (SELECT qid, id FROM exact_build)"),
		'and misses as many of the exact neighbours');
	# Each participant filled vector pages of its own and added blocks
	# sixteen at a time; the blocks it did not use are free pages.  The
	# index checks out, and inserts and VACUUM go on from it.
	index_check_ok($node, 'postgres', 'par_idx', 'ann_check_index passes on the parallel build');
	$node->safe_psql('postgres', $rows->('par', 20001, 20500) . ' DELETE FROM par WHERE id % 7 = 0; VACUUM par');
	index_check_ok($node, 'postgres', 'par_idx', 'and after inserts, deletes and VACUUM');
	is($node->safe_psql('postgres', "SET enable_seqscan = off; SET spann.iterative_scan = strict_order;
		SET spann.max_probes = 100000;
		SELECT count(*), count(DISTINCT id) FROM (SELECT id FROM par ORDER BY v <-> (SELECT v FROM par WHERE id = 1)) t"),
		$node->safe_psql('postgres', 'SELECT count(*), count(*) FROM par'),
		'a strict-order scan of the parallel build returns every row once');
	$node->safe_psql('postgres', 'DROP TABLE par');

	# as many rows again, inserted one by one: the lists double, past the
	# split limit
	$node->safe_psql('postgres', $rows->('items', 20001, 40000));
	$s = stats($node, 'items_idx');
	note('after 20000 inserts: ' . stats_text($s));
	cmp_ok($s->{splits}, '>', 0, 'the inserts split lists');
	store_exact($node, 'postgres', 'exact_insert', 'items', 'queries');
	knn_recall_ok($node, 'postgres', 'exact_insert', 'items', 'queries', 0.88, 'after doubling the table');

	# 30% of the rows deleted; VACUUM drops their entries
	$node->safe_psql('postgres', 'DELETE FROM items WHERE id % 10 < 3; VACUUM items');
	note('after deletes and VACUUM: ' . stats_text(stats($node, 'items_idx')));
	store_exact($node, 'postgres', 'exact_vacuum', 'items', 'queries');
	knn_recall_ok($node, 'postgres', 'exact_vacuum', 'items', 'queries', 0.88,
		'after deleting 30% of the rows and VACUUM');

	$node->stop;
}

done_testing();
