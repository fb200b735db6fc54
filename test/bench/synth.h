/*
 * synth.h
 *		What the vector generators of test/bench (clustered.c, scale.c,
 *		fmnist.c) share: seeded random streams, normals that come out the
 *		same on every machine, a top-k list, big-endian writers for binary
 *		COPY, argument checks and worker threads.
 *
 * synth.c is plain C99 with POSIX threads and needs nothing from the
 * server.  A program that links it defines synth_program (its name, for
 * messages) and usage() (print the usage and exit 2), which bad_arg
 * calls.
 */
#ifndef SYNTH_H
#define SYNTH_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define SYNTH_MAX_THREADS 64

/* xoshiro256** state */
typedef struct Rng
{
	uint64_t	s[4];
} Rng;

/* One candidate neighbour */
typedef struct Neighbour
{
	double		distance;
	int			id;
} Neighbour;

/* One thread of run_threads: its share of job is number index of nthreads */
typedef struct Worker
{
	void	   *job;
	int			index;
	int			nthreads;
	pthread_t	thread;
} Worker;

/* Supplied by the program */
extern const char *const synth_program;
extern void usage(void) __attribute__((__noreturn__));

/* __printf__, not printf, which port.h redefines in programs built on c.h */
extern void die(const char *fmt,...) __attribute__((__format__(__printf__, 1, 2), __noreturn__));
extern void bad_arg(const char *fmt,...) __attribute__((__format__(__printf__, 1, 2), __noreturn__));
extern void *alloc(size_t count, size_t size);

extern void rng_init(Rng *r, uint64_t seed, uint64_t stream, uint64_t index);
extern uint64_t rng_next(Rng *r);
extern double rng_uniform(Rng *r);
extern int	rng_below(Rng *r, int n);
extern void normal_pair(Rng *r, double *a, double *b);

extern void offer(Neighbour *best, int *filled, int k, double distance, int id);

extern void put_be16(char **p, int16_t v);
extern void put_be32(char **p, int32_t v);

extern int	int_arg(const char *arg, const char *what, int min, int max);
extern uint64_t seed_arg(const char *arg);
extern int	thread_count(const char *env);
extern void run_threads(int nthreads, void *(*fn) (void *), void *job);

#endif							/* SYNTH_H */
