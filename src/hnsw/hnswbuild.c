/*
 * hnswbuild.c
 *		CREATE INDEX for hnsw: build the graph in memory, write it out.
 *
 * The graph is built in memory (hnswbuildgraph.c), by this backend alone
 * or with parallel workers (hnswbuildparallel.c), and written to pages
 * when complete (hnswbuildwrite.c).  When its arena is full at
 * maintenance_work_mem the graph is written out early and the remaining
 * rows are inserted on disk, as aminsert would, with a NOTICE that says
 * how much memory would have kept the build in memory.
 *
 * Nobody else can see the index during a build, so no locks are taken
 * beyond the buffer locks bufmgr requires.
 */
#include "postgres.h"

#include "access/tableam.h"
#include "commands/progress.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/memutils.h"

#include "annbuild.h"
#include "hnswbuild.h"

/*
 * Does quantization = auto give the index codes?  Only float32 keys of
 * HNSW_AUTO_CODE_DIMS dimensions or more: with fewer a code is not much
 * smaller than the key, and beside halfvec keys the 2m codes take more
 * room than the key itself (at 784 dimensions, a quarter of the elements
 * to a page, four times the index, for no more speed at the same recall:
 * test/bench/README.md).
 */
static bool
auto_codes(const HnswIndexInfo *info)
{
	return info->dist.keytype == ANN_KEY_VECTOR && info->dimensions >= HNSW_AUTO_CODE_DIMS;
}

/*
 * Codes, as the quantization reloption asks and the index allows, for
 * now relative to a zero centre (the build writes the keys' mean).
 */
static void
choose_codes(Relation index, HnswIndexInfo *info)
{
	HnswQuantization wanted = HnswGetQuantization(index);
	int			bits = HnswGetCodeBits(index);
	const char *refusal;
	float	   *centre;

	info->codes = NULL;
	if (wanted == HNSW_QUANTIZATION_NONE ||
		(wanted == HNSW_QUANTIZATION_AUTO && !auto_codes(info)))
		return;
	refusal = HnswCodesRefusal(info, bits);
	if (refusal != NULL)
	{
		if (wanted == HNSW_QUANTIZATION_RABITQ)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("hnsw index \"%s\" cannot have quantization \"rabitq\"",
							RelationGetRelationName(index)),
					 errdetail_internal("%s", refusal)));
		return;
	}
	centre = palloc0(sizeof(float) * info->dimensions);
	HnswCodeInfoInit(info, AnnCodePadded(info->dimensions) / 64, bits, centre,
					 CurrentMemoryContext);
	pfree(centre);
}

/* Facts of the index being built, from its definition. */
static void
build_index_info(Relation index, HnswIndexInfo *info)
{
	HnswResolveDistance(index, &info->dist);
	info->m = HnswGetM(index);
	info->ef_construction = HnswGetEfConstruction(index);
	/* options stored before ALTER INDEX SET checked them */
	HnswCheckEfConstruction(info->m, info->ef_construction);
	info->dimensions = AnnIndexDimensions(index, &info->dist, "hnsw", HNSW_MAX_DIM,
										  HNSW_MAX_HALF_DIM, HNSW_MAX_BITS);
	HnswSetKeySize(index, info);
	choose_codes(index, info);
}

static void
write_empty_metapage(Relation index, ForkNumber fork, const HnswIndexInfo *info)
{
	Buffer		buffer = AnnNewBuffer(index, fork);

	HnswInitMetaPage(BufferGetPage(buffer), info);
	MarkBufferDirty(buffer);
	UnlockReleaseBuffer(buffer);
}

/*
 * Say that the graph filled up after fitted rows, and how much memory the
 * whole graph would need, from what it used so far, when the table's
 * estimated rows are a guide to how many are left.
 */
void
HnswReportSpill(HnswBuildState *bs, double fitted)
{
	HnswGraphShared *shared = bs->graph.shared;
	double		per_element = (double) (shared->nelements * bs->graph.stride +
										shared->upper_used) / Max(shared->nelements, 1);
	double		needed = per_element * bs->rows_expected * 1.1;

	ereport(NOTICE,
			(errmsg("hnsw graph no longer fits into maintenance_work_mem after %.0f tuples",
					fitted),
			 errdetail("Building will take significantly more time."),
			 bs->rows_expected > fitted ?
			 errhint("Increase maintenance_work_mem to about %.0f MB to build this index in memory.",
					 ceil(needed / (1024.0 * 1024.0))) :
			 errhint("Increase maintenance_work_mem to build this index in memory; "
					 "ANALYZE the table for an estimate of how much it needs.")));
}

/* Add one row: to the graph while it has room, then on disk (or spilled). */
static void
add_row(HnswBuildState *bs, ItemPointer tid, Datum key)
{
	if (!bs->on_disk && HnswBuildGraphInsert(bs, DatumGetPointer(key), tid))
		return;
	if (bs->graph.parallel)
	{
		HnswSpillRow(bs, tid, key);
		return;
	}
	if (!bs->on_disk)
	{
		MemoryContext old = MemoryContextSwitchTo(bs->build_cxt);

		HnswReportSpill(bs, bs->indtuples);
		bs->graph_end = HnswBuildGraphWrite(bs->index, &bs->graph, &bs->reach);
		MemoryContextSwitchTo(old);
		bs->on_disk = true;
	}
	HnswInsertKey(bs->index, key, tid, true, false);
}

/* The heap scan's callback, for each row of a serial or parallel build. */
void
HnswBuildCallback(Relation index, ItemPointer tid, Datum *values, bool *isnull,
				  bool tupleIsAlive, void *state)
{
	HnswBuildState *bs = (HnswBuildState *) state;
	MemoryContext old;
	Datum		key;
	bool		usable;

	if (isnull[0])
		return;
	old = MemoryContextSwitchTo(bs->tuple_cxt);
	key = HnswFormKey(&bs->info, values, isnull, &usable);
	if (usable)
	{
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

/*
 * Everything a participant needs to insert into the graph over arena
 * (capacity bytes, or NULL and 0 to be set later).
 */
void
HnswBuildStateInit(HnswBuildState *bs, Relation heap, Relation index, char *arena,
				   Size capacity, HnswGraphShared *shared, bool parallel)
{
	int			m;

	memset(bs, 0, sizeof(*bs));
	bs->heap = heap;
	bs->index = index;
	build_index_info(index, &bs->info);
	m = bs->info.m;
	/* a sparse key takes at least its header */
	bs->rows_expected = estimate_rows(heap, index, Max(bs->info.keysize, SPARSEVEC_SIZE(0)));
	bs->build_cxt = CurrentMemoryContext;
	HnswBuildGraphInit(&bs->graph, &bs->info, arena, capacity, shared, parallel);
	HnswSearchInit(&bs->search, &hnsw_build_graph_ops, &bs->graph, m);
	bs->found = palloc(sizeof(HnswCandidate) * (Max(bs->info.ef_construction, 2 * m) + 1));
	bs->kept = palloc(sizeof(HnswCandidate) * (2 * m + 1));
	for (int layer = 0; layer <= HNSW_MAX_LEVEL; layer++)
		bs->selected[layer] = palloc(sizeof(HnswCandidate) * (2 * m + 1));
	bs->tuple_cxt = AllocSetContextCreate(CurrentMemoryContext, "Hnsw build tuple context",
										  ALLOCSET_DEFAULT_SIZES);
}

/*
 * Arena bytes a row's key takes outside its stride: for sparse keys, at
 * most what a heap row holds on average.
 */
static Size
varying_key_bytes(HnswBuildState *bs)
{
	double		heap_bytes = (double) AnnHeapDataBlocks(bs->heap) * BLCKSZ;

	if (bs->info.keysize > 0)
		return 0;
	return MAXALIGN((Size) Min(heap_bytes / Max(bs->rows_expected, 1.0),
							   (double) HNSW_MAX_ELEMENT_TUPLE_SIZE));
}

/*
 * The arena the estimated rows need (with a fifth to spare for upper
 * layers and a low estimate), at most maintenance_work_mem.
 */
static Size
arena_wanted(HnswBuildState *bs)
{
	Size		per_row = bs->graph.stride + 2 * bs->info.m * sizeof(HnswBuildEdge) +
		varying_key_bytes(bs);
	double		needed = bs->rows_expected * per_row * 1.2 + 1024 * 1024;

	return (Size) Min((double) maintenance_work_mem * 1024, needed);
}

/*
 * Build in this backend alone, in an arena of arena_size bytes that may
 * grow to maintenance_work_mem, with its counters in shared; returns the
 * heap's rows.
 */
static double
build_serial(HnswBuildState *bs, IndexInfo *indexInfo, Size arena_size, HnswGraphShared *shared)
{
	double		heap_tuples;

	HnswBuildGraphSharedInit(shared, 0);
	HnswBuildGraphInit(&bs->graph, &bs->info,
					   MemoryContextAllocHuge(CurrentMemoryContext, arena_size), arena_size,
					   shared, false);
	bs->graph.max_capacity = Max(arena_size, (Size) maintenance_work_mem * 1024);
	heap_tuples = table_index_build_scan(bs->heap, bs->index, indexInfo, true, true,
										 HnswBuildCallback, bs, NULL);
	if (!bs->on_disk)
		bs->graph_end = HnswBuildGraphWrite(bs->index, &bs->graph, &bs->reach);
	pfree(bs->graph.arena);
	return heap_tuples;
}

/*
 * Are the graph's pages as HnswBuildGraphWrite wrote (and logged) them,
 * with no row inserted into them afterwards?
 */
static bool
graph_pages_as_written(const HnswBuildState *bs)
{
	return bs->graph_end > 0 && !bs->on_disk;
}

/*
 * WAL-log what the build wrote without logging: the pages other than the
 * graph's, which HnswBuildGraphWrite logged as it wrote them, or every
 * page when rows went into the graph's pages afterwards.
 */
static void
log_unlogged_pages(HnswBuildState *bs)
{
	if (!graph_pages_as_written(bs))
		AnnLogRelation(bs->index, MAIN_FORKNUM);
	else
	{
		AnnLogRelationRange(bs->index, ANN_METAPAGE_BLKNO, ANN_METAPAGE_BLKNO + 1);
		AnnLogRelationRange(bs->index, bs->graph_end, RelationGetNumberOfBlocks(bs->index));
	}
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

	HnswBuildStateInit(&bs, heap, index, NULL, 0, &shared, false);
	bs.progress = true;
	write_empty_metapage(index, MAIN_FORKNUM, &bs.info);
	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, HNSW_PHASE_GRAPH);
	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_TOTAL, (int64) bs.rows_expected);

	arena_size = arena_wanted(&bs);
	nworkers = HnswPlanBuildWorkers(&bs, arena_size);
	if (nworkers > 0)
		built = HnswBuildParallel(&bs, indexInfo, nworkers, arena_size, &result->heap_tuples);
	if (!built)
		result->heap_tuples = build_serial(&bs, indexInfo, arena_size, &shared);

	MemoryContextDelete(bs.tuple_cxt);
	if (bs.info.filters.ncolumns > 0)
		HnswBuildSignatureDirectory(index);
	log_unlogged_pages(&bs);
	/* after the pages are logged: the links it adds are WAL records of their own */
	if (graph_pages_as_written(&bs))
		HnswLinkKnownOrphans(index, bs.reach.reached, bs.reach.nreached, bs.reach.orphans,
							 bs.reach.norphans);
	else
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
	write_empty_metapage(index, INIT_FORKNUM, &info);
	AnnLogRelation(index, INIT_FORKNUM);
}
