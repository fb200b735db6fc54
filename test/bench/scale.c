/*
 * scale.c
 *		Seeded synthetic embeddings at any scale as binary COPY streams, and
 *		the exact neighbours of their queries, computed once and cached.
 *
 * Writes one binary COPY stream to stdout:
 *
 *	scale base ROWS DIM CLUSTERS SEED [PART PARTS]
 *		(id int4, embedding vector(DIM)) rows, ids 1..ROWS.  With PART and
 *		PARTS, only the PART-th (from 1) of PARTS equal runs of ids, so that
 *		several COPY commands can fill one table side by side.
 *	scale queries NQUERIES DIM CLUSTERS SEED
 *		the same for NQUERIES query vectors, ids 1..NQUERIES
 *	scale truth ROWS NQUERIES K DIM CLUSTERS SEED CACHEDIR
 *		(qid int4, rank int4, id int4, distance float8): for each query, its
 *		K nearest base vectors by L2 distance, rank 1 the nearest
 *
 * A vector goes out in the binary format that ann and pgvector share
 * (int16 dimensions, int16 zero, then the float4 elements big-endian), so
 * the stream loads into either extension with COPY ... (FORMAT binary).
 *
 * The data is a Gaussian mixture of CLUSTERS clusters:
 *
 * - Centres are uniform in [-1, 1]^DIM.
 * - Cluster sizes follow Zipf's law: cluster c (from 0) is picked with
 *   weight 1 / (c + 1).  With 1,000 clusters the largest holds 13.4% of the
 *   points and the smallest 0.013%.
 * - Each cluster has a scale s drawn uniformly in [SPREAD_MIN, SPREAD_MAX],
 *   and each coordinate of its noise the standard deviation s / r^0.75,
 *   where r is the coordinate's place (1..DIM) in a random order of the
 *   cluster's own.  So a cluster has a few wide directions and many narrow
 *   ones, as real embeddings do, and each cluster its own wide directions.
 *   The exponent and the scales were chosen so that the neighbours look
 *   like those of real data sets (test/bench/README.md, "scale data"):
 *   at 128 dimensions the local intrinsic dimension estimated from the 10
 *   nearest neighbours is 19 to 29 from 200,000 to 10,000,000 rows
 *   (Fashion-MNIST's, measured the same way, is 17), and a random point
 *   is about 4 times as far from a query as its nearest neighbour
 *   (Fashion-MNIST 3.3).
 * - A point picks a cluster by weight and adds independent normal noise of
 *   those deviations to the centre, in double precision, rounded once to
 *   float4.
 *
 * The centres and spreads depend only on (DIM, CLUSTERS, SEED); point i of
 * the base or the queries only on them and i (synth.c seeds a generator
 * per point), so points can be made in any order, by parts, and the first
 * N points do not depend on how many follow.  The same arguments give the
 * same bytes on every machine (synth.c; the Makefile rule builds with
 * -ffp-contract=off).  Queries come from their own stream of the same
 * mixture, so they are not base rows.
 *
 * The neighbours are found by brute force with ann's own L2 kernel at the
 * best SIMD level this CPU runs, the one the server uses, on the float4
 * values the server stores: with ann installed an exact scan returns the
 * same ids and distances.  Equal distances are ordered by the smaller id.
 * The base is not kept: threads take batches of BATCH_BYTES of base points
 * in turn, make them, and compare them with every query while they are in
 * cache; each thread keeps its own K best per query, merged at the end.
 * Threads: one per online CPU, or $SCALE_THREADS.
 *
 * The answer is computed once.  It is kept in CACHEDIR in a file named
 * after every argument that decides it and the data format version
 * (SCALE_VERSION), and a later run with the same arguments reads it back.
 * The file is written under a temporary name and renamed, so an
 * interrupted run leaves no partial cache.  Its header repeats the
 * arguments and is checked on reading.  The file is in this machine's
 * byte order, and its answer is this machine's: another SIMD level sums
 * in another order, which can swap neighbours at almost equal distances.
 *
 * Usage: make test/bench/scale, then for example
 *	test/bench/scale base 10000000 128 1000 42 |
 *		psql -c 'COPY scale_base FROM STDIN (FORMAT binary)'
 * test/bench/load_scale.sh does the whole load.
 */
#include "postgres_fe.h"

#include <limits.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "port/pg_bswap.h"

#include "distance.h"
#include "synth.h"

#define MAX_DIM 16000			/* as ann's and pgvector's vector type */
#define MAX_CLUSTERS 1000000
#define MAX_MIXTURE_FLOATS (1 << 27)	/* CLUSTERS x DIM: 512 MB each for
										 * centres and spreads */
#define MAX_K 1000
#define SPREAD_MIN 2.0
#define SPREAD_MAX 4.0
#define BATCH_BYTES 16384		/* base points compared with every query
								 * while they stay in L1 */
#define PROGRESS_STEPS 10		/* truth reports its progress this often, */
#define PROGRESS_AFTER 10		/* once it has run this many seconds */

/* Bump when the data or the distances change, so that old caches go unused */
#define SCALE_VERSION 1
#define CACHE_MAGIC "annscale"

/* Random streams: one per kind of thing drawn */
#define STREAM_CLUSTERS 1
#define STREAM_BASE 2
#define STREAM_QUERIES 3

const char *const synth_program = "scale";

/* The mixture's clusters */
typedef struct Mixture
{
	int			dim;
	int			nclusters;
	uint64		seed;
	double	   *cumulative;		/* nclusters: weights summed up to 1 */
	float	   *centres;		/* nclusters x dim */
	float	   *spreads;		/* nclusters x dim: deviation per coordinate */
} Mixture;

/* What decides a truth answer, as its cache file's header holds it */
typedef struct TruthKey
{
	char		magic[8];		/* CACHE_MAGIC, no terminator */
	int32		version;		/* SCALE_VERSION */
	int32		nbase;
	int32		nquery;
	int32		k;
	int32		dim;
	int32		nclusters;
	uint64		seed;
} TruthKey;

/* The work of "truth", shared by its threads */
typedef struct TruthJob
{
	const Mixture *mix;
	int			nbase;
	int			nquery;
	int			k;
	AnnFloatDistanceFn l2_squared;
	float	   *queries;		/* nquery x dim */
	int			batch;			/* base points per batch */
	int			nbatches;
	atomic_int	next_batch;		/* the next batch a thread may take */
	atomic_int	batches_done;
	time_t		start;
	Neighbour  *best;			/* per thread, nquery x k, nearest first */
	int		   *filled;			/* per thread, nquery */
} TruthJob;

/* Weights 1 / (c + 1), summed in order and scaled to end at 1 */
static void
zipf_cumulative(Mixture *mix)
{
	double		total = 0;

	mix->cumulative = alloc(mix->nclusters, sizeof(double));
	for (int c = 0; c < mix->nclusters; c++)
	{
		total += 1.0 / (c + 1);
		mix->cumulative[c] = total;
	}
	for (int c = 0; c < mix->nclusters; c++)
		mix->cumulative[c] /= total;
}

/*
 * Draw cluster c's centre and per-coordinate deviations from its own
 * generator; order[] is scratch space for DIM ints.
 */
static void
draw_cluster(Mixture *mix, int c, int *order)
{
	float	   *centre = mix->centres + (size_t) c * mix->dim;
	float	   *spread = mix->spreads + (size_t) c * mix->dim;
	double		scale;
	Rng			r;

	rng_init(&r, mix->seed, STREAM_CLUSTERS, c);
	scale = SPREAD_MIN + (SPREAD_MAX - SPREAD_MIN) * rng_uniform(&r);
	for (int j = 0; j < mix->dim; j++)
		centre[j] = (float) (2 * rng_uniform(&r) - 1);

	/* a random order of the coordinates (Fisher-Yates) */
	for (int j = 0; j < mix->dim; j++)
		order[j] = j;
	for (int j = mix->dim - 1; j > 0; j--)
	{
		int			other = rng_below(&r, j + 1);
		int			swap = order[j];

		order[j] = order[other];
		order[other] = swap;
	}
	/* r^0.75 as sqrt(r sqrt(r)): sqrt is exact in IEEE arithmetic, pow is not */
	for (int place = 0; place < mix->dim; place++)
	{
		double		r = place + 1;

		spread[order[place]] = (float) (scale / sqrt(r * sqrt(r)));
	}
}

static void
mixture_init(Mixture *mix, int dim, int nclusters, uint64 seed)
{
	int		   *order = alloc(dim, sizeof(int));

	mix->dim = dim;
	mix->nclusters = nclusters;
	mix->seed = seed;
	mix->centres = alloc((size_t) nclusters * dim, sizeof(float));
	mix->spreads = alloc((size_t) nclusters * dim, sizeof(float));
	zipf_cumulative(mix);
	for (int c = 0; c < nclusters; c++)
		draw_cluster(mix, c, order);
	free(order);
}

/* The cluster whose share of the cumulative weights holds u in [0, 1) */
static int
pick_cluster(const Mixture *mix, double u)
{
	int			lo = 0,
				hi = mix->nclusters - 1;

	while (lo < hi)
	{
		int			mid = lo + (hi - lo) / 2;

		if (u < mix->cumulative[mid])
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

/* Store in v[] the DIM elements of point number index (from 0) of a stream */
static void
make_point(const Mixture *mix, uint64 stream, int index, float *v)
{
	const float *centre;
	const float *spread;
	double		z[2];
	int			c;
	Rng			r;

	rng_init(&r, mix->seed, stream, (uint64) index);
	c = pick_cluster(mix, rng_uniform(&r));
	centre = mix->centres + (size_t) c * mix->dim;
	spread = mix->spreads + (size_t) c * mix->dim;
	for (int j = 0; j < mix->dim; j++)
	{
		if (j % 2 == 0)
			normal_pair(&r, &z[0], &z[1]);
		v[j] = (float) ((double) centre[j] + (double) spread[j] * z[j % 2]);
	}
}

static void
put_float4(char **p, float v)
{
	int32		bits;

	memcpy(&bits, &v, 4);
	put_be32(p, bits);
}

static void
put_float8(char **p, double v)
{
	uint64		be;

	memcpy(&be, &v, 8);
	be = pg_hton64(be);
	memcpy(*p, &be, 8);
	*p += 8;
}

/* Binary COPY's signature, flags and header extension length */
static void
write_copy_header(void)
{
	fwrite("PGCOPY\n\377\r\n\0", 1, 11, stdout);
	fwrite("\0\0\0\0\0\0\0\0", 1, 8, stdout);
}

static void
write_copy_trailer(void)
{
	fwrite("\377\377", 1, 2, stdout);
}

/*
 * Write points first..first+count-1 of a stream as binary COPY tuples
 * (id, embedding), ids from first + 1: field count, then each field as
 * int32 length and value.
 */
static void
write_points(const Mixture *mix, uint64 stream, int first, int count)
{
	size_t		rowsize = 2 + 4 + 4 + 4 + 4 + (size_t) 4 * mix->dim;
	char	   *row = alloc(rowsize, 1);
	float	   *v = alloc(mix->dim, sizeof(float));

	write_copy_header();
	for (int i = 0; i < count; i++)
	{
		char	   *p = row;

		make_point(mix, stream, first + i, v);
		put_be16(&p, 2);
		put_be32(&p, 4);
		put_be32(&p, first + i + 1);
		put_be32(&p, 4 + 4 * mix->dim);
		put_be16(&p, (int16) mix->dim);
		put_be16(&p, 0);
		for (int j = 0; j < mix->dim; j++)
			put_float4(&p, v[j]);
		fwrite(row, 1, rowsize, stdout);
	}
	write_copy_trailer();
	free(v);
	free(row);
}

/*
 * Compare the count base points at points[], ids from first + 1, with
 * every query, into one thread's best lists.
 */
static void
search_batch(TruthJob *job, const float *points, int first, int count,
			 Neighbour *best, int *filled)
{
	int			dim = job->mix->dim;
	int			k = job->k;

	for (int q = 0; q < job->nquery; q++)
	{
		const float *query = job->queries + (size_t) q * dim;
		Neighbour  *qbest = best + (size_t) q * k;

		for (int i = 0; i < count; i++)
		{
			double		distance = job->l2_squared(query, points + (size_t) i * dim, dim);

			/* most points are farther than the k-th: skip the call */
			if (filled[q] < k || distance <= qbest[k - 1].distance)
				offer(qbest, &filled[q], k, distance, first + i + 1);
		}
	}
}

/* Count a finished batch; report each PROGRESS_STEPS-th of a long run */
static void
report_progress(TruthJob *job)
{
	int			done = atomic_fetch_add(&job->batches_done, 1) + 1;
	int			step = (int) ((int64) done * PROGRESS_STEPS / job->nbatches);
	double		seconds;

	if (step == 0 || step == PROGRESS_STEPS ||
		(int64) (done - 1) * PROGRESS_STEPS / job->nbatches == step)
		return;
	seconds = difftime(time(NULL), job->start);
	if (seconds >= PROGRESS_AFTER)
		fprintf(stderr, "scale: truth %d%% after %.0f s\n",
				100 * step / PROGRESS_STEPS, seconds);
}

/* Thread body: take batches of base points until none is left */
static void *
search_batches(void *arg)
{
	Worker	   *w = arg;
	TruthJob   *job = w->job;
	int			dim = job->mix->dim;
	Neighbour  *best = job->best + (size_t) w->index * job->nquery * job->k;
	int		   *filled = job->filled + (size_t) w->index * job->nquery;
	float	   *points = alloc((size_t) job->batch * dim, sizeof(float));
	int			batch;

	while ((batch = atomic_fetch_add(&job->next_batch, 1)) < job->nbatches)
	{
		int			first = batch * job->batch;
		int			count = Min(job->batch, job->nbase - first);

		for (int i = 0; i < count; i++)
			make_point(job->mix, STREAM_BASE, first + i, points + (size_t) i * dim);
		search_batch(job, points, first, count, best, filled);
		report_progress(job);
	}
	free(points);
	return NULL;
}

/*
 * The k nearest base points of each query, nquery x k into result[], by
 * brute force on nthreads threads (see the file comment).
 */
static void
compute_truth(const Mixture *mix, int nbase, int nquery, int k, int nthreads,
			  Neighbour *result)
{
	TruthJob	job;
	int		   *filled = alloc(nquery, sizeof(int));

	job.mix = mix;
	job.nbase = nbase;
	job.nquery = nquery;
	job.k = k;
	job.l2_squared = AnnKernelsForLevel(AnnBestSimdLevel())->l2_squared;
	job.queries = alloc((size_t) nquery * mix->dim, sizeof(float));
	for (int q = 0; q < nquery; q++)
		make_point(mix, STREAM_QUERIES, q, job.queries + (size_t) q * mix->dim);
	job.batch = Max(1, BATCH_BYTES / (int) (mix->dim * sizeof(float)));
	job.nbatches = (int) (((int64) nbase + job.batch - 1) / job.batch);
	atomic_init(&job.next_batch, 0);
	atomic_init(&job.batches_done, 0);
	job.start = time(NULL);
	job.best = alloc((size_t) nthreads * nquery * k, sizeof(Neighbour));
	job.filled = alloc((size_t) nthreads * nquery, sizeof(int));

	run_threads(nthreads, search_batches, &job);

	/* merge the threads' lists; the order of (distance, id) is total */
	for (int t = 0; t < nthreads; t++)
		for (int q = 0; q < nquery; q++)
		{
			const Neighbour *theirs = job.best + ((size_t) t * nquery + q) * k;

			for (int r = 0; r < job.filled[(size_t) t * nquery + q]; r++)
				offer(result + (size_t) q * k, &filled[q], k,
					  theirs[r].distance, theirs[r].id);
		}
	free(job.filled);
	free(job.best);
	free(job.queries);
	free(filled);
}

/* The cache file of key in dir */
static void
cache_path(char *path, size_t size, const char *dir, const TruthKey *key)
{
	snprintf(path, size, "%s/scale-v%d-seed" UINT64_FORMAT "-rows%d-dim%d-clusters%d-queries%d-k%d.truth",
			 dir, key->version, key->seed, key->nbase, key->dim, key->nclusters,
			 key->nquery, key->k);
}

/*
 * Read the answer of key from path into result (nquery x k); false if
 * there is no such file.  A file that is there but does not hold exactly
 * that answer is an error.
 */
static bool
read_cache(const char *path, const TruthKey *key, Neighbour *result)
{
	size_t		n = (size_t) key->nquery * key->k;
	TruthKey	header;
	FILE	   *f = fopen(path, "rb");

	if (f == NULL)
	{
		if (errno == ENOENT)
			return false;
		die("could not open \"%s\": %s", path, strerror(errno));
	}
	if (fread(&header, sizeof(header), 1, f) != 1 ||
		memcmp(&header, key, sizeof(header)) != 0 ||
		fread(result, sizeof(Neighbour), n, f) != n ||
		fgetc(f) != EOF)
		die("\"%s\" does not hold the answer its name says; remove it", path);
	fclose(f);
	return true;
}

/* Write key and result to path, through a temporary file renamed into place */
static void
write_cache(const char *path, const TruthKey *key, const Neighbour *result)
{
	size_t		n = (size_t) key->nquery * key->k;
	char		temp[MAXPGPATH];
	FILE	   *f;

	snprintf(temp, sizeof(temp), "%s.%d.tmp", path, (int) getpid());
	if ((f = fopen(temp, "wb")) == NULL)
		die("could not create \"%s\": %s", temp, strerror(errno));
	if (fwrite(key, sizeof(*key), 1, f) != 1 ||
		fwrite(result, sizeof(Neighbour), n, f) != n ||
		fclose(f) != 0)
		die("could not write \"%s\": %s", temp, strerror(errno));
	if (rename(temp, path) != 0)
		die("could not rename \"%s\" to \"%s\": %s", temp, path, strerror(errno));
}

/*
 * Write the truth rows (qid, rank, id, distance) as binary COPY; the
 * distance is the square root of the squared one, in double, as the
 * server's <-> computes it.
 */
static void
write_truth_rows(const Neighbour *result, int nquery, int k)
{
	char		row[2 + 3 * (4 + 4) + 4 + 8];

	write_copy_header();
	for (int q = 0; q < nquery; q++)
		for (int r = 0; r < k; r++)
		{
			const Neighbour *n = result + (size_t) q * k + r;
			char	   *p = row;

			put_be16(&p, 4);
			put_be32(&p, 4);
			put_be32(&p, q + 1);
			put_be32(&p, 4);
			put_be32(&p, r + 1);
			put_be32(&p, 4);
			put_be32(&p, n->id);
			put_be32(&p, 8);
			put_float8(&p, sqrt(n->distance));
			fwrite(row, 1, sizeof(row), stdout);
		}
	write_copy_trailer();
}

/* "truth": read the answer of key from the cache in dir, or compute and cache it */
static void
truth(const Mixture *mix, const TruthKey *key, const char *dir)
{
	Neighbour  *result = alloc((size_t) key->nquery * key->k, sizeof(Neighbour));
	char		path[MAXPGPATH];

	/* fail now rather than after the computation */
	if (access(dir, W_OK | X_OK) != 0)
		die("cannot write in cache directory \"%s\": %s", dir, strerror(errno));
	cache_path(path, sizeof(path), dir, key);
	if (read_cache(path, key, result))
		fprintf(stderr, "scale: truth read from %s\n", path);
	else
	{
		int			nthreads = thread_count("SCALE_THREADS");
		struct timespec start,
					end;

		clock_gettime(CLOCK_MONOTONIC, &start);
		compute_truth(mix, key->nbase, key->nquery, key->k, nthreads, result);
		clock_gettime(CLOCK_MONOTONIC, &end);
		write_cache(path, key, result);
		fprintf(stderr, "scale: truth computed in %.1f s (%d thread%s, %s kernel), cached in %s\n",
				(end.tv_sec - start.tv_sec) + (end.tv_nsec - start.tv_nsec) / 1e9,
				nthreads, nthreads == 1 ? "" : "s",
				AnnSimdLevelName(AnnBestSimdLevel()), path);
	}
	write_truth_rows(result, key->nquery, key->k);
	free(result);
}

void
usage(void)
{
	fprintf(stderr,
			"usage: scale base ROWS DIM CLUSTERS SEED [PART PARTS]\n"
			"       scale queries NQUERIES DIM CLUSTERS SEED\n"
			"       scale truth ROWS NQUERIES K DIM CLUSTERS SEED CACHEDIR\n"
			"Writes a binary COPY stream of synthetic clustered vectors to stdout:\n"
			"(id, embedding) rows of base vectors (all, or part PART of PARTS) or\n"
			"query vectors, or (qid, rank, id, distance) rows of each query's K\n"
			"nearest base vectors by L2, computed once and cached in CACHEDIR.\n"
			"DIM is 1..%d, CLUSTERS 1..%d with CLUSTERS x DIM at most %d,\n"
			"K 1..%d and at most ROWS, SEED 0..2^64-1.\n"
			"$SCALE_THREADS sets the threads of \"truth\" (default: one per CPU).\n",
			MAX_DIM, MAX_CLUSTERS, MAX_MIXTURE_FLOATS, MAX_K);
	exit(2);
}

/* Parse DIM CLUSTERS SEED at args[] and draw that mixture */
static void
mixture_args(Mixture *mix, char **args)
{
	int			dim = int_arg(args[0], "DIM", 1, MAX_DIM);
	int			nclusters = int_arg(args[1], "CLUSTERS", 1, MAX_CLUSTERS);

	if ((int64) nclusters * dim > MAX_MIXTURE_FLOATS)
		bad_arg("CLUSTERS x DIM (%d x %d) must not exceed %d", nclusters, dim,
				MAX_MIXTURE_FLOATS);
	mixture_init(mix, dim, nclusters, seed_arg(args[2]));
}

/* "base": all ROWS rows, or part PART of PARTS */
static void
base(int argc, char **argv)
{
	int			nbase = int_arg(argv[2], "ROWS", 1, INT_MAX);
	int			part = 1,
				parts = 1;
	int64		first,
				end;
	Mixture		mix;

	if (argc == 8)
	{
		parts = int_arg(argv[7], "PARTS", 1, nbase);
		part = int_arg(argv[6], "PART", 1, parts);
	}
	mixture_args(&mix, argv + 3);
	first = (int64) nbase * (part - 1) / parts;
	end = (int64) nbase * part / parts;
	write_points(&mix, STREAM_BASE, (int) first, (int) (end - first));
}

/* "truth": parse its arguments, then answer */
static void
truth_command(char **argv)
{
	TruthKey	key;
	Mixture		mix;

	memset(&key, 0, sizeof(key));	/* no stray bytes in the file header */
	memcpy(key.magic, CACHE_MAGIC, sizeof(key.magic));
	key.version = SCALE_VERSION;
	key.nbase = int_arg(argv[2], "ROWS", 1, INT_MAX);
	key.nquery = int_arg(argv[3], "NQUERIES", 1, INT_MAX);
	key.k = int_arg(argv[4], "K", 1, MAX_K);
	if (key.k > key.nbase)
		bad_arg("K (%d) must not exceed ROWS (%d)", key.k, key.nbase);
	mixture_args(&mix, argv + 5);
	key.dim = mix.dim;
	key.nclusters = mix.nclusters;
	key.seed = mix.seed;
	truth(&mix, &key, argv[8]);
}

int
main(int argc, char **argv)
{
	static char outbuf[1 << 20];

	if (argc < 2)
		usage();
	setvbuf(stdout, outbuf, _IOFBF, sizeof(outbuf));
	if (strcmp(argv[1], "base") == 0 && (argc == 6 || argc == 8))
		base(argc, argv);
	else if (strcmp(argv[1], "queries") == 0 && argc == 6)
	{
		Mixture		mix;

		mixture_args(&mix, argv + 3);
		write_points(&mix, STREAM_QUERIES, 0, int_arg(argv[2], "NQUERIES", 1, INT_MAX));
	}
	else if (strcmp(argv[1], "truth") == 0 && argc == 9)
		truth_command(argv);
	else
		usage();

	if (fflush(stdout) != 0 || ferror(stdout))
		die("could not write to stdout: %s", strerror(errno));
	return 0;
}
