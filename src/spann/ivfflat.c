/*
 * ivfflat.c
 *		The ivfflat access method: pgvector's name for its inverted-file
 *		index, served by spann's machinery.
 *
 * Schemas, migrations and dumps made for pgvector create ivfflat indexes.
 * An ivfflat index here is a spann index (the same pages, build, inserts,
 * scans and VACUUM) that takes pgvector's reloption and GUCs with their
 * meaning: lists (default 100) is the number of posting lists the build
 * makes; ivfflat.probes (default 1) the lists a scan probes;
 * ivfflat.iterative_scan (off or relaxed_order, default off) whether it
 * probes more when more rows are wanted; ivfflat.max_probes the most lists
 * it probes then.  Splits and merges keep the lists balanced as rows come
 * and go, and a row may sit in a few lists (spann's closure assignment),
 * which is where its recall at a given probes differs from pgvector's.
 */
#include "postgres.h"

#include "access/reloptions.h"
#include "utils/guc.h"

#include "spann.h"

#define IVFFLAT_DEFAULT_LISTS	100
#define IVFFLAT_MAX_LISTS		32768

static int	ivfflat_probes = 1;
static int	ivfflat_iterative_scan = SPANN_ITERATIVE_OFF;
static int	ivfflat_max_probes = IVFFLAT_MAX_LISTS;

static relopt_kind ivfflat_relopt_kind;

/* pgvector's choices: strict order is spann's own */
static const struct config_enum_entry ivfflat_iterative_options[] = {
	{"off", SPANN_ITERATIVE_OFF, false},
	{"relaxed_order", SPANN_ITERATIVE_RELAXED, false},
	{NULL, 0, false}
};

/* Register the reloption and GUCs; called from _PG_init. */
void
IvfflatInit(void)
{
	ivfflat_relopt_kind = add_reloption_kind();
	add_int_reloption(ivfflat_relopt_kind, "lists", "Posting lists the build makes",
					  IVFFLAT_DEFAULT_LISTS, 1, IVFFLAT_MAX_LISTS, AccessExclusiveLock);

	DefineCustomIntVariable("ivfflat.probes",
							"Sets how many lists an ivfflat scan probes before it returns rows",
							NULL,
							&ivfflat_probes, 1, 1, IVFFLAT_MAX_LISTS,
							PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomEnumVariable("ivfflat.iterative_scan",
							 "Sets whether an ivfflat scan probes more lists when more rows are wanted",
							 NULL,
							 &ivfflat_iterative_scan, SPANN_ITERATIVE_OFF,
							 ivfflat_iterative_options, PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("ivfflat.max_probes",
							"Sets the most lists an iterative ivfflat scan probes in all",
							NULL, &ivfflat_max_probes, IVFFLAT_MAX_LISTS, 1, IVFFLAT_MAX_LISTS,
							PGC_USERSET, 0, NULL, NULL, NULL);
	MarkGUCPrefixReserved("ivfflat");
}

/* lists from the reloption, the rest of spann's options at their defaults */
static bytea *
ivfflatoptions(Datum reloptions, bool validate)
{
	static const relopt_parse_elt tab[] = {
		{"lists", RELOPT_TYPE_INT, offsetof(SpannOptions, lists)},
	};
	SpannOptions *options = (SpannOptions *) build_reloptions(reloptions, validate,
															  ivfflat_relopt_kind,
															  sizeof(SpannOptions),
															  tab, lengthof(tab));

	options->epsilon = SPANN_DEFAULT_EPSILON;
	options->replicas = SPANN_DEFAULT_REPLICAS;
	options->code_bits = SPANN_AUTO_CODE_BITS;
	return (bytea *) options;
}

/*
 * If index is an ivfflat one (its routine is this handler's), fill
 * settings from the ivfflat GUCs and return true.
 */
bool
IvfflatScanSettings(Relation index, SpannScanSettings *settings)
{
	if (index->rd_indam->amoptions != ivfflatoptions)
		return false;
	settings->prefix = "ivfflat";
	settings->max_probes_hint = "Raise ivfflat.max_probes.";
	settings->probes = ivfflat_probes;
	settings->iterative = ivfflat_iterative_scan;
	settings->max_probes = ivfflat_max_probes;
	return true;
}

static bool
ivfflatvalidate(Oid opclassoid)
{
	return AnnValidateOpclass(opclassoid, "ivfflat");
}

PG_FUNCTION_INFO_V1(ivfflathandler);
Datum
ivfflathandler(PG_FUNCTION_ARGS)
{
	IndexAmRoutine *amroutine = SpannMakeAmRoutine();

	amroutine->amoptions = ivfflatoptions;
	amroutine->amvalidate = ivfflatvalidate;
	PG_RETURN_POINTER(amroutine);
}
