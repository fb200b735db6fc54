/*
 * hnswbuild.c
 *		CREATE INDEX for hnsw: build the graph in memory, write it out.
 *
 * The graph is built in an arena of at most maintenance_work_mem bytes.
 * Elements sit at a fixed stride from the front (header, layer-0 list,
 * key); the lists of upper layers, which only about one element in m has,
 * are taken from the back.  A serial build starts with the arena the
 * table's estimated size needs and doubles it when the two ends meet; a
 * parallel build's arena, in shared memory, is sized once.  When the
 * arena is full at its limit the graph is written to pages and the
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

#include <fcntl.h>
#include <sys/statvfs.h>

#include "access/parallel.h"
#include "access/tableam.h"
#include "catalog/index.h"
#include "commands/progress.h"
#include "miscadmin.h"
#include "optimizer/optimizer.h"
#include "pgstat.h"
#include "storage/buffile.h"
#include "storage/dsm_impl.h"
#include "storage/sharedfileset.h"
#include "storage/spin.h"
#include "utils/memutils.h"

#include "annbuild.h"
#include "hnsw.h"

/* A link in the build graph: the target's index and its distance */
typedef struct HnswBuildEdge
{
	int32		element;
	float		distance;
	bool		diverse;		/* kept by the heuristic, not a fill */
} HnswBuildEdge;

/*
 * A layer list.  "Sorted" lists are ascending by distance with valid
 * diverse flags, so a full list can take a new link by updating the flags
 * (link_sorted) instead of re-running the heuristic over every pair.
 */
typedef struct HnswBuildList
{
	int32		count;
	bool		sorted;
	HnswBuildEdge edges[FLEXIBLE_ARRAY_MEMBER];
} HnswBuildList;

/* Element header; its layer-0 list and its key follow in the stride */
typedef struct HnswBuildElement
{
	LWLock		lock;			/* lists and heap TIDs, in a parallel build */
	uint8		level;
	uint8		nheaptids;
	bool		merged;			/* a duplicate folded into another element */
	ItemPointerData heaptids[HNSW_HEAPTIDS];
	Size		upper;			/* layers 1..level: bytes from the arena's end, or 0 */
} HnswBuildElement;

/* What every participant of a build shares (in DSM when parallel) */
typedef struct HnswGraphShared
{
	slock_t		mutex;			/* guards the fields below */
	int32		nelements;
	Size		upper_used;		/* bytes taken from the back */
	int32		entry;			/* -1 while empty */
	int			entry_level;
	int			lock_tranche;	/* of the element locks */
} HnswGraphShared;

typedef struct HnswBuildGraph
{
	HnswGraphShared *shared;
	bool		parallel;		/* take element locks */
	char	   *arena;			/* position-independent: offsets and ids only */
	Size		capacity;
	Size		max_capacity;	/* a serial build may grow the arena to this */
	Size		stride;			/* bytes per element */
	Size		list0_offset;	/* layer-0 list within the stride */
	Size		key_offset;		/* key within the stride */
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
	bool		progress;		/* report to pg_stat_progress_create_index */
	BufFile    *spill;			/* parallel: rows that found the graph full */
	FileSet    *spill_set;
	char		spill_name[MAXPGPATH];
	double		indtuples;
	double		rows_expected;	/* the heap's estimated rows */
	MemoryContext tuple_cxt;
	MemoryContext build_cxt;	/* outlives tuples: for writing the graph */
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
	return (HnswBuildList *) (g->arena + g->capacity - e->upper +
							  (layer - 1) * (offsetof(HnswBuildList, edges) +
											 sizeof(HnswBuildEdge) * m));
}

static void
graph_init(HnswBuildGraph *g, const HnswIndexInfo *info, char *arena, Size capacity,
		   HnswGraphShared *shared, bool parallel)
{
	g->info = info;
	g->shared = shared;
	g->parallel = parallel;
	g->arena = arena;
	/* upper lists are addressed from the end: keep it aligned */
	g->capacity = MAXALIGN_DOWN(capacity);
	g->max_capacity = g->capacity;
	g->list0_offset = MAXALIGN(sizeof(HnswBuildElement));
	g->key_offset = g->list0_offset +
		MAXALIGN(offsetof(HnswBuildList, edges) + sizeof(HnswBuildEdge) * 2 * info->m);
	g->stride = g->key_offset + MAXALIGN(info->keysize);
	g->visited_capacity = 1024;
	g->visited = palloc0(sizeof(uint32) * g->visited_capacity);
	g->visit_tag = 0;
}

static void
graph_shared_init(HnswGraphShared *shared, int lock_tranche)
{
	SpinLockInit(&shared->mutex);
	shared->nelements = 0;
	shared->upper_used = 0;
	shared->entry = -1;
	shared->entry_level = -1;
	shared->lock_tranche = lock_tranche;
}

static inline void
lock_element(HnswBuildGraph *g, int32 id, LWLockMode mode)
{
	if (g->parallel)
		LWLockAcquire(&element_at(g, id)->lock, mode);
}

static inline void
unlock_element(HnswBuildGraph *g, int32 id)
{
	if (g->parallel)
		LWLockRelease(&element_at(g, id)->lock);
}

/*
 * Double a serial build's arena, up to max_capacity: the elements stay at
 * the front, the upper lists move to the new end (their offsets count
 * from the end, so none changes).  False when the arena cannot grow.
 */
static bool
graph_grow(HnswBuildGraph *g)
{
	Size		upper_used = g->shared->upper_used;
	Size		capacity;

	if (g->capacity >= g->max_capacity)
		return false;
	capacity = MAXALIGN_DOWN(Min(g->capacity * 2, g->max_capacity));
	g->arena = repalloc_huge(g->arena, capacity);
	memmove(g->arena + capacity - upper_used, g->arena + g->capacity - upper_used, upper_used);
	g->capacity = capacity;
	return true;
}

/*
 * Take room for a new element of the given level, or return -1 when the
 * arena is full.
 */
static int32
graph_allocate(HnswBuildGraph *g, int level)
{
	HnswGraphShared *shared = g->shared;
	int			m = g->info->m;
	Size		upper = MAXALIGN((Size) level * (offsetof(HnswBuildList, edges) +
											 sizeof(HnswBuildEdge) * m));
	int32		id = -1;
	Size		upper_offset = 0;
	HnswBuildElement *e;

	do
	{
		SpinLockAcquire(&shared->mutex);
		if ((Size) (shared->nelements + 1) * g->stride + shared->upper_used + upper <= g->capacity)
		{
			id = shared->nelements++;
			shared->upper_used += upper;
			upper_offset = shared->upper_used;
		}
		SpinLockRelease(&shared->mutex);
	} while (id < 0 && graph_grow(g));
	if (id < 0)
		return -1;

	e = element_at(g, id);
	if (g->parallel)
		LWLockInitialize(&e->lock, shared->lock_tranche);
	e->level = level;
	e->nheaptids = 0;
	e->merged = false;
	e->upper = level > 0 ? upper_offset : 0;
	for (int layer = 0; layer <= level; layer++)
	{
		element_list(g, id, layer)->count = 0;
		element_list(g, id, layer)->sorted = true;
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

	/* other participants add elements too: grow on demand */
	if (ref >= (HnswRef) g->visited_capacity)
	{
		int32		old = g->visited_capacity;

		while (ref >= (HnswRef) g->visited_capacity)
			g->visited_capacity *= 2;
		g->visited = repalloc_huge(g->visited, sizeof(uint32) * g->visited_capacity);
		memset(g->visited + old, 0, sizeof(uint32) * (g->visited_capacity - old));
	}
	if (g->visited[ref] == tag)
		return false;
	g->visited[ref] = tag;
	return true;
}

/* Fetch a whole key into the cache ahead of its use. */
static inline void
prefetch_key(HnswBuildGraph *g, int32 id)
{
	const char *key = element_key(g, id);

	for (Size at = 0; at < g->info->keysize; at += 64)
		__builtin_prefetch(key + at);
}

/*
 * Keys are in the arena, each a random read: start on the first two
 * while the first lines of all are requested, then fetch each key one
 * step ahead of the distance that needs it.
 */
static void
graph_distances(void *arg, const HnswRef *refs, int n, float *distances, bool *ok)
{
	HnswBuildGraph *g = (HnswBuildGraph *) arg;

	for (int i = 0; i < n; i++)
		__builtin_prefetch(element_key(g, (int32) refs[i]));
	if (n > 0)
		prefetch_key(g, (int32) refs[0]);
	for (int i = 0; i < n; i++)
	{
		if (i + 1 < n)
			prefetch_key(g, (int32) refs[i + 1]);
		distances[i] = AnnDistance(&g->info->dist, g->query, element_key(g, (int32) refs[i]),
								   g->info->dimensions);
		ok[i] = true;
	}
}

static int
graph_neighbors(void *arg, HnswRef ref, int layer, HnswRef *out)
{
	HnswBuildGraph *g = (HnswBuildGraph *) arg;
	HnswBuildList *list;
	int			n;

	if (layer > element_at(g, (int32) ref)->level)
		return 0;
	list = element_list(g, (int32) ref, layer);
	lock_element(g, (int32) ref, LW_SHARED);
	n = list->count;
	for (int i = 0; i < n; i++)
		out[i] = list->edges[i].element;
	unlock_element(g, (int32) ref);
	return n;
}

/* builds never filter: no matches callback */
static const HnswGraphOps build_graph_ops = {graph_visit, graph_distances, graph_neighbors, NULL};

static float
graph_pair_distance(void *arg, HnswRef a, HnswRef b)
{
	HnswBuildGraph *g = (HnswBuildGraph *) arg;

	return AnnDistance(&g->info->dist, element_key(g, (int32) a), element_key(g, (int32) b),
					   g->info->dimensions);
}

/* Store selected (diverse ones first, as HnswSelectNeighbors leaves them) sorted. */
static void
store_sorted(HnswBuildList *list, const HnswCandidate *selected, int n, int ndiverse)
{
	list->count = 0;
	for (int i = 0; i < n; i++)
	{
		int			at = list->count++;

		while (at > 0 && list->edges[at - 1].distance > selected[i].distance)
		{
			list->edges[at] = list->edges[at - 1];
			at--;
		}
		list->edges[at].element = (int32) selected[i].ref;
		list->edges[at].distance = selected[i].distance;
		list->edges[at].diverse = i < ndiverse;
	}
	list->sorted = true;
}

/*
 * Add a link to a full sorted list, as the heuristic would: the new link
 * is diverse unless a diverse link nearer the base is nearer to it; if it
 * is, diverse links beyond it that are nearer to it than to the base stop
 * being diverse (changes that would cascade further are ignored).  The
 * list then drops its farthest fill link, or its farthest link if all are
 * diverse.
 */
static void
link_sorted(HnswBuildGraph *g, HnswBuildList *list, int32 to, float distance)
{
	int			count = list->count;
	int			at = 0;
	bool		diverse = true;
	int			drop = -1;

	while (at < count && list->edges[at].distance <= distance)
	{
		if (diverse && list->edges[at].diverse)
		{
			float		between = graph_pair_distance(g, to, list->edges[at].element);

			if (between == 0 && AnnZeroMeansEqual(&g->info->dist))
				return;			/* a duplicate of a kept link adds nothing */
			diverse = between >= distance;
		}
		at++;
	}
	if (diverse)
		for (int i = at; i < count; i++)
			if (list->edges[i].diverse &&
				graph_pair_distance(g, list->edges[i].element, to) < list->edges[i].distance)
				list->edges[i].diverse = false;

	/* the farthest fill link, counting the new one at position at */
	for (int i = count - 1; i >= 0 && drop < 0; i--)
		if (!list->edges[i].diverse)
			drop = i;
	if (!diverse && (drop < at))
		return;					/* the new link is the farthest fill: dropped */
	if (drop < 0)
	{
		if (at == count)
			return;				/* all diverse and the new link farthest */
		drop = count - 1;
	}

	/* remove drop, insert the new link at its place in the order */
	memmove(&list->edges[drop], &list->edges[drop + 1], sizeof(HnswBuildEdge) * (count - 1 - drop));
	if (drop < at)
		at--;
	memmove(&list->edges[at + 1], &list->edges[at], sizeof(HnswBuildEdge) * (count - 1 - at));
	list->edges[at].element = to;
	list->edges[at].distance = distance;
	list->edges[at].diverse = diverse;
}

/*
 * Link from -> to on layer.  A full list keeps the links the heuristic
 * would choose from its links plus the new one.
 */
static void
graph_link(HnswBuildGraph *g, int32 from, int32 to, float distance, int layer,
		   HnswCandidate *scratch, HnswCandidate *kept)
{
	HnswBuildList *list = element_list(g, from, layer);
	int			max_links = HnswLayerSlots(layer, g->info->m);
	int			n;
	int			ndiverse;

	lock_element(g, from, LW_EXCLUSIVE);
	if (list->count < max_links)
	{
		list->edges[list->count].element = to;
		list->edges[list->count].distance = distance;
		list->count++;
		list->sorted = false;
	}
	else if (list->sorted)
		link_sorted(g, list, to, distance);
	else
	{
		for (int i = 0; i < list->count; i++)
		{
			scratch[i].ref = list->edges[i].element;
			scratch[i].distance = list->edges[i].distance;
		}
		scratch[list->count].ref = to;
		scratch[list->count].distance = distance;
		qsort(scratch, list->count + 1, sizeof(HnswCandidate), HnswCompareCandidates);
		n = HnswSelectNeighbors(scratch, list->count + 1, max_links, graph_pair_distance, g,
								AnnZeroMeansEqual(&g->info->dist), kept, &ndiverse);
		store_sorted(list, kept, n, ndiverse);
	}
	unlock_element(g, from);
}

/* Is element id's key bytewise equal to key (a full varlena key)? */
static bool
same_key(HnswBuildGraph *g, int32 id, const char *key)
{
	return memcmp(g->arena + (Size) id * g->stride + g->key_offset, key,
				  g->info->keysize) == 0;
}

/*
 * Add heaptid to an element with the same key and room.  Such twins are
 * the nearest found, tied (distance 0 for L2, -|x|^2 for inner product).
 */
static bool
join_twin(HnswBuildGraph *g, const HnswCandidate *found, int nfound, const char *key,
		  ItemPointer heaptid)
{
	for (int i = 0; i < nfound && found[i].distance == found[0].distance; i++)
	{
		int32		twin_id = (int32) found[i].ref;
		HnswBuildElement *twin = element_at(g, twin_id);
		bool		joined = false;

		if (!same_key(g, twin_id, key))
			continue;
		lock_element(g, twin_id, LW_EXCLUSIVE);
		if (twin->nheaptids < HNSW_HEAPTIDS)
		{
			twin->heaptids[twin->nheaptids++] = *heaptid;
			joined = true;
		}
		unlock_element(g, twin_id);
		if (joined)
			return true;
	}
	return false;
}

/* The edge of list leading to an element whose key is key, or -1. */
static int
twin_edge(HnswBuildGraph *g, const HnswBuildList *list, const char *key)
{
	for (int i = 0; i < list->count; i++)
		if (list->edges[i].distance == 0 && same_key(g, list->edges[i].element, key))
			return i;
	return -1;
}

/*
 * A new element whose vector full elements hold already (its twins):
 * the heuristic links each element to one twin at most, so twins keep
 * a chain, anchor -> newest -> ... -> oldest, that leaves none of them
 * unreachable.  The new element's twin link (to the anchor, the nearest
 * twin found) moves to the anchor's successor; returns the anchor, which
 * point_twin_at makes point at the new element once it is linked, or -1.
 */
static int32
chain_twin(HnswBuildGraph *g, const char *key, const HnswCandidate *found, int nfound,
		   HnswBuildList *list)
{
	int32		anchor;
	int32		next;
	int			at;

	if (!AnnZeroMeansEqual(&g->info->dist) || nfound == 0 || found[0].distance != 0 ||
		!same_key(g, (int32) found[0].ref, key))
		return -1;
	anchor = (int32) found[0].ref;
	lock_element(g, anchor, LW_SHARED);
	at = twin_edge(g, element_list(g, anchor, 0), key);
	next = at >= 0 ? element_list(g, anchor, 0)->edges[at].element : anchor;
	unlock_element(g, anchor);

	at = twin_edge(g, list, key);
	if (at >= 0)
		list->edges[at].element = next;
	return anchor;
}

/*
 * Every twin link of the anchor now leads to the new element: a second
 * twin link could win a later re-selection (which keeps one twin, the
 * lowest id) over the chain's.
 */
static void
point_twin_at(HnswBuildGraph *g, int32 anchor, const char *key, int32 id)
{
	HnswBuildList *list = element_list(g, anchor, 0);

	lock_element(g, anchor, LW_EXCLUSIVE);
	for (int i = 0; i < list->count; i++)
		if (list->edges[i].distance == 0 && same_key(g, list->edges[i].element, key))
			list->edges[i].element = id;
	unlock_element(g, anchor);
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
	int32		entry;
	int			entry_level;
	int			top;
	int			ndiverse;
	int32		anchor = -1;

	if (id < 0)
		return false;
	e = element_at(g, id);
	e->heaptids[e->nheaptids++] = *heaptid;
	memcpy(g->arena + (Size) id * g->stride + g->key_offset, key, bs->info.keysize);

	SpinLockAcquire(&g->shared->mutex);
	entry = g->shared->entry;
	entry_level = g->shared->entry_level;
	if (entry < 0)
	{
		g->shared->entry = id;
		g->shared->entry_level = level;
	}
	SpinLockRelease(&g->shared->mutex);
	if (entry < 0)
		return true;

	/* greedy descent to the element's own top layer, then ef_construction */
	graph_new_search(g, element_key(g, id));
	HnswSearchStart(&bs->search, entry, entry_level);
	for (int layer = entry_level; layer > level; layer--)
	{
		HnswSearchLayer(&bs->search, 1, layer);
		HnswSearchRestart(&bs->search, layer - 1);
	}

	top = Min(level, entry_level);
	for (int layer = top; layer >= 0; layer--)
	{
		HnswBuildList *list = element_list(g, id, layer);
		int			nfound;

		HnswSearchLayer(&bs->search, bs->info.ef_construction, layer);
		nfound = HnswSortedResults(&bs->search, bs->found);

		/* an exact duplicate joins an existing element with room */
		if (layer == 0 && join_twin(g, bs->found, nfound, key, heaptid))
		{
			e->merged = true;
			return true;
		}

		bs->nselected[layer] = HnswSelectNeighbors(bs->found, nfound,
												   HnswLayerSlots(layer, m),
												   graph_pair_distance, g,
												   AnnZeroMeansEqual(&bs->info.dist),
												   bs->selected[layer], &ndiverse);
		store_sorted(list, bs->selected[layer], bs->nselected[layer], ndiverse);
		if (layer == 0)
			anchor = chain_twin(g, key, bs->found, nfound, list);

		if (layer > 0)
			HnswSearchSeed(&bs->search, bs->found, nfound, layer - 1);
	}

	/* the element is complete: now let its neighbours point back at it */
	for (int layer = top; layer >= 0; layer--)
		for (int i = 0; i < bs->nselected[layer]; i++)
			graph_link(g, (int32) bs->selected[layer][i].ref, id,
					   bs->selected[layer][i].distance, layer, bs->found, bs->kept);
	if (anchor >= 0)
		point_twin_at(g, anchor, key, id);

	SpinLockAcquire(&g->shared->mutex);
	if (level > g->shared->entry_level)
	{
		g->shared->entry = id;
		g->shared->entry_level = level;
	}
	SpinLockRelease(&g->shared->mutex);
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
	for (int32 id = 0; id < g->shared->nelements; id++)
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

	/* no uninitialised padding on the page (WAL compares every byte) */
	memset(out, 0, HNSW_NEIGHBOR_TUPLE_SIZE(e->level, m));
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
	int32		nelements = g->shared->nelements;
	ItemPointerData *etids = palloc_extended(sizeof(ItemPointerData) * Max(nelements, 1),
											 MCXT_ALLOC_HUGE);
	ItemPointerData *ntids = palloc_extended(sizeof(ItemPointerData) * Max(nelements, 1),
											 MCXT_ALLOC_HUGE);
	Size		esize = HNSW_ELEMENT_TUPLE_SIZE(bs->info.keysize);
	HnswElementTuple etup = palloc(esize);
	HnswNeighborTuple ntup = palloc(HNSW_NEIGHBOR_TUPLE_SIZE(HNSW_MAX_LEVEL, bs->info.m));
	Buffer		buffer = InvalidBuffer;
	Buffer		metabuf;
	HnswMetaPage meta;

	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, HNSW_PHASE_WRITE);
	plan_tids(g, etids, ntids);

	for (int32 id = 0; id < nelements; id++)
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
	if (g->shared->entry >= 0)
	{
		meta->entry = etids[g->shared->entry];
		meta->entry_level = g->shared->entry_level;
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
	AnnResolveDistance(index, &info->dist);
	info->m = HnswGetM(index);
	info->ef_construction = HnswGetEfConstruction(index);
	if (info->ef_construction < 2 * info->m)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("ef_construction must be greater than or equal to 2 * m")));
	info->dimensions = AnnIndexDimensions(index, &info->dist, "hnsw", HNSW_MAX_DIM,
										  HNSW_MAX_HALF_DIM);
	HnswSetKeySize(index, info);
}

static void
write_metapage(Relation index, ForkNumber fork, const HnswIndexInfo *info)
{
	Buffer		buffer = AnnNewBuffer(index, fork);

	HnswInitMetaPage(BufferGetPage(buffer), info);
	MarkBufferDirty(buffer);
	UnlockReleaseBuffer(buffer);
}

/*
 * Say how much memory the whole graph would need, from what it used so
 * far, when the table's estimated rows are a guide to how many are left.
 */
static void
report_spill(HnswBuildState *bs)
{
	HnswGraphShared *shared = bs->graph.shared;
	double		per_element = (double) (shared->nelements * bs->graph.stride +
										shared->upper_used) / Max(shared->nelements, 1);
	double		needed = per_element * bs->rows_expected * 1.1;

	ereport(NOTICE,
			(errmsg("hnsw graph no longer fits into maintenance_work_mem after %.0f tuples",
					bs->indtuples),
			 errdetail("Building will take significantly more time."),
			 bs->rows_expected > bs->indtuples ?
			 errhint("Increase maintenance_work_mem to about %.0f MB to build this index in memory.",
					 ceil(needed / (1024.0 * 1024.0))) :
			 errhint("Increase maintenance_work_mem to build this index in memory; "
					 "ANALYZE the table for an estimate of how much it needs.")));
}

/*
 * Parallel build: keep a row the full graph had no room for.  The spill
 * file lives in build_cxt: the caller runs in the per-tuple context,
 * which is reset after every row.
 */
static void
spill_row(HnswBuildState *bs, ItemPointer tid, Datum key)
{
	if (bs->spill == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(bs->build_cxt);

		bs->spill = BufFileCreateFileSet(bs->spill_set, bs->spill_name);
		MemoryContextSwitchTo(old);
	}
	BufFileWrite(bs->spill, tid, sizeof(ItemPointerData));
	BufFileWrite(bs->spill, DatumGetPointer(key), bs->info.keysize);
}

/* Add one row: to the graph while it has room, then on disk (or spilled). */
static void
add_row(HnswBuildState *bs, ItemPointer tid, Datum key)
{
	if (!bs->on_disk && graph_insert(bs, DatumGetPointer(key), tid))
		return;
	if (bs->graph.parallel)
	{
		spill_row(bs, tid, key);
		return;
	}
	if (!bs->on_disk)
	{
		MemoryContext old = MemoryContextSwitchTo(bs->build_cxt);

		report_spill(bs);
		graph_write(bs);
		MemoryContextSwitchTo(old);
		bs->on_disk = true;
	}
	HnswInsertKey(bs->index, key, tid, true, false);
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
		AnnCheckDimensions(bs->info.dimensions, dim);
		key = AnnFilterComposeKey(&bs->info.filters, key, AnnKeySize(&bs->info.dist, dim),
								  values, isnull);
		add_row(bs, tid, key);
		bs->indtuples++;
		if (bs->progress)
			pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE,
										 bs->graph.parallel ? bs->graph.shared->nelements :
										 (int64) bs->indtuples);
	}
	MemoryContextSwitchTo(old);
	MemoryContextReset(bs->tuple_cxt);
	CHECK_FOR_INTERRUPTS();
}

/*
 * Rows to expect: the planner's estimate, which can guess the width of a
 * never-analysed vector column far too small; when the key is a column,
 * no more rows than the table's data (heap and TOAST) holds keys.
 */
static double
estimate_rows(Relation heap, Relation index, Size keysize)
{
	double		rows = AnnEstimateHeapRows(heap);

	if (RelationGetIndexExpressions(index) == NIL)
		rows = Min(rows, (double) AnnHeapDataBlocks(heap) * BLCKSZ / keysize + 1);
	return rows;
}

/* Everything a participant needs to insert into the graph. */
static void
build_state_init(HnswBuildState *bs, Relation heap, Relation index, char *arena,
				 Size capacity, HnswGraphShared *shared, bool parallel)
{
	int			m;

	memset(bs, 0, sizeof(*bs));
	bs->heap = heap;
	bs->index = index;
	build_index_info(index, &bs->info);
	m = bs->info.m;
	bs->rows_expected = estimate_rows(heap, index, bs->info.keysize);
	bs->build_cxt = CurrentMemoryContext;
	graph_init(&bs->graph, &bs->info, arena, capacity, shared, parallel);
	HnswSearchInit(&bs->search, &build_graph_ops, &bs->graph, m);
	bs->found = palloc(sizeof(HnswCandidate) * (Max(bs->info.ef_construction, 2 * m) + 1));
	bs->kept = palloc(sizeof(HnswCandidate) * (2 * m + 1));
	for (int layer = 0; layer <= HNSW_MAX_LEVEL; layer++)
		bs->selected[layer] = palloc(sizeof(HnswCandidate) * (2 * m + 1));
	bs->tuple_cxt = AllocSetContextCreate(CurrentMemoryContext, "Hnsw build tuple context",
										  ALLOCSET_DEFAULT_SIZES);
}

/* ---------------------------------------------------------------------
 * Parallel build
 *
 * The segment (annbuild.c) holds, in the access method's area,
 * HnswParallelShared and the graph arena after it.  Every participant
 * (the leader too) scans its share of the heap and inserts into the
 * shared graph, locking an element's LWLock to read or change its lists.
 * Rows that find the arena full go to a per-participant spill file; after
 * the workers finish, the leader writes the graph and inserts the spilled
 * rows on disk.
 * ---------------------------------------------------------------------
 */
typedef struct HnswParallelShared
{
	Size		arena_size;
	HnswGraphShared graph;
	SharedFileSet fileset;		/* spill files */
	/* the arena follows, at BUFFERALIGN(sizeof(this)) */
} HnswParallelShared;

#define ArenaFromHnswShared(ps) ((char *) (ps) + BUFFERALIGN(sizeof(HnswParallelShared)))

static void
spill_name(char *name, int participant)
{
	snprintf(name, MAXPGPATH, "hnsw.%d", participant);
}

/* One participant's share of the build: scan, insert, count. */
static void
participate(AnnBuildShared *shared, HnswParallelShared *ps, Relation heap, Relation index,
			int participant, bool progress)
{
	HnswBuildState bs;
	double		heap_tuples;

	build_state_init(&bs, heap, index, ArenaFromHnswShared(ps), ps->arena_size, &ps->graph,
					 true);
	bs.progress = progress;
	bs.spill_set = &ps->fileset.fs;
	spill_name(bs.spill_name, participant);
	heap_tuples = AnnParallelBuildScan(shared, heap, index, progress, build_callback, &bs);
	if (bs.spill != NULL)
		BufFileClose(bs.spill);
	AnnBuildAddCounts(shared, heap_tuples, bs.indtuples);
}

/* Entry point of a parallel worker (named in CreateParallelContext). */
PGDLLEXPORT void HnswParallelBuildMain(dsm_segment *seg, shm_toc *toc);

void
HnswParallelBuildMain(dsm_segment *seg, shm_toc *toc)
{
	AnnBuildWorker worker;
	HnswParallelShared *ps;

	AnnAttachBuildWorker(toc, &worker);
	ps = worker.am_area;
	SharedFileSetAttach(&ps->fileset, seg);
	participate(worker.shared, ps, worker.heap, worker.index, ParallelWorkerNumber, false);
	AnnDetachBuildWorker(&worker);
}

/* Insert the rows every participant spilled, now that the graph is on disk. */
static double
insert_spilled(HnswBuildState *bs, HnswParallelShared *ps, int nparticipants)
{
	char	   *key = palloc(bs->info.keysize);
	double		n = 0;

	for (int participant = -1; participant < nparticipants - 1; participant++)
	{
		char		name[MAXPGPATH];
		BufFile    *file;
		ItemPointerData tid;

		spill_name(name, participant);
		file = BufFileOpenFileSet(&ps->fileset.fs, name, O_RDONLY, true);
		if (file == NULL)
			continue;
		while (BufFileRead(file, &tid, sizeof(tid)) == sizeof(tid))
		{
			if (BufFileRead(file, key, bs->info.keysize) != bs->info.keysize)
				elog(ERROR, "could not read hnsw spill file \"%s\"", name);
			HnswInsertKey(bs->index, PointerGetDatum(key), &tid, true, false);
			n++;
			CHECK_FOR_INTERRUPTS();
		}
		BufFileClose(file);
	}
	return n;
}

/*
 * Build with nworkers parallel workers and the leader.  Returns false,
 * having done nothing, if no DSM segment could be had.
 */
static bool
build_parallel(HnswBuildState *bs, IndexInfo *indexInfo, int nworkers, Size arena_size,
			   double *heap_tuples)
{
	AnnParallelBuild pb;
	HnswParallelShared *ps;
	int			launched;

	if (!AnnBeginParallelBuild(&pb, bs->heap, bs->index, indexInfo, "HnswParallelBuildMain",
							   nworkers, BUFFERALIGN(sizeof(HnswParallelShared)) + arena_size))
		return false;
	ps = pb.am_area;
	ps->arena_size = arena_size;
	graph_shared_init(&ps->graph, LWLockNewTrancheId());
	SharedFileSetInit(&ps->fileset, pb.pcxt->seg);
	LWLockRegisterTranche(ps->graph.lock_tranche, "hnsw build");
	launched = AnnLaunchParallelBuild(&pb);
	ereport(DEBUG1,
			(errmsg("building hnsw index \"%s\" with %d parallel workers",
					RelationGetRelationName(bs->index), launched)));
	participate(pb.shared, ps, bs->heap, bs->index, -1, true);
	WaitForParallelWorkersToFinish(pb.pcxt);

	/* the leader writes the shared graph, then what did not fit */
	graph_init(&bs->graph, &bs->info, ArenaFromHnswShared(ps), arena_size, &ps->graph, false);
	graph_write(bs);
	bs->indtuples = pb.shared->index_tuples;
	insert_spilled(bs, ps, launched + 1);
	*heap_tuples = pb.shared->heap_tuples;
	AnnEndParallelBuild(&pb);
	return true;
}

/* Bytes free in /dev/shm, or SIZE_MAX when DSM does not live there. */
static Size
dsm_space_left(void)
{
	struct statvfs fs;

	if (dynamic_shared_memory_type != DSM_IMPL_POSIX || statvfs("/dev/shm", &fs) != 0)
		return SIZE_MAX;
	return (Size) fs.f_bavail * fs.f_frsize;
}

/*
 * The arena the estimated rows need (with a fifth to spare for upper
 * layers and a low estimate), at most maintenance_work_mem.
 */
static Size
arena_wanted(HnswBuildState *bs)
{
	Size		per_row = bs->graph.stride + 2 * bs->info.m * sizeof(HnswBuildEdge);
	double		needed = bs->rows_expected * per_row * 1.2 + 1024 * 1024;

	return (Size) Min((double) maintenance_work_mem * 1024, needed);
}

/*
 * How many workers to ask for, and the arena they share.  Workers are
 * sized on the data (heap plus TOAST, where vectors live), unless the
 * table's parallel_workers says otherwise.  A parallel build keeps the
 * whole graph in shared memory; when /dev/shm cannot hold it, build
 * serially and say why.
 */
static int
plan_workers(HnswBuildState *bs, Size *arena_size)
{
	int			nworkers = AnnBuildWorkersWanted(bs->heap, bs->index);
	Size		space;

	*arena_size = arena_wanted(bs);
	if (nworkers == 0)
		return 0;

	space = dsm_space_left();
	if (*arena_size > space)
	{
		ereport(NOTICE,
				(errmsg("building hnsw index \"%s\" without parallel workers",
						RelationGetRelationName(bs->index)),
				 errdetail("The graph needs %zu MB of shared memory, but only %zu MB are free in /dev/shm.",
						   *arena_size / (1024 * 1024), space / (1024 * 1024)),
				 errhint("Enlarge /dev/shm or lower maintenance_work_mem.")));
		return 0;
	}
	return nworkers;
}

IndexBuildResult *
hnswbuild(Relation heap, Relation index, IndexInfo *indexInfo)
{
	IndexBuildResult *result = palloc(sizeof(IndexBuildResult));
	HnswBuildState bs;
	HnswGraphShared shared;
	Size		arena_size;
	int			nworkers;
	bool		built = false;

	if (RelationGetNumberOfBlocks(index) != 0)
		elog(ERROR, "index \"%s\" already contains data", RelationGetRelationName(index));

	build_state_init(&bs, heap, index, NULL, 0, &shared, false);
	bs.progress = true;
	write_metapage(index, MAIN_FORKNUM, &bs.info);
	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, HNSW_PHASE_GRAPH);
	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_TOTAL, (int64) bs.rows_expected);

	nworkers = plan_workers(&bs, &arena_size);
	if (nworkers > 0)
		built = build_parallel(&bs, indexInfo, nworkers, arena_size, &result->heap_tuples);
	if (!built)
	{
		graph_shared_init(&shared, 0);
		graph_init(&bs.graph, &bs.info, MemoryContextAllocHuge(CurrentMemoryContext, arena_size),
				   arena_size, &shared, false);
		bs.graph.max_capacity = Max(arena_size, (Size) maintenance_work_mem * 1024);
		result->heap_tuples = table_index_build_scan(heap, index, indexInfo, true, true,
													 build_callback, &bs, NULL);
		if (!bs.on_disk)
			graph_write(&bs);
		pfree(bs.graph.arena);
	}

	MemoryContextDelete(bs.tuple_cxt);
	if (bs.info.filters.ncolumns > 0)
		HnswBuildSignatureDirectory(index);
	AnnLogRelation(index, MAIN_FORKNUM);
	/* after the pages are logged: the links it adds are WAL records of their own */
	HnswLinkOrphans(index);
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
