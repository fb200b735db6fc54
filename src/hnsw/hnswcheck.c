/*
 * hnswcheck.c
 *		ann_check_index for hnsw: pages, tuples, links and reachability.
 *
 * Pass 1 reads every page, one share lock at a time: its header and kind,
 * each tuple's size and fields; it notes every element and neighbour
 * tuple and collects the heap TIDs.  Pass 2 walks the graph from the
 * entry point through the links of every layer, as searches follow them
 * (a layer's list ends at its first empty slot; links to deleted
 * elements are not followed): every link must point at an element, every
 * element's neighbour tuple must exist with its level, and an element
 * whose heap rows include one visible to the check's snapshot that the
 * walk does not reach is a row no search can find (an element of an
 * insert that a crash cut short, or that has not committed yet, may be
 * unlinked: its row is not visible, and VACUUM removes it).  A check
 * running beside inserts reads pages as they change: an element an
 * insert links after pass 1 read its neighbours' pages may look
 * unreachable, so the walk is repeated on current pages before an
 * element is reported, and once more after waiting out any VACUUM of the
 * table (its repairs can leave an element unlinked for a while).  The
 * signature directory, when there is one, must point at elements only.
 */
#include "postgres.h"

#include "access/xlog.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"

#include "anncheck.h"
#include "hnsw.h"

typedef struct HnswCheck
{
	Relation	index;
	const HnswIndexInfo *info;
	BlockNumber nblocks;
	struct hnswwalk_hash *seen;
	AnnTidSet  *tids;
	Relation	heap;
	Snapshot	snapshot;
	char	   *scratch;		/* a long key read from its pages, or NULL */
} HnswCheck;

static void
fail_at(HnswCheck *check, ItemPointer tid, const char *problem)
{
	AnnCheckFailed(check->index, ItemPointerGetBlockNumber(tid), ItemPointerGetOffsetNumber(tid),
				   problem);
}

/*
 * Is tid a place a tuple of this index can be?  Inserts beside the check
 * extend the index: a block past the size seen so far makes the check
 * look at the size again.
 */
static bool
tid_in_index(HnswCheck *check, ItemPointer tid)
{
	if (!ItemPointerIsValid(tid) || ItemPointerGetBlockNumber(tid) == ANN_METAPAGE_BLKNO)
		return false;
	if (ItemPointerGetBlockNumber(tid) >= check->nblocks)
		check->nblocks = RelationGetNumberOfBlocks(check->index);
	return ItemPointerGetBlockNumber(tid) < check->nblocks;
}

/*
 * The tuple at off of a page that AnnCheckPage accepted, line pointer
 * checked, and its length in *len
 */
static uint8 *
checked_tuple(HnswCheck *check, BlockNumber blkno, Page page, OffsetNumber off, Size *len)
{
	uint8	   *tuple = AnnPageGetItemChecked(check->index, blkno, page, off, 0);

	*len = ItemIdGetLength(PageGetItemId(page, off));
	return tuple;
}

static void
note_element(HnswCheck *check, ItemPointer tid, HnswElementTuple element, Size len)
{
	HnswWalkEntry *entry;
	bool		found;

	if (!HnswElementSizeMatches(check->info, element->key, len))
		fail_at(check, tid, psprintf("An element tuple of %zu bytes does not hold a key of the index.",
									 len));
	if (element->level > HNSW_MAX_LEVEL || element->deleted > 1)
		fail_at(check, tid, "An element has an invalid level or deleted flag.");
	if (!element->deleted && !tid_in_index(check, &element->neighbortid))
		fail_at(check, tid, "An element's neighbour tuple lies outside the index.");
	/* a long key's chain must read back whole (AnnReadLongKey checks it) */
	if (!element->deleted && check->scratch != NULL)
		HnswElementStoredKey(check->index, check->info, element, check->scratch);
	entry = hnswwalk_insert(check->seen, HnswTidToRef(tid), &found);
	entry->type = HNSW_ELEMENT_TUPLE;
	entry->level = element->level;
	entry->deleted = element->deleted;
	entry->live = false;
	entry->reached = false;
	entry->neighbors = HnswTidToRef(&element->neighbortid);
	for (int i = 0; i < HNSW_HEAPTIDS && !element->deleted; i++)
		if (ItemPointerIsValid(&element->heaptids[i]))
		{
			entry->live = true;
			AnnTidSetAdd(check->tids, &element->heaptids[i]);
		}
}

static void
note_neighbors(HnswCheck *check, ItemPointer tid, HnswNeighborTuple neighbors, Size len)
{
	HnswWalkEntry *entry;
	bool		found;

	if (neighbors->level > HNSW_MAX_LEVEL ||
		neighbors->nslots < HnswSlotCount(neighbors->level, check->info->m) ||
		len < offsetof(HnswNeighborTupleData, slots) + sizeof(ItemPointerData) * neighbors->nslots)
		fail_at(check, tid, "A neighbour tuple's level, slot count and size disagree.");
	entry = hnswwalk_insert(check->seen, HnswTidToRef(tid), &found);
	entry->type = HNSW_NEIGHBOR_TUPLE;
	entry->level = neighbors->level;
	entry->reached = false;
}

/* Pass 1 over one element page */
static void
check_element_page(HnswCheck *check, BlockNumber blkno, Page page)
{
	for (OffsetNumber off = FirstOffsetNumber; off <= PageGetMaxOffsetNumber(page); off++)
	{
		ItemPointerData tid;
		Size		len;
		uint8	   *tuple = checked_tuple(check, blkno, page, off, &len);

		ItemPointerSet(&tid, blkno, off);
		if (*tuple == HNSW_ELEMENT_TUPLE)
			note_element(check, &tid, (HnswElementTuple) tuple, len);
		else if (*tuple == HNSW_NEIGHBOR_TUPLE)
			note_neighbors(check, &tid, (HnswNeighborTuple) tuple, len);
		else
			fail_at(check, &tid, psprintf("A tuple has the unknown type %u.", *tuple));
	}
}

/* Pass 1: every page */
static void
check_pages(HnswCheck *check)
{
	BufferAccessStrategy strategy = GetAccessStrategy(BAS_BULKREAD);

	for (BlockNumber blkno = ANN_METAPAGE_BLKNO + 1; blkno < check->nblocks; blkno++)
	{
		Buffer		buffer = ReadBufferExtended(check->index, MAIN_FORKNUM, blkno, RBM_NORMAL,
												strategy);
		Page		page;

		LockBuffer(buffer, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buffer);
		if (!PageIsNew(page))
		{
			AnnCheckPage(check->index, blkno, page, ANN_HNSW_PAGE_ID,
						 HNSW_PAGE_ELEMENTS | HNSW_PAGE_SIGNATURES | HNSW_PAGE_KEY);
			if (AnnPageGetOpaque(page)->flags & HNSW_PAGE_ELEMENTS)
				check_element_page(check, blkno, page);
		}
		UnlockReleaseBuffer(buffer);
		CHECK_FOR_INTERRUPTS();
	}
	FreeAccessStrategy(strategy);
}

/*
 * The tuple at ref as pass 1 saw it, or as it is now if an insert added
 * it since; NULL if there is none.
 */
static HnswWalkEntry *
seen_tuple(HnswCheck *check, HnswRef ref)
{
	HnswWalkEntry *entry = hnswwalk_lookup(check->seen, ref);
	ItemPointerData tid;

	HnswRefToTid(ref, &tid);
	if (entry == NULL && tid_in_index(check, &tid))
	{
		Buffer		buffer = ReadBuffer(check->index, ItemPointerGetBlockNumber(&tid));
		Page		page;

		LockBuffer(buffer, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buffer);
		if (!PageIsNew(page) && (AnnPageGetOpaque(page)->flags & HNSW_PAGE_ELEMENTS) &&
			ItemPointerGetOffsetNumber(&tid) <= PageGetMaxOffsetNumber(page))
		{
			Size		len;
			uint8	   *tuple = checked_tuple(check, ItemPointerGetBlockNumber(&tid), page,
											  ItemPointerGetOffsetNumber(&tid), &len);

			if (*tuple == HNSW_ELEMENT_TUPLE)
				note_element(check, &tid, (HnswElementTuple) tuple, len);
			else if (*tuple == HNSW_NEIGHBOR_TUPLE)
				note_neighbors(check, &tid, (HnswNeighborTuple) tuple, len);
		}
		UnlockReleaseBuffer(buffer);
		entry = hnswwalk_lookup(check->seen, ref);
	}
	return entry;
}

/* The element at ref, as seen_tuple gives it; fails if ref is not an element */
static HnswWalkEntry *
element_at(HnswCheck *check, HnswRef ref, ItemPointer from)
{
	HnswWalkEntry *entry = seen_tuple(check, ref);
	ItemPointerData tid;

	HnswRefToTid(ref, &tid);
	if (entry == NULL || entry->type != HNSW_ELEMENT_TUPLE)
		fail_at(check, from, psprintf("A link points at (%u,%u), which is not an element.",
									  ItemPointerGetBlockNumber(&tid),
									  ItemPointerGetOffsetNumber(&tid)));
	return entry;
}

/* The element at ref (or NULL), its page share-locked in *buffer */
static HnswElementTuple
lock_element(HnswCheck *check, HnswRef ref, Buffer *buffer)
{
	ItemPointerData tid;

	HnswRefToTid(ref, &tid);
	*buffer = ReadBuffer(check->index, ItemPointerGetBlockNumber(&tid));
	LockBuffer(*buffer, BUFFER_LOCK_SHARE);
	return HnswPageGetElement(check->index, ItemPointerGetBlockNumber(&tid), BufferGetPage(*buffer),
							  ItemPointerGetOffsetNumber(&tid));
}

/*
 * Does code hold the code of the key of the element at ref?  A code is a
 * function of the key, so every write of a link must have stored it.
 */
static bool
code_matches(HnswCheck *check, HnswRef ref, const HnswSlotCode *code)
{
	const HnswIndexInfo *info = check->info;
	HnswSlotCode *expected = palloc(info->codes->slot_size);
	Buffer		buffer;
	HnswElementTuple element = lock_element(check, ref, &buffer);
	bool		matches;

	HnswEncodeKey(info, element != NULL && !element->deleted ?
				  HnswElementStoredKey(check->index, info, element, check->scratch) : NULL,
				  expected);
	UnlockReleaseBuffer(buffer);
	matches = memcmp(expected, code, info->codes->slot_size) == 0;
	pfree(expected);
	return matches;
}

/*
 * The links of an element, layer 0 first, into out (room for (level + 2)
 * * m); returns how many, and in *nzero how many are layer 0's.  Reads
 * the neighbour tuple now, and checks the codes of layer 0 against the
 * linked elements.
 */
static int
element_links(HnswCheck *check, HnswRef ref, const HnswWalkEntry *element, HnswRef *out,
			  int *nzero_out)
{
	int			m = check->info->m;
	ItemPointerData ntid;
	ItemPointerData etid;
	Buffer		buffer;
	Page		page;
	HnswNeighborTuple neighbors;
	HnswWalkEntry *nentry = seen_tuple(check, element->neighbors);
	int			n = 0;
	int			nzero = 0;
	char	   *codes = NULL;

	HnswRefToTid(element->neighbors, &ntid);
	HnswRefToTid(ref, &etid);
	if (nentry == NULL || nentry->type != HNSW_NEIGHBOR_TUPLE || nentry->level != element->level)
		fail_at(check, &etid, "An element's neighbour tuple is missing or of another level.");
	buffer = ReadBuffer(check->index, ItemPointerGetBlockNumber(&ntid));
	LockBuffer(buffer, BUFFER_LOCK_SHARE);
	page = BufferGetPage(buffer);
	neighbors = HnswPageGetNeighbors(check->index, ItemPointerGetBlockNumber(&ntid), page,
									 ItemPointerGetOffsetNumber(&ntid));
	if (neighbors != NULL)
		for (int layer = 0; layer <= Min(element->level, neighbors->level); layer++)
		{
			ItemPointer slots = neighbors->slots + HnswLayerStart(layer, m);

			for (int i = 0; i < HnswLayerSlots(layer, m) && ItemPointerIsValid(&slots[i]); i++)
				out[n++] = HnswTidToRef(&slots[i]);
			if (layer == 0)
				nzero = n;
		}
	if (check->info->codes != NULL && nzero > 0)
	{
		codes = palloc(check->info->codes->slot_size * nzero);
		memcpy(codes, HnswSlotCodes(check->info, neighbors, 0), check->info->codes->slot_size * nzero);
	}
	UnlockReleaseBuffer(buffer);
	for (int i = 0; codes != NULL && i < nzero; i++)
		if (!code_matches(check, out[i], (const HnswSlotCode *) (codes + check->info->codes->slot_size * i)))
			fail_at(check, &ntid, psprintf("The code of layer-0 link %d is not the code of the element it links to.", i));
	if (codes != NULL)
		pfree(codes);
	*nzero_out = nzero;
	return n;
}

/* Has the element at ref a heap row visible to the check's snapshot? */
static bool
has_visible_row(HnswCheck *check, HnswRef ref)
{
	ItemPointerData heaptids[HNSW_HEAPTIDS];
	int			n = 0;
	Buffer		buffer;
	HnswElementTuple element = lock_element(check, ref, &buffer);
	for (int i = 0; element != NULL && !element->deleted && i < HNSW_HEAPTIDS; i++)
		if (ItemPointerIsValid(&element->heaptids[i]))
			heaptids[n++] = element->heaptids[i];
	UnlockReleaseBuffer(buffer);
	for (int i = 0; i < n; i++)
		if (AnnHeapRowVisible(check->heap, check->snapshot, &heaptids[i]))
			return true;
	return false;
}

/*
 * Pass 2: walk layer 0 from the entry point; returns how many elements
 * with rows visible to the snapshot it did not reach, and the first of
 * them in *first.
 */
static int64
walk_graph(HnswCheck *check, HnswRef entry_ref, ItemPointer first)
{
	hnswwalk_iterator it;
	HnswWalkEntry *entry;
	HnswRef    *stack;
	int64		top = 0;
	int64		capacity = 1024;
	HnswRef    *links = palloc(sizeof(HnswRef) * HnswSlotCount(HNSW_MAX_LEVEL, check->info->m));
	int64		unreached = 0;
	ItemPointerData meta_tid;

	hnswwalk_start_iterate(check->seen, &it);
	while ((entry = hnswwalk_iterate(check->seen, &it)) != NULL)
		entry->reached = false;
	stack = palloc(sizeof(HnswRef) * capacity);
	ItemPointerSet(&meta_tid, ANN_METAPAGE_BLKNO, FirstOffsetNumber);
	element_at(check, entry_ref, &meta_tid)->reached = true;
	stack[top++] = entry_ref;
	while (top > 0)
	{
		HnswRef		ref = stack[--top];
		HnswWalkEntry element = *hnswwalk_lookup(check->seen, ref);
		ItemPointerData from;
		int			n;
		int			nzero;

		if (element.deleted)
			continue;
		n = element_links(check, ref, &element, links, &nzero);
		HnswRefToTid(element.neighbors, &from);
		for (int i = 0; i < n; i++)
		{
			HnswWalkEntry *target = element_at(check, links[i], &from);

			/* reached through layer 0, as a scan goes on after its descent */
			if (i >= nzero || target->reached || target->deleted)
				continue;
			target->reached = true;
			if (top == capacity)
			{
				capacity *= 2;
				stack = repalloc_huge(stack, sizeof(HnswRef) * capacity);
			}
			stack[top++] = links[i];
		}
		CHECK_FOR_INTERRUPTS();
	}

	hnswwalk_start_iterate(check->seen, &it);
	while ((entry = hnswwalk_iterate(check->seen, &it)) != NULL)
		if (entry->type == HNSW_ELEMENT_TUPLE && entry->live && !entry->reached &&
			has_visible_row(check, entry->ref) && unreached++ == 0)
			HnswRefToTid(entry->ref, first);
	pfree(stack);
	pfree(links);
	return unreached;
}

/* The signature directory: a chain of signature pages whose entries name elements */
static void
check_directory(HnswCheck *check, BlockNumber head)
{
	Size		size = MAXALIGN(offsetof(HnswSignatureTupleData, signatures) +
								sizeof(AnnSignature) * check->info->filters.ncolumns);
	AnnChainBound bound = AnnChainStart(check->nblocks);

	for (BlockNumber blkno = head; BlockNumberIsValid(blkno);)
	{
		Buffer		buffer;
		Page		page;
		BlockNumber next;
		int			n;
		HnswRef    *refs;

		AnnChainStep(check->index, blkno, &bound);
		buffer = ReadBuffer(check->index, blkno);
		LockBuffer(buffer, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buffer);
		AnnCheckPage(check->index, blkno, page, ANN_HNSW_PAGE_ID, HNSW_PAGE_SIGNATURES);
		n = PageGetMaxOffsetNumber(page);
		refs = palloc(sizeof(HnswRef) * Max(n, 1));
		for (OffsetNumber off = FirstOffsetNumber; off <= n; off++)
		{
			HnswSignatureTuple tuple = AnnPageGetItemChecked(check->index, blkno, page, off, size);

			refs[off - 1] = HnswTidToRef(&tuple->element);
		}
		next = AnnPageGetOpaque(page)->nextblkno;
		UnlockReleaseBuffer(buffer);
		for (OffsetNumber off = FirstOffsetNumber; off <= n; off++)
		{
			ItemPointerData from;

			ItemPointerSet(&from, blkno, off);
			element_at(check, refs[off - 1], &from);
		}
		pfree(refs);
		blkno = next;
	}
}

/*
 * Check an hnsw index (AccessShareLock held on it and on heap, its table),
 * adding the heap TIDs of its live elements to tids; snapshot tells which
 * rows must be reachable.  Raises INDEX_CORRUPTED at the first problem.
 */
void
HnswCheckIndex(Relation index, AnnTidSet *tids, Relation heap, Snapshot snapshot)
{
	HnswCheck	check;
	HnswMetaPageData meta;
	ItemPointerData first;
	bool		locked = false;

	HnswReadMeta(index, &meta);
	check.index = index;
	check.info = HnswGetIndexInfo(index);
	check.nblocks = RelationGetNumberOfBlocks(index);
	check.seen = hnswwalk_create(CurrentMemoryContext, 1024, NULL);
	check.tids = tids;
	check.heap = heap;
	check.snapshot = snapshot;
	check.scratch = check.info->long_keysize > 0 ? palloc(check.info->keysize) : NULL;
	check_pages(&check);
	if (BlockNumberIsValid(meta.signature_head))
		check_directory(&check, meta.signature_head);
	if (!ItemPointerIsValid(&meta.entry))
	{
		hnswwalk_iterator it;
		HnswWalkEntry *entry;

		hnswwalk_start_iterate(check.seen, &it);
		while ((entry = hnswwalk_iterate(check.seen, &it)) != NULL)
			if (entry->type == HNSW_ELEMENT_TUPLE && entry->live &&
				has_visible_row(&check, entry->ref))
			{
				HnswRefToTid(entry->ref, &first);
				fail_at(&check, &first, "The index has live elements but no entry point.");
			}
		return;
	}
	/*
	 * A second walk on current pages before an element is called
	 * unreachable, and a third once no VACUUM runs on the table: while
	 * VACUUM repairs the lists that led to dead elements, a live element
	 * can be left without links until it relinks the orphans, at its end.
	 * (A standby can neither take the lock nor hold off its primary's
	 * VACUUM.)
	 */
	for (int walk = 1;; walk++)
	{
		int64		unreached = walk_graph(&check, HnswTidToRef(&meta.entry), &first);

		if (unreached == 0)
			break;
		if (walk == 2 && !RecoveryInProgress())
		{
			LockRelation(heap, ShareUpdateExclusiveLock);
			locked = true;
		}
		else if (walk > 1)
			fail_at(&check, &first,
					psprintf("%lld elements with visible rows cannot be reached from the entry point.",
							 (long long) unreached));
		HnswReadMeta(index, &meta);
	}
	if (locked)
		UnlockRelation(heap, ShareUpdateExclusiveLock);
}
