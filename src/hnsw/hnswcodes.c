/*
 * hnswcodes.c
 *		Codes of layer-0 neighbours, stored beside the links to them.
 *
 * An index with codes keeps, in every layer-0 slot of a neighbour tuple,
 * a RaBitQ code (codes.h) of the linked element's key: code_bits bits per
 * rotated dimension (a reloption, one by default) and a few factors,
 * relative to one centre for the whole index (the mean of the keys at
 * CREATE INDEX, zero for an index built empty), with one fixed rotation
 * (HNSW_ROTATION_SEED).  A search of layer 0 then estimates the
 * distances of all neighbours of the element it expands from the
 * neighbour tuple alone, and reads an element only when it expands it
 * (hnswgraph.c, HnswSearchLayerCoded); under a filter it also learns
 * there which neighbours match.
 *
 * The centre is stored in the metapage after HnswMetaPageData; codes are
 * possible for vector and halfvec keys under L2, inner product and cosine
 * when the 2m codes of layer 0 and the centre fit a page each.
 */
#include "postgres.h"

#include <math.h>

#include "storage/bufmgr.h"

#include "hnsw.h"

/*
 * Standard errors in the bounds of estimates (codes.h): 1.9, the RaBitQ
 * paper's epsilon_0, leaves about one true distance in 34 below its bound
 */
#define HNSW_CODE_EPSILON	1.9f

/* A query prepared for the codes of one index */
struct HnswCodeQuery
{
	const HnswIndexInfo *info;
	float		query_centre;	/* <q, centre>, rotated */
	AnnCodeQuery *code;			/* q against the centre */
};

/* Where in a slot code of bits planes of words words its |y| is (0: none) */
static Size
slot_length_offset(int words, int bits)
{
	return bits > 1 ? offsetof(HnswSlotCode, words) + sizeof(uint64) * words * bits : 0;
}

/* Where in such a slot code the filter signatures start */
static Size
slot_signature_offset(int words, int bits)
{
	return offsetof(HnswSlotCode, words) + sizeof(uint64) * words * bits +
		(bits > 1 ? sizeof(uint64) : 0);
}

/* Bytes of such a slot code for an index of ncolumns filter columns */
static Size
slot_code_size(int words, int bits, int ncolumns)
{
	return MAXALIGN(slot_signature_offset(words, bits) + sizeof(AnnSignature) * ncolumns);
}

/* Bytes of the centre in the metapage of an index that would have codes */
Size
HnswMetaCentreSize(const HnswIndexInfo *info)
{
	return sizeof(float) * info->dimensions;
}

/*
 * Why this index cannot have codes, or NULL if it can: they need vector
 * or halfvec keys under L2, inner product or cosine, and a neighbour
 * tuple of level 1 with 2m codes (signatures included), and the metapage
 * with the centre, must fit a page.
 */
const char *
HnswCodesRefusal(const HnswIndexInfo *info, int code_bits)
{
	Size		room = HNSW_MAX_ELEMENT_TUPLE_SIZE;
	int			words = AnnCodePadded(info->dimensions) / 64;

	if (info->dist.keytype != ANN_KEY_VECTOR && info->dist.keytype != ANN_KEY_HALFVEC)
		return "Codes are for vector and halfvec keys.";
	if (info->dist.metric != ANN_METRIC_L2 && info->dist.metric != ANN_METRIC_IP &&
		info->dist.metric != ANN_METRIC_COSINE)
		return "Codes are for L2 distance, inner product and cosine distance.";
	if (HNSW_NEIGHBOR_SLOTS_SIZE(HnswSlotCount(1, info->m)) +
		2 * info->m * slot_code_size(words, code_bits, info->filters.ncolumns) > room ||
		MAXALIGN(sizeof(HnswMetaPageData)) + HnswMetaCentreSize(info) > room)
		return psprintf("The codes of %d neighbours of %d dimensions do not fit a page with code_bits = %d.",
						2 * info->m, info->dimensions, code_bits);
	return NULL;
}

/*
 * Set info->codes for an index whose metapage says its codes have
 * code_bits planes of code_words words (0 words: none), with the centre
 * (dimensions floats) it holds; allocated in cxt.
 */
void
HnswCodeInfoInit(HnswIndexInfo *info, int code_words, int code_bits, const float *centre,
				 MemoryContext cxt)
{
	HnswCodeInfo *codes;
	double		norm2 = 0;

	if (code_words == 0)
	{
		info->codes = NULL;
		return;
	}
	codes = MemoryContextAllocZero(cxt, sizeof(HnswCodeInfo));
	codes->padded = AnnCodePadded(info->dimensions);
	codes->words = codes->padded / 64;
	codes->sign_length = AnnCodeSignLength(codes->padded);
	codes->bits = code_bits;
	if (codes->words != code_words || code_bits < 1 || code_bits > ANN_CODE_MAX_BITS)
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("index has codes of %d words and %d bits for %d dimensions", code_words,
						code_bits, info->dimensions)));
	codes->length_offset = slot_length_offset(codes->words, code_bits);
	codes->signature_offset = slot_signature_offset(codes->words, code_bits);
	codes->slot_size = slot_code_size(codes->words, code_bits, info->filters.ncolumns);
	codes->rotation = MemoryContextAlloc(cxt, AnnRotationSize(info->dimensions));
	AnnRotationInit(codes->rotation, info->dimensions, HNSW_ROTATION_SEED);
	codes->centre = MemoryContextAlloc(cxt, sizeof(float) * codes->padded);
	AnnRotate(codes->rotation, centre, codes->centre);
	for (int i = 0; i < codes->padded; i++)
		norm2 += (double) codes->centre[i] * codes->centre[i];
	codes->centre_norm2 = (float) norm2;
	codes->kernels = AnnBestCodeKernels();
	info->codes = codes;
}

/* The rotated key elements (padded floats, palloc'd) */
static float *
rotate_key(const HnswIndexInfo *info, const void *elements)
{
	float	   *plain = palloc(sizeof(float) * info->dimensions);
	float	   *rotated = palloc(sizeof(float) * info->codes->padded);

	AnnElementsToFloats(&info->dist, elements, info->dimensions, plain);
	AnnRotate(info->codes->rotation, plain, rotated);
	pfree(plain);
	return rotated;
}

/*
 * The code of a stored key (a slot_size buffer), its signatures included.
 * A NULL key (an element that is gone) is coded as the centre, with zero
 * signatures: the estimates of a code with norm 0 are exact and harmless.
 */
void
HnswEncodeKey(const HnswIndexInfo *info, const char *stored, HnswSlotCode *out)
{
	const HnswCodeInfo *codes = info->codes;
	float	   *rotated = stored != NULL ?
		rotate_key(info, stored + offsetof(Vector, x)) : codes->centre;
	double		inner = 0;
	float		length;

	memset(out, 0, codes->slot_size);
	if (stored != NULL)
		memcpy((char *) HnswSlotSignatures(info, out), HnswKeySignatures(info, stored),
			   sizeof(AnnSignature) * info->filters.ncolumns);
	length = AnnEncode(rotated, codes->centre, codes->padded, codes->bits, out->words,
					   &out->factors);
	if (codes->length_offset != 0)
		*(float *) ((char *) out + codes->length_offset) = length;
	for (int i = 0; i < codes->padded; i++)
		inner += (double) rotated[i] * codes->centre[i];
	out->inner = (float) inner;
	if (rotated != codes->centre)
		pfree(rotated);
}

/* The query's key elements prepared for the codes */
HnswCodeQuery *
HnswCodeQueryCreate(const HnswIndexInfo *info, const void *query)
{
	const HnswCodeInfo *codes = info->codes;
	HnswCodeQuery *cq = palloc(sizeof(HnswCodeQuery));
	float	   *rotated = rotate_key(info, query);
	double		qc = 0;

	for (int i = 0; i < codes->padded; i++)
		qc += (double) rotated[i] * codes->centre[i];
	cq->info = info;
	cq->query_centre = (float) qc;
	cq->code = palloc(AnnCodeQuerySize(codes->padded));
	AnnCodeQueryPrepare(cq->code, rotated, codes->centre, codes->padded);
	pfree(rotated);
	return cq;
}

/*
 * The index distance from the query to the key of code given the cosine
 * between their residuals: squared L2 from |x - c|, |q - c| and that
 * cosine; inner products from <x, q> = <x - c, q - c> + <x, c> + <q, c>
 * - |c|^2.
 */
static inline float
distance_at(const HnswIndexInfo *info, const HnswCodeQuery *cq, const HnswSlotCode *code,
			float cosine)
{
	float		cross = code->factors.norm * cq->code->norm;

	if (info->dist.metric == ANN_METRIC_L2 || info->dist.units_by_l2)
		return Max(code->factors.norm * code->factors.norm + cq->code->norm * cq->code->norm -
				   2.0f * cross * cosine, 0.0f);
	return -(cq->query_centre + code->inner - info->codes->centre_norm2 + cross * cosine);
}

/*
 * The index distance from the query to the key of code, estimated, and in
 * *bound one the true distance is above but for the share of codes
 * ANN_CODE_EPSILON allows.
 */
float
HnswCodeDistance(const HnswIndexInfo *info, const HnswCodeQuery *cq, const HnswSlotCode *code,
				 float *bound)
{
	const HnswCodeInfo *codes = info->codes;
	const AnnCodeQuery *q = cq->code;
	float		error;
	float		cosine = AnnCodeEstimate(q, &code->factors, HnswSlotLength(codes, code),
										 codes->bits,
										 codes->kernels->dot(code->words, codes->bits, q->planes,
															 codes->words),
										 &error);

	*bound = distance_at(info, cq, code,
						 Min(cosine + error * (HNSW_CODE_EPSILON / ANN_CODE_EPSILON), 1.0f));
	return distance_at(info, cq, code, cosine);
}

/* Copy one slot code. */
void
HnswCopySlotCode(const HnswIndexInfo *info, HnswSlotCode *to, const HnswSlotCode *from)
{
	memcpy(to, from, info->codes->slot_size);
}

/*
 * Set the codes of the layer-0 slots of neighbors to codes[0..n) (slot_size
 * bytes apart), the rest zero.
 */
void
HnswSetSlotCodes(const HnswIndexInfo *info, HnswNeighborTuple neighbors,
				 const HnswSlotCode *codes, int n)
{
	Size		size = info->codes->slot_size;

	memcpy(HnswSlotCodes(info, neighbors, 0), codes, size * n);
	memset(HnswSlotCodes(info, neighbors, n), 0, size * (2 * info->m - n));
}

/*
 * The codes of refs[0..n) (palloc'd, slot_size bytes apart), encoded from
 * the keys graph reads (graph must keep keys), except those of refs that
 * are among skip[0..nskip), left zero for the caller to fill.
 */
HnswSlotCode *
HnswCodesOf(HnswDiskGraph *graph, const HnswRef *refs, int n, const HnswRef *skip, int nskip)
{
	const HnswIndexInfo *info = graph->info;
	Size		size = info->codes->slot_size;
	char	   *out = palloc0(size * Max(n, 1));

	for (int i = 0; i < n; i++)
	{
		if (HnswHoldsRef(skip, nskip, refs[i]))
			continue;
		/* an element that is gone (NULL) gets the centre's code */
		HnswEncodeKey(info, HnswDiskGraphStoredKey(graph, refs[i]),
					  (HnswSlotCode *) (out + size * i));
	}
	return (HnswSlotCode *) out;
}
