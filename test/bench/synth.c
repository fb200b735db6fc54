/*
 * synth.c
 *		Seeded random streams, portable normals, a top-k list, argument
 *		checks and worker threads for the synthetic-vector generators (see
 *		synth.h).
 *
 * Random numbers come from xoshiro256**, seeded by splitmix64 from (seed,
 * stream, index): each thing drawn (a centre, a point) has its own
 * generator, so threads can make them in any order and the first N points
 * of a stream do not depend on how many follow.  Normals come from the
 * polar form of the Box-Muller transform, with a logarithm of our own
 * written in + - * / only: libm's log may differ in the last bit between
 * implementations, or between the FMA and plain variants glibc picks per
 * CPU.  sqrt is exact in IEEE arithmetic.  Programs build this file with
 * -ffp-contract=off, so that compilers for CPUs with FMA do not fuse a*b+c,
 * which rounds differently: the same seed gives the same bits everywhere.
 */
#define _POSIX_C_SOURCE 200809L

#include "synth.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LN2 0.693147180559945309417232121458
#define SQRT_HALF 0.707106781186547524400844362105

/* Print "program: message" to stderr */
static void vreport(const char *fmt, va_list args) __attribute__((__format__(__printf__, 1, 0)));

static void
vreport(const char *fmt, va_list args)
{
	fprintf(stderr, "%s: ", synth_program);
	vfprintf(stderr, fmt, args);
	fprintf(stderr, "\n");
}

void
die(const char *fmt,...)
{
	va_list		args;

	va_start(args, fmt);
	vreport(fmt, args);
	va_end(args);
	exit(1);
}

/* Report a bad argument, then the usage, and exit 2 */
void
bad_arg(const char *fmt,...)
{
	va_list		args;

	va_start(args, fmt);
	vreport(fmt, args);
	va_end(args);
	usage();
}

/* calloc that dies rather than return NULL */
void *
alloc(size_t count, size_t size)
{
	void	   *p = calloc(count, size);

	if (p == NULL)
		die("out of memory");
	return p;
}

static uint64_t
splitmix64(uint64_t *x)
{
	uint64_t	z = (*x += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* Seed the generator of thing number index of a stream */
void
rng_init(Rng *r, uint64_t seed, uint64_t stream, uint64_t index)
{
	uint64_t	x = seed;

	x = splitmix64(&x) ^ stream;
	x = splitmix64(&x) ^ index;
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&x);
}

static uint64_t
rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t
rng_next(Rng *r)
{
	uint64_t   *s = r->s;
	uint64_t	result = rotl(s[1] * 5, 7) * 9;
	uint64_t	t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

/* Uniform in [0, 1), in steps of 2^-53 */
double
rng_uniform(Rng *r)
{
	return (double) (rng_next(r) >> 11) * 0x1.0p-53;
}

/* Uniform integer in [0, n); the bias, below n / 2^32, does not matter here */
int
rng_below(Rng *r, int n)
{
	return (int) (((rng_next(r) >> 32) * (uint64_t) n) >> 32);
}

/*
 * Natural logarithm of x > 0, the same bits on every IEEE machine (see the
 * file comment).  With x = m 2^e, m in [sqrt(1/2), sqrt(2)), log m is
 * 2 atanh(t) for t = (m - 1) / (m + 1); |t| < 0.172, and 13 terms of the
 * series t + t^3/3 + t^5/5 + ... reach double precision.
 */
static double
portable_log(double x)
{
	int			e;
	double		m = frexp(x, &e);	/* exact */
	double		t,
				t2,
				sum;

	if (m < SQRT_HALF)
	{
		m *= 2;
		e--;
	}
	t = (m - 1) / (m + 1);
	t2 = t * t;
	sum = 1.0 / 25;
	for (int i = 23; i >= 1; i -= 2)
		sum = sum * t2 + 1.0 / i;
	return 2 * t * sum + e * LN2;
}

/* Two independent standard normals (Marsaglia's polar method) */
void
normal_pair(Rng *r, double *a, double *b)
{
	double		u,
				v,
				s,
				f;

	do
	{
		u = 2 * rng_uniform(r) - 1;
		v = 2 * rng_uniform(r) - 1;
		s = u * u + v * v;
	} while (s >= 1 || s == 0);
	f = sqrt(-2 * portable_log(s) / s);
	*a = u * f;
	*b = v * f;
}

/*
 * Offer a candidate to best[], the *filled nearest so far (at most k),
 * kept sorted by distance and then id; a NaN distance counts as infinite.
 */
void
offer(Neighbour *best, int *filled, int k, double distance, int id)
{
	int			i = *filled;

	if (isnan(distance))
		distance = INFINITY;

	if (i == k)
	{
		if (distance > best[k - 1].distance ||
			(distance == best[k - 1].distance && id > best[k - 1].id))
			return;
		i--;
	}
	else
		(*filled)++;
	while (i > 0 && (distance < best[i - 1].distance ||
					 (distance == best[i - 1].distance && id < best[i - 1].id)))
	{
		best[i] = best[i - 1];
		i--;
	}
	best[i].distance = distance;
	best[i].id = id;
}

/* Append v at *p, most significant byte first, and advance *p */
void
put_be16(char **p, int16_t v)
{
	uint16_t	u = (uint16_t) v;

	(*p)[0] = (char) (u >> 8);
	(*p)[1] = (char) u;
	*p += 2;
}

void
put_be32(char **p, int32_t v)
{
	uint32_t	u = (uint32_t) v;

	(*p)[0] = (char) (u >> 24);
	(*p)[1] = (char) (u >> 16);
	(*p)[2] = (char) (u >> 8);
	(*p)[3] = (char) u;
	*p += 4;
}

/* Parse a whole decimal argument in [min, max] */
int
int_arg(const char *arg, const char *what, int min, int max)
{
	char	   *end;
	long		v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno != 0 || end == arg || *end != '\0' || v < min || v > max)
		bad_arg("%s must be an integer from %d to %d, not \"%s\"", what, min, max, arg);
	return (int) v;
}

/* Parse an unsigned 64-bit decimal seed */
uint64_t
seed_arg(const char *arg)
{
	char	   *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(arg, &end, 10);
	if (errno != 0 || arg[0] < '0' || arg[0] > '9' || *end != '\0')
		bad_arg("SEED must be an integer from 0 to 2^64-1, not \"%s\"", arg);
	return (uint64_t) v;
}

/* Threads to use: the environment variable env if set, else one per online CPU */
int
thread_count(const char *env)
{
	const char *value = getenv(env);
	long		n;

	if (value != NULL && value[0] != '\0')
		return int_arg(value, env, 1, SYNTH_MAX_THREADS);
	n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : n > SYNTH_MAX_THREADS ? SYNTH_MAX_THREADS : (int) n;
}

/* Run fn on a Worker for each of nthreads threads sharing job, and wait for them all */
void
run_threads(int nthreads, void *(*fn) (void *), void *job)
{
	Worker		workers[SYNTH_MAX_THREADS];

	for (int i = 0; i < nthreads; i++)
	{
		int			rc;

		workers[i].job = job;
		workers[i].index = i;
		workers[i].nthreads = nthreads;
		rc = pthread_create(&workers[i].thread, NULL, fn, &workers[i]);
		if (rc != 0)
			die("could not start a thread: %s", strerror(rc));
	}
	for (int i = 0; i < nthreads; i++)
		pthread_join(workers[i].thread, NULL);
}
