/*
 * hnswutils.c
 *		hnsw page and tuple helpers, the cached index facts, and the
 *		on-disk graph that insert, scan and vacuum search.
 *
 * Locking: the disk graph takes a share lock on one page at a time, only
 * while it reads one tuple, and keeps the last page pinned (not locked)
 * between calls; HnswDiskGraphRelease drops the pin.
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "common/hashfn.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "utils/memutils.h"

#include "hnsw.h"

/* Hash set of visited elements, keyed by HnswRef */
#define SH_PREFIX		hnswvisit
#define SH_ELEMENT_TYPE HnswVisitEntry
#define SH_KEY_TYPE		HnswRef
#define SH_KEY			ref
#define SH_HASH_KEY(tb, key) murmurhash32((uint32) (key) ^ (uint32) ((key) >> 32))
#define SH_EQUAL(tb, a, b) ((a) == (b))
#define SH_SCOPE		static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

/* The map of graph walks (HnswWalkEntry, hnsw.h) */
#define SH_PREFIX		hnswwalk
#define SH_ELEMENT_TYPE HnswWalkEntry
#define SH_KEY_TYPE		HnswRef
#define SH_KEY			ref
#define SH_HASH_KEY(tb, key) murmurhash32((uint32) (key) ^ (uint32) ((key) >> 32))
#define SH_EQUAL(tb, a, b) ((a) == (b))
#define SH_SCOPE		extern
#define SH_DEFINE
#include "lib/simplehash.h"

/* ---------------------------------------------------------------------
 * Index facts
 * ---------------------------------------------------------------------
 */

/* Where the centre of the codes sits in the metapage */
static float *
meta_centre(Page page)
{
	return (float *) ((char *) PageGetContents(page) + MAXALIGN(sizeof(HnswMetaPageData)));
}

/* A copy of the centre of an index with codes (palloc'd) */
static float *
read_centre(Relation index, int dimensions)
{
	Buffer		buffer = ReadBuffer(index, ANN_METAPAGE_BLKNO);
	float	   *centre = palloc(sizeof(float) * dimensions);

	LockBuffer(buffer, BUFFER_LOCK_SHARE);
	memcpy(centre, meta_centre(BufferGetPage(buffer)), sizeof(float) * dimensions);
	UnlockReleaseBuffer(buffer);
	return centre;
}

/*
 * Set the centre of a build's codes (no WAL: the build logs the whole
 * relation), and drop the cached index facts that hold the old one.
 */
void
HnswWriteCentre(Relation index, const float *centre)
{
	Buffer		buffer = ReadBuffer(index, ANN_METAPAGE_BLKNO);
	HnswMetaPage meta;

	LockBuffer(buffer, BUFFER_LOCK_EXCLUSIVE);
	meta = (HnswMetaPage) PageGetContents(BufferGetPage(buffer));
	Assert(meta->code_words > 0);
	memcpy(meta_centre(BufferGetPage(buffer)), centre, sizeof(float) * meta->dimensions);
	MarkBufferDirty(buffer);
	UnlockReleaseBuffer(buffer);
	index->rd_amcache = NULL;	/* its memory goes with rd_indexcxt */
}

/*
 * The distance of an index, with cosine keys compared by squared L2: copies
 * of a vector must be each other's nearest, at distance 0, for the twin
 * rules (README).
 */
void
HnswResolveDistance(Relation index, AnnDistanceInfo *dist)
{
	AnnResolveDistance(index, dist);
	AnnCompareUnitsByL2(dist);
}

/*
 * Dimensions, m, ef_construction, the distance and the codes of an index,
 * read from its metapage once and cached in rd_amcache (they never
 * change once the index is built).
 */
const HnswIndexInfo *
HnswGetIndexInfo(Relation index)
{
	if (index->rd_amcache == NULL)
	{
		HnswMetaPageData meta;
		HnswIndexInfo *info = MemoryContextAllocZero(index->rd_indexcxt,
													 sizeof(HnswIndexInfo));

		HnswReadMeta(index, &meta);
		HnswResolveDistance(index, &info->dist);
		info->dimensions = meta.dimensions;
		info->m = meta.m;
		info->ef_construction = meta.ef_construction;
		HnswSetKeySize(index, info);
		if (meta.code_words > 0)
		{
			float	   *centre = read_centre(index, info->dimensions);

			HnswCodeInfoInit(info, meta.code_words, Max(meta.code_bits, 1), centre,
							 index->rd_indexcxt);
			pfree(centre);
		}
		info->known_nblocks = MemoryContextAllocZero(index->rd_indexcxt, sizeof(BlockNumber));
		*info->known_nblocks = RelationGetNumberOfBlocks(index);
		index->rd_amcache = info;
	}
	return (const HnswIndexInfo *) index->rd_amcache;
}

/*
 * The filter columns and the stored key size of an index whose distance
 * and dimensions are known: a key, then the signatures of its filter
 * columns.  Sparse keys have a size each (keysize 0).
 */
void
HnswSetKeySize(Relation index, HnswIndexInfo *info)
{
	Size		vector_size;

	AnnFilterColumnsInit(index, &info->filters);
	if (info->dist.keytype == ANN_KEY_SPARSE)
	{
		info->keysize = 0;
		info->filter_offset = 0;
		return;
	}
	vector_size = AnnKeySize(&info->dist, info->dimensions);
	info->keysize = AnnFilterKeySize(&info->filters, vector_size);
	info->filter_offset = AnnFilterOffset(vector_size);
	info->long_keysize = HNSW_ELEMENT_TUPLE_SIZE(info->keysize) > HNSW_MAX_ELEMENT_TUPLE_SIZE ?
		vector_size : 0;
}

/* Copy the metapage, after checking it is one we can read. */
void
HnswReadMeta(Relation index, HnswMetaPageData *meta)
{
	AnnReadMeta(index, "hnsw", HNSW_MAGIC, HNSW_VERSION, meta, sizeof(HnswMetaPageData));
}

/* A metapage for an empty index, with codes relative to a zero centre or none. */
void
HnswInitMetaPage(Page page, const HnswIndexInfo *info)
{
	bool		codes = info->codes != NULL;
	HnswMetaPage meta;
	char	   *end;

	AnnInitPage(page, ANN_HNSW_PAGE_ID, HNSW_PAGE_META);
	meta = (HnswMetaPage) PageGetContents(page);
	meta->header.magic = HNSW_MAGIC;
	meta->header.version = HNSW_VERSION;
	meta->dimensions = info->dimensions;
	meta->m = info->m;
	meta->ef_construction = info->ef_construction;
	ItemPointerSetInvalid(&meta->entry);
	meta->entry_level = -1;
	meta->insert_page = InvalidBlockNumber;
	meta->signature_head = InvalidBlockNumber;
	meta->signature_tail = InvalidBlockNumber;
	meta->signature_count = 0;
	meta->code_words = codes ? info->codes->words : 0;
	meta->code_bits = codes ? info->codes->bits : 0;
	end = (char *) (meta + 1);
	if (codes)
	{
		memset(meta_centre(page), 0, HnswMetaCentreSize(info));
		end = (char *) meta_centre(page) + HnswMetaCentreSize(info);
	}
	/* keep the metadata below pd_lower: generic WAL zeroes the hole */
	((PageHeader) page)->pd_lower = end - (char *) page;
}

/*
 * Level of a new element: floor(-ln(U) / ln(m)), so each layer holds
 * about 1/m of the one below, capped so the neighbour tuple (with any
 * codes) fits a page.
 * U comes from a hash of the heap TID rather than a random generator, so
 * the same rows inserted in the same order always build the same graph.
 */
int
HnswRandomLevel(const HnswIndexInfo *info, ItemPointer heaptid)
{
	int			m = info->m;
	uint64		hash = hash_bytes_extended((const unsigned char *) heaptid,
										   sizeof(ItemPointerData), 0x5eed);
	double		u = ((hash >> 11) + 1) / (double) (UINT64CONST(1) << 53);	/* (0, 1] */
	int			level = (int) floor(-log(u) / log((double) m));
	int			fits = (int) ((BLCKSZ - 256 - HnswCodesSize(info)) / (sizeof(ItemPointerData) * m)) - 2;

	return Min(level, Min(fits, HNSW_MAX_LEVEL));
}

/* ---------------------------------------------------------------------
 * Tuples on pages
 * ---------------------------------------------------------------------
 */

/*
 * The tuple at offno of page (block blkno) if it is of the given type,
 * else NULL; *len is its length.  The page must be one of elements, of
 * the signature directory or of a long key (a whole-index loop meets all
 * three; a key page has no items), and the line pointer a used one inside
 * the page: else the index is corrupted.
 */
static void *
page_tuple(Relation index, BlockNumber blkno, Page page, OffsetNumber offno, uint8 type,
		   Size *len)
{
	uint8	   *tuple;

	AnnCheckPage(index, blkno, page, ANN_HNSW_PAGE_ID,
				 HNSW_PAGE_ELEMENTS | HNSW_PAGE_SIGNATURES | HNSW_PAGE_KEY);
	tuple = AnnPageGetItemChecked(index, blkno, page, offno, 0);
	*len = ItemIdGetLength(PageGetItemId(page, offno));
	return *tuple == type ? tuple : NULL;
}

/*
 * Is len the size of the element tuple whose key is at key?  A sparse
 * key's own header and count must agree with each other and with len
 * before its size can be trusted.
 */
bool
HnswElementSizeMatches(const HnswIndexInfo *info, const char *key, Size len)
{
	const SparseVector *sparse = (const SparseVector *) key;

	if (info->keysize > 0)
		return len == HNSW_ELEMENT_TUPLE_SIZE(HnswTupleKeySize(info, key));
	return len >= HNSW_ELEMENT_TUPLE_SIZE(SPARSEVEC_SIZE(0)) &&
		VARATT_IS_4B_U(key) &&
		sparse->nnz >= 0 && sparse->nnz <= HNSW_MAX_NNZ &&
		VARSIZE(key) == SPARSEVEC_SIZE(sparse->nnz) &&
		len == HNSW_ELEMENT_TUPLE_SIZE(HnswStoredKeySize(info, key));
}

HnswElementTuple
HnswPageGetElement(Relation index, BlockNumber blkno, Page page, OffsetNumber offno)
{
	Size		len;
	HnswElementTuple element = page_tuple(index, blkno, page, offno, HNSW_ELEMENT_TUPLE, &len);

	if (element != NULL &&
		(element->level > HNSW_MAX_LEVEL ||
		 !HnswElementSizeMatches(HnswGetIndexInfo(index), element->key, len)))
		AnnCheckFailed(index, blkno, offno,
					   psprintf("An element tuple of %zu bytes has level %d.", len, element->level));
	return element;
}

/* A neighbour tuple has slots for its level, maybe more (a reused slot). */
HnswNeighborTuple
HnswPageGetNeighbors(Relation index, BlockNumber blkno, Page page, OffsetNumber offno)
{
	Size		len;
	HnswNeighborTuple neighbors = page_tuple(index, blkno, page, offno, HNSW_NEIGHBOR_TUPLE, &len);
	const HnswIndexInfo *info = HnswGetIndexInfo(index);

	if (neighbors != NULL &&
		(neighbors->level > HNSW_MAX_LEVEL ||
		 neighbors->nslots < HnswSlotCount(neighbors->level, info->m) ||
		 len < HNSW_NEIGHBOR_SLOTS_SIZE(neighbors->nslots) + HnswCodesSize(info)))
		AnnCheckFailed(index, blkno, offno,
					   psprintf("A neighbour tuple of %zu bytes has level %d and %d slots.",
								len, neighbors->level, neighbors->nslots));
	return neighbors;
}

/*
 * Into codes (parallel to wanted), the codes neighbors holds for the
 * links of wanted it has already (current, its layer-0 list).
 */
static void
keep_current_codes(const HnswIndexInfo *info, HnswNeighborTuple neighbors,
				   const HnswRef *current, int ncurrent, const HnswRef *wanted, int nwanted,
				   HnswSlotCode *codes)
{
	Size		size = info->codes->slot_size;

	for (int i = 0; i < nwanted; i++)
		for (int j = 0; j < ncurrent; j++)
			if (current[j] == wanted[i])
			{
				HnswCopySlotCode(info, (HnswSlotCode *) ((char *) codes + size * i),
								 HnswSlotCodes(info, neighbors, j));
				break;
			}
}

/* Set a layer's list to refs[0..n), the rest of its slots empty. */
void
HnswSetLayerSlots(HnswNeighborTuple neighbors, int layer, int m, const HnswRef *refs, int n)
{
	ItemPointer slots = neighbors->slots + HnswLayerStart(layer, m);

	for (int i = 0; i < HnswLayerSlots(layer, m); i++)
	{
		if (i < n)
			HnswRefToTid(refs[i], &slots[i]);
		else
			ItemPointerSetInvalid(&slots[i]);
	}
}

/*
 * Replace the list of layer in the neighbour tuple at neighbortid by
 * wanted, if it still holds current: writers compute a list with no lock
 * held (that reads other elements' pages) and must not overwrite a list
 * another backend wrote meanwhile.  graph (keeping keys) gives the keys
 * of the elements new to a layer-0 list, whose codes are computed before
 * the page is locked; the codes of the others move with their links.
 */
HnswListWrite
HnswWriteLayerIfUnchanged(HnswDiskGraph *graph, bool building, ItemPointer neighbortid,
						  int layer, const HnswRef *current, int ncurrent,
						  const HnswRef *wanted, int nwanted)
{
	Relation	index = graph->index;
	const HnswIndexInfo *info = graph->info;
	int			m = info->m;
	bool		coded = info->codes != NULL && layer == 0;
	HnswSlotCode *codes = coded ? HnswCodesOf(graph, wanted, nwanted, current, ncurrent) : NULL;
	Buffer		buffer = ReadBuffer(index, ItemPointerGetBlockNumber(neighbortid));
	HnswNeighborTuple neighbors;
	HnswListWrite result = HNSW_LIST_WRITTEN;

	LockBuffer(buffer, BUFFER_LOCK_EXCLUSIVE);
	neighbors = HnswPageGetNeighbors(index, ItemPointerGetBlockNumber(neighbortid), BufferGetPage(buffer),
									 ItemPointerGetOffsetNumber(neighbortid));
	if (neighbors == NULL || neighbors->level < layer)
		result = HNSW_LIST_GONE;
	for (int i = 0; i < HnswLayerSlots(layer, m) && result == HNSW_LIST_WRITTEN; i++)
	{
		ItemPointer slot = &neighbors->slots[HnswLayerStart(layer, m) + i];
		HnswRef		have = ItemPointerIsValid(slot) ? HnswTidToRef(slot) : HNSW_NO_REF;

		if (have != (i < ncurrent ? current[i] : HNSW_NO_REF))
			result = HNSW_LIST_CHANGED;
	}
	if (result == HNSW_LIST_WRITTEN)
	{
		AnnEdit		edit;

		AnnEditBegin(&edit, index, building);
		neighbors = HnswPageGetNeighbors(index, ItemPointerGetBlockNumber(neighbortid),
										 AnnEditRegister(&edit, buffer, false),
										 ItemPointerGetOffsetNumber(neighbortid));
		if (coded)
			keep_current_codes(info, neighbors, current, ncurrent, wanted, nwanted, codes);
		HnswSetLayerSlots(neighbors, layer, m, wanted, nwanted);
		if (coded)
			HnswSetSlotCodes(info, neighbors, codes, nwanted);
		AnnEditFinish(&edit);
	}
	UnlockReleaseBuffer(buffer);
	if (codes != NULL)
		pfree(codes);
	return result;
}

/*
 * The stored key of element (a key, then its signatures), whose page the
 * caller holds locked, which keeps a long key's chain from being
 * rewritten: in the tuple, or for a long key copied into scratch
 * (info->keysize bytes).
 */
const char *
HnswElementStoredKey(Relation index, const HnswIndexInfo *info, HnswElementTuple element,
					 char *scratch)
{
	if (info->long_keysize == 0)
		return element->key;
	AnnReadLongKey(index, ANN_HNSW_PAGE_ID, HNSW_PAGE_KEY, AnnLongKeyPage(element->key),
				   info->known_nblocks, scratch, info->long_keysize);
	memset(scratch + info->long_keysize, 0, info->filter_offset - info->long_keysize);
	memcpy(scratch + info->filter_offset, HnswElementSignatures(info, element),
		   sizeof(AnnSignature) * info->filters.ncolumns);
	return scratch;
}

/* The filter signatures of element's key */
const char *
HnswElementSignatures(const HnswIndexInfo *info, HnswElementTuple element)
{
	if (info->long_keysize > 0)
		return element->key + sizeof(AnnLongKeyRef);
	return HnswKeySignatures(info, element->key);
}

/* ---------------------------------------------------------------------
 * The on-disk graph
 * ---------------------------------------------------------------------
 */

void
HnswDiskGraphInit(HnswDiskGraph *graph, Relation index, bool keep_keys)
{
	graph->index = index;
	graph->info = HnswGetIndexInfo(index);
	graph->query = NULL;
	graph->keep_keys = keep_keys;
	graph->visited = hnswvisit_create(CurrentMemoryContext, 256, NULL);
	graph->expanding = HNSW_NO_REF;
	graph->expanding_layer = -1;
	graph->buffer = InvalidBuffer;
	graph->skip = NULL;
	graph->skip_arg = NULL;
	graph->filter = NULL;
	graph->code_query = NULL;
	graph->pins = palloc(sizeof(Buffer) * 2 * graph->info->m);
	graph->scratch = graph->info->long_keysize > 0 ? palloc(graph->info->keysize) : NULL;
}

/* Forget every visit: the start of a new search for query. */
void
HnswDiskGraphReset(HnswDiskGraph *graph, const void *query)
{
	hnswvisit_reset(graph->visited);
	graph->expanding = HNSW_NO_REF;
	graph->expanding_layer = -1;
	graph->query = query;
}

void
HnswDiskGraphRelease(HnswDiskGraph *graph)
{
	if (BufferIsValid(graph->buffer))
		ReleaseBuffer(graph->buffer);
	graph->buffer = InvalidBuffer;
}

/* Share-lock blkno, keeping its pin for the next call; unlock after use. */
Page
HnswDiskGraphLockPage(HnswDiskGraph *graph, BlockNumber blkno)
{
	if (!BufferIsValid(graph->buffer) || BufferGetBlockNumber(graph->buffer) != blkno)
	{
		if (BufferIsValid(graph->buffer))
			ReleaseBuffer(graph->buffer);
		graph->buffer = AnnReadLinkedBuffer(graph->index, blkno, graph->info->known_nblocks, NULL);
	}
	LockBuffer(graph->buffer, BUFFER_LOCK_SHARE);
	return BufferGetPage(graph->buffer);
}

static inline void
unlock_page(HnswDiskGraph *graph)
{
	LockBuffer(graph->buffer, BUFFER_LOCK_UNLOCK);
}

/* The visit entry of ref, created unvisited if new. */
HnswVisitEntry *
HnswDiskGraphEntry(HnswDiskGraph *graph, HnswRef ref)
{
	bool		found;
	HnswVisitEntry *entry = hnswvisit_insert(graph->visited, ref, &found);

	if (!found)
	{
		entry->layer = HNSW_UNVISITED;
		entry->read = false;
		entry->dead = false;
		entry->matches = false;
		entry->key = NULL;
		entry->parent = HNSW_NO_REF;
	}
	return entry;
}

/*
 * First visit of entry on layer?  (Marks it visited.)  Its parent is the
 * element whose links on this layer led to it: a path on one layer.
 */
static bool
visit_entry(HnswDiskGraph *graph, HnswVisitEntry *entry, int layer)
{
	if (entry->layer <= layer)
		return false;
	entry->parent = graph->expanding_layer == layer ? graph->expanding : HNSW_NO_REF;
	entry->layer = layer;
	return true;
}

static bool
disk_visit(void *arg, HnswRef ref, int layer)
{
	HnswDiskGraph *graph = (HnswDiskGraph *) arg;

	return visit_entry(graph, HnswDiskGraphEntry(graph, ref), layer);
}

/* Has ref been visited on layer 0?  (Looks only: no entry is made.) */
static bool
visited_on_layer0(HnswDiskGraph *graph, HnswRef ref)
{
	HnswVisitEntry *entry = hnswvisit_lookup(graph->visited, ref);

	return entry != NULL && entry->layer <= 0;
}

/* Does the graph's caller want ref passed by (HnswDiskGraphSetSkip)? */
static bool
skipped(HnswDiskGraph *graph, HnswRef ref)
{
	return graph->skip != NULL && graph->skip(graph->skip_arg, ref);
}

/* Does element meet the graph's filter (every one does without a filter)? */
static bool
element_matches(HnswDiskGraph *graph, HnswElementTuple element)
{
	return graph->filter == NULL ||
		AnnFilterMatches(graph->filter, HnswElementSignatures(graph->info, element));
}

/* The distance from the graph's query to a stored key */
static float
query_distance(HnswDiskGraph *graph, const char *stored)
{
	return AnnDistance(&graph->info->dist, graph->query, stored + offsetof(Vector, x),
					   graph->info->dimensions);
}

/*
 * Into nearest (farthest on top), the keep nearest of the live elements
 * with rows that were not visited on layer 0 and meet the graph's filter,
 * with their distances; each is read in place, one share lock a page at
 * a time, and gets no visit entry, so that the sweep's memory is that of
 * the elements it keeps.  Returns how many more there were.
 */
int64
HnswSweepUnvisited(HnswDiskGraph *graph, int keep, HnswHeap *nearest)
{
	BlockNumber nblocks = RelationGetNumberOfBlocks(graph->index);
	int64		left_out = 0;

	Assert(nearest->max_on_top);
	for (BlockNumber blkno = ANN_METAPAGE_BLKNO + 1; blkno < nblocks; blkno++)
	{
		Page		page = HnswDiskGraphLockPage(graph, blkno);
		OffsetNumber maxoff = PageIsNew(page) ? InvalidOffsetNumber : PageGetMaxOffsetNumber(page);

		for (OffsetNumber off = FirstOffsetNumber; off <= maxoff; off++)
		{
			HnswElementTuple element = HnswPageGetElement(graph->index, blkno, page, off);
			ItemPointerData tid;
			HnswRef		ref;
			float		distance;

			if (element == NULL || element->deleted || !ItemPointerIsValid(&element->heaptids[0]))
				continue;
			ItemPointerSet(&tid, blkno, off);
			ref = HnswTidToRef(&tid);
			if (visited_on_layer0(graph, ref) || skipped(graph, ref) || !element_matches(graph, element))
				continue;
			distance = query_distance(graph, HnswElementStoredKey(graph->index, graph->info,
																  element, graph->scratch));
			if (nearest->count < keep)
				HnswHeapPush(nearest, ref, distance);
			else
			{
				left_out++;
				if (keep > 0 && distance < nearest->items[0].distance)
				{
					HnswHeapPop(nearest);
					HnswHeapPush(nearest, ref, distance);
				}
			}
		}
		unlock_page(graph);
		CHECK_FOR_INTERRUPTS();
	}
	return left_out;
}

/*
 * Read an element tuple into entry (level, neighbour TID, key copy) and
 * compute its distance to the query when one is set.  False when the
 * element is gone or filtered out.
 */
static bool
read_element(HnswDiskGraph *graph, HnswVisitEntry *entry, float *distance)
{
	ItemPointerData tid;
	Page		page;
	HnswElementTuple element;
	bool		usable;
	const char *stored = NULL;

	if (skipped(graph, entry->ref))
		return false;
	HnswRefToTid(entry->ref, &tid);
	page = HnswDiskGraphLockPage(graph, ItemPointerGetBlockNumber(&tid));
	element = HnswPageGetElement(graph->index, ItemPointerGetBlockNumber(&tid), page,
								 ItemPointerGetOffsetNumber(&tid));
	usable = element != NULL && !element->deleted;
	if (usable)
	{
		entry->level = element->level;
		entry->neighbortid = element->neighbortid;
		entry->dead = !ItemPointerIsValid(&element->heaptids[0]);
		entry->read = true;
		if ((graph->keep_keys && entry->key == NULL) || distance != NULL)
			stored = HnswElementStoredKey(graph->index, graph->info, element, graph->scratch);
		if (graph->keep_keys && entry->key == NULL)
		{
			Size		keysize = HnswStoredKeySize(graph->info, stored);

			entry->key = palloc(keysize);
			memcpy(entry->key, stored, keysize);
		}
		if (distance != NULL)
			*distance = query_distance(graph, stored);
		entry->matches = element_matches(graph, element);
	}
	unlock_page(graph);
	return usable;
}

/*
 * Pin the pages of all n elements and prefetch their headers and line
 * pointers, then their tuples, then read each under its share lock: the
 * cache misses of the n elements overlap instead of queueing.
 */
static void
disk_distances(void *arg, const HnswRef *refs, int n, float *distances, bool *ok)
{
	HnswDiskGraph *graph = (HnswDiskGraph *) arg;
	Buffer	   *pins = graph->pins;
	/* the header and the key's first lines; the hardware streams the rest */
	Size		prefetch_size = graph->info->keysize > 0 ?
		Min(HNSW_ELEMENT_TUPLE_SIZE(graph->info->keysize), 256) : 256;

	for (int i = 0; i < n; i++)
		AnnPrefetchRecentItem(graph->index, (BlockNumber) (refs[i] >> 16),
							  (OffsetNumber) (refs[i] & 0xFFFF));
	for (int i = 0; i < n; i++)
	{
		pins[i] = AnnReadLinkedBuffer(graph->index, (BlockNumber) (refs[i] >> 16),
									  graph->info->known_nblocks, NULL);
		AnnPrefetchItemHead(BufferGetPage(pins[i]), (OffsetNumber) (refs[i] & 0xFFFF));
	}
	for (int i = 0; i < n; i++)
		AnnPrefetchItem(BufferGetPage(pins[i]), (OffsetNumber) (refs[i] & 0xFFFF), prefetch_size);
	for (int i = 0; i < n; i++)
	{
		HnswVisitEntry *entry = HnswDiskGraphEntry(graph, refs[i]);

		/* read_element locks graph->buffer: hand it this pin */
		if (BufferIsValid(graph->buffer))
			ReleaseBuffer(graph->buffer);
		graph->buffer = pins[i];
		ok[i] = read_element(graph, entry, &distances[i]);
	}
}

/*
 * Neighbours of ref on layer into out; or with coded (layer 0 of a graph
 * with a code query), the neighbours not visited yet, now marked visited,
 * with their distances estimated from the codes beside the links (the
 * codes of visited ones are not even read) and, under a filter, whether
 * they match.  The element is read first if it has not been; -1 if it is
 * gone.
 */
static int
read_neighbors(HnswDiskGraph *graph, HnswRef ref, int layer, HnswRef *out, HnswCandidate *coded)
{
	HnswVisitEntry *entry = HnswDiskGraphEntry(graph, ref);
	const HnswIndexInfo *info = graph->info;
	int			m = info->m;
	int			n = 0;
	Page		page;
	HnswNeighborTuple neighbors;

	if (!entry->read && !read_element(graph, entry, NULL))
		return coded != NULL ? -1 : 0;
	if (layer > entry->level)
		return 0;

	page = HnswDiskGraphLockPage(graph, ItemPointerGetBlockNumber(&entry->neighbortid));
	neighbors = HnswPageGetNeighbors(graph->index, ItemPointerGetBlockNumber(&entry->neighbortid), page,
									 ItemPointerGetOffsetNumber(&entry->neighbortid));
	if (neighbors != NULL && neighbors->level >= layer)
	{
		ItemPointer slots = neighbors->slots + HnswLayerStart(layer, m);

		for (int i = 0; i < HnswLayerSlots(layer, m) && ItemPointerIsValid(&slots[i]); i++)
		{
			HnswRef		neighbor = HnswTidToRef(&slots[i]);
			HnswVisitEntry *seen;
			const HnswSlotCode *code;

			if (coded == NULL)
			{
				out[n++] = neighbor;
				continue;
			}
			seen = HnswDiskGraphEntry(graph, neighbor);
			if (!visit_entry(graph, seen, 0))
				continue;
			code = HnswSlotCodes(info, neighbors, i);
			/* the slot's signatures tell whether it matches before it is read */
			if (graph->filter != NULL)
				seen->matches = AnnFilterMatches(graph->filter, HnswSlotSignatures(info, code));
			coded[n].ref = neighbor;
			coded[n].distance = HnswCodeDistance(info, graph->code_query, code, &coded[n].bound);
			n++;
		}
	}
	unlock_page(graph);
	return n;
}

/* Neighbours of ref on layer. */
int
HnswDiskGraphNeighbors(HnswDiskGraph *graph, HnswRef ref, int layer, HnswRef *out)
{
	return read_neighbors(graph, ref, layer, out, NULL);
}

/* A search expands ref: its neighbours' first visits record it as their parent. */
static int
disk_neighbors(void *arg, HnswRef ref, int layer, HnswRef *out)
{
	HnswDiskGraph *graph = (HnswDiskGraph *) arg;

	graph->expanding = ref;
	graph->expanding_layer = layer;
	return HnswDiskGraphNeighbors(graph, ref, layer, out);
}

/* The same on layer 0, with the code estimates (the graph has a code query) */
static int
disk_coded_neighbors(void *arg, HnswRef ref, HnswCandidate *out)
{
	HnswDiskGraph *graph = (HnswDiskGraph *) arg;

	Assert(graph->code_query != NULL);
	graph->expanding = ref;
	graph->expanding_layer = 0;
	return read_neighbors(graph, ref, 0, NULL, out);
}

/* Does ref meet the graph's filter?  Without one every element does. */
bool
HnswDiskGraphMatches(HnswDiskGraph *graph, HnswRef ref)
{
	return graph->filter == NULL || HnswDiskGraphEntry(graph, ref)->matches;
}

/* The search will likely expand ref next: start loading its page's head */
static void
disk_prefetch(void *arg, HnswRef ref, int layer)
{
	HnswDiskGraph *graph = (HnswDiskGraph *) arg;

	AnnPrefetchRecentItem(graph->index, (BlockNumber) (ref >> 16), (OffsetNumber) (ref & 0xFFFF));
}

const HnswGraphOps hnsw_disk_graph_ops = {
	.visit = disk_visit,
	.distances = disk_distances,
	.neighbors = disk_neighbors,
	.coded_neighbors = disk_coded_neighbors,
	.prefetch = disk_prefetch
};

/*
 * The stored key of ref, signatures included (read and copied if needed),
 * or NULL if it is gone.
 */
const char *
HnswDiskGraphStoredKey(HnswDiskGraph *graph, HnswRef ref)
{
	HnswVisitEntry *entry = HnswDiskGraphEntry(graph, ref);

	Assert(graph->keep_keys);
	if (entry->key == NULL && !read_element(graph, entry, NULL))
		return NULL;
	return entry->key;
}

/* The key elements of ref, or NULL when it is gone; the graph keeps keys */
const void *
HnswDiskGraphKey(HnswDiskGraph *graph, HnswRef ref)
{
	const char *stored = HnswDiskGraphStoredKey(graph, ref);

	return stored != NULL ? stored + offsetof(Vector, x) : NULL;
}

/*
 * Of owner's links[0..n), the farthest from owner among those in
 * refs[0..nrefs) (in_refs) or not in it (!in_refs); -1 if none.
 */
int
HnswFarthestLink(HnswDiskGraph *graph, HnswRef owner, const HnswRef *links, int n,
				 const HnswRef *refs, int nrefs, bool in_refs)
{
	int			best = -1;
	float		farthest = 0;

	for (int i = 0; i < n; i++)
	{
		float		d;

		if (HnswHoldsRef(refs, nrefs, links[i]) != in_refs)
			continue;
		d = HnswDiskGraphPairDistance(graph, owner, links[i]);
		if (best < 0 || d > farthest)
		{
			best = i;
			farthest = d;
		}
	}
	return best;
}

/*
 * Distance between the keys of two elements of a graph that keeps keys:
 * the pair distance HnswSelectNeighbors asks for.  An element vacuumed
 * away meanwhile is infinitely far, so it never blocks a candidate.
 */
float
HnswDiskGraphPairDistance(void *arg, HnswRef a, HnswRef b)
{
	HnswDiskGraph *graph = (HnswDiskGraph *) arg;
	const void *ka = HnswDiskGraphKey(graph, a);
	const void *kb = HnswDiskGraphKey(graph, b);

	if (ka == NULL || kb == NULL)
		return FLT_MAX;
	return AnnDistance(&graph->info->dist, ka, kb, graph->info->dimensions);
}

static const char *
disk_stored_key(void *graph, HnswRef ref)
{
	return HnswDiskGraphStoredKey((HnswDiskGraph *) graph, ref);
}

const HnswPairOps hnsw_disk_pair_ops = {
	.distance = HnswDiskGraphPairDistance,
	.stored_key = disk_stored_key,
};

/* Are a and b twins (HnswTwins)?  Twins keep a chain of twin links (README). */
bool
HnswDiskGraphTwins(HnswDiskGraph *graph, HnswRef a, HnswRef b)
{
	return HnswTwins(graph->info, &hnsw_disk_pair_ops, graph, a, b, NAN);
}

/* Which of owner's links[0..n) leads to a twin of owner (its chain's), or -1 */
int
HnswTwinLinkAt(HnswDiskGraph *graph, HnswRef owner, const HnswRef *links, int n)
{
	for (int i = 0; i < n; i++)
		if (HnswDiskGraphTwins(graph, owner, links[i]))
			return i;
	return -1;
}

/* Copy the live heap TIDs of element ref into tids; returns how many. */
int
HnswDiskGraphHeapTids(HnswDiskGraph *graph, HnswRef ref, ItemPointerData *tids)
{
	ItemPointerData tid;
	Page		page;
	HnswElementTuple element;
	int			n = 0;

	HnswRefToTid(ref, &tid);
	page = HnswDiskGraphLockPage(graph, ItemPointerGetBlockNumber(&tid));
	element = HnswPageGetElement(graph->index, ItemPointerGetBlockNumber(&tid), page,
								 ItemPointerGetOffsetNumber(&tid));
	if (element != NULL && !element->deleted)
	{
		for (int i = 0; i < HNSW_HEAPTIDS; i++)
			if (ItemPointerIsValid(&element->heaptids[i]))
				tids[n++] = element->heaptids[i];
	}
	unlock_page(graph);
	return n;
}
