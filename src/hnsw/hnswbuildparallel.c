/*
 * hnswbuildparallel.c
 *		The parallel hnsw build: its workers, the graph they share, and
 *		the rows that did not fit.
 *
 * The segment (annbuild.c) holds, in the access method's area,
 * HnswParallelShared and the graph arena after it.  Every participant
 * (the leader too) scans its share of the heap and inserts into the
 * shared graph (hnswbuildgraph.c), locking an element's LWLock to read or
 * change its lists.  Rows that find the arena full go to a
 * per-participant spill file; after the workers finish, the leader writes
 * the graph (hnswbuildwrite.c) and inserts the spilled rows on disk.
 */
#include "postgres.h"

#include <fcntl.h>
#include <sys/statvfs.h>

#include "access/parallel.h"
#include "miscadmin.h"
#include "storage/dsm_impl.h"
#include "storage/sharedfileset.h"

#include "annbuild.h"
#include "hnswbuild.h"

typedef struct HnswParallelShared
{
	Size		arena_size;
	HnswGraphShared graph;
	SharedFileSet fileset;		/* spill files */
	pg_atomic_uint64 nspilled;	/* rows in them */
	/* the arena follows, at BUFFERALIGN(sizeof(this)) */
} HnswParallelShared;

#define ArenaFromHnswShared(ps) ((char *) (ps) + BUFFERALIGN(sizeof(HnswParallelShared)))

static void
spill_name(char *name, int participant)
{
	snprintf(name, MAXPGPATH, "hnsw.%d", participant);
}

/*
 * Keep a row the full shared graph had no room for.  The spill file lives
 * in build_cxt: the caller runs in the per-tuple context, which is reset
 * after every row.
 */
void
HnswSpillRow(HnswBuildState *bs, ItemPointer tid, Datum key)
{
	if (bs->spill == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(bs->build_cxt);

		bs->spill = BufFileCreateFileSet(bs->spill_set, bs->spill_name);
		MemoryContextSwitchTo(old);
	}
	BufFileWrite(bs->spill, tid, sizeof(ItemPointerData));
	BufFileWrite(bs->spill, DatumGetPointer(key), HnswStoredKeySize(&bs->info, DatumGetPointer(key)));
	bs->nspilled++;
}

/* One participant's share of the build: scan, insert, count. */
static void
participate(AnnBuildShared *shared, HnswParallelShared *ps, Relation heap, Relation index,
			int participant, bool progress)
{
	HnswBuildState bs;
	double		heap_tuples;

	HnswBuildStateInit(&bs, heap, index, ArenaFromHnswShared(ps), ps->arena_size, &ps->graph,
					   true);
	bs.progress = progress;
	bs.spill_set = &ps->fileset.fs;
	spill_name(bs.spill_name, participant);
	heap_tuples = AnnParallelBuildScan(shared, heap, index, progress, HnswBuildCallback, &bs);
	if (bs.spill != NULL)
		BufFileClose(bs.spill);
	pg_atomic_fetch_add_u64(&ps->nspilled, (uint64) bs.nspilled);
	AnnBuildAddCounts(shared, heap_tuples, bs.indtuples);
}

/* Entry point of a parallel worker (named in CreateParallelContext). */
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

/* Bytes of the largest stored key: a long one, or any that fits a page */
static Size
spilled_key_room(HnswBuildState *bs)
{
	return Max(bs->info.keysize, HNSW_MAX_ELEMENT_TUPLE_SIZE);
}

/*
 * Read a spilled key into key (spilled_key_room bytes): its varlena
 * header tells the size of a sparse key.  False at a short read.
 */
static bool
read_spilled_key(HnswBuildState *bs, BufFile *file, char *key)
{
	Size		header = bs->info.keysize > 0 ? 0 : VARHDRSZ;
	Size		size;

	if (header > 0 && BufFileRead(file, key, header) != header)
		return false;
	size = HnswStoredKeySize(&bs->info, key);
	if (size > spilled_key_room(bs))
		return false;
	return BufFileRead(file, key + header, size - header) == size - header;
}

/* Insert the rows every participant spilled, now that the graph is on disk. */
static void
insert_spilled(HnswBuildState *bs, HnswParallelShared *ps, int nparticipants)
{
	char	   *key = palloc(spilled_key_room(bs));

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
			if (!read_spilled_key(bs, file, key))
				elog(ERROR, "could not read hnsw spill file \"%s\"", name);
			HnswInsertKey(bs->index, PointerGetDatum(key), &tid, true, false);
			CHECK_FOR_INTERRUPTS();
		}
		BufFileClose(file);
	}
}

/*
 * Build with nworkers parallel workers and the leader.  Returns false,
 * having done nothing, if no DSM segment could be had.
 */
bool
HnswBuildParallel(HnswBuildState *bs, IndexInfo *indexInfo, int nworkers, Size arena_size,
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
	HnswBuildGraphSharedInit(&ps->graph, LWLockNewTrancheId());
	SharedFileSetInit(&ps->fileset, pb.pcxt->seg);
	pg_atomic_init_u64(&ps->nspilled, 0);
	LWLockRegisterTranche(ps->graph.lock_tranche, "hnsw build");
	launched = AnnLaunchParallelBuild(&pb);
	ereport(DEBUG1,
			(errmsg("building hnsw index \"%s\" with %d parallel workers",
					RelationGetRelationName(bs->index), launched)));
	participate(pb.shared, ps, bs->heap, bs->index, -1, true);
	WaitForParallelWorkersToFinish(pb.pcxt);

	/* the leader writes the shared graph, then what did not fit */
	HnswBuildGraphInit(&bs->graph, &bs->info, ArenaFromHnswShared(ps), arena_size, &ps->graph,
					   false);
	bs->graph_end = HnswBuildGraphWrite(bs->index, &bs->graph, &bs->reach);
	/* say so once, as a serial build does, if rows did not fit */
	if (pg_atomic_read_u64(&ps->nspilled) > 0)
	{
		HnswReportSpill(bs, pb.shared->index_tuples - (double) pg_atomic_read_u64(&ps->nspilled));
		bs->on_disk = true;
	}
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
 * How many workers to ask for, to share a graph of arena_size bytes.
 * Workers are sized on the data (heap plus TOAST, where vectors live),
 * unless the table's parallel_workers says otherwise.  A parallel build
 * keeps the whole graph in shared memory; when /dev/shm cannot hold it,
 * build serially and say why.
 */
int
HnswPlanBuildWorkers(HnswBuildState *bs, Size arena_size)
{
	int			nworkers = AnnBuildWorkersWanted(bs->heap, bs->index);
	Size		space;

	if (nworkers == 0)
		return 0;

	space = dsm_space_left();
	if (arena_size > space)
	{
		ereport(NOTICE,
				(errmsg("building hnsw index \"%s\" without parallel workers",
						RelationGetRelationName(bs->index)),
				 errdetail("The graph needs %zu MB of shared memory, but only %zu MB are free in /dev/shm.",
						   arena_size / (1024 * 1024), space / (1024 * 1024)),
				 errhint("Enlarge /dev/shm or lower maintenance_work_mem.")));
		return 0;
	}
	return nworkers;
}
