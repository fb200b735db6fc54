/*
 * vector.h
 *		The vector (float32) and halfvec (float16) types.
 *
 * Both types share one varlena layout, the same as pgvector's so that
 * stored data, binary COPY and client libraries carry over unchanged:
 *
 *		int32	vl_len_		varlena header
 *		int16	dim			number of elements, 1..ANN_MAX_DIM
 *		int16	unused		always 0
 *		elements			dim float4 (vector) or dim float16 (halfvec)
 *
 * vector.c also exports the helpers both types use: parsing the text
 * form, checking dimensions and typmods, reading arrays, and the
 * float8[] state of the avg aggregate.
 */
#ifndef ANN_VECTOR_H
#define ANN_VECTOR_H

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/varbit.h"

#include "distance.h"

#define ANN_MAX_DIM 16000

typedef struct Vector
{
	int32		vl_len_;		/* varlena header (do not touch directly!) */
	int16		dim;			/* number of elements */
	int16		unused;			/* reserved, always 0 */
	float		x[FLEXIBLE_ARRAY_MEMBER];
} Vector;

typedef struct HalfVector
{
	int32		vl_len_;		/* varlena header (do not touch directly!) */
	int16		dim;			/* number of elements */
	int16		unused;			/* reserved, always 0 */
	AnnHalf		x[FLEXIBLE_ARRAY_MEMBER];
} HalfVector;

#define VECTOR_SIZE(dim)		(offsetof(Vector, x) + sizeof(float) * (dim))
#define HALFVEC_SIZE(dim)		(offsetof(HalfVector, x) + sizeof(AnnHalf) * (dim))

#define DatumGetVector(d)		((Vector *) PG_DETOAST_DATUM(d))
#define PG_GETARG_VECTOR_P(n)	DatumGetVector(PG_GETARG_DATUM(n))
#define DatumGetHalfVector(d)	((HalfVector *) PG_DETOAST_DATUM(d))
#define PG_GETARG_HALFVEC_P(n)	DatumGetHalfVector(PG_GETARG_DATUM(n))

/* elementwise operators, for AnnElementwise */
typedef enum AnnArithOp
{
	ANN_ADD,
	ANN_SUB,
	ANN_MUL
} AnnArithOp;

/* vector.c */
extern Vector *InitVector(int dim);
extern HalfVector *InitHalfVector(int dim);
extern VarBit *InitBitString(int bits);
extern void AnnCheckDim(int dim, const char *typname);
extern void AnnCheckDimLimit(int64 dim, const char *typname, int max_dim);
extern int	AnnCheckDims(int dim_a, int dim_b);
extern void AnnCheckTypmod(int typmod, int dim);
extern void AnnCheckTypmodLimit(int typmod, int dim, int max_dim);
extern void AnnCheckElement(float value, const char *typname);
extern int	AnnTypmodIn(ArrayType *ta, const char *typname);
extern int	AnnTypmodInLimit(ArrayType *ta, const char *typname, int max_dim);
extern char *AnnTypmodOut(int32 typmod);
extern void AnnReportBadText(const char *text, const char *typname,
							 const char *detail) pg_attribute_noreturn();
extern const char *AnnSkipSpaces(const char *p);
extern void AnnParseElement(const char **p, const char *text, const char *typname,
							float *value);
extern float *AnnParseText(const char *text, const char *typname, int *dim);
extern float *AnnArrayToFloats(ArrayType *array, const char *typname, int *dim);
extern float *AnnArrayToFloatsLimit(ArrayType *array, const char *typname, int max_dim,
									int *dim);
extern ArrayType *AnnAccumulate(ArrayType *state, const float *x, int dim,
								const char *fname, const char *typname);
extern ArrayType *AnnCombine(ArrayType *a, ArrayType *b, const char *fname);
extern float *AnnAverage(ArrayType *state, const char *fname, const char *typname,
						 int *dim);
extern int	AnnCompareFloats(const float *a, int dim_a, const float *b, int dim_b);
extern int	AnnRecvHeader(StringInfo buf, int elem_size, const char *typname);
extern int	AnnSubvectorRange(int dim, int32 start, int32 count,
							  const char *typname, int *first);
extern double AnnCheckDistance(double distance, bool nan_ok);
extern void AnnElementwise(const float *a, const float *b, float *result,
						   int dim, AnnArithOp op);

/* halfvec.c */
extern HalfVector *AnnFloatsToHalfvec(const float *values, int dim);
extern float *AnnHalfvecToFloats(const HalfVector *h);

#endif							/* ANN_VECTOR_H */
