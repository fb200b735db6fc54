/*
 * sparsevec.h
 *		The sparsevec type: a float32 vector stored as its non-zero
 *		elements only.
 *
 * The varlena layout is pgvector's, so binary COPY and client libraries
 * carry over unchanged:
 *
 *		int32	vl_len_		varlena header
 *		int32	dim			number of dimensions, 1..ANN_SPARSE_MAX_DIM
 *		int32	nnz			number of stored elements, 0..ANN_SPARSE_MAX_NNZ
 *		int32	unused		always 0
 *		int32	indices[nnz]	0-based, strictly increasing, each < dim
 *		float4	values[nnz]		finite and never 0, values[i] at indices[i]
 *
 * Every function that builds a value keeps these invariants, so equal
 * vectors have equal bytes and the distance merges need no checks.
 */
#ifndef ANN_SPARSEVEC_H
#define ANN_SPARSEVEC_H

#include "fmgr.h"

#include "distance.h"

#define ANN_SPARSE_MAX_DIM 1000000000
#define ANN_SPARSE_MAX_NNZ 16000

typedef struct SparseVector
{
	int32		vl_len_;		/* varlena header (do not touch directly!) */
	int32		dim;			/* number of dimensions */
	int32		nnz;			/* number of stored (non-zero) elements */
	int32		unused;			/* reserved, always 0 */
	int32		indices[FLEXIBLE_ARRAY_MEMBER];	/* then nnz float4 values */
} SparseVector;

#define SPARSEVEC_SIZE(nnz) \
	(offsetof(SparseVector, indices) + ((Size) sizeof(int32) + sizeof(float)) * (nnz))
#define SparsevecValues(v)		((float *) ((v)->indices + (v)->nnz))

#define DatumGetSparseVector(d)	((SparseVector *) PG_DETOAST_DATUM(d))
#define PG_GETARG_SPARSEVEC_P(n)	DatumGetSparseVector(PG_GETARG_DATUM(n))

/* sparsevec.c */
extern SparseVector *InitSparseVector(int dim, int nnz);
extern double SparsevecNorm(const SparseVector *v);

/* The operand of the sparse kernels (distance.h) that v is */
static inline AnnSparse
SparsevecOperand(const SparseVector *v)
{
	AnnSparse	s;

	s.index = v->indices;
	s.x = (const float *) (v->indices + v->nnz);
	s.nnz = v->nnz;
	return s;
}

#endif							/* ANN_SPARSEVEC_H */
