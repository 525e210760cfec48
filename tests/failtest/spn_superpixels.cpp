// SPDX-License-Identifier: MIT
// tests/failtest/spn_superpixels.cpp — methods::spn's superpixel slot refuses a type that is not
// a SuperpixelMethod, at the method's declaration, with the concept named.
#include <string_view>

#include "wsss/methods/spn.hpp"

#ifdef WSSS_SHOULD_FAIL
struct bad_slot {  // labels an image with classes, not with superpixels: no segmentation comes out
  static constexpr std::string_view name = "bad::superpixels";
  wsss::label_map operator()(const wsss::rgb_image& img) const { return {img.height(), img.width()}; }
};
using m = wsss::methods::spn<bad_slot>;
#else
struct grid_cells {  // a user's own method: 8 x 8 blocks
  static constexpr std::string_view name = "grid";
  wsss::superpixel::segmentation operator()(const wsss::rgb_image& img) const;
};
using m = wsss::methods::spn<grid_cells>;
#endif

std::string_view method_name() { return m::name; }
