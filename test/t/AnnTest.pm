# AnnTest: what the hnsw and spann TAP tests share.
#
# Data are deterministic: row n has the vector ann_test_vec(n, dims), built
# from sines of n, or for clustered data ann_test_clustered_vec(n, dims,
# clusters), built from hashes of n, so every run indexes the same vectors.
# Nearest neighbours are compared by their distances (ties give equal
# distances whatever rows the index picks among them) and, where rows are
# unique, by their ids.  Helpers take index settings as SQL in option set
# (hnsw.ef_search also as option ef).
package AnnTest;

use strict;
use warnings;
use Exporter 'import';
use FindBin;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;

our @EXPORT = qw(
  ann_setup ann_fixture knn_rows index_used_ok matches_exact_ok all_reachable_ok index_check_ok
  dump_restore_ok restored_answers_ok
  store_exact knn_recall knn_recall_ok
  pgbench_start pgbench_running wait_for_query_while_running pgbench_finish_ok pgbench_ok
  ann_session session_run session_start session_finish no_locks_ok no_pins_ok
);

# Sessions that must use the index, and sessions that must not.
my %MODE = (
	index => 'SET enable_seqscan = off; SET enable_bitmapscan = off;',
	exact => 'SET enable_indexscan = off; SET enable_bitmapscan = off;',
);

# CREATE EXTENSION ann and the vector generators in database $db:
#
#   ann_test_vec(n, dims): sines of n
#   ann_test_clustered_vec(n, dims, clusters, spread): the centre of cluster
#     ann_test_cluster(n, clusters), its coordinates uniform in [-1, 1],
#     plus Gaussian noise (Box-Muller) of standard deviation spread
#     (default 0.3) in each coordinate
#   ann_test_uniform(n, seed): a hash of n mapped into (0, 1), from which
#     the other two draw
#   ann_test_sparsify(v): v as a sparsevec without its elements under 0.4 in
#     magnitude (about 6 in 10 stay, so sizes vary from row to row)
#   ann_test_sparse(n, dims): ann_test_vec(n, dims) sparsified
sub ann_setup
{
	my ($node, $db) = @_;
	$node->safe_psql($db, q{
		CREATE EXTENSION IF NOT EXISTS ann;
		CREATE FUNCTION ann_test_vec(n int, dims int) RETURNS real[]
		LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
		RETURN (SELECT array_agg(sin(n * (0.61 + 0.37 * j) + j)::real ORDER BY j)
				FROM generate_series(1, dims) j);
		CREATE FUNCTION ann_test_uniform(n bigint, seed bigint) RETURNS float8
		LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
		RETURN ((hashint8extended(n, seed) & 1048575) + 0.5) / 1048576;
		CREATE FUNCTION ann_test_cluster(n int, clusters int) RETURNS int
		LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
		RETURN floor(ann_test_uniform(n, 0) * clusters);
		CREATE FUNCTION ann_test_clustered_vec(n int, dims int, clusters int,
											   spread float8 DEFAULT 0.3) RETURNS real[]
		LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
		RETURN (SELECT array_agg((2 * ann_test_uniform(c * 4096 + j, 1) - 1
								  + spread * sqrt(-2 * ln(ann_test_uniform(n * 4096::bigint + j, 2)))
									* cos(2 * pi() * ann_test_uniform(n * 4096::bigint + j, 3)))::real
								 ORDER BY j)
				FROM generate_series(1, dims) j, ann_test_cluster(n, clusters) c);
		CREATE FUNCTION ann_test_sparsify(v vector) RETURNS sparsevec
		LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
		RETURN (SELECT array_agg(CASE WHEN abs(x) >= 0.4 THEN x ELSE 0 END ORDER BY o)
				FROM unnest(v::real[]) WITH ORDINALITY u(x, o))::sparsevec;
		CREATE FUNCTION ann_test_sparse(n int, dims int) RETURNS sparsevec
		LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
		RETURN ann_test_sparsify(ann_test_vec(n, dims)::vector);
	});
	return;
}

# The directory of fixture $name, under test/fixtures (data made with other
# software, kept in the repository so that a clone alone runs every test).
# Dies when it is missing: a test of a fixture never passes without it.
sub ann_fixture
{
	my ($name) = @_;
	my $root = "$FindBin::RealBin/../fixtures";
	my $dir = "$root/$name";
	die "fixture $name not found in $root\n" unless -d $dir;
	return $dir;
}

# The k-nearest-neighbour query: ids and distances of the k rows of $table
# nearest to the SQL expression $q.  Options: op (default <->), column
# (default v), k (default 10).
sub knn_query
{
	my ($table, $q, %o) = @_;
	my $op = $o{op} // '<->';
	my $col = $o{column} // 'v';
	my $k = $o{k} // 10;
	return "SELECT id, $col $op ($q) AS d FROM $table ORDER BY $col $op ($q) LIMIT $k";
}

# Runs knn_query in mode index or exact (option mode, default index) with
# hnsw.ef_search = option ef (default: the server's) and the settings in
# option set (SQL); returns a reference to [ids, distances], each a
# comma-separated string.
sub knn_rows
{
	my ($node, $db, $table, $q, %o) = @_;
	my $mode = $o{mode} // 'index';
	my $set = $MODE{$mode} // die "unknown mode $mode";
	$set .= " SET hnsw.ef_search = $o{ef};" if defined $o{ef};
	$set .= " $o{set}" if defined $o{set};
	my $out = $node->safe_psql($db,
		"$set SELECT string_agg(id::text, ',' ORDER BY n), string_agg(d::text, ',' ORDER BY n)
		 FROM (SELECT s.*, row_number() OVER () AS n FROM ("
		  . knn_query($table, $q, %o) . ") s) r");
	my ($ids, $dists) = split /\|/, $out, -1;
	return [ $ids, $dists ];
}

# EXPLAIN of knn_query in index mode names index $index.
sub index_used_ok
{
	my ($node, $db, $table, $q, $index, %o) = @_;
	my $plan = $node->safe_psql($db,
		"$MODE{index} EXPLAIN (COSTS OFF) " . knn_query($table, $q, %o));
	like($plan, qr/Index Scan using \Q$index\E /, $node->name . ": the plan uses $index")
	  or diag($plan);
	return;
}

# Whether the distances $got and $want (comma-separated) agree rank by
# rank, each within $tolerance once both lists are sorted.
sub distances_close
{
	my ($got, $want, $tolerance) = @_;
	my @g = sort { $a <=> $b } split /,/, $got;
	my @w = sort { $a <=> $b } split /,/, $want;
	return 0 if @g != @w;
	for my $i (0 .. $#w)
	{
		return 0 if abs($g[$i] - $w[$i]) > $tolerance;
	}
	return 1;
}

# For each query in @$queries, the index gives the exact nearest
# neighbours: the same distances, and with option ids => 1 the same ids.
# An index whose keys are rounded (halfvec keys normalised for cosine)
# ranks rows by slightly other distances: option tolerance then accepts
# distances that differ by that much, in whatever order.  Options also as
# for knn_rows (ef, set, op, k, column).
sub matches_exact_ok
{
	my ($node, $db, $table, $queries, $name, %o) = @_;
	my @bad;
	for my $q (@$queries)
	{
		my $got = knn_rows($node, $db, $table, $q, %o, mode => 'index');
		my $want = knn_rows($node, $db, $table, $q, %o, mode => 'exact');
		my $i = $o{ids} ? 0 : 1;
		my $same = defined $o{tolerance}
		  ? distances_close($got->[1], $want->[1], $o{tolerance})
		  : $got->[$i] eq $want->[$i];
		push @bad, "$q:\n  index ids $got->[0]\n  exact ids $want->[0]\n"
		  . "  index d $got->[1]\n  exact d $want->[1]"
		  if !$same || $want->[0] eq '';
	}
	ok(!@bad, $name) or diag(join("\n", @bad));
	return;
}

# With hnsw.ef_search at its maximum (1000) above the number of index
# elements, a search visits every element reachable from the entry point:
# ordered by the distance to $q, the index must return every row of $table
# it holds, each once, and no other.  Option set replaces that setting by
# others (SQL) that make the index search everything.  Options column
# (default v) and op (default <->) pick the index; option where gives the
# rows it holds (default: the column IS NOT NULL).
sub all_reachable_ok
{
	my ($node, $db, $table, $q, $name, %o) = @_;
	my $op = $o{op} // '<->';
	my $col = $o{column} // 'v';
	my $where = $o{where} // "$col IS NOT NULL";
	my $set = $o{set} // 'SET hnsw.ef_search = 1000;';
	my $got = $node->safe_psql($db, "$MODE{index} $set
		WITH s AS MATERIALIZED (SELECT id FROM $table ORDER BY $col $op ($q) LIMIT 1000000)
		SELECT (SELECT count(*) FROM s) || ' rows, ' || (SELECT count(DISTINCT id) FROM s)
			|| ' distinct, ' || (SELECT count(*) FROM $table WHERE $where AND id NOT IN (SELECT id FROM s))
			|| ' missing'");
	my $n = $node->safe_psql($db, "SELECT count(*) FROM $table WHERE $where");
	is($got, "$n rows, $n distinct, 0 missing", $name);
	return;
}

# ann_check_index($index, heapallindexed => true) in database $db raises
# no error.
sub index_check_ok
{
	my ($node, $db, $index, $name) = @_;
	my ($ret, $out, $err) = $node->psql($db, "SELECT ann_check_index('$index', true)");
	is($ret . $err, '0', $name);
	return;
}

# Dumps database postgres (pg_dump -Fc) and restores it into a new
# database restored with pg_restore -j 2; checks that the indexes of
# $table come back with the original definitions.  Returns the restored
# definitions.
sub dump_restore_ok
{
	my ($node, $table) = @_;
	my $dump = $node->basedir . "/$table.dump";
	$node->command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', $node->connstr('postgres') ], 'pg_dump -Fc');
	$node->safe_psql('postgres', 'CREATE DATABASE restored');
	$node->command_ok([ 'pg_restore', '--exit-on-error', '-j', '2', '-d', $node->connstr('restored'), $dump ],
		'pg_restore -j 2');

	my $indexes = "SELECT indexname || ': ' || indexdef FROM pg_indexes WHERE tablename = '$table' ORDER BY 1";
	my $restored = $node->safe_psql('restored', $indexes);
	is($restored, $node->safe_psql('postgres', $indexes), 'the restored indexes have the original definitions');
	return $restored;
}

# After dump_restore_ok: the restored index $index of $table is used for
# the first of @$queries and returns the original's top-10 for each, the
# exact one (options of knn_rows; ids => 1 compares ids too).
sub restored_answers_ok
{
	my ($node, $table, $index, $queries, %o) = @_;
	index_used_ok($node, 'restored', $table, $queries->[0], $index, %o);
	my @bad;
	for my $q (@$queries)
	{
		my $orig = knn_rows($node, 'postgres', $table, $q, %o);
		my $rest = knn_rows($node, 'restored', $table, $q, %o);
		push @bad, "$q: original $orig->[0], restored $rest->[0]"
		  if $orig->[0] ne $rest->[0] || $orig->[0] eq '';
	}
	ok(!@bad, "$index: the restored index returns the original's top-10") or diag(join("\n", @bad));
	matches_exact_ok($node, 'restored', $table, $queries, "$index: and they are exact", %o, ids => 1);
	return;
}

# Stores in a new table $exact (qid, id) the ids of the k rows of $table
# nearest to each query of table $queries (qid, q), found by a sequential
# scan.  Options op, column and k as for knn_rows.
sub store_exact
{
	my ($node, $db, $exact, $table, $queries, %o) = @_;
	$node->safe_psql($db, "$MODE{exact} CREATE TABLE $exact AS SELECT qid, t.id
		FROM $queries, LATERAL (" . knn_query($table, 'q', %o) . ") t");
	return;
}

# Recall@k of the index scans of $table for the queries of table $queries
# against table $exact (store_exact), with the settings in option set
# (SQL); a number with 4 decimals.  Options op, column and k as for
# knn_rows.
sub knn_recall
{
	my ($node, $db, $exact, $table, $queries, %o) = @_;
	my $set = $o{set} // '';
	return $node->safe_psql($db, "$MODE{index} $set
		SELECT round(count(e.id)::numeric / (SELECT count(*) FROM $exact), 4)
		FROM $queries CROSS JOIN LATERAL (" . knn_query($table, 'q', %o) . ") t
		LEFT JOIN $exact e ON e.qid = $queries.qid AND e.id = t.id");
}

# knn_recall is at least $min; notes the recall and returns it.  Options
# as for knn_recall, and k also names the recall in $name's message.
sub knn_recall_ok
{
	my ($node, $db, $exact, $table, $queries, $min, $name, %o) = @_;
	my $k = $o{k} // 10;
	my $recall = knn_recall($node, $db, $exact, $table, $queries, %o);
	note("$name: recall\@$k = $recall");
	cmp_ok($recall, '>=', $min, "$name: recall\@$k >= $min");
	return $recall;
}

# Starts pgbench in the background on database postgres with the script
# $script (text; written to a file named after $tag) and the options in
# $opts; returns [harness, \stdout, \stderr].
sub pgbench_start
{
	my ($node, $opts, $script, $tag) = @_;
	my $file = $node->basedir . "/$tag.sql";
	PostgreSQL::Test::Utils::append_to_file($file, $script);
	my ($out, $err) = ('', '');
	my @cmd = ('pgbench', '--no-vacuum', split(/\s+/, $opts), '-f', $file,
		'-h', $node->host, '-p', $node->port, 'postgres');
	note("starting: @cmd");
	my $h = IPC::Run::start(\@cmd, '>', \$out, '2>', \$err);
	return [ $h, \$out, \$err ];
}

# True while pgbench $bench runs.
sub pgbench_running
{
	my ($bench) = @_;
	$bench->[0]->pump_nb;
	return $bench->[0]->pumpable;
}

# Waits until $sql (a boolean query on database postgres) is true; false
# if pgbench $bench ends first or the default timeout passes.
sub wait_for_query_while_running
{
	my ($node, $bench, $sql) = @_;
	my $deadline = time + $PostgreSQL::Test::Utils::timeout_default;
	while (time < $deadline)
	{
		return 1 if $node->safe_psql('postgres', $sql) eq 't';
		return 0 unless pgbench_running($bench);
		select(undef, undef, undef, 0.1);
	}
	return 0;
}

# Waits for pgbench $bench to end: it must exit 0 having run $txns
# transactions (a pattern: '\d+' for a run of -T seconds), none failed,
# with nothing on stderr but the random seed.
sub pgbench_finish_ok
{
	my ($bench, $txns, $name) = @_;
	my ($h, $out, $err) = @$bench;
	my $exited0 = $h->finish;
	(my $errors = $$err) =~ s/^pgbench: setting random seed to \d+\n//m;
	my $ok = $exited0
	  && $$out =~ m{number of transactions actually processed: $txns(?:/$txns)?\b}
	  && $$out =~ m{number of failed transactions: 0 }
	  && $errors eq '';
	ok($ok, $name) or diag('pgbench exit status ' . join(' ', $h->full_results) . "\n$$out\n$$err");
	return;
}

# Runs pgbench as pgbench_start does and checks it as pgbench_finish_ok.
sub pgbench_ok
{
	my ($node, $opts, $script, $tag, $txns, $name) = @_;
	pgbench_finish_ok(pgbench_start($node, $opts, $script, $tag), $txns, $name);
	return;
}

# A psql session on database postgres of $node kept open (a
# PostgreSQL::Test::BackgroundPsql) that goes on after errors and reports
# them with their SQLSTATE; returns the session and its backend's pid.
sub ann_session
{
	my ($node) = @_;
	my $s = $node->background_psql('postgres', on_error_stop => 0);
	$s->set_query_timer_restart;
	$s->query_safe('\set VERBOSITY verbose');
	return ($s, $s->query_safe('SELECT pg_backend_pid()'));
}

# Runs $sql in session $s (ann_session) and waits for it; returns its
# output and what it wrote to stderr ('' when it succeeded quietly).
sub session_run
{
	my ($s, $sql) = @_;
	$s->{stderr} = '';
	my ($out) = $s->query($sql);
	my $err = $s->{stderr};
	$s->{stderr} = '';
	return ($out, $err);
}

# Sends $sql to session $s and returns once psql has sent it, without
# waiting for the answer (session_finish collects it).
sub session_start
{
	my ($s, $sql) = @_;
	$s->{stderr} = '';
	$s->query_until(qr/ann_session_sent/, "\\echo ann_session_sent\n$sql;\n");
	return;
}

# Waits for the statement session_start sent to end; returns what it
# wrote to stderr.
sub session_finish
{
	my ($s) = @_;
	my (undef, $err) = session_run($s, 'SELECT 1');
	return $err;
}

# The backend $pid (and the parallel workers it led) hold no heavyweight
# lock: run once its session is idle.
sub no_locks_ok
{
	my ($node, $pid, $name) = @_;
	my $locks = $node->safe_psql('postgres', "SELECT string_agg(locktype || ' ' || mode, ', ')
		FROM pg_locks WHERE pid = $pid
			OR pid IN (SELECT pid FROM pg_stat_activity WHERE leader_pid = $pid)");
	is($locks, '', $name);
	return;
}

# No backend keeps a buffer of table $table or of its indexes pinned
# (pg_buffercache, which must be installed; a moment's pin by the
# background writer is waited out).
sub no_pins_ok
{
	my ($node, $table, $name) = @_;
	ok($node->poll_query_until('postgres', "SELECT count(*) = 0 FROM pg_buffercache b
		JOIN pg_class c ON b.relfilenode = pg_relation_filenode(c.oid)
		WHERE b.pinning_backends > 0 AND (c.oid = '$table'::regclass
			OR c.oid IN (SELECT indexrelid FROM pg_index WHERE indrelid = '$table'::regclass))"),
		$name);
	return;
}

1;
