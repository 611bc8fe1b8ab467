// CRC-32C against published known answers, so a wrong polynomial, bit order,
// initial value or final xor cannot pass by agreeing with itself.
#include "core/base/crc32c.h"

#include <string>

#include "gtest/gtest.h"

namespace strata {
namespace {

TEST(Crc32cTest, CheckValueOfTheCatalogue) {
  // The "check" value of CRC-32C/ISCSI in the CRC catalogue.
  EXPECT_EQ(Crc32c("123456789"), 0xE3069283u);
}

TEST(Crc32cTest, EmptyInputIsZero) {
  // Initial 0xFFFFFFFF xor-ed out again: nothing read gives 0.
  EXPECT_EQ(Crc32c(""), 0u);
}

TEST(Crc32cTest, Rfc3720Vectors) {
  // RFC 3720 (iSCSI), appendix B.4: 32-byte messages.
  EXPECT_EQ(Crc32c(std::string(32, '\x00')), 0x8A9136AAu);
  EXPECT_EQ(Crc32c(std::string(32, '\xFF')), 0x62A8AB43u);
  std::string up, down;
  for (int i = 0; i < 32; ++i) {
    up.push_back(static_cast<char>(i));
    down.push_back(static_cast<char>(31 - i));
  }
  EXPECT_EQ(Crc32c(up), 0x46DD794Eu);
  EXPECT_EQ(Crc32c(down), 0x113FDB5Cu);
}

}  // namespace
}  // namespace strata
