/*
 * spanninsert.c
 *		Inserts into a spann index, and the list splits they trigger.
 *
 * A row goes to the lists the closure rule chooses among the current
 * centroids (spanncluster.c), appended under a share lock on each list
 * (a heavyweight page lock whose tag is the list's head block) so that
 * no split replaces the list meanwhile.
 *
 * A list whose entry count passes the split limit is split by the
 * inserting backend (SPFresh's idea, done synchronously): a 2-means of
 * its entries gives two centroids, each entry goes to the nearer one
 * (and to the other too when the closure rule says so), the two new
 * chains are written where nothing points at them, and one WAL record
 * then replaces the old centroid by the first and adds the second.
 * Entries that are now nearer to some other list's centroid than to
 * either new one are appended there too (SPFresh's reassignment, LIRE,
 * limited to the split list's own entries).  README, "WAL and crash
 * states", lists what a crash at each step leaves.
 *
 * Locks, in order: the split lock (share; VACUUM takes it exclusively,
 * and a split that cannot have it now is left for a later insert), the
 * list lock (exclusive), then buffers as README "Locking" says.
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "utils/memutils.h"

#include "spann.h"

/* ---------------------------------------------------------------------
 * Splits
 * ---------------------------------------------------------------------
 */

/* The entries of a list being split */
typedef struct SplitInput
{
	int			n;
	SpannRow   *rows;
	char	   *keys;			/* whole keys */
	float	   *old_distances;	/* to the old centroid, or NaN if not moved away */
} SplitInput;

/* One of the two lists a split makes */
typedef struct SplitHalf
{
	char	   *key;			/* stored centroid key, summary included */
	int		   *order;			/* its entries: numbers in the SplitInput */
	int			n;
	float		radius;
	BlockNumber head;
	BlockNumber tail;
} SplitHalf;

/* A list that an insert grew past its limit */
typedef struct SplitCandidate
{
	SpannListRef list;
	uint32		limit;			/* split when it holds more entries than this */
} SplitCandidate;

/*
 * Two centroids for the entries, from a 2-means of them; false when the
 * entries are all alike and cannot be split, or when the two means make
 * the same key (bit keys: the same majority bits).
 */
static bool
two_centroids(const SpannIndexInfo *info, const SplitInput *in, char **key1, char **key2)
{
	float	   *points = palloc(sizeof(float) * info->dimensions * (Size) in->n);
	int		   *assignment = palloc(sizeof(int) * in->n);
	float	   *centres;
	int			size1 = 0;

	for (int i = 0; i < in->n; i++)
		AnnElementsToFloats(&info->dist, SpannKeyElements(in->keys + info->entry_keysize * i),
							info->dimensions, points + (Size) i * info->dimensions);
	centres = SpannKMeans(points, in->n, info->dimensions, 2, in->n, assignment);
	for (int i = 0; i < in->n; i++)
		size1 += assignment[i] == 0;
	if (size1 == 0 || size1 == in->n)
		return false;
	*key1 = DatumGetPointer(AnnKeyFromFloats(&info->dist, centres, info->dimensions));
	*key2 = DatumGetPointer(AnnKeyFromFloats(&info->dist, centres + info->dimensions,
											 info->dimensions));
	return memcmp(*key1, *key2, info->keysize) != 0;
}

/*
 * The stored key of a new centroid: the key, then (with filter columns)
 * the summary of the entries order[0..n) it gets.
 */
static char *
centroid_key(const SpannIndexInfo *info, const char *key, const SplitInput *in,
			 const int *order, int n)
{
	char	   *stored = palloc0(info->centroid_keysize);

	memcpy(stored, key, info->keysize);
	for (int i = 0; i < n && info->filters.ncolumns > 0; i++)
		AnnSummaryAdd(&info->filters, stored + info->filter_offset,
					  in->keys + info->entry_keysize * order[i] + info->filter_offset);
	return stored;
}

/* The radius of a new list: its farthest entry from its centroid */
static float
half_radius(const SpannIndexInfo *info, const SplitInput *in, const SplitHalf *half)
{
	float		radius = 0;

	for (int i = 0; i < half->n; i++)
		radius = Max(radius,
					 SpannRadiusDistance(info,
										 SpannKeyElements(in->keys + info->entry_keysize * half->order[i]),
										 SpannKeyElements(half->key)));
	return radius;
}

/*
 * Which new lists each entry joins: the nearer centroid, and the other
 * when it is within the closure bound and not nearer to the first
 * centroid than to the entry.  Fills order1/order2 with entry numbers.
 */
static void
divide_entries(Relation index, const SplitInput *in, const char *key1, const char *key2,
			   int *order1, int *n1, int *order2, int *n2)
{
	const SpannIndexInfo *info = SpannGetIndexInfo(index);
	SpannAssignOptions opts = SpannGetAssignOptions(index);
	const void *c1 = SpannKeyElements(key1);
	const void *c2 = SpannKeyElements(key2);
	float		between = AnnDistance(&info->dist, c1, c2, info->dimensions);

	*n1 = *n2 = 0;
	for (int i = 0; i < in->n; i++)
	{
		const void *x = SpannKeyElements(in->keys + info->entry_keysize * i);
		float		d1 = AnnDistance(&info->dist, x, c1, info->dimensions);
		float		d2 = AnnDistance(&info->dist, x, c2, info->dimensions);
		bool		first = d1 <= d2;
		float		near = first ? d1 : d2;
		float		far = first ? d2 : d1;
		bool		both = opts.replicas > 1 &&
			far <= SpannClosureBound(info->dist.metric, near, opts.epsilon) && between >= far;

		if (first || both)
			order1[(*n1)++] = i;
		if (!first || both)
			order2[(*n2)++] = i;
	}
}

/*
 * The switch, in two records.  The first adds the second new list to the
 * old list's group; the second replaces the old centroid (in its slot) by
 * the first new list.  Between the two, the old list and the second new
 * one both hold the second's entries: scans drop the duplicate TIDs.
 */
static void
switch_lists(Relation index, const SpannListRef *list, const SplitHalf *half1,
			 const SplitHalf *half2)
{
	const SpannIndexInfo *info = SpannGetIndexInfo(index);
	Size		size = info->centroid_tuple_size;
	SpannCentroidTuple second = palloc0(size);
	SpannCentroidTuple first_key = palloc0(size);
	SpannCentroidTuple first;
	SpannMetaPage meta;
	BlockNumber cblkno;
	BlockNumber replaced_key_page = InvalidBlockNumber;
	AnnEdit		edit;

	second->head = half2->head;
	second->fill = half2->tail;
	second->count = half2->n;
	second->radius = half2->radius;
	SpannPutCentroidKey(index, info, false, second, half2->key);
	SpannPutCentroidKey(index, info, false, first_key, half1->key);
	AnnEditBegin(&edit, index, false);
	meta = SpannEditMeta(&edit, index);
	SpannAddCentroid(&edit, index, list->gblkno, list->goffset, second, &cblkno);
	meta->nlists++;
	meta->directory_version++;
	AnnEditFinish(&edit);
	AnnEditUnlockRelease(&edit);

	AnnEditBegin(&edit, index, false);
	meta = SpannEditMeta(&edit, index);
	first = SpannEditLockedList(&edit, index, list);
	first->head = half1->head;
	first->fill = half1->tail;
	first->count = half1->n;
	first->split_at = 0;
	first->radius = half1->radius;
	if (info->long_keysize > 0)
		replaced_key_page = AnnLongKeyPage(first->key);
	memcpy(first->key, first_key->key, size - offsetof(SpannCentroidTupleData, key));
	meta->splits++;
	meta->directory_version++;
	AnnEditFinish(&edit);
	AnnEditUnlockRelease(&edit);
	/* readers of a long key hold its centroid's page: nobody reads the old one now */
	if (BlockNumberIsValid(replaced_key_page))
		SpannFreeKeyPages(index, replaced_key_page);
	pfree(second);
	pfree(first_key);
}

/* Remember not to retry a list that cannot be split before it doubles */
static void
postpone_split(Relation index, const SpannListRef *list)
{
	AnnEdit		edit;
	SpannCentroidTuple c;

	AnnEditBegin(&edit, index, false);
	c = SpannEditLockedList(&edit, index, list);
	c->split_at = c->count * 2;
	AnnEditFinish(&edit);
	AnnEditUnlockRelease(&edit);
}

/*
 * Append to one chosen list under its share lock.  Returns the list's
 * new count (and its own split limit in *split_at, 0 if none), or -1
 * when a split replaced it before we got the lock.
 */
static int
append_locked(Relation index, const SpannListRef *list, SpannEntryTuple entry, const char *key,
			  uint32 *split_at)
{
	int			count;

	SpannLock(index, list->head, ShareLock);
	count = SpannAppend(index, list, entry, key, false, split_at);
	SpannUnlock(index, list->head, ShareLock);
	return count;
}

/*
 * SPFresh's reassignment, for the split list's entries: an entry farther
 * from both new centroids than from the old one may now be nearest to
 * another list; if so, it is appended there.
 */
static void
reassign_entries(Relation index, const SplitInput *in, BlockNumber head1, BlockNumber head2)
{
	const SpannIndexInfo *info = SpannGetIndexInfo(index);

	for (int i = 0; i < in->n; i++)
	{
		const char *key = in->keys + info->entry_keysize * i;
		int			nlists;
		SpannListRef *lists;
		int			nearest = 0;

		if (isnan(in->old_distances[i]))
			continue;
		lists = SpannNearLists(index, SpannKeyElements(key), &nlists);
		for (int l = 1; l < nlists; l++)
			if (lists[l].distance < lists[nearest].distance)
				nearest = l;
		if (nlists > 0 && lists[nearest].head != head1 && lists[nearest].head != head2 &&
			lists[nearest].distance < in->old_distances[i])
		{
			float	   *centroid = SpannRotatedCentroid(index, &lists[nearest]);
			uint32		split_at;

			if (centroid != NULL)
			{
				float	   *rotated = SpannRotate(info, SpannKeyElements(key));
				SpannEntryTuple entry = SpannMakeEntry(info, &in->rows[i], key, rotated,
													   centroid);

				append_locked(index, &lists[nearest], entry, key, &split_at);
				pfree(entry);
				pfree(rotated);
				pfree(centroid);
			}
		}
		pfree(lists);
		CHECK_FOR_INTERRUPTS();
	}
}

/* Write the chain of a new list, its entries coded for its centroid */
static void
write_half(Relation index, const SplitInput *in, SplitHalf *half)
{
	float	   *centroid = SpannRotate(SpannGetIndexInfo(index), SpannKeyElements(half->key));

	half->head = SpannWriteChain(index, in->rows, in->keys, half->order, half->n, centroid,
								 &half->tail);
	pfree(centroid);
}

/*
 * Split a list, if it is still the same list and still too long.  The
 * caller holds the split lock in share mode and no list lock.
 */
static void
split_list(Relation index, const SpannListRef *list, uint32 limit)
{
	const SpannIndexInfo *info = SpannGetIndexInfo(index);
	SplitInput	in;
	char	   *old_key;
	char	   *key1;
	char	   *key2;
	SplitHalf	half1,
				half2;

	SpannLock(index, list->head, ExclusiveLock);
	old_key = SpannReadCentroidKey(index, list->cblkno, list->coffset, list->head);
	if (old_key == NULL)
	{
		SpannUnlock(index, list->head, ExclusiveLock);
		return;					/* split by someone else meanwhile */
	}
	in.n = SpannReadList(index, list->head, &in.rows, &in.keys);
	if ((uint32) in.n <= limit || !two_centroids(info, &in, &key1, &key2))
	{
		if ((uint32) in.n > limit)
			postpone_split(index, list);
		SpannUnlock(index, list->head, ExclusiveLock);
		return;
	}

	half1.order = palloc(sizeof(int) * in.n);
	half2.order = palloc(sizeof(int) * in.n);
	divide_entries(index, &in, key1, key2, half1.order, &half1.n, half2.order, &half2.n);
	half1.key = centroid_key(info, key1, &in, half1.order, half1.n);
	half2.key = centroid_key(info, key2, &in, half2.order, half2.n);
	half1.radius = half_radius(info, &in, &half1);
	half2.radius = half_radius(info, &in, &half2);
	write_half(index, &in, &half1);
	write_half(index, &in, &half2);
	switch_lists(index, list, &half1, &half2);
	SpannUnlock(index, list->head, ExclusiveLock);
	SpannRetireChain(index, list->head);

	in.old_distances = palloc(sizeof(float) * in.n);
	for (int i = 0; i < in.n; i++)
	{
		const void *x = SpannKeyElements(in.keys + info->entry_keysize * i);
		float		d1 = AnnDistance(&info->dist, x, SpannKeyElements(half1.key), info->dimensions);
		float		d2 = AnnDistance(&info->dist, x, SpannKeyElements(half2.key), info->dimensions);
		float		old = AnnDistance(&info->dist, x, SpannKeyElements(old_key), info->dimensions);

		/* only entries that moved away from their centroid may belong elsewhere */
		in.old_distances[i] = Min(d1, d2) > old ? old : NAN;
	}
	reassign_entries(index, &in, half1.head, half2.head);
}

/* ---------------------------------------------------------------------
 * Inserts
 * ---------------------------------------------------------------------
 */

/*
 * The first list of an empty index, centred on the first key.  Its chain
 * is written before anything points at it, so this holds the split lock
 * (share), as a split does: VACUUM's sweep for unreachable pages (which
 * holds it exclusively) must not take the chain for a crash's leftover.
 */
static void
create_first_list(Relation index, const void *key)
{
	const SpannIndexInfo *info = SpannGetIndexInfo(index);
	SpannCentroidTuple tuple = palloc0(info->centroid_tuple_size);
	SpannMetaPage meta;
	AnnEdit		edit;

	SpannLock(index, SPANN_SPLIT_LOCK, ShareLock);
	tuple->head = SpannWriteChain(index, NULL, NULL, NULL, 0, NULL, &tuple->fill);
	SpannPutKey(index, info, false, tuple->key, key, InvalidBlockNumber);
	AnnEditBegin(&edit, index, false);
	meta = SpannEditMeta(&edit, index);
	if (meta->nlists == 0)
	{
		SpannAddFirstList(&edit, index, meta, tuple, key);
		meta->nlists = 1;
		meta->directory_version++;
		AnnEditFinish(&edit);
	}
	else
		AnnEditAbort(&edit);	/* another backend was first; VACUUM frees our chain */
	AnnEditUnlockRelease(&edit);
	SpannUnlock(index, SPANN_SPLIT_LOCK, ShareLock);
}

/*
 * Choose the lists for key (a whole prepared key; rotated: its rotated
 * elements) and append row to them; returns how many lists took it.
 * meta is the metapage as read before.  Lists that grew past their
 * limit are added to *to_split.
 */
static int
assign_and_append(Relation index, const SpannMetaPageData *meta, const char *key,
				  const float *rotated, const SpannRow *row, BlockNumber exclude_head,
				  SplitCandidate *to_split, int *nsplit)
{
	const SpannIndexInfo *info = SpannGetIndexInfo(index);
	SpannAssignOptions opts = SpannGetAssignOptions(index);
	int			nlists;
	SpannListRef *lists;
	int			ncandidates;
	const void **keys;
	int		   *chosen;
	int			nchosen;
	int			appended = 0;

	lists = SpannNearLists(index, SpannKeyElements(key), &nlists);
	for (int l = 0; l < nlists; l++)
		if (lists[l].head == exclude_head)
			lists[l--] = lists[--nlists];
	if (nlists == 0 && BlockNumberIsValid(exclude_head))
		elog(ERROR, "spann index \"%s\" has no list to move entries to",
			 RelationGetRelationName(index));
	if (nlists == 0)
		return 0;
	ncandidates = SpannClosureCandidates(info->dist.metric, lists, nlists, &opts);
	keys = palloc(sizeof(void *) * ncandidates);
	chosen = palloc(sizeof(int) * ncandidates);
	for (int i = 0; i < ncandidates; i++)
	{
		char	   *ckey = SpannReadCentroidKey(index, lists[i].cblkno, lists[i].coffset,
												lists[i].head);

		if (ckey == NULL)
			return 0;			/* the directory changed: start again */
		keys[i] = SpannKeyElements(ckey);
	}
	nchosen = SpannChooseLists(&info->dist, info->dimensions, lists, ncandidates, keys, &opts,
							   chosen);
	for (int i = 0; i < nchosen; i++)
	{
		const SpannListRef *list = &lists[chosen[i]];
		float	   *centroid = SpannRotate(info, keys[chosen[i]]);
		SpannEntryTuple entry = SpannMakeEntry(info, row, key, rotated, centroid);
		uint32		split_at;
		int			count = append_locked(index, list, entry, key, &split_at);
		uint32		limit;

		pfree(entry);
		pfree(centroid);
		if (count < 0)
			continue;
		appended++;
		limit = SpannSplitLimit(index, meta, (uint32) count, split_at);
		if ((uint32) count > limit)
		{
			to_split[*nsplit].list = *list;
			to_split[*nsplit].limit = limit;
			(*nsplit)++;
		}
	}
	return appended;
}

/*
 * Every change of a list's head bumps the directory version in the same
 * record, so two attempts that found none of their lists, with no change
 * between them, mean the directory and the centroid pages disagree.
 */
static void
directory_mismatch(Relation index)
{
	ereport(ERROR,
			(errcode(ERRCODE_INDEX_CORRUPTED),
			 errmsg("spann index \"%s\" is corrupted: its directory names lists its centroid pages do not hold",
					RelationGetRelationName(index)),
			 errhint("REINDEX the index.")));
}

/*
 * Insert one prepared key of a row whose vector is stored.  exclude_head
 * names a list the key must not go to (VACUUM moving the entries of a
 * list it merges away), or is InvalidBlockNumber.
 */
void
SpannInsertKey(Relation index, const char *key, const SpannRow *row, BlockNumber exclude_head)
{
	SplitCandidate to_split[SPANN_MAX_REPLICAS];
	int			nsplit = 0;
	bool		failed_before = false;
	uint32		failed_version = 0;
	float	   *rotated = SpannRotate(SpannGetIndexInfo(index), SpannKeyElements(key));

	for (;;)
	{
		SpannMetaPageData meta;

		SpannReadMeta(index, &meta);
		if (assign_and_append(index, &meta, key, rotated, row, exclude_head, to_split, &nsplit) > 0)
			break;
		if (meta.nlists == 0)
			create_first_list(index, key);
		else if (failed_before && failed_version == meta.directory_version)
			directory_mismatch(index);
		failed_before = true;
		failed_version = meta.directory_version;
		CHECK_FOR_INTERRUPTS();
	}

	/*
	 * VACUUM's merges, the only callers that exclude a list, hold the split
	 * lock exclusively, which does not conflict with our own share lock: a
	 * split now would replace lists under VACUUM.  Their long lists are
	 * split by a later insert.
	 */
	if (BlockNumberIsValid(exclude_head))
		return;
	if (nsplit > 0 && SpannConditionalLock(index, SPANN_SPLIT_LOCK, ShareLock))
	{
		for (int i = 0; i < nsplit; i++)
			split_list(index, &to_split[i].list, to_split[i].limit);
		SpannUnlock(index, SPANN_SPLIT_LOCK, ShareLock);
	}
}

bool
spanninsert(Relation index, Datum *values, bool *isnull, ItemPointer heap_tid,
			Relation heap, IndexUniqueCheck checkUnique, bool indexUnchanged,
			IndexInfo *indexInfo)
{
	const SpannIndexInfo *info;
	MemoryContext cxt;
	MemoryContext old;
	Datum		key;
	bool		usable;
	int			dim;

	if (isnull[0])
		return false;
	cxt = AllocSetContextCreate(CurrentMemoryContext, "Spann insert context",
								ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(cxt);
	info = SpannGetIndexInfo(index);
	key = AnnPrepareKey(&info->dist, values[0], &usable);
	if (usable)
	{
		SpannRow	row;

		AnnKeyElements(&info->dist, key, &dim);
		AnnCheckDimensions(info->dimensions, dim);
		key = AnnFilterComposeKey(&info->filters, key, info->keysize, values, isnull);
		row.heaptid = *heap_tid;
		SpannStoreVector(index, &row, DatumGetPointer(key));
		SpannInsertKey(index, DatumGetPointer(key), &row, InvalidBlockNumber);
	}
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
	return false;
}
