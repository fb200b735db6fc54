/*
 * annutils.c
 *		Resolve an index's distance from its opclass, and prepare keys.
 *
 * An opclass names its distance by support procedure 1 (a SQL function
 * such as vector_l2_squared_distance).  We recognise our own C functions
 * by address and call the matching kernel from distance.c directly: no
 * fmgr call per distance.  Support procedure 2, when present, asks for
 * keys to be normalised to unit length (cosine opclasses), as pgvector's
 * opclasses do.
 */
#include "postgres.h"

#include <math.h>

#include "access/genam.h"
#include "utils/rel.h"

#include "annutils.h"

/* The SQL-callable distance functions, from vector.c and halfvec.c */
extern Datum vector_l2_squared_distance(PG_FUNCTION_ARGS);
extern Datum vector_negative_inner_product(PG_FUNCTION_ARGS);
extern Datum l1_distance(PG_FUNCTION_ARGS);
extern Datum halfvec_l2_squared_distance(PG_FUNCTION_ARGS);
extern Datum halfvec_negative_inner_product(PG_FUNCTION_ARGS);
extern Datum halfvec_l1_distance(PG_FUNCTION_ARGS);

/*
 * Fill *info for the first key column of index.  An opclass whose
 * distance function is not one of ours is refused.
 */
void
AnnResolveDistance(Relation index, AnnDistanceInfo *info)
{
	FmgrInfo   *proc = index_getprocinfo(index, 1, ANN_DISTANCE_PROC);
	PGFunction	fn = proc->fn_addr;
	bool		normalize = OidIsValid(index_getprocid(index, 1, ANN_NORM_PROC));

	info->half = (fn == halfvec_l2_squared_distance ||
				  fn == halfvec_negative_inner_product ||
				  fn == halfvec_l1_distance);
	info->sign = 1.0f;
	if (fn == vector_l2_squared_distance || fn == halfvec_l2_squared_distance)
	{
		info->metric = ANN_METRIC_L2;
		info->kernel = info->half ? (AnnElemDistanceFn) ann_kernels->half_l2_squared :
			(AnnElemDistanceFn) ann_kernels->l2_squared;
	}
	else if (fn == vector_negative_inner_product || fn == halfvec_negative_inner_product)
	{
		info->metric = normalize ? ANN_METRIC_COSINE : ANN_METRIC_IP;
		info->sign = -1.0f;
		info->kernel = info->half ? (AnnElemDistanceFn) ann_kernels->half_inner_product :
			(AnnElemDistanceFn) ann_kernels->inner_product;
	}
	else if (fn == l1_distance || fn == halfvec_l1_distance)
	{
		info->metric = ANN_METRIC_L1;
		info->kernel = info->half ? (AnnElemDistanceFn) ann_kernels->half_l1 :
			(AnnElemDistanceFn) ann_kernels->l1;
	}
	else
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("index \"%s\" uses a distance function ann cannot evaluate",
						RelationGetRelationName(index))));
}

const char *
AnnKeyTypeName(const AnnDistanceInfo *info)
{
	return info->half ? "halfvec" : "vector";
}

/* Pointer to the elements of a (detoasted) key and its dimension count. */
const void *
AnnKeyElements(const AnnDistanceInfo *info, Datum value, int *dim)
{
	if (info->half)
	{
		HalfVector *h = (HalfVector *) DatumGetPointer(value);

		*dim = h->dim;
		return h->x;
	}
	else
	{
		Vector	   *v = (Vector *) DatumGetPointer(value);

		*dim = v->dim;
		return v->x;
	}
}

/* Bytes of a stored key of dim elements (its varlena form). */
Size
AnnKeySize(const AnnDistanceInfo *info, int dim)
{
	return info->half ? HALFVEC_SIZE(dim) : VECTOR_SIZE(dim);
}

/*
 * Detoast a key and, for cosine, scale it to unit length.  *usable is
 * false for a zero vector under cosine, which has no direction and is not
 * indexed (as in pgvector).  Returns a palloc'd or detoasted value.
 */
Datum
AnnPrepareKey(const AnnDistanceInfo *info, Datum value, bool *usable)
{
	struct varlena *key = PG_DETOAST_DATUM(value);
	int			dim;
	const void *x = AnnKeyElements(info, PointerGetDatum(key), &dim);
	double		norm = 0.0;

	*usable = true;
	if (info->metric != ANN_METRIC_COSINE)
		return PointerGetDatum(key);

	for (int i = 0; i < dim; i++)
	{
		double		e = info->half ? AnnHalfToFloat(((const AnnHalf *) x)[i]) :
			((const float *) x)[i];

		norm += e * e;
	}
	norm = sqrt(norm);
	if (norm == 0.0)
	{
		*usable = false;
		return PointerGetDatum(key);
	}

	if (info->half)
	{
		HalfVector *result = InitHalfVector(dim);

		for (int i = 0; i < dim; i++)
			result->x[i] = AnnFloatToHalf((float) (AnnHalfToFloat(((const AnnHalf *) x)[i]) / norm));
		return PointerGetDatum(result);
	}
	else
	{
		Vector	   *result = InitVector(dim);

		for (int i = 0; i < dim; i++)
			result->x[i] = (float) (((const float *) x)[i] / norm);
		return PointerGetDatum(result);
	}
}

/*
 * Dimensions of the key column of an index being built: its typmod,
 * which must be set and at most max_dim (for a halfvec opclass,
 * max_half_dim).
 */
int
AnnIndexDimensions(Relation index, const AnnDistanceInfo *info, const char *am_name,
				   int max_dim, int max_half_dim)
{
	int			typmod = TupleDescAttr(RelationGetDescr(index), 0)->atttypmod;
	int			limit = info->half ? max_half_dim : max_dim;

	if (typmod < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("column does not have dimensions"),
				 errhint("Declare the column as %s(n), or index an expression cast to it.",
						 AnnKeyTypeName(info))));
	if (typmod > limit)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("column cannot have more than %d dimensions for %s index",
						limit, am_name)));
	return typmod;
}

/* Refuse a key whose dimension count differs from the index's. */
void
AnnCheckDimensions(int expected, int dim)
{
	if (dim != expected)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("expected %d dimensions, not %d", expected, dim)));
}
