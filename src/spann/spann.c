/*
 * spann.c
 *		The spann access method handler: reloptions, GUCs, costs, and the
 *		spann_index_stats() function.
 *
 * pgvector has no spann; names follow its ivfflat vocabulary under
 * "spann." (probes, iterative_scan, max_probes).
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "access/htup_details.h"
#include "access/reloptions.h"
#include "commands/defrem.h"
#include "commands/progress.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "spann.h"

int			spann_probes = SPANN_DEFAULT_PROBES;
int			spann_iterative_scan = SPANN_ITERATIVE_RELAXED;
int			spann_max_probes = -1;
int			spann_group_probes = SPANN_DEFAULT_GROUP_PROBES;
int			spann_directory_cache = SPANN_DEFAULT_DIRECTORY_CACHE;
double		spann_scan_mem_multiplier = 1.0;

static const struct config_enum_entry iterative_scan_options[] = {
	{"off", SPANN_ITERATIVE_OFF, false},
	{"relaxed_order", SPANN_ITERATIVE_RELAXED, false},
	{"strict_order", SPANN_ITERATIVE_STRICT, false},
	{NULL, 0, false}
};

static relopt_kind spann_relopt_kind;

/* Register reloptions and GUCs; called from _PG_init. */
void
SpannInit(void)
{
	spann_relopt_kind = add_reloption_kind();
	add_int_reloption(spann_relopt_kind, "lists",
					  "Number of posting lists (0: derived from the row count)",
					  SPANN_DEFAULT_LISTS, 0, SPANN_MAX_LISTS, AccessExclusiveLock);
	add_real_reloption(spann_relopt_kind, "epsilon",
					   "How much farther than the nearest list a vector's other lists may be",
					   SPANN_DEFAULT_EPSILON, 0.0, SPANN_MAX_EPSILON, AccessExclusiveLock);
	add_int_reloption(spann_relopt_kind, "replicas",
					  "Most posting lists one vector is written to",
					  SPANN_DEFAULT_REPLICAS, 1, SPANN_MAX_REPLICAS, AccessExclusiveLock);
	add_int_reloption(spann_relopt_kind, "code_bits",
					  "Bits per dimension of the codes in posting lists (0: by the dimensions)",
					  SPANN_AUTO_CODE_BITS, 0, ANN_CODE_MAX_BITS, AccessExclusiveLock);

	DefineCustomIntVariable("spann.probes",
							"Sets the number of lists a scan probes before it returns rows",
							"All lists when the index has fewer; iterative scans probe more "
							"as they need them.",
							&spann_probes, SPANN_DEFAULT_PROBES, 1, SPANN_MAX_PROBES,
							PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomEnumVariable("spann.iterative_scan",
							 "Sets whether a scan probes more lists when more rows are wanted",
							 "strict_order returns rows in exact distance order, relaxed_order "
							 "may return a few out of order, off stops after the first lists.",
							 &spann_iterative_scan, SPANN_ITERATIVE_RELAXED, iterative_scan_options,
							 PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("spann.group_probes",
							"Sets how many groups of centroids a scan searches at a time",
							"The lists' centroids are grouped by nearness, about sqrt(lists) "
							"groups; 0 means all groups.",
							&spann_group_probes, SPANN_DEFAULT_GROUP_PROBES, 0, SPANN_MAX_LISTS,
							PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("spann.directory_cache",
							"Sets the largest centroid directory a backend keeps a copy of",
							"Scans read larger directories from the index pages; 0 keeps none.",
							&spann_directory_cache, SPANN_DEFAULT_DIRECTORY_CACHE, 0, MAX_KILOBYTES,
							PGC_USERSET, GUC_UNIT_KB, NULL, NULL, NULL);
	DefineCustomIntVariable("spann.max_probes",
							"Sets the most lists an iterative scan probes in all",
							"-1 means no limit.",
							&spann_max_probes, -1, -1, SPANN_MAX_LISTS,
							PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomRealVariable("spann.scan_mem_multiplier",
							 "Sets the multiple of work_mem a scan may use",
							 "Once the rows a scan holds take this much memory, relaxed_order "
							 "probes no more lists, and strict_order keeps the nearest and "
							 "reads the lists again later for the others.",
							 &spann_scan_mem_multiplier, 1.0, 1.0, 1000.0,
							 PGC_USERSET, 0, NULL, NULL, NULL);
	MarkGUCPrefixReserved("spann");
}

static SpannOptions *
get_options(Relation index)
{
	return (SpannOptions *) index->rd_options;
}

/* The scan GUCs of index's access method */
void
SpannGetScanSettings(Relation index, SpannScanSettings *settings)
{
	if (IvfflatScanSettings(index, settings))
		return;
	settings->prefix = "spann";
	settings->max_probes_hint = "Raise spann.max_probes, or set it to -1 for no limit.";
	settings->probes = spann_probes;
	settings->iterative = spann_iterative_scan;
	settings->max_probes = spann_max_probes;
}

/* The name of index's access method, for messages: spann or ivfflat */
const char *
SpannAmName(Relation index)
{
	SpannScanSettings settings;

	return IvfflatScanSettings(index, &settings) ? "ivfflat" : "spann";
}

int
SpannGetLists(Relation index)
{
	SpannOptions *opts = get_options(index);

	return opts != NULL ? opts->lists : SPANN_DEFAULT_LISTS;
}

/*
 * Bits per dimension of the codes a build of index, whose keys have
 * dimensions, makes: the code_bits reloption, or when it is 0, the rule
 * of SPANN_AUTO_CODE_BITS
 */
int
SpannCodeBits(Relation index, int dimensions)
{
	SpannOptions *opts = get_options(index);
	int			bits = opts != NULL ? opts->code_bits : SPANN_AUTO_CODE_BITS;

	if (bits != SPANN_AUTO_CODE_BITS)
		return bits;
	return dimensions <= SPANN_WIDE_CODE_DIMS ? SPANN_WIDE_CODE_BITS : SPANN_NARROW_CODE_BITS;
}

SpannAssignOptions
SpannGetAssignOptions(Relation index)
{
	SpannOptions *opts = get_options(index);
	SpannAssignOptions result = {SPANN_DEFAULT_EPSILON, SPANN_DEFAULT_REPLICAS};

	if (opts != NULL)
	{
		result.epsilon = opts->epsilon;
		result.replicas = opts->replicas;
	}
	return result;
}

static bytea *
spannoptions(Datum reloptions, bool validate)
{
	static const relopt_parse_elt tab[] = {
		{"lists", RELOPT_TYPE_INT, offsetof(SpannOptions, lists)},
		{"epsilon", RELOPT_TYPE_REAL, offsetof(SpannOptions, epsilon)},
		{"replicas", RELOPT_TYPE_INT, offsetof(SpannOptions, replicas)},
		{"code_bits", RELOPT_TYPE_INT, offsetof(SpannOptions, code_bits)},
	};

	return (bytea *) build_reloptions(reloptions, validate, spann_relopt_kind,
									  sizeof(SpannOptions), tab, lengthof(tab));
}

static char *
spannbuildphasename(int64 phasenum)
{
	switch (phasenum)
	{
		case PROGRESS_CREATEIDX_SUBPHASE_INITIALIZE:
			return "initializing";
		case SPANN_PHASE_SAMPLE:
			return "sampling table";
		case SPANN_PHASE_CLUSTER:
			return "clustering";
		case SPANN_PHASE_ASSIGN:
			return "assigning rows to lists";
		default:
			return NULL;
	}
}

/* Lists of an index built on rows rows without the lists option */
int
SpannDefaultLists(double rows)
{
	return (int) Min(SPANN_MAX_LISTS, Max(1.0, 4.0 * sqrt(rows)));
}

/* Lists wanted for a table of rows: the lists option, else the default */
int
SpannListsWanted(Relation index, double rows)
{
	int			lists = SpannGetLists(index);

	return lists > 0 ? lists : SpannDefaultLists(rows);
}

/*
 * The split limit a build of entries would set (twice its mean list), at
 * least SPANN_MIN_LIST_LIMIT
 */
uint32
SpannLimitForEntries(Relation index, double entries)
{
	double		limit = SPANN_SPLIT_FACTOR * entries / SpannListsWanted(index, entries);

	return (uint32) Max(SPANN_MIN_LIST_LIMIT, Min(limit, (double) PG_UINT32_MAX));
}

/*
 * The entries past which a list splits, for a list that has count and
 * its own limit split_at (0: none).  A build sets the metapage's limit
 * from the mean list it made; a build on too few rows to say (an empty
 * table, typically, loaded afterwards) leaves it 0, and the limit then
 * follows the index as it grows: what a build of its present size would
 * set, counting the entries as the lists times half this count (a list
 * that reaches the limit holds about twice the mean).  Such an index
 * keeps about as many lists as a build would make, instead of splitting
 * into lists of a few entries each.
 */
uint32
SpannSplitLimit(Relation index, const SpannMetaPageData *meta, uint32 count, uint32 split_at)
{
	uint32		limit = meta->list_limit;

	if (limit == 0)
		limit = SpannLimitForEntries(index, (double) meta->nlists * count / SPANN_SPLIT_FACTOR);
	return Max(limit, split_at);
}

/*
 * Centroid distances a scan computes: one per group (about sqrt(lists)
 * of them), then one per list of the groups it opens.
 */
static double
centroid_distances(double lists)
{
	double		groups = ceil(sqrt(lists));

	if (spann_group_probes == 0 || spann_group_probes >= groups)
		return groups + lists;
	return groups + spann_group_probes * lists / groups;
}

/*
 * A scan computes the distances to the centroids it searches, then to
 * every entry of the lists it probes (about spann.probes lists of
 * rows * 2 / lists entries: a vector sits in two lists on average), all
 * before the first row comes out (AnnScanCost says how a distance is
 * charged).
 */
void
spanncostestimate(PlannerInfo *root, IndexPath *path, double loop_count,
				  Cost *indexStartupCost, Cost *indexTotalCost,
				  Selectivity *indexSelectivity, double *indexCorrelation,
				  double *indexPages)
{
	IndexOptInfo *index = path->indexinfo;
	double		rows = AnnIndexRows(index);
	double		lists;
	double		extra_visits;
	double		rejected_fetches;
	Relation	rel;
	SpannScanSettings settings;
	int			probes;

	if (AnnCostUnordered(path, indexStartupCost, indexTotalCost, indexSelectivity,
						 indexCorrelation, indexPages))
		return;
	rel = index_open(index->indexoid, NoLock);
	lists = SpannListsWanted(rel, rows);
	SpannGetScanSettings(rel, &settings);
	probes = settings.probes;
	index_close(rel, NoLock);
	/*
	 * A filtered scan reads lists until it has found enough matching rows
	 * or read its quota of lists
	 */
	AnnFilterCost(root, path, SPANN_FILTER_FOUND_PER_PROBE * probes, indexSelectivity,
				  &extra_visits, &rejected_fetches);
	extra_visits = Min(extra_visits,
					   SPANN_FILTER_LISTS_PER_PROBE * Min(probes, lists) * 2.0 * rows / lists);
	AnnScanCost(path, Min(centroid_distances(lists) +
						  Min(probes, lists) * 2.0 * rows / lists + extra_visits,
						  2.0 * rows),
				2.0 * rows, rejected_fetches, indexStartupCost, indexTotalCost, indexPages);
}

static bool
spannvalidate(Oid opclassoid)
{
	return AnnValidateOpclass(opclassoid, "spann");
}

/* The routine of spann's machinery; the ivfflat handler changes its options */
IndexAmRoutine *
SpannMakeAmRoutine(void)
{
	IndexAmRoutine *amroutine = AnnMakeAmRoutine();

	amroutine->ambuild = spannbuild;
	amroutine->ambuildempty = spannbuildempty;
	amroutine->aminsert = spanninsert;
	amroutine->ambulkdelete = spannbulkdelete;
	amroutine->amvacuumcleanup = spannvacuumcleanup;
	amroutine->amcanreturn = NULL;
	amroutine->amcostestimate = spanncostestimate;
	amroutine->amoptions = spannoptions;
	amroutine->amproperty = NULL;
	amroutine->ambuildphasename = spannbuildphasename;
	amroutine->amvalidate = spannvalidate;
	amroutine->amadjustmembers = NULL;
	amroutine->ambeginscan = spannbeginscan;
	amroutine->amrescan = spannrescan;
	amroutine->amgettuple = spanngettuple;
	amroutine->amgetbitmap = NULL;
	amroutine->amendscan = spannendscan;
	amroutine->ammarkpos = NULL;
	amroutine->amrestrpos = NULL;
	amroutine->amestimateparallelscan = NULL;
	amroutine->aminitparallelscan = NULL;
	amroutine->amparallelrescan = NULL;
	return amroutine;
}

PG_FUNCTION_INFO_V1(spannhandler);
Datum
spannhandler(PG_FUNCTION_ARGS)
{
	PG_RETURN_POINTER(SpannMakeAmRoutine());
}

/*
 * Sum the entry counts of all live lists; *npages is set to the number of
 * group and centroid pages.
 */
static int64
count_entries(Relation index, int *npages_out)
{
	int			npages;
	BlockNumber *pages = SpannCentroidPages(index, &npages);
	int64		entries = 0;

	for (int i = 0; i < npages; i++)
	{
		Buffer		buffer = ReadBuffer(index, pages[i]);
		Page		page;

		LockBuffer(buffer, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buffer);
		if (AnnPageGetOpaque(page)->flags & SPANN_PAGE_CENTROIDS)
			for (OffsetNumber off = FirstOffsetNumber; off <= PageGetMaxOffsetNumber(page); off++)
			{
				SpannCentroidTuple c = SpannPageGetCentroid(index, pages[i], page, off);

				if (BlockNumberIsValid(c->head))
					entries += c->count;
			}
		UnlockReleaseBuffer(buffer);
	}
	pfree(pages);
	*npages_out = npages;
	return entries;
}

/* Posting pages no list reaches, neither retired nor free */
static int64
count_unreachable(Relation index)
{
	BlockNumber nblocks = RelationGetNumberOfBlocks(index);
	bool	   *reached = SpannReachablePages(index, nblocks);
	int64		n = 0;

	for (BlockNumber blkno = ANN_METAPAGE_BLKNO + 1; blkno < nblocks; blkno++)
	{
		Buffer		buffer;

		if (reached[blkno])
			continue;
		buffer = ReadBuffer(index, blkno);
		LockBuffer(buffer, BUFFER_LOCK_SHARE);
		n += SpannIsUnretiredPosting(BufferGetPage(buffer));
		UnlockReleaseBuffer(buffer);
	}
	pfree(reached);
	return n;
}

/*
 * spann_index_stats(index): lists, entries (a vector counts once per list
 * it sits in; dead entries count until VACUUM), the split limit, the
 * splits and merges since the build, the unreachable posting pages
 * (left by a crash during a split; VACUUM frees them), the groups of
 * centroids, and the directory's pages (metapage, group and centroid
 * pages: what every scan reads, so what must stay in memory).
 */
PG_FUNCTION_INFO_V1(spann_index_stats);
Datum
spann_index_stats(PG_FUNCTION_ARGS)
{
	Relation	index = AnnOpenIndexToRead(PG_GETARG_OID(0), "spann", NULL);
	SpannMetaPageData meta;
	TupleDesc	tupdesc;
	Datum		values[8];
	bool		nulls[8] = {false};
	int			directory_pages;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	SpannReadMeta(index, &meta);
	values[0] = Int32GetDatum(meta.nlists);
	values[1] = Int64GetDatum(count_entries(index, &directory_pages));
	values[2] = Int32GetDatum(meta.list_limit);
	values[3] = Int64GetDatum(meta.splits);
	values[4] = Int64GetDatum(meta.merges);
	values[5] = Int64GetDatum(count_unreachable(index));
	values[6] = Int32GetDatum(meta.ngroups);
	values[7] = Int64GetDatum((int64) directory_pages + 1);
	index_close(index, AccessShareLock);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
