/*
 * hnswelement.c
 *		How a new element joins the graph: the rules a build (the graph in
 *		memory, hnswbuildgraph.c) and an insert (the graph on disk,
 *		hnswinsert.c) share.
 *
 * Its key, the search for its neighbours, how a full list takes a link
 * to it, where its twins are, and its two tuples.  Either graph is
 * reached through a search or a pair-distance callback, so nothing here
 * reads a page or takes a lock.
 */
#include "postgres.h"

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
 * the layer has slots, one twin at most where distance 0 means the same
 * vector (HnswSelectNeighbors).
 */
int
HnswSelectLayer(const HnswIndexInfo *info, int layer, const HnswCandidate *sorted, int n,
				float (*pair_distance) (void *graph, HnswRef a, HnswRef b), void *graph,
				HnswCandidate *selected, int *ndiverse)
{
	return HnswSelectNeighbors(sorted, n, HnswLayerSlots(layer, info->m), pair_distance, graph,
							   AnnZeroMeansEqual(&info->dist), selected, ndiverse);
}

/*
 * A full list on layer takes a link to new_ref at distance: the heuristic
 * chooses again among its links, candidates[0..n) with their distances
 * (room for one more), and the new one.  The new one goes after the links
 * at its distance, so that a tie keeps what the list has: the heuristic
 * keeps the first of twins, and the twin a list links to is on the twin
 * chain (README), which a new twin joins by other means.  Leaves the n + 1
 * candidates sorted and returns how many links kept holds.
 */
int
HnswReselectFull(const HnswIndexInfo *info, int layer, HnswCandidate *candidates, int n,
				 HnswRef new_ref, float distance,
				 float (*pair_distance) (void *graph, HnswRef a, HnswRef b), void *graph,
				 HnswCandidate *kept, int *ndiverse)
{
	int			at = n;

	qsort(candidates, n, sizeof(HnswCandidate), HnswCompareCandidates);
	while (at > 0 && candidates[at - 1].distance > distance)
		at--;
	memmove(&candidates[at + 1], &candidates[at], sizeof(HnswCandidate) * (n - at));
	candidates[at].ref = new_ref;
	candidates[at].distance = distance;
	return HnswSelectLayer(info, layer, candidates, n + 1, pair_distance, graph, kept, ndiverse);
}

/*
 * How many of found (nearest first) are tied with the nearest: an
 * element with the new one's key, if found, is among them (distance 0
 * for L2, -|x|^2 for inner product).
 */
int
HnswNearestTies(const HnswCandidate *found, int nfound)
{
	int			n = 0;

	while (n < nfound && found[n].distance == found[0].distance)
		n++;
	return n;
}

/*
 * May the nearest found be a twin that anchors the new element on the
 * twin chain (see README)?  Only where distance 0 means the same vector;
 * the caller compares the keys.
 */
bool
HnswNearestMayBeTwin(const HnswIndexInfo *info, const HnswCandidate *found, int nfound)
{
	return AnnZeroMeansEqual(&info->dist) && nfound > 0 && found[0].distance == 0;
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
