/*
 * hnswbuild.c
 *		CREATE INDEX for hnsw: build the graph in memory, write it out.
 *
 * The graph is built in an arena of maintenance_work_mem bytes.  Elements
 * sit at a fixed stride from the front (header, layer-0 list, key); the
 * lists of upper layers, which only about one element in m has, are taken
 * from the back.  When the two meet the graph is written to pages and the
 * remaining rows are inserted on disk, as aminsert would, with a NOTICE
 * that says how much memory would have kept the build in memory.
 *
 * Writing assigns every element and neighbour tuple its final TID first,
 * so each page is written once, complete.  Nothing is WAL-logged while
 * building; AnnLogRelation logs the finished relation in one pass.
 *
 * Nobody else can see the index during a build, so no locks are taken
 * beyond the buffer locks bufmgr requires.
 */
#include "postgres.h"

#include "access/tableam.h"
#include "catalog/index.h"
#include "commands/progress.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/memutils.h"

#include "hnsw.h"

/* A link in the build graph: the target's index and its distance */
typedef struct HnswBuildEdge
{
	int32		element;
	float		distance;
} HnswBuildEdge;

typedef struct HnswBuildList
{
	int32		count;
	HnswBuildEdge edges[FLEXIBLE_ARRAY_MEMBER];
} HnswBuildList;

/* Element header; its layer-0 list and its key follow in the stride */
typedef struct HnswBuildElement
{
	uint8		level;
	uint8		nheaptids;
	bool		merged;			/* a duplicate folded into another element */
	ItemPointerData heaptids[HNSW_HEAPTIDS];
	Size		upper;			/* arena offset of layers 1..level, or 0 */
} HnswBuildElement;

typedef struct HnswBuildGraph
{
	char	   *arena;
	Size		capacity;
	Size		stride;			/* bytes per element */
	Size		list0_offset;	/* layer-0 list within the stride */
	Size		key_offset;		/* key within the stride */
	Size		upper_used;		/* bytes taken from the back */
	int32		nelements;
	int32		entry;			/* -1 while empty */
	int			entry_level;
	uint32	   *visited;		/* per element: tag of its last visit */
	int32		visited_capacity;
	uint32		visit_tag;
	const void *query;
	const HnswIndexInfo *info;
} HnswBuildGraph;

typedef struct HnswBuildState
{
	Relation	heap;
	Relation	index;
	HnswIndexInfo info;
	HnswBuildGraph graph;
	HnswSearch	search;
	HnswCandidate *found;		/* scratch: sorted search results */
	HnswCandidate *kept;		/* scratch: a re-selected neighbour list */
	HnswCandidate *selected[HNSW_MAX_LEVEL + 1];	/* per layer */
	int			nselected[HNSW_MAX_LEVEL + 1];
	bool		on_disk;		/* graph written: insert the rest on disk */
	double		indtuples;
	double		reltuples;
	MemoryContext tuple_cxt;
} HnswBuildState;

/* ---------------------------------------------------------------------
 * The in-memory graph
 * ---------------------------------------------------------------------
 */

static inline HnswBuildElement *
element_at(HnswBuildGraph *g, int32 id)
{
	return (HnswBuildElement *) (g->arena + (Size) id * g->stride);
}

static inline const void *
element_key(HnswBuildGraph *g, int32 id)
{
	return g->arena + (Size) id * g->stride + g->key_offset + offsetof(Vector, x);
}

static inline HnswBuildList *
element_list(HnswBuildGraph *g, int32 id, int layer)
{
	HnswBuildElement *e = element_at(g, id);
	int			m = g->info->m;

	if (layer == 0)
		return (HnswBuildList *) ((char *) e + g->list0_offset);
	return (HnswBuildList *) (g->arena + e->upper +
							  (layer - 1) * (offsetof(HnswBuildList, edges) +
											 sizeof(HnswBuildEdge) * m));
}

static void
graph_init(HnswBuildGraph *g, const HnswIndexInfo *info, Size capacity)
{
	g->info = info;
	g->capacity = capacity;
	g->arena = MemoryContextAllocHuge(CurrentMemoryContext, capacity);
	g->list0_offset = MAXALIGN(sizeof(HnswBuildElement));
	g->key_offset = g->list0_offset +
		MAXALIGN(offsetof(HnswBuildList, edges) + sizeof(HnswBuildEdge) * 2 * info->m);
	g->stride = g->key_offset + MAXALIGN(info->keysize);
	g->upper_used = 0;
	g->nelements = 0;
	g->entry = -1;
	g->entry_level = -1;
	g->visited_capacity = 1024;
	g->visited = palloc0(sizeof(uint32) * g->visited_capacity);
	g->visit_tag = 0;
}

/*
 * Take room for a new element of the given level, or return -1 when the
 * arena is full.
 */
static int32
graph_allocate(HnswBuildGraph *g, int level)
{
	int			m = g->info->m;
	Size		upper = (Size) level * (offsetof(HnswBuildList, edges) + sizeof(HnswBuildEdge) * m);
	Size		front = (Size) (g->nelements + 1) * g->stride;
	int32		id;
	HnswBuildElement *e;

	upper = MAXALIGN(upper);
	if (front + g->upper_used + upper > g->capacity)
		return -1;

	id = g->nelements++;
	e = element_at(g, id);
	e->level = level;
	e->nheaptids = 0;
	e->merged = false;
	e->upper = 0;
	if (level > 0)
	{
		g->upper_used += upper;
		e->upper = g->capacity - g->upper_used;
	}
	for (int layer = 0; layer <= level; layer++)
		element_list(g, id, layer)->count = 0;

	if (id >= g->visited_capacity)
	{
		int32		old = g->visited_capacity;

		g->visited_capacity *= 2;
		g->visited = repalloc(g->visited, sizeof(uint32) * g->visited_capacity);
		memset(g->visited + old, 0, sizeof(uint32) * (g->visited_capacity - old));
	}
	return id;
}

/* Tags: one per (search, layer), so each layer has a fresh visited set. */
static void
graph_new_search(HnswBuildGraph *g, const void *query)
{
	g->query = query;
	if (g->visit_tag > PG_UINT32_MAX - 2 * (HNSW_MAX_LEVEL + 1))
	{
		memset(g->visited, 0, sizeof(uint32) * g->visited_capacity);
		g->visit_tag = 0;
	}
	g->visit_tag += HNSW_MAX_LEVEL + 1;
}

static bool
graph_visit(void *arg, HnswRef ref, int layer)
{
	HnswBuildGraph *g = (HnswBuildGraph *) arg;
	uint32		tag = g->visit_tag + layer + 1;

	if (g->visited[ref] == tag)
		return false;
	g->visited[ref] = tag;
	return true;
}

static bool
graph_distance(void *arg, HnswRef ref, float *distance)
{
	HnswBuildGraph *g = (HnswBuildGraph *) arg;

	*distance = AnnDistance(&g->info->dist, g->query, element_key(g, (int32) ref),
							g->info->dimensions);
	return true;
}

static int
graph_neighbors(void *arg, HnswRef ref, int layer, HnswRef *out)
{
	HnswBuildGraph *g = (HnswBuildGraph *) arg;
	HnswBuildList *list;

	if (layer > element_at(g, (int32) ref)->level)
		return 0;
	list = element_list(g, (int32) ref, layer);
	for (int i = 0; i < list->count; i++)
		out[i] = list->edges[i].element;
	return list->count;
}

static const HnswGraphOps build_graph_ops = {graph_visit, graph_distance, graph_neighbors};

static float
graph_pair_distance(void *arg, HnswRef a, HnswRef b)
{
	HnswBuildGraph *g = (HnswBuildGraph *) arg;

	return AnnDistance(&g->info->dist, element_key(g, (int32) a), element_key(g, (int32) b),
					   g->info->dimensions);
}

static int
compare_candidates(const void *a, const void *b)
{
	const HnswCandidate *x = (const HnswCandidate *) a;
	const HnswCandidate *y = (const HnswCandidate *) b;

	if (x->distance != y->distance)
		return x->distance < y->distance ? -1 : 1;
	return (x->ref > y->ref) - (x->ref < y->ref);
}

/*
 * Link from -> to on layer.  A full list is re-selected with the
 * heuristic over its links plus the new one, so it may drop the new link
 * or an old one.
 */
static void
graph_link(HnswBuildGraph *g, int32 from, int32 to, float distance, int layer,
		   HnswCandidate *scratch, HnswCandidate *kept)
{
	HnswBuildList *list = element_list(g, from, layer);
	int			max_links = HnswLayerSlots(layer, g->info->m);
	int			n;

	if (list->count < max_links)
	{
		list->edges[list->count].element = to;
		list->edges[list->count].distance = distance;
		list->count++;
		return;
	}

	for (int i = 0; i < list->count; i++)
	{
		scratch[i].ref = list->edges[i].element;
		scratch[i].distance = list->edges[i].distance;
	}
	scratch[list->count].ref = to;
	scratch[list->count].distance = distance;
	qsort(scratch, list->count + 1, sizeof(HnswCandidate), compare_candidates);
	n = HnswSelectNeighbors(scratch, list->count + 1, max_links, graph_pair_distance, g, kept);
	for (int i = 0; i < n; i++)
	{
		list->edges[i].element = (int32) kept[i].ref;
		list->edges[i].distance = kept[i].distance;
	}
	list->count = n;
}

/* Is element id's key bytewise equal to key (a full varlena key)? */
static bool
same_key(HnswBuildGraph *g, int32 id, const char *key)
{
	return memcmp(g->arena + (Size) id * g->stride + g->key_offset, key,
				  g->info->keysize) == 0;
}

/*
 * Add one row to the in-memory graph.  Returns false when the arena is
 * full (nothing was added).
 */
static bool
graph_insert(HnswBuildState *bs, const char *key, ItemPointer heaptid)
{
	HnswBuildGraph *g = &bs->graph;
	int			m = bs->info.m;
	int			level = HnswRandomLevel(m, heaptid);
	int32		id = graph_allocate(g, level);
	HnswBuildElement *e;
	int			top;

	if (id < 0)
		return false;
	e = element_at(g, id);
	e->heaptids[e->nheaptids++] = *heaptid;
	memcpy(g->arena + (Size) id * g->stride + g->key_offset, key, bs->info.keysize);

	if (g->entry < 0)
	{
		g->entry = id;
		g->entry_level = level;
		return true;
	}

	/* greedy descent to the element's own top layer, then ef_construction */
	graph_new_search(g, element_key(g, id));
	HnswSearchStart(&bs->search, g->entry, g->entry_level);
	for (int layer = g->entry_level; layer > level; layer--)
	{
		HnswSearchLayer(&bs->search, 1, layer);
		HnswSearchRestart(&bs->search, layer - 1);
	}

	top = Min(level, g->entry_level);
	for (int layer = top; layer >= 0; layer--)
	{
		HnswBuildList *list = element_list(g, id, layer);
		int			nfound;

		HnswSearchLayer(&bs->search, bs->info.ef_construction, layer);
		nfound = HnswSortedResults(&bs->search, bs->found);

		/* an exact duplicate with room joins the existing element */
		if (layer == 0 && nfound > 0 && bs->found[0].distance == 0 &&
			same_key(g, (int32) bs->found[0].ref, key))
		{
			HnswBuildElement *twin = element_at(g, (int32) bs->found[0].ref);

			if (twin->nheaptids < HNSW_HEAPTIDS)
			{
				twin->heaptids[twin->nheaptids++] = *heaptid;
				e->merged = true;
				return true;
			}
		}

		bs->nselected[layer] = HnswSelectNeighbors(bs->found, nfound,
												   HnswLayerSlots(layer, m),
												   graph_pair_distance, g,
												   bs->selected[layer]);
		for (int i = 0; i < bs->nselected[layer]; i++)
		{
			list->edges[i].element = (int32) bs->selected[layer][i].ref;
			list->edges[i].distance = bs->selected[layer][i].distance;
		}
		list->count = bs->nselected[layer];

		if (layer > 0)
			HnswSearchSeed(&bs->search, bs->found, nfound, layer - 1);
	}

	/* the element is complete: now let its neighbours point back at it */
	for (int layer = top; layer >= 0; layer--)
		for (int i = 0; i < bs->nselected[layer]; i++)
			graph_link(g, (int32) bs->selected[layer][i].ref, id,
					   bs->selected[layer][i].distance, layer, bs->found, bs->kept);

	if (level > g->entry_level)
	{
		g->entry = id;
		g->entry_level = level;
	}
	return true;
}

/* ---------------------------------------------------------------------
 * Writing the graph to pages
 * ---------------------------------------------------------------------
 */

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

/*
 * Choose the TIDs of every element and neighbour tuple: both on one page
 * when they fit together, else the neighbour tuple on the next page.
 */
static void
plan_tids(HnswBuildGraph *g, ItemPointerData *etids, ItemPointerData *ntids)
{
	PagePlan	plan;
	Size		esize = HNSW_ELEMENT_TUPLE_SIZE(g->info->keysize);

	plan.blkno = ANN_METAPAGE_BLKNO;
	plan_new_page(&plan);
	for (int32 id = 0; id < g->nelements; id++)
	{
		HnswBuildElement *e = element_at(g, id);
		Size		nsize = HNSW_NEIGHBOR_TUPLE_SIZE(e->level, g->info->m);

		if (e->merged)
			continue;
		if (!plan_fits(&plan, esize + MAXALIGN(nsize) + sizeof(ItemIdData)) &&
			plan.next != FirstOffsetNumber)
			plan_new_page(&plan);
		plan_place(&plan, esize, &etids[id]);
		plan_place(&plan, nsize, &ntids[id]);
	}
}

static void
form_element(HnswBuildGraph *g, int32 id, ItemPointer ntid, HnswElementTuple out)
{
	HnswBuildElement *e = element_at(g, id);

	memset(out, 0, HNSW_ELEMENT_TUPLE_SIZE(g->info->keysize));
	out->type = HNSW_ELEMENT_TUPLE;
	out->level = e->level;
	for (int i = 0; i < HNSW_HEAPTIDS; i++)
	{
		if (i < e->nheaptids)
			out->heaptids[i] = e->heaptids[i];
		else
			ItemPointerSetInvalid(&out->heaptids[i]);
	}
	out->neighbortid = *ntid;
	memcpy(out->key, g->arena + (Size) id * g->stride + g->key_offset, g->info->keysize);
}

static void
form_neighbors(HnswBuildGraph *g, int32 id, ItemPointerData *etids, HnswNeighborTuple out)
{
	HnswBuildElement *e = element_at(g, id);
	int			m = g->info->m;

	out->type = HNSW_NEIGHBOR_TUPLE;
	out->level = e->level;
	out->nslots = HnswSlotCount(e->level, m);
	for (int i = 0; i < out->nslots; i++)
		ItemPointerSetInvalid(&out->slots[i]);
	for (int layer = 0; layer <= e->level; layer++)
	{
		HnswBuildList *list = element_list(g, id, layer);
		ItemPointer slots = out->slots + HnswLayerStart(layer, m);

		for (int i = 0; i < list->count; i++)
			slots[i] = etids[list->edges[i].element];
	}
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

/* Write every element in TID order, then point the metapage at the entry. */
static void
graph_write(HnswBuildState *bs)
{
	HnswBuildGraph *g = &bs->graph;
	ItemPointerData *etids = palloc_extended(sizeof(ItemPointerData) * Max(g->nelements, 1),
											 MCXT_ALLOC_HUGE);
	ItemPointerData *ntids = palloc_extended(sizeof(ItemPointerData) * Max(g->nelements, 1),
											 MCXT_ALLOC_HUGE);
	Size		esize = HNSW_ELEMENT_TUPLE_SIZE(bs->info.keysize);
	HnswElementTuple etup = palloc(esize);
	HnswNeighborTuple ntup = palloc(HNSW_NEIGHBOR_TUPLE_SIZE(HNSW_MAX_LEVEL, bs->info.m));
	Buffer		buffer = InvalidBuffer;
	Buffer		metabuf;
	HnswMetaPage meta;

	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, HNSW_PHASE_WRITE);
	plan_tids(g, etids, ntids);

	for (int32 id = 0; id < g->nelements; id++)
	{
		HnswBuildElement *e = element_at(g, id);
		Size		nsize = HNSW_NEIGHBOR_TUPLE_SIZE(e->level, bs->info.m);

		if (e->merged)
			continue;
		CHECK_FOR_INTERRUPTS();
		form_element(g, id, &ntids[id], etup);
		form_neighbors(g, id, etids, ntup);
		for (int part = 0; part < 2; part++)
		{
			ItemPointer tid = part == 0 ? &etids[id] : &ntids[id];

			if (!BufferIsValid(buffer) || BufferGetBlockNumber(buffer) != ItemPointerGetBlockNumber(tid))
			{
				if (BufferIsValid(buffer))
				{
					MarkBufferDirty(buffer);
					UnlockReleaseBuffer(buffer);
				}
				buffer = AnnNewBuffer(bs->index, MAIN_FORKNUM);
				if (BufferGetBlockNumber(buffer) != ItemPointerGetBlockNumber(tid))
					elog(ERROR, "unexpected block %u in index \"%s\"",
						 BufferGetBlockNumber(buffer), RelationGetRelationName(bs->index));
				AnnInitPage(BufferGetPage(buffer), ANN_HNSW_PAGE_ID, HNSW_PAGE_ELEMENTS);
			}
			if (part == 0)
				add_tuple(bs->index, BufferGetPage(buffer), etup, esize, tid);
			else
				add_tuple(bs->index, BufferGetPage(buffer), ntup, nsize, tid);
		}
	}
	if (BufferIsValid(buffer))
	{
		MarkBufferDirty(buffer);
		UnlockReleaseBuffer(buffer);
	}

	metabuf = ReadBuffer(bs->index, ANN_METAPAGE_BLKNO);
	LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
	meta = (HnswMetaPage) PageGetContents(BufferGetPage(metabuf));
	if (g->entry >= 0)
	{
		meta->entry = etids[g->entry];
		meta->entry_level = g->entry_level;
	}
	meta->insert_page = RelationGetNumberOfBlocks(bs->index) - 1;
	MarkBufferDirty(metabuf);
	UnlockReleaseBuffer(metabuf);
	/* the metapage changed under rd_amcache's feet: only immutable facts are cached */
}

/* ---------------------------------------------------------------------
 * The build
 * ---------------------------------------------------------------------
 */

/* Facts of the index being built, from its definition. */
static void
build_index_info(Relation index, HnswIndexInfo *info)
{
	int			typmod = TupleDescAttr(RelationGetDescr(index), 0)->atttypmod;
	int			max_dim;

	AnnResolveDistance(index, &info->dist);
	info->m = HnswGetM(index);
	info->ef_construction = HnswGetEfConstruction(index);
	if (info->ef_construction < 2 * info->m)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("ef_construction must be greater than or equal to 2 * m")));
	if (typmod < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("column does not have dimensions"),
				 errhint("Declare the column as %s(n), or index an expression cast to it.",
						 AnnKeyTypeName(&info->dist))));
	max_dim = info->dist.half ? HNSW_MAX_HALF_DIM : HNSW_MAX_DIM;
	if (typmod > max_dim)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("column cannot have more than %d dimensions for hnsw index", max_dim)));
	info->dimensions = typmod;
	info->keysize = AnnKeySize(&info->dist, typmod);
}

static void
write_metapage(Relation index, ForkNumber fork, const HnswIndexInfo *info)
{
	Buffer		buffer = AnnNewBuffer(index, fork);

	HnswInitMetaPage(BufferGetPage(buffer), info);
	MarkBufferDirty(buffer);
	UnlockReleaseBuffer(buffer);
}

/* How much memory the whole graph would need, from what it used so far */
static void
report_spill(HnswBuildState *bs)
{
	double		per_element = (double) (bs->graph.nelements * bs->graph.stride +
										bs->graph.upper_used) / Max(bs->graph.nelements, 1);
	double		needed = per_element * Max(bs->reltuples, bs->indtuples) * 1.1;

	ereport(NOTICE,
			(errmsg("hnsw graph no longer fits into maintenance_work_mem after %.0f tuples",
					bs->indtuples),
			 errdetail("Building will take significantly more time."),
			 errhint("Increase maintenance_work_mem to about %.0f MB to build this index in memory.",
					 ceil(needed / (1024.0 * 1024.0)))));
}

static void
build_callback(Relation index, ItemPointer tid, Datum *values, bool *isnull,
			   bool tupleIsAlive, void *state)
{
	HnswBuildState *bs = (HnswBuildState *) state;
	MemoryContext old;
	Datum		key;
	bool		usable;
	int			dim;

	if (isnull[0])
		return;
	old = MemoryContextSwitchTo(bs->tuple_cxt);
	key = AnnPrepareKey(&bs->info.dist, values[0], &usable);
	if (usable)
	{
		AnnKeyElements(&bs->info.dist, key, &dim);
		HnswCheckDimensions(&bs->info, dim);
		if (!bs->on_disk && !graph_insert(bs, DatumGetPointer(key), tid))
		{
			report_spill(bs);
			MemoryContextSwitchTo(old);
			graph_write(bs);
			MemoryContextSwitchTo(bs->tuple_cxt);
			bs->on_disk = true;
		}
		if (bs->on_disk)
			HnswInsertKey(index, key, tid, true, false);
		bs->indtuples++;
		pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE, (int64) bs->indtuples);
	}
	MemoryContextSwitchTo(old);
	MemoryContextReset(bs->tuple_cxt);
	CHECK_FOR_INTERRUPTS();
}

IndexBuildResult *
hnswbuild(Relation heap, Relation index, IndexInfo *indexInfo)
{
	IndexBuildResult *result = palloc(sizeof(IndexBuildResult));
	HnswBuildState bs;
	int			m;

	if (RelationGetNumberOfBlocks(index) != 0)
		elog(ERROR, "index \"%s\" already contains data", RelationGetRelationName(index));

	memset(&bs, 0, sizeof(bs));
	bs.heap = heap;
	bs.index = index;
	build_index_info(index, &bs.info);
	m = bs.info.m;
	bs.reltuples = heap->rd_rel->reltuples;
	write_metapage(index, MAIN_FORKNUM, &bs.info);

	graph_init(&bs.graph, &bs.info, (Size) maintenance_work_mem * 1024);
	HnswSearchInit(&bs.search, &build_graph_ops, &bs.graph, m);
	bs.found = palloc(sizeof(HnswCandidate) * (Max(bs.info.ef_construction, 2 * m) + 1));
	bs.kept = palloc(sizeof(HnswCandidate) * (2 * m + 1));
	for (int layer = 0; layer <= HNSW_MAX_LEVEL; layer++)
		bs.selected[layer] = palloc(sizeof(HnswCandidate) * (2 * m + 1));
	bs.tuple_cxt = AllocSetContextCreate(CurrentMemoryContext, "Hnsw build tuple context",
										 ALLOCSET_DEFAULT_SIZES);

	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, HNSW_PHASE_GRAPH);
	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_TOTAL, (int64) Max(bs.reltuples, 0));
	result->heap_tuples = table_index_build_scan(heap, index, indexInfo, true, true,
												 build_callback, &bs, NULL);
	if (!bs.on_disk)
		graph_write(&bs);

	pfree(bs.graph.arena);
	MemoryContextDelete(bs.tuple_cxt);
	AnnLogRelation(index, MAIN_FORKNUM);

	result->index_tuples = bs.indtuples;
	return result;
}

/* The init fork of an unlogged index: an empty metapage. */
void
hnswbuildempty(Relation index)
{
	HnswIndexInfo info;

	build_index_info(index, &info);
	write_metapage(index, INIT_FORKNUM, &info);
	AnnLogRelation(index, INIT_FORKNUM);
}
