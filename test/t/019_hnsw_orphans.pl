# An hnsw build that must reconnect thousands of orphans (elements no
# link leads to) does so in bounded memory.  Under inner product, rows of
# nearly equal norms whose coordinates are all positive leave most
# elements out of every neighbour list: the build's last step links each
# of them from one of its own links, or from what a search for it finds.
# Each search once kept the keys it read until the end of the build
# (20,000 such rows of 128 dimensions took 24 GB and the OOM killer); now
# they go with the search.  The backend's peak resident size
# comes from log_statement_stats (getrusage).
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use AnnTest;

# Shared buffers count in the resident size once touched: keep them
# small.  A backend stays near 35 MB here (300 MB under test/sanitize,
# whose AddressSanitizer keeps freed memory in quarantine); the old code
# reached 3.8 GB for the build and 2.2 GB for VACUUM.
my $SHARED_BUFFERS_MB = 32;
my $MAX_RESIDENT_MB = 1024;

my $node = PostgreSQL::Test::Cluster->new('orphans');
$node->init;
$node->append_conf('postgresql.conf', "shared_buffers = ${SHARED_BUFFERS_MB}MB\n");
$node->start;
ann_setup($node, 'postgres');

$node->safe_psql('postgres', q{
	SELECT setseed(0.3);
	CREATE TABLE items (id int PRIMARY KEY, v vector(128));
	INSERT INTO items SELECT i, (SELECT array_agg((i % 50) * 0.01 * sin(d * (i % 50)) + random())
								 FROM generate_series(1, 128) d)
	FROM generate_series(1, 6000) i;
});

# The peak resident size in kB the server logged for the statement $sql
sub peak_resident_kb
{
	my ($sql) = @_;
	my $offset = -s $node->logfile;
	$node->safe_psql('postgres', "SET log_statement_stats = on; $sql");
	my $log = slurp_file($node->logfile, $offset);
	my @sizes = $log =~ /(\d+) kB max resident size/g;
	die "no resident size logged for $sql" unless @sizes;
	return $sizes[-1];
}

my $kb = peak_resident_kb('CREATE INDEX items_ip ON items USING hnsw (v vector_ip_ops)
	WITH (quantization = none)');
cmp_ok($kb / 1024, '<', $MAX_RESIDENT_MB,
	"the build's peak resident size (${kb} kB) stays under ${MAX_RESIDENT_MB} MB");
index_check_ok($node, 'postgres', 'items_ip', 'the index passes ann_check_index');

# VACUUM reconnects with the same code: delete rows, then vacuum
$node->safe_psql('postgres', 'DELETE FROM items WHERE id % 3 = 0');
$kb = peak_resident_kb('VACUUM items');
cmp_ok($kb / 1024, '<', $MAX_RESIDENT_MB,
	"VACUUM's peak resident size (${kb} kB) stays under ${MAX_RESIDENT_MB} MB");
index_check_ok($node, 'postgres', 'items_ip', 'the index passes ann_check_index after VACUUM');

$node->stop;
done_testing();
