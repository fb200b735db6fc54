# A real pgvector 0.8.6 database, dumped by pg_dump (the fixture
# pgvector-0.8.6: a plain and a custom dump, and pgvector's exact answers
# to 20 queries under 7 distance expressions), restored into ann in the
# one step README.md gives ("Moving from pgvector"): CREATE EXTENSION ann,
# then psql -f or pg_restore, without an error.  In both restored
# databases every index of the dump is there, valid and used by a query
# shaped for it; the exact answers have pgvector's distances and rows; the
# approximate ones, through each index with the settings a user would
# choose, reach recall@10 >= 0.9.  Then the extension alias vector: a dump
# of the restored database restores with no step, and CREATE EXTENSION
# vector without ann fails with a hint, with CASCADE installs both.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use List::Util qw(max min);
use AnnTest;

my $fixture = ann_fixture('pgvector-0.8.6');
my $QUERIES = 20;    # the rows with id 1..20 are the queries
my $TOLERANCE = 1e-6;    # relative, between our distances and pgvector's

# As a user would set them: hnsw's default ef_search, and about
# sqrt(lists) probes for the ivfflat index of 20 lists
my $APPROX = 'SET hnsw.ef_search = 40; SET ivfflat.probes = 5;';
my $EXACT = 'SET enable_indexscan = off; SET enable_bitmapscan = off;';
my $INDEX = 'SET enable_seqscan = off; SET enable_bitmapscan = off;';

my $node = PostgreSQL::Test::Cluster->new('pgvector_restore');
$node->init;
$node->start;

# A command that must exit 0 and write nothing to stderr.
sub quiet_ok
{
	my ($cmd, $name) = @_;
	$node->command_checks_all($cmd, 0, [qr//], [qr/^$/], $name);
	return;
}

# A new database with ann, ready for a pgvector dump.
sub database_with_ann
{
	my ($db) = @_;
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql($db, 'CREATE EXTENSION ann');
	return;
}

# The index names of the plain dump: its CREATE INDEX statements by name
# and definition, and its primary keys.
sub dump_indexes
{
	my %defs;
	for my $line (split /\n/, slurp_file("$fixture/pgvapp.sql"))
	{
		if ($line =~ /^(CREATE INDEX (\w+) .*);$/)
		{
			$defs{$2} = $1;
		}
		elsif ($line =~ /ADD CONSTRAINT (\w+) PRIMARY KEY/)
		{
			$defs{$1} = undef;
		}
	}
	return \%defs;
}

# The indexes of the tables of schema public in $db, each a hash: name,
# table, am, definition, valid, pred (the partial index's predicate or
# ''), keys (the key columns or expressions), type (of the first key,
# with its typmod) and op (the ordering operator of its opclass, or '').
# Names are schema-qualified, as pg_dump writes them.
sub restored_indexes
{
	my ($db) = @_;
	my $rows = $node->safe_psql($db, q{
		SET search_path = '';
		SELECT c.relname, t.relname, a.amname, pg_get_indexdef(i.indexrelid),
			i.indisvalid AND i.indisready, coalesce(pg_get_expr(i.indpred, i.indrelid), ''),
			(SELECT string_agg(pg_get_indexdef(i.indexrelid, k, true), ';' ORDER BY k)
			 FROM generate_series(1, i.indnkeyatts) k),
			format_type(at.atttypid, at.atttypmod),
			coalesce((SELECT o.oprname FROM pg_amop ao JOIN pg_operator o ON o.oid = ao.amopopr
					  WHERE ao.amopfamily = oc.opcfamily AND ao.amoppurpose = 'o'), '')
		FROM pg_index i
		JOIN pg_class c ON c.oid = i.indexrelid
		JOIN pg_class t ON t.oid = i.indrelid
		JOIN pg_am a ON a.oid = c.relam
		JOIN pg_opclass oc ON oc.oid = i.indclass[0]
		JOIN pg_attribute at ON at.attrelid = i.indexrelid AND at.attnum = 1
		WHERE t.relnamespace = 'public'::regnamespace ORDER BY 1});
	my %indexes;
	for my $row (split /\n/, $rows)
	{
		my %ix;
		@ix{qw(name table am definition valid pred keys type op)} = split /\|/, $row, -1;
		$ix{keys} = [ split /;/, $ix{keys} ];
		$indexes{ $ix{name} } = \%ix;
	}
	return \%indexes;
}

# A literal of the value of the first key of index $ix in a row of its
# table that the index holds.
sub key_literal
{
	my ($db, $ix) = @_;
	my $where = $ix->{pred} ne '' ? "WHERE $ix->{pred}" : '';
	return $node->safe_psql($db, "SELECT quote_literal($ix->{keys}[0]) || '::$ix->{type}'
		FROM $ix->{table} $where LIMIT 1");
}

# A query shaped for index $ix: for an ordering opclass, the ten rows
# nearest a constant; else rows equal to a row's keys (in the index's
# partial predicate, if any).
sub query_for_index
{
	my ($db, $ix) = @_;
	my @where = $ix->{pred} ne '' ? ($ix->{pred}) : ();
	if ($ix->{op} ne '')
	{
		my $where = @where ? "WHERE @where" : '';
		return "SELECT * FROM $ix->{table} $where
			ORDER BY $ix->{keys}[0] $ix->{op} " . key_literal($db, $ix) . ' LIMIT 10';
	}
	my $values = $node->safe_psql($db, 'SELECT '
		  . join(", ", map { "quote_literal($_)" } @{ $ix->{keys} }) . " FROM $ix->{table} LIMIT 1");
	my @literals = split /\|/, $values;
	push @where, map { "$ix->{keys}[$_] = $literals[$_]" } 0 .. $#literals;
	return "SELECT * FROM $ix->{table} WHERE " . join(' AND ', @where);
}

# The definition of index $ix as pg_get_indexdef writes it in $db, given
# pgvector's $definition: without the opclass where it is the default for
# its type and access method.  ann's hnsw has default opclasses
# (vector_l2_ops, halfvec_l2_ops), pgvector's has none.
sub without_default_opclass
{
	my ($db, $ix, $definition) = @_;
	my %default = map { $_ => 1 } split /\n/, $node->safe_psql($db, q{
		SELECT a.amname || ' ' || oc.opcname FROM pg_opclass oc JOIN pg_am a ON a.oid = oc.opcmethod
		WHERE oc.opcdefault});
	$definition =~ s/ public\.(\w+_ops)\)/$default{"$ix->{am} $1"} ? ')' : " public.$1)"/e;
	return $definition;
}

# Every index of the dump is in $db, with the dump's definition, valid,
# and used by a query shaped for it.
sub indexes_ok
{
	my ($db, $indexes) = @_;
	my $want = dump_indexes();
	is(join(' ', sort keys %$indexes), join(' ', sort keys %$want), "$db: the dump's indexes, no other");
	for my $name (sort keys %$want)
	{
		my $ix = $indexes->{$name} or next;
		is($ix->{definition}, without_default_opclass($db, $ix, $want->{$name}),
			"$db: $name has the dump's definition")
		  if defined $want->{$name};
		is($ix->{valid}, 't', "$db: $name is valid");
		my $plan = $node->safe_psql($db, "$INDEX EXPLAIN (COSTS OFF) " . query_for_index($db, $ix));
		like($plan, qr/Index (?:Only )?Scan using \Q$name\E /, "$db: a query shaped for $name uses it")
		  or diag($plan);
	}
	return;
}

# pgvector's exact answers, from the fixture's CSV: a hash from the
# expression to arrays (by query id) of [id, distance] by rank.
sub pgvector_answers
{
	my %answers;
	my @lines = split /\n/, slurp_file("$fixture/exact-answers.csv");
	shift @lines;
	for (@lines)
	{
		my ($qid, $expr, $rank, $id, $d) = split /,/;
		$answers{$expr}[$qid][ $rank - 1 ] = [ $id, $d ];
	}
	return \%answers;
}

# Our exact top-$k in $db under $expr (say 'embedding <-> q', where q is
# the same column of the query row), ties broken by id as in the CSV:
# an array (by query id) of [id, distance] by rank.
sub exact_answers
{
	my ($db, $expr, $k) = @_;
	my ($column) = $expr =~ /^(\w+)/;
	my $rows = $node->safe_psql($db, "$EXACT
		SELECT qid, string_agg(a.id || ' ' || a.d, ',' ORDER BY a.d, a.id)
		FROM generate_series(1, $QUERIES) qid CROSS JOIN LATERAL
			(SELECT items.id, $expr AS d FROM items, (SELECT $column AS q FROM items WHERE id = qid) s
			 ORDER BY d, items.id LIMIT $k) a
		GROUP BY qid");
	my @answers;
	for (split /\n/, $rows)
	{
		my ($qid, $list) = split /\|/;
		$answers[$qid] = [ map { [ split / / ] } split /,/, $list ];
	}
	return \@answers;
}

sub relative_difference
{
	my ($got, $want) = @_;
	return $got == $want ? 0 : abs($got - $want) / abs($want);
}

sub distances_equal
{
	my ($got, $want) = @_;
	return abs($got - $want) <= $TOLERANCE * abs($want);
}

# Where $got (our exact answer to one query) differs from $want
# (pgvector's): a distance off by more than $TOLERANCE, or rows that
# differ among distances that do not tie with the last rank's (rows tied
# at the last rank may be others, equally near).  '' when they agree.
sub answer_difference
{
	my ($got, $want) = @_;
	return 'rows ' . scalar(@$got) . ' of ' . scalar(@$want) if @$got != @$want;
	for my $r (0 .. $#$want)
	{
		return "rank " . ($r + 1) . ": distance $got->[$r][1], pgvector's $want->[$r][1]"
		  unless distances_equal($got->[$r][1], $want->[$r][1]);
	}
	# compare the ids of each run of equal distances before the last one
	my $start = 0;
	for my $r (0 .. $#$want)
	{
		next if $r < $#$want && distances_equal($want->[ $r + 1 ][1], $want->[$r][1]);
		last if distances_equal($want->[$r][1], $want->[-1][1]);
		my @g = sort map { $_->[0] } @$got[ $start .. $r ];
		my @w = sort map { $_->[0] } @$want[ $start .. $r ];
		return 'ranks ' . ($start + 1) . '..' . ($r + 1) . ": ids @g, pgvector's @w" if "@g" ne "@w";
		$start = $r + 1;
	}
	return '';
}

# For every query and expression of the CSV, our exact answer in $db is
# pgvector's.
sub exact_answers_ok
{
	my ($db, $pgvector) = @_;
	for my $expr (sort keys %$pgvector)
	{
		my $want = $pgvector->{$expr};
		my $got = exact_answers($db, $expr, scalar @{ $want->[1] });
		my @bad;
		my $largest = 0;
		for my $qid (1 .. $#$want)
		{
			my $diff = answer_difference($got->[$qid] // [], $want->[$qid]);
			push @bad, "query $qid: $diff" if $diff ne '';
			$largest = max($largest, map { relative_difference($got->[$qid][$_][1], $want->[$qid][$_][1]) }
				  0 .. min($#{ $got->[$qid] // [] }, $#{ $want->[$qid] }));
		}
		note("$db: $expr: largest relative difference from pgvector's distances $largest");
		is(scalar(@$want) - 1, $QUERIES, "the CSV has $QUERIES queries for $expr");
		ok(!@bad, "$db: the exact answers to $expr are pgvector's") or diag(join("\n", @bad));
	}
	return;
}

# For each query id, the ids of index $ix's ten nearest rows, ties with
# the tenth included (rank <= 10), found by a sequential scan; or with
# $approx, the ten rows the index returns: a hash from query id to
# comma-separated ids.
sub nearest_ids
{
	my ($db, $ix, $approx) = @_;
	my ($key, $op) = ($ix->{keys}[0], $ix->{op});
	my $q = "(SELECT $key FROM items WHERE id = qid)";
	my $where = $ix->{pred} ne '' ? "WHERE $ix->{pred}" : '';
	my $sql = $approx
	  ? "FROM generate_series(1, $QUERIES) qid CROSS JOIN LATERAL
		   (SELECT id FROM items $where ORDER BY $key $op $q LIMIT 10) a"
	  : "FROM (SELECT qid, id, rank() OVER (PARTITION BY qid ORDER BY $key $op query.key) AS r
			 FROM generate_series(1, $QUERIES) qid
			 CROSS JOIN LATERAL (SELECT $key AS key FROM items WHERE id = qid) query,
			 items $where) a WHERE r <= 10";
	my $query = "SELECT qid, string_agg(id::text, ',') $sql GROUP BY qid";
	if ($approx)
	{
		my $plan = $node->safe_psql($db, "$INDEX $APPROX EXPLAIN (COSTS OFF) $query");
		like($plan, qr/Index Scan using \Q$ix->{name}\E /, "$db: the recall queries use $ix->{name}")
		  or diag($plan);
	}
	my %ids = map { split /\|/ } split /\n/,
	  $node->safe_psql($db, ($approx ? "$INDEX $APPROX" : $EXACT) . " $query");
	return \%ids;
}

# Recall@10 of index $ix in $db: the share of the ten rows it returns per
# query that are among the exact ten nearest (rows tied with the tenth
# count too).
sub recall_ok
{
	my ($db, $ix) = @_;
	my $exact = nearest_ids($db, $ix, 0);
	my $approx = nearest_ids($db, $ix, 1);
	my ($hits, $returned) = (0, 0);
	for my $qid (1 .. $QUERIES)
	{
		my %want = map { $_ => 1 } split /,/, $exact->{$qid};
		my @got = split /,/, ($approx->{$qid} // '');
		$returned += @got;
		$hits += grep { $want{$_} } @got;
	}
	is($returned, 10 * $QUERIES, "$db: $ix->{name} returns 10 rows per query");
	my $recall = $hits / (10 * $QUERIES);
	note("$db: $ix->{name}: recall\@10 = $recall");
	cmp_ok($recall, '>=', 0.9, "$db: $ix->{name}: recall\@10 >= 0.9");
	return;
}

# What both restores must give.
sub restored_ok
{
	my ($db, $pgvector) = @_;
	# as after any restore: without statistics, the planner takes label = 1
	# for a rare value and prefers the btree on label to the partial index
	$node->safe_psql($db, 'ANALYZE');
	is($node->safe_psql($db, 'SELECT count(*) FROM items'), '2000', "$db: 2,000 rows");
	is($node->safe_psql($db, "SELECT string_agg(extname, ' ' ORDER BY extname) FROM pg_extension"),
		'ann plpgsql vector', "$db: ann and the alias vector are installed");
	my $indexes = restored_indexes($db);
	indexes_ok($db, $indexes);
	exact_answers_ok($db, $pgvector);
	recall_ok($db, $_) for grep { $_->{op} ne '' } map { $indexes->{$_} } sort keys %$indexes;
	is($node->safe_psql($db, "SELECT string_agg(n::text, ',') FROM
		nearest_items((SELECT embedding FROM items WHERE id = 7), 3) n"),
		$node->safe_psql($db, "$EXACT SELECT string_agg(id::text, ',') FROM (SELECT id FROM items
			ORDER BY embedding <=> (SELECT embedding FROM items WHERE id = 7) LIMIT 3) s"),
		"$db: the dump's function answers");
	# the table the dump built with pgvector's avg() and sum()
	is($node->safe_psql($db, "$EXACT SELECT count(*) FROM label_centroids l
		WHERE l.centroid <-> (SELECT avg(embedding) FROM items i WHERE i.label = l.label) <= 1e-6
		  AND l.total <-> (SELECT sum(embedding) FROM items i WHERE i.label = l.label) <= 1e-5 * vector_norm(l.total)"),
		$node->safe_psql($db, 'SELECT count(DISTINCT label) FROM items'),
		"$db: our avg() and sum() give pgvector's centroids and totals");
	return;
}

my $pgvector = pgvector_answers();

# make install skips the alias where pgvector's vector.control is
is($node->safe_psql('postgres', "SELECT string_agg(version || ' requires ' || requires::text, ', ')
	FROM pg_available_extension_versions WHERE name = 'vector'"), '0.8.6 requires {ann}',
	'the extension vector installed here is the alias of ann, not pgvector');

# the one step, for a plain dump and for a custom one
database_with_ann('plain');
quiet_ok([ 'psql', '-X', '-q', '-o', '/dev/null', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('plain'),
	'-f', "$fixture/pgvapp.sql" ], 'psql -f restores the plain pgvector dump without an error');
restored_ok('plain', $pgvector);

database_with_ann('custom');
quiet_ok([ 'pg_restore', '--exit-on-error', '-d', $node->connstr('custom'), "$fixture/pgvapp.dump" ],
	'pg_restore restores the custom pgvector dump without an error');
restored_ok('custom', $pgvector);

# A dump of the restored database has both extensions, ann first, and
# restores with no step, in either format.
my $basedir = $node->basedir;
quiet_ok([ 'pg_dump', '-f', "$basedir/ann.sql", '-d', $node->connstr('custom') ], 'pg_dump of the restored database');
quiet_ok([ 'pg_dump', '-Fc', '-f', "$basedir/ann.dump", '-d', $node->connstr('custom') ], 'pg_dump -Fc of it');
like(slurp_file("$basedir/ann.sql"), qr/CREATE EXTENSION IF NOT EXISTS ann .*CREATE EXTENSION IF NOT EXISTS vector /s,
	'the dump creates ann, then vector');
$node->safe_psql('postgres', 'CREATE DATABASE again_plain; CREATE DATABASE again_custom');
quiet_ok([ 'psql', '-X', '-q', '-o', '/dev/null', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('again_plain'),
	'-f', "$basedir/ann.sql" ], 'the plain dump of an ann database with the alias restores into an empty database');
quiet_ok([ 'pg_restore', '--exit-on-error', '-d', $node->connstr('again_custom'), "$basedir/ann.dump" ],
	'and so does the custom one');
my $summary = "SELECT (SELECT string_agg(extname || ' ' || extversion, ', ' ORDER BY extname) FROM pg_extension),
	(SELECT string_agg(indexdef, '; ' ORDER BY indexname) FROM pg_indexes WHERE schemaname = 'public'),
	(SELECT md5(string_agg(i::text, '' ORDER BY id)) FROM items i)";
for my $db ('again_plain', 'again_custom')
{
	is($node->safe_psql($db, $summary), $node->safe_psql('custom', $summary),
		"$db: the same extensions, indexes and rows");
}

# CREATE EXTENSION vector without ann: an error with a hint, also for a
# pgvector dump restored without the step; with CASCADE, both
$node->safe_psql('postgres', 'CREATE DATABASE bare');
my ($ret, $out, $err) = $node->psql('bare', 'CREATE EXTENSION vector');
like($err, qr/ERROR:  required extension "ann" is not installed\nHINT:  .*CASCADE/,
	'CREATE EXTENSION vector without ann fails, with a hint');
$node->command_fails_like([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('bare'),
	'-f', "$fixture/pgvapp.sql" ], qr/required extension "ann" is not installed/,
	'so does a pgvector dump restored without CREATE EXTENSION ann');
$node->safe_psql('bare', 'CREATE EXTENSION vector CASCADE');
is($node->safe_psql('bare', "SELECT string_agg(extname, ' ' ORDER BY extname) FROM pg_extension"),
	'ann plpgsql vector', 'CREATE EXTENSION vector CASCADE installs ann and the alias');
is($node->safe_psql('bare', "DROP EXTENSION vector; SELECT '[1,2]'::vector <-> '[2,2]'"), '1',
	'DROP EXTENSION vector leaves ann');

$node->stop;
done_testing();
