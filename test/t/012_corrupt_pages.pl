# Corrupt index pages: a chain of pages that loops back on itself, a page
# of the wrong kind in a chain, a line pointer pointing past its page and
# an hnsw element with an impossible level, written into the files of a
# stopped cluster.  Scans, inserts and VACUUM
# must stop with an INDEX_CORRUPTED error naming the index and the block,
# never hang or crash, and REINDEX must repair the index.  Then rounds of
# random bytes changed anywhere in both indexes: every statement must
# succeed or raise an ERROR.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use AnnTest;

my $BLCKSZ = 8192;
my $node = PostgreSQL::Test::Cluster->new('corrupt');
$node->init;
$node->append_conf('postgresql.conf', 'statement_timeout = 60s');
$node->start;
ann_setup($node, 'postgres');
$node->safe_psql('postgres', q{
	CREATE EXTENSION pageinspect;
	CREATE TABLE items (id int, v vector(8), cat int);
	INSERT INTO items SELECT i, ann_test_vec(i, 8), i % 7 FROM generate_series(1, 3000) i;
	CREATE INDEX items_spann ON items USING spann (v) WITH (lists = 20);
	CREATE TABLE docs AS SELECT * FROM items;
	CREATE INDEX docs_hnsw ON docs USING hnsw (v, cat);
});

# The special space of block $blkno of $index: next block, flags, page ID
sub special
{
	my ($index, $blkno) = @_;
	my $hex = $node->safe_psql('postgres',
		"SELECT encode(substr(get_raw_page('$index', $blkno), $BLCKSZ - 7, 8), 'hex')");
	my ($next, $flags, $id) = unpack('V v v', pack('H*', $hex));
	return ($next, $flags, $id);
}

# The first block of $index whose flags include $flag (and, with $last,
# that ends its chain)
sub first_page_with
{
	my ($index, $flag, $last) = @_;
	my $nblocks = $node->safe_psql('postgres', "SELECT pg_relation_size('$index') / $BLCKSZ");
	for my $blkno (1 .. $nblocks - 1)
	{
		my ($next, $flags) = special($index, $blkno);
		return $blkno if ($flags & $flag) && (!$last || $next == 0xFFFFFFFF);
	}
	die "no page with flag $flag in $index";
}

# Write $bytes at $offset of block $blkno of $index, with the server stopped
sub overwrite
{
	my ($index, $blkno, $offset, $bytes) = @_;
	my $path = $node->data_dir . '/'
	  . $node->safe_psql('postgres', "SELECT pg_relation_filepath('$index')");
	$node->stop;
	open(my $fh, '+<', $path) or die "open $path: $!";
	binmode $fh;
	seek($fh, $blkno * $BLCKSZ + $offset, 0) or die "seek: $!";
	print $fh $bytes;
	close($fh);
	$node->start;
	return;
}

# $sql fails with INDEX_CORRUPTED (XX002) naming $index and block $blkno
# (and the offset $offno, if given)
sub corrupted_ok
{
	my ($sql, $index, $blkno, $name, $offno) = @_;
	my $where = defined $offno ? "is corrupted at block $blkno, offset $offno"
	  : "contains a corrupted page at block $blkno";
	my ($ret, $stdout, $stderr) = $node->psql('postgres',
		"SET enable_seqscan = off; SET spann.probes = 1000; SET spann.group_probes = 0;
		 SET hnsw.ef_search = 1000;
		 \\set VERBOSITY verbose
		 $sql");
	like($stderr, qr/XX002: index "$index" $where\b/, $name);
	return;
}

my $scan_spann = 'SELECT count(*) FROM (SELECT id FROM items ORDER BY v <-> ann_test_vec(5, 8)::vector LIMIT 5000) s';
my $scan_hnsw = 'SELECT count(*) FROM (SELECT id FROM docs WHERE cat = 3 ORDER BY v <-> ann_test_vec(5, 8)::vector LIMIT 5) s';

# 1. the last page of a list, its next link pointing at itself
my $posting = first_page_with('items_spann', 0x0004, 1);
overwrite('items_spann', $posting, $BLCKSZ - 8, pack('V', $posting));
corrupted_ok($scan_spann, 'items_spann', $posting, 'spann: a scan stops at a cycle of posting pages');
corrupted_ok("INSERT INTO items SELECT i, ann_test_vec(i, 8), 1 FROM generate_series(3001, 3300) i",
	'items_spann', $posting, 'spann: an insert that walks to the end of the list stops too');
corrupted_ok('VACUUM items', 'items_spann', $posting, 'spann: so does VACUUM');
$node->safe_psql('postgres', 'REINDEX INDEX items_spann');
is($node->safe_psql('postgres', "SET enable_seqscan = off; SET spann.probes = 1000; $scan_spann"),
	$node->safe_psql('postgres', 'SELECT count(*) FROM items'), 'spann: REINDEX repairs it');

# 1b. the last page of a list, its next link past the index's end: the
# error names the index, not only a file that cannot be read
$posting = first_page_with('items_spann', 0x0004, 1);
overwrite('items_spann', $posting, $BLCKSZ - 8, pack('V', 1000000));
for my $sql ($scan_spann, 'VACUUM items')
{
	my ($ret, $stdout, $stderr) = $node->psql('postgres',
		"SET enable_seqscan = off; SET spann.probes = 1000; \\set VERBOSITY verbose\n$sql");
	like($stderr, qr/XX002: index "items_spann" is corrupted: a link leads to block 1000000, past its end/,
		"spann: a link past the index's end is corruption ($sql)");
}
$node->safe_psql('postgres', 'REINDEX INDEX items_spann');

# 2. a centroid page that claims to be a posting page
my $centroids = first_page_with('items_spann', 0x0002);
overwrite('items_spann', $centroids, $BLCKSZ - 4, pack('v', 0x0004));
corrupted_ok($scan_spann, 'items_spann', $centroids, 'spann: a page of the wrong kind in a chain');
$node->safe_psql('postgres', 'REINDEX INDEX items_spann');

# 3. a posting entry's line pointer past the page (offset 8191, length kept)
$posting = first_page_with('items_spann', 0x0004);
my $lp = unpack('V', pack('H*', $node->safe_psql('postgres',
	"SELECT encode(substr(get_raw_page('items_spann', $posting), 25, 4), 'hex')")));
overwrite('items_spann', $posting, 24, pack('V', ($lp & ~0x7fff) | 8191));
corrupted_ok($scan_spann, 'items_spann', $posting, 'spann: an entry outside its page');
$node->safe_psql('postgres', 'REINDEX INDEX items_spann');

# 4. a list's centroid with a head but no tail: an insert that picks
# the list must say so, not take the list for one replaced meanwhile
# and choose again forever
my $centroids_page = first_page_with('items_spann', 0x0002);
my $centroid_at = unpack('V', pack('H*', $node->safe_psql('postgres',
	"SELECT encode(substr(get_raw_page('items_spann', $centroids_page), 25, 4), 'hex')"))) & 0x7fff;
overwrite('items_spann', $centroids_page, $centroid_at + 4, pack('V', 0xFFFFFFFF));
corrupted_ok('INSERT INTO items SELECT i, ann_test_vec(i, 8), i % 7 FROM generate_series(6001, 9000) i',
	'items_spann', $centroids_page, 'spann: an insert meets a list with no tail', 1);
$node->safe_psql('postgres', 'REINDEX INDEX items_spann');

# 5. hnsw: a cycle in the signature directory of an index with a filter column
my $directory = first_page_with('docs_hnsw', 0x0004);
overwrite('docs_hnsw', $directory, $BLCKSZ - 8, pack('V', $directory));
corrupted_ok($scan_hnsw, 'docs_hnsw', $directory, 'hnsw: a filtered scan stops at a cycle in the directory');
$node->safe_psql('postgres', 'REINDEX INDEX docs_hnsw');
is($node->safe_psql('postgres', "SET enable_seqscan = off; $scan_hnsw"), '5', 'hnsw: REINDEX repairs it');

# The line pointer of item $offno of block $blkno of $index, as a number
sub line_pointer
{
	my ($index, $blkno, $offno) = @_;
	my $at = 25 + 4 * ($offno - 1);
	return unpack('V', pack('H*', $node->safe_psql('postgres',
		"SELECT encode(substr(get_raw_page('$index', $blkno), $at, 4), 'hex')")));
}

# 6. hnsw: an element's line pointer past its page, then an element whose
# level is past the most there can be.  A scan that visits every element,
# an insert that searches the graph and VACUUM stop at either.
my $scan_all = 'SET hnsw.iterative_scan = relaxed_order; SET hnsw.max_scan_tuples = 100000;
	SELECT count(*) FROM (SELECT id FROM docs ORDER BY v <-> ann_test_vec(5, 8)::vector LIMIT 3000) s';
my $elements = first_page_with('docs_hnsw', 0x0002);
$lp = line_pointer('docs_hnsw', $elements, 1);
overwrite('docs_hnsw', $elements, 24, pack('V', ($lp & ~0x7fff) | 8191));
corrupted_ok($scan_all, 'docs_hnsw', $elements, 'hnsw: an element outside its page');
corrupted_ok('VACUUM docs', 'docs_hnsw', $elements, 'hnsw: VACUUM stops at it too');
$node->safe_psql('postgres', 'REINDEX INDEX docs_hnsw');

$elements = first_page_with('docs_hnsw', 0x0002);
my $tuple = line_pointer('docs_hnsw', $elements, 1) & 0x7fff;
overwrite('docs_hnsw', $elements, $tuple + 1, pack('C', 200));
corrupted_ok($scan_all, 'docs_hnsw', $elements, 'hnsw: an element of level 200', 1);
corrupted_ok("INSERT INTO docs SELECT i, ann_test_vec(i, 8), 1 FROM generate_series(3001, 3100) i",
	'docs_hnsw', $elements, 'hnsw: an insert meets it too', 1);
corrupted_ok('VACUUM docs', 'docs_hnsw', $elements, 'hnsw: and VACUUM', 1);
$node->safe_psql('postgres', 'REINDEX INDEX docs_hnsw');
is($node->safe_psql('postgres', "SET enable_seqscan = off; $scan_all"),
	$node->safe_psql('postgres', 'SELECT count(*) FROM docs'), 'hnsw: REINDEX repairs it');

# 7. hnsw: a directory entry's line pointer one byte before its tuple, so
# the tuple would be read at a misaligned address (UBSan found a scan
# doing so in the random rounds below)
$directory = first_page_with('docs_hnsw', 0x0004);
$lp = unpack('V', pack('H*', $node->safe_psql('postgres',
	"SELECT encode(substr(get_raw_page('docs_hnsw', $directory), 25, 4), 'hex')")));
overwrite('docs_hnsw', $directory, 24, pack('V', ($lp & ~0x7fff) | (($lp & 0x7fff) - 1)));
corrupted_ok($scan_hnsw, 'docs_hnsw', $directory, 'hnsw: a directory entry at a misaligned offset');
$node->safe_psql('postgres', 'REINDEX INDEX docs_hnsw');

# 8. random damage: in each round, with the server stopped, XOR a few
# random bytes of random pages of both indexes (metapages included); then
# scans, inserts, deletes with VACUUM and ann_check_index must each succeed
# or fail with an ERROR: never crash the server, fail an assertion or run
# into the statement timeout.  REINDEX repairs both before the next round.
# ANN_CORRUPT_ROUNDS (default 25) and ANN_CORRUPT_SEED (default: the time;
# printed) make longer runs and replay one.
my $rounds = $ENV{ANN_CORRUPT_ROUNDS} // 25;
my $seed = $ENV{ANN_CORRUPT_SEED} // time;
note("random damage: $rounds rounds, ANN_CORRUPT_SEED=$seed");
srand($seed);

# XOR $count random bytes of random blocks of each of @indexes (server stopped)
sub damage
{
	my ($count, @indexes) = @_;
	my %path = map {
		$_ => $node->data_dir . '/' . $node->safe_psql('postgres', "SELECT pg_relation_filepath('$_')")
	} @indexes;
	my @flips;
	$node->stop;
	for my $index (@indexes)
	{
		open(my $fh, '+<', $path{$index}) or die "open $path{$index}: $!";
		binmode $fh;
		my $nblocks = int((-s $fh) / $BLCKSZ);
		for (1 .. $count)
		{
			my $pos = int(rand($nblocks)) * $BLCKSZ + int(rand($BLCKSZ));
			my $mask = 1 + int(rand(255));
			my $byte;
			seek($fh, $pos, 0) or die "seek: $!";
			read($fh, $byte, 1) == 1 or die "read: $!";
			seek($fh, $pos, 0) or die "seek: $!";
			print $fh chr(ord($byte) ^ $mask);
			push @flips, sprintf('%s block %d offset %d ^0x%02x',
				$index, int($pos / $BLCKSZ), $pos % $BLCKSZ, $mask);
		}
		close($fh);
	}
	$node->start;
	return join(', ', @flips);
}

my @operations = (
	"SET spann.probes = 1000; SET spann.group_probes = 0; $scan_spann",
	$scan_hnsw,
	'SELECT count(*) FROM (SELECT id FROM docs ORDER BY v <=> ann_test_vec(7, 8)::vector LIMIT 50) s',
	'INSERT INTO items SELECT i, ann_test_vec(i, 8), i % 7 FROM generate_series(5001, 5040) i',
	'INSERT INTO docs SELECT i, ann_test_vec(i, 8), i % 7 FROM generate_series(5001, 5040) i',
	'DELETE FROM items WHERE id % 50 = 0; VACUUM items',
	'DELETE FROM docs WHERE id % 50 = 1; VACUUM docs',
	"SELECT ann_check_index('items_spann', true)",
	"SELECT ann_check_index('docs_hnsw', true)",
);
my ($outcomes_ok, %errors, %first, @bad) = (0);
for my $round (1 .. $rounds)
{
	my $flips = damage(1 + int(rand(8)), 'items_spann', 'docs_hnsw');
	my $started = $node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()');
	for my $sql (@operations)
	{
		my ($ret, $stdout, $stderr) = $node->psql('postgres',
			"SET enable_seqscan = off; SET hnsw.ef_search = 1000; SET statement_timeout = '30s';
			 \\set VERBOSITY verbose
			 $sql");
		my ($code) = $stderr =~ /ERROR:  ([0-9A-Z]{5}):/;
		if ($ret == 0 || ($ret == 3 && defined $code && $code ne '57014'))
		{
			$outcomes_ok++;
			$errors{$code // 'ok'}++;
			($first{$code} //= $stderr) =~ s/\n.*//s if defined $code;
		}
		else
		{
			push @bad, "round $round ($flips): $sql: exit $ret: $stderr";
			last;
		}
	}
	push @bad, "round $round ($flips): the server restarted"
	  if $node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()') ne $started;
	$node->safe_psql('postgres', 'REINDEX INDEX items_spann; REINDEX INDEX docs_hnsw');
}
note('outcomes: ' . join(', ', map { "$_ $errors{$_}" } sort keys %errors));
note("first $_: $first{$_}") for sort keys %first;
ok(!@bad, "random damage: $outcomes_ok statements in $rounds rounds succeeded or raised an ERROR")
  or diag(join("\n", @bad));
index_check_ok($node, 'postgres', 'items_spann', 'spann: REINDEX after random damage leaves a sound index');
index_check_ok($node, 'postgres', 'docs_hnsw', 'hnsw: and so does hnsw');

unlike(slurp_file($node->logfile), qr/PANIC|TRAP:|terminated by signal/, 'no crash or failed assertion');
$node->stop;
done_testing();
