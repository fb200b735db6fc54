# hnsw indexes (on vector, halfvec, bit and sparsevec keys, and with codes
# of layer-0 neighbours of one and of four bits) replicate through generic
# WAL: a streaming standby replays
# the build (in memory and spilled to disk), inserts, duplicates, deletes
# with VACUUM and the reuse of freed space, with wal_consistency_checking
# comparing every replayed page with the primary's image; its index scans
# then return what the primary's return, and after promotion it takes new
# rows.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use AnnTest;

my $DIMS = 16;

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', "wal_consistency_checking = 'generic'");
$primary->start;
is($primary->safe_psql('postgres', 'SHOW wal_consistency_checking'), 'generic',
	'generic WAL records carry page images to check');
ann_setup($primary, 'postgres');

$primary->backup('backup');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'backup', has_streaming => 1);
$standby->start;

# One table per key type; the opclass differs too.  key is the SQL of the
# key of seed %s; bit keys quantize 64 sines (many rows share a key).
# "coded" keeps codes of its layer-0 neighbours (options: more reloptions);
# "long" keys too large for an element tuple.
my @cases = (
	{ type => 'vector', column => "vector($DIMS)", ops => 'vector_l2_ops', op => '<->',
	  key => "ann_test_vec(%s, $DIMS)::vector" },
	{ type => 'halfvec', column => "halfvec($DIMS)", ops => 'halfvec_cosine_ops', op => '<=>',
	  key => "ann_test_vec(%s, $DIMS)::halfvec" },
	{ type => 'bit', column => 'bit(64)', ops => 'bit_hamming_ops', op => '<~>',
	  key => "binary_quantize(ann_test_vec(%s, 64)::vector)::bit(64)" },
	{ type => 'sparsevec', column => "sparsevec($DIMS)", ops => 'sparsevec_l1_ops', op => '<+>',
	  key => "ann_test_sparse(%s, $DIMS)" },
	{ type => 'coded', column => "vector($DIMS)", ops => 'vector_ip_ops', op => '<#>',
	  key => "ann_test_vec(%s, $DIMS)::vector", options => ', quantization = rabitq' },
	{ type => 'coded4', column => "vector($DIMS)", ops => 'vector_l2_ops', op => '<->',
	  key => "ann_test_vec(%s, $DIMS)::vector", options => ', quantization = rabitq, code_bits = 4' },
	# keys on pages of their own, five each (two WAL records a key)
	{ type => 'long', column => 'vector(9000)', ops => 'vector_l2_ops', op => '<->',
	  key => "ann_test_vec(%s, 9000)::vector" },
);

sub key_of
{
	my ($case, $seed) = @_;
	return sprintf($case->{key}, $seed);
}

# Query keys of a case
sub queries
{
	my ($case) = @_;
	return [ map { key_of($case, $_) } (-3, 7, 1000, 5555, 123456) ];
}

# INSERT of rows $from..$to of case $case; row i gets the key of seed
# $seed (SQL, default i).
sub rows
{
	my ($case, $from, $to, $seed) = @_;
	$seed //= 'i';
	return "INSERT INTO t_$case->{type} SELECT i, " . key_of($case, $seed) . "
		FROM generate_series($from, $to) i;";
}

for my $c (@cases)
{
	my $t = "t_$c->{type}";
	$primary->safe_psql('postgres', "CREATE TABLE $t (id int PRIMARY KEY, v $c->{column});"
		  . rows($c, 1, 500)
		  . "INSERT INTO $t VALUES (0, NULL);
		CREATE INDEX ${t}_idx ON $t USING hnsw (v $c->{ops})
			WITH (m = 8, ef_construction = 32" . ($c->{options} // '') . ");"
		  # inserts, and 12 copies of row 7's vector: an element holds 10 rows,
		  # so these take two
		  . rows($c, 501, 800)
		  . rows($c, 801, 812, 7)
		  . "DELETE FROM $t WHERE id % 3 = 0;
		VACUUM $t;"
		  # into the space VACUUM freed
		  . rows($c, 813, 900));
}

# A build that outgrows maintenance_work_mem: the part inserted on disk
# must reach the standby too (with codes, relative to the centre of the
# part built in memory).
my ($ret, $out, $err) = $primary->psql('postgres', "CREATE TABLE spill (id int PRIMARY KEY, v vector($DIMS));
	INSERT INTO spill SELECT i, ann_test_vec(i, $DIMS) FROM generate_series(1, 3000) i;
	SET maintenance_work_mem = '1MB';
	CREATE INDEX spill_idx ON spill USING hnsw (v vector_l2_ops) WITH (quantization = rabitq);");
is($ret, 0, 'spilling build on the primary') or diag($err);
like($err, qr/no longer fits into maintenance_work_mem/, 'the build spilled to disk');

$primary->wait_for_catchup($standby);

for my $c (@cases)
{
	my $t = "t_$c->{type}";
	my %o = (op => $c->{op});
	my @queries = @{ queries($c) };
	index_used_ok($standby, 'postgres', $t, $queries[0], "${t}_idx", %o);

	# the same pages give the same answers, at the default ef_search and
	# at one that visits the whole graph
	for my $ef (40, 1000)
	{
		my (@bad);
		for my $q (@queries)
		{
			my $p = knn_rows($primary, 'postgres', $t, $q, %o, ef => $ef);
			my $s = knn_rows($standby, 'postgres', $t, $q, %o, ef => $ef);
			push @bad, "$q: primary $p->[0], standby $s->[0]"
			  if "@$p" ne "@$s" || $p->[0] eq '';
		}
		ok(!@bad, "$t: the standby's top-10 equal the primary's at ef_search $ef")
		  or diag(join("\n", @bad));
	}
	matches_exact_ok($standby, 'postgres', $t, \@queries,
		"$t: the standby's top-10 are exact at ef_search 1000", %o, ef => 1000);
	all_reachable_ok($standby, 'postgres', $t, $queries[1],
		"$t: every row is reachable through the standby's index", %o);
}

{
	my (@bad);
	for my $q (@{ queries($cases[0]) })
	{
		my $p = knn_rows($primary, 'postgres', 'spill', $q);
		my $s = knn_rows($standby, 'postgres', 'spill', $q);
		push @bad, "$q: primary $p->[0], standby $s->[0]" if "@$p" ne "@$s" || $p->[0] eq '';
	}
	ok(!@bad, "spill: the standby's top-10 equal the primary's") or diag(join("\n", @bad));
}

# A page that replays differently from the primary's image stops the
# standby with "inconsistent page found".
is($standby->safe_psql('postgres', 'SELECT pg_is_in_recovery()'), 't', 'the standby is still replaying');
for my $node ($primary, $standby)
{
	my $log = slurp_file($node->logfile);
	unlike($log, qr/inconsistent page found|PANIC|server process .* terminated/,
		$node->name . ': no WAL consistency failure or crash in the log');
}

# The promoted standby writes to the index it replayed.
$standby->promote;
$standby->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()')
  or die 'the standby did not leave recovery';
for my $c (@cases)
{
	my $t = "t_$c->{type}";
	my $key = key_of($c, 5000);
	$standby->safe_psql('postgres', "INSERT INTO $t VALUES (5000, $key)");
	# among the rows of the same key (bit keys repeat)
	my $r = knn_rows($standby, 'postgres', $t, $key, op => $c->{op}, k => 50);
	ok(grep({ $_ eq '5000' } split(/,/, $r->[0])), "$t: the promoted standby finds a new row")
	  or diag("found $r->[0]");
	all_reachable_ok($standby, 'postgres', $t, queries($c)->[2],
		"$t: every row is reachable after promotion and an insert", op => $c->{op});
}

$standby->stop;
$primary->stop;
done_testing();
