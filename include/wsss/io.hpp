// SPDX-License-Identifier: MIT
// wsss/io.hpp — umbrella for file I/O (link wsss::io: libpng, libjpeg, zlib)
#pragma once

#include "wsss/io/atomic_file.hpp"
#include "wsss/io/safetensors.hpp"
#include "wsss/io/png.hpp"
#include "wsss/io/jpeg.hpp"
#include "wsss/io/image.hpp"
#include "wsss/io/label_png.hpp"
#include "wsss/io/voc.hpp"
