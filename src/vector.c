/*
 * vector.c
 *		The vector type: I/O, casts, operators, functions and aggregates.
 *
 * Also home to the helpers that halfvec.c shares (see vector.h): the text
 * parser works in float32 and halfvec narrows its result, dimension and
 * typmod checks take the type name for their messages, and both types'
 * avg aggregates keep the same float8[] state, {count, sum_1 .. sum_dim}.
 *
 * All distance arithmetic goes through the kernels in distance.c.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "common/shortest_dec.h"
#include "lib/stringinfo.h"
#include "libpq/pqformat.h"
#include "parser/scansup.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"

#include "vector.h"

/* ---------------------------------------------------------------------
 * Shared helpers
 * ---------------------------------------------------------------------
 */

Vector *
InitVector(int dim)
{
	Vector	   *result = (Vector *) palloc0(VECTOR_SIZE(dim));

	SET_VARSIZE(result, VECTOR_SIZE(dim));
	result->dim = dim;
	return result;
}

HalfVector *
InitHalfVector(int dim)
{
	HalfVector *result = (HalfVector *) palloc0(HALFVEC_SIZE(dim));

	SET_VARSIZE(result, HALFVEC_SIZE(dim));
	result->dim = dim;
	return result;
}

/* A value must have 1..ANN_MAX_DIM elements. */
void
AnnCheckDim(int dim, const char *typname)
{
	AnnCheckDimLimit(dim, typname, ANN_MAX_DIM);
}

/* The same for a type whose limit is max_dim (sparsevec's is larger). */
void
AnnCheckDimLimit(int64 dim, const char *typname, int max_dim)
{
	if (dim < 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("%s must have at least 1 dimension", typname)));
	if (dim > max_dim)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s cannot have more than %d dimensions", typname, max_dim)));
}

/* Binary operators need operands of equal length; returns that length. */
int
AnnCheckDims(int dim_a, int dim_b)
{
	if (dim_a != dim_b)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("different vector dimensions %d and %d", dim_a, dim_b)));
	return dim_a;
}

/*
 * A value stored in a column declared vector(n) must have n elements.
 * typmod is -1 (none) or what AnnTypmodIn accepted, unless a caller
 * passed another one to a cast or input function by hand.
 */
void
AnnCheckTypmod(int typmod, int dim)
{
	AnnCheckTypmodLimit(typmod, dim, ANN_MAX_DIM);
}

/* The same for a type whose typmods go up to max_dim. */
void
AnnCheckTypmodLimit(int typmod, int dim, int max_dim)
{
	if (typmod != -1 && (typmod < 1 || typmod > max_dim))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid type modifier %d", typmod)));
	if (typmod != -1 && typmod != dim)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("expected %d dimensions, not %d", typmod, dim)));
}

/* Elements are finite: NaN and infinities are refused. */
void
AnnCheckElement(float value, const char *typname)
{
	if (isnan(value))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("NaN not allowed in %s", typname)));
	if (isinf(value))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("infinite value not allowed in %s", typname)));
}

/* The typmod input function of both types: one dimension count. */
int
AnnTypmodIn(ArrayType *ta, const char *typname)
{
	return AnnTypmodInLimit(ta, typname, ANN_MAX_DIM);
}

/* The same for a type whose typmods go up to max_dim. */
int
AnnTypmodInLimit(ArrayType *ta, const char *typname, int max_dim)
{
	int32	   *mods;
	int			n;

	mods = ArrayGetIntegerTypmods(ta, &n);
	if (n != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid type modifier")));
	if (mods[0] < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("dimensions for type %s must be at least 1", typname)));
	if (mods[0] > max_dim)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("dimensions for type %s cannot exceed %d", typname, max_dim)));
	return mods[0];
}

char *
AnnTypmodOut(int32 typmod)
{
	return typmod < 0 ? pstrdup("") : psprintf("(%d)", (int) typmod);
}

void
AnnReportBadText(const char *text, const char *typname, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid input syntax for type %s: \"%s\"", typname, text),
			 errdetail_internal("%s", detail)));
}

const char *
AnnSkipSpaces(const char *p)
{
	while (scanner_isspace(*p))
		p++;
	return p;
}

/*
 * Parse one element at *p into *value, leaving *p after it.  Overflow is
 * an error; underflow to a subnormal or zero is accepted.
 */
void
AnnParseElement(const char **p, const char *text, const char *typname, float *value)
{
	char	   *end;

	errno = 0;
	*value = strtof(*p, &end);
	if (end == *p)
		AnnReportBadText(text, typname, "Elements must be numbers.");
	if (errno == ERANGE && isinf(*value))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("\"%s\" is out of range for type %s",
						pnstrdup(*p, end - *p), typname)));
	AnnCheckElement(*value, typname);
	*p = end;
}

/*
 * Parse the text form '[x1, x2, ...]' into a palloc'd float array and its
 * length.  Whitespace is allowed around brackets, commas and numbers.
 */
float *
AnnParseText(const char *text, const char *typname, int *dim)
{
	const char *p = AnnSkipSpaces(text);
	int			capacity = 64;
	int			n = 0;
	float	   *values;

	if (*p != '[')
		AnnReportBadText(text, typname, "Vector contents must start with \"[\".");
	p = AnnSkipSpaces(p + 1);
	if (*p == ']')
		AnnCheckDim(0, typname);

	values = palloc(sizeof(float) * capacity);
	for (;;)
	{
		if (n == ANN_MAX_DIM)
			AnnCheckDim(n + 1, typname);
		if (n == capacity)
		{
			capacity *= 2;
			values = repalloc(values, sizeof(float) * capacity);
		}
		p = AnnSkipSpaces(p);
		if (*p == '\0')
			AnnReportBadText(text, typname, "Unexpected end of input.");
		AnnParseElement(&p, text, typname, &values[n++]);
		p = AnnSkipSpaces(p);
		if (*p == ']')
			break;
		if (*p != ',')
			AnnReportBadText(text, typname, *p == '\0' ?
							 "Unexpected end of input." :
							 "Elements must be separated by \",\".");
		p++;
	}
	if (*AnnSkipSpaces(p + 1) != '\0')
		AnnReportBadText(text, typname, "Junk after closing bracket.");
	*dim = n;
	return values;
}

static float
float8_to_element(double value, const char *typname)
{
	float		result = (float) value;

	if (isinf(result) && !isinf(value))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("\"%g\" is out of range for type %s", value, typname)));
	AnnCheckElement(result, typname);
	return result;
}

/*
 * Read a one-dimensional int4, float4, float8 or numeric array into a
 * palloc'd float array.  NULL elements and several dimensions are refused.
 */
float *
AnnArrayToFloats(ArrayType *array, const char *typname, int *dim)
{
	return AnnArrayToFloatsLimit(array, typname, ANN_MAX_DIM, dim);
}

/* The same for a type that allows up to max_dim elements. */
float *
AnnArrayToFloatsLimit(ArrayType *array, const char *typname, int max_dim, int *dim)
{
	Oid			elemtype = ARR_ELEMTYPE(array);
	int16		typlen;
	bool		typbyval;
	char		typalign;
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	float	   *values;

	if (ARR_NDIM(array) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("array must be 1-D")));
	if (array_contains_nulls(array))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("array must not contain nulls")));

	/* check the length before deconstructing a possibly huge array */
	AnnCheckDimLimit(ArrayGetNItems(ARR_NDIM(array), ARR_DIMS(array)), typname, max_dim);

	get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
	deconstruct_array(array, elemtype, typlen, typbyval, typalign, &elems, &nulls, &n);

	values = palloc(sizeof(float) * n);
	for (int i = 0; i < n; i++)
	{
		switch (elemtype)
		{
			case INT4OID:
				values[i] = (float) DatumGetInt32(elems[i]);
				break;
			case FLOAT4OID:
				values[i] = DatumGetFloat4(elems[i]);
				AnnCheckElement(values[i], typname);
				break;
			case FLOAT8OID:
				values[i] = float8_to_element(DatumGetFloat8(elems[i]), typname);
				break;
			case NUMERICOID:
				values[i] = float8_to_element(DatumGetFloat8(DirectFunctionCall1(numeric_float8,
																				 elems[i])),
											  typname);
				break;
			default:
				ereport(ERROR,
						(errcode(ERRCODE_DATA_EXCEPTION),
						 errmsg("unsupported array type")));
		}
	}
	*dim = n;
	return values;
}

/*
 * Lexicographic order on elements, then the shorter value first: the
 * btree order of both types.
 */
int
AnnCompareFloats(const float *a, int dim_a, const float *b, int dim_b)
{
	int			n = Min(dim_a, dim_b);

	for (int i = 0; i < n; i++)
	{
		if (a[i] < b[i])
			return -1;
		if (a[i] > b[i])
			return 1;
	}
	return (dim_a > dim_b) - (dim_a < dim_b);
}

/* ---------------------------------------------------------------------
 * The avg aggregate's state: float8[] {count, sum_1, ..., sum_dim}.
 * The initial state is {0}; the first value fixes the dimension.
 *
 * The state functions are callable from SQL with any float8[], so every
 * state is checked before it is used: one dimension, no NULLs, at most
 * ANN_MAX_DIM sums, and a whole count that is 0 exactly when there are
 * no sums yet (as every state the aggregate makes is).
 * ---------------------------------------------------------------------
 */

static void
report_bad_state(const char *fname, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_EXCEPTION),
			 errmsg("%s: expected state array", fname),
			 errdetail_internal("%s", detail)));
}

/*
 * The values of a checked state, with *dim set to its number of sums
 * (0 for the empty state).  typname names the limit in its message.
 */
static float8 *
state_values(ArrayType *state, const char *fname, const char *typname, int *dim)
{
	float8	   *values;
	float8		count;

	if (ARR_ELEMTYPE(state) != FLOAT8OID)
		elog(ERROR, "%s: expected a float8[] aggregate state", fname);
	if (ARR_NDIM(state) != 1)
		report_bad_state(fname, "The state must be a one-dimensional array.");
	if (ARR_HASNULL(state) && array_contains_nulls(state))
		report_bad_state(fname, "The state must not contain nulls.");
	*dim = ARR_DIMS(state)[0] - 1;
	if (*dim > 0)
		AnnCheckDim(*dim, typname);
	values = (float8 *) ARR_DATA_PTR(state);
	count = values[0];
	if (!(count >= 0.0 && count == floor(count) && !isinf(count)) ||
		(count == 0.0) != (*dim == 0))
		report_bad_state(fname, "The count must be a whole number, 0 when there are no sums and positive otherwise.");
	return values;
}

static ArrayType *
new_state(int dim)
{
	Datum	   *elems = palloc(sizeof(Datum) * (dim + 1));
	ArrayType  *result;

	for (int i = 0; i <= dim; i++)
		elems[i] = Float8GetDatum(0.0);
	result = construct_array(elems, dim + 1, FLOAT8OID, sizeof(float8),
							 FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
	pfree(elems);
	return result;
}

/*
 * Add one value to the state.  Called as an aggregate transition, the
 * state is ours to change in place (as int4_avg_accum does).
 */
ArrayType *
AnnAccumulate(ArrayType *state, const float *x, int dim, const char *fname,
			  const char *typname)
{
	int			sdim;
	float8	   *values = state_values(state, fname, typname, &sdim);

	if (sdim == 0)
	{
		state = new_state(dim);
		values = (float8 *) ARR_DATA_PTR(state);
	}
	else
		AnnCheckDims(sdim, dim);

	values[0] += 1.0;
	for (int i = 0; i < dim; i++)
		values[i + 1] += x[i];
	return state;
}

/*
 * Merge two partial states (the combine function of parallel avg, shared
 * by both types, whose limit is the same).
 */
ArrayType *
AnnCombine(ArrayType *a, ArrayType *b, const char *fname)
{
	int			na,
				nb;
	float8	   *va = state_values(a, fname, "vector", &na);
	float8	   *vb = state_values(b, fname, "vector", &nb);
	ArrayType  *result;
	float8	   *vr;

	if (nb == 0)
		return a;
	if (na == 0)
		return b;
	AnnCheckDims(na, nb);

	result = new_state(na);
	vr = (float8 *) ARR_DATA_PTR(result);
	for (int i = 0; i <= na; i++)
		vr[i] = va[i] + vb[i];
	return result;
}

/*
 * The mean as a palloc'd float array, or NULL when no rows were seen.
 * Each element must be a value of the type: finite, and within float32.
 */
float *
AnnAverage(ArrayType *state, const char *fname, const char *typname, int *dim)
{
	float8	   *values = state_values(state, fname, typname, dim);
	float	   *result;

	if (*dim == 0)
		return NULL;
	result = palloc(sizeof(float) * *dim);
	for (int i = 0; i < *dim; i++)
	{
		result[i] = (float) (values[i + 1] / values[0]);
		if (isinf(result[i]) && !isinf(values[i + 1]))
			float_overflow_error();
		AnnCheckElement(result[i], typname);
	}
	return result;
}

/* ---------------------------------------------------------------------
 * I/O
 * ---------------------------------------------------------------------
 */

static Vector *
vector_from_floats(const float *values, int dim)
{
	Vector	   *result = InitVector(dim);

	memcpy(result->x, values, sizeof(float) * dim);
	return result;
}

PG_FUNCTION_INFO_V1(vector_in);
Datum
vector_in(PG_FUNCTION_ARGS)
{
	char	   *text = PG_GETARG_CSTRING(0);
	int32		typmod = PG_GETARG_INT32(2);
	int			dim;
	float	   *values = AnnParseText(text, "vector", &dim);

	AnnCheckTypmod(typmod, dim);
	PG_RETURN_POINTER(vector_from_floats(values, dim));
}

/* Each element in its shortest form that reads back to the same float. */
PG_FUNCTION_INFO_V1(vector_out);
Datum
vector_out(PG_FUNCTION_ARGS)
{
	Vector	   *v = PG_GETARG_VECTOR_P(0);
	char	   *buf = palloc(v->dim * FLOAT_SHORTEST_DECIMAL_LEN + 2);
	char	   *p = buf;

	*p++ = '[';
	for (int i = 0; i < v->dim; i++)
	{
		if (i > 0)
			*p++ = ',';
		p += float_to_shortest_decimal_bufn(v->x[i], p);
	}
	*p++ = ']';
	*p = '\0';
	PG_FREE_IF_COPY(v, 0);
	PG_RETURN_CSTRING(buf);
}

PG_FUNCTION_INFO_V1(vector_typmod_in);
Datum
vector_typmod_in(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(AnnTypmodIn(PG_GETARG_ARRAYTYPE_P(0), "vector"));
}

PG_FUNCTION_INFO_V1(vector_typmod_out);
Datum
vector_typmod_out(PG_FUNCTION_ARGS)
{
	PG_RETURN_CSTRING(AnnTypmodOut(PG_GETARG_INT32(0)));
}

/*
 * Read the binary header shared by both types (int16 dim, int16 unused)
 * and check that exactly dim elements of elem_size bytes follow.
 */
int
AnnRecvHeader(StringInfo buf, int elem_size, const char *typname)
{
	int			dim = pq_getmsgint(buf, sizeof(int16));
	int			unused = pq_getmsgint(buf, sizeof(int16));
	int			remaining;

	AnnCheckDim(dim, typname);
	if (unused != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("expected unused to be 0, not %d", unused)));
	remaining = buf->len - buf->cursor;
	if (remaining != dim * elem_size)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid binary data for type %s", typname),
				 errdetail("Expected %d bytes of elements for %d dimensions, found %d.",
						   dim * elem_size, dim, remaining)));
	return dim;
}

PG_FUNCTION_INFO_V1(vector_recv);
Datum
vector_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int32		typmod = PG_GETARG_INT32(2);
	int			dim = AnnRecvHeader(buf, sizeof(float4), "vector");
	Vector	   *result;

	AnnCheckTypmod(typmod, dim);
	result = InitVector(dim);
	for (int i = 0; i < dim; i++)
	{
		result->x[i] = pq_getmsgfloat4(buf);
		AnnCheckElement(result->x[i], "vector");
	}
	PG_RETURN_POINTER(result);
}

PG_FUNCTION_INFO_V1(vector_send);
Datum
vector_send(PG_FUNCTION_ARGS)
{
	Vector	   *v = PG_GETARG_VECTOR_P(0);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendint16(&buf, v->dim);
	pq_sendint16(&buf, 0);
	for (int i = 0; i < v->dim; i++)
		pq_sendfloat4(&buf, v->x[i]);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/* ---------------------------------------------------------------------
 * Casts
 * ---------------------------------------------------------------------
 */

/* vector(n): the length coercion */
PG_FUNCTION_INFO_V1(vector);
Datum
vector(PG_FUNCTION_ARGS)
{
	Vector	   *v = PG_GETARG_VECTOR_P(0);

	AnnCheckTypmod(PG_GETARG_INT32(1), v->dim);
	PG_RETURN_POINTER(v);
}

PG_FUNCTION_INFO_V1(array_to_vector);
Datum
array_to_vector(PG_FUNCTION_ARGS)
{
	int			dim;
	float	   *values = AnnArrayToFloats(PG_GETARG_ARRAYTYPE_P(0), "vector", &dim);

	AnnCheckTypmod(PG_GETARG_INT32(1), dim);
	PG_RETURN_POINTER(vector_from_floats(values, dim));
}

PG_FUNCTION_INFO_V1(vector_to_float4);
Datum
vector_to_float4(PG_FUNCTION_ARGS)
{
	Vector	   *v = PG_GETARG_VECTOR_P(0);
	Datum	   *elems = palloc(sizeof(Datum) * v->dim);

	for (int i = 0; i < v->dim; i++)
		elems[i] = Float4GetDatum(v->x[i]);
	PG_RETURN_POINTER(construct_array(elems, v->dim, FLOAT4OID, sizeof(float4),
									  true, TYPALIGN_INT));
}

/* ---------------------------------------------------------------------
 * Distances
 * ---------------------------------------------------------------------
 */

/*
 * A distance from the kernels, which accumulate in float32: a sum that
 * overflowed (an infinity, or NaN from infinities of both signs; for
 * cosine, +Infinity) raises the error the arithmetic operators raise,
 * rather than returning a value no finite vectors have.  NaN from the
 * cosine of a zero vector passes (nan_ok), as in pgvector.
 */
double
AnnCheckDistance(double distance, bool nan_ok)
{
	if (isinf(distance) || (isnan(distance) && !nan_ok))
		float_overflow_error();
	return distance;
}

/* Fetch two operands and their common length. */
#define VECTOR_OPERANDS(a, b, dim) \
	Vector	   *a = PG_GETARG_VECTOR_P(0); \
	Vector	   *b = PG_GETARG_VECTOR_P(1); \
	int			dim = AnnCheckDims(a->dim, b->dim)

PG_FUNCTION_INFO_V1(l2_distance);
Datum
l2_distance(PG_FUNCTION_ARGS)
{
	VECTOR_OPERANDS(a, b, dim);

	PG_RETURN_FLOAT8(AnnCheckDistance(sqrt((double) ann_kernels->l2_squared(a->x, b->x, dim)),
									   false));
}

PG_FUNCTION_INFO_V1(vector_l2_squared_distance);
Datum
vector_l2_squared_distance(PG_FUNCTION_ARGS)
{
	VECTOR_OPERANDS(a, b, dim);

	PG_RETURN_FLOAT8(AnnCheckDistance(ann_kernels->l2_squared(a->x, b->x, dim), false));
}

PG_FUNCTION_INFO_V1(inner_product);
Datum
inner_product(PG_FUNCTION_ARGS)
{
	VECTOR_OPERANDS(a, b, dim);

	PG_RETURN_FLOAT8(AnnCheckDistance(ann_kernels->inner_product(a->x, b->x, dim), false));
}

PG_FUNCTION_INFO_V1(vector_negative_inner_product);
Datum
vector_negative_inner_product(PG_FUNCTION_ARGS)
{
	VECTOR_OPERANDS(a, b, dim);

	PG_RETURN_FLOAT8(-AnnCheckDistance(ann_kernels->inner_product(a->x, b->x, dim), false));
}

PG_FUNCTION_INFO_V1(cosine_distance);
Datum
cosine_distance(PG_FUNCTION_ARGS)
{
	VECTOR_OPERANDS(a, b, dim);

	PG_RETURN_FLOAT8(AnnCheckDistance(ann_kernels->cosine(a->x, b->x, dim), true));
}

PG_FUNCTION_INFO_V1(l1_distance);
Datum
l1_distance(PG_FUNCTION_ARGS)
{
	VECTOR_OPERANDS(a, b, dim);

	PG_RETURN_FLOAT8(AnnCheckDistance(ann_kernels->l1(a->x, b->x, dim), false));
}

/* ---------------------------------------------------------------------
 * Functions
 * ---------------------------------------------------------------------
 */

PG_FUNCTION_INFO_V1(vector_dims);
Datum
vector_dims(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(PG_GETARG_VECTOR_P(0)->dim);
}

/* Euclidean norm, accumulated in double */
static double
float_norm(const float *x, int dim)
{
	double		sum = 0.0;

	for (int i = 0; i < dim; i++)
		sum += (double) x[i] * x[i];
	return sqrt(sum);
}

PG_FUNCTION_INFO_V1(vector_norm);
Datum
vector_norm(PG_FUNCTION_ARGS)
{
	Vector	   *v = PG_GETARG_VECTOR_P(0);

	PG_RETURN_FLOAT8(float_norm(v->x, v->dim));
}

PG_FUNCTION_INFO_V1(vector_l2_normalize);
Datum
vector_l2_normalize(PG_FUNCTION_ARGS)
{
	Vector	   *v = PG_GETARG_VECTOR_P(0);
	double		norm = float_norm(v->x, v->dim);
	Vector	   *result = InitVector(v->dim);

	/* the zero vector stays zero */
	if (norm > 0)
		for (int i = 0; i < v->dim; i++)
			result->x[i] = (float) (v->x[i] / norm);
	PG_RETURN_POINTER(result);
}

/*
 * subvector(v, start, count): elements start .. start + count - 1,
 * counting from 1, cut to the ones that exist, as substring() does.
 * Sets *first (0-based) and returns the length.
 */
int
AnnSubvectorRange(int dim, int32 start, int32 count, const char *typname, int *first)
{
	int64		from = Max((int64) start, 1);
	int64		to = Min((int64) start + count, (int64) dim + 1);

	if (count < 1 || to <= from)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("%s must have at least 1 dimension", typname)));
	*first = (int) (from - 1);
	return (int) (to - from);
}

PG_FUNCTION_INFO_V1(subvector);
Datum
subvector(PG_FUNCTION_ARGS)
{
	Vector	   *v = PG_GETARG_VECTOR_P(0);
	int			first;
	int			dim = AnnSubvectorRange(v->dim, PG_GETARG_INT32(1), PG_GETARG_INT32(2),
										"vector", &first);

	PG_RETURN_POINTER(vector_from_floats(v->x + first, dim));
}

/* ---------------------------------------------------------------------
 * Arithmetic
 * ---------------------------------------------------------------------
 */

/*
 * Elementwise a op b into result (which may be a).  An infinite result is
 * an overflow; a product of two non-zero elements that rounds to zero is
 * an underflow, as in PostgreSQL's float4 arithmetic (a sum or difference
 * of floats is zero only when exact, so cannot underflow).
 */
void
AnnElementwise(const float *a, const float *b, float *result, int dim, AnnArithOp op)
{
	for (int i = 0; i < dim; i++)
	{
		bool		nonzero_product = false;

		switch (op)
		{
			case ANN_ADD:
				result[i] = a[i] + b[i];
				break;
			case ANN_SUB:
				result[i] = a[i] - b[i];
				break;
			case ANN_MUL:
				nonzero_product = a[i] != 0.0f && b[i] != 0.0f;
				result[i] = a[i] * b[i];
				break;
		}
		if (isinf(result[i]))
			float_overflow_error();
		if (result[i] == 0.0f && nonzero_product)
			float_underflow_error();
	}
}

static Datum
vector_arith(FunctionCallInfo fcinfo, AnnArithOp op)
{
	VECTOR_OPERANDS(a, b, dim);
	Vector	   *result = InitVector(dim);

	AnnElementwise(a->x, b->x, result->x, dim, op);
	PG_RETURN_POINTER(result);
}

PG_FUNCTION_INFO_V1(vector_add);
Datum
vector_add(PG_FUNCTION_ARGS)
{
	return vector_arith(fcinfo, ANN_ADD);
}

PG_FUNCTION_INFO_V1(vector_sub);
Datum
vector_sub(PG_FUNCTION_ARGS)
{
	return vector_arith(fcinfo, ANN_SUB);
}

PG_FUNCTION_INFO_V1(vector_mul);
Datum
vector_mul(PG_FUNCTION_ARGS)
{
	return vector_arith(fcinfo, ANN_MUL);
}

PG_FUNCTION_INFO_V1(vector_concat);
Datum
vector_concat(PG_FUNCTION_ARGS)
{
	Vector	   *a = PG_GETARG_VECTOR_P(0);
	Vector	   *b = PG_GETARG_VECTOR_P(1);
	Vector	   *result;

	AnnCheckDim(a->dim + b->dim, "vector");
	result = InitVector(a->dim + b->dim);
	memcpy(result->x, a->x, sizeof(float) * a->dim);
	memcpy(result->x + a->dim, b->x, sizeof(float) * b->dim);
	PG_RETURN_POINTER(result);
}

/* ---------------------------------------------------------------------
 * Comparison (the btree opclass)
 * ---------------------------------------------------------------------
 */

static int
vector_compare(FunctionCallInfo fcinfo)
{
	Vector	   *a = PG_GETARG_VECTOR_P(0);
	Vector	   *b = PG_GETARG_VECTOR_P(1);
	int			result = AnnCompareFloats(a->x, a->dim, b->x, b->dim);

	/* sorts call this many times in one memory context */
	PG_FREE_IF_COPY(a, 0);
	PG_FREE_IF_COPY(b, 1);
	return result;
}

PG_FUNCTION_INFO_V1(vector_cmp);
Datum
vector_cmp(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(vector_compare(fcinfo));
}

PG_FUNCTION_INFO_V1(vector_lt);
Datum
vector_lt(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(vector_compare(fcinfo) < 0);
}

PG_FUNCTION_INFO_V1(vector_le);
Datum
vector_le(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(vector_compare(fcinfo) <= 0);
}

PG_FUNCTION_INFO_V1(vector_eq);
Datum
vector_eq(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(vector_compare(fcinfo) == 0);
}

PG_FUNCTION_INFO_V1(vector_ne);
Datum
vector_ne(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(vector_compare(fcinfo) != 0);
}

PG_FUNCTION_INFO_V1(vector_ge);
Datum
vector_ge(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(vector_compare(fcinfo) >= 0);
}

PG_FUNCTION_INFO_V1(vector_gt);
Datum
vector_gt(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(vector_compare(fcinfo) > 0);
}

/* ---------------------------------------------------------------------
 * Aggregates: avg via a float8[] state, sum via vector_add
 * ---------------------------------------------------------------------
 */

PG_FUNCTION_INFO_V1(vector_accum);
Datum
vector_accum(PG_FUNCTION_ARGS)
{
	ArrayType  *state = PG_GETARG_ARRAYTYPE_P(0);
	Vector	   *v = PG_GETARG_VECTOR_P(1);

	if (!AggCheckCallContext(fcinfo, NULL))
		state = (ArrayType *) PG_DETOAST_DATUM_COPY(PG_GETARG_DATUM(0));
	PG_RETURN_ARRAYTYPE_P(AnnAccumulate(state, v->x, v->dim, "vector_accum", "vector"));
}

PG_FUNCTION_INFO_V1(vector_combine);
Datum
vector_combine(PG_FUNCTION_ARGS)
{
	PG_RETURN_ARRAYTYPE_P(AnnCombine(PG_GETARG_ARRAYTYPE_P(0),
									 PG_GETARG_ARRAYTYPE_P(1), "vector_combine"));
}

PG_FUNCTION_INFO_V1(vector_avg);
Datum
vector_avg(PG_FUNCTION_ARGS)
{
	int			dim;
	float	   *mean = AnnAverage(PG_GETARG_ARRAYTYPE_P(0), "vector_avg", "vector", &dim);

	if (mean == NULL)
		PG_RETURN_NULL();
	PG_RETURN_POINTER(vector_from_floats(mean, dim));
}
