// SPDX-License-Identifier: MIT
// wsss/superpixel.hpp — umbrella for superpixels: the label image type and SLIC
#pragma once

#include "wsss/superpixel/segmentation.hpp"
#include "wsss/superpixel/lab.hpp"
#include "wsss/superpixel/slic.hpp"
