/*
 * fmnist.c
 *		Fashion-MNIST as PostgreSQL COPY streams, with its exact neighbours.
 *
 * Reads the gzipped idx files of Fashion-MNIST (through "gzip -dc") and
 * writes one COPY stream to stdout:
 *
 *	fmnist train			binary COPY of (id int4, label int4, embedding vector)
 *							for the 60,000 training images, ids 1..60000
 *	fmnist test N			the same for the first N test images, ids 1..N
 *	fmnist truth N K METRIC	text COPY of (qid, rank, id): for each of the first
 *							N test images, the K nearest training images by
 *							METRIC (l2 or cosine), rank 1 the nearest
 *
 * A vector is the image's 784 pixels as float4 values 0..255, in the binary
 * format that ann and pgvector share: int16 dimensions, int16 zero, then
 * the elements big-endian.  The same stream loads into either extension.
 *
 * Neighbours are found by brute force with ann's own kernels at the best
 * SIMD level this CPU runs, the ones the server uses, so the distances
 * are accumulated in float32 like the server's.  Squared L2 distances of
 * close images are integers below 2^24 and come out exact.  Equal
 * distances are ordered by the smaller id, so the answer is deterministic.
 * Queries go in blocks of QUERY_BLOCK: each training vector is read from
 * memory once per block, while the block's queries stay in cache.
 *
 * The files are looked for in $FMNIST_DIR, by default the directory of the
 * Debian package dataset-fashion-mnist.
 *
 * Usage: make test/bench/fmnist, then for example
 *	test/bench/fmnist train | psql -c 'COPY fmnist_train FROM STDIN (FORMAT binary)'
 * test/bench/load_fmnist.sh does the whole load.
 */
#include "postgres_fe.h"

#include <limits.h>
#include <unistd.h>


#include "distance.h"
#include "synth.h"

#define DEFAULT_DIR "/usr/share/datasets/fashion-mnist"
#define IMAGE_DIMS (28 * 28)
#define MAX_K 1000
#define QUERY_BLOCK 16

/* The items of one idx file: count items of itemsize bytes each */
typedef struct IdxFile
{
	int			count;
	int			itemsize;
	uint8	   *data;
} IdxFile;

const char *const synth_program = "fmnist";

static uint32
read_be32(FILE *f, const char *path)
{
	uint8		b[4];

	if (fread(b, 1, 4, f) != 4)
		die("%s: truncated header", path);
	return ((uint32) b[0] << 24) | ((uint32) b[1] << 16) | ((uint32) b[2] << 8) | b[3];
}

/*
 * Read the idx file "<dir>/<name>-idx<ndims>-ubyte.gz", which must hold
 * unsigned bytes in ndims dimensions; the first is the item count.
 */
static IdxFile
read_idx(const char *name, int ndims)
{
	const char *dir = getenv("FMNIST_DIR") ? getenv("FMNIST_DIR") : DEFAULT_DIR;
	char		path[MAXPGPATH];
	char		command[MAXPGPATH + 32];
	FILE	   *f;
	uint32		magic;
	size_t		bytes;
	IdxFile		idx;

	snprintf(path, sizeof(path), "%s/%s-idx%d-ubyte.gz", dir, name, ndims);
	if (strchr(path, '\'') != NULL)
		die("%s: quote in file name", path);
	if (access(path, R_OK) != 0)
		die("%s: %s (install dataset-fashion-mnist or set FMNIST_DIR)", path, strerror(errno));
	snprintf(command, sizeof(command), "gzip -dc '%s'", path);
	if ((f = popen(command, "r")) == NULL)
		die("cannot run \"%s\": %s", command, strerror(errno));

	/* magic: two zero bytes, type 0x08 (unsigned byte), number of dims */
	magic = read_be32(f, path);
	if (magic != (0x0800u | (uint32) ndims))
		die("%s: bad magic number 0x%08x", path, magic);
	idx.count = (int) read_be32(f, path);
	idx.itemsize = 1;
	for (int d = 1; d < ndims; d++)
		idx.itemsize *= (int) read_be32(f, path);

	bytes = (size_t) idx.count * idx.itemsize;
	idx.data = malloc(bytes);
	if (idx.data == NULL)
		die("out of memory");
	if (fread(idx.data, 1, bytes, f) != bytes)
		die("%s: truncated data", path);
	if (pclose(f) != 0)
		die("\"%s\" failed", command);
	return idx;
}

/* Read "<set>" images and labels; fail unless there are at least want */
static void
read_set(const char *set, int want, IdxFile *images, IdxFile *labels)
{
	char		name[64];

	snprintf(name, sizeof(name), "%s-images", set);
	*images = read_idx(name, 3);
	snprintf(name, sizeof(name), "%s-labels", set);
	*labels = read_idx(name, 1);
	if (images->itemsize != IMAGE_DIMS)
		die("%s images have %d pixels, not %d", set, images->itemsize, IMAGE_DIMS);
	if (labels->count != images->count)
		die("%s: %d images but %d labels", set, images->count, labels->count);
	if (images->count < want)
		die("%s has %d images, fewer than %d", set, images->count, want);
}

/*
 * Write the first n images as a binary COPY stream: signature, flags and
 * header extension length, one tuple per image (field count, then each
 * field as int32 length and value), and the -1 trailer.
 */
static void
write_rows(const IdxFile *images, const IdxFile *labels, int n)
{
	static char row[2 + 3 * 4 + 4 + 4 + 4 + 4 * IMAGE_DIMS];

	fwrite("PGCOPY\n\377\r\n\0", 1, 11, stdout);
	fwrite("\0\0\0\0\0\0\0\0", 1, 8, stdout);
	for (int i = 0; i < n; i++)
	{
		const uint8 *pixels = images->data + (size_t) i * IMAGE_DIMS;
		char	   *p = row;

		put_be16(&p, 3);
		put_be32(&p, 4);
		put_be32(&p, i + 1);
		put_be32(&p, 4);
		put_be32(&p, labels->data[i]);
		put_be32(&p, 4 + 4 * IMAGE_DIMS);
		put_be16(&p, IMAGE_DIMS);
		put_be16(&p, 0);
		for (int d = 0; d < IMAGE_DIMS; d++)
		{
			float		value = pixels[d];
			int32		bits;

			memcpy(&bits, &value, 4);
			put_be32(&p, bits);
		}
		Assert(p == row + sizeof(row));
		fwrite(row, 1, sizeof(row), stdout);
	}
	fwrite("\377\377", 1, 2, stdout);
}

/* The first n images of a set as float vectors, one after another */
static float *
image_floats(const IdxFile *images, int n)
{
	float	   *v = malloc((size_t) n * IMAGE_DIMS * sizeof(float));

	if (v == NULL)
		die("out of memory");
	for (size_t i = 0; i < (size_t) n * IMAGE_DIMS; i++)
		v[i] = images->data[i];
	return v;
}

/*
 * Print, as text COPY rows (qid, rank, id), the k training vectors nearest
 * to each of the nquery query vectors.
 */
static void
write_truth(const float *train, int ntrain, const float *queries, int nquery,
			int k, bool cosine)
{
	const AnnKernels *kernels = AnnKernelsForLevel(AnnBestSimdLevel());
	Neighbour  *best = malloc(sizeof(Neighbour) * QUERY_BLOCK * k);
	int			filled[QUERY_BLOCK];

	if (best == NULL)
		die("out of memory");
	for (int first = 0; first < nquery; first += QUERY_BLOCK)
	{
		int			nblock = Min(QUERY_BLOCK, nquery - first);

		memset(filled, 0, sizeof(filled));
		for (int t = 0; t < ntrain; t++)
		{
			const float *x = train + (size_t) t * IMAGE_DIMS;

			for (int q = 0; q < nblock; q++)
			{
				const float *query = queries + (size_t) (first + q) * IMAGE_DIMS;
				double		distance = cosine ?
					kernels->cosine(query, x, IMAGE_DIMS) :
					kernels->l2_squared(query, x, IMAGE_DIMS);

				offer(best + q * k, &filled[q], k, distance, t + 1);
			}
		}
		for (int q = 0; q < nblock; q++)
			for (int r = 0; r < filled[q]; r++)
				printf("%d\t%d\t%d\n", first + q + 1, r + 1, best[q * k + r].id);
	}
	free(best);
}

void
usage(void)
{
	fprintf(stderr,
			"usage: fmnist train\n"
			"       fmnist test N\n"
			"       fmnist truth N K l2|cosine\n"
			"Writes a COPY stream of Fashion-MNIST to stdout; files from $FMNIST_DIR\n"
			"(default " DEFAULT_DIR ").\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	static char outbuf[1 << 20];
	IdxFile		train_images,
				train_labels,
				test_images,
				test_labels;

	if (argc < 2)
		usage();
	setvbuf(stdout, outbuf, _IOFBF, sizeof(outbuf));

	if (strcmp(argv[1], "train") == 0 && argc == 2)
	{
		read_set("train", 1, &train_images, &train_labels);
		write_rows(&train_images, &train_labels, train_images.count);
	}
	else if (strcmp(argv[1], "test") == 0 && argc == 3)
	{
		int			n = int_arg(argv[2], "N", 1, INT_MAX);

		read_set("t10k", n, &test_images, &test_labels);
		write_rows(&test_images, &test_labels, n);
	}
	else if (strcmp(argv[1], "truth") == 0 && argc == 5)
	{
		int			n = int_arg(argv[2], "N", 1, INT_MAX);
		int			k = int_arg(argv[3], "K", 1, MAX_K);
		bool		cosine = strcmp(argv[4], "cosine") == 0;

		if (!cosine && strcmp(argv[4], "l2") != 0)
			die("metric must be l2 or cosine, not \"%s\"", argv[4]);
		read_set("train", k, &train_images, &train_labels);
		read_set("t10k", n, &test_images, &test_labels);
		write_truth(image_floats(&train_images, train_images.count), train_images.count,
					image_floats(&test_images, n), n, k, cosine);
	}
	else
		usage();

	if (fflush(stdout) != 0 || ferror(stdout))
		die("could not write to stdout: %s", strerror(errno));
	return 0;
}
