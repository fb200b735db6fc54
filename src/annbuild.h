/*
 * annbuild.h
 *		What the parallel builds of hnsw and spann share: one DSM segment
 *		with the relations, a parallel heap scan, tuple counts, and an area
 *		of the access method's own.
 */
#ifndef ANN_BUILD_H
#define ANN_BUILD_H

#include "access/parallel.h"
#include "access/tableam.h"
#include "nodes/execnodes.h"
#include "storage/spin.h"
#include "utils/rel.h"
#include "utils/snapshot.h"

/* The start of the segment; the parallel scan follows it */
typedef struct AnnBuildShared
{
	Oid			heaprelid;
	Oid			indexrelid;
	bool		isconcurrent;	/* CREATE INDEX CONCURRENTLY: an MVCC scan */
	slock_t		mutex;			/* guards the counts */
	double		heap_tuples;
	double		index_tuples;
} AnnBuildShared;

/* The leader's handle on a parallel build */
typedef struct AnnParallelBuild
{
	ParallelContext *pcxt;
	Snapshot	snapshot;
	AnnBuildShared *shared;
	void	   *am_area;		/* am_size bytes for the access method */
} AnnParallelBuild;

/* A worker's view of the build */
typedef struct AnnBuildWorker
{
	AnnBuildShared *shared;
	void	   *am_area;
	Relation	heap;
	Relation	index;
	LOCKMODE	heap_lockmode;
} AnnBuildWorker;

extern int	AnnBuildWorkersWanted(Relation heap, Relation index);
extern BlockNumber AnnHeapDataBlocks(Relation heap);
extern double AnnEstimateHeapRows(Relation heap);
extern bool AnnBeginParallelBuild(AnnParallelBuild *pb, Relation heap, Relation index,
								  IndexInfo *indexInfo, const char *worker_main, int nworkers,
								  Size am_size);
extern int	AnnLaunchParallelBuild(AnnParallelBuild *pb);
extern void AnnEndParallelBuild(AnnParallelBuild *pb);
extern void AnnAttachBuildWorker(shm_toc *toc, AnnBuildWorker *worker);
extern void AnnDetachBuildWorker(AnnBuildWorker *worker);
extern double AnnParallelBuildScan(AnnBuildShared *shared, Relation heap, Relation index,
								   bool progress, IndexBuildCallback callback, void *state);
extern void AnnBuildAddCounts(AnnBuildShared *shared, double heap_tuples, double index_tuples);

#endif							/* ANN_BUILD_H */
