/*
 * hnswbuild.h
 *		What the files of an hnsw build share: the in-memory graph
 *		(hnswbuildgraph.c), writing it to pages (hnswbuildwrite.c), the
 *		build (hnswbuild.c) and the parallel build (hnswbuildparallel.c).
 *
 * Private to those four files.  The accessors of the graph are inline:
 * every distance and link of the build goes through them.
 */
#ifndef HNSW_BUILD_H
#define HNSW_BUILD_H

#include "storage/buffile.h"
#include "storage/lwlock.h"
#include "storage/shm_toc.h"
#include "storage/spin.h"

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
	Size		key;			/* a key of varying size: bytes from the end, or 0 */
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

/*
 * The graph in an arena of at most maintenance_work_mem bytes.  Elements
 * sit at a fixed stride from the front (header, layer-0 list, key); the
 * lists of upper layers, which only about one element in m has, are taken
 * from the back, and so are keys of varying size (sparsevec), after the
 * upper lists of their element.
 */
typedef struct HnswBuildGraph
{
	HnswGraphShared *shared;
	bool		parallel;		/* take element locks */
	char	   *arena;			/* position-independent: offsets and ids only */
	Size		capacity;
	Size		max_capacity;	/* a serial build may grow the arena to this */
	Size		stride;			/* bytes per element */
	Size		list0_offset;	/* layer-0 list within the stride */
	Size		key_offset;		/* key within the stride, if keys have one size */
	bool		varying_keys;	/* keys at the back, a size each */
	uint32	   *visited;		/* per element: tag of its last visit */
	int32		visited_capacity;
	uint32		visit_tag;
	const void *query;
	const HnswIndexInfo *info;
} HnswBuildGraph;

/* What a walk of a built graph's layer 0 from its entry reaches, by TID */
typedef struct HnswGraphReach
{
	ItemPointerData *reached;
	int64		nreached;
	ItemPointerData *orphans;	/* the elements it does not reach */
	int64		norphans;
} HnswGraphReach;

/* One participant of a build (the only one of a serial build) */
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
	BlockNumber graph_end;		/* the written graph's pages end here (0: none) */
	HnswGraphReach reach;		/* of the written graph */
	bool		progress;		/* report to pg_stat_progress_create_index */
	BufFile    *spill;			/* parallel: rows that found the graph full */
	FileSet    *spill_set;
	char		spill_name[MAXPGPATH];
	double		nspilled;		/* rows written to spill */
	double		indtuples;
	double		rows_expected;	/* the heap's estimated rows */
	MemoryContext tuple_cxt;
	MemoryContext build_cxt;	/* outlives tuples: for writing the graph */
} HnswBuildState;

/* Bytes of a list of slots links */
static inline Size
list_size(int slots)
{
	return offsetof(HnswBuildList, edges) + sizeof(HnswBuildEdge) * slots;
}

static inline HnswBuildElement *
element_at(HnswBuildGraph *g, int32 id)
{
	return (HnswBuildElement *) (g->arena + (Size) id * g->stride);
}

/* The key as stored: the varlena, filter signatures included */
static inline char *
element_stored_key(HnswBuildGraph *g, int32 id)
{
	if (g->varying_keys)
		return g->arena + g->capacity - element_at(g, id)->key;
	return g->arena + (Size) id * g->stride + g->key_offset;
}

/* The key's elements, what distances read */
static inline const void *
element_key(HnswBuildGraph *g, int32 id)
{
	return element_stored_key(g, id) + offsetof(Vector, x);
}

static inline HnswBuildList *
element_list(HnswBuildGraph *g, int32 id, int layer)
{
	HnswBuildElement *e = element_at(g, id);

	if (layer == 0)
		return (HnswBuildList *) ((char *) e + g->list0_offset);
	return (HnswBuildList *) (g->arena + g->capacity - e->upper +
							  (layer - 1) * list_size(g->info->m));
}

/* hnswbuildgraph.c */
extern const HnswGraphOps hnsw_build_graph_ops;
extern void HnswBuildGraphInit(HnswBuildGraph *g, const HnswIndexInfo *info, char *arena,
							   Size capacity, HnswGraphShared *shared, bool parallel);
extern void HnswBuildGraphSharedInit(HnswGraphShared *shared, int lock_tranche);
extern bool HnswBuildGraphInsert(HnswBuildState *bs, const char *key, ItemPointer heaptid);

/* hnswbuildwrite.c */
extern BlockNumber HnswBuildGraphWrite(Relation index, HnswBuildGraph *g, HnswGraphReach *reach);

/* hnswbuild.c */
extern void HnswBuildStateInit(HnswBuildState *bs, Relation heap, Relation index, char *arena,
							   Size capacity, HnswGraphShared *shared, bool parallel);
extern void HnswBuildCallback(Relation index, ItemPointer tid, Datum *values, bool *isnull,
							  bool tupleIsAlive, void *state);

/* hnswbuildparallel.c */
extern PGDLLEXPORT void HnswParallelBuildMain(dsm_segment *seg, shm_toc *toc);
extern void HnswSpillRow(HnswBuildState *bs, ItemPointer tid, Datum key);
extern void HnswReportSpill(HnswBuildState *bs, double fitted);
extern int	HnswPlanBuildWorkers(HnswBuildState *bs, Size arena_size);
extern bool HnswBuildParallel(HnswBuildState *bs, IndexInfo *indexInfo, int nworkers,
							  Size arena_size, double *heap_tuples);

#endif							/* HNSW_BUILD_H */
