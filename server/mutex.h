// The mutex moved to core/mutex.h, so that core/ and server/ share one type
// the thread-safety analysis understands. Include that; this forwarding
// header goes once nothing includes it.
#ifndef STRATA_SERVER_MUTEX_H_
#define STRATA_SERVER_MUTEX_H_

#include "core/mutex.h"

#endif  // STRATA_SERVER_MUTEX_H_
