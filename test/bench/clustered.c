/*
 * clustered.c
 *		Seeded synthetic clustered vectors as PostgreSQL COPY streams, with
 *		their exact neighbours.
 *
 * Writes one text COPY stream to stdout:
 *
 *	clustered base N DIM CLUSTERS SEED		(id, embedding) rows, ids 1..N
 *	clustered queries N DIM CLUSTERS SEED	the same for N query vectors
 *	clustered truth NBASE NQUERIES K DIM CLUSTERS SEED
 *											(qid, rank, id): for each query, the
 *											K nearest base vectors by L2, rank 1
 *											the nearest
 *
 * An embedding is written "[x1,x2,...]", the text form that ann and
 * pgvector share, so the same stream loads into either extension.
 *
 * The data is a Gaussian mixture.  CLUSTERS centres are drawn uniformly in
 * [-1,1]^DIM, and each cluster gets a standard deviation drawn uniformly in
 * [SD_MIN, SD_MAX].  A point picks a cluster uniformly at random and adds
 * normal noise of that cluster's deviation to every coordinate of its centre.
 * The centres depend only on DIM, CLUSTERS and SEED.  Base and query points
 * come from different streams of the same mixture, so queries are not base
 * rows.  Each coordinate is rounded to a multiple of 10^-6 and written
 * exactly as that decimal.
 *
 * The output is the same on every machine: random numbers and normals come
 * from synth.c, one generator per point seeded from (SEED, stream, point
 * number), so threads can make points in any order, and the first N points
 * do not depend on how many follow (a smaller base is a prefix of a larger
 * one).  Build with -ffp-contract=off (the Makefile rule does), so that
 * compilers for CPUs with FMA do not fuse a*b+c, which rounds differently.
 *
 * Neighbours are found by brute force.  Base vectors are held as the float4
 * values the server will store: each coordinate's decimal text is parsed with
 * strtof, as the vector input functions of ann and pgvector parse it.
 * Distances are computed from those values in double precision, in a fixed
 * order whatever the vector width, so they do not depend on the CPU.  Equal
 * distances are ordered by the smaller id, so the answer is deterministic.
 * The server's float32 kernels can order two neighbours with nearly equal
 * distances differently, which a recall measurement will not notice.
 * Queries go in blocks of QUERY_BLOCK: each base vector is read from memory
 * once per block, while the block's queries stay in cache.  Blocks are shared
 * among threads: one per online CPU, or $CLUSTERED_THREADS.
 *
 * Usage: make test/bench/clustered, then for example
 *	test/bench/clustered base 1000000 128 1000 42 | psql -c 'COPY clustered_base FROM STDIN'
 * test/bench/load_clustered.sh does the whole load.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "synth.h"

#define MAX_DIM 16000			/* as ann's and pgvector's vector type */
#define MAX_CLUSTERS 10000000
#define MAX_K 1000
#define QUERY_BLOCK 16
#define LANES 8					/* independent sums per distance */
#define SCALE 1000000			/* coordinates are multiples of 1/SCALE */
#define SCALE_DIGITS 6
#define SD_MIN 0.05
#define SD_MAX 0.25

/* Random streams: one per kind of thing drawn */
#define STREAM_CENTRES 1
#define STREAM_BASE 2
#define STREAM_QUERIES 3

const char *const synth_program = "clustered";

/* The mixture's clusters */
typedef struct Mixture
{
	int			dim;
	int			nclusters;
	uint64_t	seed;
	double	   *centres;		/* nclusters x dim */
	double	   *sd;				/* noise standard deviation per cluster */
} Mixture;

/* The work of "truth", shared by its threads */
typedef struct TruthJob
{
	const Mixture *mix;
	int			nbase;
	int			nquery;
	int			k;
	int			padded;			/* dim rounded up to a multiple of LANES */
	float	   *base;			/* nbase x dim, as the server stores them */
	double	   *queries;		/* nquery x padded, zero-padded */
	int		   *result;			/* nquery x k neighbour ids, nearest first */
} TruthJob;

/* Draw each cluster's deviation and centre, from its own generator */
static void
mixture_init(Mixture *mix, int dim, int nclusters, uint64_t seed)
{
	mix->dim = dim;
	mix->nclusters = nclusters;
	mix->seed = seed;
	mix->centres = alloc((size_t) nclusters * dim, sizeof(double));
	mix->sd = alloc(nclusters, sizeof(double));
	for (int c = 0; c < nclusters; c++)
	{
		double	   *centre = mix->centres + (size_t) c * dim;
		Rng			r;

		rng_init(&r, seed, STREAM_CENTRES, c);
		mix->sd[c] = SD_MIN + (SD_MAX - SD_MIN) * rng_uniform(&r);
		for (int j = 0; j < dim; j++)
			centre[j] = 2 * rng_uniform(&r) - 1;
	}
}

/*
 * Store in coords[] the coordinates of point number index (from 0) of a
 * stream, as multiples of 1/SCALE.  |coords| stays far below 2^63: centres
 * are within 1, and the polar method's normals within about 12 (its s is at
 * least 2^-104).
 */
static void
make_point(const Mixture *mix, uint64_t stream, int index, int64_t *coords)
{
	const double *centre;
	double		sd,
				z[2];
	int			c;
	Rng			r;

	rng_init(&r, mix->seed, stream, (uint64_t) index);
	c = rng_below(&r, mix->nclusters);
	centre = mix->centres + (size_t) c * mix->dim;
	sd = mix->sd[c];
	for (int j = 0; j < mix->dim; j++)
	{
		if (j % 2 == 0)
			normal_pair(&r, &z[0], &z[1]);
		coords[j] = llround((centre[j] + sd * z[j % 2]) * SCALE);
	}
}

/*
 * Write k / SCALE at p as a decimal, without trailing zeros ("-0.25", "3",
 * "0.000001"); return the end.  There is room for 2 + 20 + 1 + SCALE_DIGITS
 * characters.
 */
static char *
format_coord(char *p, int64_t k)
{
	char		digits[24];
	uint64_t	u,
				whole;
	int			frac,
				n = 0;

	if (k < 0)
		*p++ = '-';
	u = k < 0 ? -(uint64_t) k : (uint64_t) k;
	whole = u / SCALE;
	frac = (int) (u % SCALE);
	do
	{
		digits[n++] = '0' + whole % 10;
		whole /= 10;
	} while (whole > 0);
	while (n > 0)
		*p++ = digits[--n];
	if (frac != 0)
	{
		*p++ = '.';
		for (int d = SCALE / 10; frac != 0; d /= 10)
		{
			*p++ = '0' + frac / d;
			frac %= d;
		}
	}
	return p;
}

/* The float4 that the server makes of format_coord's text for k */
static float
coord_float(int64_t k)
{
	char		text[32];

	*format_coord(text, k) = '\0';
	return strtof(text, NULL);
}

/* Write points 0..n-1 of a stream as text COPY rows (id, embedding) */
static void
write_points(const Mixture *mix, uint64_t stream, int n)
{
	int64_t    *coords = alloc(mix->dim, sizeof(int64_t));
	char	   *row = alloc((size_t) mix->dim + 1, 2 + 20 + 1 + SCALE_DIGITS + 1);

	for (int i = 0; i < n; i++)
	{
		char	   *p = row;

		make_point(mix, stream, i, coords);
		p += sprintf(p, "%d\t[", i + 1);
		for (int j = 0; j < mix->dim; j++)
		{
			if (j > 0)
				*p++ = ',';
			p = format_coord(p, coords[j]);
		}
		*p++ = ']';
		*p++ = '\n';
		fwrite(row, 1, p - row, stdout);
	}
	free(row);
	free(coords);
}

/* Thread body: make this worker's contiguous share of the base vectors */
static void *
generate_base(void *arg)
{
	Worker	   *w = arg;
	TruthJob   *job = w->job;
	int			dim = job->mix->dim;
	int			lo = (int) ((int64_t) job->nbase * w->index / w->nthreads);
	int			hi = (int) ((int64_t) job->nbase * (w->index + 1) / w->nthreads);
	int64_t    *coords = alloc(dim, sizeof(int64_t));

	for (int i = lo; i < hi; i++)
	{
		float	   *v = job->base + (size_t) i * dim;

		make_point(job->mix, STREAM_BASE, i, coords);
		for (int j = 0; j < dim; j++)
			v[j] = coord_float(coords[j]);
	}
	free(coords);
	return NULL;
}

/*
 * Squared L2 distance of two zero-padded vectors.  LANES independent sums,
 * added in a fixed order at the end: the compiler can vectorise the inner
 * loop without reordering any addition, so the result does not depend on
 * the vector width.
 */
static double
l2_squared(const double *a, const double *b, int padded)
{
	double		acc[LANES] = {0};

	for (int i = 0; i < padded; i += LANES)
		for (int j = 0; j < LANES; j++)
		{
			double		d = a[i + j] - b[i + j];

			acc[j] += d * d;
		}
	return ((acc[0] + acc[1]) + (acc[2] + acc[3])) +
		((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

/*
 * Thread body: find the neighbours of every nthreads-th block of queries,
 * starting with block number index, into job->result.
 */
static void *
search_queries(void *arg)
{
	Worker	   *w = arg;
	TruthJob   *job = w->job;
	int			dim = job->mix->dim;
	int			k = job->k;
	double	   *x = alloc(job->padded, sizeof(double));
	Neighbour  *best = alloc((size_t) QUERY_BLOCK * k, sizeof(Neighbour));
	int			filled[QUERY_BLOCK];

	for (int first = w->index * QUERY_BLOCK; first < job->nquery;
		 first += w->nthreads * QUERY_BLOCK)
	{
		int			nblock = job->nquery - first < QUERY_BLOCK ?
			job->nquery - first : QUERY_BLOCK;

		memset(filled, 0, sizeof(filled));
		for (int t = 0; t < job->nbase; t++)
		{
			const float *v = job->base + (size_t) t * dim;

			/* widen once per block; the padding stays zero */
			for (int j = 0; j < dim; j++)
				x[j] = v[j];
			for (int q = 0; q < nblock; q++)
			{
				const double *query = job->queries + (size_t) (first + q) * job->padded;

				offer(best + q * k, &filled[q], k,
					  l2_squared(query, x, job->padded), t + 1);
			}
		}
		for (int q = 0; q < nblock; q++)
			for (int r = 0; r < k; r++)
				job->result[(size_t) (first + q) * k + r] = best[q * k + r].id;
	}
	free(best);
	free(x);
	return NULL;
}

/*
 * Print, as text COPY rows (qid, rank, id), the k nearest of the first
 * nbase base vectors to each of the first nquery queries.
 */
static void
write_truth(const Mixture *mix, int nbase, int nquery, int k, int nthreads)
{
	TruthJob	job;
	int64_t    *coords = alloc(mix->dim, sizeof(int64_t));

	job.mix = mix;
	job.nbase = nbase;
	job.nquery = nquery;
	job.k = k;
	job.padded = (mix->dim + LANES - 1) / LANES * LANES;
	job.base = alloc((size_t) nbase * mix->dim, sizeof(float));
	job.queries = alloc((size_t) nquery * job.padded, sizeof(double));
	job.result = alloc((size_t) nquery * k, sizeof(int));

	for (int i = 0; i < nquery; i++)
	{
		make_point(mix, STREAM_QUERIES, i, coords);
		for (int j = 0; j < mix->dim; j++)
			job.queries[(size_t) i * job.padded + j] = coord_float(coords[j]);
	}
	run_threads(nthreads, generate_base, &job);
	run_threads(nthreads, search_queries, &job);

	for (int q = 0; q < nquery; q++)
		for (int r = 0; r < k; r++)
			printf("%d\t%d\t%d\n", q + 1, r + 1, job.result[(size_t) q * k + r]);
	free(job.result);
	free(job.queries);
	free(job.base);
	free(coords);
}

void
usage(void)
{
	fprintf(stderr,
			"usage: clustered base N DIM CLUSTERS SEED\n"
			"       clustered queries N DIM CLUSTERS SEED\n"
			"       clustered truth NBASE NQUERIES K DIM CLUSTERS SEED\n"
			"Writes a text COPY stream of synthetic clustered vectors to stdout:\n"
			"(id, embedding) rows of base or query vectors, or (qid, rank, id) rows\n"
			"of each query's K nearest base vectors by L2.  DIM is 1..%d,\n"
			"CLUSTERS 1..%d, K 1..%d and at most NBASE, SEED 0..2^64-1.\n"
			"$CLUSTERED_THREADS sets the threads of \"truth\" (default: one per CPU).\n",
			MAX_DIM, MAX_CLUSTERS, MAX_K);
	exit(2);
}

int
main(int argc, char **argv)
{
	static char outbuf[1 << 20];
	Mixture		mix;
	char	  **mixargs;
	int			n,
				nquery = 0,
				k = 0,
				dim,
				nclusters,
				nthreads = 1;
	uint64_t	seed;

	if (argc < 2)
		usage();
	if ((strcmp(argv[1], "base") == 0 || strcmp(argv[1], "queries") == 0) && argc == 6)
	{
		n = int_arg(argv[2], "N", 1, INT_MAX);
		mixargs = argv + 3;
	}
	else if (strcmp(argv[1], "truth") == 0 && argc == 8)
	{
		n = int_arg(argv[2], "NBASE", 1, INT_MAX);
		nquery = int_arg(argv[3], "NQUERIES", 1, INT_MAX);
		k = int_arg(argv[4], "K", 1, MAX_K);
		if (k > n)
			bad_arg("K (%d) must not exceed NBASE (%d)", k, n);
		mixargs = argv + 5;
		nthreads = thread_count("CLUSTERED_THREADS");
	}
	else
		usage();
	dim = int_arg(mixargs[0], "DIM", 1, MAX_DIM);
	nclusters = int_arg(mixargs[1], "CLUSTERS", 1, MAX_CLUSTERS);
	seed = seed_arg(mixargs[2]);
	mixture_init(&mix, dim, nclusters, seed);

	setvbuf(stdout, outbuf, _IOFBF, sizeof(outbuf));
	if (strcmp(argv[1], "base") == 0)
		write_points(&mix, STREAM_BASE, n);
	else if (strcmp(argv[1], "queries") == 0)
		write_points(&mix, STREAM_QUERIES, n);
	else
		write_truth(&mix, n, nquery, k, nthreads);

	if (fflush(stdout) != 0 || ferror(stdout))
		die("could not write to stdout: %s", strerror(errno));
	return 0;
}
