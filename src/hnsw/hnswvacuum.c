/*
 * hnswvacuum.c
 *		VACUUM for hnsw: drop dead heap TIDs, repair the graph around
 *		elements that lost all of theirs, then free those elements.
 *
 * 1. Every page, exclusively locked in turn: remove heap TIDs the callback
 *    reports dead.  Elements left with none are "dead": still in the
 *    graph, traversed but never returned.
 * 2. Under HNSW_UPDATE_LOCK exclusive (no inserts run): move the entry
 *    point off a dead element, then re-choose every layer list that links
 *    to a dead element from its live links plus the live links of the
 *    dead ones (two hops), with the usual heuristic.
 * 3. Mark dead elements deleted and empty their neighbour lists; later
 *    inserts reuse their space, from the lowest such page on.
 *
 * See README, "Vacuum", for the states readers can meet in between.
 */
#include "postgres.h"

#include "commands/vacuum.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/memutils.h"

#include "hnsw.h"

typedef struct HnswVacuumState
{
	Relation	index;
	IndexVacuumInfo *vinfo;
	const HnswIndexInfo *info;
	HnswRef    *dead;			/* ascending, as found */
	int			ndead;
	int			dead_capacity;
	HnswRef		best_live;		/* a live element of the highest level */
	int			best_live_level;
	HnswDiskGraph graph;		/* keeps keys, for repair distances */
} HnswVacuumState;

static bool
is_dead(HnswVacuumState *vs, HnswRef ref)
{
	int			lo = 0,
				hi = vs->ndead - 1;

	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;

		if (vs->dead[mid] == ref)
			return true;
		if (vs->dead[mid] < ref)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return false;
}

static void
add_dead(HnswVacuumState *vs, HnswRef ref)
{
	if (vs->ndead == vs->dead_capacity)
	{
		vs->dead_capacity *= 2;
		vs->dead = repalloc_huge(vs->dead, sizeof(HnswRef) * vs->dead_capacity);
	}
	vs->dead[vs->ndead++] = ref;
}

/* Does any element of page hold a heap TID the callback reports dead? */
static bool
page_has_dead_tids(Page page, IndexBulkDeleteCallback callback, void *callback_state)
{
	for (OffsetNumber off = FirstOffsetNumber; off <= PageGetMaxOffsetNumber(page); off++)
	{
		HnswElementTuple element = HnswPageGetElement(page, off);

		if (element == NULL || element->deleted)
			continue;
		for (int i = 0; i < HNSW_HEAPTIDS; i++)
			if (ItemPointerIsValid(&element->heaptids[i]) &&
				callback(&element->heaptids[i], callback_state))
				return true;
	}
	return false;
}

/* Drop the dead heap TIDs, keeping the live ones first (inserts fill the first free slot). */
static void
drop_dead_tids(Page page, IndexBulkDeleteCallback callback, void *callback_state,
			   IndexBulkDeleteResult *stats)
{
	for (OffsetNumber off = FirstOffsetNumber; off <= PageGetMaxOffsetNumber(page); off++)
	{
		HnswElementTuple element = HnswPageGetElement(page, off);
		int			live = 0;

		if (element == NULL || element->deleted)
			continue;
		for (int i = 0; i < HNSW_HEAPTIDS; i++)
		{
			ItemPointerData tid = element->heaptids[i];

			ItemPointerSetInvalid(&element->heaptids[i]);
			if (!ItemPointerIsValid(&tid))
				continue;
			if (callback(&tid, callback_state))
				stats->tuples_removed++;
			else
				element->heaptids[live++] = tid;
		}
	}
}

/* Count the page's live TIDs; note elements left with none, and the highest live one. */
static void
survey_page(HnswVacuumState *vs, Page page, BlockNumber blkno, IndexBulkDeleteResult *stats)
{
	for (OffsetNumber off = FirstOffsetNumber; off <= PageGetMaxOffsetNumber(page); off++)
	{
		HnswElementTuple element = HnswPageGetElement(page, off);
		ItemPointerData tid;
		int			live = 0;

		if (element == NULL || element->deleted)
			continue;
		for (int i = 0; i < HNSW_HEAPTIDS; i++)
			live += ItemPointerIsValid(&element->heaptids[i]) ? 1 : 0;
		stats->num_index_tuples += live;
		ItemPointerSet(&tid, blkno, off);
		if (live == 0)
			add_dead(vs, HnswTidToRef(&tid));
		else if (element->level > vs->best_live_level)
		{
			vs->best_live = HnswTidToRef(&tid);
			vs->best_live_level = element->level;
		}
	}
}

/* Pass 1 over every page. */
static void
remove_dead_tuples(HnswVacuumState *vs, IndexBulkDeleteCallback callback,
				   void *callback_state, IndexBulkDeleteResult *stats)
{
	BlockNumber nblocks = RelationGetNumberOfBlocks(vs->index);

	for (BlockNumber blkno = ANN_METAPAGE_BLKNO + 1; blkno < nblocks; blkno++)
	{
		Buffer		buffer;
		Page		page;

		vacuum_delay_point();
		buffer = ReadBufferExtended(vs->index, MAIN_FORKNUM, blkno, RBM_NORMAL,
									vs->vinfo->strategy);
		LockBuffer(buffer, BUFFER_LOCK_EXCLUSIVE);
		page = BufferGetPage(buffer);
		if (!PageIsNew(page))
		{
			/* most pages need no WAL record at all */
			if (page_has_dead_tids(page, callback, callback_state))
			{
				AnnEdit		edit;

				AnnEditBegin(&edit, vs->index, false);
				drop_dead_tids(AnnEditRegister(&edit, buffer, false), callback,
							   callback_state, stats);
				AnnEditFinish(&edit);
			}
			survey_page(vs, page, blkno, stats);
		}
		UnlockReleaseBuffer(buffer);
	}
}

/* Add ref to candidates unless it is the element itself, dead or there already. */
static void
add_candidate(HnswVacuumState *vs, HnswRef self, HnswRef ref, HnswCandidate *candidates,
			  int *n)
{
	if (ref == self || is_dead(vs, ref))
		return;
	for (int i = 0; i < *n; i++)
		if (candidates[i].ref == ref)
			return;
	candidates[*n].ref = ref;
	candidates[*n].distance = HnswDiskGraphPairDistance(&vs->graph, self, ref);
	(*n)++;
}

/*
 * New links of self on layer, replacing dead ones by their live
 * neighbours; returns how many, or -1 when the layer links no dead
 * element and needs no change.
 */
static int
repair_layer(HnswVacuumState *vs, HnswRef self, int layer, HnswRef *out)
{
	int			m = vs->info->m;
	HnswRef    *links = palloc(sizeof(HnswRef) * 2 * m);
	HnswRef    *hop = palloc(sizeof(HnswRef) * 2 * m);
	HnswCandidate *candidates = palloc(sizeof(HnswCandidate) * (2 * m * (2 * m + 1)));
	HnswCandidate *kept = palloc(sizeof(HnswCandidate) * 2 * m);
	int			nlinks = HnswDiskGraphNeighbors(&vs->graph, self, layer, links);
	int			n = 0;
	bool		any_dead = false;

	for (int i = 0; i < nlinks; i++)
		any_dead |= is_dead(vs, links[i]);
	if (!any_dead)
		return -1;

	for (int i = 0; i < nlinks; i++)
	{
		if (is_dead(vs, links[i]))
		{
			int			nhop = HnswDiskGraphNeighbors(&vs->graph, links[i], layer, hop);

			for (int j = 0; j < nhop; j++)
				add_candidate(vs, self, hop[j], candidates, &n);
		}
		else
			add_candidate(vs, self, links[i], candidates, &n);
	}
	qsort(candidates, n, sizeof(HnswCandidate), HnswCompareCandidates);
	/* the heuristic's cost grows with candidates; the nearest few decide */
	n = HnswSelectNeighbors(candidates, Min(n, vs->info->ef_construction),
							HnswLayerSlots(layer, m), HnswDiskGraphPairDistance, &vs->graph,
							AnnZeroMeansEqual(&vs->info->dist), kept, NULL);
	for (int i = 0; i < n; i++)
		out[i] = kept[i].ref;
	return n;
}

/* Rewrite the lists of one live element that link to dead ones. */
static void
repair_element(HnswVacuumState *vs, HnswRef self)
{
	HnswVisitEntry *entry;
	ItemPointerData neighbortid;
	int			level;
	int			m = vs->info->m;
	HnswRef    *links = palloc(sizeof(HnswRef) * 2 * m);

	/* copy what we need: visit entries move as the graph's hash grows */
	if (HnswDiskGraphKey(&vs->graph, self) == NULL)
		return;
	entry = HnswDiskGraphEntry(&vs->graph, self);
	neighbortid = entry->neighbortid;
	level = entry->level;

	for (int layer = level; layer >= 0; layer--)
	{
		int			n = repair_layer(vs, self, layer, links);
		Buffer		buffer;
		AnnEdit		edit;
		HnswNeighborTuple neighbors;

		if (n < 0)
			continue;
		buffer = ReadBuffer(vs->index, ItemPointerGetBlockNumber(&neighbortid));
		LockBuffer(buffer, BUFFER_LOCK_EXCLUSIVE);
		AnnEditBegin(&edit, vs->index, false);
		neighbors = HnswPageGetNeighbors(AnnEditRegister(&edit, buffer, false),
										 ItemPointerGetOffsetNumber(&neighbortid));
		if (neighbors != NULL && neighbors->level >= layer)
		{
			HnswSetLayerSlots(neighbors, layer, m, links, n);
			AnnEditFinish(&edit);
		}
		else
			AnnEditAbort(&edit);
		/* the next layer reads through the graph, which must not wait on us */
		UnlockReleaseBuffer(buffer);
	}
}

/* Pass 2: every live element that links to a dead one is repaired. */
static void
repair_graph(HnswVacuumState *vs)
{
	BlockNumber nblocks = RelationGetNumberOfBlocks(vs->index);
	MemoryContext repair_cxt = AllocSetContextCreate(CurrentMemoryContext,
													 "Hnsw vacuum repair context",
													 ALLOCSET_DEFAULT_SIZES);

	for (BlockNumber blkno = ANN_METAPAGE_BLKNO + 1; blkno < nblocks; blkno++)
	{
		HnswRef    *elements;
		int			nelements = 0;
		Page		page;
		MemoryContext old;

		vacuum_delay_point();
		old = MemoryContextSwitchTo(repair_cxt);
		HnswDiskGraphInit(&vs->graph, vs->index, true);
		page = HnswDiskGraphLockPage(&vs->graph, blkno);
		elements = palloc(sizeof(HnswRef) * Max(PageGetMaxOffsetNumber(page), 1));
		for (OffsetNumber off = FirstOffsetNumber; off <= PageGetMaxOffsetNumber(page); off++)
		{
			HnswElementTuple element = HnswPageGetElement(page, off);
			ItemPointerData tid;

			ItemPointerSet(&tid, blkno, off);
			if (element != NULL && !element->deleted && !is_dead(vs, HnswTidToRef(&tid)))
				elements[nelements++] = HnswTidToRef(&tid);
		}
		LockBuffer(vs->graph.buffer, BUFFER_LOCK_UNLOCK);
		for (int i = 0; i < nelements; i++)
			repair_element(vs, elements[i]);
		/* keys copied for this page's repairs are not needed again soon */
		HnswDiskGraphRelease(&vs->graph);
		MemoryContextSwitchTo(old);
		MemoryContextReset(repair_cxt);
	}
	MemoryContextDelete(repair_cxt);
}

/* Move the entry point to a live element when it is dead. */
static void
replace_entry_point(HnswVacuumState *vs)
{
	Buffer		metabuf = ReadBuffer(vs->index, ANN_METAPAGE_BLKNO);
	HnswMetaPage meta;
	AnnEdit		edit;

	LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
	meta = (HnswMetaPage) PageGetContents(BufferGetPage(metabuf));
	if (ItemPointerIsValid(&meta->entry) && is_dead(vs, HnswTidToRef(&meta->entry)))
	{
		AnnEditBegin(&edit, vs->index, false);
		meta = (HnswMetaPage) PageGetContents(AnnEditRegister(&edit, metabuf, false));
		if (vs->best_live != HNSW_NO_REF)
		{
			HnswRefToTid(vs->best_live, &meta->entry);
			meta->entry_level = vs->best_live_level;
		}
		else
		{
			ItemPointerSetInvalid(&meta->entry);
			meta->entry_level = -1;
		}
		AnnEditFinish(&edit);
	}
	UnlockReleaseBuffer(metabuf);
}

/* Pass 3: dead elements become deleted, free for inserts to reuse. */
static void
free_dead_elements(HnswVacuumState *vs)
{
	BlockNumber lowest = InvalidBlockNumber;
	Buffer		metabuf;
	HnswMetaPage meta;
	AnnEdit		edit;

	for (int i = 0; i < vs->ndead; i++)
	{
		ItemPointerData tid;
		Buffer		buffer;
		Buffer		nbuffer = InvalidBuffer;
		HnswElementTuple element;
		HnswNeighborTuple neighbors;
		Page		page;

		HnswRefToTid(vs->dead[i], &tid);
		buffer = ReadBuffer(vs->index, ItemPointerGetBlockNumber(&tid));
		LockBuffer(buffer, BUFFER_LOCK_EXCLUSIVE);
		AnnEditBegin(&edit, vs->index, false);
		page = AnnEditRegister(&edit, buffer, false);
		element = HnswPageGetElement(page, ItemPointerGetOffsetNumber(&tid));
		element->deleted = 1;
		if (ItemPointerGetBlockNumber(&element->neighbortid) != ItemPointerGetBlockNumber(&tid))
		{
			nbuffer = ReadBuffer(vs->index, ItemPointerGetBlockNumber(&element->neighbortid));
			LockBuffer(nbuffer, BUFFER_LOCK_EXCLUSIVE);
			page = AnnEditRegister(&edit, nbuffer, false);
		}
		neighbors = HnswPageGetNeighbors(page, ItemPointerGetOffsetNumber(&element->neighbortid));
		if (neighbors != NULL)
			for (int s = 0; s < neighbors->nslots; s++)
				ItemPointerSetInvalid(&neighbors->slots[s]);
		AnnEditFinish(&edit);
		AnnEditUnlockRelease(&edit);
		if (!BlockNumberIsValid(lowest) || ItemPointerGetBlockNumber(&tid) < lowest)
			lowest = ItemPointerGetBlockNumber(&tid);
	}

	metabuf = ReadBuffer(vs->index, ANN_METAPAGE_BLKNO);
	LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
	AnnEditBegin(&edit, vs->index, false);
	meta = (HnswMetaPage) PageGetContents(AnnEditRegister(&edit, metabuf, false));
	if (!BlockNumberIsValid(meta->insert_page) || lowest < meta->insert_page)
		meta->insert_page = lowest;
	AnnEditFinish(&edit);
	UnlockReleaseBuffer(metabuf);
}

IndexBulkDeleteResult *
hnswbulkdelete(IndexVacuumInfo *info, IndexBulkDeleteResult *stats,
			   IndexBulkDeleteCallback callback, void *callback_state)
{
	HnswVacuumState vs;

	if (stats == NULL)
		stats = palloc0(sizeof(IndexBulkDeleteResult));
	vs.index = info->index;
	vs.vinfo = info;
	vs.info = HnswGetIndexInfo(info->index);
	vs.dead_capacity = 256;
	vs.dead = palloc(sizeof(HnswRef) * vs.dead_capacity);
	vs.ndead = 0;
	vs.best_live = HNSW_NO_REF;
	vs.best_live_level = -1;
	stats->num_index_tuples = 0;

	remove_dead_tuples(&vs, callback, callback_state, stats);
	if (vs.ndead > 0)
	{
		LockPage(vs.index, HNSW_UPDATE_LOCK, ExclusiveLock);
		replace_entry_point(&vs);
		repair_graph(&vs);
		free_dead_elements(&vs);
		UnlockPage(vs.index, HNSW_UPDATE_LOCK, ExclusiveLock);
	}
	stats->num_pages = RelationGetNumberOfBlocks(vs.index);
	return stats;
}

IndexBulkDeleteResult *
hnswvacuumcleanup(IndexVacuumInfo *info, IndexBulkDeleteResult *stats)
{
	if (info->analyze_only || stats == NULL)
		return stats;
	stats->num_pages = RelationGetNumberOfBlocks(info->index);
	return stats;
}
