# Property-based comparison of index scans with exact sequential scans.
#
# Generated tables (1 to 5,000 rows, 1 to 64 dimensions, or 784 / 1,000 on
# a small table) of uniform, clustered or integer-grid data mixed with
# exact duplicates, near-duplicates, zero vectors and NULL vectors; an
# hnsw or spann index with one opclass of vector or halfvec (the cases go
# round all 16 pairs of access method and opclass), plain or with filter
# columns; every iterative mode; filters matching 0.1% to 100% of the rows,
# applied by the executor or by the index; LIMIT 1, 10, 100 and past the
# table size.  For every query the properties that must hold are asserted
# (each test covers one mode of one case; its diagnostics list the failing
# queries):
#
#   - no row comes back twice, and none the index cannot hold (a NULL
#     vector, or for cosine a zero vector);
#   - an iterative scan (relaxed_order, strict_order) and an exact spann
#     scan return min(LIMIT, rows the index can return that match the
#     filter) rows; a scan with iterative_scan = off returns at most that;
#   - strict_order and off return rows in distance order, except that
#     hnsw strict_order returns the rows its graph search found too late
#     for their place after all the others (with a WARNING): there, one
#     step back in distance at most, the late rows sorted after it;
#   - spann strict_order, and spann with iterative_scan = off and
#     spann.probes above the number of lists, are exact: rank by rank, the
#     distances of the sequential scan.
#
# Recall (the share of the exact top-LIMIT found, a row no farther than
# the exact LIMIT-th counting, so that ties count whichever rows the index
# picks) is reported with note, not asserted, except for exact scans.
# The exact answer is the sequential scan (enable_indexscan = off) of the
# rows the index can return, ordered by the same operator.
#
# Rows the index can return: NULL vectors are not indexed; under cosine
# neither are zero vectors (hnsw_vector, spann_vector), whose distance to
# anything is NaN, sorted after every number: the sequential scan returns
# them last, after every row the index can return, so they only change
# the answer of a LIMIT past the indexed rows, or of the zero query.
# Under cosine the zero query has NaN distance to every row: every row
# the index holds ties.
#
# Distances are those of the SQL operator in the select list.  Ties are
# exact; rounding is allowed 1e-6 * max(1, |d|) (float32 sums, vector
# keys normalised for cosine), and halfvec cosine 2e-3 more: its index
# keys are unit vectors rounded to float16 (relative error 2^-11 each, so
# a distance may move by 2^-10 and two of them by twice that).
#
# Data come from hashes of the row number and a seed (ann_test_uniform),
# so a case is the same on every run.  Environment:
#   ANN_PROPERTY_SEED   seed of the whole run (default 1)
#   ANN_PROPERTY_CASES  number of generated cases (default 32: each pair
#                       of access method and opclass twice, about 20
#                       seconds; by hand e.g. 500, about 5 minutes)
#   ANN_PROPERTY_ONLY   comma-separated case numbers to run instead
#                       (reproduce a failure: the seed and case number
#                       are in each test name; a case depends on nothing
#                       else)
#   ANN_PROPERTY_REPRO  0 skips the reproductions of known defects (end of
#                       this file)
#   ANN_PROPERTY_SQL_DIR a directory (writable by the test's user) where
#                       each case's SQL is saved, to replay it by hand
#
# A crashed backend fails its case (the server restarts) and the test
# "no server process crashed" at the end; the last note lists every
# failure of the run in one place.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use AnnTest;

my $SEED = $ENV{ANN_PROPERTY_SEED} // 1;
my $CASES = $ENV{ANN_PROPERTY_CASES} // 32;
my %ONLY = map { $_ => 1 } grep { /^\d+$/ } split /,/, ($ENV{ANN_PROPERTY_ONLY} // '');
my $REPRO = $ENV{ANN_PROPERTY_REPRO} // 1;
die "ANN_PROPERTY_SEED must be a non-negative integer\n" unless $SEED =~ /^\d{1,9}$/;
die "ANN_PROPERTY_CASES must be a non-negative integer\n" unless $CASES =~ /^\d+$/;

my $INDEX_MODE = 'SET enable_seqscan = off; SET enable_bitmapscan = off;';
my $EXACT_MODE = 'SET enable_seqscan = on; SET enable_indexscan = off; SET enable_bitmapscan = off;';

my %METRIC = (
	l2 => '<->',
	ip => '<#>',
	cosine => '<=>',
	l1 => '<+>',
);
my @METRICS = qw(l2 ip cosine l1);
my %NORM = (vector => 'vector_norm', halfvec => 'l2_norm');

# Filters: label, condition on the table, whether a filter-column index
# (v ops, cat, grp) takes it as an Index Cond.  cat is uniform in 0..9,
# grp in 0..999.
my @FILTERS = (
	[ 'all rows', 'true', 0 ],
	[ 'id % 2 = 0', 'id % 2 = 0', 0 ],
	[ 'id % 10 = 3', 'id % 10 = 3', 0 ],
	[ 'id % 1000 = 7', 'id % 1000 = 7', 0 ],
	[ 'cat = 2', 'cat = 2', 1 ],
	[ 'cat IN (1, 4, 5)', 'cat IN (1, 4, 5)', 1 ],
	[ 'grp = 3', 'grp = 3', 1 ],
	[ 'cat = 2 AND id % 2 = 0', 'cat = 2 AND id % 2 = 0', 1 ],
);

my $node = PostgreSQL::Test::Cluster->new('complete');
$node->init;
# jit off: enable_seqscan = off makes every plan cost past jit_above_cost;
# restart_after_crash on: a crashed backend fails its case, not the run
$node->append_conf('postgresql.conf', "autovacuum = off\nmax_parallel_workers_per_gather = 0\njit = off
restart_after_crash = on");
$node->start;
ann_setup($node, 'postgres');

# The generators, on top of AnnTest's ann_test_uniform:
#
#   prop_base(n, dims, seed, kind, clusters): vector n of a kind
#     uniform: each coordinate uniform in [-0.5, 0.5]
#     grid: each coordinate an integer in -2..2 (many tied distances)
#     clustered: the centre of one of clusters clusters (coordinates
#       uniform in [-1, 1]) plus Gaussian noise of standard deviation 0.15
#   prop_vec(n, dims, seed, kind, clusters, p_null, p_zero, p_dup, p_near,
#            sources): row n: with probability p_null NULL, p_zero the
#     zero vector, p_dup an exact copy and p_near a near copy (each
#     coordinate moved by up to 5e-5) of the base vector of one of rows
#     1..sources, else its own base vector
$node->safe_psql('postgres', q{
	CREATE FUNCTION prop_base(n int, dims int, seed bigint, kind text, clusters int) RETURNS real[]
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	RETURN (SELECT array_agg((CASE kind
				WHEN 'uniform' THEN ann_test_uniform(n * 4096::bigint + j, seed) - 0.5
				WHEN 'grid' THEN round(4 * ann_test_uniform(n * 4096::bigint + j, seed) - 2)
				ELSE 2 * ann_test_uniform(x.c * 4096::bigint + j, seed + 1) - 1
					+ 0.15 * sqrt(-2 * ln(ann_test_uniform(n * 4096::bigint + j, seed + 2)))
					  * cos(2 * pi() * ann_test_uniform(n * 4096::bigint + j, seed + 3))
				END)::real ORDER BY j)
			FROM generate_series(1, dims) j,
				 (SELECT floor(ann_test_uniform(n, seed + 4) * clusters)::int AS c) x);
	CREATE FUNCTION prop_vec(n int, dims int, seed bigint, kind text, clusters int,
							 p_null float8, p_zero float8, p_dup float8, p_near float8,
							 sources int) RETURNS real[]
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	RETURN (SELECT CASE
				WHEN x.r < p_null THEN NULL
				WHEN x.r < p_null + p_zero THEN array_fill(0::real, ARRAY[dims])
				WHEN x.r < p_null + p_zero + p_dup THEN prop_base(x.src, dims, seed, kind, clusters)
				WHEN x.r < p_null + p_zero + p_dup + p_near THEN
					(SELECT array_agg((b[j] + 1e-4 * (ann_test_uniform(n * 4096::bigint + j, seed + 5) - 0.5))::real
									  ORDER BY j)
					 FROM generate_series(1, dims) j, prop_base(x.src, dims, seed, kind, clusters) b)
				ELSE prop_base(n, dims, seed, kind, clusters) END
			FROM (SELECT ann_test_uniform(n, seed + 6) AS r,
						 1 + floor(ann_test_uniform(n, seed + 7) * sources)::int AS src) x);
	-- the rounding a distance d is allowed, plus extra
	CREATE FUNCTION prop_slack(d float8, extra float8) RETURNS float8
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	RETURN 1e-6 * greatest(1, abs(d)) + extra;
});

# Failures of the whole run, summarised at the end
my @FAILED;

# Runs $sql in one session; returns (success, stdout, stderr).  After a
# failure, waits until the server accepts connections again (a crash
# restarts it).
sub run_sql
{
	my ($sql) = @_;
	my ($out, $err) = ('', '');
	my $ret = $node->psql('postgres', $sql, stdout => \$out, stderr => \$err);
	$node->poll_query_until('postgres', 'SELECT true') or die 'the server did not come back'
	  if $ret != 0;
	return ($ret == 0, $out, $err);
}

# Runs $sql; true if it succeeded, else a failed test $name with the error
sub run_ok
{
	my ($sql, $name) = @_;
	my ($ok, $out, $err) = run_sql($sql);
	return 1 if $ok;
	ok(0, $name) or diag($err);
	push @FAILED, "$name: " . join(' ', grep { /ERROR|FATAL|server closed|lost/ } split /\n/, $err);
	return 0;
}

# With ANN_PROPERTY_SQL_DIR set, the SQL of each case is saved there in
# $tag.sql, to be replayed by hand (psql -f) on a database with ann and
# the functions above: the first call for a tag starts the file.
my %SAVED;
sub save_sql
{
	my ($tag, $sql) = @_;
	return unless $ENV{ANN_PROPERTY_SQL_DIR};
	open(my $fh, $SAVED{$tag}++ ? '>>' : '>', "$ENV{ANN_PROPERTY_SQL_DIR}/$tag.sql")
	  or die "cannot write $tag.sql: $!";
	print $fh $sql, "\n";
	close $fh;
	return;
}

# ---------------------------------------------------------------------
# The engine: one table, one index, many queries
# ---------------------------------------------------------------------

# Runs every query of case $c and asserts the properties.  $c:
#   name        prefix of the test names
#   table, index, type (vector or halfvec), metric (l2 ip cosine l1)
#   filter_cols whether the index has filter columns (cat, grp)
#   filters     [label, condition, in index] (default @FILTERS)
#   limits      LIMITs
#   queries     [label, SQL expression (real[])]
#   modes       { name, set (SQL), complete, ordered, exact }
#   rows        the table's row count (for the exact answers' LIMIT)
sub check_case
{
	my ($c) = @_;
	my ($t, $type, $op) = ($c->{table}, $c->{type}, $METRIC{ $c->{metric} });
	my @filters = @{ $c->{filters} // \@FILTERS };
	my @limits = @{ $c->{limits} };
	my @queries = @{ $c->{queries} };
	my $cosine = $c->{metric} eq 'cosine';
	my $extra = ($cosine && $type eq 'halfvec') ? 2e-3 : 0;
	# rows the index may hold (see the top of the file)
	my $bad = "v IS NULL" . ($cosine ? " OR $NORM{$type}(v) = 0" : '');
	my $maxk = $c->{rows} + 1;
	my $qt = "${t}_q";

	my $lateral = sub {
		my ($cond, $k, $cols) = @_;
		return "(SELECT row_number() OVER () AS n, x.* FROM (SELECT $cols FROM $t WHERE $cond
			ORDER BY v $op $qt.q LIMIT $k) x) s";
	};

	# The query vectors, and the plans: the index, with the filter in its
	# Index Cond when it has the filter columns.
	my $explain = "SET client_min_messages = warning; DROP TABLE IF EXISTS $qt; CREATE TABLE $qt (qid int, q $type);
		INSERT INTO $qt VALUES "
	  . join(', ', map { "($_, ($queries[$_ - 1][1])::$type)" } 1 .. @queries)
	  . "; ANALYZE $t; ANALYZE $qt; $INDEX_MODE";
	for my $f (@filters)
	{
		$explain .= "EXPLAIN (COSTS OFF) SELECT s.* FROM $qt, LATERAL "
		  . $lateral->($f->[1], $limits[-1], "id, v $op $qt.q AS d") . "; SELECT '=====';";
	}
	save_sql($c->{tag}, $explain);
	my ($explained, $plans) = run_sql($explain);
	my @plans = $explained ? split(/^=====\n?/m, $plans) : ();
	my @badplan;
	for my $i (0 .. $#filters)
	{
		my $plan = $plans[$i] // '';
		push @badplan, "$filters[$i][0]:\n$plan"
		  unless $plan =~ /Index Scan using \Q$c->{index}\E on \Q$t\E\b/
		  && (!$c->{filter_cols} || !$filters[$i][2] || $plan =~ /Index Cond:/);
	}
	ok(!@badplan, "$c->{name}: every filter's plan is an Index Scan using $c->{index}"
		  . ($c->{filter_cols} ? ', filter columns in its Index Cond' : ''))
	  or diag(join("\n", @badplan));

	# One session: the exact answers, every mode's index scans, and a line
	# of results per mode, filter, LIMIT and query.
	my $sql = "CREATE TEMP TABLE got (mode int, f int, k int, qid int, n int, id int, d float8, bad bool);
		CREATE TEMP TABLE want (f int, qid int, n int, d float8);
		CREATE TEMP TABLE runs (mode int, f int, k int);
		$EXACT_MODE";
	for my $fi (0 .. $#filters)
	{
		$sql .= "INSERT INTO want SELECT $fi, $qt.qid, s.n, s.d FROM $qt, LATERAL "
		  . $lateral->("($filters[$fi][1]) AND NOT ($bad)", $maxk, "v $op $qt.q AS d") . ";\n";
	}
	$sql .= "RESET enable_indexscan; $INDEX_MODE";
	for my $mi (0 .. $#{ $c->{modes} })
	{
		$sql .= "$c->{modes}[$mi]{set}\n";
		for my $fi (0 .. $#filters)
		{
			for my $k (@limits)
			{
				$sql .= "INSERT INTO runs VALUES ($mi, $fi, $k);
					INSERT INTO got SELECT $mi, $fi, $k, $qt.qid, s.n, s.id, s.d, s.bad FROM $qt, LATERAL "
				  . $lateral->($filters[$fi][1], $k, "id, v $op $qt.q AS d, ($bad) AS bad") . ";\n";
			}
		}
	}
	$sql .= "
		RESET enable_seqscan; RESET enable_bitmapscan; ANALYZE got; ANALYZE want; ANALYZE runs;
		WITH g AS (SELECT got.*, lag(d) OVER (PARTITION BY mode, f, k, qid ORDER BY n) AS prev FROM got),
		cnt AS (SELECT f, qid, count(*) AS c FROM want GROUP BY f, qid)
		SELECT r.mode, r.f, r.k, q.qid, least(r.k, coalesce(cnt.c, 0)),
			count(g.id), count(DISTINCT g.id), count(g.id) FILTER (WHERE g.bad),
			count(g.id) FILTER (WHERE g.d < g.prev - prop_slack(g.prev, $extra)),
			coalesce(max(g.prev - g.d) FILTER (WHERE g.d < g.prev - prop_slack(g.prev, $extra)), 0),
			count(g.id) FILTER (WHERE g.d <= kth.d + prop_slack(kth.d, $extra)),
			count(g.id) FILTER (WHERE NOT coalesce(g.d = w.d OR (g.d <> 'NaN' AND w.d <> 'NaN'
				AND abs(g.d - w.d) <= prop_slack(w.d, $extra)), false))
		FROM runs r CROSS JOIN $qt q
		LEFT JOIN cnt ON cnt.f = r.f AND cnt.qid = q.qid
		LEFT JOIN want kth ON kth.f = r.f AND kth.qid = q.qid AND kth.n = least(r.k, cnt.c)
		LEFT JOIN g ON g.mode = r.mode AND g.f = r.f AND g.k = r.k AND g.qid = q.qid
		LEFT JOIN want w ON w.f = r.f AND w.qid = q.qid AND w.n = g.n
		GROUP BY r.mode, r.f, r.k, q.qid, cnt.c
		ORDER BY 1, 2, 3, 4;";

	save_sql($c->{tag}, $sql);
	my ($ran, $out, $err) = run_sql($sql);
	if (!$ran)
	{
		ok(0, "$c->{name}: the queries run without error") or diag($err);
		push @FAILED, "$c->{name}: the queries run without error: "
		  . join(' ', grep { /ERROR|FATAL|server closed|lost/ } split /\n/, $err);
		return;
	}
	if ($err ne '')
	{
		my @lines = grep { /WARNING|ERROR|NOTICE/ } split /\n/, $err;
		my %seen;
		note("$c->{name}: " . scalar(@lines) . " messages, e.g.\n  "
			  . join("\n  ", grep { !$seen{ s/\d+/N/gr }++ } @lines));
	}

	my @res;
	for my $line (split /\n/, $out)
	{
		my %r;
		@r{qw(mode f k qid expected got distinct bad disorder worst hits mismatched)} = split /\|/, $line;
		push @{ $res[ $r{mode} ] }, \%r;
	}
	for my $mi (0 .. $#{ $c->{modes} })
	{
		my $m = $c->{modes}[$mi];
		my $rows = $res[$mi] // [];
		my $where = sub {
			my ($r) = @_;
			return "$filters[$r->{f}][0], LIMIT $r->{k}, query $queries[$r->{qid} - 1][0]";
		};
		my $name = "$c->{name}: $m->{name}";
		# [test name, failure test, failure description]
		my @checks = (
			[ 'no row twice, none the index cannot hold',
			  sub { $_[0]{distinct} != $_[0]{got} || $_[0]{bad} > 0 },
			  sub { "$_[0]{got} rows, $_[0]{distinct} distinct, $_[0]{bad} with a NULL or unindexable vector" } ],
			$m->{complete}
			? [ 'returns min(LIMIT, matching rows) rows',
				sub { $_[0]{got} != $_[0]{expected} },
				sub { "$_[0]{got} rows, expected $_[0]{expected}" } ]
			: [ 'returns at most min(LIMIT, matching rows) rows',
				sub { $_[0]{got} > $_[0]{expected} },
				sub { "$_[0]{got} rows, expected at most $_[0]{expected}" } ],
		);
		my $steps_back = $m->{late_last} ? 1 : 0;
		push @checks, [ $steps_back ? 'rows in distance order, late finds last' : 'rows in distance order',
			sub { $_[0]{disorder} > $steps_back },
			sub { "$_[0]{disorder} rows nearer than the row before (by up to $_[0]{worst})" } ]
		  if $m->{ordered};
		push @checks, [ 'the sequential scan\'s distances, rank by rank',
			sub { $_[0]{mismatched} > 0 || $_[0]{hits} < $_[0]{expected} },
			sub { "$_[0]{mismatched} of $_[0]{got} distances differ, recall $_[0]{hits}/$_[0]{expected}" } ]
		  if $m->{exact};
		for my $check (@checks)
		{
			my ($what, $fails, $describe) = @$check;
			my @bad = grep { $fails->($_) } @$rows;
			ok(@$rows && !@bad, "$name: $what")
			  or diag(scalar(@bad) . ' of ' . scalar(@$rows) . " queries fail:\n"
				  . join("\n", map { '  ' . $where->($_) . ': ' . $describe->($_) } @bad[ 0 .. ($#bad < 9 ? $#bad : 9) ]));
			push @FAILED, "$name: $what: " . scalar(@bad) . '/' . scalar(@$rows) . ' queries, e.g. '
			  . $where->($bad[0]) . ': ' . $describe->($bad[0])
			  if @bad;
		}
		# recall over the queries that have an answer
		my @scored = grep { $_->{expected} > 0 } @$rows;
		my ($sum, $min, $short) = (0, 1, 0);
		for my $r (@scored)
		{
			my $recall = $r->{hits} / $r->{expected};
			$recall = 1 if $recall > 1;
			$sum += $recall;
			$min = $recall if $recall < $min;
			$short++ if $r->{got} < $r->{expected};
		}
		note(sprintf('%s: recall mean %.4f, min %.4f over %d queries; %d short', $name,
			@scored ? $sum / @scored : 1, $min, scalar(@scored), $short));
	}
	return;
}

# The modes of an access method; $set: the case's own settings (SQL).
# Every mode sets every setting it depends on.
sub modes_for
{
	my ($am, $set) = @_;
	if ($am eq 'hnsw')
	{
		return (
			{ name => 'hnsw off', set => "$set SET hnsw.iterative_scan = off;", ordered => 1 },
			{ name => 'hnsw relaxed_order', set => "$set SET hnsw.iterative_scan = relaxed_order;", complete => 1 },
			{ name => 'hnsw strict_order', set => "$set SET hnsw.iterative_scan = strict_order;",
			  complete => 1, ordered => 1, late_last => 1 },
		);
	}
	return (
		{ name => 'spann off', set => "$set SET spann.iterative_scan = off;", ordered => 1 },
		{ name => 'spann relaxed_order', set => "$set SET spann.iterative_scan = relaxed_order;",
		  complete => 1 },
		# exact: lists are probed until their radii prove the order
		{ name => 'spann strict_order', set => "$set SET spann.iterative_scan = strict_order;",
		  complete => 1, ordered => 1, exact => 1 },
		# probes above the number of lists: every list, an exact scan
		{ name => 'spann off, probes 65536 (exact)',
		  set => "SET spann.iterative_scan = off; SET spann.probes = 65536;",
		  complete => 1, ordered => 1, exact => 1 },
	);
}

# ---------------------------------------------------------------------
# Generated cases
# ---------------------------------------------------------------------

sub pick { return $_[ int(rand(@_)) ]; }
sub log_uniform { my ($lo, $hi) = @_; return int(exp(log($lo) + rand() * (log($hi + 1) - log($lo)))); }

# Case $n of the run: everything drawn from a generator seeded by the run's
# seed and $n only.  Case n uses access method and opclass n mod 16.
sub case_spec
{
	my ($n) = @_;
	srand(($SEED * 100003 + $n * 7919) % 4294967291);
	my $combo = ($n - 1) % 16;
	my %c = (
		n => $n,
		am => $combo < 8 ? 'hnsw' : 'spann',
		type => $combo % 8 < 4 ? 'vector' : 'halfvec',
		metric => $METRICS[ $combo % 4 ],
		seed => ($SEED * 10000 + $n) * 16,
	);
	if ($n % 7 == 3)
	{
		$c{dims} = pick(784, 1000);
		$c{rows} = log_uniform(1, 300);
	}
	else
	{
		$c{dims} = log_uniform(1, 64);
		$c{rows} = $n % 8 == 6 ? 2000 + int(rand(3001)) : log_uniform(1, 2000);
	}
	$c{kind} = pick(qw(uniform clustered grid));
	$c{clusters} = 1 + int(rand(20));
	$c{p_null} = rand() < 0.5 ? 0 : 0 + sprintf('%.3f', rand() * 0.2);
	$c{p_zero} = rand() < ($c{metric} eq 'cosine' ? 0.3 : 0.6) ? 0 : 0 + sprintf('%.3f', rand() * 0.1);
	$c{p_dup} = rand() < 0.5 ? 0 : 0 + sprintf('%.3f', rand() * 0.3);
	$c{p_near} = rand() < 0.5 ? 0 : 0 + sprintf('%.3f', rand() * 0.3);
	$c{sources} = pick(1, 3, 20, $c{rows});
	$c{filter_cols} = rand() < 0.5 ? 1 : 0;
	if ($c{am} eq 'hnsw')
	{
		my $m = pick(4, 8, 16, 32);
		my $efc = pick(8, 32, 64, 200);
		$efc = 2 * $m if $efc < 2 * $m;
		$c{with} = rand() < 0.5 ? '' : "m = $m, ef_construction = $efc";
		my $ef = pick(40, 40, 1, 10, 100);
		$c{set} = "SET hnsw.ef_search = $ef;";
	}
	else
	{
		my @with;
		push @with, 'lists = ' . pick(1, 2 + int(rand(40)), 4 * int(sqrt($c{rows}) + 1)) if rand() < 0.5;
		push @with, 'epsilon = ' . pick(0, 0.5, 2) if rand() < 0.3;
		push @with, 'replicas = ' . pick(1, 2, 4) if rand() < 0.3;
		$c{with} = join(', ', @with);
		$c{set} = 'SET spann.probes = ' . pick(16, 16, 1, 3) . ';';
	}
	# one case in ten: nearly every row a copy of one of a few vectors
	if (rand() < 0.1)
	{
		$c{p_dup} = 0.9;
		$c{p_near} = 0;
		$c{sources} = pick(1, 2, 3);
	}
	return \%c;
}

# The case in short (test names) and in full (notes)
sub case_name
{
	my ($c) = @_;
	return "seed $SEED case $c->{n} ($c->{am} $c->{type}_$c->{metric}_ops"
	  . ($c->{filter_cols} ? ' + filter columns' : '') . ", $c->{rows} rows x $c->{dims} dims)";
}

sub case_description
{
	my ($c) = @_;
	my @data = ($c->{kind} eq 'clustered' ? "$c->{clusters} clusters" : $c->{kind});
	push @data, sprintf('%g%% NULL', 100 * $c->{p_null}) if $c->{p_null};
	push @data, sprintf('%g%% zero', 100 * $c->{p_zero}) if $c->{p_zero};
	push @data, sprintf('%g%% duplicates', 100 * $c->{p_dup}) if $c->{p_dup};
	push @data, sprintf('%g%% near-duplicates', 100 * $c->{p_near}) if $c->{p_near};
	push @data, "of $c->{sources} rows" if $c->{p_dup} || $c->{p_near};
	return "$c->{am} $c->{type}_$c->{metric}_ops" . ($c->{filter_cols} ? ' + filter columns (cat, grp)' : '')
	  . ($c->{with} ? " WITH ($c->{with})" : '') . ", $c->{set} $c->{rows} rows x $c->{dims} dims, "
	  . join(', ', @data) . "; to rerun it alone: ANN_PROPERTY_SEED=$SEED ANN_PROPERTY_ONLY=$c->{n}";
}

for my $n (%ONLY ? sort { $a <=> $b } keys %ONLY : 1 .. $CASES)
{
	my $c = case_spec($n);
	my $name = case_name($c);
	note("$name: " . case_description($c));
	my ($type, $d, $s) = ($c->{type}, $c->{dims}, $c->{seed});
	my $cols = $c->{filter_cols} ? ', cat, grp' : '';
	my $setup = "SET client_min_messages = warning; DROP TABLE IF EXISTS t, t_q;
		CREATE TABLE t (id int, v $type($d), cat int, grp int);
		INSERT INTO t SELECT i, prop_vec(i, $d, $s, '$c->{kind}', $c->{clusters},
				$c->{p_null}, $c->{p_zero}, $c->{p_dup}, $c->{p_near}, $c->{sources})::$type($d),
			floor(10 * ann_test_uniform(i, $s + 8)), floor(1000 * ann_test_uniform(i, $s + 9))
		FROM generate_series(1, $c->{rows}) i;
		CREATE INDEX t_idx ON t USING $c->{am} (v ${type}_$c->{metric}_ops$cols)"
	  . ($c->{with} ? " WITH ($c->{with})" : '') . ';';
	save_sql("case$n", "-- $name: " . case_description($c) . "\n$setup");
	next unless run_ok($setup, "$name: table and index built");
	my %limits = map { $_ => 1 } (1, 10, 100, $c->{rows} + 1);
	check_case({
		name => $name,
		tag => "case$n",
		table => 't',
		index => 't_idx',
		type => $type,
		metric => $c->{metric},
		filter_cols => $c->{filter_cols},
		rows => $c->{rows},
		limits => [ sort { $a <=> $b } keys %limits ],
		# a new vector of the table's kind, the vector most duplicated
		# (row 1's), and the zero vector
		queries => [
			[ 'new', "prop_base(-1, $d, $s, '$c->{kind}', $c->{clusters})" ],
			[ 'row 1', "prop_base(1, $d, $s, '$c->{kind}', $c->{clusters})" ],
			[ 'zero', "array_fill(0::real, ARRAY[$d])" ],
		],
		modes => [ modes_for($c->{am}, $c->{set}) ],
	});
}

# ---------------------------------------------------------------------
# Reproductions of known defects, default settings (the scan as a user
# gets it) with enable_seqscan off: 800 rows of vector(24), coordinates
# uniform in [-0.5, 0.5]; the same with rows 801..840 exact copies of rows
# 1..40; and with rows 801..1100 copies of row 1 (a spann build crashed on
# a few hundred rows sharing a vector).  Ten new query vectors each.
# ---------------------------------------------------------------------
if ($REPRO)
{
	my $RS = 800 * 16;
	my %rows = (r800 => 800, r840 => 840, r1100 => 1100);
	my $tables = "SET client_min_messages = warning; DROP TABLE IF EXISTS r800, r840, r1100;
		CREATE TABLE r800 (id int, v vector(24), cat int, grp int);
		INSERT INTO r800 SELECT i, prop_vec(i, 24, $RS, 'uniform', 1, 0, 0, 0, 0, 1), 0, 0
		FROM generate_series(1, 800) i;
		CREATE TABLE r840 AS SELECT * FROM r800;
		INSERT INTO r840 SELECT 800 + id, v, cat, grp FROM r800 WHERE id <= 40;
		CREATE TABLE r1100 AS SELECT * FROM r800;
		INSERT INTO r1100 SELECT 800 + i, v, cat, grp FROM r800, generate_series(1, 300) i WHERE id = 1;";
	$node->safe_psql('postgres', $tables);
	my @queries = map { [ "new $_", "prop_base(-$_, 24, $RS, 'uniform', 1)" ] } 1 .. 10;
	my $default = { name => 'default settings', set => '', complete => 1, ordered => 1 };
	my $hnsw_default = { %$default, late_last => 1 };
	my $spann_default = { name => 'default settings (relaxed_order)', set => '', complete => 1 };
	my $spann_strict = { name => 'strict_order', set => 'SET spann.iterative_scan = strict_order;',
		complete => 1, ordered => 1, exact => 1 };
	my $probes_off = { name => 'spann.probes = 1000, spann.iterative_scan = off',
		set => 'SET spann.probes = 1000; SET spann.iterative_scan = off;', complete => 1, ordered => 1, exact => 1 };
	my @repro = (
		[ 'r800', 'hnsw', 'l2', [ 'all rows', 'true' ], 2000, $hnsw_default ],
		[ 'r800', 'spann', 'l2', [ 'id % 10 = 0', 'id % 10 = 0' ], 50, [ $spann_default, $spann_strict ] ],
		[ 'r800', 'spann', 'l2', [ 'all rows', 'true' ], 300, [ $spann_default, $spann_strict ] ],
		[ 'r840', 'spann', 'l2', [ 'all rows', 'true' ], 2000, [ $spann_default, $spann_strict ] ],
		[ 'r800', 'spann', 'l2', [ 'all rows', 'true' ], 2000, $probes_off ],
		[ 'r840', 'spann', 'l2', [ 'all rows', 'true' ], 2000, $probes_off ],
		[ 'r840', 'spann', 'cosine', [ 'all rows', 'true' ], 2000,
		  { name => 'spann.probes = 1000', set => 'SET spann.probes = 1000;', complete => 1, ordered => 1, exact => 1 } ],
		[ 'r1100', 'spann', 'l2', [ 'all rows', 'true' ], 2000, [ $spann_default, $spann_strict, $probes_off ] ],
	);
	for my $i (1 .. @repro)
	{
		my ($t, $am, $metric, $filter, $k, $mode) = @{ $repro[ $i - 1 ] };
		my $rows = $rows{$t};
		my $index = "SET client_min_messages = warning; DROP INDEX IF EXISTS ${t}_idx;
			CREATE INDEX ${t}_idx ON $t USING $am (v vector_${metric}_ops);";
		save_sql("repro$i", "$tables\n$index");
		next unless run_ok($index, "repro $i: index built");
		check_case({
			name => "repro $i: $am vector_${metric}_ops, $rows rows, WHERE $filter->[0] LIMIT $k",
			tag => "repro$i",
			table => $t,
			index => "${t}_idx",
			type => 'vector',
			metric => $metric,
			rows => $rows,
			filters => [ [ @$filter, 0 ] ],
			limits => [$k],
			queries => \@queries,
			modes => ref $mode eq 'ARRAY' ? $mode : [$mode],
		});
	}
}

unlike(slurp_file($node->logfile), qr/terminated by signal|TRAP:|PANIC/, 'no server process crashed')
  or push @FAILED, 'server processes crashed: '
  . join('; ', slurp_file($node->logfile) =~ /(terminated by signal \d+.*\n.*DETAIL:\s+Failed process was running: .{0,200})/g);
note("failures:\n  " . join("\n  ", @FAILED)) if @FAILED;
$node->stop;
done_testing();
