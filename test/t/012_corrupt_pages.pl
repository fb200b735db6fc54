# Corrupt index pages: a chain of pages that loops back on itself, a page
# of the wrong kind in a chain, a line pointer pointing past its page and
# an hnsw element with an impossible level, written into the files of a
# stopped cluster.  Scans, inserts and VACUUM
# must stop with an INDEX_CORRUPTED error naming the index and the block,
# never hang or crash, and REINDEX must repair the index.
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

# 4. hnsw: a cycle in the signature directory of an index with a filter column
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

# 5. hnsw: an element's line pointer past its page, then an element whose
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

unlike(slurp_file($node->logfile), qr/PANIC|TRAP:|terminated by signal/, 'no crash or failed assertion');
$node->stop;
done_testing();
