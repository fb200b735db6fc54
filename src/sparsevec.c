/*
 * sparsevec.c
 *		The sparsevec type: I/O, casts, distances, functions and btree
 *		comparison.
 *
 * A sparsevec holds the non-zero elements of a float32 vector of up to
 * ANN_SPARSE_MAX_DIM dimensions, at most ANN_SPARSE_MAX_NNZ of them, as
 * sorted 0-based indices and their values (layout in sparsevec.h).  The
 * text form counts from 1: '{1:0.5,3:2}/5' is [0.5,0,2,0,0].  Input may
 * list indices in any order and with zero values; the value is stored
 * sorted, without the zeros, so output is canonical.
 *
 * Distances merge the two index lists (the sparse kernels of distance.c);
 * comparison merges them too, and orders values as the dense vectors
 * they stand for would be ordered.
 */
#include "postgres.h"

#include <math.h>

#include "common/shortest_dec.h"
#include "libpq/pqformat.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "sparsevec.h"
#include "vector.h"

#define SPARSEVEC "sparsevec"

/* One element of the text form while it is parsed */
typedef struct SparseEntry
{
	int64		index;			/* as written: from 1, unchecked */
	float		value;
} SparseEntry;

/* ---------------------------------------------------------------------
 * Helpers
 * ---------------------------------------------------------------------
 */

/* A zeroed sparsevec with room for nnz elements. */
SparseVector *
InitSparseVector(int dim, int nnz)
{
	SparseVector *result = (SparseVector *) palloc0(SPARSEVEC_SIZE(nnz));

	SET_VARSIZE(result, SPARSEVEC_SIZE(nnz));
	result->dim = dim;
	result->nnz = nnz;
	return result;
}

static void
check_nnz_limit(int64 nnz)
{
	if (nnz > ANN_SPARSE_MAX_NNZ)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("sparsevec cannot have more than %d non-zero elements",
						ANN_SPARSE_MAX_NNZ)));
}

/*
 * An index must lie in first..first + dim - 1: first is 1 in the text
 * form and 0 in the binary one, and the detail counts the same way.
 */
static void
check_index(int64 index, int first, int dim)
{
	if (index < first || index >= (int64) first + dim)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("sparsevec index out of bounds"),
				 index > PG_INT32_MIN && index < PG_INT32_MAX ?
				 errdetail("Index %lld is not between %d and %d.",
						   (long long) index, first, first + dim - 1) : 0));
}

static void
report_duplicate_index(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_EXCEPTION),
			 errmsg("sparsevec indices must not contain duplicates")));
}

/*
 * A sparsevec of dim dimensions holding the non-zero ones of n values x,
 * x[i] at 0-based index[i] (or at i when index is NULL).  The indices
 * must be increasing and below dim; the number of non-zero values is
 * checked against the limit.
 */
static SparseVector *
sparsevec_build(int dim, int n, const int32 *index, const float *x)
{
	SparseVector *result;
	float	   *values;
	int			nnz = 0;

	for (int i = 0; i < n; i++)
		nnz += (x[i] != 0.0f);
	check_nnz_limit(nnz);

	result = InitSparseVector(dim, nnz);
	values = SparsevecValues(result);
	nnz = 0;
	for (int i = 0; i < n; i++)
	{
		if (x[i] != 0.0f)
		{
			result->indices[nnz] = index ? index[i] : i;
			values[nnz++] = x[i];
		}
	}
	return result;
}

/* The sparsevec of dim dense values; typmod as the casts receive it. */
static SparseVector *
sparsevec_from_dense(const float *x, int dim, int32 typmod)
{
	AnnCheckTypmodLimit(typmod, dim, ANN_SPARSE_MAX_DIM);
	return sparsevec_build(dim, dim, NULL, x);
}

/*
 * The dense elements of v as a palloc'd float array, for a cast to
 * typname, whose limit is ANN_MAX_DIM.
 */
static float *
sparsevec_to_dense(const SparseVector *v, const char *typname, int32 typmod)
{
	const float *values = SparsevecValues(v);
	float	   *x;

	AnnCheckDim(v->dim, typname);
	AnnCheckTypmod(typmod, v->dim);
	x = palloc0(sizeof(float) * v->dim);
	for (int i = 0; i < v->nnz; i++)
		x[v->indices[i]] = values[i];
	return x;
}

/* ---------------------------------------------------------------------
 * Text input and output
 * ---------------------------------------------------------------------
 */

/* A decimal integer at *p (strtoll's syntax), leaving *p after it. */
static int64
parse_integer(const char **p, const char *text, const char *detail)
{
	char	   *end;
	long long	value;

	errno = 0;
	value = strtoll(*p, &end, 10);
	if (end == *p)
		AnnReportBadText(text, SPARSEVEC, detail);
	*p = end;
	return (int64) value;		/* ERANGE clamps, and every clamp is out of range */
}

/* The character that must come next, or the detail saying it is missing */
static const char *
expect_char(const char *p, char c, const char *text, const char *detail)
{
	p = AnnSkipSpaces(p);
	if (*p != c)
		AnnReportBadText(text, SPARSEVEC, *p == '\0' ? "Unexpected end of input." : detail);
	return AnnSkipSpaces(p + 1);
}

static int
compare_entries(const void *a, const void *b)
{
	int64		ia = ((const SparseEntry *) a)->index;
	int64		ib = ((const SparseEntry *) b)->index;

	return (ia > ib) - (ia < ib);
}

/*
 * Parse '{i:x, ...}/dim' into *entries (palloc'd, in text order) and
 * return their number; *dim gets the dimensions, unchecked.  Spaces are
 * allowed between all tokens.  More than ANN_SPARSE_MAX_NNZ entries are
 * refused whether or not their values are zero.
 */
static int
parse_sparse_text(const char *text, SparseEntry **entries, int64 *dim)
{
	const char *p = AnnSkipSpaces(text);
	int			capacity = 16;
	int			n = 0;

	if (*p != '{')
		AnnReportBadText(text, SPARSEVEC, "Vector contents must start with \"{\".");
	p = AnnSkipSpaces(p + 1);
	*entries = palloc(sizeof(SparseEntry) * capacity);
	while (n > 0 || *p != '}')
	{
		check_nnz_limit(n + 1);
		if (n == capacity)
		{
			capacity *= 2;
			*entries = repalloc(*entries, sizeof(SparseEntry) * capacity);
		}
		(*entries)[n].index = parse_integer(&p, text, "Indices must be integers.");
		p = expect_char(p, ':', text, "Each index must be followed by \":\" and a value.");
		if (*p == '\0')
			AnnReportBadText(text, SPARSEVEC, "Unexpected end of input.");
		AnnParseElement(&p, text, SPARSEVEC, &(*entries)[n++].value);
		p = AnnSkipSpaces(p);
		if (*p == '}')
			break;
		p = expect_char(p, ',', text, "Elements must be separated by \",\".");
	}
	p = expect_char(p + 1, '/', text, "Expected \"/\" and the number of dimensions after \"}\".");
	*dim = parse_integer(&p, text, "The number of dimensions must be an integer.");
	if (*AnnSkipSpaces(p) != '\0')
		AnnReportBadText(text, SPARSEVEC, "Junk after the number of dimensions.");
	return n;
}

PG_FUNCTION_INFO_V1(sparsevec_in);
Datum
sparsevec_in(PG_FUNCTION_ARGS)
{
	char	   *text = PG_GETARG_CSTRING(0);
	int32		typmod = PG_GETARG_INT32(2);
	SparseEntry *entries;
	int64		dim;
	int			n = parse_sparse_text(text, &entries, &dim);
	bool		sorted = true;
	int32	   *index = palloc(sizeof(int32) * Max(n, 1));
	float	   *x = palloc(sizeof(float) * Max(n, 1));

	AnnCheckDimLimit(dim, SPARSEVEC, ANN_SPARSE_MAX_DIM);
	AnnCheckTypmodLimit(typmod, (int) dim, ANN_SPARSE_MAX_DIM);
	for (int i = 0; i < n; i++)
	{
		check_index(entries[i].index, 1, (int) dim);
		if (i > 0 && entries[i].index <= entries[i - 1].index)
			sorted = false;
	}
	if (!sorted)
		qsort(entries, n, sizeof(SparseEntry), compare_entries);
	for (int i = 0; i < n; i++)
	{
		if (i > 0 && entries[i].index == entries[i - 1].index)
			report_duplicate_index();
		index[i] = (int32) (entries[i].index - 1);
		x[i] = entries[i].value;
	}
	PG_RETURN_POINTER(sparsevec_build((int) dim, n, index, x));
}

/* '{i:x,...}/dim' with 1-based indices and each value in shortest form */
PG_FUNCTION_INFO_V1(sparsevec_out);
Datum
sparsevec_out(PG_FUNCTION_ARGS)
{
	SparseVector *v = PG_GETARG_SPARSEVEC_P(0);
	const float *values = SparsevecValues(v);
	char	   *buf = palloc((Size) v->nnz * (MAXINT8LEN + FLOAT_SHORTEST_DECIMAL_LEN + 2) +
							 MAXINT8LEN + 4);
	char	   *p = buf;

	*p++ = '{';
	for (int i = 0; i < v->nnz; i++)
	{
		if (i > 0)
			*p++ = ',';
		p += pg_ltoa(v->indices[i] + 1, p);
		*p++ = ':';
		p += float_to_shortest_decimal_bufn(values[i], p);
	}
	*p++ = '}';
	*p++ = '/';
	p += pg_ltoa(v->dim, p);
	*p = '\0';
	PG_FREE_IF_COPY(v, 0);
	PG_RETURN_CSTRING(buf);
}

PG_FUNCTION_INFO_V1(sparsevec_typmod_in);
Datum
sparsevec_typmod_in(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(AnnTypmodInLimit(PG_GETARG_ARRAYTYPE_P(0), SPARSEVEC,
									 ANN_SPARSE_MAX_DIM));
}

/* ---------------------------------------------------------------------
 * Binary input and output: int32 dim, int32 nnz, int32 unused (0), then
 * nnz int32 0-based indices and nnz float4 values, all big-endian.
 * ---------------------------------------------------------------------
 */

/* Read and check the header; returns nnz, and the dimensions in *dim. */
static int
recv_header(StringInfo buf, int *dim)
{
	int			nnz;
	int			unused;
	int			remaining;

	*dim = pq_getmsgint(buf, sizeof(int32));
	nnz = pq_getmsgint(buf, sizeof(int32));
	unused = pq_getmsgint(buf, sizeof(int32));

	AnnCheckDimLimit(*dim, SPARSEVEC, ANN_SPARSE_MAX_DIM);
	check_nnz_limit(nnz);
	if (nnz < 0 || nnz > *dim)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid binary data for type sparsevec"),
				 errdetail("%d non-zero elements for %d dimensions.", nnz, *dim)));
	if (unused != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("expected unused to be 0, not %d", unused)));
	remaining = buf->len - buf->cursor;
	if (remaining != nnz * (int) (sizeof(int32) + sizeof(float)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid binary data for type sparsevec"),
				 errdetail("Expected %d bytes of indices and values for %d elements, found %d.",
						   nnz * (int) (sizeof(int32) + sizeof(float)), nnz, remaining)));
	return nnz;
}

/*
 * Binary input is held to the invariants of the stored form, since
 * nothing sorts or filters it: increasing indices within the dimensions,
 * finite non-zero values.
 */
PG_FUNCTION_INFO_V1(sparsevec_recv);
Datum
sparsevec_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int32		typmod = PG_GETARG_INT32(2);
	int			dim;
	int			nnz = recv_header(buf, &dim);
	SparseVector *result;
	float	   *values;

	AnnCheckTypmodLimit(typmod, dim, ANN_SPARSE_MAX_DIM);
	result = InitSparseVector(dim, nnz);
	values = SparsevecValues(result);
	for (int i = 0; i < nnz; i++)
	{
		result->indices[i] = pq_getmsgint(buf, sizeof(int32));
		check_index(result->indices[i], 0, dim);
		if (i > 0 && result->indices[i] == result->indices[i - 1])
			report_duplicate_index();
		if (i > 0 && result->indices[i] < result->indices[i - 1])
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("sparsevec indices must be in ascending order")));
	}
	for (int i = 0; i < nnz; i++)
	{
		values[i] = pq_getmsgfloat4(buf);
		AnnCheckElement(values[i], SPARSEVEC);
		if (values[i] == 0.0f)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
					 errmsg("binary representation of sparsevec cannot contain zero values")));
	}
	PG_RETURN_POINTER(result);
}

PG_FUNCTION_INFO_V1(sparsevec_send);
Datum
sparsevec_send(PG_FUNCTION_ARGS)
{
	SparseVector *v = PG_GETARG_SPARSEVEC_P(0);
	const float *values = SparsevecValues(v);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendint32(&buf, v->dim);
	pq_sendint32(&buf, v->nnz);
	pq_sendint32(&buf, 0);
	for (int i = 0; i < v->nnz; i++)
		pq_sendint32(&buf, v->indices[i]);
	for (int i = 0; i < v->nnz; i++)
		pq_sendfloat4(&buf, values[i]);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/* ---------------------------------------------------------------------
 * Casts
 * ---------------------------------------------------------------------
 */

/* sparsevec(n): the length coercion */
PG_FUNCTION_INFO_V1(sparsevec);
Datum
sparsevec(PG_FUNCTION_ARGS)
{
	SparseVector *v = PG_GETARG_SPARSEVEC_P(0);

	AnnCheckTypmodLimit(PG_GETARG_INT32(1), v->dim, ANN_SPARSE_MAX_DIM);
	PG_RETURN_POINTER(v);
}

PG_FUNCTION_INFO_V1(vector_to_sparsevec);
Datum
vector_to_sparsevec(PG_FUNCTION_ARGS)
{
	Vector	   *v = PG_GETARG_VECTOR_P(0);

	PG_RETURN_POINTER(sparsevec_from_dense(v->x, v->dim, PG_GETARG_INT32(1)));
}

PG_FUNCTION_INFO_V1(halfvec_to_sparsevec);
Datum
halfvec_to_sparsevec(PG_FUNCTION_ARGS)
{
	HalfVector *h = PG_GETARG_HALFVEC_P(0);

	PG_RETURN_POINTER(sparsevec_from_dense(AnnHalfvecToFloats(h), h->dim, PG_GETARG_INT32(1)));
}

/* int4[], float4[], float8[] and numeric[]: the dense elements */
PG_FUNCTION_INFO_V1(array_to_sparsevec);
Datum
array_to_sparsevec(PG_FUNCTION_ARGS)
{
	int			dim;
	float	   *x = AnnArrayToFloatsLimit(PG_GETARG_ARRAYTYPE_P(0), SPARSEVEC,
										  ANN_SPARSE_MAX_DIM, &dim);

	PG_RETURN_POINTER(sparsevec_from_dense(x, dim, PG_GETARG_INT32(1)));
}

PG_FUNCTION_INFO_V1(sparsevec_to_vector);
Datum
sparsevec_to_vector(PG_FUNCTION_ARGS)
{
	SparseVector *v = PG_GETARG_SPARSEVEC_P(0);
	float	   *x = sparsevec_to_dense(v, "vector", PG_GETARG_INT32(1));
	Vector	   *result = InitVector(v->dim);

	memcpy(result->x, x, sizeof(float) * v->dim);
	PG_RETURN_POINTER(result);
}

PG_FUNCTION_INFO_V1(sparsevec_to_halfvec);
Datum
sparsevec_to_halfvec(PG_FUNCTION_ARGS)
{
	SparseVector *v = PG_GETARG_SPARSEVEC_P(0);

	PG_RETURN_POINTER(AnnFloatsToHalfvec(sparsevec_to_dense(v, "halfvec", PG_GETARG_INT32(1)),
										 v->dim));
}

/* ---------------------------------------------------------------------
 * Distances: the sparse kernels, with the overflow checks of vector's
 * ---------------------------------------------------------------------
 */

/* Fetch both operands as kernel operands; they must agree on dim. */
static void
sparse_operands(FunctionCallInfo fcinfo, AnnSparse *a, AnnSparse *b)
{
	SparseVector *va = PG_GETARG_SPARSEVEC_P(0);
	SparseVector *vb = PG_GETARG_SPARSEVEC_P(1);

	if (va->dim != vb->dim)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("different sparsevec dimensions %d and %d", va->dim, vb->dim)));
	*a = SparsevecOperand(va);
	*b = SparsevecOperand(vb);
}

#define SPARSE_OPERANDS(a, b) \
	AnnSparse	a; \
	AnnSparse	b; \
	sparse_operands(fcinfo, &a, &b)

PG_FUNCTION_INFO_V1(sparsevec_l2_distance);
Datum
sparsevec_l2_distance(PG_FUNCTION_ARGS)
{
	SPARSE_OPERANDS(a, b);

	PG_RETURN_FLOAT8(AnnCheckDistance(sqrt((double) AnnSparseL2Squared(&a, &b)), false));
}

PG_FUNCTION_INFO_V1(sparsevec_l2_squared_distance);
Datum
sparsevec_l2_squared_distance(PG_FUNCTION_ARGS)
{
	SPARSE_OPERANDS(a, b);

	PG_RETURN_FLOAT8(AnnCheckDistance(AnnSparseL2Squared(&a, &b), false));
}

PG_FUNCTION_INFO_V1(sparsevec_inner_product);
Datum
sparsevec_inner_product(PG_FUNCTION_ARGS)
{
	SPARSE_OPERANDS(a, b);

	PG_RETURN_FLOAT8(AnnCheckDistance(AnnSparseInnerProduct(&a, &b), false));
}

PG_FUNCTION_INFO_V1(sparsevec_negative_inner_product);
Datum
sparsevec_negative_inner_product(PG_FUNCTION_ARGS)
{
	SPARSE_OPERANDS(a, b);

	PG_RETURN_FLOAT8(-AnnCheckDistance(AnnSparseInnerProduct(&a, &b), false));
}

PG_FUNCTION_INFO_V1(sparsevec_cosine_distance);
Datum
sparsevec_cosine_distance(PG_FUNCTION_ARGS)
{
	SPARSE_OPERANDS(a, b);

	PG_RETURN_FLOAT8(AnnCheckDistance(AnnSparseCosine(&a, &b), true));
}

PG_FUNCTION_INFO_V1(sparsevec_l1_distance);
Datum
sparsevec_l1_distance(PG_FUNCTION_ARGS)
{
	SPARSE_OPERANDS(a, b);

	PG_RETURN_FLOAT8(AnnCheckDistance(AnnSparseL1(&a, &b), false));
}

/* ---------------------------------------------------------------------
 * Functions
 * ---------------------------------------------------------------------
 */

/* Euclidean norm, accumulated in double as vector_norm does */
double
SparsevecNorm(const SparseVector *v)
{
	const float *values = SparsevecValues(v);
	double		sum = 0.0;

	for (int i = 0; i < v->nnz; i++)
		sum += (double) values[i] * values[i];
	return sqrt(sum);
}

PG_FUNCTION_INFO_V1(sparsevec_l2_norm);
Datum
sparsevec_l2_norm(PG_FUNCTION_ARGS)
{
	PG_RETURN_FLOAT8(SparsevecNorm(PG_GETARG_SPARSEVEC_P(0)));
}

/*
 * v / |v|; the zero vector stays zero.  An element that the division
 * rounds to zero (one far smaller than the largest) is dropped, so the
 * result keeps the no-stored-zeros invariant.
 */
PG_FUNCTION_INFO_V1(sparsevec_l2_normalize);
Datum
sparsevec_l2_normalize(PG_FUNCTION_ARGS)
{
	SparseVector *v = PG_GETARG_SPARSEVEC_P(0);
	const float *values = SparsevecValues(v);
	double		norm = SparsevecNorm(v);
	float	   *scaled = palloc(sizeof(float) * Max(v->nnz, 1));

	for (int i = 0; i < v->nnz; i++)
		scaled[i] = (float) (values[i] / norm);
	PG_RETURN_POINTER(sparsevec_build(v->dim, v->nnz, v->indices, scaled));
}

/* ---------------------------------------------------------------------
 * Comparison: the order of the dense vectors, as vector_cmp has it
 * (elements lexicographically over the common dimensions, then the
 * shorter first), computed by merging the index lists.
 * ---------------------------------------------------------------------
 */

static int
sparse_compare(const SparseVector *a, const SparseVector *b)
{
	const float *ax = SparsevecValues(a);
	const float *bx = SparsevecValues(b);
	int32		common = Min(a->dim, b->dim);
	int			i = 0;
	int			j = 0;

	for (;;)
	{
		int32		ia = i < a->nnz ? a->indices[i] : common;
		int32		ib = j < b->nnz ? b->indices[j] : common;
		int32		at = Min(ia, ib);	/* where either holds a value next */
		float		x;
		float		y;

		if (at >= common)
			break;
		x = ia == at ? ax[i] : 0.0f;
		y = ib == at ? bx[j] : 0.0f;
		if (x != y)
			return x < y ? -1 : 1;
		i += (ia == at);
		j += (ib == at);
	}
	return (a->dim > b->dim) - (a->dim < b->dim);
}

static int
sparsevec_compare(FunctionCallInfo fcinfo)
{
	SparseVector *a = PG_GETARG_SPARSEVEC_P(0);
	SparseVector *b = PG_GETARG_SPARSEVEC_P(1);
	int			result = sparse_compare(a, b);

	PG_FREE_IF_COPY(a, 0);
	PG_FREE_IF_COPY(b, 1);
	return result;
}

PG_FUNCTION_INFO_V1(sparsevec_cmp);
Datum
sparsevec_cmp(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(sparsevec_compare(fcinfo));
}

PG_FUNCTION_INFO_V1(sparsevec_lt);
Datum
sparsevec_lt(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(sparsevec_compare(fcinfo) < 0);
}

PG_FUNCTION_INFO_V1(sparsevec_le);
Datum
sparsevec_le(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(sparsevec_compare(fcinfo) <= 0);
}

PG_FUNCTION_INFO_V1(sparsevec_eq);
Datum
sparsevec_eq(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(sparsevec_compare(fcinfo) == 0);
}

PG_FUNCTION_INFO_V1(sparsevec_ne);
Datum
sparsevec_ne(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(sparsevec_compare(fcinfo) != 0);
}

PG_FUNCTION_INFO_V1(sparsevec_ge);
Datum
sparsevec_ge(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(sparsevec_compare(fcinfo) >= 0);
}

PG_FUNCTION_INFO_V1(sparsevec_gt);
Datum
sparsevec_gt(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(sparsevec_compare(fcinfo) > 0);
}
