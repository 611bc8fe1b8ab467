// Records per second through StreamAnomalyScore: `streams` concurrent
// streams (each a StrataClient stream on its own connection, as separate
// pipeline workers would have), each sending `request` again and again for
// `seconds`, the answers counted by their rows. For stream_bench and
// nats_stream_bench.
#ifndef STRATA_BENCH_SCORE_STREAMS_H_
#define STRATA_BENCH_SCORE_STREAMS_H_

#include <cstdint>
#include <string>

#include "strata/v1/service.pb.h"

namespace strata::bench {

// Streams that fail are counted in *errors (and printed).
double StreamRecordsPerSecond(const std::string& target, double seconds, int streams,
                              const v1::AnomalyScoreRequest& request, int64_t* errors);

}  // namespace strata::bench

#endif  // STRATA_BENCH_SCORE_STREAMS_H_
