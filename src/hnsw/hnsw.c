/*
 * hnsw.c
 *		The hnsw access method handler: reloptions, GUCs, costs.
 *
 * Names, defaults and ranges of the reloptions (m, ef_construction) and
 * of hnsw.ef_search are pgvector's, so existing DDL and settings carry
 * over.
 */
#include "postgres.h"

#include <float.h>

#include "access/reloptions.h"
#include "commands/progress.h"
#include "utils/guc.h"

#include "hnsw.h"

int			hnsw_ef_search = HNSW_DEFAULT_EF_SEARCH;
int			hnsw_iterative_scan = HNSW_ITERATIVE_STRICT;
int			hnsw_max_scan_tuples = HNSW_DEFAULT_MAX_SCAN_TUPLES;
double		hnsw_scan_mem_multiplier = 1.0;
bool		hnsw_quantized_search = true;

static const struct config_enum_entry iterative_scan_options[] = {
	{"off", HNSW_ITERATIVE_OFF, false},
	{"relaxed_order", HNSW_ITERATIVE_RELAXED, false},
	{"strict_order", HNSW_ITERATIVE_STRICT, false},
	{NULL, 0, false}
};

static relopt_kind hnsw_relopt_kind;

static relopt_enum_elt_def quantization_options[] = {
	{"auto", HNSW_QUANTIZATION_AUTO},
	{"none", HNSW_QUANTIZATION_NONE},
	{"rabitq", HNSW_QUANTIZATION_RABITQ},
	{NULL}
};

typedef struct HnswOptions
{
	int32		vl_len_;		/* varlena header (do not touch directly!) */
	int			m;
	int			ef_construction;
	int			quantization;	/* HnswQuantization */
	int			code_bits;
} HnswOptions;

/* Register reloptions and GUCs; called from _PG_init. */
void
HnswInit(void)
{
	hnsw_relopt_kind = add_reloption_kind();
	add_int_reloption(hnsw_relopt_kind, "m", "Max number of connections",
					  HNSW_DEFAULT_M, HNSW_MIN_M, HNSW_MAX_M, AccessExclusiveLock);
	add_int_reloption(hnsw_relopt_kind, "ef_construction",
					  "Size of the dynamic candidate list for construction",
					  HNSW_DEFAULT_EF_CONSTRUCTION, HNSW_MIN_EF_CONSTRUCTION,
					  HNSW_MAX_EF_CONSTRUCTION, AccessExclusiveLock);
	add_enum_reloption(hnsw_relopt_kind, "quantization",
					   "Codes of layer-0 neighbours stored beside the links",
					   quantization_options, HNSW_QUANTIZATION_AUTO,
					   "Valid values are \"auto\", \"none\" and \"rabitq\".",
					   AccessExclusiveLock);
	add_int_reloption(hnsw_relopt_kind, "code_bits",
					  "Bits per dimension of the codes of layer-0 neighbours",
					  HNSW_DEFAULT_CODE_BITS, 1, ANN_CODE_MAX_BITS, AccessExclusiveLock);

	DefineCustomIntVariable("hnsw.ef_search",
							"Sets the size of the dynamic candidate list for search",
							"Valid range is 1..1000.",
							&hnsw_ef_search, HNSW_DEFAULT_EF_SEARCH,
							HNSW_MIN_EF_SEARCH, HNSW_MAX_EF_SEARCH,
							PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomEnumVariable("hnsw.iterative_scan",
							 "Sets whether a scan goes on past ef_search rows when more are wanted",
							 "strict_order keeps results in distance order, relaxed_order may "
							 "return a few out of order, off stops after ef_search rows.",
							 &hnsw_iterative_scan, HNSW_ITERATIVE_STRICT, iterative_scan_options,
							 PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("hnsw.max_scan_tuples",
							"Sets the most elements an iterative scan visits past the first search",
							NULL, &hnsw_max_scan_tuples, HNSW_DEFAULT_MAX_SCAN_TUPLES, 1, INT_MAX,
							PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomRealVariable("hnsw.scan_mem_multiplier",
							 "Sets the multiple of work_mem an iterative scan may use",
							 NULL, &hnsw_scan_mem_multiplier, 1.0, 1.0, 1000.0,
							 PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomBoolVariable("hnsw.quantized_search",
							 "Sets whether scans estimate distances from the codes an index holds",
							 "With it off, scans of indexes with codes compute every distance "
							 "from the elements.",
							 &hnsw_quantized_search, true, PGC_USERSET, 0, NULL, NULL, NULL);
	MarkGUCPrefixReserved("hnsw");
}

static HnswOptions *
get_options(Relation index)
{
	return (HnswOptions *) index->rd_options;
}

int
HnswGetM(Relation index)
{
	HnswOptions *opts = get_options(index);

	return opts != NULL ? opts->m : HNSW_DEFAULT_M;
}

int
HnswGetEfConstruction(Relation index)
{
	HnswOptions *opts = get_options(index);

	return opts != NULL ? opts->ef_construction : HNSW_DEFAULT_EF_CONSTRUCTION;
}

HnswQuantization
HnswGetQuantization(Relation index)
{
	HnswOptions *opts = get_options(index);

	return opts != NULL ? (HnswQuantization) opts->quantization : HNSW_QUANTIZATION_AUTO;
}

int
HnswGetCodeBits(Relation index)
{
	HnswOptions *opts = get_options(index);

	return opts != NULL ? opts->code_bits : HNSW_DEFAULT_CODE_BITS;
}

static bytea *
hnswoptions(Datum reloptions, bool validate)
{
	static const relopt_parse_elt tab[] = {
		{"m", RELOPT_TYPE_INT, offsetof(HnswOptions, m)},
		{"ef_construction", RELOPT_TYPE_INT, offsetof(HnswOptions, ef_construction)},
		{"quantization", RELOPT_TYPE_ENUM, offsetof(HnswOptions, quantization)},
		{"code_bits", RELOPT_TYPE_INT, offsetof(HnswOptions, code_bits)},
	};

	HnswOptions *opts = (HnswOptions *) build_reloptions(reloptions, validate, hnsw_relopt_kind,
														 sizeof(HnswOptions), tab, lengthof(tab));

	/* ALTER INDEX SET validates the options it would store, as CREATE INDEX does */
	if (validate && opts != NULL)
		HnswCheckEfConstruction(opts->m, opts->ef_construction);
	return (bytea *) opts;
}

/* Refuse an ef_construction below 2 * m: an insert must find as many candidates as layer 0 has slots */
void
HnswCheckEfConstruction(int m, int ef_construction)
{
	if (ef_construction < 2 * m)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("ef_construction must be greater than or equal to 2 * m")));
}

static char *
hnswbuildphasename(int64 phasenum)
{
	switch (phasenum)
	{
		case PROGRESS_CREATEIDX_SUBPHASE_INITIALIZE:
			return "initializing";
		case HNSW_PHASE_GRAPH:
			return "building graph";
		case HNSW_PHASE_WRITE:
			return "writing pages";
		default:
			return NULL;
	}
}

/*
 * A search computes about 2 * m distances for each of the ef_search
 * elements it expands on layer 0, all before the first tuple is returned
 * (AnnScanCost says how a distance is charged).
 */
void
hnswcostestimate(PlannerInfo *root, IndexPath *path, double loop_count,
				 Cost *indexStartupCost, Cost *indexTotalCost,
				 Selectivity *indexSelectivity, double *indexCorrelation,
				 double *indexPages)
{
	IndexOptInfo *index = path->indexinfo;
	Relation	rel;
	int			m;
	double		ef = Max(hnsw_ef_search, 10);
	double		extra_visits;
	double		rejected_fetches;

	if (AnnCostUnordered(path, indexStartupCost, indexTotalCost, indexSelectivity,
						 indexCorrelation, indexPages))
		return;
	rel = index_open(index->indexoid, NoLock);
	m = HnswGetM(rel);
	index_close(rel, NoLock);
	/* a filtered search meets elements until ef of them match */
	AnnFilterCost(root, path, ef, indexSelectivity, &extra_visits, &rejected_fetches);
	AnnScanCost(path, Min(2.0 * m * ef + extra_visits, AnnIndexRows(index)),
				index->tuples, rejected_fetches, indexStartupCost, indexTotalCost, indexPages);
}

static bool
hnswvalidate(Oid opclassoid)
{
	return AnnValidateOpclass(opclassoid, "hnsw");
}

PG_FUNCTION_INFO_V1(hnswhandler);
Datum
hnswhandler(PG_FUNCTION_ARGS)
{
	IndexAmRoutine *amroutine = AnnMakeAmRoutine();

	amroutine->ambuild = hnswbuild;
	amroutine->ambuildempty = hnswbuildempty;
	amroutine->aminsert = hnswinsert;
	amroutine->ambulkdelete = hnswbulkdelete;
	amroutine->amvacuumcleanup = hnswvacuumcleanup;
	amroutine->amcanreturn = NULL;
	amroutine->amcostestimate = hnswcostestimate;
	amroutine->amoptions = hnswoptions;
	amroutine->amproperty = NULL;
	amroutine->ambuildphasename = hnswbuildphasename;
	amroutine->amvalidate = hnswvalidate;
	amroutine->amadjustmembers = NULL;
	amroutine->ambeginscan = hnswbeginscan;
	amroutine->amrescan = hnswrescan;
	amroutine->amgettuple = hnswgettuple;
	amroutine->amgetbitmap = NULL;
	amroutine->amendscan = hnswendscan;
	amroutine->ammarkpos = NULL;
	amroutine->amrestrpos = NULL;
	amroutine->amestimateparallelscan = NULL;
	amroutine->aminitparallelscan = NULL;
	amroutine->amparallelrescan = NULL;

	PG_RETURN_POINTER(amroutine);
}
