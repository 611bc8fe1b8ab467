// Reading the pixels of a PNG file (8-bit RGB or RGBA, not interlaced: what
// Chromium's --screenshot writes), for tests that look at rendered pages.
#ifndef STRATA_TESTS_TESTING_PNG_H_
#define STRATA_TESTS_TESTING_PNG_H_

#include <zlib.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "tests/testing/shell.h"

namespace strata::testing {

struct Image {
  int width = 0, height = 0;
  std::vector<uint8_t> rgb;  // width * height * 3
  // Pixels whose colour is exactly #rrggbb.
  int Count(uint32_t rrggbb) const {
    int n = 0;
    for (size_t i = 0; i + 2 < rgb.size(); i += 3) {
      const uint32_t color = (uint32_t{rgb[i]} << 16) | (uint32_t{rgb[i + 1]} << 8) | rgb[i + 2];
      n += color == rrggbb;
    }
    return n;
  }
};

inline absl::StatusOr<Image> ReadPng(const std::string& path) {
  const std::string data = ReadAll(path);
  auto u32 = [&](size_t at) {
    return (uint32_t{static_cast<uint8_t>(data[at])} << 24) |
           (uint32_t{static_cast<uint8_t>(data[at + 1])} << 16) |
           (uint32_t{static_cast<uint8_t>(data[at + 2])} << 8) | static_cast<uint8_t>(data[at + 3]);
  };
  if (data.size() < 33 || data.compare(1, 3, "PNG") != 0) {
    return absl::InvalidArgumentError(absl::StrCat(path, " is not a PNG file"));
  }
  Image image;
  int channels = 0;
  std::string idat;
  for (size_t at = 8; at + 12 <= data.size();) {
    const uint32_t length = u32(at);
    const std::string type = data.substr(at + 4, 4);
    if (at + 12 + length > data.size()) break;
    if (type == "IHDR") {
      image.width = static_cast<int>(u32(at + 8));
      image.height = static_cast<int>(u32(at + 12));
      const int depth = data[at + 16], color = data[at + 17], interlace = data[at + 20];
      channels = color == 2 ? 3 : color == 6 ? 4 : 0;
      if (depth != 8 || channels == 0 || interlace != 0) {
        return absl::UnimplementedError("only 8-bit RGB/RGBA, non-interlaced PNGs are read");
      }
    } else if (type == "IDAT") {
      idat += data.substr(at + 8, length);
    }
    at += 12 + length;
  }
  const size_t stride = static_cast<size_t>(image.width) * channels;
  std::vector<uint8_t> raw((stride + 1) * image.height);
  uLongf raw_size = raw.size();
  if (channels == 0 ||
      uncompress(raw.data(), &raw_size, reinterpret_cast<const Bytef*>(idat.data()),
                 idat.size()) != Z_OK ||
      raw_size != raw.size()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": bad image data"));
  }
  // Undo each row's filter (PNG spec, section 9).
  std::vector<uint8_t> pixels(stride * image.height), zero(stride, 0);
  for (int y = 0; y < image.height; ++y) {
    const uint8_t filter = raw[y * (stride + 1)];
    const uint8_t* in = &raw[y * (stride + 1) + 1];
    uint8_t* out = &pixels[y * stride];
    const uint8_t* up = y > 0 ? &pixels[(y - 1) * stride] : zero.data();
    for (size_t i = 0; i < stride; ++i) {
      const int a = i >= static_cast<size_t>(channels) ? out[i - channels] : 0;
      const int b = up[i];
      const int c = i >= static_cast<size_t>(channels) ? up[i - channels] : 0;
      int predictor = 0;
      switch (filter) {
        case 1: predictor = a; break;
        case 2: predictor = b; break;
        case 3: predictor = (a + b) / 2; break;
        case 4: {
          const int p = a + b - c, pa = std::abs(p - a), pb = std::abs(p - b), pc = std::abs(p - c);
          predictor = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
          break;
        }
        default: break;
      }
      out[i] = static_cast<uint8_t>(in[i] + predictor);
    }
  }
  image.rgb.reserve(static_cast<size_t>(image.width) * image.height * 3);
  for (size_t i = 0; i < pixels.size(); i += channels) {
    image.rgb.insert(image.rgb.end(), &pixels[i], &pixels[i] + 3);
  }
  return image;
}

}  // namespace strata::testing

#endif  // STRATA_TESTS_TESTING_PNG_H_
