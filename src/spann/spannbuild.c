/*
 * spannbuild.c
 *		CREATE INDEX for spann: sample, cluster, write the centroids, then
 *		assign every row to its lists.
 *
 * 1. One heap scan keeps a uniform sample of the keys (reservoir
 *    sampling with a fixed seed), sized to maintenance_work_mem, and
 *    counts the rows.
 * 2. Balanced hierarchical k-means of the sample gives the centroids
 *    (spanncluster.c); the number of lists is the `lists` option, or
 *    4 * sqrt(rows) when it is 0, and never more than the sample.
 * 3. The centroids are grouped (a k-means of them into about sqrt(lists)
 *    groups, spanndirectory.c); the group pages, each group's centroid
 *    pages and one empty posting page per list are written.
 * 4. A second heap scan assigns each row by the closure rule (among the
 *    lists of its nearest groups, as an insert does) and appends it to
 *    its lists, in shared buffers without WAL; at the end the whole
 *    relation is WAL-logged once.  Rows are assigned in batches: each
 *    group's centroids are compared with every row of the batch that
 *    searches the group while they are in cache, instead of being read
 *    again for every row.  Memory stays bounded whatever the table's
 *    size: the sample, the centroids, one batch of rows.  With
 *    max_parallel_maintenance_workers, workers share this scan (a
 *    parallel heap scan, annbuild.c): the leader hands them the centroids
 *    in the segment, and every participant appends to the lists as an
 *    insert does, under buffer locks (fill page, then centroid page).
 *
 * Nothing else can see the index during a build, so pages are changed
 * under buffer locks only.
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "access/parallel.h"
#include "access/tableam.h"
#include "commands/progress.h"
#include "common/pg_prng.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/freespace.h"
#include "utils/memutils.h"

#include "annbuild.h"
#include "spann.h"

#define SPANN_SEED				UINT64CONST(0x5A9A11)
#define SPANN_MIN_SAMPLE		20000
#define SPANN_SAMPLE_PER_LIST	16
#define SPANN_ASSIGN_BATCH		128	/* rows assigned together */

typedef struct SpannBuildState
{
	Relation	heap;
	Relation	index;
	AnnDistanceInfo dist;
	int			dimensions;
	Size		keysize;		/* of a vector */
	AnnFilterColumns filters;	/* their signatures follow an entry's key */
	Size		centroid_keysize;	/* a centroid's key and summary */
	SpannAssignOptions opts;

	/* sampling: a reservoir of float keys */
	float	   *sample;
	int			sample_capacity;
	int			nsample;
	double		rows;			/* rows seen (sample_callback says which) */
	pg_prng_state rng;

	/* assignment */
	BlockNumber vector_page;	/* the page this participant fills with vectors */
	int			nlists;
	char	   *centroid_keys;	/* nlists whole keys */
	SpannListRef *lists;		/* nlists: where each list is */
	int			ngroups;
	char	   *group_keys;		/* ngroups whole keys */
	int		   *group_start;	/* group g: members[group_start[g] .. group_start[g + 1]) */
	int		   *members;		/* list numbers, group by group */

	/*
	 * The elements of the group keys, and of the centroid keys in members'
	 * order (so that a group's are read in one stream), element_stride
	 * bytes apart: keys start 8 bytes into a cache line, and a distance
	 * kernel's every load would straddle two lines.
	 */
	Size		element_stride;
	char	   *group_elements;
	char	   *member_elements;

	int			nsearched;		/* groups a row's assignment searches */
	float	   *group_distances;	/* scratch: the groups' distances to one row */
	SpannListRef *candidates;	/* scratch: the lists near one row */
	int			most_candidates;	/* lists in the largest groups a row searches */

	/*
	 * The batch: nbatch rows waiting to be assigned (assign_batch), their
	 * keys with signatures and, per row, the groups it searches and the
	 * distances to their lists, group after group in the order of the
	 * row's groups; batch_group_start says where each group's distances
	 * start (-1: not searched)
	 */
	int			nbatch;
	ItemPointerData batch_tids[SPANN_ASSIGN_BATCH];
	Size		batch_keysize;	/* a key's room: its size, MAXALIGN'ed */
	char	   *batch_keys;
	char	   *batch_elements; /* element_stride apart */
	int		   *batch_group_start;	/* [row][group] */
	int		   *batch_groups;	/* [row][searched group] */
	float		batch_nearest[SPANN_ASSIGN_BATCH];	/* distance to the nearest list */
	float	   *batch_distances;	/* [row][most_candidates] */
	const void **candidate_keys;
	int		   *chosen;
	float	   *rotated_centroids;	/* nlists, padded floats each */
	const SpannIndexInfo *info;
	double		indtuples;
	double		entries;

	MemoryContext tuple_cxt;
} SpannBuildState;

static void build_state_init(SpannBuildState *bs, Relation heap, Relation index);

/* ---------------------------------------------------------------------
 * Sampling
 * ---------------------------------------------------------------------
 */

/*
 * The row's key prepared for the index (detoasted, normalised for
 * cosine), or false when it is not indexed (NULL, or a zero vector
 * under cosine).  Call in the tuple context.
 */
static bool
row_key(SpannBuildState *bs, Datum *values, bool *isnull, Datum *key)
{
	bool		usable;
	int			dim;

	if (isnull[0])
		return false;
	*key = AnnPrepareKey(&bs->dist, values[0], &usable);
	if (usable)
	{
		AnnKeyElements(&bs->dist, *key, &dim);
		AnnCheckDimensions(bs->dimensions, dim);
	}
	return usable;
}

/*
 * Reservoir sampling: the n-th row takes a slot with probability
 * capacity / n.  Only a row that takes one is detoasted and checked, so
 * rows that are not indexed (zero vectors under cosine) are counted as
 * rows unless they were chosen; the count only sizes the lists.
 */
static void
sample_callback(Relation index, ItemPointer tid, Datum *values, bool *isnull,
				bool tupleIsAlive, void *state)
{
	SpannBuildState *bs = (SpannBuildState *) state;
	MemoryContext old;
	int64		slot;
	Datum		key;

	CHECK_FOR_INTERRUPTS();
	if (isnull[0])
		return;
	bs->rows++;
	slot = bs->nsample < bs->sample_capacity ? bs->nsample :
		(int64) pg_prng_uint64_range(&bs->rng, 0, (uint64) bs->rows - 1);
	if (slot >= bs->sample_capacity)
		return;

	old = MemoryContextSwitchTo(bs->tuple_cxt);
	if (row_key(bs, values, isnull, &key))
	{
		int			dim;
		const void *x = AnnKeyElements(&bs->dist, key, &dim);

		AnnElementsToFloats(&bs->dist, x, dim, bs->sample + slot * bs->dimensions);
		if (slot == bs->nsample)
			bs->nsample++;
	}
	else
		bs->rows--;
	MemoryContextSwitchTo(old);
	MemoryContextReset(bs->tuple_cxt);
}

/*
 * Size the reservoir: SPANN_SAMPLE_PER_LIST rows per list expected from
 * the planner's row estimate, at least SPANN_MIN_SAMPLE, and at most half
 * of maintenance_work_mem.
 */
static void
sample_init(SpannBuildState *bs)
{
	double		rows = AnnEstimateHeapRows(bs->heap);
	double		wanted = Max(SPANN_MIN_SAMPLE,
							 (double) SPANN_SAMPLE_PER_LIST * SpannListsWanted(bs->index, rows));
	double		fits = (double) maintenance_work_mem * 1024.0 / 2 /
		(sizeof(float) * bs->dimensions);

	bs->sample_capacity = (int) Max(1.0, Min(wanted, fits));
	bs->sample = MemoryContextAllocHuge(CurrentMemoryContext,
										sizeof(float) * bs->dimensions *
										(Size) bs->sample_capacity);
	pg_prng_seed(&bs->rng, SPANN_SEED);
}

/* ---------------------------------------------------------------------
 * Writing the centroids
 * ---------------------------------------------------------------------
 */

/* A new page in build mode, initialised as kind, pinned and locked */
static Buffer
new_build_page(Relation index, uint16 kind)
{
	Buffer		buffer = AnnNewBuffer(index, MAIN_FORKNUM);

	AnnInitPage(BufferGetPage(buffer), ANN_SPANN_PAGE_ID, kind);
	return buffer;
}

/*
 * Group the lists: a balanced k-means of their centroids (ncentres
 * points) into about sqrt(ncentres) groups, each list then in the group
 * whose centre is nearest to its centroid.  Returns the group centres,
 * their number in *ngroups, each list's group in group_of.
 */
static float *
group_lists(const float *centres, int ncentres, int dim, int *ngroups, int *group_of)
{
	float	   *groups = SpannHierarchicalKMeans(centres, ncentres, dim,
												 (int) ceil(sqrt((double) ncentres)),
												 SPANN_SEED, ngroups);

	for (int i = 0; i < ncentres; i++)
		group_of[i] = SpannNearestCentre(centres + (Size) i * dim, groups, *ngroups, dim);
	return groups;
}

/*
 * Add a tuple to the page in *buffer, or to a new page of kind linked
 * after it (*buffer is then released, the new page takes its place).
 * The first page of a chain (*buffer invalid) goes to *head.  Returns the
 * tuple's offset.
 */
static OffsetNumber
add_to_chain(SpannBuildState *bs, Buffer *buffer, uint16 kind, const void *tuple, Size size,
			 BlockNumber *head)
{
	OffsetNumber offno;

	if (!BufferIsValid(*buffer) || PageGetFreeSpace(BufferGetPage(*buffer)) < size)
	{
		Buffer		next = new_build_page(bs->index, kind);

		if (BufferIsValid(*buffer))
		{
			AnnPageGetOpaque(BufferGetPage(*buffer))->nextblkno = BufferGetBlockNumber(next);
			MarkBufferDirty(*buffer);
			UnlockReleaseBuffer(*buffer);
		}
		else
			*head = BufferGetBlockNumber(next);
		*buffer = next;
	}
	offno = PageAddItem(BufferGetPage(*buffer), (Item) tuple, size, InvalidOffsetNumber, false,
						false);
	if (offno == InvalidOffsetNumber)
		elog(ERROR, "failed to add a tuple to spann index \"%s\"",
			 RelationGetRelationName(bs->index));
	return offno;
}

static void
release_build_page(Buffer buffer)
{
	if (BufferIsValid(buffer))
	{
		MarkBufferDirty(buffer);
		UnlockReleaseBuffer(buffer);
	}
}

/*
 * Write the group tuples, chain heads left invalid, in the chain that
 * starts at meta->group_head; refs gets where each is.
 */
static void
write_groups(SpannBuildState *bs, SpannMetaPage meta, int ngroups, SpannGroupRef *refs)
{
	const SpannIndexInfo *info = SpannGetIndexInfo(bs->index);
	Size		size = info->group_tuple_size;
	SpannGroupTuple tuple = palloc0(size);
	Buffer		buffer = InvalidBuffer;

	tuple->head = tuple->tail = InvalidBlockNumber;
	for (int g = 0; g < ngroups; g++)
	{
		SpannPutKey(bs->index, info, true, tuple->key, bs->group_keys + bs->keysize * g,
					InvalidBlockNumber);
		refs[g].goffset = add_to_chain(bs, &buffer, SPANN_PAGE_GROUPS, tuple, size,
									   &meta->group_head);
		refs[g].gblkno = BufferGetBlockNumber(buffer);
		refs[g].ordinal = g;
	}
	meta->group_tail = BufferIsValid(buffer) ? BufferGetBlockNumber(buffer) : InvalidBlockNumber;
	meta->ngroups = ngroups;
	release_build_page(buffer);
	pfree(tuple);
}

/* Point a group tuple at its chain of centroid pages */
static void
link_group(SpannBuildState *bs, const SpannGroupRef *group, BlockNumber head, BlockNumber tail)
{
	Buffer		buffer = ReadBuffer(bs->index, group->gblkno);
	SpannGroupTuple tuple;

	LockBuffer(buffer, BUFFER_LOCK_EXCLUSIVE);
	tuple = SpannPageGetGroup(bs->index, group->gblkno, BufferGetPage(buffer), group->goffset);
	tuple->head = head;
	tuple->tail = tail;
	MarkBufferDirty(buffer);
	UnlockReleaseBuffer(buffer);
}

/*
 * Write the lists of one group (members[0..n), list numbers): an empty
 * posting page each, and their centroid tuples in the group's chain.
 * Fills their entries of bs->lists.
 */
static void
write_group_lists(SpannBuildState *bs, const SpannGroupRef *group, const int *members, int n)
{
	const SpannIndexInfo *info = SpannGetIndexInfo(bs->index);
	Size		size = info->centroid_tuple_size;
	SpannCentroidTuple tuple = palloc0(size);
	Buffer		cbuffer = InvalidBuffer;
	BlockNumber head = InvalidBlockNumber;

	for (int m = 0; m < n; m++)
	{
		SpannListRef *list = &bs->lists[members[m]];
		Buffer		posting = new_build_page(bs->index, SPANN_PAGE_POSTING);

		tuple->head = tuple->fill = BufferGetBlockNumber(posting);
		release_build_page(posting);
		SpannPutKey(bs->index, info, true, tuple->key, bs->centroid_keys + bs->keysize * members[m],
					InvalidBlockNumber);
		list->coffset = add_to_chain(bs, &cbuffer, SPANN_PAGE_CENTROIDS, tuple, size, &head);
		list->cblkno = BufferGetBlockNumber(cbuffer);
		list->head = tuple->head;
		list->gblkno = group->gblkno;
		list->goffset = group->goffset;
		list->ordinal = members[m];
	}
	link_group(bs, group, head, BufferIsValid(cbuffer) ? BufferGetBlockNumber(cbuffer) : head);
	release_build_page(cbuffer);
	pfree(tuple);
}

/* The stored keys of n centres (floats) */
static char *
centre_keys(SpannBuildState *bs, const float *centres, int n)
{
	char	   *keys = palloc(bs->keysize * Max(n, 1));

	for (int i = 0; i < n; i++)
	{
		Datum		key = AnnKeyFromFloats(&bs->dist, centres + (Size) i * bs->dimensions,
										   bs->dimensions);

		memcpy(keys + bs->keysize * i, DatumGetPointer(key), bs->keysize);
	}
	return keys;
}

/*
 * Cluster the sample, group the centroids, and write the groups, one
 * centroid tuple and one empty posting page per list; fills bs->lists,
 * bs->centroid_keys and the groups of bs.
 */
static void
write_centroids(SpannBuildState *bs, SpannMetaPage meta)
{
	int			ncentres;
	float	   *centres;
	int			ngroups;
	float	   *group_centres;
	int		   *group_of;
	SpannGroupRef *groups;

	centres = SpannHierarchicalKMeans(bs->sample, bs->nsample, bs->dimensions,
									  SpannListsWanted(bs->index, bs->rows), SPANN_SEED, &ncentres);
	bs->nlists = ncentres;
	bs->centroid_keys = centre_keys(bs, centres, ncentres);
	bs->lists = palloc0(sizeof(SpannListRef) * Max(ncentres, 1));

	group_of = palloc(sizeof(int) * Max(ncentres, 1));
	group_centres = group_lists(centres, ncentres, bs->dimensions, &ngroups, group_of);
	bs->ngroups = ngroups;
	bs->group_keys = centre_keys(bs, group_centres, ngroups);
	bs->group_start = palloc(sizeof(int) * (ngroups + 1));
	bs->members = palloc(sizeof(int) * Max(ncentres, 1));
	groups = palloc(sizeof(SpannGroupRef) * Max(ngroups, 1));
	write_groups(bs, meta, ngroups, groups);
	bs->group_start[0] = 0;
	for (int g = 0; g < ngroups; g++)
	{
		int			n = bs->group_start[g];

		for (int i = 0; i < ncentres; i++)
			if (group_of[i] == g)
				bs->members[n++] = i;
		bs->group_start[g + 1] = n;
		write_group_lists(bs, &groups[g], bs->members + bs->group_start[g],
						  n - bs->group_start[g]);
		CHECK_FOR_INTERRUPTS();
	}
	meta->nlists = ncentres;
	pfree(centres);
	pfree(group_centres);
	pfree(group_of);
	pfree(groups);
}

/* ---------------------------------------------------------------------
 * Assignment
 * ---------------------------------------------------------------------
 */

/* The place in groups[0..n) of the farthest group, by (distance, number) */
static int
farthest_group(const int *groups, int n, const float *distances)
{
	int			far = 0;

	for (int i = 1; i < n; i++)
		if (distances[groups[i]] > distances[groups[far]] ||
			(distances[groups[i]] == distances[groups[far]] && groups[i] > groups[far]))
			far = i;
	return far;
}

/*
 * The bs->nsearched groups a row's assignment looks into, into groups:
 * the SPANN_ASSIGN_GROUPS nearest (by distance, then number), or every
 * group when there are no more, as an insert does.  They are in no
 * order, which does not change the lists a row is assigned to
 * (SpannClosureCandidates orders its candidates).
 */
static void
near_groups(SpannBuildState *bs, const void *x, int *groups)
{
	const float *distances = bs->group_distances;
	int			far;

	for (int g = 0; g < bs->nsearched; g++)
		groups[g] = g;
	if (bs->ngroups == bs->nsearched)
		return;
	AnnDistancesTo(&bs->dist, x, bs->group_elements, bs->element_stride, bs->ngroups,
				   bs->dimensions, bs->group_distances);
	far = farthest_group(groups, bs->nsearched, distances);
	for (int g = bs->nsearched; g < bs->ngroups; g++)
		if (distances[g] < distances[groups[far]])
		{
			groups[far] = g;
			far = farthest_group(groups, bs->nsearched, distances);
		}
}

/* Room for n keys' elements, element_stride apart from a cache line's start */
static char *
palloc_elements(const SpannBuildState *bs, int n)
{
	char	   *room = palloc_extended(bs->element_stride * (Size) Max(n, 1) + PG_CACHE_LINE_SIZE,
									   MCXT_ALLOC_HUGE);

	return (char *) TYPEALIGN(PG_CACHE_LINE_SIZE, room);
}

/* Copy key's elements to place i of elements. */
static void
copy_elements(const SpannBuildState *bs, char *elements, int i, const char *key)
{
	memcpy(elements + bs->element_stride * i, SpannKeyElements(key),
		   bs->keysize - offsetof(Vector, x));
}

/*
 * Search the nearest groups of batch row r: note them, and where each
 * group's lists start among the row's distances.
 */
static void
plan_row(SpannBuildState *bs, int r, const void *x)
{
	int		   *group_start = bs->batch_group_start + (Size) bs->ngroups * r;
	int		   *groups = bs->batch_groups + (Size) bs->nsearched * r;
	int			n = 0;

	near_groups(bs, x, groups);
	for (int g = 0; g < bs->ngroups; g++)
		group_start[g] = -1;
	for (int o = 0; o < bs->nsearched; o++)
	{
		int			g = groups[o];

		group_start[g] = n;
		n += bs->group_start[g + 1] - bs->group_start[g];
	}
	bs->batch_nearest[r] = FLT_MAX;
}

static const void *
batch_elements(SpannBuildState *bs, int r)
{
	return bs->batch_elements + bs->element_stride * r;
}

/* The least of v[0..n), in four independent chains */
static float
least(const float *v, int n)
{
	float		m[4] = {FLT_MAX, FLT_MAX, FLT_MAX, FLT_MAX};
	int			i = 0;

	for (; i + 4 <= n; i += 4)
		for (int k = 0; k < 4; k++)
			m[k] = Min(m[k], v[i + k]);
	for (; i < n; i++)
		m[0] = Min(m[0], v[i]);
	return Min(Min(m[0], m[1]), Min(m[2], m[3]));
}

/*
 * The distances from every row of the batch to the lists of the groups
 * it searches, group by group: a group's keys are read from memory once
 * for the whole batch.
 */
static void
measure_batch(SpannBuildState *bs)
{
	for (int g = 0; g < bs->ngroups; g++)
	{
		int			first = bs->group_start[g];
		int			size = bs->group_start[g + 1] - first;

		for (int r = 0; r < bs->nbatch; r++)
		{
			int			start = bs->batch_group_start[(Size) bs->ngroups * r + g];
			float	   *out = bs->batch_distances + (Size) bs->most_candidates * r + start;

			if (start < 0)
				continue;
			AnnDistancesTo(&bs->dist, batch_elements(bs, r),
						   bs->member_elements + bs->element_stride * first, bs->element_stride,
						   size, bs->dimensions, out);
			bs->batch_nearest[r] = Min(bs->batch_nearest[r], least(out, size));
		}
	}
}

/*
 * The lists near batch row r, nearest first: those of its nearest groups
 * that are within the closure bound of the nearest list, at most
 * 4 * replicas.  Returns how many, in bs->candidates.
 */
static int
near_lists(SpannBuildState *bs, int r)
{
	const int  *groups = bs->batch_groups + (Size) bs->nsearched * r;
	const float *distance = bs->batch_distances + (Size) bs->most_candidates * r;
	float		bound = SpannClosureBound(bs->dist.metric, bs->batch_nearest[r], bs->opts.epsilon);
	int			n = 0;

	for (int o = 0; o < bs->nsearched; o++)
	{
		int			g = groups[o];

		for (int m = bs->group_start[g]; m < bs->group_start[g + 1]; m++, distance++)
		{
			if (*distance > bound)
				continue;
			bs->candidates[n] = bs->lists[bs->members[m]];
			bs->candidates[n++].distance = *distance;
		}
	}
	return SpannClosureCandidates(bs->dist.metric, bs->candidates, n, &bs->opts);
}

/* Write batch row r: its vector, and an entry in each list it is assigned to. */
static void
assign_row(SpannBuildState *bs, int r)
{
	const char *key = bs->batch_keys + bs->batch_keysize * r;
	const void *x = SpannKeyElements(key);
	int			ncandidates = near_lists(bs, r);
	int			nchosen;
	SpannRow	row;
	float	   *rotated = SpannRotate(bs->info, x);

	row.heaptid = bs->batch_tids[r];
	SpannStoreBuildVector(bs->index, &bs->vector_page, &row, key);
	for (int i = 0; i < ncandidates; i++)
		bs->candidate_keys[i] =
			SpannKeyElements(bs->centroid_keys + bs->keysize * bs->candidates[i].ordinal);
	nchosen = SpannChooseLists(&bs->dist, bs->dimensions, bs->candidates, ncandidates,
							   bs->candidate_keys, &bs->opts, bs->chosen);
	if (nchosen == 0)
		elog(ERROR, "spann build found no list for a row of index \"%s\"",
			 RelationGetRelationName(bs->index));
	for (int i = 0; i < nchosen; i++)
	{
		const SpannListRef *list = &bs->candidates[bs->chosen[i]];
		SpannEntryTuple entry = SpannMakeEntry(bs->info, &row, key, rotated,
											   bs->rotated_centroids +
											   (Size) bs->info->padded * list->ordinal);

		SpannAppend(bs->index, list, entry, key, true, NULL);
	}
	bs->indtuples++;
	bs->entries += nchosen;
	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE, (int64) bs->indtuples);
}

/* Assign the rows of the batch and empty it. */
static void
assign_batch(SpannBuildState *bs)
{
	MemoryContext old = MemoryContextSwitchTo(bs->tuple_cxt);

	for (int r = 0; r < bs->nbatch; r++)
		plan_row(bs, r, batch_elements(bs, r));
	measure_batch(bs);
	for (int r = 0; r < bs->nbatch; r++)
	{
		assign_row(bs, r);
		MemoryContextReset(bs->tuple_cxt);
		CHECK_FOR_INTERRUPTS();
	}
	bs->nbatch = 0;
	MemoryContextSwitchTo(old);
}

/* Add the row to the batch, and assign the batch once it is full. */
static void
assign_callback(Relation index, ItemPointer tid, Datum *values, bool *isnull,
				bool tupleIsAlive, void *state)
{
	SpannBuildState *bs = (SpannBuildState *) state;
	MemoryContext old = MemoryContextSwitchTo(bs->tuple_cxt);
	Datum		key;

	if (row_key(bs, values, isnull, &key))
	{
		key = AnnFilterComposeKey(&bs->filters, key, bs->keysize, values, isnull);
		memcpy(bs->batch_keys + bs->batch_keysize * bs->nbatch, DatumGetPointer(key),
			   AnnFilterKeySize(&bs->filters, bs->keysize));
		copy_elements(bs, bs->batch_elements, bs->nbatch, DatumGetPointer(key));
		bs->batch_tids[bs->nbatch++] = *tid;
	}
	MemoryContextSwitchTo(old);
	MemoryContextReset(bs->tuple_cxt);
	if (bs->nbatch == SPANN_ASSIGN_BATCH)
		assign_batch(bs);
	CHECK_FOR_INTERRUPTS();
}

static int
compare_sizes_descending(const void *a, const void *b)
{
	int			x = *(const int *) a;
	int			y = *(const int *) b;

	return (x < y) - (x > y);
}

/* Lists in the groups one row can search at most: the largest ones */
static int
most_candidates(const SpannBuildState *bs)
{
	int		   *sizes = palloc(sizeof(int) * Max(bs->ngroups, 1));
	int			most = 0;

	for (int g = 0; g < bs->ngroups; g++)
		sizes[g] = bs->group_start[g + 1] - bs->group_start[g];
	qsort(sizes, bs->ngroups, sizeof(int), compare_sizes_descending);
	for (int i = 0; i < bs->nsearched; i++)
		most += sizes[i];
	pfree(sizes);
	return Max(most, 1);
}

/* Scratch space of the assignment, once the lists are known */
static void
assign_init(SpannBuildState *bs)
{
	bs->nsearched = Min(bs->ngroups, SPANN_ASSIGN_GROUPS);
	bs->group_distances = palloc(sizeof(float) * Max(bs->ngroups, 1));
	bs->candidates = palloc(sizeof(SpannListRef) * bs->nlists);
	bs->candidate_keys = palloc(sizeof(void *) * bs->nlists);
	bs->chosen = palloc(sizeof(int) * bs->nlists);
	bs->info = SpannGetIndexInfo(bs->index);
	bs->rotated_centroids = palloc(sizeof(float) * bs->info->padded * (Size) bs->nlists);
	for (int l = 0; l < bs->nlists; l++)
	{
		float	   *rotated = SpannRotate(bs->info,
										  SpannKeyElements(bs->centroid_keys + bs->keysize * l));

		memcpy(bs->rotated_centroids + (Size) bs->info->padded * l, rotated,
			   sizeof(float) * bs->info->padded);
		pfree(rotated);
	}
	/*
	 * Every row is compared with all the lists of its nearest groups: read
	 * in list order, those keys lie all over the centroid array, and at
	 * ten thousand lists that is a cache miss per line of every key.
	 */
	bs->element_stride = TYPEALIGN(PG_CACHE_LINE_SIZE, bs->keysize - offsetof(Vector, x));
	bs->group_elements = palloc_elements(bs, bs->ngroups);
	for (int g = 0; g < bs->ngroups; g++)
		copy_elements(bs, bs->group_elements, g, bs->group_keys + bs->keysize * g);
	bs->member_elements = palloc_elements(bs, bs->nlists);
	for (int m = 0; m < bs->nlists; m++)
		copy_elements(bs, bs->member_elements, m,
					  bs->centroid_keys + bs->keysize * bs->members[m]);

	bs->nbatch = 0;
	bs->batch_keysize = MAXALIGN(AnnFilterKeySize(&bs->filters, bs->keysize));
	bs->batch_keys = palloc_extended(bs->batch_keysize * SPANN_ASSIGN_BATCH, MCXT_ALLOC_HUGE);
	bs->batch_elements = palloc_elements(bs, SPANN_ASSIGN_BATCH);
	bs->batch_group_start = palloc(sizeof(int) * SPANN_ASSIGN_BATCH * Max(bs->ngroups, 1));
	bs->batch_groups = palloc(sizeof(int) * SPANN_ASSIGN_BATCH * Max(bs->nsearched, 1));
	bs->most_candidates = most_candidates(bs);
	bs->batch_distances = palloc_extended(sizeof(float) * SPANN_ASSIGN_BATCH *
										  (Size) bs->most_candidates, MCXT_ALLOC_HUGE);
}

/* ---------------------------------------------------------------------
 * Parallel assignment
 *
 * The access method's area of the segment: SpannParallelShared, then the
 * list references, the centroid keys, the group keys, group_start and
 * members of the build state (lay_out_shared).
 * ---------------------------------------------------------------------
 */
typedef struct SpannParallelShared
{
	int			nlists;
	int			ngroups;
	slock_t		mutex;			/* guards entries */
	double		entries;		/* list entries written by all participants */
} SpannParallelShared;

/*
 * The size of the area after sp for the lists and groups of bs; with sp,
 * also point bs's arrays into it.
 */
static Size
lay_out_shared(SpannParallelShared *sp, SpannBuildState *bs)
{
	Size		lists = MAXALIGN(sizeof(SpannListRef) * bs->nlists);
	Size		keys = MAXALIGN(bs->keysize * bs->nlists);
	Size		group_keys = MAXALIGN(bs->keysize * bs->ngroups);
	Size		group_start = MAXALIGN(sizeof(int) * (bs->ngroups + 1));

	if (sp != NULL)
	{
		char	   *area = (char *) sp + MAXALIGN(sizeof(SpannParallelShared));

		bs->lists = (SpannListRef *) area;
		bs->centroid_keys = area + lists;
		bs->group_keys = area + lists + keys;
		bs->group_start = (int *) (area + lists + keys + group_keys);
		bs->members = (int *) (area + lists + keys + group_keys + group_start);
	}
	return lists + keys + group_keys + group_start + sizeof(int) * bs->nlists;
}

/* One participant's share of the assignment */
static void
assign_share(AnnBuildShared *shared, SpannParallelShared *sp, SpannBuildState *bs,
			 bool progress)
{
	double		heap_tuples;

	AnnOpenBuildPool(bs->index);
	heap_tuples = AnnParallelBuildScan(shared, bs->heap, bs->index, progress, assign_callback, bs);
	assign_batch(bs);
	SpannFinishBuildVectors(bs->index, bs->vector_page);
	AnnCloseBuildPool(bs->index);
	AnnBuildAddCounts(shared, heap_tuples, bs->indtuples);
	SpinLockAcquire(&sp->mutex);
	sp->entries += bs->entries;
	SpinLockRelease(&sp->mutex);
}

/* Entry point of a parallel worker (named in CreateParallelContext). */
PGDLLEXPORT void SpannParallelBuildMain(dsm_segment *seg, shm_toc *toc);

void
SpannParallelBuildMain(dsm_segment *seg, shm_toc *toc)
{
	AnnBuildWorker worker;
	SpannParallelShared *sp;
	SpannBuildState bs;

	AnnAttachBuildWorker(toc, &worker);
	sp = worker.am_area;
	build_state_init(&bs, worker.heap, worker.index);
	bs.nlists = sp->nlists;
	bs.ngroups = sp->ngroups;
	lay_out_shared(sp, &bs);
	assign_init(&bs);
	assign_share(worker.shared, sp, &bs, false);
	AnnDetachBuildWorker(&worker);
}

/*
 * Assign the rows with nworkers parallel workers and the leader.  Returns
 * false, having done nothing, if no DSM segment could be had.
 */
static bool
assign_parallel(SpannBuildState *bs, IndexInfo *indexInfo, int nworkers)
{
	AnnParallelBuild pb;
	SpannParallelShared *sp;
	SpannBuildState shared = *bs;
	int			launched;

	if (!AnnBeginParallelBuild(&pb, bs->heap, bs->index, indexInfo, "SpannParallelBuildMain",
							   nworkers, MAXALIGN(sizeof(SpannParallelShared)) +
							   lay_out_shared(NULL, bs)))
		return false;
	sp = pb.am_area;
	sp->nlists = bs->nlists;
	sp->ngroups = bs->ngroups;
	SpinLockInit(&sp->mutex);
	sp->entries = 0;
	lay_out_shared(sp, &shared);
	memcpy(shared.lists, bs->lists, sizeof(SpannListRef) * bs->nlists);
	memcpy(shared.centroid_keys, bs->centroid_keys, bs->keysize * bs->nlists);
	memcpy(shared.group_keys, bs->group_keys, bs->keysize * bs->ngroups);
	memcpy(shared.group_start, bs->group_start, sizeof(int) * (bs->ngroups + 1));
	memcpy(shared.members, bs->members, sizeof(int) * bs->nlists);
	launched = AnnLaunchParallelBuild(&pb);
	ereport(DEBUG1,
			(errmsg("building spann index \"%s\" with %d parallel workers",
					RelationGetRelationName(bs->index), launched)));
	assign_share(pb.shared, sp, bs, true);
	WaitForParallelWorkersToFinish(pb.pcxt);
	bs->indtuples = pb.shared->index_tuples;
	bs->entries = sp->entries;
	AnnEndParallelBuild(&pb);
	return true;
}

/* ---------------------------------------------------------------------
 * Entry points
 * ---------------------------------------------------------------------
 */

/*
 * The dimensions of index's keys, checked against the limits; a bit
 * distance other than Hamming is refused (majority-vote centroids and
 * radius bounds need Hamming's).
 */
static int
index_dimensions(Relation index, const AnnDistanceInfo *dist)
{
	if (dist->metric == ANN_METRIC_JACCARD)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s indexes do not support the Jaccard distance", SpannAmName(index))));
	return AnnIndexDimensions(index, dist, SpannAmName(index), SPANN_MAX_DIM,
							  SPANN_MAX_HALF_DIM, SPANN_MAX_BITS);
}

static void
build_state_init(SpannBuildState *bs, Relation heap, Relation index)
{
	memset(bs, 0, sizeof(*bs));
	bs->heap = heap;
	bs->index = index;
	bs->vector_page = InvalidBlockNumber;
	AnnResolveDistance(index, &bs->dist);
	bs->dimensions = index_dimensions(index, &bs->dist);
	bs->keysize = AnnKeySize(&bs->dist, bs->dimensions);
	AnnFilterColumnsInit(index, &bs->filters);
	bs->centroid_keysize = SpannCentroidKeySize(&bs->filters, bs->keysize);
	/* a long key leaves a centroid tuple the reference and the summary */
	if (!SpannKeysAreLong(bs->keysize) &&
		SPANN_CENTROID_TUPLE_SIZE(bs->centroid_keysize) > SPANN_MAX_TUPLE_SIZE)
	{
		long		room = (long) SPANN_MAX_TUPLE_SIZE -
			(long) SPANN_CENTROID_TUPLE_SIZE(AnnFilterOffset(bs->keysize));
		int			most = room > 0 ? (int) (room / ANN_SUMMARY_BYTES) : 0;

		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 most > 0 ?
				 errmsg("a spann index on %d dimensions can have at most %d filter columns",
						bs->dimensions, most) :
				 errmsg("a spann index on %d dimensions cannot have filter columns",
						bs->dimensions),
				 errdetail("Each filter column adds %d bytes to a centroid, which must fit a page.",
						   ANN_SUMMARY_BYTES)));
	}
	bs->opts = SpannGetAssignOptions(index);
	bs->tuple_cxt = AllocSetContextCreate(CurrentMemoryContext, "Spann build tuple context",
										  ALLOCSET_DEFAULT_SIZES);
}

/* The metapage, written first so the rest of the build can read it */
static void
write_metapage(Relation index, ForkNumber fork, int dimensions)
{
	Buffer		buffer = AnnNewBuffer(index, fork);

	SpannInitMetaPage(BufferGetPage(buffer), dimensions, SpannCodeBits(index, dimensions));
	MarkBufferDirty(buffer);
	UnlockReleaseBuffer(buffer);
}

/*
 * Copy the build's lists, split limit and last vector page into the
 * metapage: the limit is twice the mean list, or 0 (SpannSplitLimit) when
 * that is below the least limit
 */
static void
update_metapage(SpannBuildState *bs, const SpannMetaPageData *lists)
{
	Buffer		buffer = ReadBuffer(bs->index, ANN_METAPAGE_BLKNO);
	SpannMetaPage meta;
	double		mean = bs->nlists > 0 ? bs->entries / bs->nlists : 0;

	LockBuffer(buffer, BUFFER_LOCK_EXCLUSIVE);
	meta = (SpannMetaPage) PageGetContents(BufferGetPage(buffer));
	meta->nlists = lists->nlists;
	meta->directory_version++;
	meta->ngroups = lists->ngroups;
	meta->group_head = lists->group_head;
	meta->group_tail = lists->group_tail;
	meta->vector_page = bs->vector_page;
	meta->list_limit = SPANN_SPLIT_FACTOR * mean >= SPANN_MIN_LIST_LIMIT ?
		(uint32) ceil(SPANN_SPLIT_FACTOR * mean) : 0;
	MarkBufferDirty(buffer);
	UnlockReleaseBuffer(buffer);
}

IndexBuildResult *
spannbuild(Relation heap, Relation index, IndexInfo *indexInfo)
{
	IndexBuildResult *result = palloc(sizeof(IndexBuildResult));
	SpannBuildState bs;
	SpannMetaPageData lists = {0};
	MemoryContext build_cxt = AllocSetContextCreate(CurrentMemoryContext,
													"Spann build context",
													ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(build_cxt);

	if (RelationGetNumberOfBlocks(index) != 0)
		elog(ERROR, "index \"%s\" already contains data", RelationGetRelationName(index));
	build_state_init(&bs, heap, index);
	write_metapage(index, MAIN_FORKNUM, bs.dimensions);
	SpannCheckEntrySize(index);

	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, SPANN_PHASE_SAMPLE);
	sample_init(&bs);
	result->heap_tuples = table_index_build_scan(heap, index, indexInfo, true, true,
												 sample_callback, &bs, NULL);

	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, SPANN_PHASE_CLUSTER);
	lists.group_head = lists.group_tail = InvalidBlockNumber;
	write_centroids(&bs, &lists);
	pfree(bs.sample);
	bs.sample = NULL;

	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, SPANN_PHASE_ASSIGN);
	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_TOTAL, (int64) bs.rows);
	if (bs.nlists > 0)
	{
		int			nworkers = AnnBuildWorkersWanted(heap, index);

		assign_init(&bs);
		if (nworkers == 0 || !assign_parallel(&bs, indexInfo, nworkers))
		{
			table_index_build_scan(heap, index, indexInfo, true, true, assign_callback, &bs,
								   NULL);
			assign_batch(&bs);
			SpannFinishBuildVectors(index, bs.vector_page);
		}
		FreeSpaceMapVacuum(index);
	}
	update_metapage(&bs, &lists);
	AnnLogRelation(index, MAIN_FORKNUM);

	result->index_tuples = bs.indtuples;
	MemoryContextSwitchTo(old);
	MemoryContextDelete(build_cxt);
	return result;
}

/* The init fork of an unlogged index: an empty metapage. */
void
spannbuildempty(Relation index)
{
	AnnDistanceInfo dist;

	AnnResolveDistance(index, &dist);
	write_metapage(index, INIT_FORKNUM, index_dimensions(index, &dist));
	AnnLogRelation(index, INIT_FORKNUM);
}
