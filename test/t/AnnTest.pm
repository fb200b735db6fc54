# AnnTest: what the hnsw TAP tests share.
#
# Data are deterministic: row n has the vector ann_test_vec(n, dims), built
# from sines of n, so every run indexes the same vectors.  Nearest
# neighbours are compared by their distances (ties give equal distances
# whatever rows the index picks among them) and, where rows are unique, by
# their ids.
package AnnTest;

use strict;
use warnings;
use Exporter 'import';
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;

our @EXPORT = qw(
  ann_setup knn_rows index_used_ok matches_exact_ok all_reachable_ok
  pgbench_start pgbench_running wait_for_query_while_running pgbench_finish_ok pgbench_ok
);

# Sessions that must use the index, and sessions that must not.
my %MODE = (
	index => 'SET enable_seqscan = off; SET enable_bitmapscan = off;',
	exact => 'SET enable_indexscan = off; SET enable_bitmapscan = off;',
);

# CREATE EXTENSION ann and the vector generator in database $db.
sub ann_setup
{
	my ($node, $db) = @_;
	$node->safe_psql($db, q{
		CREATE EXTENSION IF NOT EXISTS ann;
		CREATE FUNCTION ann_test_vec(n int, dims int) RETURNS real[]
		LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
		RETURN (SELECT array_agg(sin(n * (0.61 + 0.37 * j) + j)::real ORDER BY j)
				FROM generate_series(1, dims) j);
	});
	return;
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
# hnsw.ef_search = option ef (default: the server's); returns a reference
# to [ids, distances], each a comma-separated string.
sub knn_rows
{
	my ($node, $db, $table, $q, %o) = @_;
	my $mode = $o{mode} // 'index';
	my $set = $MODE{$mode} // die "unknown mode $mode";
	$set .= " SET hnsw.ef_search = $o{ef};" if defined $o{ef};
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

# For each query in @$queries, the index gives the exact nearest
# neighbours: the same distances, and with option ids => 1 the same ids.
# Options also as for knn_rows (ef, op, k, column).
sub matches_exact_ok
{
	my ($node, $db, $table, $queries, $name, %o) = @_;
	my @bad;
	for my $q (@$queries)
	{
		my $got = knn_rows($node, $db, $table, $q, %o, mode => 'index');
		my $want = knn_rows($node, $db, $table, $q, %o, mode => 'exact');
		my $i = $o{ids} ? 0 : 1;
		push @bad, "$q:\n  index ids $got->[0]\n  exact ids $want->[0]\n"
		  . "  index d $got->[1]\n  exact d $want->[1]"
		  if $got->[$i] ne $want->[$i] || $want->[0] eq '';
	}
	ok(!@bad, $name) or diag(join("\n", @bad));
	return;
}

# With hnsw.ef_search at its maximum (1000) above the number of index
# elements, a search visits every element reachable from the entry point:
# ordered by the distance to $q, the index must return every row of $table
# it holds, each once, and no other.  Options column (default v) and op
# (default <->) pick the index; option where gives the rows it holds
# (default: the column IS NOT NULL).
sub all_reachable_ok
{
	my ($node, $db, $table, $q, $name, %o) = @_;
	my $op = $o{op} // '<->';
	my $col = $o{column} // 'v';
	my $where = $o{where} // "$col IS NOT NULL";
	my $got = $node->safe_psql($db, "$MODE{index} SET hnsw.ef_search = 1000;
		WITH s AS MATERIALIZED (SELECT id FROM $table ORDER BY $col $op ($q) LIMIT 1000000)
		SELECT (SELECT count(*) FROM s) || ' rows, ' || (SELECT count(DISTINCT id) FROM s)
			|| ' distinct, ' || (SELECT count(*) FROM $table WHERE $where AND id NOT IN (SELECT id FROM s))
			|| ' missing'");
	my $n = $node->safe_psql($db, "SELECT count(*) FROM $table WHERE $where");
	is($got, "$n rows, $n distinct, 0 missing", $name);
	return;
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
# transactions, none failed, with nothing on stderr but the random seed.
sub pgbench_finish_ok
{
	my ($bench, $txns, $name) = @_;
	my ($h, $out, $err) = @$bench;
	my $exited0 = $h->finish;
	(my $errors = $$err) =~ s/^pgbench: setting random seed to \d+\n//m;
	my $ok = $exited0
	  && $$out =~ m{number of transactions actually processed: $txns/$txns\b}
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

1;
