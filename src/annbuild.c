/*
 * annbuild.c
 *		Parallel index builds, the part hnsw and spann share.
 *
 * The leader creates one DSM segment: AnnBuildShared, the parallel heap
 * scan right after it, and under its own key an area the access method
 * fills before the workers start.  Every participant (the leader too)
 * scans its share of the heap through AnnParallelBuildScan and adds what
 * it counted; the access method says what a participant does with its
 * rows.  A build without a segment (no DSM to be had) returns false from
 * AnnBeginParallelBuild and the caller builds serially.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/parallel.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/index.h"
#include "miscadmin.h"
#include "optimizer/paths.h"
#include "optimizer/optimizer.h"
#include "storage/bufmgr.h"
#include "storage/spin.h"
#include "utils/relcache.h"
#include "utils/snapmgr.h"

#include "annbuild.h"

#define ANN_BUILD_SHARED_KEY	UINT64CONST(0xA7A5000000000001)
#define ANN_BUILD_AREA_KEY		UINT64CONST(0xA7A5000000000002)

#define ParallelScanFromShared(shared) \
	((ParallelTableScanDesc) ((char *) (shared) + BUFFERALIGN(sizeof(AnnBuildShared))))

/* Blocks of the heap and its TOAST table: where the vectors really are. */
BlockNumber
AnnHeapDataBlocks(Relation heap)
{
	BlockNumber blocks = RelationGetNumberOfBlocks(heap);

	if (OidIsValid(heap->rd_rel->reltoastrelid))
	{
		Relation	toast = table_open(heap->rd_rel->reltoastrelid, AccessShareLock);

		blocks += RelationGetNumberOfBlocks(toast);
		table_close(toast, AccessShareLock);
	}
	return blocks;
}

/*
 * Rows the heap holds now, as the planner would estimate them: its
 * current size at the density last measured (reltuples can be stale or
 * unset, -1, before the first VACUUM or ANALYZE).
 */
double
AnnEstimateHeapRows(Relation heap)
{
	BlockNumber pages;
	double		rows;
	double		allvisfrac;

	table_relation_estimate_size(heap, NULL, &pages, &rows, &allvisfrac);
	return Max(rows, 0);
}

/*
 * Workers to ask for: max_parallel_maintenance_workers, unless the
 * table's parallel_workers says otherwise, and none for data (heap plus
 * TOAST, where vectors live) smaller than min_parallel_table_scan_size.
 * None for temporary tables, and no more than PostgreSQL's own rules
 * allow when the index has expressions or a predicate (which workers
 * could only evaluate if they are parallel safe).
 */
int
AnnBuildWorkersWanted(Relation heap, Relation index)
{
	int			reloption = RelationGetParallelWorkers(heap, -1);
	int			wanted = max_parallel_maintenance_workers;

	if (!IsUnderPostmaster || RelationUsesLocalBuffers(heap))
		return 0;
	if (reloption >= 0)
		wanted = Min(wanted, reloption);
	else if (AnnHeapDataBlocks(heap) < (BlockNumber) min_parallel_table_scan_size)
		return 0;
	if (wanted > 0 &&
		(RelationGetIndexExpressions(index) != NIL || RelationGetIndexPredicate(index) != NIL))
		wanted = Min(wanted, plan_create_index_workers(RelationGetRelid(heap),
													   RelationGetRelid(index)));
	return wanted;
}

/*
 * Enter parallel mode and create the segment with am_size bytes for the
 * access method (pb->am_area), to be filled before AnnLaunchParallelBuild.
 * Returns false, having undone everything, when no segment could be had.
 */
bool
AnnBeginParallelBuild(AnnParallelBuild *pb, Relation heap, Relation index, IndexInfo *indexInfo,
					  const char *worker_main, int nworkers, Size am_size)
{
	bool		isconcurrent = indexInfo->ii_Concurrent;
	Size		shared_size;
	AnnBuildShared *shared;

	EnterParallelMode();
	pb->pcxt = CreateParallelContext("ann", worker_main, nworkers);
	pb->snapshot = isconcurrent ? RegisterSnapshot(GetTransactionSnapshot()) : SnapshotAny;
	shared_size = BUFFERALIGN(sizeof(AnnBuildShared)) +
		table_parallelscan_estimate(heap, pb->snapshot);
	shm_toc_estimate_chunk(&pb->pcxt->estimator, shared_size);
	shm_toc_estimate_chunk(&pb->pcxt->estimator, am_size);
	shm_toc_estimate_keys(&pb->pcxt->estimator, 2);
	InitializeParallelDSM(pb->pcxt);
	if (pb->pcxt->seg == NULL)
	{
		if (IsMVCCSnapshot(pb->snapshot))
			UnregisterSnapshot(pb->snapshot);
		DestroyParallelContext(pb->pcxt);
		ExitParallelMode();
		return false;
	}

	shared = shm_toc_allocate(pb->pcxt->toc, shared_size);
	shared->heaprelid = RelationGetRelid(heap);
	shared->indexrelid = RelationGetRelid(index);
	shared->isconcurrent = isconcurrent;
	SpinLockInit(&shared->mutex);
	shared->heap_tuples = 0;
	shared->index_tuples = 0;
	table_parallelscan_initialize(heap, ParallelScanFromShared(shared), pb->snapshot);
	shm_toc_insert(pb->pcxt->toc, ANN_BUILD_SHARED_KEY, shared);
	pb->shared = shared;
	pb->am_area = shm_toc_allocate(pb->pcxt->toc, am_size);
	shm_toc_insert(pb->pcxt->toc, ANN_BUILD_AREA_KEY, pb->am_area);
	return true;
}

/* Start the workers; returns how many started. */
int
AnnLaunchParallelBuild(AnnParallelBuild *pb)
{
	LaunchParallelWorkers(pb->pcxt);
	return pb->pcxt->nworkers_launched;
}

/* Wait for the workers to finish, then leave parallel mode. */
void
AnnEndParallelBuild(AnnParallelBuild *pb)
{
	WaitForParallelWorkersToFinish(pb->pcxt);
	if (IsMVCCSnapshot(pb->snapshot))
		UnregisterSnapshot(pb->snapshot);
	DestroyParallelContext(pb->pcxt);
	ExitParallelMode();
}

/* In a worker: find the segment's parts and open the relations. */
void
AnnAttachBuildWorker(shm_toc *toc, AnnBuildWorker *worker)
{
	worker->shared = shm_toc_lookup(toc, ANN_BUILD_SHARED_KEY, false);
	worker->am_area = shm_toc_lookup(toc, ANN_BUILD_AREA_KEY, false);
	worker->heap_lockmode = worker->shared->isconcurrent ? ShareUpdateExclusiveLock : ShareLock;
	worker->heap = table_open(worker->shared->heaprelid, worker->heap_lockmode);
	worker->index = index_open(worker->shared->indexrelid, RowExclusiveLock);
}

void
AnnDetachBuildWorker(AnnBuildWorker *worker)
{
	index_close(worker->index, RowExclusiveLock);
	table_close(worker->heap, worker->heap_lockmode);
}

/*
 * One participant's share of the heap, through callback; returns the
 * heap tuples it saw.  progress: report to pg_stat_progress_create_index
 * (the leader only).
 */
double
AnnParallelBuildScan(AnnBuildShared *shared, Relation heap, Relation index, bool progress,
					 IndexBuildCallback callback, void *state)
{
	IndexInfo  *indexInfo = BuildIndexInfo(index);
	TableScanDesc scan;

	indexInfo->ii_Concurrent = shared->isconcurrent;
	scan = table_beginscan_parallel(heap, ParallelScanFromShared(shared));
	return table_index_build_scan(heap, index, indexInfo, true, progress, callback, state, scan);
}

/* Add a participant's counts to the build's. */
void
AnnBuildAddCounts(AnnBuildShared *shared, double heap_tuples, double index_tuples)
{
	SpinLockAcquire(&shared->mutex);
	shared->heap_tuples += heap_tuples;
	shared->index_tuples += index_tuples;
	SpinLockRelease(&shared->mutex);
}
