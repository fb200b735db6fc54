/*
 * annplanner.h
 *		Planner hook: IN (...) on the filter columns of ann indexes.
 */
#ifndef ANN_PLANNER_H
#define ANN_PLANNER_H

#include "access/amapi.h"

extern bool AnnIsAnnAccessMethod(amcostestimate_function costestimate);
extern void AnnPlannerInit(void);

#endif							/* ANN_PLANNER_H */
