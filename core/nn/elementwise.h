// One vector routine for every value of an array, whatever its length or
// alignment:
//
//   ForEachPacket(x.data(), x.size(), [](const Packet& v) { return ei::ptanh(v); });
//
// Whole packets are processed in place, the last partial one through a
// zero-padded copy. Eigen's array functions send the values past the last
// whole packet (and, in a block that starts unaligned, the first few)
// through a scalar routine whose rounding differs (std::exp, or the same
// polynomial without fused multiply-adds), so a value's last bits depended
// on where its row sat in a batch (issue 32). Here a value's result
// depends on the value alone.
#ifndef STRATA_CORE_NN_ELEMENTWISE_H_
#define STRATA_CORE_NN_ELEMENTWISE_H_

#include <Eigen/Core>
#include <algorithm>

namespace strata {

using FloatPacket = Eigen::internal::packet_traits<float>::type;

// x[i] = f(x[i]) for i in [0, size), f taking and returning a FloatPacket.
template <typename F>
void ForEachPacket(float* x, Eigen::Index size, F f) {
  constexpr Eigen::Index kLanes = Eigen::internal::unpacket_traits<FloatPacket>::size;
  Eigen::Index i = 0;
  for (; i + kLanes <= size; i += kLanes) {
    Eigen::internal::pstoreu(x + i, f(Eigen::internal::ploadu<FloatPacket>(x + i)));
  }
  if (i < size) {
    alignas(64) float tail[kLanes] = {};
    std::copy(x + i, x + size, tail);
    Eigen::internal::pstoreu(tail, f(Eigen::internal::ploadu<FloatPacket>(tail)));
    std::copy(tail, tail + (size - i), x + i);
  }
}

}  // namespace strata

#endif  // STRATA_CORE_NN_ELEMENTWISE_H_
