/*
 * hnswgraph.c
 *		Layer search and neighbour selection (Malkov & Yashunin, HNSW).
 *
 * The algorithms here do not know where the graph lives: they reach it
 * through HnswGraphOps, implemented by the in-memory build graph
 * (hnswbuildgraph.c) and by the on-disk graph (hnswutils.c), so build, insert,
 * scan and vacuum share one search.
 *
 * A search keeps two binary heaps of candidates: the frontier still to
 * expand (nearest on top) and the best ef elements found (farthest on
 * top).  Elements are marked visited once per layer; the set carried down
 * from the layer above is marked again on arrival (HnswSearchRestart).
 */
#include "postgres.h"

#include "common/hashfn.h"

#include "hnsw.h"

/* ---------------------------------------------------------------------
 * Binary heap of candidates
 * ---------------------------------------------------------------------
 */

void
HnswHeapInit(HnswHeap *heap, int capacity, bool max_on_top)
{
	heap->items = palloc(sizeof(HnswCandidate) * capacity);
	heap->count = 0;
	heap->capacity = capacity;
	heap->max_on_top = max_on_top;
}

/* Does a belong above b?  Ties go by reference, so the order is repeatable. */
static inline bool
heap_above(const HnswHeap *heap, const HnswCandidate *a, const HnswCandidate *b)
{
	if (a->distance != b->distance)
		return heap->max_on_top ? a->distance > b->distance : a->distance < b->distance;
	return heap->max_on_top ? a->ref > b->ref : a->ref < b->ref;
}

/* Move item i up to its place below the top. */
static void
sift_up(HnswHeap *heap, int i)
{
	while (i > 0)
	{
		int			parent = (i - 1) / 2;
		HnswCandidate swap;

		if (!heap_above(heap, &heap->items[i], &heap->items[parent]))
			break;
		swap = heap->items[i];
		heap->items[i] = heap->items[parent];
		heap->items[parent] = swap;
		i = parent;
	}
}

/*
 * Add without keeping heap order: a pile (a scan's leftovers, hnswfilter.c);
 * bound as HnswCandidate has it.
 */
void
HnswHeapAppendBounded(HnswHeap *heap, HnswRef ref, float distance, float bound)
{
	if (heap->count == heap->capacity)
	{
		heap->capacity *= 2;
		heap->items = repalloc(heap->items, sizeof(HnswCandidate) * heap->capacity);
	}
	heap->items[heap->count].ref = ref;
	heap->items[heap->count].distance = distance;
	heap->items[heap->count].bound = bound;
	heap->count++;
}

/* The same for an exact distance */
void
HnswHeapAppend(HnswHeap *heap, HnswRef ref, float distance)
{
	HnswHeapAppendBounded(heap, ref, distance, distance);
}

void
HnswHeapPush(HnswHeap *heap, HnswRef ref, float distance)
{
	HnswHeapAppend(heap, ref, distance);
	sift_up(heap, heap->count - 1);
}

/* Push an estimate with its bound (HnswCandidate). */
void
HnswHeapPushBounded(HnswHeap *heap, HnswRef ref, float distance, float bound)
{
	HnswHeapAppendBounded(heap, ref, distance, bound);
	sift_up(heap, heap->count - 1);
}

/* Move item i down to its place below the top. */
static void
sift_down(HnswHeap *heap, int i)
{
	for (;;)
	{
		int			left = 2 * i + 1;
		int			best = i;
		HnswCandidate swap;

		if (left < heap->count && heap_above(heap, &heap->items[left], &heap->items[best]))
			best = left;
		if (left + 1 < heap->count && heap_above(heap, &heap->items[left + 1], &heap->items[best]))
			best = left + 1;
		if (best == i)
			return;
		swap = heap->items[i];
		heap->items[i] = heap->items[best];
		heap->items[best] = swap;
		i = best;
	}
}

/* Remove and return item i (any item, not only the top). */
HnswCandidate
HnswHeapRemove(HnswHeap *heap, int i)
{
	HnswCandidate removed = heap->items[i];

	heap->items[i] = heap->items[--heap->count];
	if (i < heap->count)
	{
		sift_down(heap, i);
		sift_up(heap, i);
	}
	return removed;
}

/* Remove and return the top; the heap must not be empty. */
HnswCandidate
HnswHeapPop(HnswHeap *heap)
{
	HnswCandidate top = heap->items[0];

	heap->items[0] = heap->items[--heap->count];
	sift_down(heap, 0);
	return top;
}

/* ---------------------------------------------------------------------
 * Layer search
 * ---------------------------------------------------------------------
 */

void
HnswSearchInit(HnswSearch *search, const HnswGraphOps *ops, void *graph, int m)
{
	search->ops = ops;
	search->graph = graph;
	HnswHeapInit(&search->candidates, 64, false);
	HnswHeapInit(&search->results, 64, true);
	search->neighbors = palloc(sizeof(HnswRef) * 2 * m);
	search->fresh = palloc(sizeof(HnswRef) * 2 * m);
	search->fresh_distances = palloc(sizeof(float) * 2 * m);
	search->fresh_ok = palloc(sizeof(bool) * 2 * m);
	search->coded = palloc(sizeof(HnswCandidate) * 2 * m);
	search->tie_table = NULL;	/* ties count as any results */
	search->ties = 0;
}

static inline bool
is_result(HnswSearch *search, HnswRef ref)
{
	return search->ops->is_result == NULL || search->ops->is_result(search->graph, ref);
}

static inline void
leftover(HnswSearch *search, const HnswCandidate *c, bool evicted)
{
	if (search->ops->leftover != NULL)
		search->ops->leftover(search->graph, c, evicted);
}

/* ---------------------------------------------------------------------
 * Ties among the results
 *
 * Copies of one vector (twins: a vector repeated past HNSW_HEAPTIDS rows
 * takes an element for every HNSW_HEAPTIDS) all lie at one distance from
 * a query.  Counted one by one, enough of them fill a search's ef results
 * and it sees one vector where it should see ef: over 40 vectors each
 * repeated 500 times, a scan at hnsw.ef_search 40 returned the fourth
 * nearest vector's rows first.  A search that counts ties once (a
 * scan's) counts the results at one distance as one toward ef, and
 * takes results tied with the farthest; it holds at most
 * HNSW_TIED_RESULTS (or ef) all the same.  Distinct vectors tie exactly so
 * rarely that elsewhere nothing changes.
 * ---------------------------------------------------------------------
 */

/* Empty the tie table, to count the results afresh */
static void
tie_restart(HnswSearch *search)
{
	HnswTieTable *table = search->tie_table;

	if (++table->stamp == 0)
	{
		memset(table->stamps, 0, sizeof(table->stamps));
		table->stamp = 1;
	}
	search->tie_used = 0;
	search->ties = 0;
}

/*
 * Count the results at one distance once from now on, in *table (made in
 * cxt if NULL; its contents do not matter), unless the index's distances
 * take few values (Hamming and Jaccard), where distinct keys tie all the
 * time and the results would grow to their most.
 */
void
HnswSearchCountTiesOnce(HnswSearch *search, const HnswIndexInfo *info, HnswTieTable **table,
						MemoryContext cxt)
{
	if (info->dist.metric == ANN_METRIC_HAMMING || info->dist.metric == ANN_METRIC_JACCARD)
		return;
	if (*table == NULL)
		*table = MemoryContextAllocZero(cxt, sizeof(HnswTieTable));
	search->tie_table = *table;
	tie_restart(search);
}

/* The table's slot for a distance: its own, or the empty one it would take */
static int
tie_slot(const HnswTieTable *table, uint32 key)
{
	int			mask = HNSW_TIE_SLOTS - 1;
	int			slot = (int) (murmurhash32(key) & mask);

	while (table->stamps[slot] == table->stamp && table->keys[slot] != key)
		slot = (slot + 1) & mask;
	return slot;
}

static uint32
tie_key(float distance)
{
	uint32		key;

	memcpy(&key, &distance, sizeof(key));
	return key;
}

/* One more result at distance; returns whether another was there already */
static bool
tie_count(HnswSearch *search, float distance)
{
	HnswTieTable *table = search->tie_table;
	uint32		key = tie_key(distance);
	int			slot = tie_slot(table, key);

	if (table->stamps[slot] != table->stamp)
	{
		table->stamps[slot] = table->stamp;
		table->keys[slot] = key;
		table->counts[slot] = 1;
		search->tie_used++;
		return false;
	}
	return table->counts[slot]++ > 0;
}

/* Count the results afresh (the caller may have changed them). */
static void
tie_rebuild(HnswSearch *search)
{
	HnswHeap   *results = &search->results;

	if (search->tie_table == NULL)
		return;
	tie_restart(search);
	for (int i = 0; i < results->count; i++)
		search->ties += tie_count(search, results->items[i].distance);
}

/* A result at distance joined the results. */
static void
tie_add(HnswSearch *search, float distance)
{
	if (search->tie_table == NULL)
		return;
	search->ties += tie_count(search, distance);
	/* distances whose results have all gone keep their slots: start afresh */
	if (search->tie_used > HNSW_TIE_SLOTS / 2)
		tie_rebuild(search);
}

/* A result at distance left the results. */
static void
tie_remove(HnswSearch *search, float distance)
{
	HnswTieTable *table = search->tie_table;
	int			slot;

	if (table == NULL)
		return;
	slot = tie_slot(table, tie_key(distance));
	Assert(table->stamps[slot] == table->stamp && table->counts[slot] > 0);
	if (--table->counts[slot] > 0)
		search->ties--;
}

/* The most results a search for ef holds */
static inline int
results_room(const HnswSearch *search, int ef)
{
	return search->tie_table != NULL ? Max(ef, HNSW_TIED_RESULTS) : ef;
}

/* Do the results count ef (ties once, when the search counts them so)? */
bool
HnswSearchResultsFull(const HnswSearch *search, int ef)
{
	int			n = search->results.count;

	return n - search->ties >= ef || n >= results_room(search, ef);
}

/* Do they count more than ef? */
static inline bool
results_over(const HnswSearch *search, int ef)
{
	int			n = search->results.count;

	return n - search->ties > ef || n > results_room(search, ef);
}

/*
 * May an element at distance join the results of a search for ef?  When
 * they are full, only if it is nearer than the farthest, or tied with it
 * where ties count once.
 */
static inline bool
may_join(const HnswSearch *search, int ef, float distance)
{
	const HnswHeap *results = &search->results;

	return !HnswSearchResultsFull(search, ef) || distance < results->items[0].distance ||
		(search->tie_table != NULL && distance == results->items[0].distance);
}

/* Push a result, then drop the farthest while the results count more than ef. */
static void
add_result(HnswSearch *search, int ef, const HnswCandidate *c)
{
	HnswHeapPushBounded(&search->results, c->ref, c->distance, c->bound);
	tie_add(search, c->distance);
	while (results_over(search, ef))
	{
		HnswCandidate dropped = HnswHeapPop(&search->results);

		tie_remove(search, dropped.distance);
		leftover(search, &dropped, true);
	}
}

/*
 * Begin a search at entry, on its top layer.  Returns false when the
 * entry cannot be used (its distance callback refused it).
 */
bool
HnswSearchStart(HnswSearch *search, HnswRef entry, int layer)
{
	float		distance;
	bool		ok;

	search->candidates.count = 0;
	search->results.count = 0;
	search->ops->visit(search->graph, entry, layer);
	search->ops->distances(search->graph, &entry, 1, &distance, &ok);
	if (!ok)
		return false;
	HnswHeapPush(&search->candidates, entry, distance);
	HnswHeapPush(&search->results, entry, distance);
	return true;
}

/*
 * Carry the results of one layer down to the next as its entry points,
 * marking them visited there.
 */
void
HnswSearchRestart(HnswSearch *search, int layer)
{
	search->candidates.count = 0;
	for (int i = 0; i < search->results.count; i++)
	{
		HnswCandidate *c = &search->results.items[i];

		search->ops->visit(search->graph, c->ref, layer);
		HnswHeapPush(&search->candidates, c->ref, c->distance);
	}
}

/*
 * Before a search of layer 0 that returns only some elements (a filtered
 * one): the entry points carried down stay on the frontier, but only
 * those the graph accepts as results remain results.
 */
void
HnswSearchDropNonResults(HnswSearch *search)
{
	HnswHeap   *results = &search->results;
	int			n = results->count;
	HnswCandidate *items = palloc(sizeof(HnswCandidate) * Max(n, 1));

	memcpy(items, results->items, sizeof(HnswCandidate) * n);
	results->count = 0;
	for (int i = 0; i < n; i++)
		if (is_result(search, items[i].ref))
			HnswHeapPush(results, items[i].ref, items[i].distance);
	pfree(items);
}

/* Start a layer's search from items (distances known), marking them visited. */
void
HnswSearchSeed(HnswSearch *search, const HnswCandidate *items, int n, int layer)
{
	search->candidates.count = 0;
	search->results.count = 0;
	for (int i = 0; i < n; i++)
	{
		search->ops->visit(search->graph, items[i].ref, layer);
		HnswHeapPush(&search->candidates, items[i].ref, items[i].distance);
		HnswHeapPush(&search->results, items[i].ref, items[i].distance);
	}
}

/*
 * The distances of nearest's neighbours not visited on this layer yet:
 * fills search->fresh*, returns how many.
 */
static int
fresh_neighbors(HnswSearch *search, HnswRef nearest, int layer)
{
	int			n = search->ops->neighbors(search->graph, nearest, layer, search->neighbors);
	int			nfresh = 0;

	for (int i = 0; i < n; i++)
		if (search->ops->visit(search->graph, search->neighbors[i], layer))
			search->fresh[nfresh++] = search->neighbors[i];
	search->ops->distances(search->graph, search->fresh, nfresh,
						   search->fresh_distances, search->fresh_ok);
	return nfresh;
}

/*
 * Expand the frontier on one layer until no candidate can improve the
 * best ef results (SEARCH-LAYER of the paper), or the graph says to stop.
 * The candidate that ends the search goes back on the frontier.  Every
 * element met but not among the results is handed to the graph's
 * leftover callback, so that an iterative scan can carry on from here.
 *
 * When the graph accepts only some elements as results (a filter), the
 * search walks through the others too (the graph is only navigable
 * whole), until it has ef results or has run out of graph.
 */
void
HnswSearchLayer(HnswSearch *search, int ef, int layer)
{
	HnswHeap   *candidates = &search->candidates;
	HnswHeap   *results = &search->results;

	tie_rebuild(search);
	while (candidates->count > 0)
	{
		HnswCandidate nearest;
		int			nfresh;

		if (search->ops->stop != NULL && search->ops->stop(search->graph, ef))
			break;
		nearest = HnswHeapPop(candidates);
		if (HnswSearchResultsFull(search, ef) && nearest.distance > results->items[0].distance)
		{
			HnswHeapPush(candidates, nearest.ref, nearest.distance);
			break;
		}

		if (search->ops->prefetch != NULL && candidates->count > 0)
			search->ops->prefetch(search->graph, candidates->items[0].ref, layer);
		nfresh = fresh_neighbors(search, nearest.ref, layer);
		for (int i = 0; i < nfresh; i++)
		{
			float		distance = search->fresh_distances[i];
			HnswCandidate c = {search->fresh[i], distance, distance};

			if (!search->fresh_ok[i])
				continue;
			if (may_join(search, ef, distance))
			{
				HnswHeapPush(candidates, c.ref, distance);
				if (is_result(search, c.ref))
					add_result(search, ef, &c);
			}
			else
				leftover(search, &c, false);
		}
	}
}

/*
 * Consider an element just expanded, at its estimated distance, for the
 * results; one that does not make them, or that it pushes out, goes to
 * the leftovers as evicted (it has been expanded).
 */
static void
offer_result(HnswSearch *search, int ef, const HnswCandidate *c)
{
	if (!is_result(search, c->ref) || !may_join(search, ef, c->distance))
	{
		leftover(search, c, true);
		return;
	}
	add_result(search, ef, c);
}

/*
 * The search of layer 0 with codes (the graph has coded_neighbors): every
 * distance is estimated from the codes stored beside the links, so a step
 * reads one page, the expanded element's, and no element's key.  The
 * search keeps the ef best elements by estimate and stops, as
 * SEARCH-LAYER does, when the frontier's nearest estimate cannot improve
 * them; the caller reranks them by exact distance.  The elements carried
 * down from layer 1 come with exact distances and stay on the frontier
 * until expanded (the caller empties the results).
 *
 * Leftovers for an iterative scan: the expanded elements that did not
 * make the results (evicted) and the neighbours never put on the frontier
 * (not evicted), all with estimates and their bounds, as the frontier
 * has.
 */
void
HnswSearchLayerCoded(HnswSearch *search, int ef)
{
	HnswHeap   *candidates = &search->candidates;
	HnswHeap   *results = &search->results;

	tie_rebuild(search);
	while (candidates->count > 0)
	{
		HnswCandidate nearest;
		int			n;

		if (search->ops->stop != NULL && search->ops->stop(search->graph, ef))
			break;
		nearest = HnswHeapPop(candidates);
		if (HnswSearchResultsFull(search, ef) && nearest.distance > results->items[0].distance)
		{
			HnswHeapPushBounded(candidates, nearest.ref, nearest.distance, nearest.bound);
			break;
		}
		if (search->ops->prefetch != NULL && candidates->count > 0)
			search->ops->prefetch(search->graph, candidates->items[0].ref, 0);
		n = search->ops->coded_neighbors(search->graph, nearest.ref, search->coded);
		if (n < 0)
			continue;			/* the element is gone */
		offer_result(search, ef, &nearest);
		for (int i = 0; i < n; i++)
		{
			HnswCandidate *c = &search->coded[i];

			if (may_join(search, ef, c->distance))
				HnswHeapPushBounded(candidates, c->ref, c->distance, c->bound);
			else
				leftover(search, c, false);
		}
	}
}

/*
 * One more step of an iterative scan on layer 0: expand the nearest
 * frontier element, pushing each new neighbour onto the frontier and,
 * if it may be a result, onto found.  Returns how many elements it met,
 * or -1 when the frontier is empty.
 */
int
HnswSearchExpand(HnswSearch *search, HnswHeap *found)
{
	HnswCandidate nearest;
	int			nfresh;
	int			met = 0;

	if (search->candidates.count == 0)
		return -1;
	nearest = HnswHeapPop(&search->candidates);
	nfresh = fresh_neighbors(search, nearest.ref, 0);
	for (int i = 0; i < nfresh; i++)
	{
		if (!search->fresh_ok[i])
			continue;
		HnswHeapPush(&search->candidates, search->fresh[i], search->fresh_distances[i]);
		if (is_result(search, search->fresh[i]))
			HnswHeapPush(found, search->fresh[i], search->fresh_distances[i]);
		met++;
	}
	return met;
}

/* Empty the results into out, nearest first; returns how many. */
int
HnswSortedResults(HnswSearch *search, HnswCandidate *out)
{
	int			n = search->results.count;

	for (int i = n - 1; i >= 0; i--)
		out[i] = HnswHeapPop(&search->results);
	return n;
}

/* qsort order of candidates: nearest first, ties by reference */
int
HnswCompareCandidates(const void *a, const void *b)
{
	const HnswCandidate *x = (const HnswCandidate *) a;
	const HnswCandidate *y = (const HnswCandidate *) b;

	if (x->distance != y->distance)
		return x->distance < y->distance ? -1 : 1;
	return (x->ref > y->ref) - (x->ref < y->ref);
}

/* ---------------------------------------------------------------------
 * Neighbour selection
 * ---------------------------------------------------------------------
 */

/*
 * The paper's heuristic (its algorithm 4): walk the candidates nearest
 * first and keep one only if it is closer to the base element than to
 * every neighbour kept so far, which spreads the links in different
 * directions and keeps clustered data navigable.  Then, as the paper's
 * keepPrunedConnections option does, fill the remaining slots with the
 * nearest candidates it passed over: without them elements that are
 * pruned from every list become unreachable, which inner-product spaces
 * (where long vectors are everyone's nearest) do all the time.  A
 * candidate that is a twin of a kept one (the same vector, HnswTwins) is
 * neither kept nor used as fill: many elements holding one repeated
 * vector would otherwise fill each other's lists and wall the rest of
 * the graph off.
 *
 * sorted is ascending by distance to the base and is not changed.  The
 * kept ("diverse") candidates come first in selected, in order, then the
 * fill; *ndiverse (if not NULL) says how many were kept.  While walking,
 * passed-over candidates are parked at the back of selected, nearest
 * last, and give way as kept ones arrive: only the nearest few can ever
 * be needed.
 */
int
HnswSelectNeighbors(const HnswCandidate *sorted, int ncandidates, int max_neighbors,
					const HnswIndexInfo *info, const HnswPairOps *ops, void *graph,
					HnswCandidate *selected, int *ndiverse)
{
	int			nkept = 0;
	int			nparked = 0;

	for (int i = 0; i < ncandidates && nkept < max_neighbors; i++)
	{
		bool		diverse = true;
		bool		duplicate = false;

		for (int j = 0; j < nkept; j++)
		{
			float		between = ops->distance(graph, sorted[i].ref, selected[j].ref);

			duplicate = HnswTwins(info, ops, graph, sorted[i].ref, selected[j].ref, between);
			if (duplicate || between < sorted[i].distance)
			{
				diverse = false;
				break;
			}
		}
		if (diverse)
		{
			if (nkept + nparked == max_neighbors)
				nparked--;		/* drop the farthest parked one */
			selected[nkept++] = sorted[i];
		}
		else if (!duplicate && nkept + nparked < max_neighbors)
		{
			nparked++;
			selected[max_neighbors - nparked] = sorted[i];
		}
	}
	if (ndiverse != NULL)
		*ndiverse = nkept;
	/* parked ones sit at [max - nparked, max), farthest first: flip, then append */
	for (int lo = max_neighbors - nparked, hi = max_neighbors - 1; lo < hi; lo++, hi--)
	{
		HnswCandidate swap = selected[lo];

		selected[lo] = selected[hi];
		selected[hi] = swap;
	}
	memmove(&selected[nkept], &selected[max_neighbors - nparked], sizeof(HnswCandidate) * nparked);
	return nkept + nparked;
}
