/*
 * spanndirectory.c
 *		The centroid directory: groups of lists, a backend's copy of it,
 *		and the searches of scans and inserts through it.
 *
 * A build clusters the centroids of its lists into about sqrt(lists)
 * groups.  Group tuples sit in a chain of group pages that starts at the
 * metapage; each group owns a chain of centroid pages holding the
 * centroid tuples of its lists.  A split puts its new list in the group
 * of the list it split; groups are never removed.
 *
 * A search (SpannNavigate) computes the query's distance to every group
 * and sorts the groups; SpannOpenGroups then opens the nearest ones a few
 * at a time, computing the distances to their lists only.  With L lists
 * in sqrt(L) groups, opening g groups costs about (g + 1) * sqrt(L)
 * distances instead of L: this is what keeps scans of indexes with very
 * many lists cheap.  When g reaches the number of groups, the search is
 * exhaustive.
 *
 * A backend keeps a copy of an index's directory (every group and list
 * with its key) unless it would exceed spann.directory_cache; then
 * searches read the group pages and the centroid pages of the groups
 * they open.  A copy is valid for the index's build (stamp) and
 * directory version, both in the metapage; every change of the lists
 * bumps the version.  Groups keep their place in the chain for the life
 * of a build, so a search may open groups from a newer copy than the one
 * it sorted.
 */
#include "postgres.h"

#include <math.h>

#include "storage/bufmgr.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/memutils.h"

#include "spann.h"

/* A growing array of lists, with their keys when keys is not NULL */
typedef struct SpannListSet
{
	SpannListRef *lists;
	char	   *keys;
	int			n;
	int			capacity;
} SpannListSet;

typedef struct SpannDirectory
{
	Oid			index;			/* hash key */
	MemoryContext cxt;			/* holds everything below */
	Size		size;			/* bytes of keys it holds, for the bound */
	uint64		stamp;
	uint32		version;
	int			ngroups;
	SpannGroupRef *groups;		/* distances unset */
	char	   *group_keys;		/* ngroups whole keys */
	int		   *group_start;	/* group g has lists[group_start[g] .. group_start[g + 1]) */
	SpannListSet lists;			/* every live list, group by group, with keys */
	float	  **rotated;		/* each list's rotated centroid, once computed */
} SpannDirectory;

/* The backend's copies, by index OID; NULL until the first is made */
static HTAB *directories = NULL;

/*
 * The group tuple at offno of a group page (block blkno); anything else
 * there raises INDEX_CORRUPTED.
 */
SpannGroupTuple
SpannPageGetGroup(Relation index, BlockNumber blkno, Page page, OffsetNumber offno)
{
	const SpannIndexInfo *info = SpannGetIndexInfo(index);

	AnnCheckPage(index, blkno, page, ANN_SPANN_PAGE_ID, SPANN_PAGE_GROUPS);
	return (SpannGroupTuple) AnnPageGetItemChecked(index, blkno, page, offno,
												   info->group_tuple_size);
}

/* ---------------------------------------------------------------------
 * Reading the pages
 * ---------------------------------------------------------------------
 */

/* An empty set in cxt, with room for keys of keysize bytes unless that is 0 */
static void
list_set_init(SpannListSet *set, MemoryContext cxt, Size keysize, int capacity)
{
	set->n = 0;
	set->capacity = Max(capacity, 16);
	set->lists = MemoryContextAllocHuge(cxt, sizeof(SpannListRef) * set->capacity);
	set->keys = keysize > 0 ? MemoryContextAllocHuge(cxt, keysize * set->capacity) : NULL;
}

/* Room for one more list (and its key, of keysize bytes, if the set keeps keys) */
static void
list_set_reserve(SpannListSet *set, Size keysize, int more)
{
	if (set->n + more <= set->capacity)
		return;
	set->capacity = Max(set->capacity * 2, set->n + more);
	set->lists = repalloc_huge(set->lists, sizeof(SpannListRef) * set->capacity);
	if (set->keys != NULL)
		set->keys = repalloc_huge(set->keys, keysize * set->capacity);
}

/*
 * Append the live lists of one group, read from its centroid pages, to
 * set, which keeps their keys.  Distances are left 0.
 */
static void
read_group_lists(Relation index, const SpannGroupRef *group, SpannListSet *set)
{
	const SpannIndexInfo *info = SpannGetIndexInfo(index);
	Buffer		buffer = ReadBuffer(index, group->gblkno);
	SpannChainWalk walk;
	Page		page;

	LockBuffer(buffer, BUFFER_LOCK_SHARE);
	SpannChainBegin(&walk, index,
					SpannPageGetGroup(index, group->gblkno, BufferGetPage(buffer), group->goffset)->head,
					SPANN_PAGE_CENTROIDS);
	UnlockReleaseBuffer(buffer);
	while ((page = SpannChainNext(&walk)) != NULL)
	{
		OffsetNumber maxoff = PageGetMaxOffsetNumber(page);

		list_set_reserve(set, info->keysize, maxoff);
		for (OffsetNumber off = FirstOffsetNumber; off <= maxoff; off++)
		{
			SpannCentroidTuple c = (SpannCentroidTuple)
				AnnPageGetItemChecked(index, walk.blkno, page, off, info->centroid_tuple_size);
			SpannListRef *list = &set->lists[set->n];

			if (!BlockNumberIsValid(c->head))
				continue;
			list->distance = 0;
			list->radius = c->radius;
			list->bound = 0;
			list->head = c->head;
			list->cblkno = walk.blkno;
			list->coffset = off;
			list->gblkno = group->gblkno;
			list->goffset = group->goffset;
			list->ordinal = set->n;
			SpannCopyKey(index, info, c->key, set->keys + info->keysize * set->n);
			set->n++;
		}
	}
}

/*
 * Every group of the index, in chain order, into *groups and their keys
 * into *keys, both allocated in cxt.  Returns how many.
 */
static int
read_groups(Relation index, const SpannMetaPageData *meta, MemoryContext cxt,
			SpannGroupRef **groups, char **keys)
{
	const SpannIndexInfo *info = SpannGetIndexInfo(index);
	int			capacity = Max(meta->ngroups, 1);
	int			n = 0;
	SpannChainWalk walk;
	Page		page;

	*groups = MemoryContextAlloc(cxt, sizeof(SpannGroupRef) * capacity);
	*keys = MemoryContextAllocHuge(cxt, info->keysize * capacity);
	SpannChainBegin(&walk, index, meta->group_head, SPANN_PAGE_GROUPS);
	while ((page = SpannChainNext(&walk)) != NULL)
	{
		OffsetNumber maxoff = PageGetMaxOffsetNumber(page);

		if (n + maxoff > capacity)
		{
			capacity = Max(capacity * 2, n + maxoff);
			*groups = repalloc(*groups, sizeof(SpannGroupRef) * capacity);
			*keys = repalloc_huge(*keys, info->keysize * capacity);
		}
		for (OffsetNumber off = FirstOffsetNumber; off <= maxoff; off++)
		{
			SpannGroupTuple g = (SpannGroupTuple)
				AnnPageGetItemChecked(index, walk.blkno, page, off, info->group_tuple_size);

			(*groups)[n].distance = 0;
			(*groups)[n].gblkno = walk.blkno;
			(*groups)[n].goffset = off;
			(*groups)[n].ordinal = n;
			SpannCopyKey(index, info, g->key, *keys + info->keysize * n);
			n++;
		}
	}
	return n;
}

/* ---------------------------------------------------------------------
 * The backend's copy
 * ---------------------------------------------------------------------
 */

/* Read every group and list into dir, in dir->cxt */
static void
read_directory(Relation index, const SpannMetaPageData *meta, SpannDirectory *dir)
{
	const SpannIndexInfo *info = SpannGetIndexInfo(index);

	dir->ngroups = read_groups(index, meta, dir->cxt, &dir->groups, &dir->group_keys);
	dir->group_start = MemoryContextAlloc(dir->cxt, sizeof(int) * (dir->ngroups + 1));
	list_set_init(&dir->lists, dir->cxt, info->keysize, meta->nlists);
	for (int g = 0; g < dir->ngroups; g++)
	{
		dir->group_start[g] = dir->lists.n;
		read_group_lists(index, &dir->groups[g], &dir->lists);
	}
	dir->group_start[dir->ngroups] = dir->lists.n;
	dir->rotated = MemoryContextAllocZero(dir->cxt, sizeof(float *) * Max(dir->lists.n, 1));
}

/* Forget the copy of one index */
static void
drop_directory(SpannDirectory *dir)
{
	Oid			index = dir->index;

	MemoryContextDelete(dir->cxt);
	hash_search(directories, &index, HASH_REMOVE, NULL);
}

/* Forget every copy but keep's, if it is set */
static void
drop_directories_but(Oid keep)
{
	HASH_SEQ_STATUS status;
	SpannDirectory *dir;

	hash_seq_init(&status, directories);
	while ((dir = hash_seq_search(&status)) != NULL)
		if (dir->index != keep)
			drop_directory(dir);
}

/*
 * Relcache invalidation: an index dropped, rebuilt or altered loses its
 * copy (relid InvalidOid: every index).  Copies are also checked against
 * the metapage before each use, so this is about memory, not staleness.
 */
static void
invalidate_directory(Datum arg, Oid relid)
{
	SpannDirectory *dir;

	if (!OidIsValid(relid))
		drop_directories_but(InvalidOid);
	else if ((dir = hash_search(directories, &relid, HASH_FIND, NULL)) != NULL)
		drop_directory(dir);
}

/* Bytes of keys the copies hold, all indexes together */
static Size
directories_size(void)
{
	HASH_SEQ_STATUS status;
	SpannDirectory *dir;
	Size		total = 0;

	hash_seq_init(&status, directories);
	while ((dir = hash_seq_search(&status)) != NULL)
		total += dir->size;
	return total;
}

/*
 * The backend's current copy of the index's directory, or NULL when it
 * would be larger than spann.directory_cache.  The copies of all indexes
 * together stay within that: a new copy that would not fit drops the
 * others.
 */
static SpannDirectory *
current_directory(Relation index)
{
	const SpannIndexInfo *info = SpannGetIndexInfo(index);
	Oid			relid = RelationGetRelid(index);
	SpannMetaPageData meta;
	SpannDirectory *dir;
	Size		size;
	bool		found;

	SpannReadMeta(index, &meta);
	/* keys, and room for the lists' rotated centroids */
	size = (Size) (meta.nlists + meta.ngroups) * info->keysize +
		(Size) meta.nlists * sizeof(float) * info->padded;
	if ((double) size > spann_directory_cache * 1024.0)
		return NULL;
	if (directories == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(SpannDirectory);
		ctl.hcxt = CacheMemoryContext;
		directories = hash_create("spann directories", 16, &ctl,
								  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		CacheRegisterRelcacheCallback(invalidate_directory, (Datum) 0);
	}
	dir = hash_search(directories, &relid, HASH_FIND, NULL);
	if (dir != NULL && dir->stamp == meta.stamp && dir->version == meta.directory_version)
		return dir;
	if (dir != NULL)
		drop_directory(dir);
	if ((double) (directories_size() + size) > spann_directory_cache * 1024.0)
		drop_directories_but(InvalidOid);

	dir = hash_search(directories, &relid, HASH_ENTER, &found);
	dir->cxt = AllocSetContextCreate(CacheMemoryContext, "Spann directory copy",
									 ALLOCSET_DEFAULT_SIZES);
	dir->size = size;
	dir->stamp = meta.stamp;
	dir->version = meta.directory_version;
	PG_TRY();
	{
		read_directory(index, &meta, dir);
	}
	PG_CATCH();
	{
		drop_directory(dir);
		PG_RE_THROW();
	}
	PG_END_TRY();
	return dir;
}

/* ---------------------------------------------------------------------
 * Searches
 * ---------------------------------------------------------------------
 */

static int
compare_groups(const void *a, const void *b)
{
	const SpannGroupRef *ga = a;
	const SpannGroupRef *gb = b;

	if (ga->distance != gb->distance)
		return ga->distance < gb->distance ? -1 : 1;
	return (ga->ordinal > gb->ordinal) - (ga->ordinal < gb->ordinal);
}

/* Nearest first; ties by place in the chain. */
void
SpannSortGroups(SpannGroupRef *groups, int n)
{
	qsort(groups, n, sizeof(SpannGroupRef), compare_groups);
}

static int
compare_lists(const void *a, const void *b)
{
	const SpannListRef *la = a;
	const SpannListRef *lb = b;

	if (la->distance != lb->distance)
		return la->distance < lb->distance ? -1 : 1;
	return la->head < lb->head ? -1 : la->head > lb->head;
}

/*
 * Move the k nearest of the n lists to the front, nearest first (ties by
 * head block, so the order is deterministic); the others follow in no
 * order.  A search that probes a few of a thousand lists needs no more.
 */
void
SpannSelectNearestLists(SpannListRef *lists, int n, int k)
{
	AnnSelectSmallest(lists, n, k, sizeof(SpannListRef), compare_lists);
}

static int
compare_bounds(const void *a, const void *b)
{
	const SpannListRef *la = a;
	const SpannListRef *lb = b;

	if (la->bound != lb->bound)
		return la->bound < lb->bound ? -1 : 1;
	return compare_lists(a, b);
}

/* Lowest bound first; ties by distance, then head block. */
void
SpannSortListsByBound(SpannListRef *lists, int n)
{
	qsort(lists, n, sizeof(SpannListRef), compare_bounds);
}

/* The query's distance to a stored key, or 0 without a query */
static float
key_distance(const SpannIndexInfo *info, const void *query, const char *key)
{
	if (query == NULL)
		return 0;
	return AnnDistance(&info->dist, query, SpannKeyElements(key), info->dimensions);
}

/*
 * Start a search of the centroids for query (NULL: no order): every
 * group's distance, nearest first, none opened yet.  With bounds, the
 * lists opened get lower bounds of the query's distance to their entries
 * (SpannLowerBound).  nav's arrays are palloc'd.
 */
void
SpannNavigate(Relation index, const void *query, bool bounds, SpannNavigation *nav)
{
	const SpannIndexInfo *info = SpannGetIndexInfo(index);
	SpannDirectory *dir = current_directory(index);
	char	   *keys;

	if (dir != NULL)
	{
		nav->ngroups = dir->ngroups;
		nav->groups = palloc(sizeof(SpannGroupRef) * Max(dir->ngroups, 1));
		memcpy(nav->groups, dir->groups, sizeof(SpannGroupRef) * dir->ngroups);
		keys = dir->group_keys;
	}
	else
	{
		SpannMetaPageData meta;

		SpannReadMeta(index, &meta);
		nav->ngroups = read_groups(index, &meta, CurrentMemoryContext, &nav->groups, &keys);
	}
	for (int g = 0; g < nav->ngroups; g++)
		nav->groups[g].distance = key_distance(info, query,
											   keys + info->keysize * nav->groups[g].ordinal);
	if (dir == NULL)
		pfree(keys);
	if (query != NULL)
		SpannSortGroups(nav->groups, nav->ngroups);
	nav->query = query;
	nav->bounds = bounds && query != NULL;
	/* the inner-product bounds need the query's length: the kernel's <q, q> */
	nav->query_norm = nav->bounds && (info->dist.metric == ANN_METRIC_IP ||
									  info->dist.metric == ANN_METRIC_COSINE) ?
		sqrtf(Max(info->dist.kernel(query, query, info->dimensions), 0.0f)) : 0;
	nav->next_group = 0;
}

/*
 * Append the lists given with their keys to set, with the query's
 * distances.  Lists of the directory copy keep their ordinal there (where
 * SpannListRotatedCentroid finds their rotated centroids); lists read
 * from the pages get -1.
 */
static void
add_lists(const SpannIndexInfo *info, const SpannNavigation *nav, SpannListSet *set,
		  const SpannListRef *lists, const char *keys, int n, bool from_directory)
{
	list_set_reserve(set, 0, n);
	for (int i = 0; i < n; i++)
	{
		SpannListRef *list = &set->lists[set->n];
		const char *key = keys + info->keysize * i;

		*list = lists[i];
		list->distance = key_distance(info, nav->query, key);
		if (nav->bounds)
			list->bound = SpannLowerBound(info, nav, list->distance, list->radius,
										  SpannKeyElements(key));
		if (!from_directory)
			list->ordinal = -1;
		set->n++;
	}
}

/*
 * Open the next ngroups groups of a search (all that are left if ngroups
 * is 0 or less): a palloc'd array of their live lists with the query's
 * distances, in no particular order, and its length in *nlists.
 */
SpannListRef *
SpannOpenGroups(Relation index, SpannNavigation *nav, int ngroups, int *nlists)
{
	const SpannIndexInfo *info = SpannGetIndexInfo(index);
	SpannDirectory *dir = current_directory(index);
	int			end = ngroups <= 0 ? nav->ngroups : Min(nav->ngroups, nav->next_group + ngroups);
	SpannListSet set;

	list_set_init(&set, CurrentMemoryContext, 0, 64);
	for (; nav->next_group < end; nav->next_group++)
	{
		const SpannGroupRef *group = &nav->groups[nav->next_group];

		if (dir != NULL && group->ordinal < dir->ngroups &&
			dir->groups[group->ordinal].gblkno == group->gblkno &&
			dir->groups[group->ordinal].goffset == group->goffset)
		{
			int			first = dir->group_start[group->ordinal];

			add_lists(info, nav, &set, dir->lists.lists + first,
					  dir->lists.keys + info->keysize * first,
					  dir->group_start[group->ordinal + 1] - first, true);
		}
		else
		{
			SpannListSet read;

			list_set_init(&read, CurrentMemoryContext, info->keysize, 64);
			read_group_lists(index, group, &read);
			add_lists(info, nav, &set, read.lists, read.keys, read.n, false);
			pfree(read.lists);
			pfree(read.keys);
		}
	}
	*nlists = set.n;
	return set.lists;
}

/*
 * The rotated centroid of list into out (padded floats), or false if the
 * list is gone.  A current directory copy that holds the list keeps its
 * rotated centroid once computed; otherwise the centroid is read from the
 * list's slot.
 */
bool
SpannListRotatedCentroid(Relation index, const SpannListRef *list, float *out)
{
	const SpannIndexInfo *info = SpannGetIndexInfo(index);
	SpannDirectory *dir = current_directory(index);
	float	   *rotated;

	if (dir != NULL && list->ordinal >= 0 && list->ordinal < dir->lists.n &&
		dir->lists.lists[list->ordinal].head == list->head &&
		dir->lists.lists[list->ordinal].cblkno == list->cblkno &&
		dir->lists.lists[list->ordinal].coffset == list->coffset)
	{
		if (dir->rotated[list->ordinal] == NULL)
		{
			MemoryContext old = MemoryContextSwitchTo(dir->cxt);

			dir->rotated[list->ordinal] =
				SpannRotate(info, SpannKeyElements(dir->lists.keys + info->keysize * list->ordinal));
			MemoryContextSwitchTo(old);
		}
		memcpy(out, dir->rotated[list->ordinal], sizeof(float) * info->padded);
		return true;
	}
	rotated = SpannRotatedCentroid(index, list);
	if (rotated == NULL)
		return false;
	memcpy(out, rotated, sizeof(float) * info->padded);
	pfree(rotated);
	return true;
}

/*
 * The lists an insert chooses among for a key: those of the
 * SPANN_ASSIGN_GROUPS groups nearest to it, with distances, or of
 * the nearest groups after them that hold any list when those hold none
 * (merges can empty a group).  None only when the index has no list.
 */
SpannListRef *
SpannNearLists(Relation index, const void *query, int *nlists)
{
	SpannNavigation nav;
	SpannListRef *lists;

	SpannNavigate(index, query, false, &nav);
	lists = SpannOpenGroups(index, &nav, SPANN_ASSIGN_GROUPS, nlists);
	while (*nlists == 0 && nav.next_group < nav.ngroups)
	{
		pfree(lists);
		lists = SpannOpenGroups(index, &nav, SPANN_ASSIGN_GROUPS, nlists);
	}
	pfree(nav.groups);
	return lists;
}

/* Every live list, distances 0, group by group */
SpannListRef *
SpannAllLists(Relation index, int *nlists)
{
	SpannNavigation nav;
	SpannListRef *lists;

	SpannNavigate(index, NULL, false, &nav);
	lists = SpannOpenGroups(index, &nav, 0, nlists);
	pfree(nav.groups);
	return lists;
}

/*
 * Every group page and centroid page of the index: a palloc'd array of
 * block numbers, and its length in *npages.
 */
BlockNumber *
SpannCentroidPages(Relation index, int *npages)
{
	SpannMetaPageData meta;
	int			capacity = 64;
	int			n = 0;
	BlockNumber *pages = palloc(sizeof(BlockNumber) * capacity);
	BlockNumber *chain_heads;
	int			nheads = 0;

	SpannReadMeta(index, &meta);
	chain_heads = palloc(sizeof(BlockNumber) * (meta.ngroups + 1));
	chain_heads[nheads++] = meta.group_head;
	for (int h = 0; h < nheads; h++)
	{
		SpannChainWalk walk;
		Page		page;

		SpannChainBegin(&walk, index, chain_heads[h], h == 0 ? SPANN_PAGE_GROUPS : SPANN_PAGE_CENTROIDS);
		while ((page = SpannChainNext(&walk)) != NULL)
		{
			if (n == capacity)
			{
				capacity *= 2;
				pages = repalloc_huge(pages, sizeof(BlockNumber) * capacity);
			}
			pages[n++] = walk.blkno;
			/* the groups' centroid chains are walked after the group chain */
			if (h == 0)
				for (OffsetNumber off = FirstOffsetNumber;
					 off <= PageGetMaxOffsetNumber(page) && nheads <= (int) meta.ngroups; off++)
					chain_heads[nheads++] = SpannPageGetGroup(index, walk.blkno, page, off)->head;
		}
	}
	pfree(chain_heads);
	*npages = n;
	return pages;
}

/* ---------------------------------------------------------------------
 * Adding lists
 * ---------------------------------------------------------------------
 */

/*
 * Add a centroid tuple to the last centroid page of a group (gpage, its
 * page, locked and registered in edit), or to a new page linked after it.
 */
static OffsetNumber
add_to_group(AnnEdit *edit, Relation index, BlockNumber gblkno, Page gpage, OffsetNumber goffset,
			 SpannCentroidTuple tuple, BlockNumber *cblkno)
{
	const SpannIndexInfo *info = SpannGetIndexInfo(index);
	Size		size = info->centroid_tuple_size;
	SpannGroupTuple group = SpannPageGetGroup(index, gblkno, gpage, goffset);
	Buffer		buffer = InvalidBuffer;
	Page		page = NULL;
	OffsetNumber offno;

	if (BlockNumberIsValid(group->tail))
	{
		buffer = ReadBuffer(index, group->tail);
		LockBuffer(buffer, BUFFER_LOCK_EXCLUSIVE);
		page = AnnEditRegister(edit, buffer, false);
	}
	if (page == NULL || PageGetFreeSpace(page) < size)
	{
		Buffer		newbuf = AnnNewBuffer(index, MAIN_FORKNUM);
		Page		newpage = AnnEditRegister(edit, newbuf, true);

		AnnInitPage(newpage, ANN_SPANN_PAGE_ID, SPANN_PAGE_CENTROIDS);
		if (page != NULL)
			AnnPageGetOpaque(page)->nextblkno = BufferGetBlockNumber(newbuf);
		else
			group->head = BufferGetBlockNumber(newbuf);
		group->tail = BufferGetBlockNumber(newbuf);
		page = newpage;
		buffer = newbuf;
	}
	offno = PageAddItem(page, (Item) tuple, size, InvalidOffsetNumber, false, false);
	if (offno == InvalidOffsetNumber)
		elog(ERROR, "failed to add centroid to spann index \"%s\"",
			 RelationGetRelationName(index));
	*cblkno = BufferGetBlockNumber(buffer);
	return offno;
}

/*
 * Add a centroid tuple to the group at (gblkno, goffset).  The caller
 * holds the metapage exclusively locked (only one backend adds
 * centroids at a time); the group page and the centroid pages this
 * locks stay registered in edit: at most three.  Returns the tuple's
 * offset and its page in *cblkno.
 */
OffsetNumber
SpannAddCentroid(AnnEdit *edit, Relation index, BlockNumber gblkno, OffsetNumber goffset,
				 SpannCentroidTuple tuple, BlockNumber *cblkno)
{
	Buffer		gbuffer = ReadBuffer(index, gblkno);

	LockBuffer(gbuffer, BUFFER_LOCK_EXCLUSIVE);
	return add_to_group(edit, index, gblkno, AnnEditRegister(edit, gbuffer, false), goffset,
						tuple, cblkno);
}

/*
 * Add the first list of an index that has none (key: its centroid's
 * key).  It goes to the first group, created around its centroid when
 * the index has no group (it has none unless a build made some).  The
 * caller holds the metapage exclusively locked and registered in edit.
 */
void
SpannAddFirstList(AnnEdit *edit, Relation index, SpannMetaPage meta, SpannCentroidTuple tuple,
				  const char *key)
{
	const SpannIndexInfo *info = SpannGetIndexInfo(index);
	BlockNumber cblkno;

	if (meta->ngroups == 0)
	{
		Size		size = info->group_tuple_size;
		SpannGroupTuple group = palloc0(size);
		Buffer		gbuffer;
		Page		gpage;

		group->head = group->tail = InvalidBlockNumber;
		/* a long key's chain is written in records of its own, before the group */
		SpannPutKey(index, info, false, group->key, key, InvalidBlockNumber);
		gbuffer = AnnNewBuffer(index, MAIN_FORKNUM);
		gpage = AnnEditRegister(edit, gbuffer, true);
		AnnInitPage(gpage, ANN_SPANN_PAGE_ID, SPANN_PAGE_GROUPS);
		if (PageAddItem(gpage, (Item) group, size, FirstOffsetNumber, false, false) !=
			FirstOffsetNumber)
			elog(ERROR, "failed to add group to spann index \"%s\"",
				 RelationGetRelationName(index));
		meta->group_head = meta->group_tail = BufferGetBlockNumber(gbuffer);
		meta->ngroups = 1;
		add_to_group(edit, index, BufferGetBlockNumber(gbuffer), gpage, FirstOffsetNumber, tuple,
					 &cblkno);
		pfree(group);
	}
	else
		SpannAddCentroid(edit, index, meta->group_head, FirstOffsetNumber, tuple, &cblkno);
}
