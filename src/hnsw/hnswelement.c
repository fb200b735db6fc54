/*
 * hnswelement.c
 *		How a new element joins the graph: the rules a build (the graph in
 *		memory, hnswbuildgraph.c) and an insert (the graph on disk,
 *		hnswinsert.c) share.
 *
 * Its key, the search for its neighbours, how a full list takes a link
 * to it, where its twins are, and its two tuples.  Either graph is
 * reached through a search or its pair callbacks (HnswPairOps), so
 * nothing here reads a page or takes a lock itself.
 */
#include "postgres.h"

#include <math.h>

#include "hnsw.h"

/* A sparse key must fit an element tuple: pgvector's limit and words. */
static void
check_sparse_key(const SparseVector *key)
{
	if (key->nnz > HNSW_MAX_NNZ)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("sparsevec cannot have more than %d non-zero elements for hnsw index",
						HNSW_MAX_NNZ)));
}

/* The largest key, with every filter column, fits a page on its own */
StaticAssertDecl(HNSW_ELEMENT_TUPLE_SIZE(TYPEALIGN(sizeof(AnnSignature), SPARSEVEC_SIZE(HNSW_MAX_NNZ)) +
										 sizeof(AnnSignature) * ANN_MAX_FILTER_COLUMNS) <=
				 HNSW_MAX_ELEMENT_TUPLE_SIZE, "sparse element tuple fits a page");

/*
 * The key an index row stores: the prepared vector, checked against the
 * index's dimensions, then the signatures of the filter columns.
 * values[0] must not be null; *usable is false for a vector the index
 * leaves out (a zero vector under cosine), and then the key is not
 * composed.
 */
Datum
HnswFormKey(const HnswIndexInfo *info, Datum *values, bool *isnull, bool *usable)
{
	Datum		key = AnnPrepareKey(&info->dist, values[0], usable);
	int			dim;

	if (!*usable)
		return key;
	AnnKeyElements(&info->dist, key, &dim);
	AnnCheckDimensions(info->dimensions, dim);
	if (info->dist.keytype == ANN_KEY_SPARSE)
		check_sparse_key((const SparseVector *) DatumGetPointer(key));
	return AnnFilterComposeKey(&info->filters, key, VARSIZE(DatumGetPointer(key)), values, isnull);
}

/*
 * Start search at the entry point and descend greedily (ef 1) to layer
 * top, where the new element's own layers begin.  False if the entry
 * point is unusable.
 */
bool
HnswSearchDescend(HnswSearch *search, HnswRef entry, int entry_level, int top)
{
	if (!HnswSearchStart(search, entry, entry_level))
		return false;
	for (int layer = entry_level; layer > top; layer--)
	{
		HnswSearchLayer(search, 1, layer);
		HnswSearchRestart(search, layer - 1);
	}
	return true;
}

/*
 * Search one of the new element's layers with ef; the results go to
 * found, nearest first, and seed the search of the layer below.  Returns
 * how many.
 */
int
HnswSearchCandidates(HnswSearch *search, int ef, int layer, HnswCandidate *found)
{
	int			nfound;

	HnswSearchLayer(search, ef, layer);
	nfound = HnswSortedResults(search, found);
	if (layer > 0)
		HnswSearchSeed(search, found, nfound, layer - 1);
	return nfound;
}

/*
 * Choose the links of a list on layer from sorted candidates: as many as
 * the layer has slots, one twin at most (HnswSelectNeighbors).
 */
int
HnswSelectLayer(const HnswIndexInfo *info, int layer, const HnswCandidate *sorted, int n,
				const HnswPairOps *ops, void *graph, HnswCandidate *selected, int *ndiverse)
{
	return HnswSelectNeighbors(sorted, n, HnswLayerSlots(layer, info->m), info, ops, graph,
							   selected, ndiverse);
}

/*
 * A full list on layer takes a link to new_ref at distance: the heuristic
 * chooses again among its links, candidates[0..n) with their distances
 * (room for one more), and the new one.  The new one goes after the links
 * at its distance, so that a tie keeps what the list has: the heuristic
 * keeps the first of twins (which lie at one distance from the owner),
 * and the twin a list links to is on the twin chain (README), which a new
 * twin joins by other means.  Leaves the n + 1 candidates sorted and
 * returns how many links kept holds.
 */
int
HnswReselectFull(const HnswIndexInfo *info, int layer, HnswCandidate *candidates, int n,
				 HnswRef new_ref, float distance, const HnswPairOps *ops, void *graph,
				 HnswCandidate *kept, int *ndiverse)
{
	int			at = n;

	qsort(candidates, n, sizeof(HnswCandidate), HnswCompareCandidates);
	while (at > 0 && candidates[at - 1].distance > distance)
		at--;
	memmove(&candidates[at + 1], &candidates[at], sizeof(HnswCandidate) * (n - at));
	candidates[at].ref = new_ref;
	candidates[at].distance = distance;
	return HnswSelectLayer(info, layer, candidates, n + 1, ops, graph, kept, ndiverse);
}

/*
 * Does ref, at distance from an element with the stored key key, hold
 * the same vector (whatever the filter columns hold)?  Where distance 0
 * means the same vector (AnnZeroMeansEqual) it says so; under inner
 * product, where a vector is at no fixed distance from itself, the bytes
 * of the vectors do.
 */
static bool
same_vector(const HnswIndexInfo *info, const HnswPairOps *ops, void *graph, const char *key,
			HnswRef ref, float distance)
{
	const char *other;

	if (AnnZeroMeansEqual(&info->dist))
		return distance == 0;
	other = ops->stored_key(graph, ref);
	return key != NULL && other != NULL && VARSIZE(key) == VARSIZE(other) &&
		memcmp(key, other, VARSIZE(key)) == 0;
}

/*
 * Elements holding the same vector are twins (README) where nothing else
 * can be as near, at distance 0: L2, L1, the bit metrics and cosine (unit
 * vectors compared by squared L2).  Under inner product a vector's
 * nearest are longer vectors, so an insert's search may not find its
 * twins to chain to, and the one-link rule would leave it unreachable.
 */
static bool
has_twins(const HnswIndexInfo *info)
{
	return AnnZeroMeansEqual(&info->dist);
}

/*
 * Are elements a and b twins?  distance is theirs, or NAN when the caller
 * has not computed it.
 */
bool
HnswTwins(const HnswIndexInfo *info, const HnswPairOps *ops, void *graph, HnswRef a, HnswRef b,
		  float distance)
{
	if (!has_twins(info))
		return false;
	if (isnan(distance))
		distance = ops->distance(graph, a, b);
	return distance == 0;
}

/*
 * The first of found[from..nfound), with their distances to the stored
 * key key, that holds the same vector as key; -1 if none.  A new row may
 * join such an element (if the filter columns match too).
 */
int
HnswFindCopy(const HnswIndexInfo *info, const HnswPairOps *ops, void *graph, const char *key,
			 const HnswCandidate *found, int nfound, int from)
{
	for (int i = from; i < nfound; i++)
		if (same_vector(info, ops, graph, key, found[i].ref, found[i].distance))
			return i;
	return -1;
}

/*
 * The first of found (with their distances to a new element) that is a
 * twin of the new element, or -1: twins are at distance 0.
 */
int
HnswFindTwin(const HnswIndexInfo *info, const HnswCandidate *found, int nfound)
{
	if (!has_twins(info))
		return -1;
	for (int i = 0; i < nfound; i++)
		if (found[i].distance == 0)
			return i;
	return -1;
}

/*
 * An element tuple of level for the stored key at key and heaptids[0..n);
 * the other heap TIDs are free.  In an index with long keys the tuple
 * holds key_page, the first page of the key's chain, in its place (the
 * caller may set it later: AnnSetLongKeyPage).  Its neighbortid is
 * the caller's to set.
 */
void
HnswFormElementTuple(const HnswIndexInfo *info, HnswElementTuple out, int level,
					 const char *key, BlockNumber key_page, const ItemPointerData *heaptids,
					 int n)
{
	Size		keysize = HnswTupleKeySize(info, key);

	/* no uninitialised padding on the page (WAL compares every byte) */
	memset(out, 0, HNSW_ELEMENT_TUPLE_SIZE(keysize));
	out->type = HNSW_ELEMENT_TUPLE;
	out->level = level;
	for (int i = 0; i < HNSW_HEAPTIDS; i++)
	{
		if (i < n)
			out->heaptids[i] = heaptids[i];
		else
			ItemPointerSetInvalid(&out->heaptids[i]);
	}
	if (info->long_keysize == 0)
	{
		memcpy(out->key, key, keysize);
		return;
	}
	AnnSetLongKeyPage(out->key, key_page);
	memcpy(out->key + sizeof(AnnLongKeyRef), HnswKeySignatures(info, key),
		   keysize - sizeof(AnnLongKeyRef));
}

/* A neighbour tuple of level with every slot empty (codes zero). */
void
HnswFormNeighborTuple(const HnswIndexInfo *info, HnswNeighborTuple out, int level)
{
	memset(out, 0, HnswNeighborTupleSize(info, level));
	out->type = HNSW_NEIGHBOR_TUPLE;
	out->level = level;
	out->nslots = HnswSlotCount(level, info->m);
	for (int i = 0; i < out->nslots; i++)
		ItemPointerSetInvalid(&out->slots[i]);
}
