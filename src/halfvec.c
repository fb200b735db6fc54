/*
 * halfvec.c
 *		The halfvec type: IEEE float16 elements, half the size of vector.
 *
 * Values are widened to float32 for everything but storage and the
 * distance kernels, which read float16 directly (F16C / AVX-512 do the
 * widening in registers).  Narrowing rounds to nearest even; a value past
 * the float16 range (65504) is an error, never an infinity.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "common/shortest_dec.h"
#include "libpq/pqformat.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"

#include "vector.h"

static AnnHalf
narrow_element(float value)
{
	AnnHalf		h = AnnFloatToHalf(value);

	if (AnnHalfIsInf(h))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("\"%g\" is out of range for type halfvec", value)));
	return h;
}

/* A halfvec of dim values, each narrowed or refused as out of range */
HalfVector *
AnnFloatsToHalfvec(const float *values, int dim)
{
	HalfVector *result = InitHalfVector(dim);

	for (int i = 0; i < dim; i++)
		result->x[i] = narrow_element(values[i]);
	return result;
}

/* The elements of h widened into a palloc'd float array. */
float *
AnnHalfvecToFloats(const HalfVector *h)
{
	float	   *values = palloc(sizeof(float) * h->dim);

	ann_kernels->half_to_float(h->x, values, h->dim);
	return values;
}

/* ---------------------------------------------------------------------
 * I/O
 * ---------------------------------------------------------------------
 */

PG_FUNCTION_INFO_V1(halfvec_in);
Datum
halfvec_in(PG_FUNCTION_ARGS)
{
	char	   *text = PG_GETARG_CSTRING(0);
	int32		typmod = PG_GETARG_INT32(2);
	int			dim;
	float	   *values = AnnParseText(text, "halfvec", &dim);

	AnnCheckTypmod(typmod, dim);
	PG_RETURN_POINTER(AnnFloatsToHalfvec(values, dim));
}

/*
 * Each element as the shortest text that reads back to the same float32
 * as its float16 value widens to, so 1.234 (stored as 1.234375) prints
 * as 1.234375: the text clients of pgvector see for the same value.
 * Every such text reads back to the same float16 too.
 */
PG_FUNCTION_INFO_V1(halfvec_out);
Datum
halfvec_out(PG_FUNCTION_ARGS)
{
	HalfVector *v = PG_GETARG_HALFVEC_P(0);
	char	   *buf = palloc(v->dim * FLOAT_SHORTEST_DECIMAL_LEN + 2);
	char	   *p = buf;

	*p++ = '[';
	for (int i = 0; i < v->dim; i++)
	{
		if (i > 0)
			*p++ = ',';
		p += float_to_shortest_decimal_bufn(AnnHalfToFloat(v->x[i]), p);
	}
	*p++ = ']';
	*p = '\0';
	PG_FREE_IF_COPY(v, 0);
	PG_RETURN_CSTRING(buf);
}

PG_FUNCTION_INFO_V1(halfvec_typmod_in);
Datum
halfvec_typmod_in(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(AnnTypmodIn(PG_GETARG_ARRAYTYPE_P(0), "halfvec"));
}

PG_FUNCTION_INFO_V1(halfvec_recv);
Datum
halfvec_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int32		typmod = PG_GETARG_INT32(2);
	int			dim = AnnRecvHeader(buf, sizeof(AnnHalf), "halfvec");
	HalfVector *result;

	AnnCheckTypmod(typmod, dim);
	result = InitHalfVector(dim);
	for (int i = 0; i < dim; i++)
	{
		result->x[i] = (AnnHalf) pq_getmsgint(buf, sizeof(AnnHalf));
		AnnCheckElement(AnnHalfToFloat(result->x[i]), "halfvec");
	}
	PG_RETURN_POINTER(result);
}

PG_FUNCTION_INFO_V1(halfvec_send);
Datum
halfvec_send(PG_FUNCTION_ARGS)
{
	HalfVector *v = PG_GETARG_HALFVEC_P(0);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendint16(&buf, v->dim);
	pq_sendint16(&buf, 0);
	for (int i = 0; i < v->dim; i++)
		pq_sendint16(&buf, v->x[i]);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/* ---------------------------------------------------------------------
 * Casts
 * ---------------------------------------------------------------------
 */

PG_FUNCTION_INFO_V1(halfvec);
Datum
halfvec(PG_FUNCTION_ARGS)
{
	HalfVector *v = PG_GETARG_HALFVEC_P(0);

	AnnCheckTypmod(PG_GETARG_INT32(1), v->dim);
	PG_RETURN_POINTER(v);
}

PG_FUNCTION_INFO_V1(array_to_halfvec);
Datum
array_to_halfvec(PG_FUNCTION_ARGS)
{
	int			dim;
	float	   *values = AnnArrayToFloats(PG_GETARG_ARRAYTYPE_P(0), "halfvec", &dim);

	AnnCheckTypmod(PG_GETARG_INT32(1), dim);
	PG_RETURN_POINTER(AnnFloatsToHalfvec(values, dim));
}

PG_FUNCTION_INFO_V1(halfvec_to_float4);
Datum
halfvec_to_float4(PG_FUNCTION_ARGS)
{
	HalfVector *v = PG_GETARG_HALFVEC_P(0);
	Datum	   *elems = palloc(sizeof(Datum) * v->dim);

	for (int i = 0; i < v->dim; i++)
		elems[i] = Float4GetDatum(AnnHalfToFloat(v->x[i]));
	PG_RETURN_POINTER(construct_array(elems, v->dim, FLOAT4OID, sizeof(float4),
									  true, TYPALIGN_INT));
}

PG_FUNCTION_INFO_V1(vector_to_halfvec);
Datum
vector_to_halfvec(PG_FUNCTION_ARGS)
{
	Vector	   *v = PG_GETARG_VECTOR_P(0);

	AnnCheckTypmod(PG_GETARG_INT32(1), v->dim);
	PG_RETURN_POINTER(AnnFloatsToHalfvec(v->x, v->dim));
}

PG_FUNCTION_INFO_V1(halfvec_to_vector);
Datum
halfvec_to_vector(PG_FUNCTION_ARGS)
{
	HalfVector *h = PG_GETARG_HALFVEC_P(0);
	Vector	   *result;

	AnnCheckTypmod(PG_GETARG_INT32(1), h->dim);
	result = InitVector(h->dim);
	ann_kernels->half_to_float(h->x, result->x, h->dim);
	PG_RETURN_POINTER(result);
}

/* ---------------------------------------------------------------------
 * Distances
 * ---------------------------------------------------------------------
 */

#define HALFVEC_OPERANDS(a, b, dim) \
	HalfVector *a = PG_GETARG_HALFVEC_P(0); \
	HalfVector *b = PG_GETARG_HALFVEC_P(1); \
	int			dim = AnnCheckDims(a->dim, b->dim)

PG_FUNCTION_INFO_V1(halfvec_l2_distance);
Datum
halfvec_l2_distance(PG_FUNCTION_ARGS)
{
	HALFVEC_OPERANDS(a, b, dim);

	PG_RETURN_FLOAT8(AnnCheckDistance(sqrt((double) ann_kernels->half_l2_squared(a->x, b->x, dim)),
									   false));
}

PG_FUNCTION_INFO_V1(halfvec_l2_squared_distance);
Datum
halfvec_l2_squared_distance(PG_FUNCTION_ARGS)
{
	HALFVEC_OPERANDS(a, b, dim);

	PG_RETURN_FLOAT8(AnnCheckDistance(ann_kernels->half_l2_squared(a->x, b->x, dim), false));
}

PG_FUNCTION_INFO_V1(halfvec_inner_product);
Datum
halfvec_inner_product(PG_FUNCTION_ARGS)
{
	HALFVEC_OPERANDS(a, b, dim);

	PG_RETURN_FLOAT8(AnnCheckDistance(ann_kernels->half_inner_product(a->x, b->x, dim), false));
}

PG_FUNCTION_INFO_V1(halfvec_negative_inner_product);
Datum
halfvec_negative_inner_product(PG_FUNCTION_ARGS)
{
	HALFVEC_OPERANDS(a, b, dim);

	PG_RETURN_FLOAT8(-AnnCheckDistance(ann_kernels->half_inner_product(a->x, b->x, dim), false));
}

PG_FUNCTION_INFO_V1(halfvec_cosine_distance);
Datum
halfvec_cosine_distance(PG_FUNCTION_ARGS)
{
	HALFVEC_OPERANDS(a, b, dim);

	PG_RETURN_FLOAT8(AnnCheckDistance(ann_kernels->half_cosine(a->x, b->x, dim), true));
}

PG_FUNCTION_INFO_V1(halfvec_l1_distance);
Datum
halfvec_l1_distance(PG_FUNCTION_ARGS)
{
	HALFVEC_OPERANDS(a, b, dim);

	PG_RETURN_FLOAT8(AnnCheckDistance(ann_kernels->half_l1(a->x, b->x, dim), false));
}

/* ---------------------------------------------------------------------
 * Functions
 * ---------------------------------------------------------------------
 */

PG_FUNCTION_INFO_V1(halfvec_vector_dims);
Datum
halfvec_vector_dims(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(PG_GETARG_HALFVEC_P(0)->dim);
}

static double
half_norm(const HalfVector *h)
{
	double		sum = 0.0;

	for (int i = 0; i < h->dim; i++)
	{
		double		x = AnnHalfToFloat(h->x[i]);

		sum += x * x;
	}
	return sqrt(sum);
}

PG_FUNCTION_INFO_V1(halfvec_l2_norm);
Datum
halfvec_l2_norm(PG_FUNCTION_ARGS)
{
	PG_RETURN_FLOAT8(half_norm(PG_GETARG_HALFVEC_P(0)));
}

PG_FUNCTION_INFO_V1(halfvec_l2_normalize);
Datum
halfvec_l2_normalize(PG_FUNCTION_ARGS)
{
	HalfVector *h = PG_GETARG_HALFVEC_P(0);
	double		norm = half_norm(h);
	HalfVector *result = InitHalfVector(h->dim);

	/* the zero vector stays zero; normalised elements cannot overflow */
	if (norm > 0)
		for (int i = 0; i < h->dim; i++)
			result->x[i] = AnnFloatToHalf((float) (AnnHalfToFloat(h->x[i]) / norm));
	PG_RETURN_POINTER(result);
}

PG_FUNCTION_INFO_V1(halfvec_subvector);
Datum
halfvec_subvector(PG_FUNCTION_ARGS)
{
	HalfVector *h = PG_GETARG_HALFVEC_P(0);
	int			first;
	int			dim = AnnSubvectorRange(h->dim, PG_GETARG_INT32(1), PG_GETARG_INT32(2),
										"halfvec", &first);
	HalfVector *result = InitHalfVector(dim);

	memcpy(result->x, h->x + first, sizeof(AnnHalf) * dim);
	PG_RETURN_POINTER(result);
}

/* ---------------------------------------------------------------------
 * Arithmetic, in float32 and narrowed back
 * ---------------------------------------------------------------------
 */

/*
 * The float32 sum, difference or product of two float16 values is exact
 * or (for sums far apart in scale) rounded with enough spare bits that
 * rounding it again to float16 gives the correctly rounded result.  As
 * in float4 arithmetic, a result past the float16 range is an overflow
 * and a non-zero product that rounds to zero an underflow.
 */
static Datum
halfvec_arith(FunctionCallInfo fcinfo, AnnArithOp op)
{
	HALFVEC_OPERANDS(a, b, dim);
	float	   *x = AnnHalfvecToFloats(a);
	float	   *y = AnnHalfvecToFloats(b);
	HalfVector *result = InitHalfVector(dim);

	AnnElementwise(x, y, x, dim, op);
	for (int i = 0; i < dim; i++)
	{
		result->x[i] = AnnFloatToHalf(x[i]);
		if (AnnHalfIsInf(result->x[i]))
			float_overflow_error();
		if ((result->x[i] & 0x7fff) == 0 && x[i] != 0.0f)
			float_underflow_error();
	}
	PG_RETURN_POINTER(result);
}

PG_FUNCTION_INFO_V1(halfvec_add);
Datum
halfvec_add(PG_FUNCTION_ARGS)
{
	return halfvec_arith(fcinfo, ANN_ADD);
}

PG_FUNCTION_INFO_V1(halfvec_sub);
Datum
halfvec_sub(PG_FUNCTION_ARGS)
{
	return halfvec_arith(fcinfo, ANN_SUB);
}

PG_FUNCTION_INFO_V1(halfvec_mul);
Datum
halfvec_mul(PG_FUNCTION_ARGS)
{
	return halfvec_arith(fcinfo, ANN_MUL);
}

PG_FUNCTION_INFO_V1(halfvec_concat);
Datum
halfvec_concat(PG_FUNCTION_ARGS)
{
	HalfVector *a = PG_GETARG_HALFVEC_P(0);
	HalfVector *b = PG_GETARG_HALFVEC_P(1);
	HalfVector *result;

	AnnCheckDim(a->dim + b->dim, "halfvec");
	result = InitHalfVector(a->dim + b->dim);
	memcpy(result->x, a->x, sizeof(AnnHalf) * a->dim);
	memcpy(result->x + a->dim, b->x, sizeof(AnnHalf) * b->dim);
	PG_RETURN_POINTER(result);
}

/* ---------------------------------------------------------------------
 * Comparison (the btree opclass), in the same order as vector's
 * ---------------------------------------------------------------------
 */

static int
halfvec_compare(FunctionCallInfo fcinfo)
{
	HalfVector *a = PG_GETARG_HALFVEC_P(0);
	HalfVector *b = PG_GETARG_HALFVEC_P(1);
	int			n = Min(a->dim, b->dim);
	int			result = (a->dim > b->dim) - (a->dim < b->dim);

	for (int i = 0; i < n; i++)
	{
		float		x = AnnHalfToFloat(a->x[i]);
		float		y = AnnHalfToFloat(b->x[i]);

		if (x != y)
		{
			result = x < y ? -1 : 1;
			break;
		}
	}
	PG_FREE_IF_COPY(a, 0);
	PG_FREE_IF_COPY(b, 1);
	return result;
}

PG_FUNCTION_INFO_V1(halfvec_cmp);
Datum
halfvec_cmp(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(halfvec_compare(fcinfo));
}

PG_FUNCTION_INFO_V1(halfvec_lt);
Datum
halfvec_lt(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(halfvec_compare(fcinfo) < 0);
}

PG_FUNCTION_INFO_V1(halfvec_le);
Datum
halfvec_le(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(halfvec_compare(fcinfo) <= 0);
}

PG_FUNCTION_INFO_V1(halfvec_eq);
Datum
halfvec_eq(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(halfvec_compare(fcinfo) == 0);
}

PG_FUNCTION_INFO_V1(halfvec_ne);
Datum
halfvec_ne(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(halfvec_compare(fcinfo) != 0);
}

PG_FUNCTION_INFO_V1(halfvec_ge);
Datum
halfvec_ge(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(halfvec_compare(fcinfo) >= 0);
}

PG_FUNCTION_INFO_V1(halfvec_gt);
Datum
halfvec_gt(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(halfvec_compare(fcinfo) > 0);
}

/* ---------------------------------------------------------------------
 * Aggregates: avg shares vector's float8[] state; sum via halfvec_add
 * ---------------------------------------------------------------------
 */

PG_FUNCTION_INFO_V1(halfvec_accum);
Datum
halfvec_accum(PG_FUNCTION_ARGS)
{
	ArrayType  *state = PG_GETARG_ARRAYTYPE_P(0);
	HalfVector *h = PG_GETARG_HALFVEC_P(1);

	if (!AggCheckCallContext(fcinfo, NULL))
		state = (ArrayType *) PG_DETOAST_DATUM_COPY(PG_GETARG_DATUM(0));
	PG_RETURN_ARRAYTYPE_P(AnnAccumulate(state, AnnHalfvecToFloats(h), h->dim, "halfvec_accum",
										"halfvec"));
}

PG_FUNCTION_INFO_V1(halfvec_avg);
Datum
halfvec_avg(PG_FUNCTION_ARGS)
{
	int			dim;
	float	   *mean = AnnAverage(PG_GETARG_ARRAYTYPE_P(0), "halfvec_avg", "halfvec", &dim);

	if (mean == NULL)
		PG_RETURN_NULL();
	PG_RETURN_POINTER(AnnFloatsToHalfvec(mean, dim));
}
