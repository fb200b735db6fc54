/*
 * anncheck.h
 *		What the index checkers of both access methods share (anncheck.c).
 */
#ifndef ANN_CHECK_H
#define ANN_CHECK_H

#include "storage/itemptr.h"
#include "utils/rel.h"
#include "utils/snapshot.h"

#include "annutils.h"

extern bool AnnHeapRowVisible(Relation heap, Snapshot snapshot, ItemPointer tid);
extern void AnnCheckFailed(Relation index, BlockNumber blkno, OffsetNumber offno,
						   const char *problem) pg_attribute_noreturn();

#endif							/* ANN_CHECK_H */
