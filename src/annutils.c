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

#include "access/amapi.h"
#include "access/amvalidate.h"
#include "access/genam.h"
#include "access/relscan.h"
#include "access/table.h"
#include "catalog/index.h"
#include "catalog/objectaddress.h"
#include "commands/defrem.h"
#include "catalog/pg_amop.h"
#include "catalog/pg_amproc.h"
#include "catalog/pg_opclass.h"
#include "catalog/pg_opfamily.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "commands/vacuum.h"
#include "optimizer/cost.h"
#include "optimizer/optimizer.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "storage/bufmgr.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/float.h"
#include "utils/guc.h"
#include "utils/selfuncs.h"
#include "utils/regproc.h"
#include "utils/spccache.h"
#include "utils/syscache.h"
#include "utils/rel.h"

#include "annutils.h"
#include "vector.h"
#include "sparsevec.h"

/* The SQL-callable distance functions, from vector.c, halfvec.c and bitvec.c */
extern Datum hamming_distance(PG_FUNCTION_ARGS);
extern Datum jaccard_distance(PG_FUNCTION_ARGS);
extern Datum vector_l2_squared_distance(PG_FUNCTION_ARGS);
extern Datum vector_negative_inner_product(PG_FUNCTION_ARGS);
extern Datum l1_distance(PG_FUNCTION_ARGS);
extern Datum halfvec_l2_squared_distance(PG_FUNCTION_ARGS);
extern Datum halfvec_negative_inner_product(PG_FUNCTION_ARGS);
extern Datum halfvec_l1_distance(PG_FUNCTION_ARGS);
extern Datum sparsevec_l2_squared_distance(PG_FUNCTION_ARGS);
extern Datum sparsevec_negative_inner_product(PG_FUNCTION_ARGS);
extern Datum sparsevec_l1_distance(PG_FUNCTION_ARGS);

static void resolve_bit_distance(bool hamming, AnnDistanceInfo *info);
static void resolve_sparse_distance(PGFunction fn, bool normalize, AnnDistanceInfo *info);
static void resolve_float_distance(Relation index, PGFunction fn, bool normalize,
								   AnnDistanceInfo *info);

/* Every key type's elements start where a vector's do (annutils.h) */
StaticAssertDecl(offsetof(HalfVector, x) == offsetof(Vector, x), "halfvec elements");
StaticAssertDecl(offsetof(VarBit, bit_dat) == offsetof(Vector, x), "bit elements");
StaticAssertDecl(offsetof(SparseVector, nnz) == offsetof(Vector, x), "sparsevec elements");

/*
 * Fill *info for the first key column of index.  A first column without
 * a distance (a filter column), or an opclass whose distance function is
 * not one of ours, is refused.
 */
void
AnnResolveDistance(Relation index, AnnDistanceInfo *info)
{
	FmgrInfo   *proc;
	PGFunction	fn;
	bool		normalize = OidIsValid(index_getprocid(index, 1, ANN_NORM_PROC));

	if (!OidIsValid(index_getprocid(index, 1, ANN_DISTANCE_PROC)))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("the first column of index \"%s\" must be the vector to search (vector, halfvec, sparsevec or bit)",
						RelationGetRelationName(index)),
				 errhint("Put the vector first and the filter columns after it.")));
	proc = index_getprocinfo(index, 1, ANN_DISTANCE_PROC);
	fn = proc->fn_addr;

	info->kernel_many = NULL;
	info->units_by_l2 = false;
	if (fn == hamming_distance || fn == jaccard_distance)
		resolve_bit_distance(fn == hamming_distance, info);
	else if (fn == sparsevec_l2_squared_distance || fn == sparsevec_negative_inner_product ||
			 fn == sparsevec_l1_distance)
		resolve_sparse_distance(fn, normalize, info);
	else
		resolve_float_distance(index, fn, normalize, info);
}

/* Bit kernels in the shape of the float ones: n is the number of bits */
static float
bit_hamming(const void *a, const void *b, int n)
{
	return (float) ann_kernels->bit_hamming(a, b, (n + BITS_PER_BYTE - 1) / BITS_PER_BYTE);
}

static float
bit_jaccard(const void *a, const void *b, int n)
{
	return (float) ann_kernels->bit_jaccard(a, b, (n + BITS_PER_BYTE - 1) / BITS_PER_BYTE);
}

static void
resolve_bit_distance(bool hamming, AnnDistanceInfo *info)
{
	info->keytype = ANN_KEY_BIT;
	info->sign = 1.0f;
	info->metric = hamming ? ANN_METRIC_HAMMING : ANN_METRIC_JACCARD;
	info->kernel = hamming ? bit_hamming : bit_jaccard;
}

/* The sparse operand whose elements (annutils.h) start at x */
static inline AnnSparse
sparse_operand(const void *x)
{
	return SparsevecOperand((const SparseVector *) ((const char *) x -
													offsetof(SparseVector, nnz)));
}

/* Sparse kernels in the shape of the dense ones; n is not needed */
static float
sparse_l2_squared(const void *a, const void *b, int n)
{
	AnnSparse	sa = sparse_operand(a);
	AnnSparse	sb = sparse_operand(b);

	return AnnSparseL2Squared(&sa, &sb);
}

static float
sparse_inner_product(const void *a, const void *b, int n)
{
	AnnSparse	sa = sparse_operand(a);
	AnnSparse	sb = sparse_operand(b);

	return AnnSparseInnerProduct(&sa, &sb);
}

static float
sparse_l1(const void *a, const void *b, int n)
{
	AnnSparse	sa = sparse_operand(a);
	AnnSparse	sb = sparse_operand(b);

	return AnnSparseL1(&sa, &sb);
}

static void
resolve_sparse_distance(PGFunction fn, bool normalize, AnnDistanceInfo *info)
{
	info->keytype = ANN_KEY_SPARSE;
	info->sign = 1.0f;
	if (fn == sparsevec_l2_squared_distance)
	{
		info->metric = ANN_METRIC_L2;
		info->kernel = sparse_l2_squared;
	}
	else if (fn == sparsevec_negative_inner_product)
	{
		info->metric = normalize ? ANN_METRIC_COSINE : ANN_METRIC_IP;
		info->sign = -1.0f;
		info->kernel = sparse_inner_product;
	}
	else
	{
		info->metric = ANN_METRIC_L1;
		info->kernel = sparse_l1;
	}
}

static void
resolve_float_distance(Relation index, PGFunction fn, bool normalize, AnnDistanceInfo *info)
{
	bool		half = (fn == halfvec_l2_squared_distance ||
						fn == halfvec_negative_inner_product ||
						fn == halfvec_l1_distance);

	info->keytype = half ? ANN_KEY_HALFVEC : ANN_KEY_VECTOR;
	info->sign = 1.0f;
	if (fn == vector_l2_squared_distance || fn == halfvec_l2_squared_distance)
	{
		info->metric = ANN_METRIC_L2;
		info->kernel = half ? (AnnElemDistanceFn) ann_kernels->half_l2_squared :
			(AnnElemDistanceFn) ann_kernels->l2_squared;
		info->kernel_many = half ? (AnnElemDistancesFn) ann_kernels->half_l2_squared_many :
			(AnnElemDistancesFn) ann_kernels->l2_squared_many;
	}
	else if (fn == vector_negative_inner_product || fn == halfvec_negative_inner_product)
	{
		info->metric = normalize ? ANN_METRIC_COSINE : ANN_METRIC_IP;
		info->sign = -1.0f;
		info->kernel = half ? (AnnElemDistanceFn) ann_kernels->half_inner_product :
			(AnnElemDistanceFn) ann_kernels->inner_product;
		info->kernel_many = half ? (AnnElemDistancesFn) ann_kernels->half_inner_product_many :
			(AnnElemDistancesFn) ann_kernels->inner_product_many;
	}
	else if (fn == l1_distance || fn == halfvec_l1_distance)
	{
		info->metric = ANN_METRIC_L1;
		info->kernel = half ? (AnnElemDistanceFn) ann_kernels->half_l1 :
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
	switch (info->keytype)
	{
		case ANN_KEY_HALFVEC:
			return "halfvec";
		case ANN_KEY_BIT:
			return "bit";
		case ANN_KEY_SPARSE:
			return "sparsevec";
		default:
			return "vector";
	}
}

/* Pointer to the elements of a (detoasted) key and its dimension count. */
const void *
AnnKeyElements(const AnnDistanceInfo *info, Datum value, int *dim)
{
	if (info->keytype == ANN_KEY_BIT)
	{
		VarBit	   *b = (VarBit *) DatumGetPointer(value);

		*dim = VARBITLEN(b);
		return VARBITS(b);
	}
	else if (info->keytype == ANN_KEY_SPARSE)
	{
		SparseVector *s = (SparseVector *) DatumGetPointer(value);

		*dim = s->dim;
		return &s->nnz;
	}
	else if (info->keytype == ANN_KEY_HALFVEC)
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

/*
 * Bytes of a stored key of dim elements (its varlena form).  Not for
 * sparsevec keys, whose size is their own (VARSIZE).
 */
Size
AnnKeySize(const AnnDistanceInfo *info, int dim)
{
	switch (info->keytype)
	{
		case ANN_KEY_SPARSE:
			elog(ERROR, "sparsevec keys have no fixed size");
			pg_unreachable();
		case ANN_KEY_HALFVEC:
			return HALFVEC_SIZE(dim);
		case ANN_KEY_BIT:
			return VARBITTOTALLEN(dim);
		default:
			return VECTOR_SIZE(dim);
	}
}

/* A key of dim zero elements (bits), palloc'd */
Datum
AnnZeroKey(const AnnDistanceInfo *info, int dim)
{
	switch (info->keytype)
	{
		case ANN_KEY_HALFVEC:
			return PointerGetDatum(InitHalfVector(dim));
		case ANN_KEY_BIT:
			return PointerGetDatum(InitBitString(dim));
		case ANN_KEY_SPARSE:
			return PointerGetDatum(InitSparseVector(dim, 0));
		default:
			return PointerGetDatum(InitVector(dim));
	}
}

/*
 * A sparsevec scaled to unit length, or v itself with *usable false when
 * it is zero.  Elements that underflow to 0 stay: unlike l2_normalize's
 * result, a key is never shown, and the kernels only need sorted indices.
 */
static Datum
sparse_unit_key(SparseVector *v, bool *usable)
{
	const float *x = SparsevecValues(v);
	SparseVector *result;
	double		norm = SparsevecNorm(v);

	if (norm == 0.0)
	{
		*usable = false;
		return PointerGetDatum(v);
	}
	result = InitSparseVector(v->dim, v->nnz);
	memcpy(result->indices, v->indices, sizeof(int32) * v->nnz);
	for (int i = 0; i < v->nnz; i++)
		SparsevecValues(result)[i] = (float) (x[i] / norm);
	return PointerGetDatum(result);
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
	if (info->keytype == ANN_KEY_SPARSE)
		return sparse_unit_key((SparseVector *) key, usable);

	for (int i = 0; i < dim; i++)
	{
		double		e = info->keytype == ANN_KEY_HALFVEC ?
			AnnHalfToFloat(((const AnnHalf *) x)[i]) : ((const float *) x)[i];

		norm += e * e;
	}
	norm = sqrt(norm);
	if (norm == 0.0)
	{
		*usable = false;
		return PointerGetDatum(key);
	}

	if (info->keytype == ANN_KEY_HALFVEC)
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

/* Refuse sparse keys, which are no array of elements. */
static void
check_dense(const AnnDistanceInfo *info)
{
	if (info->keytype == ANN_KEY_SPARSE)
		elog(ERROR, "%s keys have no dense elements", AnnKeyTypeName(info));
}

/*
 * Copy dim key elements x to floats: halfvec elements are widened, bits
 * become 0 or 1 (so that a mean of bit keys is the share of keys with each
 * bit set).
 */
void
AnnElementsToFloats(const AnnDistanceInfo *info, const void *x, int dim, float *out)
{
	check_dense(info);
	if (info->keytype == ANN_KEY_BIT)
		for (int i = 0; i < dim; i++)
			out[i] = (((const bits8 *) x)[i / BITS_PER_BYTE] >> (7 - i % BITS_PER_BYTE)) & 1;
	else if (info->keytype == ANN_KEY_HALFVEC)
		for (int i = 0; i < dim; i++)
			out[i] = AnnHalfToFloat(((const AnnHalf *) x)[i]);
	else
		memcpy(out, x, sizeof(float) * dim);
}

/*
 * A prepared key of the index's type from dim float elements: a palloc'd
 * vector or halfvec, scaled to unit length for cosine (unless it is zero),
 * or a bit string with the bits whose elements exceed 1/2 set: for a mean
 * of bit keys (AnnElementsToFloats), the bits most of them have, a
 * majority vote.
 */
Datum
AnnKeyFromFloats(const AnnDistanceInfo *info, const float *x, int dim)
{
	Datum		key;
	bool		usable;

	check_dense(info);
	if (info->keytype == ANN_KEY_BIT)
	{
		VarBit	   *b = InitBitString(dim);

		for (int i = 0; i < dim; i++)
			if (x[i] > 0.5f)
				VARBITS(b)[i / BITS_PER_BYTE] |= 0x80 >> (i % BITS_PER_BYTE);
		return PointerGetDatum(b);
	}
	if (info->keytype == ANN_KEY_HALFVEC)
	{
		HalfVector *h = InitHalfVector(dim);

		for (int i = 0; i < dim; i++)
			h->x[i] = AnnFloatToHalf(x[i]);
		key = PointerGetDatum(h);
	}
	else
	{
		Vector	   *v = InitVector(dim);

		memcpy(v->x, x, sizeof(float) * dim);
		key = PointerGetDatum(v);
	}
	if (info->metric == ANN_METRIC_COSINE)
		key = AnnPrepareKey(info, key, &usable);
	return key;
}

/*
 * Dimensions of the key column of an index being built: its typmod,
 * which must be set and at most max_dim (for a halfvec opclass,
 * max_half_dim; for a bit one, max_bits).
 */
int
AnnIndexDimensions(Relation index, const AnnDistanceInfo *info, const char *am_name,
				   int max_dim, int max_half_dim, int max_bits)
{
	int			typmod = TupleDescAttr(RelationGetDescr(index), 0)->atttypmod;
	int			limit = info->keytype == ANN_KEY_HALFVEC ? max_half_dim :
		info->keytype == ANN_KEY_BIT ? max_bits :
		info->keytype == ANN_KEY_SPARSE ? ANN_SPARSE_MAX_DIM : max_dim;

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

/*
 * Refuse a scan's query whose dimension count differs from the index's
 * (expected), with the error the ORDER BY operator raises on such a pair,
 * as a sequential scan would.
 */
void
AnnCheckQueryDimensions(const AnnDistanceInfo *info, int expected, int dim)
{
	if (dim == expected)
		return;
	if (info->keytype == ANN_KEY_BIT)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("different bit lengths %d and %d", expected, dim)));
	if (info->keytype == ANN_KEY_SPARSE)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("different sparsevec dimensions %d and %d", expected, dim)));
	AnnCheckDims(expected, dim);
}

/*
 * Start the cost estimate of an ordered index scan: an index that does
 * not order the path (no ORDER BY) is of no use, and a scan returns rows
 * in no useful physical order.  Returns true when the path is unordered,
 * having made it infinitely expensive: even with enable_seqscan off it
 * must never be chosen, since an approximate search does not return every
 * row that meets the conditions on filter columns.
 */
bool
AnnCostUnordered(IndexPath *path, Cost *startup, Cost *total, Selectivity *selectivity,
				 double *correlation, double *pages)
{
	*selectivity = 1.0;
	*correlation = 0;
	if (path->indexorderbys != NIL)
		return false;
	*startup = get_float8_infinity();
	*total = get_float8_infinity();
	*pages = 0;
	return true;
}

/*
 * The rows an index holds, at least 1: fewer than its table's for a
 * partial index, whose scans meet only rows that pass its predicate.
 */
double
AnnIndexRows(IndexOptInfo *index)
{
	return Max(index->tuples, 1.0);
}

/*
 * What WHERE conditions add to an ordered scan that must find `wanted`
 * rows passing them before it can return its first (ef_search for
 * hnsw).  The index tests conditions on filter columns itself (their
 * selectivity goes to *selectivity); the executor tests the rest on the
 * heap rows the index returns.  Either way the scan meets about wanted /
 * s rows, s the selectivity of all conditions: *extra_visits.  Of the rows
 * the index returns, the executor rejects those that fail the conditions
 * the index does not test, each a heap fetch: *rejected_fetches.  So an
 * index that tests a condition costs less than one that leaves it to the
 * executor, as it should.  Conditions a partial index's predicate implies
 * cost nothing: every entry passes them (indrestrictinfo leaves them out).
 */
void
AnnFilterCost(PlannerInfo *root, IndexPath *path, double wanted, Selectivity *selectivity,
			  double *extra_visits, double *rejected_fetches)
{
	IndexOptInfo *index = path->indexinfo;
	double		rows = AnnIndexRows(index);
	double		floor = 1.0 / rows;
	List	   *quals = get_quals_from_indexclauses(path->indexclauses);
	double		s_index = 1.0;
	double		s_all;

	if (quals != NIL)
		s_index = clauselist_selectivity(root, quals, index->rel->relid, JOIN_INNER, NULL);
	s_all = clauselist_selectivity(root, index->indrestrictinfo, index->rel->relid,
								   JOIN_INNER, NULL);
	s_index = Min(Max(s_index, floor), 1.0);
	s_all = Min(Max(s_all, floor), s_index);
	*selectivity = s_index;
	*extra_visits = Min(s_all < 1.0 ? wanted / s_all : 0, rows);
	*rejected_fetches = Min(wanted * s_index / s_all - wanted, rows * s_index);
}

/*
 * Cost of an ordered scan that computes `visited` distances, out of an
 * index of `entries` entries, and fetches heap_fetches rows the executor
 * rejects, before it returns its first row.  The
 * competing plan, a sequential scan and a sort, is costed per row without
 * the work that dominates it (detoasting and comparing each vector), so
 * each distance is charged what the planner charges a sequential scan per
 * row, plus the index tuple overhead: the index wins when it computes
 * fewer distances than the table has rows, which is the truth.  A fixed
 * charge for the metapage and first pages leaves tiny tables to the
 * sequential scan.
 */
void
AnnScanCost(IndexPath *path, double visited, double entries, double heap_fetches,
			Cost *startup, Cost *total, double *pages)
{
	IndexOptInfo *index = path->indexinfo;
	double		rows = Max(index->rel->tuples, 1.0);
	double		per_row;
	double		spc_random_page_cost;
	double		spc_seq_page_cost;

	get_tablespace_page_costs(index->reltablespace, &spc_random_page_cost, &spc_seq_page_cost);
	per_row = index->rel->pages * spc_seq_page_cost / rows + cpu_tuple_cost + cpu_operator_cost;
	*startup = 2 * spc_random_page_cost + visited * (per_row + cpu_index_tuple_cost) +
		heap_fetches * (spc_random_page_cost + cpu_tuple_cost);
	*total = *startup;
	*pages = Min(visited * index->pages / Max(entries, 1.0), index->pages);
}

/*
 * An IndexAmRoutine with what hnsw and spann share: ordering by a
 * distance operator (support procedures 1 and 2) on the first column,
 * filter columns after it (annfilter.h) searched with =, = ANY(array), &&
 * and @>, no NULL searches, parallel bulk delete.  The caller fills in
 * its callbacks.
 */
IndexAmRoutine *
AnnMakeAmRoutine(void)
{
	IndexAmRoutine *amroutine = makeNode(IndexAmRoutine);

	amroutine->amstrategies = 0;
	amroutine->amsupport = 2;
	amroutine->amoptsprocnum = 0;
	amroutine->amcanorder = false;
	amroutine->amcanorderbyop = true;
	amroutine->amcanbackward = false;
	amroutine->amcanunique = false;
	amroutine->amcanmulticol = true;
	amroutine->amoptionalkey = true;
	amroutine->amsearcharray = true;
	amroutine->amsearchnulls = false;
	amroutine->amstorage = false;
	amroutine->amclusterable = false;
	amroutine->ampredlocks = false;
	amroutine->amcanparallel = false;
	amroutine->amcaninclude = false;
	amroutine->amusemaintenanceworkmem = false;
	amroutine->amparallelvacuumoptions = VACUUM_OPTION_PARALLEL_BULKDEL;
	amroutine->amkeytype = InvalidOid;
	return amroutine;
}

/* ---------------------------------------------------------------------
 * Opening an index for a function that reads it
 * ---------------------------------------------------------------------
 */

/*
 * Open indexoid, a built index of access method am_name (spann takes
 * ivfflat too; NULL: any of ours), with AccessShareLock, for a SQL
 * function that reads it (spann_index_stats, ann_check_index).  What an index holds tells about
 * its table's rows, so the caller must be allowed to SELECT from the
 * table; that is checked before any lock is taken.  With heap not NULL,
 * the table is locked first and returned there.
 */
Relation
AnnOpenIndexToRead(Oid indexoid, const char *am_name, Relation *heap)
{
	Oid			heapoid = IndexGetRelation(indexoid, true);
	AclResult	aclresult;
	Relation	index;
	char	   *am;

	if (!OidIsValid(heapoid))
	{
		char	   *name = get_rel_name(indexoid);

		if (name == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_TABLE),
					 errmsg("relation with OID %u does not exist", indexoid)));
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not an index", name)));
	}
	aclresult = pg_class_aclcheck(heapoid, GetUserId(), ACL_SELECT);
	if (aclresult != ACLCHECK_OK)
		aclcheck_error(aclresult, get_relkind_objtype(get_rel_relkind(heapoid)),
					   get_rel_name(heapoid));

	if (heap != NULL)
		*heap = table_open(heapoid, AccessShareLock);
	index = index_open(indexoid, AccessShareLock);
	if (index->rd_index->indrelid != heapoid)
		elog(ERROR, "index \"%s\" changed while it was opened", RelationGetRelationName(index));
	/* an ivfflat index is a spann one */
	am = get_am_name(index->rd_rel->relam);
	if (strcmp(am, "ivfflat") == 0)
		am = "spann";
	if (am_name != NULL ? strcmp(am, am_name) != 0 :
		strcmp(am, "hnsw") != 0 && strcmp(am, "spann") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not %s index", RelationGetRelationName(index),
						am_name != NULL ? psprintf("a %s", am_name) : "an hnsw, spann or ivfflat")));
	if (index->rd_rel->relkind == RELKIND_PARTITIONED_INDEX)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is a partitioned index", RelationGetRelationName(index)),
				 errdetail("A partitioned index has no pages of its own; each partition's index has.")));
	if (RelationGetNumberOfBlocks(index) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("index \"%s\" has not been built", RelationGetRelationName(index)),
				 errhint("A CREATE INDEX CONCURRENTLY of it failed or has not finished; drop it, or REINDEX it.")));
	return index;
}

/* ---------------------------------------------------------------------
 * Sets of heap TIDs
 * ---------------------------------------------------------------------
 */

/*
 * A set of heap TIDs: a hash of runs of 32 line pointers of one heap page,
 * each run a bitmap.  An entry costs what one TID's did, and rows of the
 * same pages (a scan that reranks most of a table) share entries, a bit
 * or so a row instead of an entry each.
 */
#define TID_RUN_LENGTH	32

typedef struct AnnTidRun
{
	uint64		run;			/* block number << 16 | offset / TID_RUN_LENGTH */
	uint32		members;		/* bit offset % TID_RUN_LENGTH */
	char		status;
} AnnTidRun;

#define SH_PREFIX		anntids
#define SH_ELEMENT_TYPE AnnTidRun
#define SH_KEY_TYPE		uint64
#define SH_KEY			run
#define SH_HASH_KEY(tb, key) murmurhash32((uint32) (key) ^ (uint32) ((key) >> 32))
#define SH_EQUAL(tb, a, b) ((a) == (b))
#define SH_SCOPE		static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

struct AnnTidSet
{
	struct anntids_hash *hash;
};

static uint64
tid_run(ItemPointer tid)
{
	return ((uint64) ItemPointerGetBlockNumber(tid) << 16) |
		(ItemPointerGetOffsetNumber(tid) / TID_RUN_LENGTH);
}

static uint32
tid_bit(ItemPointer tid)
{
	return (uint32) 1 << (ItemPointerGetOffsetNumber(tid) % TID_RUN_LENGTH);
}

AnnTidSet *
AnnTidSetCreate(void)
{
	AnnTidSet  *set = palloc(sizeof(AnnTidSet));

	set->hash = anntids_create(CurrentMemoryContext, 256, NULL);
	return set;
}

/* Add tid; false if it was there already */
bool
AnnTidSetAdd(AnnTidSet *set, ItemPointer tid)
{
	bool		found;
	AnnTidRun  *run = anntids_insert(set->hash, tid_run(tid), &found);
	uint32		bit = tid_bit(tid);

	if (!found)
		run->members = 0;
	else if (run->members & bit)
		return false;
	run->members |= bit;
	return true;
}

bool
AnnTidSetContains(AnnTidSet *set, ItemPointer tid)
{
	AnnTidRun  *run = anntids_lookup(set->hash, tid_run(tid));

	return run != NULL && (run->members & tid_bit(tid)) != 0;
}

/* ---------------------------------------------------------------------
 * Scans that end short
 * ---------------------------------------------------------------------
 */

static int	ann_incomplete_scan = ANN_INCOMPLETE_WARNING;

static const struct config_enum_entry incomplete_scan_options[] = {
	{"log", ANN_INCOMPLETE_LOG, false},
	{"warning", ANN_INCOMPLETE_WARNING, false},
	{"error", ANN_INCOMPLETE_ERROR, false},
	{NULL, 0, false}
};

/* The settings shared by both access methods, under ann. */
void
AnnScanInit(void)
{
	DefineCustomEnumVariable("ann.incomplete_scan",
							 "Sets how an index scan reports an answer it cannot give "
							 "complete and in order",
							 "A scan ends short when a budget such as hnsw.max_scan_tuples "
							 "or spann.max_probes runs out, and an hnsw strict_order scan "
							 "returns rows found too late for their place last: log writes "
							 "to the server log only, warning also tells the client, error "
							 "aborts the query.",
							 &ann_incomplete_scan, ANN_INCOMPLETE_WARNING, incomplete_scan_options,
							 PGC_USERSET, 0, NULL, NULL, NULL);
	MarkGUCPrefixReserved("ann");
}

/*
 * Report, at the level ann.incomplete_scan sets, that an ordered scan of
 * index gives an answer that is not the complete, ordered one: problem
 * ends the primary message ("ended before ..."), detail says why.
 */
void
AnnReportScan(Relation index, const char *problem, const char *detail, const char *hint)
{
	int			level = ann_incomplete_scan == ANN_INCOMPLETE_ERROR ? ERROR :
		ann_incomplete_scan == ANN_INCOMPLETE_WARNING ? WARNING : LOG;

	ereport(level,
			(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
			 errmsg("index scan of \"%s\" %s", RelationGetRelationName(index), problem),
			 errdetail_internal("%s", detail),
			 errhint("%s", hint)));
}

/*
 * An ordered scan of index has no more rows while the executor still asks
 * for some, not because the index holds no more but because of what
 * detail says (a budget ran out): the answer may be short.
 */
void
AnnReportIncompleteScan(Relation index, const char *detail, const char *hint)
{
	AnnReportScan(index, "ended before returning every row the query asked for", detail, hint);
}

/*
 * Compare cosine keys, unit vectors, by squared L2, 2 - 2 cos: the order of
 * the negative inner product, but 0 exactly between copies of a vector and
 * above 0 between any two others (unless their differences underflow when
 * squared), where rounding can put the inner product of other unit vectors
 * of a direction above a vector's with itself.  hnsw needs copies to be
 * each other's nearest (its twins).
 */
void
AnnCompareUnitsByL2(AnnDistanceInfo *info)
{
	if (info->metric != ANN_METRIC_COSINE)
		return;
	info->units_by_l2 = true;
	info->sign = 1.0f;
	switch (info->keytype)
	{
		case ANN_KEY_VECTOR:
			info->kernel = (AnnElemDistanceFn) ann_kernels->l2_squared;
			info->kernel_many = (AnnElemDistancesFn) ann_kernels->l2_squared_many;
			break;
		case ANN_KEY_HALFVEC:
			info->kernel = (AnnElemDistanceFn) ann_kernels->half_l2_squared;
			info->kernel_many = (AnnElemDistancesFn) ann_kernels->half_l2_squared_many;
			break;
		case ANN_KEY_SPARSE:
			info->kernel = sparse_l2_squared;
			info->kernel_many = NULL;
			break;
		case ANN_KEY_BIT:
			Assert(false);		/* bits have no cosine */
			break;
	}
}

/*
 * How far the distance a scan computes for a row may lie from what the
 * ORDER BY operator computes on the row itself, where the executor must
 * recheck the order (AnnSetOrderBy); else 0.  A halfvec cosine index keeps
 * unit vectors rounded to half precision, each off by up to 2^-11: compared
 * by squared L2 (hnsw), half the index distance is off the cosine distance
 * by <a - b, da - db> + |da - db|^2 / 2, at most 2^-9 + 2^-21 (opposite
 * vectors, every element rounded the same way), and by inner product
 * (spann) at most 2^-10 (2e-4 seen).  Both sides sum in float32 (2^-24 a
 * term, up to 16,000 terms).  The bound is 2^-9 plus 8 times the sums'
 * error, which is never less than 2^-17: a wider one, 2^-8, read 8% more
 * buffers on fashion-mnist's halfvec queries.  Other cosine indexes keep
 * unit vectors in float32: their distances differ from <=> by about 1e-8,
 * which swaps only rows that near-tie, and a recheck (a detoasted row and a
 * distance per row) cost 12% of fashion-mnist's queries, so they go
 * without.
 */
double
AnnOrderSlack(const AnnDistanceInfo *info, int dimensions)
{
	if (info->metric != ANN_METRIC_COSINE || info->keytype != ANN_KEY_HALFVEC)
		return 0;
	return ldexp(1.0, -9) + 8 * (Min(dimensions, 16000) + 16) * ldexp(1.0, -24);
}

/* Room for the ORDER BY values AnnSetOrderBy gives (the AM allocates it) */
void
AnnInitOrderBy(IndexScanDesc scan)
{
	if (scan->numberOfOrderBys == 0)
		return;
	scan->xs_orderbyvals = palloc0(sizeof(Datum) * scan->numberOfOrderBys);
	scan->xs_orderbynulls = palloc(sizeof(bool) * scan->numberOfOrderBys);
	memset(scan->xs_orderbynulls, true, sizeof(bool) * scan->numberOfOrderBys);
}

/*
 * The row a scan returns is at distance from the query, as the scan
 * computes it.  Where that may differ from the ORDER BY operator's value
 * (slack, AnnOrderSlack), give the executor a lower bound of it and have
 * it compute the operator on the row and put rows back in its exact order
 * (an index scan's reorder queue, as for GiST's lossy distances).
 */
void
AnnSetOrderBy(IndexScanDesc scan, const AnnDistanceInfo *info, double slack, float distance)
{
	double		cosine;

	/*
	 * An overflowed distance raises the error the ORDER BY operator would
	 * raise on the row, which the executor does not compute when nothing
	 * reads it (annunread.c).
	 */
	if (isinf(distance))
		float_overflow_error();
	scan->xs_recheckorderby = slack > 0 && scan->numberOfOrderBys > 0;
	if (!scan->xs_recheckorderby)
		return;
	/* the cosine distance, 1 - <a, b> for unit vectors, is |a - b|^2 / 2 */
	cosine = info->units_by_l2 ? (double) distance / 2 : 1.0 + (double) distance;
	scan->xs_orderbyvals[0] = Float8GetDatum(cosine - slack);
	scan->xs_orderbynulls[0] = false;
}

/* ---------------------------------------------------------------------
 * amvalidate
 * ---------------------------------------------------------------------
 */

/* Report, at INFO as core's validators do, a problem of an opfamily */
static bool
opfamily_invalid(const char *am_name, const char *opfamily, const char *problem)
{
	ereport(INFO,
			(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
			 errmsg("operator family \"%s\" of access method %s %s", opfamily, am_name, problem)));
	return false;
}

/* Is a support function of the family right: number and signature? */
static bool
valid_support(const char *am_name, const char *opfamily, Form_pg_amproc proc)
{
	bool		ok;

	switch (proc->amprocnum)
	{
		case ANN_DISTANCE_PROC:
			ok = check_amproc_signature(proc->amproc, FLOAT8OID, true, 2, 2,
										proc->amproclefttype, proc->amprocrighttype);
			break;
		case ANN_NORM_PROC:
			ok = check_amproc_signature(proc->amproc, FLOAT8OID, true, 1, 1,
										proc->amproclefttype);
			break;
		default:
			return opfamily_invalid(am_name, opfamily,
									psprintf("contains function %s with invalid support number %d",
											 format_procedure(proc->amproc), proc->amprocnum));
	}
	if (!ok)
		return opfamily_invalid(am_name, opfamily,
								psprintf("contains function %s with wrong signature for support number %d",
										 format_procedure(proc->amproc), proc->amprocnum));
	return true;
}

/*
 * Is an operator of the family right?  Ordering operators (strategy 1)
 * return a distance in float8 and sort by a btree family; search
 * operators (1 =, 2 &&, 3 @>, on filter columns) return bool.
 */
static bool
valid_operator(const char *am_name, const char *opfamily, Form_pg_amop op)
{
	bool		order = op->amoppurpose == AMOP_ORDER;
	int			last = order ? 1 : 3;

	if (op->amopstrategy < 1 || op->amopstrategy > last)
		return opfamily_invalid(am_name, opfamily,
								psprintf("contains operator %s with invalid strategy number %d",
										 format_operator(op->amopopr), op->amopstrategy));
	if (order && !OidIsValid(op->amopsortfamily))
		return opfamily_invalid(am_name, opfamily,
								psprintf("contains ordering operator %s without a sort family",
										 format_operator(op->amopopr)));
	if (!check_amop_signature(op->amopopr, order ? FLOAT8OID : BOOLOID,
							  op->amoplefttype, op->amoprighttype))
		return opfamily_invalid(am_name, opfamily,
								psprintf("contains operator %s with wrong signature",
										 format_operator(op->amopopr)));
	return true;
}

/*
 * amvalidate of both access methods.  An opclass is either a distance
 * opclass (support function 1, the distance, optionally 2, the norm, and
 * an ordering operator for its type) or a filter opclass (search
 * operators only, for a filter column).
 */
bool
AnnValidateOpclass(Oid opclassoid, const char *am_name)
{
	HeapTuple	classtup = SearchSysCache1(CLAOID, ObjectIdGetDatum(opclassoid));
	Form_pg_opclass classform;
	HeapTuple	familytup;
	char	   *opfamily;
	CatCList   *procs;
	CatCList   *ops;
	bool		result = true;
	bool		has_distance = false;
	bool		has_order = false;
	bool		has_search = false;

	if (!HeapTupleIsValid(classtup))
		elog(ERROR, "cache lookup failed for operator class %u", opclassoid);
	classform = (Form_pg_opclass) GETSTRUCT(classtup);
	familytup = SearchSysCache1(OPFAMILYOID, ObjectIdGetDatum(classform->opcfamily));
	if (!HeapTupleIsValid(familytup))
		elog(ERROR, "cache lookup failed for operator family %u", classform->opcfamily);
	opfamily = pstrdup(NameStr(((Form_pg_opfamily) GETSTRUCT(familytup))->opfname));
	ReleaseSysCache(familytup);

	procs = SearchSysCacheList1(AMPROCNUM, ObjectIdGetDatum(classform->opcfamily));
	for (int i = 0; i < procs->n_members; i++)
	{
		Form_pg_amproc proc = (Form_pg_amproc) GETSTRUCT(&procs->members[i]->tuple);

		result = valid_support(am_name, opfamily, proc) && result;
		has_distance |= proc->amprocnum == ANN_DISTANCE_PROC &&
			proc->amproclefttype == classform->opcintype;
	}
	ops = SearchSysCacheList1(AMOPSTRATEGY, ObjectIdGetDatum(classform->opcfamily));
	for (int i = 0; i < ops->n_members; i++)
	{
		Form_pg_amop op = (Form_pg_amop) GETSTRUCT(&ops->members[i]->tuple);

		result = valid_operator(am_name, opfamily, op) && result;
		if (op->amoplefttype == classform->opcintype)
		{
			has_order |= op->amoppurpose == AMOP_ORDER;
			has_search |= op->amoppurpose == AMOP_SEARCH;
		}
	}
	if (procs->n_members > 0 && (!has_distance || !has_order))
		result = opfamily_invalid(am_name, opfamily,
								  psprintf("lacks a distance function or an ordering operator for type %s",
										   format_type_be(classform->opcintype)));
	if (procs->n_members == 0 && !has_search)
		result = opfamily_invalid(am_name, opfamily,
								  psprintf("has neither a distance function nor a search operator for type %s",
										   format_type_be(classform->opcintype)));
	ReleaseCatCacheList(procs);
	ReleaseCatCacheList(ops);
	ReleaseSysCache(classtup);
	return result;
}

/* ---------------------------------------------------------------------
 * Selection
 * ---------------------------------------------------------------------
 */

typedef int (*AnnCompareFn) (const void *a, const void *b);

static void
swap_items(char *a, char *b, Size size, char *scratch)
{
	memcpy(scratch, a, size);
	memcpy(a, b, size);
	memcpy(b, scratch, size);
}

/* Restore the max-heap of items[0..n) (greatest at the root) below node */
static void
greatest_sift_down(char *items, int n, int node, Size size, AnnCompareFn cmp, char *scratch)
{
	for (;;)
	{
		int			child = 2 * node + 1;

		if (child >= n)
			return;
		if (child + 1 < n && cmp(items + size * (child + 1), items + size * child) > 0)
			child++;
		if (cmp(items + size * child, items + size * node) <= 0)
			return;
		swap_items(items + size * node, items + size * child, size, scratch);
		node = child;
	}
}

/*
 * Move the k smallest of n items of size bytes, by cmp (a total order),
 * to the front, smallest first; the others follow in no order.  A bounded
 * heap: n log k comparisons instead of a sort's n log n, for searches that
 * need the nearest few of many.
 */
void
AnnSelectSmallest(void *items, int n, int k, Size size, AnnCompareFn cmp)
{
	char	   *base = items;
	char	   *scratch;

	k = Min(k, n);
	if (k <= 0)
		return;
	scratch = palloc(size);
	for (int node = k / 2 - 1; node >= 0; node--)
		greatest_sift_down(base, k, node, size, cmp, scratch);
	for (int i = k; i < n; i++)
		if (cmp(base + size * i, base) < 0)
		{
			swap_items(base + size * i, base, size, scratch);
			greatest_sift_down(base, k, 0, size, cmp, scratch);
		}
	pfree(scratch);
	qsort(items, k, size, cmp);
}
