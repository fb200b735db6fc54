/*
 * hnswbuildgraph.c
 *		The graph of an hnsw build, in memory: its arena, the search
 *		operations over it, linking, twins, and adding one row.
 *
 * The graph is built in an arena of at most maintenance_work_mem bytes
 * (layout in hnswbuild.h).  A serial build starts with the arena the
 * table's estimated size needs and doubles it when the two ends meet; a
 * parallel build's arena, in shared memory, is sized once.  What a new
 * element's insert has in common with aminsert's (its search, how a full
 * list takes it, twins) is in hnswelement.c.
 *
 * Locking: in a parallel build every participant inserts into the shared
 * graph, taking an element's LWLock to read or change its lists and heap
 * TIDs and the shared mutex for the element count and the entry point.
 * A serial build takes neither.
 */
#include "postgres.h"

#include "hnswbuild.h"

/*
 * Set up g over arena, capacity bytes (allocated by the caller), whose
 * shared counters are in shared; parallel: other processes insert too.
 */
void
HnswBuildGraphInit(HnswBuildGraph *g, const HnswIndexInfo *info, char *arena, Size capacity,
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
	g->key_offset = g->list0_offset + MAXALIGN(list_size(HnswLayerSlots(0, info->m)));
	g->varying_keys = info->keysize == 0;
	g->stride = g->key_offset + MAXALIGN(info->keysize);
	g->visited_capacity = 1024;
	g->visited = palloc0(sizeof(uint32) * g->visited_capacity);
	g->visit_tag = 0;
}

/* Counters of an empty graph; lock_tranche names the element locks. */
void
HnswBuildGraphSharedInit(HnswGraphShared *shared, int lock_tranche)
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
 * Take room for a new element of the given level whose stored key has
 * keysize bytes, or return -1 when the arena is full.
 */
static int32
graph_allocate(HnswBuildGraph *g, int level, Size keysize)
{
	HnswGraphShared *shared = g->shared;
	Size		upper = MAXALIGN((Size) level * list_size(g->info->m));
	Size		back = upper + (g->varying_keys ? MAXALIGN(keysize) : 0);
	int32		id = -1;
	Size		back_offset = 0;
	HnswBuildElement *e;

	do
	{
		SpinLockAcquire(&shared->mutex);
		if ((Size) (shared->nelements + 1) * g->stride + shared->upper_used + back <= g->capacity)
		{
			id = shared->nelements++;
			shared->upper_used += back;
			back_offset = shared->upper_used;
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
	/* from the back: the upper lists, then the key */
	e->upper = level > 0 ? back_offset : 0;
	e->key = g->varying_keys ? back_offset - upper : 0;
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

/* Fetch a whole key (a sparse key's first lines) into the cache ahead of its use. */
static inline void
prefetch_key(HnswBuildGraph *g, int32 id)
{
	const char *key = element_key(g, id);
	Size		size = g->varying_keys ? 256 : g->info->keysize;

	for (Size at = 0; at < size; at += 64)
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
	/* the search marks each as visited next: each mark is a random read */
	for (int i = 0; i < n; i++)
		if (out[i] < (HnswRef) g->visited_capacity)
			__builtin_prefetch(&g->visited[out[i]], 1);
	return n;
}

/*
 * The element's header and, on layer 0, its list (found without reading
 * the element): the lines neighbors reads
 */
static void
graph_prefetch(void *arg, HnswRef ref, int layer)
{
	HnswBuildGraph *g = (HnswBuildGraph *) arg;
	const char *element = (const char *) element_at(g, (int32) ref);

	__builtin_prefetch(element);
	if (layer == 0)
		for (Size at = g->list0_offset; at < g->key_offset; at += 64)
			__builtin_prefetch(element + at);
}

/* a build search returns any element, never stops early, keeps no leftovers */
const HnswGraphOps hnsw_build_graph_ops = {
	.visit = graph_visit,
	.distances = graph_distances,
	.neighbors = graph_neighbors,
	.prefetch = graph_prefetch,
};

static float
graph_pair_distance(void *arg, HnswRef a, HnswRef b)
{
	HnswBuildGraph *g = (HnswBuildGraph *) arg;

	return AnnDistance(&g->info->dist, element_key(g, (int32) a), element_key(g, (int32) b),
					   g->info->dimensions);
}

static const char *
graph_stored_key(void *arg, HnswRef ref)
{
	return element_stored_key((HnswBuildGraph *) arg, (int32) ref);
}

static const HnswPairOps graph_pair_ops = {
	.distance = graph_pair_distance,
	.stored_key = graph_stored_key,
};

/* Are a and b, at distance, twins (HnswTwins)? */
static bool
graph_twins(HnswBuildGraph *g, int32 a, int32 b, float distance)
{
	return HnswTwins(g->info, &graph_pair_ops, g, a, b, distance);
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

			if (graph_twins(g, to, list->edges[at].element, between))
				return;			/* a twin of a kept link adds nothing */
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
	int			n;
	int			ndiverse;

	lock_element(g, from, LW_EXCLUSIVE);
	if (list->count < HnswLayerSlots(layer, g->info->m))
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
		n = HnswReselectFull(g->info, layer, scratch, list->count, to, distance,
							 &graph_pair_ops, g, kept, &ndiverse);
		store_sorted(list, kept, n, ndiverse);
	}
	unlock_element(g, from);
}

/*
 * Is element id's key bytewise equal to key (a full varlena key, filter
 * signatures included), so that key's row may join it?
 */
static bool
same_key(HnswBuildGraph *g, int32 id, const char *key)
{
	return HnswSameStoredKey(g->info, element_stored_key(g, id), key);
}

/* Add heaptid to an element with the same key and room (a twin). */
static bool
graph_join_twin(HnswBuildGraph *g, const HnswCandidate *found, int nfound, const char *key,
		  ItemPointer heaptid)
{
	for (int i = HnswFindCopy(g->info, &graph_pair_ops, g, key, found, nfound, 0); i >= 0;
		 i = HnswFindCopy(g->info, &graph_pair_ops, g, key, found, nfound, i + 1))
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

/*
 * The edge of owner's layer-0 list leading to a twin of owner, or -1:
 * the heuristic keeps one link to twins at most (HnswSelectNeighbors).
 */
static int
twin_edge(HnswBuildGraph *g, int32 owner)
{
	HnswBuildList *list = element_list(g, owner, 0);

	for (int i = 0; i < list->count; i++)
		if (graph_twins(g, owner, list->edges[i].element, list->edges[i].distance))
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
graph_chain_twin(HnswBuildGraph *g, int32 id, const HnswCandidate *found, int nfound)
{
	int			at = HnswFindTwin(g->info, found, nfound);
	int32		anchor;
	int32		next;

	if (at < 0)
		return -1;
	anchor = (int32) found[at].ref;
	lock_element(g, anchor, LW_SHARED);
	at = twin_edge(g, anchor);
	next = at >= 0 ? element_list(g, anchor, 0)->edges[at].element : anchor;
	unlock_element(g, anchor);

	at = twin_edge(g, id);
	if (at >= 0)
		element_list(g, id, 0)->edges[at].element = next;
	return anchor;
}

/*
 * The anchor's twin link now leads to the new element, and it keeps no
 * other: a second twin link (one its list took while not full, to the
 * new element or another twin) could win a later re-selection (which
 * keeps one twin) over the chain's.
 */
static void
point_twin_at(HnswBuildGraph *g, int32 anchor, int32 id)
{
	HnswBuildList *list = element_list(g, anchor, 0);
	bool		pointed = false;
	int			n = 0;

	lock_element(g, anchor, LW_EXCLUSIVE);
	for (int i = 0; i < list->count; i++)
	{
		if (graph_twins(g, anchor, list->edges[i].element, list->edges[i].distance))
		{
			if (pointed)
				continue;
			list->edges[i].element = id;
			pointed = true;
		}
		list->edges[n++] = list->edges[i];
	}
	list->count = n;
	unlock_element(g, anchor);
}

/*
 * Make id the entry point if the graph has none, or if keep_higher and
 * its level is above the entry point's.  Returns the entry point before,
 * with its level in *entry_level (-1 when the graph was empty).
 */
static int32
swap_entry(HnswGraphShared *shared, int32 id, int level, bool keep_higher, int *entry_level)
{
	int32		entry;

	SpinLockAcquire(&shared->mutex);
	entry = shared->entry;
	*entry_level = shared->entry_level;
	if (entry < 0 || (keep_higher && level > shared->entry_level))
	{
		shared->entry = id;
		shared->entry_level = level;
	}
	SpinLockRelease(&shared->mutex);
	return entry;
}

/*
 * Choose element id's links on each of its layers, searching from entry
 * (greedy descent to its own top layer, then ef_construction), and store
 * them; *anchor is set for its twin chain (graph_chain_twin).  False
 * when the row joined a twin instead, before its layer-0 list was stored.
 */
static bool
choose_neighbors(HnswBuildState *bs, int32 id, const char *key, ItemPointer heaptid,
				 int32 entry, int entry_level, int32 *anchor)
{
	HnswBuildGraph *g = &bs->graph;
	int			level = element_at(g, id)->level;
	int			top = Min(level, entry_level);
	int			ndiverse;

	graph_new_search(g, element_key(g, id));
	HnswSearchDescend(&bs->search, entry, entry_level, top);
	for (int layer = top; layer >= 0; layer--)
	{
		HnswBuildList *list = element_list(g, id, layer);
		int			nfound = HnswSearchCandidates(&bs->search, bs->info.ef_construction, layer,
												  bs->found);

		/* an exact duplicate joins an existing element with room */
		if (layer == 0 && graph_join_twin(g, bs->found, nfound, key, heaptid))
			return false;
		bs->nselected[layer] = HnswSelectLayer(&bs->info, layer, bs->found, nfound,
											   &graph_pair_ops, g, bs->selected[layer],
											   &ndiverse);
		store_sorted(list, bs->selected[layer], bs->nselected[layer], ndiverse);
		if (layer == 0)
			*anchor = graph_chain_twin(g, id, bs->found, nfound);
	}
	return true;
}

/*
 * Add one row to the in-memory graph.  Returns false when the arena is
 * full (nothing was added).
 */
bool
HnswBuildGraphInsert(HnswBuildState *bs, const char *key, ItemPointer heaptid)
{
	HnswBuildGraph *g = &bs->graph;
	int			level = HnswRandomLevel(&bs->info, heaptid);
	Size		keysize = HnswStoredKeySize(&bs->info, key);
	int32		id = graph_allocate(g, level, keysize);
	HnswBuildElement *e;
	int32		entry;
	int			entry_level;
	int32		anchor = -1;

	if (id < 0)
		return false;
	e = element_at(g, id);
	e->heaptids[e->nheaptids++] = *heaptid;
	memcpy(element_stored_key(g, id), key, keysize);

	entry = swap_entry(g->shared, id, level, false, &entry_level);
	if (entry < 0)
		return true;
	if (!choose_neighbors(bs, id, key, heaptid, entry, entry_level, &anchor))
	{
		e->merged = true;
		return true;
	}

	/* the element is complete: now let its neighbours point back at it */
	for (int layer = Min(level, entry_level); layer >= 0; layer--)
		for (int i = 0; i < bs->nselected[layer]; i++)
			graph_link(g, (int32) bs->selected[layer][i].ref, id,
					   bs->selected[layer][i].distance, layer, bs->found, bs->kept);
	if (anchor >= 0)
		point_twin_at(g, anchor, id);
	swap_entry(g->shared, id, level, true, &entry_level);
	return true;
}
