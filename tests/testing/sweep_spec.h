// Sweep parameters for tests: a TrainConfig field and its values as JSON.
#ifndef STRATA_TESTS_TESTING_SWEEP_SPEC_H_
#define STRATA_TESTS_TESTING_SWEEP_SPEC_H_

#include <string>
#include <vector>

#include "strata/v1/train_config.pb.h"

namespace strata::testing {

inline v1::SweepParameter SweepValues(const std::string& field,
                                      const std::vector<std::string>& values) {
  v1::SweepParameter p;
  p.set_field(field);
  for (const std::string& v : values) p.add_values(v);
  return p;
}

}  // namespace strata::testing

#endif  // STRATA_TESTS_TESTING_SWEEP_SPEC_H_
