/*
 * hnswbuildwrite.c
 *		Write the graph of an hnsw build (hnswbuildgraph.c) to pages.
 *
 * Writing assigns every element and neighbour tuple its final TID first,
 * so each page is written once, complete, in block order, past shared
 * buffers (AnnBulkBegin), and logged as it is written.  Pages written
 * otherwise during a build are not WAL-logged: hnswbuild logs them when
 * it is done (all of them if rows were inserted into the graph's pages
 * after it was written).
 *
 * Nobody else can see the index during a build, so no locks are taken
 * beyond the buffer locks bufmgr requires.  In a parallel build only the
 * leader writes, after the workers have finished.
 */
#include "postgres.h"

#include "commands/progress.h"
#include "miscadmin.h"
#include "pgstat.h"

#include "hnswbuild.h"

/* Where the next tuple pair lands, mirroring PageAddItem's arithmetic */
typedef struct PagePlan
{
	BlockNumber blkno;
	Size		lower;
	Size		upper;
	OffsetNumber next;
} PagePlan;

static void
plan_new_page(PagePlan *plan)
{
	plan->blkno++;
	plan->lower = SizeOfPageHeaderData;
	plan->upper = BLCKSZ - MAXALIGN(sizeof(AnnPageOpaqueData));
	plan->next = FirstOffsetNumber;
}

static bool
plan_fits(PagePlan *plan, Size size)
{
	return plan->lower + sizeof(ItemIdData) + MAXALIGN(size) <= plan->upper;
}

static void
plan_place(PagePlan *plan, Size size, ItemPointer tid)
{
	if (!plan_fits(plan, size))
		plan_new_page(plan);
	ItemPointerSet(tid, plan->blkno, plan->next++);
	plan->lower += sizeof(ItemIdData);
	plan->upper -= MAXALIGN(size);
}

static Size
element_tuple_size(HnswBuildGraph *g, int32 id)
{
	return HNSW_ELEMENT_TUPLE_SIZE(HnswTupleKeySize(g->info, element_stored_key(g, id)));
}

/*
 * Choose the TIDs of every element and neighbour tuple: both on one page
 * when they fit together, else the neighbour tuple on the next page.
 * Returns the last page they take (the metapage when there are none).
 */
static BlockNumber
plan_tids(HnswBuildGraph *g, ItemPointerData *etids, ItemPointerData *ntids)
{
	PagePlan	plan;

	plan.blkno = ANN_METAPAGE_BLKNO;
	plan_new_page(&plan);
	for (int32 id = 0; id < g->shared->nelements; id++)
	{
		HnswBuildElement *e = element_at(g, id);
		Size		esize = element_tuple_size(g, id);
		Size		nsize = HnswNeighborTupleSize(g->info, e->level);

		if (e->merged)
			continue;
		if (!plan_fits(&plan, esize + MAXALIGN(nsize) + sizeof(ItemIdData)) &&
			plan.next != FirstOffsetNumber)
			plan_new_page(&plan);
		plan_place(&plan, esize, &etids[id]);
		plan_place(&plan, nsize, &ntids[id]);
	}
	return plan.next == FirstOffsetNumber ? plan.blkno - 1 : plan.blkno;
}

/* key_page: the first page of its long key's chain, if the index has them */
static void
form_element(HnswBuildGraph *g, int32 id, ItemPointer ntid, BlockNumber key_page,
			 HnswElementTuple out)
{
	HnswBuildElement *e = element_at(g, id);

	HnswFormElementTuple(g->info, out, e->level, element_stored_key(g, id), key_page,
						 e->heaptids, e->nheaptids);
	out->neighbortid = *ntid;
}

/*
 * After the pages of elements, the long keys of the elements in the
 * order they were written: the k-th one's chain takes npages pages from
 * first_key_page + k * npages.
 */
static void
write_long_keys(Relation index, HnswBuildGraph *g, BlockNumber first_key_page, int npages)
{
	BlockNumber expected = first_key_page;

	for (int32 id = 0; id < g->shared->nelements; id++)
	{
		if (element_at(g, id)->merged)
			continue;
		if (AnnWriteLongKey(index, true, ANN_HNSW_PAGE_ID, HNSW_PAGE_KEY,
							element_stored_key(g, id), g->info->long_keysize,
							InvalidBlockNumber) != expected)
			elog(ERROR, "unexpected key page in index \"%s\"", RelationGetRelationName(index));
		expected += npages;
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * The neighbour tuple of element id; codes (of an index with codes, else
 * NULL) holds every element's code, slot_size bytes apart.
 */
static void
form_neighbors(HnswBuildGraph *g, int32 id, ItemPointerData *etids, const char *codes,
			   HnswNeighborTuple out)
{
	HnswBuildElement *e = element_at(g, id);
	int			m = g->info->m;

	HnswFormNeighborTuple(g->info, out, e->level);
	for (int layer = 0; layer <= e->level; layer++)
	{
		HnswBuildList *list = element_list(g, id, layer);
		ItemPointer slots = out->slots + HnswLayerStart(layer, m);

		for (int i = 0; i < list->count; i++)
			slots[i] = etids[list->edges[i].element];
	}
	if (codes != NULL)
	{
		HnswBuildList *list = element_list(g, id, 0);
		Size		size = g->info->codes->slot_size;

		for (int i = 0; i < list->count; i++)
			HnswCopySlotCode(g->info, HnswSlotCodes(g->info, out, i),
							 (const HnswSlotCode *) (codes + size * list->edges[i].element));
	}
}

/* The elements of the key of element id */
static const void *
element_elements(HnswBuildGraph *g, int32 id)
{
	return element_stored_key(g, id) + offsetof(Vector, x);
}

/*
 * The centre of the codes: the mean of the keys, written to the
 * metapage, so that residuals are small wherever the keys lie.
 */
static void
write_centre(Relation index, HnswBuildGraph *g)
{
	int			dims = g->info->dimensions;
	double	   *sum = palloc0(sizeof(double) * dims);
	float	   *key = palloc(sizeof(float) * dims);
	float	   *centre = palloc0(sizeof(float) * dims);
	int64		n = 0;

	for (int32 id = 0; id < g->shared->nelements; id++)
	{
		if (element_at(g, id)->merged)
			continue;
		AnnElementsToFloats(&g->info->dist, element_elements(g, id), dims, key);
		for (int i = 0; i < dims; i++)
			sum[i] += key[i];
		n++;
	}
	for (int i = 0; n > 0 && i < dims; i++)
		centre[i] = (float) (sum[i] / n);
	HnswWriteCentre(index, centre);
	pfree(sum);
	pfree(key);
	pfree(centre);
}

/*
 * Every element's code relative to the centre the metapage now holds
 * (slot_size bytes apart, indexed by element id)
 */
static char *
encode_elements(Relation index, HnswBuildGraph *g)
{
	const HnswIndexInfo *info = HnswGetIndexInfo(index);
	Size		size = info->codes->slot_size;
	char	   *codes = palloc_extended(size * Max(g->shared->nelements, 1), MCXT_ALLOC_HUGE);

	for (int32 id = 0; id < g->shared->nelements; id++)
	{
		if (!element_at(g, id)->merged)
			HnswEncodeKey(info, element_stored_key(g, id), (HnswSlotCode *) (codes + size * id));
		CHECK_FOR_INTERRUPTS();
	}
	return codes;
}

static void
add_tuple(Relation index, Page page, void *tuple, Size size, ItemPointer tid)
{
	if (PageAddItem(page, tuple, size, InvalidOffsetNumber, false, false) !=
		ItemPointerGetOffsetNumber(tid))
		elog(ERROR, "failed to add tuple to index \"%s\" at (%u,%u)",
			 RelationGetRelationName(index), ItemPointerGetBlockNumber(tid),
			 ItemPointerGetOffsetNumber(tid));
}

/*
 * The page of tid: page (block *blkno) if it is that one, else the
 * writer's next, which the plan says it is (the plan numbers pages in the
 * order they are added)
 */
static Page
page_of(Relation index, AnnBulkWriter *writer, Page page, BlockNumber *blkno, ItemPointer tid)
{
	if (page != NULL && *blkno == ItemPointerGetBlockNumber(tid))
		return page;
	page = AnnBulkNewPage(writer, blkno);
	if (*blkno != ItemPointerGetBlockNumber(tid))
		elog(ERROR, "unexpected block %u in index \"%s\"", *blkno, RelationGetRelationName(index));
	AnnInitPage(page, ANN_HNSW_PAGE_ID, HNSW_PAGE_ELEMENTS);
	return page;
}

/* Point the metapage at the graph's entry element and its last page of elements. */
static void
write_entry(Relation index, HnswBuildGraph *g, ItemPointerData *etids, BlockNumber last_page)
{
	Buffer		metabuf = ReadBuffer(index, ANN_METAPAGE_BLKNO);
	HnswMetaPage meta;

	LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
	meta = (HnswMetaPage) PageGetContents(BufferGetPage(metabuf));
	if (g->shared->entry >= 0)
	{
		meta->entry = etids[g->shared->entry];
		meta->entry_level = g->shared->entry_level;
	}
	meta->insert_page = last_page;
	MarkBufferDirty(metabuf);
	UnlockReleaseBuffer(metabuf);
	/* the metapage changed under rd_amcache's feet: only immutable facts are cached */
}

/*
 * Walk layer 0 of g from its entry, as HnswLinkOrphans walks the pages,
 * and sort the written elements' TIDs into reached and orphans
 */
static void
walk_graph(HnswBuildGraph *g, const ItemPointerData *etids, HnswGraphReach *reach)
{
	int32		nelements = g->shared->nelements;
	bool	   *reached = palloc_extended(Max(nelements, 1), MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	int32	   *stack = palloc_extended(sizeof(int32) * Max(nelements, 1), MCXT_ALLOC_HUGE);
	int32		nstack = 0;

	if (g->shared->entry >= 0)
	{
		reached[g->shared->entry] = true;
		stack[nstack++] = g->shared->entry;
	}
	while (nstack > 0)
	{
		HnswBuildList *list = element_list(g, stack[--nstack], 0);

		for (int i = 0; i < list->count; i++)
		{
			int32		target = list->edges[i].element;

			if (!reached[target])
			{
				reached[target] = true;
				stack[nstack++] = target;
			}
		}
	}

	reach->reached = palloc_extended(sizeof(ItemPointerData) * Max(nelements, 1), MCXT_ALLOC_HUGE);
	reach->orphans = palloc_extended(sizeof(ItemPointerData) * Max(nelements, 1), MCXT_ALLOC_HUGE);
	reach->nreached = reach->norphans = 0;
	for (int32 id = 0; id < nelements; id++)
	{
		if (element_at(g, id)->merged)
			continue;
		if (reached[id])
			reach->reached[reach->nreached++] = etids[id];
		else
			reach->orphans[reach->norphans++] = etids[id];
	}
	pfree(reached);
	pfree(stack);
}

/*
 * Write every element of g to index (holding only its metapage) in TID
 * order, then point the metapage at the entry.  The element pages are
 * written past shared buffers, and logged when the index needs WAL
 * (AnnBulkBegin); returns the first block after them.  Also walks the
 * graph for the orphans HnswLinkKnownOrphans is to link (into reach).
 */
BlockNumber
HnswBuildGraphWrite(Relation index, HnswBuildGraph *g, HnswGraphReach *reach)
{
	int32		nelements = g->shared->nelements;
	ItemPointerData *etids = palloc_extended(sizeof(ItemPointerData) * Max(nelements, 1),
											 MCXT_ALLOC_HUGE);
	ItemPointerData *ntids = palloc_extended(sizeof(ItemPointerData) * Max(nelements, 1),
											 MCXT_ALLOC_HUGE);
	HnswElementTuple etup = palloc(HNSW_MAX_ELEMENT_TUPLE_SIZE);
	HnswNeighborTuple ntup = palloc(HnswNeighborTupleSize(g->info, HNSW_MAX_LEVEL));
	char	   *codes = NULL;
	AnnBulkWriter writer;
	Page		page = NULL;
	BlockNumber blkno = InvalidBlockNumber;
	BlockNumber last_page;
	BlockNumber written_end;
	int			key_pages = AnnKeyPageCount(g->info->long_keysize);
	BlockNumber key_page;

	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, HNSW_PHASE_WRITE);
	if (g->info->codes != NULL)
	{
		write_centre(index, g);
		codes = encode_elements(index, g);
	}
	last_page = plan_tids(g, etids, ntids);
	key_page = last_page + 1;

	AnnBulkBegin(&writer, index);
	for (int32 id = 0; id < nelements; id++)
	{
		HnswBuildElement *e = element_at(g, id);

		if (e->merged)
			continue;
		CHECK_FOR_INTERRUPTS();
		form_element(g, id, &ntids[id], key_page, etup);
		key_page += key_pages;
		form_neighbors(g, id, etids, codes, ntup);
		page = page_of(index, &writer, page, &blkno, &etids[id]);
		add_tuple(index, page, etup, element_tuple_size(g, id), &etids[id]);
		page = page_of(index, &writer, page, &blkno, &ntids[id]);
		add_tuple(index, page, ntup, HnswNeighborTupleSize(g->info, e->level), &ntids[id]);
	}
	written_end = AnnBulkFinish(&writer);
	if (g->info->long_keysize > 0)
		write_long_keys(index, g, last_page + 1, key_pages);
	write_entry(index, g, etids, last_page);
	walk_graph(g, etids, reach);
	return written_end;
}
