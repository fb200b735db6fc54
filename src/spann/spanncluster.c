/*
 * spanncluster.c
 *		Clustering and list assignment: the algorithms of spann.
 *
 * k-means (Lloyd's iterations from a k-means++ start, fixed seed) runs on
 * float arrays with the L2 kernel of distance.c.  The build clusters its
 * sample hierarchically: at most 16 clusters per level, each child given a
 * share of the wanted lists proportional to its size, so leaves come out
 * about equally large (SPANN's balanced clustering reaches the same end
 * with a size penalty; ours also adds a light penalty at every level).
 * Inserts split a list with a 2-means of its entries.
 *
 * Assignment (SPANN's closure rule): a vector goes to its nearest list
 * and to the next ones whose distance is within (1 + epsilon) of the
 * nearest, at most `replicas` lists, skipping a list whose centroid is
 * nearer to an already chosen centroid than to the vector (the RNG rule:
 * such a list adds little that the chosen one does not cover).
 *
 * Nothing here touches pages or locks.
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "common/pg_prng.h"
#include "miscadmin.h"

#include "distance.h"
#include "spann.h"

#define KMEANS_MAX_ITERATIONS	10
/*
 * Lloyd's rounds run on at most this many points a centre: more move the
 * centres little, and each costs a pass over all (the build's first level
 * clusters 20,000 points into 16)
 */
#define KMEANS_POINTS_PER_CENTRE 256
#define KMEANS_FANOUT			16
/*
 * weight of the size penalty, as a share of the mean nearest distance,
 * and at most of the mean margin between nearest and second nearest
 */
#define KMEANS_BALANCE			0.05
#define KMEANS_BALANCE_MARGIN	1.0
/*
 * a cluster below this share of the mean size takes half of the largest;
 * where the margins cap the size penalty (unclustered data), a larger
 * share, since there no partition is better than another but by balance
 */
#define KMEANS_STARVED			0.03125
#define KMEANS_STARVED_UNCLUSTERED 0.25
/* how far apart the halves' centres start, as a share of centre to point */
#define KMEANS_SPLIT_STEP		0.01

/* ---------------------------------------------------------------------
 * Assignment
 * ---------------------------------------------------------------------
 */

/*
 * The largest distance within (1 + factor) of the nearest one, on the
 * kernel's scale: squared for L2, a negative inner product for cosine
 * (whose unit vectors turn it back into a squared L2 distance) and inner
 * product, where the factor applies to the magnitude.
 */
float
SpannClosureBound(AnnMetric metric, float nearest, double factor)
{
	double		grow = (1.0 + factor) * (1.0 + factor);
	float		bound = nearest;

	switch (metric)
	{
		case ANN_METRIC_L2:
			bound = (float) (nearest * grow);
			break;
		case ANN_METRIC_L1:
		case ANN_METRIC_HAMMING:
		case ANN_METRIC_JACCARD:
			bound = (float) (nearest * (1.0 + factor));
			break;
		case ANN_METRIC_COSINE:
			/* |a - b|^2 = 2 + 2 * (-a.b) for unit vectors */
			bound = (float) ((2.0 + 2.0 * nearest) * grow / 2.0 - 1.0);
			break;
		case ANN_METRIC_IP:
			bound = (float) (nearest + factor * fabs(nearest));
			break;
	}

	/*
	 * Never below the nearest itself: for cosine near -1 (a key equal to
	 * the centroid, or unit vectors whose rounding makes a.b exceed 1) the
	 * arithmetic above can round below it, which would keep no list.
	 */
	return Max(bound, nearest);
}

/*
 * The candidates among n lists for a vector whose distances they hold:
 * those within the closure bound, at most 4 * replicas (the RNG rule
 * skips some), at least one.  Moves them to the front of lists, nearest
 * first, and returns how many.
 */
int
SpannClosureCandidates(AnnMetric metric, SpannListRef *lists, int n,
					   const SpannAssignOptions *opts)
{
	int			most = Min(n, 4 * opts->replicas);
	float		bound;
	int			ncandidates = 1;

	if (n == 0)
		return 0;
	SpannSelectNearestLists(lists, n, most);
	bound = SpannClosureBound(metric, lists[0].distance, opts->epsilon);
	while (ncandidates < most && lists[ncandidates].distance <= bound)
		ncandidates++;
	return ncandidates;
}

/*
 * Choose the lists of a vector among the first ncandidates sorted lists
 * (SpannClosureCandidates), whose centroid keys' elements are in
 * centroid_keys.  Writes indexes into sorted to chosen; returns how many.
 */
int
SpannChooseLists(const AnnDistanceInfo *dist, int dim, const SpannListRef *sorted,
				 int ncandidates, const void *const *centroid_keys,
				 const SpannAssignOptions *opts, int *chosen)
{
	int			nchosen = 0;

	for (int i = 0; i < ncandidates && nchosen < opts->replicas; i++)
	{
		bool		covered = false;

		for (int j = 0; j < nchosen && !covered; j++)
			covered = AnnDistance(dist, centroid_keys[chosen[j]], centroid_keys[i], dim) <
				sorted[i].distance;
		if (!covered)
			chosen[nchosen++] = i;
	}
	return nchosen;
}

/* ---------------------------------------------------------------------
 * k-means
 * ---------------------------------------------------------------------
 */

/* Points of a k-means run: a subset (idx) of a float array, or all of it */
typedef struct PointSet
{
	const float *points;
	const int  *idx;			/* NULL: points 0..n-1 */
	int			n;
	int			dim;
} PointSet;

static inline const float *
point_at(const PointSet *set, int i)
{
	return set->points + (Size) (set->idx ? set->idx[i] : i) * set->dim;
}

static inline float
l2(const float *a, const float *b, int dim)
{
	return ann_kernels->l2_squared(a, b, dim);
}

/*
 * The sum of each cluster's points and their count, kept up to date as
 * points move, so that a round costs in proportion to the points that
 * moved, not to all of them
 */
typedef struct ClusterSums
{
	double	   *sums;			/* k * dim */
	int		   *counts;
	int			dim;
} ClusterSums;

static void
sums_init(ClusterSums *cs, int k, int dim)
{
	cs->sums = palloc0(sizeof(double) * k * dim);
	cs->counts = palloc0(sizeof(int) * k);
	cs->dim = dim;
}

static void
sums_free(ClusterSums *cs)
{
	pfree(cs->sums);
	pfree(cs->counts);
}

/* Move point p from cluster from (-1: none) to cluster to. */
static void
move_point(ClusterSums *cs, const float *p, int from, int to)
{
	double	   *add = cs->sums + (Size) to * cs->dim;

	if (from >= 0)
	{
		double	   *sub = cs->sums + (Size) from * cs->dim;

		for (int d = 0; d < cs->dim; d++)
			sub[d] -= p[d];
		cs->counts[from]--;
	}
	for (int d = 0; d < cs->dim; d++)
		add[d] += p[d];
	cs->counts[to]++;
}

/* The centre (of k) nearest to point, by L2 */
int
SpannNearestCentre(const float *point, const float *centres, int k, int dim)
{
	int			best = 0;
	float		best_distance = FLT_MAX;

	for (int c = 0; c < k; c++)
	{
		float		d = l2(point, centres + (Size) c * dim, dim);

		if (d < best_distance)
		{
			best = c;
			best_distance = d;
		}
	}
	return best;
}

/* k-means++: each next centre drawn with probability proportional to d^2 */
static void
seed_centres(const PointSet *set, int k, pg_prng_state *rng, float *centres)
{
	float	   *nearest = palloc(sizeof(float) * set->n);
	int			first = (int) pg_prng_uint64_range(rng, 0, set->n - 1);

	memcpy(centres, point_at(set, first), sizeof(float) * set->dim);
	for (int i = 0; i < set->n; i++)
		nearest[i] = l2(point_at(set, i), centres, set->dim);

	for (int c = 1; c < k; c++)
	{
		double		total = 0;
		double		target;
		int			pick = set->n - 1;

		for (int i = 0; i < set->n; i++)
			total += nearest[i];
		target = pg_prng_double(rng) * total;
		for (int i = 0; i < set->n; i++)
		{
			target -= nearest[i];
			if (target < 0)
			{
				pick = i;
				break;
			}
		}
		memcpy(centres + (Size) c * set->dim, point_at(set, pick), sizeof(float) * set->dim);
		for (int i = 0; i < set->n; i++)
			nearest[i] = Min(nearest[i], l2(point_at(set, i), centres + (Size) c * set->dim,
											 set->dim));
		CHECK_FOR_INTERRUPTS();
	}
	pfree(nearest);
}

/*
 * Assign every point to the centre with the least distance plus a
 * penalty proportional to the centre's size in the previous round (the
 * sums follow).  Returns how many points changed centre, and sets
 * *mean_margin to the mean of how much nearer each point's nearest centre
 * is than its second nearest (without the penalty).
 */
static int
assign_points(const PointSet *set, const float *centres, int k, const int *prev_sizes,
			  double penalty, int *assignment, ClusterSums *cs, double *mean_margin)
{
	float	   *distances = palloc(sizeof(float) * k);
	int			changed = 0;
	double		margins = 0;

	for (int i = 0; i < set->n; i++)
	{
		int			best = 0;
		double		best_cost = DBL_MAX;
		float		nearest = FLT_MAX;
		float		second = FLT_MAX;

		ann_kernels->l2_squared_many(point_at(set, i), (const char *) centres,
									 sizeof(float) * set->dim, k, set->dim, distances);
		for (int c = 0; c < k; c++)
		{
			double		cost = distances[c] + penalty * prev_sizes[c];

			if (cost < best_cost)
			{
				best_cost = cost;
				best = c;
			}
			if (distances[c] < nearest)
			{
				second = nearest;
				nearest = distances[c];
			}
			else if (distances[c] < second)
				second = distances[c];
		}
		if (k > 1)
			margins += second - nearest;
		if (assignment[i] != best)
		{
			move_point(cs, point_at(set, i), assignment[i], best);
			changed++;
		}
		assignment[i] = best;
		if ((i & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
	}
	pfree(distances);
	*mean_margin = set->n > 0 ? margins / set->n : 0;
	return changed;
}

/* Move each centre to the mean of its points; an empty cluster's stays */
static void
update_centres(const ClusterSums *cs, int k, float *centres, int *sizes)
{
	int			dim = cs->dim;

	memcpy(sizes, cs->counts, sizeof(int) * k);
	for (int c = 0; c < k; c++)
	{
		if (sizes[c] == 0)
			continue;
		for (int d = 0; d < dim; d++)
			centres[(Size) c * dim + d] = (float) (cs->sums[(Size) c * dim + d] / sizes[c]);
	}
}

/*
 * Give starved cluster c half of the largest cluster: both centres become
 * the largest's, moved apart by a small step along the line to one of its
 * points (chosen at random), so that the next assignment cuts it in two.
 * Returns false, changing nothing, when the largest is too small to give
 * least points or the point chosen is its centre (its points are alike).
 */
static bool
split_largest(const PointSet *set, int k, const int *assignment, int c, int least,
			  pg_prng_state *rng, float *centres, int *sizes)
{
	int			dim = set->dim;
	int			largest = 0;
	int			pick;
	const float *p = NULL;
	float	   *from;
	float	   *to = centres + (Size) c * dim;

	for (int j = 1; j < k; j++)
		if (sizes[j] > sizes[largest])
			largest = j;
	if (largest == c || sizes[largest] < 2 * least)
		return false;
	from = centres + (Size) largest * dim;
	pick = (int) pg_prng_uint64_range(rng, 0, sizes[largest] - 1);
	for (int i = 0; i < set->n && p == NULL; i++)
		if (assignment[i] == largest && pick-- == 0)
			p = point_at(set, i);
	if (p == NULL || memcmp(p, from, sizeof(float) * dim) == 0)
		return false;
	for (int d = 0; d < dim; d++)
	{
		float		step = KMEANS_SPLIT_STEP * (p[d] - from[d]);

		to[d] = from[d] + step;
		from[d] -= step;
	}
	sizes[c] = sizes[largest] / 2;
	sizes[largest] -= sizes[c];
	return true;
}

/*
 * Split the largest cluster for every cluster left with fewer than
 * the given share of the mean size (empty ones included).  Many dimensions
 * make this necessary: the mean of a large cluster is nearer to nearly
 * every point than any single point is, so clusters seeded at points lose
 * their points to it, and plain Lloyd's iterations can end with one
 * cluster holding almost everything and the others one point each.
 * Returns how many clusters were given new centres.
 */
static int
split_for_starved(const PointSet *set, int k, const int *assignment, double share,
				  pg_prng_state *rng, float *centres, int *sizes)
{
	int			least = Max(1, (int) (share * set->n / k));
	int			moved = 0;

	for (int c = 0; c < k; c++)
	{
		if (sizes[c] >= least)
			continue;
		if (!split_largest(set, k, assignment, c, least, rng, centres, sizes))
			break;
		moved++;
	}
	return moved;
}

/* Mean distance of each point to its centre, the penalty's scale */
static double
mean_distance(const PointSet *set, const float *centres, const int *assignment)
{
	double		total = 0;

	for (int i = 0; i < set->n; i++)
		total += l2(point_at(set, i), centres + (Size) assignment[i] * set->dim, set->dim);
	return set->n > 0 ? total / set->n : 0;
}

/*
 * The size penalty of the next assignment, per point of a centre's
 * cluster: a cluster of the mean size costs its points KMEANS_BALANCE of
 * the mean distance to their centres, but never more than the mean
 * margin (how much nearer a point's nearest centre is than its second
 * nearest).  Where every centre is about equally far from every point
 * (unclustered data in many dimensions) the margins are a tiny share of
 * the distances, and a larger penalty would move most points every
 * round, from the clusters that were large to those that were small.
 */
static double
size_penalty(const PointSet *set, const float *centres, const int *assignment, int k,
			 double mean_margin, bool *unclustered)
{
	double		by_distance = KMEANS_BALANCE * mean_distance(set, centres, assignment);
	double		by_margin = KMEANS_BALANCE_MARGIN * mean_margin;

	*unclustered = by_margin < by_distance;
	return Min(by_distance, by_margin) / ((double) set->n / k);
}

/*
 * k-means of a point set into centres (k * dim floats) and assignment, by
 * Lloyd's rounds; sets sizes and the size penalty of the last round
 */
static void
kmeans(const PointSet *set, int k, pg_prng_state *rng, float *centres, int *assignment,
	   int *sizes, double *penalty)
{
	bool		unclustered = false;
	ClusterSums cs;

	*penalty = 0;
	memset(sizes, 0, sizeof(int) * k);
	sums_init(&cs, k, set->dim);
	seed_centres(set, k, rng, centres);
	for (int i = 0; i < set->n; i++)
		assignment[i] = -1;
	for (int iter = 0;; iter++)
	{
		double		margin;
		int			changed = assign_points(set, centres, k, sizes, *penalty, assignment, &cs,
											&margin);
		int			moved;

		update_centres(&cs, k, centres, sizes);
		/* the last round splits nothing: the assignment must fit the centres */
		if (iter == KMEANS_MAX_ITERATIONS - 1)
			break;
		moved = split_for_starved(set, k, assignment,
								  unclustered ? KMEANS_STARVED_UNCLUSTERED : KMEANS_STARVED,
								  rng, centres, sizes);
		if (moved == 0 && changed <= set->n / 1000 && iter > 0)
			break;
		*penalty = size_penalty(set, centres, assignment, k, margin, &unclustered);
	}
	sums_free(&cs);
}

/* A random subset of m of the points of set (m <= set->n), in *subset */
static int *
choose_subset(const PointSet *set, int m, pg_prng_state *rng, PointSet *subset)
{
	int		   *idx = palloc(sizeof(int) * set->n);

	for (int i = 0; i < set->n; i++)
		idx[i] = set->idx ? set->idx[i] : i;
	for (int i = 0; i < m; i++)
	{
		int			j = i + (int) pg_prng_uint64_range(rng, 0, set->n - 1 - i);
		int			t = idx[i];

		idx[i] = idx[j];
		idx[j] = t;
	}
	*subset = *set;
	subset->idx = idx;
	subset->n = m;
	return idx;
}

/*
 * k-means for the build's clustering: past KMEANS_POINTS_PER_CENTRE
 * points a centre, Lloyd's rounds run on a random subset of that many;
 * then every point is assigned once, with the subset's last sizes and
 * penalty, and the centres move to the means of their points.
 */
static void
kmeans_of_sample(const PointSet *set, int k, pg_prng_state *rng, float *centres,
				 int *assignment)
{
	int		   *sizes = palloc(sizeof(int) * k);
	int			most = KMEANS_POINTS_PER_CENTRE * k;
	double		penalty;
	PointSet	subset;
	int		   *subset_idx;
	int		   *subset_assignment;
	ClusterSums cs;
	double		margin;

	if (set->n <= most)
	{
		kmeans(set, k, rng, centres, assignment, sizes, &penalty);
		pfree(sizes);
		return;
	}
	subset_idx = choose_subset(set, most, rng, &subset);
	subset_assignment = palloc(sizeof(int) * most);
	kmeans(&subset, k, rng, centres, subset_assignment, sizes, &penalty);
	sums_init(&cs, k, set->dim);
	for (int i = 0; i < set->n; i++)
		assignment[i] = -1;
	assign_points(set, centres, k, sizes, penalty, assignment, &cs, &margin);
	update_centres(&cs, k, centres, sizes);
	sums_free(&cs);
	pfree(subset_assignment);
	pfree(subset_idx);
	pfree(sizes);
}

/*
 * k-means of npoints contiguous points.  Returns the nclusters centres
 * (palloc'd) and fills assignment (npoints ints).
 */
float *
SpannKMeans(const float *points, int npoints, int dim, int nclusters, uint64 seed,
			int *assignment)
{
	PointSet	set = {points, NULL, npoints, dim};
	float	   *centres = palloc(sizeof(float) * nclusters * dim);
	int		   *sizes = palloc(sizeof(int) * nclusters);
	double		penalty;
	pg_prng_state rng;

	pg_prng_seed(&rng, seed);
	kmeans(&set, nclusters, &rng, centres, assignment, sizes, &penalty);
	pfree(sizes);
	return centres;
}

/*
 * Split wanted leaves among k children of the given sizes, in proportion
 * (largest remainders first), each child at least one leaf and at most
 * one per point.
 */
static void
share_leaves(const int *sizes, int k, int total, int wanted, int *shares)
{
	int			given = 0;

	for (int c = 0; c < k; c++)
	{
		shares[c] = Min(sizes[c], Max(1, (int) ((double) wanted * sizes[c] / total)));
		given += shares[c];
	}
	while (given < wanted)
	{
		int			best = -1;
		double		best_gap = -1;

		for (int c = 0; c < k; c++)
		{
			double		gap = (double) wanted * sizes[c] / total - shares[c];

			if (shares[c] < sizes[c] && gap > best_gap)
			{
				best_gap = gap;
				best = c;
			}
		}
		if (best < 0)
			break;
		shares[best]++;
		given++;
	}
	while (given > wanted)
	{
		int			best = -1;

		for (int c = 0; c < k; c++)
			if (shares[c] > 1 && (best < 0 || shares[c] > shares[best]))
				best = c;
		if (best < 0)
			break;
		shares[best]--;
		given--;
	}
}

/*
 * Cluster the points idx[0..n) into `wanted` leaves (fewer when the points
 * do not split that far: many equal vectors), writing their centres at
 * out + *nout * dim.
 */
static void
cluster_into(const float *points, int dim, int *idx, int n, int wanted, pg_prng_state *rng,
			 float *out, int *nout)
{
	PointSet	set = {points, idx, n, dim};
	int			k = Min(Min(wanted, KMEANS_FANOUT), n);
	float	   *centres;
	int		   *assignment;
	int		   *sizes;
	int		   *shares;
	int		   *sorted;
	int			start = 0;

	if (wanted <= 1 || n <= 1)
	{
		int			size;
		ClusterSums cs;

		sums_init(&cs, 1, dim);
		for (int i = 0; i < n; i++)
			move_point(&cs, point_at(&set, i), -1, 0);
		update_centres(&cs, 1, out + (Size) *nout * dim, &size);
		(*nout)++;
		sums_free(&cs);
		return;
	}

	centres = palloc(sizeof(float) * k * dim);
	assignment = palloc(sizeof(int) * n);
	sizes = palloc0(sizeof(int) * k);
	shares = palloc(sizeof(int) * k);
	kmeans_of_sample(&set, k, rng, centres, assignment);
	for (int i = 0; i < n; i++)
		sizes[assignment[i]]++;
	if (sizes[assignment[0]] == n)
	{
		/* no split: the points are all alike, one centre serves them */
		memcpy(out + (Size) *nout * dim, centres + (Size) assignment[0] * dim, sizeof(float) * dim);
		(*nout)++;
		return;
	}
	if (k == wanted)
	{
		memcpy(out + (Size) *nout * dim, centres, sizeof(float) * k * dim);
		*nout += k;
		return;
	}

	/* group the points by cluster, then recurse into each group */
	sorted = palloc(sizeof(int) * n);
	share_leaves(sizes, k, n, wanted, shares);
	for (int c = 0; c < k; c++)
	{
		int			m = 0;

		for (int i = 0; i < n; i++)
			if (assignment[i] == c)
				sorted[start + m++] = idx[i];
		if (m > 0)
			cluster_into(points, dim, sorted + start, m, shares[c], rng, out, nout);
		start += m;
	}
	pfree(centres);
	pfree(assignment);
	pfree(sizes);
	pfree(shares);
}

/*
 * Balanced hierarchical k-means of npoints contiguous points into about
 * nlists centres (fewer only when there are fewer points).  Returns the
 * centres, palloc'd, and their count in *ncentres.
 */
float *
SpannHierarchicalKMeans(const float *points, int npoints, int dim, int nlists, uint64 seed,
						int *ncentres)
{
	float	   *out = palloc(sizeof(float) * (Size) Max(nlists, 1) * dim);
	int		   *idx = palloc(sizeof(int) * npoints);
	int			nout = 0;
	pg_prng_state rng;

	pg_prng_seed(&rng, seed);
	for (int i = 0; i < npoints; i++)
		idx[i] = i;
	if (npoints > 0)
		cluster_into(points, dim, idx, npoints, Min(nlists, npoints), &rng, out, &nout);
	pfree(idx);
	Assert(nout <= nlists);
	*ncentres = nout;
	return out;
}
