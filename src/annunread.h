/*
 * annunread.h
 *		Planner hook: no distance recomputed for rows whose distance no one
 *		reads.
 */
#ifndef ANN_UNREAD_H
#define ANN_UNREAD_H

extern void AnnUnreadInit(void);

#endif							/* ANN_UNREAD_H */
