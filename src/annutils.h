/*
 * annutils.h
 *		Opclass-driven helpers shared by the hnsw and spann access methods:
 *		which distance an index computes, and how to read its key values.
 */
#ifndef ANN_UTILS_H
#define ANN_UTILS_H

#include "access/amapi.h"
#include "nodes/pathnodes.h"
#include "utils/rel.h"

#include "vector.h"

/* Support procedure numbers of every ann opclass */
#define ANN_DISTANCE_PROC	1	/* the distance, e.g. vector_l2_squared_distance */
#define ANN_NORM_PROC		2	/* optional: normalise keys (cosine) */

typedef enum AnnMetric
{
	ANN_METRIC_L2,				/* squared Euclidean */
	ANN_METRIC_IP,				/* negative inner product */
	ANN_METRIC_COSINE,			/* negative inner product of unit vectors, or
								 * their squared L2 (units_by_l2) */
	ANN_METRIC_L1,
	ANN_METRIC_HAMMING,			/* bits that differ */
	ANN_METRIC_JACCARD			/* 1 - |a AND b| / |a OR b| */
} AnnMetric;

/*
 * The type of an index's keys.  A stored key's elements start at
 * offsetof(Vector, x) for each of them (asserted in annutils.c); the
 * dimensions of a bit key are its bits.  A sparsevec key's "elements"
 * are its nnz field and what follows (the sparse kernels read the rest
 * from there), and its size varies from key to key.
 */
typedef enum AnnKeyType
{
	ANN_KEY_VECTOR,
	ANN_KEY_HALFVEC,
	ANN_KEY_BIT,
	ANN_KEY_SPARSE
} AnnKeyType;

typedef float (*AnnElemDistanceFn) (const void *a, const void *b, int n);
typedef void (*AnnElemDistancesFn) (const void *a, const char *first, size_t stride, int count,
									int n, float *out);

/*
 * How an index compares keys, resolved once per scan or build from the
 * opclass.  Lower distances are closer for every metric.
 */
typedef struct AnnDistanceInfo
{
	AnnMetric	metric;
	AnnKeyType	keytype;
	float		sign;			/* -1 turns an inner product into a distance */
	bool		units_by_l2;	/* cosine keys compared by squared L2
								 * (AnnCompareUnitsByL2) */
	AnnElemDistanceFn kernel;	/* from ann_kernels */
	AnnElemDistancesFn kernel_many; /* the same for many keys, or NULL */
} AnnDistanceInfo;

static inline float
AnnDistance(const AnnDistanceInfo *info, const void *a, const void *b, int n)
{
	return info->sign * info->kernel(a, b, n);
}

/*
 * The distances from x to the elements of n keys that lie stride bytes
 * apart from first, into out; each equals AnnDistance's
 */
static inline void
AnnDistancesTo(const AnnDistanceInfo *info, const void *x, const char *first, Size stride,
			   int n, int dim, float *out)
{
	if (info->kernel_many == NULL)
	{
		for (int i = 0; i < n; i++)
			out[i] = AnnDistance(info, x, first + stride * i, dim);
		return;
	}
	info->kernel_many(x, first, stride, n, dim, out);
	if (info->sign != 1.0f)
		for (int i = 0; i < n; i++)
			out[i] *= info->sign;
}

/* Does distance 0 mean the same key?  (Not for inner products of any kind.) */
static inline bool
AnnZeroMeansEqual(const AnnDistanceInfo *info)
{
	return info->metric != ANN_METRIC_IP &&
		(info->metric != ANN_METRIC_COSINE || info->units_by_l2);
}

/* A set of heap TIDs (annutils.c) */
typedef struct AnnTidSet AnnTidSet;

extern AnnTidSet *AnnTidSetCreate(void);
extern bool AnnTidSetAdd(AnnTidSet *set, ItemPointer tid);
extern bool AnnTidSetContains(AnnTidSet *set, ItemPointer tid);

/* ann.incomplete_scan */
typedef enum AnnIncompleteScan
{
	ANN_INCOMPLETE_LOG,
	ANN_INCOMPLETE_WARNING,
	ANN_INCOMPLETE_ERROR
} AnnIncompleteScan;

extern void AnnScanInit(void);
extern void AnnReportScan(Relation index, const char *problem, const char *detail,
						  const char *hint);
extern void AnnReportIncompleteScan(Relation index, const char *detail, const char *hint);
extern void AnnCompareUnitsByL2(AnnDistanceInfo *info);
extern double AnnOrderSlack(const AnnDistanceInfo *info, int dimensions);
extern void AnnInitOrderBy(IndexScanDesc scan);
extern void AnnSetOrderBy(IndexScanDesc scan, const AnnDistanceInfo *info, double slack,
						  float distance);

extern void AnnResolveDistance(Relation index, AnnDistanceInfo *info);
extern Datum AnnPrepareKey(const AnnDistanceInfo *info, Datum value, bool *usable);
extern const void *AnnKeyElements(const AnnDistanceInfo *info, Datum value, int *dim);
extern Size AnnKeySize(const AnnDistanceInfo *info, int dim);
extern const char *AnnKeyTypeName(const AnnDistanceInfo *info);
extern Datum AnnZeroKey(const AnnDistanceInfo *info, int dim);
extern int	AnnIndexDimensions(Relation index, const AnnDistanceInfo *info, const char *am_name,
							   int max_dim, int max_half_dim, int max_bits);
extern void AnnCheckDimensions(int expected, int dim);
extern void AnnCheckQueryDimensions(const AnnDistanceInfo *info, int expected, int dim);
extern void AnnElementsToFloats(const AnnDistanceInfo *info, const void *x, int dim, float *out);
extern IndexAmRoutine *AnnMakeAmRoutine(void);
extern bool AnnValidateOpclass(Oid opclassoid, const char *am_name);
extern Relation AnnOpenIndexToRead(Oid indexoid, const char *am_name, Relation *heap);
extern bool AnnCostUnordered(IndexPath *path, Cost *startup, Cost *total,
							 Selectivity *selectivity, double *correlation, double *pages);
extern double AnnIndexRows(IndexOptInfo *index);
extern void AnnFilterCost(PlannerInfo *root, IndexPath *path, double wanted,
						  Selectivity *selectivity, double *extra_visits,
						  double *rejected_fetches);
extern void AnnScanCost(IndexPath *path, double visited, double entries, double heap_fetches,
						Cost *startup, Cost *total, double *pages);
extern Datum AnnKeyFromFloats(const AnnDistanceInfo *info, const float *x, int dim);
extern void AnnSelectSmallest(void *items, int n, int k, Size size,
							  int (*cmp) (const void *a, const void *b));

#endif							/* ANN_UTILS_H */
